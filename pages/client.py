"""Client (``/client``): one client's history over a range, at a granularity.

URL: ``/client?bucket=acme-corp&start=2024-01-01&end=2024-06-30&granularity=week``
or ``/client?bucket=acme-corp&preset=90d&granularity=day``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from ui import charts
from ui.access import viewer
from ui.data import (
    load_client_choices,
    load_history,
    load_snapshot_at,
    run_page,
    show_empty_database,
)
from ui.downloads import download_buttons, history_json
from ui.engine import get_engine
from ui.format import days_phrase, human_age, human_bytes, human_count, md_text, signed_pct
from ui.params import arriving, publish, read_param, warn_param
from usage.errors import InvalidParams
from usage.portfolio import ClientChoice
from usage.series import (
    Granularity,
    RangePreset,
    build_series,
    collection_names,
    find_drops,
    missing_days,
    preset_range,
)
from usage.snapshots import SnapshotJSON
from usage.validation import check_date_range, parse_bucket_id, parse_choice, parse_date

PAGE = "client"
KEYS = ("client_bucket", "client_preset", "client_start", "client_end", "client_granularity")
DEFAULT_PRESET = RangePreset.LAST_90_DAYS
PRESET_LABELS = {
    RangePreset.LAST_30_DAYS: "Last 30 days",
    RangePreset.LAST_90_DAYS: "Last 90 days",
    RangePreset.LAST_12_MONTHS: "Last 12 months",
    RangePreset.YEAR_TO_DATE: "Year to date",
    RangePreset.ALL: "All",
    RangePreset.CUSTOM: "Custom",
}
GRANULARITY_LABELS = {Granularity.DAY: "Day", Granularity.WEEK: "Week", Granularity.MONTH: "Month"}
# The dates a date input accepts; a URL date outside is refused.
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2100, 12, 31)


def _parse_day(name: str) -> dt.date | None:
    instead = "90 days up to the end" if name == "start" else "today"
    day = read_param(name, lambda raw: parse_date(raw, name), None, instead)
    if day is not None and not EARLIEST <= day <= LATEST:
        warn_param(
            f"{name} must be from {EARLIEST.isoformat()} to {LATEST.isoformat()}; "
            f"showing {instead} instead."
        )
        return None
    return day


def _first_day(bucket_id: str, preset: RangePreset) -> dt.date | None:
    """The client's first snapshot, which only ``All`` needs."""
    if preset is not RangePreset.ALL:
        return None
    history = load_history(get_engine(), viewer().visible, bucket_id, None, None)
    return dt.date.fromisoformat(history[-1]["snapshot_date"]) if history else None


def _apply_preset() -> None:
    """On a preset change: show its dates in the date inputs."""
    preset = RangePreset(st.session_state.client_preset)
    if preset is not RangePreset.CUSTOM:
        first = _first_day(st.session_state.client_bucket, preset)
        start, end = preset_range(preset, dt.date.today(), first)
        st.session_state.client_start, st.session_state.client_end = start, end


def _to_custom() -> None:
    """On a date change: the range is now a custom one."""
    st.session_state.client_preset = RangePreset.CUSTOM.value


def _load_from_url(choices: list[ClientChoice]) -> None:
    known = {choice.bucket_id for choice in choices}
    fallback = choices[0]
    bucket = read_param(
        "bucket",
        lambda raw: parse_bucket_id(raw, "bucket") if raw is not None else None,
        fallback.bucket_id,
        fallback.display_name,
    )
    if bucket not in known:
        warn_param(f"bucket {bucket!r} is not a known client; showing {fallback.display_name}.")
        bucket = fallback.bucket_id
    granularity = read_param(
        "granularity",
        lambda raw: parse_choice(raw, [g.value for g in Granularity], "granularity"),
        Granularity.DAY.value,
        "days",
    )
    parsed = read_param(
        "preset",
        lambda raw: parse_choice(raw, [p.value for p in RangePreset], "preset"),
        None,
        PRESET_LABELS[DEFAULT_PRESET].lower(),
    )
    dated = "start" in st.query_params or "end" in st.query_params
    preset = RangePreset(parsed) if parsed else RangePreset.CUSTOM if dated else DEFAULT_PRESET
    today = dt.date.today()
    start = end = None
    if preset is RangePreset.CUSTOM:
        start, end = _parse_day("start"), _parse_day("end")
        try:
            check_date_range(start, end, "start", "end")
        except InvalidParams as error:
            warn_param(f"{error.message}; showing the last 90 days instead.")
            start = end = None
    if start is None and end is None:
        preset = DEFAULT_PRESET if preset is RangePreset.CUSTOM else preset
        start, end = preset_range(preset, today, _first_day(bucket, preset))
    elif end is None:  # only a start: up to today, or that day alone
        end = max(start or today, today)
    elif start is None:  # only an end: the default preset's length before it
        start = preset_range(DEFAULT_PRESET, end, None)[0]
    st.session_state.client_bucket = bucket
    st.session_state.client_granularity = granularity
    st.session_state.client_preset = preset.value
    st.session_state.client_start, st.session_state.client_end = start, end


def _url_params() -> dict[str, str | None]:
    preset = RangePreset(st.session_state.client_preset)
    custom = preset is RangePreset.CUSTOM
    return {
        "bucket": st.session_state.client_bucket,
        "preset": None if custom else preset.value,
        "start": st.session_state.client_start.isoformat() if custom else None,
        "end": st.session_state.client_end.isoformat() if custom else None,
        "granularity": st.session_state.client_granularity,
    }


def _controls(choices: list[ClientChoice]) -> tuple[str, dt.date, dt.date, Granularity]:
    names = {choice.bucket_id: choice for choice in choices}
    top = st.columns([2, 3, 1])
    bucket: str = top[0].selectbox(
        "Client",
        list(names),
        key="client_bucket",
        format_func=lambda bucket_id: f"{names[bucket_id].display_name} ({bucket_id})",
        on_change=_apply_preset,
    )
    top[1].radio(
        "Range",
        [preset.value for preset in RangePreset],
        key="client_preset",
        format_func=lambda value: PRESET_LABELS[RangePreset(value)],
        horizontal=True,
        on_change=_apply_preset,
    )
    granularity = top[2].radio(
        "Granularity",
        [g.value for g in Granularity],
        key="client_granularity",
        format_func=lambda value: GRANULARITY_LABELS[Granularity(value)],
        horizontal=True,
    )
    dates = st.columns([1, 1, 3])
    start = dates[0].date_input(
        "From", key="client_start", min_value=EARLIEST, max_value=LATEST, on_change=_to_custom
    )
    end = dates[1].date_input(
        "To", key="client_end", min_value=EARLIEST, max_value=LATEST, on_change=_to_custom
    )
    if start > end:
        st.warning(
            "From is after To; showing the dates the other way round.", icon=":material/warning:"
        )
        start, end = end, start
    return bucket, start, end, Granularity(granularity)


def render() -> None:
    engine = get_engine()
    choices = load_client_choices(engine, viewer().visible)
    if not choices:
        st.title("Client")
        show_empty_database()
        publish(PAGE, {})
        return
    if arriving(PAGE, KEYS):
        _load_from_url(choices)
    names = {choice.bucket_id: choice for choice in choices}
    st.title(md_text(names[st.session_state.client_bucket].display_name))
    bucket, start, end, granularity = _controls(choices)
    publish(PAGE, _url_params())

    snapshots = load_history(engine, viewer().visible, bucket, start, end)
    if snapshots is None:
        st.error(f"The client {md_text(bucket)} no longer exists.", icon=":material/warning:")
        return
    if not snapshots:
        latest = load_snapshot_at(engine, viewer().visible, bucket, LATEST)
        where = (
            f" Its latest snapshot is on {latest['snapshot_date']}; choose All to see its "
            "whole history."
            if latest
            else " It has no snapshot at all yet."
        )
        st.info(
            f"{md_text(names[bucket].display_name)} has no snapshot from {start.isoformat()} "
            f"to {end.isoformat()}.{where}",
            icon=":material/info:",
        )
        return
    _overview(names[bucket], snapshots, start, end)
    _charts(snapshots, start, end, granularity)
    _snapshot_table(bucket, snapshots, start, end)


def _overview(
    client: ClientChoice, snapshots: list[SnapshotJSON], start: dt.date, end: dt.date
) -> None:
    newest, oldest = snapshots[0], snapshots[-1]
    # Freshness is the client's latest snapshot, whatever the range.
    latest = load_snapshot_at(get_engine(), viewer().visible, client.bucket_id, LATEST) or newest
    computed = dt.datetime.fromisoformat(latest["computed_at"])
    st.caption(
        f"{md_text(client.bucket_id)} · {md_text(client.status)} · latest snapshot "
        f"{latest['snapshot_date']}, computed {latest['computed_at']} "
        f"({human_age(computed, dt.datetime.now(dt.UTC))})"
    )
    since = f"since {oldest['snapshot_date']}"
    kpis = st.columns(3)
    _kpi(kpis[0], "Total records", oldest["records"]["total"], newest["records"]["total"], since)
    _kpi(
        kpis[1],
        "Storage",
        oldest["storage"]["total_bytes"],
        newest["storage"]["total_bytes"],
        since,
        in_bytes=True,
    )
    _kpi(
        kpis[2],
        "Objects",
        oldest["storage"]["object_count"],
        newest["storage"]["object_count"],
        since,
    )
    missing = missing_days(snapshots, start, end)
    if missing:
        shown = ", ".join(day.isoformat() for day in missing[-5:])
        more = " (the latest: " if len(missing) > 5 else " ("
        st.warning(
            f"{days_phrase(len(missing))} without a snapshot in this range{more}{shown}). "
            "They are gaps in the charts, not zeros.",
            icon=":material/event_busy:",
        )
    else:
        st.caption("No day without a snapshot in this range.")
    drops = find_drops(snapshots)
    for drop in drops[-5:]:
        st.error(
            f"Possible data loss: {md_text(drop.metric)} fell from {human_count(drop.before)} "
            f"to {human_count(drop.after)} ({signed_pct(drop.change_pct)}) between "
            f"{drop.previous_date.isoformat()} and {drop.snapshot_date.isoformat()}.",
            icon=":material/trending_down:",
        )
    if len(drops) > 5:
        st.caption(f"{len(drops) - 5} earlier drops in this range are not listed.")


def _kpi(
    column: DeltaGenerator,
    label: str,
    before: int,
    after: int,
    since: str,
    in_bytes: bool = False,
) -> None:
    change = after - before
    pct = signed_pct(change * 100.0 / before) if before else "new"
    if in_bytes:
        value = human_bytes(after)
        delta = f"{'+' if change >= 0 else '−'}{human_bytes(abs(change))} ({pct}) {since}"
    else:
        value = human_count(after)
        delta = f"{change:+,} ({pct}) {since}"
    column.metric(label, value, delta, delta_color="normal" if change else "off")


def _charts(
    snapshots: list[SnapshotJSON], start: dt.date, end: dt.date, granularity: Granularity
) -> None:
    series = build_series(snapshots, start, end, granularity)
    drops = find_drops(snapshots)
    mode = st.radio(
        "Records chart",
        list(charts.RECORD_MODES),
        format_func=charts.RECORD_MODES.__getitem__,
        horizontal=True,
        key="client_mode",
    )
    st.plotly_chart(charts.records_figure(series, mode, drops), key="client_records")
    left, right = st.columns(2)
    left.plotly_chart(charts.storage_figure(series), key="client_storage")
    right.plotly_chart(charts.objects_figure(series), key="client_objects")
    st.plotly_chart(charts.prefix_figure(series), key="client_prefixes")
    newest = snapshots[0]
    left, right = st.columns(2)
    left.plotly_chart(
        charts.breakdown_figure(
            f"Records by collection on {newest['snapshot_date']}",
            {name: newest["records"].get(name, 0) for name in collection_names([newest])},
        ),
        key="client_latest_collections",
    )
    right.plotly_chart(
        charts.breakdown_figure(
            f"Storage by prefix on {newest['snapshot_date']}",
            {prefix: entry["bytes"] for prefix, entry in newest["storage"]["by_prefix"].items()},
            in_bytes=True,
        ),
        key="client_latest_prefixes",
    )


def _snapshot_table(
    bucket: str, snapshots: list[SnapshotJSON], start: dt.date, end: dt.date
) -> None:
    st.subheader("Snapshots")
    names = collection_names(snapshots)
    frame = pd.DataFrame(
        {
            "date": [snapshot["snapshot_date"] for snapshot in snapshots],
            **{
                name: [snapshot["records"].get(name, 0) for snapshot in snapshots] for name in names
            },
            "total records": [snapshot["records"]["total"] for snapshot in snapshots],
            "objects": [snapshot["storage"]["object_count"] for snapshot in snapshots],
            "storage bytes": [snapshot["storage"]["total_bytes"] for snapshot in snapshots],
            "computed at": [snapshot["computed_at"] for snapshot in snapshots],
        }
    )
    shown = frame.assign(storage=[human_bytes(n) for n in frame["storage bytes"]])
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        height=320,
        key="client_table",
        column_config={
            name: st.column_config.NumberColumn(format="localized")
            for name in [*names, "total records", "objects", "storage bytes"]
        },
    )
    stem = f"{bucket}_{start.isoformat()}_{end.isoformat()}"
    download_buttons(frame, history_json(snapshots), stem, key="client")


run_page(render)
