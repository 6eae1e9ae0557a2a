"""Compare (``/compare``): one client on two dates, largest movers first.

URL: ``/compare?bucket=acme-corp&a=2024-01-01&b=2024-06-30``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from ui import charts
from ui.access import viewer
from ui.data import (
    load_client_choices,
    load_snapshot_at,
    run_page,
    show_empty_database,
)
from ui.engine import get_engine
from ui.format import human_bytes, human_count, md_text, signed_count, signed_pct
from ui.html_table import Column, html_table
from ui.params import arriving, field_name, publish, read_param, warn_param, warn_unknown_client
from ui.picker import client_picker
from usage.compare import Movement, compare_snapshots
from usage.portfolio import ClientChoice
from usage.snapshots import SnapshotJSON
from usage.validation import parse_bucket_id, parse_date

PAGE = "compare"
KEYS = ("compare_bucket", "compare_a", "compare_b")
DEFAULT_GAP_DAYS = 30
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2100, 12, 31)
DATE_LABELS = {"a": "Date A", "b": "Date B"}  # URL parameter -> the widget's label
CHANGE_PCT_HELP = (
    "The change against Date A's snapshot. **new**: nothing there on Date A (not listed, "
    "or 0). **gone**: listed on Date A, no longer on Date B. **—**: nothing on either date."
)


def _latest_day(bucket_id: str) -> dt.date:
    latest = load_snapshot_at(get_engine(), viewer().visible, bucket_id, LATEST)
    return dt.date.fromisoformat(latest["snapshot_date"]) if latest else dt.date.today()


def _parse_day(name: str, default: dt.date) -> dt.date:
    label = DATE_LABELS[name]
    day = read_param(name, lambda raw: parse_date(raw, name), default, default.isoformat(), label)
    if not EARLIEST <= day <= LATEST:
        warn_param(
            f"{field_name(label, name, day.isoformat())} must be from {EARLIEST.isoformat()} to "
            f"{LATEST.isoformat()}; showing {default.isoformat()} instead."
        )
        return default
    return day


def _load_from_url(choices: list[ClientChoice]) -> None:
    known = {choice.bucket_id for choice in choices}
    fallback = choices[0]
    bucket = read_param(
        "bucket",
        lambda raw: None if raw is None else parse_bucket_id(raw, "bucket"),
        fallback.bucket_id,
        fallback.display_name,
        "Client",
    )
    if bucket not in known:
        warn_unknown_client(bucket, fallback.display_name)
        bucket = fallback.bucket_id
    b = _parse_day("b", _latest_day(bucket))
    a = _parse_day("a", b - dt.timedelta(days=DEFAULT_GAP_DAYS))
    if a > b:
        warn_param(
            f"Date A (a={a.isoformat()}) must be on or before Date B (b={b.isoformat()}); "
            "showing the dates the other way round."
        )
        a, b = b, a
    st.session_state.compare_bucket = bucket
    st.session_state.compare_a, st.session_state.compare_b = a, b


def _resolve(bucket: str, label: str, day: dt.date, client: ClientChoice) -> SnapshotJSON | None:
    snapshot = load_snapshot_at(get_engine(), viewer().visible, bucket, day)
    if snapshot is None:
        st.info(
            f"{md_text(client.display_name)} has no snapshot on or before "
            f"{day.isoformat()} (Date {label}).",
            icon=":material/info:",
        )
    elif snapshot["snapshot_date"] != day.isoformat():
        st.caption(
            f"No snapshot on {day.isoformat()} (Date {label}): using "
            f"{snapshot['snapshot_date']}, the last one before it."
        )
    return snapshot


def _change_pct(move: Movement) -> str:
    if move.is_new:
        return "new"
    if move.is_gone:
        return "gone"
    return signed_pct(move.change_pct)


def _signed_bytes(delta: int) -> str:
    return ("+" if delta >= 0 else "−") + human_bytes(abs(delta))


def _date_columns(day_a: str, day_b: str) -> tuple[str, str]:
    """The value columns, named by their snapshots' dates (told apart when
    both dates fall back to the same snapshot)."""
    if day_a == day_b:
        return f"{day_a} (A)", f"{day_b} (B)"
    return day_a, day_b


def _moves_frame(
    moves: list[Movement], item: str, days: tuple[str, str], in_bytes: bool = False
) -> pd.DataFrame:
    shown = human_bytes if in_bytes else human_count
    column_a, column_b = _date_columns(*days)
    return pd.DataFrame(
        {
            item: [move.name for move in moves],
            column_a: [shown(move.before) for move in moves],
            column_b: [shown(move.after) for move in moves],
            "Change": [
                _signed_bytes(move.delta) if in_bytes else signed_count(move.delta)
                for move in moves
            ],
            "Change %": [_change_pct(move) for move in moves],
        }
    )


def _show_moves(
    title: str,
    moves: list[Movement],
    name: str,
    item: str,
    days: tuple[str, str],
    in_bytes: bool = False,
) -> None:
    st.markdown(f"**{title}**")
    if not moves:
        st.caption("Nothing on either date.")
        return
    frame = _moves_frame(moves, item, days, in_bytes)
    # HTML, not the data grid (``ui.html_table``): a few rows of figures.
    columns = {column: Column(align="right") for column in frame.columns if column != item}
    columns["Change %"] = Column(help=CHANGE_PCT_HELP, align="right")
    html_table(name, frame, columns)


def render() -> None:
    st.title("Compare two dates")
    engine = get_engine()
    choices = load_client_choices(engine, viewer().visible)
    if not choices:
        show_empty_database()
        publish(PAGE, {})
        return
    if arriving(PAGE, KEYS):
        _load_from_url(choices)
    names = {choice.bucket_id: choice for choice in choices}
    top = st.columns([2, 1, 1])
    bucket = client_picker(top[0], choices, "compare_bucket")
    a = top[1].date_input("Date A", key="compare_a", min_value=EARLIEST, max_value=LATEST)
    b = top[2].date_input("Date B", key="compare_b", min_value=EARLIEST, max_value=LATEST)
    publish(PAGE, {"bucket": bucket, "a": a.isoformat(), "b": b.isoformat()})
    before = _resolve(bucket, "A", a, names[bucket])
    after = _resolve(bucket, "B", b, names[bucket])
    if before is None or after is None:
        return
    comparison = compare_snapshots(before, after)
    kpis = st.columns(3)
    labels = ("Records", "Objects", "Storage")
    for column, label, move, in_bytes in zip(
        kpis, labels, comparison.totals, (False, False, True), strict=True
    ):
        shown = human_bytes if in_bytes else human_count
        change = _signed_bytes(move.delta) if in_bytes else signed_count(move.delta)
        pct = "" if move.change_pct is None else f" ({signed_pct(move.change_pct)})"
        column.metric(
            f"{label} on {after['snapshot_date']}",
            shown(move.after),
            f"{change}{pct} since {before['snapshot_date']}",
            delta_color="normal" if move.delta else "off",
        )
    day_a = dt.date.fromisoformat(before["snapshot_date"])
    day_b = dt.date.fromisoformat(after["snapshot_date"])
    st.plotly_chart(
        charts.compare_figure("Records by collection", comparison.collections, day_a, day_b),
        key="compare_collections",
    )
    days = (before["snapshot_date"], after["snapshot_date"])
    _show_moves(
        "Records by collection",
        comparison.collections,
        "compare_collections",
        "Collection",
        days,
    )
    left, right = st.columns(2)
    with left:
        _show_moves(
            "Objects by prefix", comparison.prefix_objects, "compare_objects", "Prefix", days
        )
    with right:
        _show_moves(
            "Storage by prefix",
            comparison.prefix_bytes,
            "compare_bytes",
            "Prefix",
            days,
            in_bytes=True,
        )


run_page(render)
