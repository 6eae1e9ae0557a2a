"""Client (``/client``): one client's history over a range, at a granularity.

URL: ``/client?bucket=acme-corp&start=2024-01-01&end=2024-06-30&granularity=week``
or ``/client?bucket=acme-corp&preset=90d&granularity=day&mode=lines``.
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
    load_latest_date,
    load_snapshot_at,
    run_page,
    show_empty_database,
)
from ui.downloads import download_buttons, history_json
from ui.engine import get_engine
from ui.format import (
    days_phrase,
    human_age,
    human_bytes,
    human_count,
    local_time,
    md_text,
    signed_pct,
    viewer_zone,
)
from ui.html_table import Column
from ui.outlook import load_forecast, load_plans
from ui.params import (
    arriving,
    field_name,
    publish,
    read_param,
    read_switch,
    url_field_name,
    warn_param,
    warn_unknown_client,
)
from ui.picker import client_picker
from ui.popovers import range_popover
from ui.rows import windowed_table
from usage.alerts import drop_settings
from usage.anomalies import find_drops
from usage.errors import InvalidParams
from usage.forecast import DEFAULT_SETTINGS, Outlook, quantity
from usage.outlook import ClientForecast, LimitUse, no_forecast_reason, plan_uses
from usage.plans import Plan
from usage.portfolio import ClientChoice
from usage.series import (
    STORAGE_BYTES,
    TOTAL_RECORDS,
    ClientSeries,
    Drop,
    Granularity,
    Period,
    RangePreset,
    build_series,
    collection_names,
    day_label,
    day_runs,
    missing_days,
    period_start,
    preset_range,
)
from usage.snapshots import SnapshotJSON
from usage.table import history_table, period_table, prefix_column_names
from usage.validation import check_date_range, parse_bucket_id, parse_choice, parse_date

PAGE = "client"
KEYS = ("client_bucket", "client_preset", "client_start", "client_end", "client_granularity",
        "client_mode", "client_forecast", "client_table")  # fmt: skip
FORECAST_DAYS = DEFAULT_SETTINGS.horizon_days
DEFAULT_PRESET = RangePreset.LAST_90_DAYS
DEFAULT_MODE = "stacked"
PRESET_LABELS = {
    RangePreset.LAST_30_DAYS: "Last 30 days",
    RangePreset.LAST_90_DAYS: "Last 90 days",
    RangePreset.LAST_12_MONTHS: "Last 12 months",
    RangePreset.YEAR_TO_DATE: "Year to date",
    RangePreset.ALL: "All",
    RangePreset.CUSTOM: "Custom",
}
GRANULARITY_LABELS = {Granularity.DAY: "Day", Granularity.WEEK: "Week", Granularity.MONTH: "Month"}
# The first day a date input accepts; a URL date outside is refused. The
# last is today (``_last_day``): a later day has no snapshot yet, and the
# forecast draws what is ahead.
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(2100, 12, 31)  # "the latest snapshot": the last one on or before it
# Statuses whose clients are collected every day: a missing newest day is news.
COLLECTED_STATUSES = ("active", "trial")
LISTED_GAPS = 5  # the latest runs of missing days a warning lists
TABLE_HEIGHT = 320  # pixels: the snapshots' table scrolls inside itself below it
# The snapshots' table's columns that are not counts, less the computed time
# (named with the viewer's zone).
TEXT_COLUMNS = ("date", "period", "partial", "snapshot date", "storage")
_PRESET_CHANGED = "_client_preset_changed"


def _last_day() -> dt.date:
    """The last day a range may end on: today, on the server's clock or in
    UTC (snapshots are dated by the UTC day) whichever is later."""
    return max(dt.date.today(), dt.datetime.now(dt.UTC).date())


def _parse_day(name: str) -> dt.date | None:
    label, instead = ("From", "the 90 days up to To") if name == "start" else ("To", "today")
    day = read_param(name, lambda raw: parse_date(raw, name), None, instead, label)
    last = _last_day()
    if day is not None and not EARLIEST <= day <= last:
        warn_param(
            f"{field_name(label, name, day.isoformat())} must be from {EARLIEST.isoformat()} to "
            f"{last.isoformat()} (today); showing {instead} instead."
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
    """Show the chosen preset's dates in the date inputs (before they are
    drawn: ``All`` reads the client's first day, for the viewer of the run)."""
    preset = RangePreset(st.session_state.client_preset)
    if preset is not RangePreset.CUSTOM:
        first = _first_day(st.session_state.client_bucket, preset)
        start, end = preset_range(preset, dt.date.today(), first)
        st.session_state.client_start, st.session_state.client_end = start, end


def _preset_changed() -> None:
    """On a preset or client change. A callback runs before the page's frame
    knows the viewer, so the dates are set by the run (``_apply_preset``)."""
    st.session_state[_PRESET_CHANGED] = True


def _show_whole_history() -> None:
    st.session_state.client_preset = RangePreset.ALL.value
    _preset_changed()


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
        "Client",
    )
    if bucket not in known:
        warn_unknown_client(bucket, fallback.display_name)
        bucket = fallback.bucket_id
    granularity = read_param(
        "granularity",
        lambda raw: parse_choice(raw, [g.value for g in Granularity], "granularity"),
        Granularity.DAY.value,
        "days",
        "Granularity",
    )
    mode = read_param(
        "mode",
        lambda raw: parse_choice(raw, list(charts.RECORD_MODES), "mode"),
        DEFAULT_MODE,
        "stacked bars",
        "Records chart",
    )
    # The forecast is drawn unless the URL says forecast=off; the snapshots'
    # table is folded unless it says table=on.
    forecast = read_switch("forecast", True, "the forecast", "Forecast")
    table = read_switch("table", False, "the table folded", "Table")
    parsed = read_param(
        "preset",
        lambda raw: parse_choice(raw, [p.value for p in RangePreset], "preset"),
        None,
        PRESET_LABELS[DEFAULT_PRESET].lower(),
        "Range",
    )
    dated = bool(st.query_params.get("start") or st.query_params.get("end"))
    preset = RangePreset(parsed) if parsed else RangePreset.CUSTOM if dated else DEFAULT_PRESET
    today = dt.date.today()
    start = end = None
    if preset is RangePreset.CUSTOM:
        start, end = _parse_day("start"), _parse_day("end")
        try:
            check_date_range(
                start, end, url_field_name("From", "start"), url_field_name("To", "end")
            )
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
    st.session_state.client_mode = mode
    st.session_state.client_forecast = forecast
    st.session_state.client_table = table
    st.session_state.client_preset = preset.value
    st.session_state.client_start, st.session_state.client_end = start, end


def _url_params() -> dict[str, str | None]:
    preset = RangePreset(st.session_state.client_preset)
    custom = preset is RangePreset.CUSTOM
    mode = st.session_state.client_mode
    return {
        "bucket": st.session_state.client_bucket,
        "preset": None if custom else preset.value,
        "start": st.session_state.client_start.isoformat() if custom else None,
        "end": st.session_state.client_end.isoformat() if custom else None,
        "granularity": st.session_state.client_granularity,
        "mode": None if mode == DEFAULT_MODE else mode,
        "forecast": None if st.session_state.client_forecast else "off",
        "table": "on" if st.session_state.client_table else None,
    }


def _controls(choices: list[ClientChoice]) -> tuple[str, dt.date, dt.date, Granularity]:
    """The client, the range and the granularity. The client's search and
    the two dates sit in popovers (``ui.popovers``), each behind a button
    that says what is shown."""
    top = st.columns([2, 3, 1])
    picker = top[0].popover(
        "Change client", icon=":material/swap_horiz:", width="stretch", key="client_picker_box"
    )
    bucket = client_picker(picker, choices, "client_bucket", on_change=_preset_changed)
    top[1].radio(
        "Range",
        [preset.value for preset in RangePreset],
        key="client_preset",
        format_func=lambda value: PRESET_LABELS[RangePreset(value)],
        horizontal=True,
        on_change=_preset_changed,
    )
    granularity = top[2].radio(
        "Granularity",
        [g.value for g in Granularity],
        key="client_granularity",
        format_func=lambda value: GRANULARITY_LABELS[Granularity(value)],
        horizontal=True,
    )
    dates = range_popover(
        top[0],
        "client_start",
        "client_end",
        key="client_dates_box",
        help="From and To: choosing a day makes the range a custom one.",
    )
    last = _last_day()
    start = dates.date_input(
        "From", key="client_start", min_value=EARLIEST, max_value=last, on_change=_to_custom
    )
    end = dates.date_input(
        "To", key="client_end", min_value=EARLIEST, max_value=last, on_change=_to_custom
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
    # The chart mode's radio and the table are not drawn for an empty range;
    # keep their values.
    for key in ("client_mode", "client_forecast", "client_table"):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
    if arriving(PAGE, KEYS):
        _load_from_url(choices)
    if st.session_state.pop(_PRESET_CHANGED, False):
        _apply_preset()
    names = {choice.bucket_id: choice for choice in choices}
    if st.session_state.client_bucket not in names:  # left the viewer's book, or removed
        warn_param(
            f"bucket {st.session_state.client_bucket!r} is not a known client; "
            f"showing {choices[0].display_name}."
        )
        st.session_state.client_bucket = choices[0].bucket_id
    st.title(md_text(names[st.session_state.client_bucket].display_name))
    bucket, start, end, granularity = _controls(choices)
    publish(PAGE, _url_params())

    snapshots = load_history(engine, viewer().visible, bucket, start, end)
    if snapshots is None:
        st.error(f"The client {md_text(bucket)} no longer exists.", icon=":material/warning:")
        return
    client = names[bucket]
    # Freshness is the client's latest snapshot, whatever the range, against
    # the newest day collected among the clients the viewer sees (the whole
    # store's would tell a manager about clients outside their book).
    latest = load_snapshot_at(engine, viewer().visible, bucket, LATEST)
    collected = load_latest_date(engine, viewer().visible)
    _freshness(client, latest, collected)
    plan = load_plans(engine, viewer().visible, (bucket,)).get(bucket)
    if not snapshots:
        _empty_range(client, latest, start, end, plan)
        return
    drops = find_drops(snapshots, drop_settings())  # the alerts' drops
    _overview(snapshots, start, end, collected, drops, client.client_since)
    _plan_use(plan, latest)
    drawn_from = _drawn_from(start, client, snapshots, granularity)
    series = build_series(snapshots, drawn_from, end, granularity)
    _charts(series, drops, snapshots, bucket, end, latest)
    _snapshot_table(bucket, snapshots, series.periods, start, end)


def _drawn_from(
    start: dt.date, client: ClientChoice, snapshots: list[SnapshotJSON], granularity: Granularity
) -> dt.date:
    """The charts' first day: ``start``, or the first day of the period in
    which the client became one when later (or of its first snapshot's in
    the range, if earlier still): a week or month the range holds whole
    stays whole. The days before were due no snapshot (``missing_days``):
    years of them would squeeze the charts to one side and take the browser
    seconds."""
    if client.client_since is None or client.client_since <= start:
        return start
    oldest = dt.date.fromisoformat(snapshots[-1]["snapshot_date"])
    return max(start, period_start(min(client.client_since, oldest), granularity))


def _freshness(
    client: ClientChoice, latest: SnapshotJSON | None, collected: dt.date | None
) -> None:
    if latest is None:
        st.caption(f"{md_text(client.bucket_id)} · {md_text(client.status)} · no snapshot yet")
        return
    computed = _utc(latest["computed_at"])
    st.caption(
        f"{md_text(client.bucket_id)} · {md_text(client.status)} · latest snapshot "
        f"{latest['snapshot_date']}, computed {local_time(computed, viewer_zone())} "
        f"({human_age(computed, dt.datetime.now(dt.UTC))})"
    )
    latest_day = dt.date.fromisoformat(latest["snapshot_date"])
    if collected is None or latest_day >= collected:
        return
    if client.status in COLLECTED_STATUSES:
        st.warning(
            f"No snapshot on {collected.isoformat()} yet: collection may have failed. "
            f"The latest figures below are from {latest_day.isoformat()}.",
            icon=":material/event_busy:",
        )
    else:
        st.caption(
            f"No snapshot since {latest_day.isoformat()} (the client is "
            f"{md_text(client.status)}); the clients you see have snapshots up to "
            f"{collected.isoformat()}."
        )


def _empty_range(
    client: ClientChoice,
    latest: SnapshotJSON | None,
    start: dt.date,
    end: dt.date,
    plan: Plan | None,
) -> None:
    """A range without a snapshot: say so, and show the latest figures."""
    if latest is None:
        st.info(
            f"{md_text(client.display_name)} has no snapshot at all yet.", icon=":material/info:"
        )
        return
    day = latest["snapshot_date"]
    st.info(
        f"{md_text(client.display_name)} has no snapshot from {start.isoformat()} to "
        f"{end.isoformat()}: this range is empty. Below are its latest figures, from {day}.",
        icon=":material/info:",
    )
    st.button(
        "Show its whole history",
        key="client_show_all",
        icon=":material/history:",
        on_click=_show_whole_history,
    )
    kpis = st.columns(3)
    kpis[0].metric(f"Total records as of {day}", human_count(latest["records"]["total"]))
    kpis[1].metric(f"Storage as of {day}", human_bytes(latest["storage"]["total_bytes"]))
    kpis[2].metric(f"Objects as of {day}", human_count(latest["storage"]["object_count"]))
    _plan_use(plan, latest)
    _latest_breakdowns(latest)


def _overview(
    snapshots: list[SnapshotJSON],
    start: dt.date,
    end: dt.date,
    collected: dt.date | None,
    drops: list[Drop],
    client_since: dt.date | None,
) -> None:
    newest, oldest = snapshots[0], snapshots[-1]
    shown, since = newest["snapshot_date"], oldest["snapshot_date"]
    kpis = st.columns(3)
    _kpi(kpis[0], "Total records", oldest["records"]["total"], newest["records"]["total"],
         shown, since)  # fmt: skip
    _kpi(kpis[1], "Storage", oldest["storage"]["total_bytes"], newest["storage"]["total_bytes"],
         shown, since, in_bytes=True)  # fmt: skip
    _kpi(kpis[2], "Objects", oldest["storage"]["object_count"],
         newest["storage"]["object_count"], shown, since)  # fmt: skip
    if since != start.isoformat():
        before = dt.date.fromisoformat(since) - dt.timedelta(days=1)
        none = f"{start.isoformat()} has none" if before == start else (
            f"{start.isoformat()} to {before.isoformat()} have none")  # fmt: skip
        st.caption(f"Changes are from {since}, the range's first day with a snapshot ({none}).")
    # Days after the newest one collected are not due yet (a later snapshot
    # than the cached newest day counts as collected too).
    due = max(filter(None, [collected, dt.date.fromisoformat(shown)]))
    missing = missing_days(snapshots, start, end, due, client_since)
    upto = f" up to {due.isoformat()} (the newest day collected)" if due < end else ""
    if client_since is not None and start < client_since <= end:  # none was due before
        upto = f" from {client_since.isoformat()} (a client since then){upto}"
    if missing:
        runs = day_runs(missing)
        listed = ", ".join(
            first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
            for first, last in runs[-LISTED_GAPS:]
        )
        which = f"the latest {LISTED_GAPS} gaps: " if len(runs) > LISTED_GAPS else ""
        st.warning(
            f"{days_phrase(len(missing))} without a snapshot in this range{upto}: {which}"
            f"{listed}. They are gaps in the charts, not zeros.",
            icon=":material/event_busy:",
        )
    else:
        st.caption(f"No day without a snapshot in this range{upto}.")
    for drop in drops[-5:]:
        amount = human_bytes if drop.in_bytes else human_count
        st.error(
            f"Possible data loss: {md_text(drop.metric)} fell from {amount(drop.before)} "
            f"to {amount(drop.after)} ({signed_pct(drop.change_pct)}) between "
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
    shown: str,
    since: str,
    in_bytes: bool = False,
) -> None:
    """``label`` as of the day ``shown``, and its change since the day ``since``."""
    change = after - before
    pct = signed_pct(change * 100.0 / before) if before else "new"
    if in_bytes:
        value = human_bytes(after)
        delta = f"{'+' if change >= 0 else '−'}{human_bytes(abs(change))} ({pct}) since {since}"
    else:
        value = human_count(after)
        delta = f"{change:+,} ({pct}) since {since}"
    column.metric(f"{label} as of {shown}", value, delta, delta_color="normal" if change else "off")


def _charts(
    series: ClientSeries,
    drops: list[Drop],
    snapshots: list[SnapshotJSON],
    bucket: str,
    end: dt.date,
    latest: SnapshotJSON | None,
) -> None:
    choice, toggle = st.columns([3, 1], vertical_alignment="bottom")
    mode = choice.radio(
        "Records chart",
        list(charts.RECORD_MODES),
        format_func=charts.RECORD_MODES.__getitem__,
        horizontal=True,
        key="client_mode",
    )
    toggle.toggle(
        "Forecast",
        key="client_forecast",
        help=f"The next {FORECAST_DAYS} days, with their band and the plan's limits.",
    )
    forecast = _shown_forecast(bucket, end, latest)
    granularity = series.periods[0].granularity
    if granularity is not Granularity.DAY:
        st.caption(
            f"Each {granularity.value} shows its last snapshot: the value on its last day "
            f"with one. A {granularity.value} the range holds only part of is partial "
            "(hatched bar, open circle); hover a period for the day it shows."
        )
    drawn = _record_outlooks(forecast, mode, series)
    st.plotly_chart(charts.records_figure(series, mode, drops, drawn), key="client_records")
    _sentences(st.container(), forecast, [outlook.metric for outlook in drawn])
    left, right = st.columns(2)
    storage = forecast.outlook(STORAGE_BYTES) if forecast else None
    left.plotly_chart(charts.storage_figure(series, storage), key="client_storage")
    _sentences(left, forecast, [STORAGE_BYTES])
    right.plotly_chart(charts.objects_figure(series), key="client_objects")
    st.plotly_chart(charts.prefix_figure(series), key="client_prefixes")
    _latest_breakdowns(snapshots[0])


def _shown_forecast(
    bucket: str, end: dt.date, latest: SnapshotJSON | None
) -> ClientForecast | None:
    """The client's forecast when the toggle is on and the range ends on
    its newest snapshot or later (a past range shows none)."""
    if not st.session_state.client_forecast or latest is None:
        return None
    newest = dt.date.fromisoformat(latest["snapshot_date"])
    if end < newest:
        st.caption(
            f"The forecast starts after the newest snapshot, {newest.isoformat()}: it is "
            "drawn when the range ends there."
        )
        return None
    return load_forecast(get_engine(), viewer().visible, bucket)


def _record_outlooks(
    forecast: ClientForecast | None, mode: str, series: ClientSeries
) -> list[Outlook]:
    """The records chart's forecasts: the total's on the stacked bars, each
    limited collection's after its line, none on shares."""
    if forecast is None or mode == "share":
        return []
    if mode == "stacked":
        total = forecast.outlook(TOTAL_RECORDS)
        return [] if total is None else [total]
    return [item for item in forecast.outlooks if item.metric in series.records]


def _sentences(place: DeltaGenerator, forecast: ClientForecast | None, metrics: list[str]) -> None:
    """What each forecast drawn says, under its chart."""
    if forecast is None:
        return
    lines = []
    for metric in metrics:
        outlook = forecast.outlook(metric)
        if outlook is not None:
            lines.append(
                f"**{md_text(_metric_label(metric))}**: {md_text(_says(forecast, outlook))}."
            )
    if lines:
        place.caption("  \n".join(lines))


def _says(forecast: ClientForecast, outlook: Outlook) -> str:
    """The reach sentence with a limit; without one, where the band ends."""
    if outlook.summary is not None:
        return outlook.summary
    projection = outlook.forecast
    if projection is None:
        return f"no forecast, {no_forecast_reason(forecast, outlook)}"
    value, low, high = (quantity(outlook.metric, v) for v in projection.on(projection.end_day))
    between = "" if low == high else f" (between {low} and {high})"
    return f"about {value} on {day_label(projection.end_day)}{between}; no limit in the plan"


def _metric_label(metric: str) -> str:
    if metric == TOTAL_RECORDS:
        return "Records"
    return "Storage" if metric == STORAGE_BYTES else f"{metric} records"


def _plan_use(plan: Plan | None, latest: SnapshotJSON | None) -> None:
    """The latest snapshot against each limit of the client's plan."""
    if plan is None or latest is None:
        return
    uses = plan_uses(plan, latest)
    columns = st.columns(max(len(uses), 3))
    for column, use in zip(columns, uses, strict=False):
        column.progress(min(use.share, 1.0), text=_use_text(use))
    st.caption(
        f"The plan ({md_text(plan.describe())}) against the latest snapshot, "
        f"{latest['snapshot_date']}."
    )


def _use_text(use: LimitUse) -> str:
    over = ", over the limit" if use.share >= 1 else ""
    return (
        f"**{md_text(_metric_label(use.metric))}**: {use.share * 100:.1f}% of the plan "
        f"({md_text(quantity(use.metric, use.value))} of "
        f"{md_text(quantity(use.metric, use.limit))}{over})"
    )


def _latest_breakdowns(snapshot: SnapshotJSON) -> None:
    day = snapshot["snapshot_date"]
    left, right = st.columns(2)
    left.plotly_chart(
        charts.breakdown_figure(
            f"Records by collection on {day}",
            {name: snapshot["records"].get(name, 0) for name in collection_names([snapshot])},
        ),
        key="client_latest_collections",
    )
    right.plotly_chart(
        charts.breakdown_figure(
            f"Storage by prefix on {day}",
            {prefix: entry["bytes"] for prefix, entry in snapshot["storage"]["by_prefix"].items()},
            in_bytes=True,
        ),
        key="client_latest_prefixes",
    )


def _utc(stamp: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _table_rows(periods: list[Period]) -> list[Period]:
    """The periods with a snapshot, newest first (as the API's history)."""
    return [period for period in reversed(periods) if period.snapshot is not None]


def _frame(rows: list[Period], by_day: bool) -> pd.DataFrame:
    """One row per period: the API's CSV columns (``usage.table``), raw
    numbers, dates as ISO text, times in UTC."""
    if by_day:
        return pd.DataFrame(history_table([row.snapshot for row in rows if row.snapshot]))
    return pd.DataFrame(period_table(rows))


def _snapshot_table(
    bucket: str, snapshots: list[SnapshotJSON], periods: list[Period], start: dt.date, end: dt.date
) -> None:
    """The table at the chosen granularity, in units (the CSV: raw numbers,
    times in UTC); the JSON is the API's history for the range."""
    granularity = periods[0].granularity
    by_day = granularity is Granularity.DAY
    rows = _table_rows(periods)
    st.subheader("Snapshots")
    each = "day" if by_day else granularity.value
    shows = "" if by_day else f": each shows the {each}'s last snapshot (dated in the row)"
    st.caption(
        f"{len(rows):,} {'row' if len(rows) == 1 else 'rows'}, one per {each} with a snapshot, "
        f"newest first{shows}. The CSV holds the same rows in raw numbers (bytes, times in "
        "UTC); the JSON is the API's history for the range, every snapshot by day."
    )
    # Folded unless asked for (``table=on`` in the URL): 200 rows of a
    # dozen columns for the browser to draw before the page is whole.
    box = st.expander("Table", key="client_table", on_change="rerun")
    if box.open:
        with box:
            _draw_table(_frame(rows, by_day), rows, snapshots, each)
    stem = f"{bucket}_{start.isoformat()}_{end.isoformat()}"
    csv_stem = stem if by_day else f"{stem}_by_{each}"
    download_buttons(  # each made when asked for, not on every run
        lambda: _frame(rows, by_day),
        lambda: history_json(snapshots),
        stem,
        key="client",
        csv_stem=csv_stem,
    )


def _draw_table(
    frame: pd.DataFrame, rows: list[Period], snapshots: list[SnapshotJSON], each: str
) -> None:
    """``frame`` in units, times in the viewer's zone, a window at a time."""
    zone = viewer_zone()
    computed = f"computed at ({zone})"
    dropped = ["storage bytes", "computed at", "from", "to", *prefix_column_names(snapshots)]
    shown = frame.drop(columns=dropped, errors="ignore")
    shown = shown.assign(
        storage=[human_bytes(size) for size in frame["storage bytes"]],
        **{computed: [local_time(_utc(stamp), zone) for stamp in frame["computed at"]]},
    )
    searched: tuple[str, ...] = ("date",)
    sort_keys = {"storage": frame["storage bytes"], computed: frame["computed at"]}
    if each != "day":
        shown["period"] = [period.extent for period in rows]
        shown["partial"] = ["yes" if partial else "" for partial in frame["partial"]]
        searched = ("period", "snapshot date")
        # A period by its first day ("week of 4 Mar" before "week of 11 Mar").
        sort_keys |= {"period": frame["from"], "partial": frame["partial"].astype(int)}
    # Every other column counts (records of a collection, objects).
    texts = (*TEXT_COLUMNS, computed)
    columns = {name: Column("number") for name in shown.columns if name not in texts}
    columns["storage"] = Column(align="right", help="The CSV has the exact bytes.")
    columns["partial"] = Column(help=f"The range holds only part of this {each}")  # not by day
    windowed_table(
        shown, "client_rows", name="client_snapshots", columns=columns, searched=searched,
        noun=f"{each}s", url_of=PAGE, height=TABLE_HEIGHT, sort_keys=sort_keys,
    )  # fmt: skip


run_page(render)
