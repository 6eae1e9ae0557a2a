"""Daily snapshot (``/snapshots``): every client on one date.

URL: ``/snapshots?date=2024-06-30``.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from ui import charts
from ui.access import viewer
from ui.data import (
    load_client_choices,
    load_latest_date,
    run_page,
    show_empty_database,
)
from ui.day_view import TOP_CLIENTS, load_day_view
from ui.downloads import download_buttons
from ui.engine import get_engine
from ui.format import md_text, viewer_zone, zone_name
from ui.html_table import Column
from ui.params import arriving, field_name, publish, read_param, warn_param
from ui.rows import windowed_table
from usage.daily import clients_on_day
from usage.validation import parse_date

PAGE = "snapshots"
KEYS = ("snapshots_date",)
NOT_COUNTS = ("bucket", "client", "storage", "computed at")  # the table's other columns count
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2100, 12, 31)


def _load_from_url(default: dt.date) -> None:
    day = read_param(
        "date", lambda raw: parse_date(raw, "date"), default, default.isoformat(), "Date"
    )
    if not EARLIEST <= day <= LATEST:
        warn_param(
            f"{field_name('Date', 'date', day.isoformat())} must be from {EARLIEST.isoformat()} to "
            f"{LATEST.isoformat()}; showing {default.isoformat()} instead."
        )
        day = default
    st.session_state.snapshots_date = day


def render() -> None:
    st.title("Daily snapshot")
    engine = get_engine()
    choices = load_client_choices(engine, viewer().visible)
    if not choices:
        show_empty_database()
        publish(PAGE, {})
        return
    latest = load_latest_date(engine, viewer().visible) or dt.date.today()
    if arriving(PAGE, KEYS):
        _load_from_url(latest)
    day = st.columns([1, 3])[0].date_input(
        "Date", key="snapshots_date", min_value=EARLIEST, max_value=LATEST
    )
    publish(PAGE, {"date": day.isoformat()})
    view = load_day_view(engine, viewer().visible, day, zone_name(viewer_zone()))
    if view is None:
        st.info(
            f"No client has a snapshot on {day.isoformat()}. The newest snapshots are on "
            f"{latest.isoformat()}.",
            icon=":material/info:",
        )
        return
    frame, shown, top, have = view.frame, view.shown, view.top, view.have
    on_day = clients_on_day(choices, day, have)
    counted = [choice for choice in choices if choice.bucket_id in on_day]
    without = [choice for choice in counted if choice.bucket_id not in have]
    st.caption(f"{len(have):,} of {len(counted):,} clients have a snapshot on {day}.")
    if without:
        listed = ", ".join(md_text(choice.display_name) for choice in without[:20])
        more = f" and {len(without) - 20:,} more" if len(without) > 20 else ""
        st.caption(f"Without one: {listed}{more}.")
    st.plotly_chart(
        charts.day_figure(
            f"Records on {day.isoformat()}, largest {min(TOP_CLIENTS, len(top))} clients",
            [name or bucket for name, bucket in zip(top["client"], top["bucket"], strict=True)],
            [int(value) for value in top["total records"]],
        ),
        key="snapshots_top",
    )
    windowed_table(
        shown,
        "snapshots_rows",
        name="snapshots_table",
        columns={
            **{name: Column("number") for name in shown.columns if name not in NOT_COUNTS},
            "storage": Column(align="right", help="The CSV download has the exact bytes."),
            "computed at": Column(help="In your time zone; the downloads have it in UTC."),
        },
        searched=("client", "bucket"),
        noun="clients",
        url_of=PAGE,
        sort_keys={"storage": frame["storage bytes"], "computed at": frame["computed at"]},
    )
    stem = f"snapshots_{day.isoformat()}"
    download_buttons(lambda: frame, view.json_text, stem, key="snapshots")


run_page(render)
