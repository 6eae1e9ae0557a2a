"""Collection (``/collection``): the last collection run of each visible
client, and "Collect now" for a signed-in admin (and nobody else).

"Collect now" runs the same domain function as ``POST
/api/v1/collect/trigger``, 5-minute limit and audit record included.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ui.access import client_address, viewer
from ui.data import run_page, show_empty_database
from ui.engine import get_engine
from ui.format import human_age, md_text
from ui.params import publish
from usage.access import Visible
from usage.audit import Actor
from usage.collect.runs import list_runs
from usage.collect.trigger import TriggerRequest, trigger_collection
from usage.errors import RateLimited, UsageError

PAGE = "collection"
RUNS_TTL_SECONDS = 5  # runs change while a collection goes on: read them fresh
_RESULT = "collection_result"  # the last "Collect now" outcome, shown after the rerun
STATUS_LABELS = {
    "succeeded": "✅ succeeded",
    "failed": "❌ failed",
    "running": "⏳ running",
    "never": "— never run",
}


@st.cache_data(ttl=RUNS_TTL_SECONDS, show_spinner=False)
def load_runs(_engine: Engine, visible: Visible) -> list[dict[str, Any]]:
    with Session(_engine) as session:
        return list_runs(session, visible=visible)


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _frame(runs: list[dict[str, Any]], now: dt.datetime) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Bucket": [run["bucket_id"] for run in runs],
            "Client": [run["display_name"] for run in runs],
            "Client status": [run["client_status"] for run in runs],
            "Last run": [STATUS_LABELS[run["run_status"]] for run in runs],
            "Started": [human_age(_parse_time(run["started_at"]), now) for run in runs],
            "Started at (UTC)": [run["started_at"] or "" for run in runs],
            "Took (s)": [run["duration_seconds"] for run in runs],
            "Snapshot date": [run["snapshot_date"] or "" for run in runs],
            "By": [run["started_by"] or "" for run in runs],
            "Error": [run["error"] or "" for run in runs],
        }
    )


def _show_runs(runs: list[dict[str, Any]]) -> None:
    counts = dict.fromkeys(STATUS_LABELS, 0)
    for run in runs:
        counts[run["run_status"]] += 1
    columns = st.columns(len(counts))
    for column, (status, count) in zip(columns, counts.items(), strict=True):
        column.metric(STATUS_LABELS[status], count)
    st.dataframe(
        _frame(runs, dt.datetime.now(dt.UTC)),
        hide_index=True,
        width="stretch",
        key="collection_runs",
    )
    for run in runs:
        if run["run_status"] == "failed":
            st.error(f"**{md_text(run['bucket_id'])}**: {md_text(run['error'] or '')}")


def _show_result() -> None:
    result: dict[str, Any] | None = st.session_state.pop(_RESULT, None)
    if result is None:
        return
    summary = (
        f"Collected {result['buckets_processed']} clients in {result['duration_seconds']:.1f} s"
        f", {result['buckets_failed']} failed."
    )
    if result["buckets_failed"]:
        st.warning(summary, icon="⚠️")
    else:
        st.success(summary, icon="✅")


def _collect_now(engine: Engine, runs: list[dict[str, Any]]) -> None:
    principal = viewer()
    if not principal.is_admin:
        return
    st.subheader("Collect now")
    chosen = st.multiselect(
        "Clients",
        [run["bucket_id"] for run in runs],
        key="collection_buckets",
        placeholder="Every active and trial client",
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
        st.warning(md_text(error.message), icon="⏱️")
        return
    except UsageError as error:  # not configured, or a client removed meanwhile
        st.error(md_text(error.message), icon="⚠️")
        return
    st.session_state[_RESULT] = result
    st.cache_data.clear()  # every page shows the new snapshots, this one its runs
    st.rerun()


def render() -> None:
    st.title("Collection")
    publish(PAGE, {})
    engine = get_engine()
    runs = load_runs(engine, viewer().visible)
    if not runs:
        show_empty_database()
        return
    _show_result()
    _show_runs(runs)
    _collect_now(engine, runs)


run_page(render)
