"""Collection (``/collection``): the last collection run of each visible
client, and "Collect now" for a signed-in admin (and nobody else).

"Collect now" runs the same domain function as ``POST
/api/v1/collect/trigger``, 5-minute limit and audit record included.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ui.access import client_address, viewer
from ui.counts import draw_counts
from ui.data import load_client_choices, load_is_demo, run_page, show_empty_database
from ui.day_view import load_day_view
from ui.downloads import csv_download
from ui.engine import get_engine
from ui.folded import draw_folded
from ui.format import human_age, local_time, md_message, md_text, viewer_zone, zone_name
from ui.html_table import Column
from ui.params import publish
from ui.picker import clients_picker
from ui.rows import windowed_table
from usage.access import Principal, Visible
from usage.audit import Actor
from usage.collect.config import load_config
from usage.collect.runs import list_runs, runs_stamp
from usage.collect.trigger import TriggerRequest, trigger_collection
from usage.demo import DEMO_BUCKETS
from usage.errors import ConfigError, RateLimited, UsageError

PAGE = "collection"
FAILURES_SHOWN = 20  # errors spelt out below the table; the table has them all
# The runs are read again when they change (``runs_stamp``), and at least
# this often: the ages ("3 min ago"), a client's new name.
RUNS_TTL_SECONDS = 60
# Tables kept: viewers' books and zones, and while a collection goes on the
# stamps it moves through (about 8 MB each at 10,000 clients).
RUNS_TABLES = 8
_RESULT = "collection_result"  # the last "Collect now" outcome, shown after the rerun
COLLECT_OPEN = "collection_collect_open"  # the "Collect now" section is open
# Symbols of the common text fonts (DejaVu, Segoe UI Symbol, Apple Symbols),
# not emoji: a machine without a colour emoji font showed empty boxes.
STATUS_LABELS = {
    "succeeded": "✓ succeeded",
    "failed": "✗ failed",
    "running": "◔ running",
    "never": "— never run",
}
# A client never run that holds snapshots got them from the demo or an import.
NO_RUN_DEMO = "— no run (demo data)"
NO_RUN_IMPORTED = "— no run (imported)"
LOADED = {
    NO_RUN_DEMO: '"demo data" came from the demo portfolio (`python -m usage demo`)',
    NO_RUN_IMPORTED: '"imported" from a file (`python -m usage import`)',
}
TOOK_HELP = "How long the last run took, in seconds. **—**: still running, or never run."
STARTED_HELP = "In your time zone; UTC on hover and in the download."
SOURCE_HELP = (
    "Where the last run's storage figures came from: **listing** (every key listed) or"
    " **inventory** (the bucket's S3 Inventory report); **listing (inventory refused)**: the"
    " report was refused and the bucket listed instead, the Source note says why."
    " **—**: running, failed or never run."
)
REFUSED = " (inventory refused)"  # after "listing": the report was refused, the bucket listed


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _run_label(run: dict[str, Any], demo: bool) -> str:
    if run["run_status"] != "never" or run["latest_snapshot_date"] is None:
        return STATUS_LABELS[run["run_status"]]
    return NO_RUN_DEMO if demo and run["bucket_id"] in DEMO_BUCKETS else NO_RUN_IMPORTED


def _started(run: dict[str, Any], now: dt.datetime, zone: dt.tzinfo) -> str | None:
    """None before a first run: the table's placeholder, as in its other columns."""
    started = _parse_time(run["started_at"])
    if started is None:
        return None
    return f"{local_time(started, zone)} ({human_age(started, now)})"


def _source(run: dict[str, Any]) -> str | None:
    source: str | None = run["storage_source"]
    return f"{source}{REFUSED}" if source and run["storage_note"] else source


def _frame(
    runs: list[dict[str, Any]], labels: list[str], now: dt.datetime, zone: dt.tzinfo
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Bucket": [run["bucket_id"] for run in runs],
            "Client": [run["display_name"] for run in runs],
            "Client status": [run["client_status"] for run in runs],
            "Last run": labels,
            "Started": [_started(run, now, zone) for run in runs],
            # ISO, as the API writes it (the download's); None where there is
            # nothing: the table's placeholder, "—".
            "Started at (UTC)": [run["started_at"] for run in runs],
            "Took (s)": [run["duration_seconds"] for run in runs],
            "Snapshot date": [run["snapshot_date"] for run in runs],
            "Source": [_source(run) for run in runs],
            "Latest snapshot": [run["latest_snapshot_date"] for run in runs],
            "By": [run["started_by"] for run in runs],
            "Error": [run["error"] or "" for run in runs],
            "Source note": [run["storage_note"] or "" for run in runs],
        }
    )


@dataclass(frozen=True)
class RunsTable:
    """The runs with their labels (``_run_label``) and the table's rows:
    ``frame`` as downloaded (UTC in ISO 8601), ``drawn`` as on the page
    (the UTC on hover written as the other pages write it)."""

    runs: list[dict[str, Any]]
    labels: list[str]
    frame: pd.DataFrame
    drawn: pd.DataFrame


# Shared, not copied (see ``ui.data``): 10,000 runs took 26 ms a run to
# unpickle. Read only. Read and built once a change (``stamp``), not once a
# run: 10,000 runs took 70 ms to read and 35 ms to build, which a page
# opened every few seconds paid each time. The ages ("3 min ago") are as
# old as the read, at most ``RUNS_TTL_SECONDS``.
@st.cache_resource(ttl=RUNS_TTL_SECONDS, max_entries=RUNS_TABLES, show_spinner=False)
def load_runs_table(
    _engine: Engine, visible: Visible, demo: bool, zone: str, stamp: tuple[Any, ...]
) -> RunsTable:
    """The runs ``visible`` to the viewer, in their time zone (``zone_name``),
    as of ``stamp`` (``runs_stamp``)."""
    with Session(_engine) as session:
        runs = list_runs(session, visible=visible)
    labels = [_run_label(run, demo) for run in runs]
    frame = _frame(runs, labels, dt.datetime.now(dt.UTC), ZoneInfo(zone))
    drawn = frame.copy()
    drawn["Started at (UTC)"] = [
        local_time(_parse_time(run["started_at"]), dt.UTC) if run["started_at"] else None
        for run in runs
    ]
    return RunsTable(runs, labels, frame, drawn)


def _show_configuration() -> None:
    """Whether "Collect now" (and the API's trigger) can run, before anyone
    clicks: the setting that is missing or wrong, to an admin."""
    try:
        config = load_config()
    except ConfigError as error:
        # The message may quote a value (a URL with its password): admins only.
        detail = f": {md_message(str(error))}" if viewer().is_admin else ""
        st.warning(
            f"Collection is not configured on this server{detail}. Until it is, "
            '"Collect now" and `POST /api/v1/collect/trigger` cannot run: the settings are '
            "described in `docs/collection.md`.",
            icon=":material/settings:",
        )
        return
    origin = "the environment" if config.origin == "environment" else md_text(config.origin)
    st.caption(f"Collection is configured (settings from {origin}).")


def _show_runs(table: RunsTable) -> None:
    runs, labels, frame = table.runs, table.labels, table.frame
    # Every status, and a client without a run but with snapshots apart.
    shown = [*STATUS_LABELS.values(), *(label for label in LOADED if label in labels)]
    tally = Counter(labels)  # one pass over the runs, not one a status
    draw_counts([(label, tally[label]) for label in shown])
    sources = [source for label, source in LOADED.items() if label in labels]
    if sources:
        st.caption(f"No run, yet snapshots: {' and '.join(sources)}.")
    windowed_table(
        table.drawn,
        "collection_rows",
        name="collection_runs",
        columns={
            "Started": Column(help=STARTED_HELP, hover="Started at (UTC)"),
            "Took (s)": Column("number", help=TOOK_HELP, digits=2),
            "Snapshot date": Column(help="The day the last run collected."),
            "Source": Column(help=SOURCE_HELP),
            "Latest snapshot": Column(
                help="The client's newest snapshot, collected, imported or from the demo."
            ),
            "Error": Column(wrap=True),
            "Source note": Column(wrap=True, help="Why the inventory report was refused."),
        },
        searched=("Client", "Bucket"),
        noun="clients",
        url_of=PAGE,
        filtered="Last run",
        # The local times sort by their moment: the UTC column's text.
        sort_keys={"Started": frame["Started at (UTC)"]},
    )
    csv_download("Download CSV", lambda: frame, "collection_runs.csv", "collection_csv")
    _spell_out(
        [run for run in runs if run["run_status"] == "failed"],
        lambda run: st.error(f"**{md_text(run['bucket_id'])}**: {md_text(run['error'] or '')}"),
        "failed runs: their errors are in the table's Error column and in the download.",
    )
    _spell_out(
        [run for run in runs if run["storage_note"]],
        lambda run: st.warning(
            f"**{md_text(run['bucket_id'])}**: inventory report refused, the bucket was listed "
            f"instead: {md_text(run['storage_note'])}",
            icon=":material/inventory_2:",
        ),
        "refused inventory reports: the reasons are in the table's Source note column and in "
        "the download.",
    )


def _spell_out(runs: list[dict[str, Any]], say: Callable[[dict[str, Any]], Any], rest: str) -> None:
    """``say`` each of the first ``FAILURES_SHOWN`` runs below the table;
    the others counted, ``rest`` naming them and where they are."""
    for run in runs[:FAILURES_SHOWN]:
        say(run)
    if len(runs) > FAILURES_SHOWN:
        st.caption(f"And {len(runs) - FAILURES_SHOWN:,} more {rest}")


def _show_result() -> None:
    result: dict[str, Any] | None = st.session_state.pop(_RESULT, None)
    if result is None:
        return
    summary = (
        f"Collected {result['buckets_processed']} clients in {result['duration_seconds']:.1f} s"
        f", {result['buckets_failed']} failed."
    )
    if result["buckets_failed"]:
        st.warning(summary, icon=":material/warning:")
    else:
        st.success(summary, icon=":material/check_circle:")


def _collect_now(engine: Engine) -> None:
    """The "Collect now" section, to an admin, folded until opened."""
    principal = viewer()
    if principal.is_admin:
        draw_folded("Collect now", COLLECT_OPEN, ":material/sync:",
                    lambda: _collect_form(engine, principal))  # fmt: skip


def _collect_form(engine: Engine, principal: Principal) -> None:
    choices = load_client_choices(engine, principal.visible)
    chosen = clients_picker(
        st.container(), choices, "collection_buckets", "Clients", "Every active and trial client"
    )
    force = st.checkbox(
        "Force: ignore the limit of one run per client per 5 minutes", key="collection_force"
    )
    if not st.button("Collect now", key="collection_collect", type="primary"):
        return
    request = TriggerRequest(bucket_ids=tuple(chosen) or None, force=force)
    try:
        with st.spinner("Collecting from S3 and the records database…"):
            actor = Actor(principal.actor, client_address())
            result = trigger_collection(engine, request, actor)
    except RateLimited as error:
        st.warning(md_message(error.message), icon=":material/timer:")
        return
    except UsageError as error:  # not configured, or a client removed meanwhile
        st.error(md_message(error.message), icon=":material/warning:")
        return
    st.session_state[_RESULT] = result
    st.cache_data.clear()  # every page shows the new snapshots, this one its runs
    load_runs_table.clear()
    load_client_choices.clear()
    load_day_view.clear()
    st.rerun()


def render() -> None:
    st.title("Collection")
    publish(PAGE, {})
    engine = get_engine()
    zone = zone_name(viewer_zone())
    with Session(engine) as session:
        stamp = runs_stamp(session)
    table = load_runs_table(engine, viewer().visible, load_is_demo(engine), zone, stamp)
    if not table.runs:
        show_empty_database()
        return
    _show_result()
    _show_configuration()
    _show_runs(table)
    _collect_now(engine)


run_page(render)
