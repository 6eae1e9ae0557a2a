"""Plotly figures of the pages, built from what ``usage`` returns.

Trace values are the query's numbers as they are (a gap stays ``None``);
names and labels from the data are escaped, as plotly reads some HTML.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from ui.format import human_bytes, human_count, plot_text, signed_pct
from usage.compare import Movement
from usage.forecast import Outlook, quantity
from usage.portfolio import ClientSummary, PortfolioDay
from usage.series import (
    STORAGE_BYTES,
    TOTAL_RECORDS,
    ClientSeries,
    Drop,
    Granularity,
    Period,
    Values,
    day_label,
)

RECORD_MODES: dict[str, str] = {"stacked": "Stacked", "lines": "Lines", "share": "Share %"}
DROP_TRACE = "Possible data loss"
_BYTES_AXIS = {"tickformat": "~s", "ticksuffix": "B"}
_GROWTH = "#2e9e5b"
_DAY_MS = 86_400_000
# A bar covers this share of its period, leaving a gap before the next one.
_BAR_FILL = 0.85
_PARTIAL_OPACITY = 0.5
_PARTIAL_MARKER = 8
_LONE_MARKER = 6  # a value with no neighbour to draw a line to
_MAX_TICKS = 12  # on a chart the page's width
_BAR_ROW = 28  # px per bar of a horizontal bar chart
_FALL = "#d64545"
# A forecast: a dashed line in a neutral colour, its band a light fill of it.
_FORECAST = "#56616b"
_BAND = "rgba(86, 97, 107, 0.16)"


def _layout(figure: go.Figure, title: str, height: int = 360) -> go.Figure:
    figure.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        hovermode="x unified",
        # "3,000" as the tables write it (plotly's default: "3000" below 10k)
        xaxis={"separatethousands": True},
        yaxis={"separatethousands": True},
    )
    return figure


def _bytes_text(values: Sequence[int | None]) -> list[str]:
    return [human_bytes(value) for value in values]


# How a week's or month's points are placed and every period named on a date
# axis: ``xperiod`` (ms or months) from ``xperiod0`` (a Monday for weeks), and
# the hover title, which plotly formats from the period's first day.
_PERIODS: dict[Granularity, tuple[int | str, str, str]] = {
    Granularity.DAY: (_DAY_MS, "2000-01-01", "%a %-d %b %Y"),
    Granularity.WEEK: (7 * _DAY_MS, "2000-01-03", "week of %-d %b %Y"),
    Granularity.MONTH: ("M1", "2000-01-01", "%b %Y"),
}


def _period_note(period: Period) -> str:
    """What a period's value is, when it is not simply its own last day's."""
    notes = ["partial"] if period.partial else []
    shown = period.snapshot_date
    if shown is not None and shown != period.end:
        notes.append(f"as of {day_label(shown)}")
    return f" · {', '.join(notes)}" if notes else ""


def _ms(days: float) -> float:
    return days * _DAY_MS


def _day_axis(days: Sequence[dt.date]) -> dict[str, Any]:
    """Where points one a day lie: the first day and a day's step when the
    days follow each other (a long range by day sends no dates, and plotly
    parses none), else each day."""
    steady = all((later - earlier).days == 1 for earlier, later in itertools.pairwise(days))
    if days and steady:
        return {"x0": days[0].isoformat(), "dx": _DAY_MS}
    return {"x": [day.isoformat() for day in days]}


def _period_days(periods: Sequence[Period]) -> dict[str, Any]:
    return _day_axis([period.first for period in periods])


def _bar_span(period: Period) -> tuple[float, float]:
    """A bar's offset from its period's first day and its width, in ms: it
    covers the period's days in the range, less a gap before the next. A
    day's bar is centred on the day, where a date axis puts its tick."""
    full_days = (period.last - period.first).days + 1
    gap = min(full_days * (1 - _BAR_FILL), period.days / 2)
    if period.granularity is Granularity.DAY:
        return _ms(-(1 - gap) / 2), _ms(1 - gap)
    offset = (period.start - period.first).days + gap / 2
    return _ms(offset), _ms(period.days - gap)


def _bar_geometry(periods: Sequence[Period]) -> dict[str, Any]:
    """Bars that span their periods (a partial one hatched and lighter). Days
    are never partial and all alike: one offset and width for every bar, so
    a long range by day sends its values alone (``_day_axis``)."""
    if periods[0].granularity is Granularity.DAY:
        offset, width = _bar_span(periods[0])
        return {**_period_days(periods), "offset": offset, "width": width}
    spans = [_bar_span(period) for period in periods]
    return {
        "x": [period.first.isoformat() for period in periods],
        "offset": [offset for offset, _ in spans],
        "width": [width for _, width in spans],
        "marker": {
            "pattern": {"shape": ["/" if period.partial else "" for period in periods]},
            "opacity": [_PARTIAL_OPACITY if period.partial else 1.0 for period in periods],
        },
    }


def _line_geometry(periods: Sequence[Period], values: Sequence[int | None]) -> dict[str, Any]:
    """Points in the middle of their weeks or months, or on their days (where
    a date axis puts its ticks); a partial period's as an open circle, and a
    lone one (no value on either side) as a dot: a broken line draws nothing
    of a point it joins to no other."""
    lone = _lone(values)
    granularity = periods[0].granularity
    by_day = granularity is Granularity.DAY
    if by_day and not any(lone):  # no partial day: a plain line
        return {**_period_days(periods), "mode": "lines", "connectgaps": False}
    partial = [period.partial for period in periods]
    sizes = [_PARTIAL_MARKER if part else _LONE_MARKER if alone else 0
             for part, alone in zip(partial, lone, strict=True)]  # fmt: skip
    symbols = ["circle-open" if part else "circle" for part in partial]
    where = (
        _period_days(periods) if by_day else {"x": [period.first.isoformat() for period in periods]}
    )
    geometry: dict[str, Any] = {
        **where,
        "mode": "lines+markers",
        "marker": {"symbol": symbols if any(lone) else "circle-open", "size": sizes},
        "connectgaps": False,
    }
    if not by_day:
        length, origin, _ = _PERIODS[granularity]
        geometry.update(xperiod=length, xperiod0=origin, xperiodalignment="middle")
    return geometry


def _lone(values: Sequence[int | None]) -> list[bool]:
    """Whether each value stands between two periods without one (or the
    series' ends)."""
    last = len(values) - 1
    return [
        value is not None
        and (index == 0 or values[index - 1] is None)
        and (index == last or values[index + 1] is None)
        for index, value in enumerate(values)
    ]


def _hover(
    name: str, values: Sequence[int | None], periods: Sequence[Period], in_bytes: bool = False
) -> dict[str, Any]:
    """A unified hover row ``name: value · partial, as of 28 Jun 2025``; by
    day, with no note to give, plotly formats the value itself (``12,345``,
    ``1.234GB``) and no text is sent per point."""
    if periods[0].granularity is Granularity.DAY:
        value = "%{y:.4~s}B" if in_bytes else "%{y:,}"
        return {"hovertemplate": f"{name}: {value}<extra></extra>",
                "xhoverformat": _PERIODS[Granularity.DAY][2]}  # fmt: skip
    notes = [_period_note(period) for period in periods]
    texts = _bytes_text(values) if in_bytes else _counts(values)
    return {
        "customdata": [[text, note] for text, note in zip(texts, notes, strict=True)],
        "hovertemplate": f"{name}: %{{customdata[0]}}%{{customdata[1]}}<extra></extra>",
        "xhoverformat": _PERIODS[periods[0].granularity][2],
    }


def _period_axis(figure: go.Figure, periods: Sequence[Period], bars: bool, max_ticks: int) -> None:
    """Weeks and months are named as periods on the axis, at most
    ``max_ticks`` of them (days keep plotly's own date ticks)."""
    granularity = periods[0].granularity
    if granularity is Granularity.DAY:
        return
    step = -(-len(periods) // max_ticks)  # ceiling division
    shown = periods[::step]
    middles: list[dt.datetime] = []
    for period in shown:
        first = dt.datetime.combine(period.first, dt.time())
        if bars:  # the middle of the bar
            offset, width = _bar_span(period)
            middles.append(first + dt.timedelta(milliseconds=offset + width / 2))
        else:  # the middle of the calendar period, where its point is
            middles.append(first + (period.last - period.first + dt.timedelta(days=1)) / 2)
    figure.update_xaxes(
        tickmode="array",
        tickvals=middles,
        ticktext=[period.label.replace("week of ", "week of<br>") for period in shown],
    )


def _span_axis(
    figure: go.Figure, periods: Sequence[Period], outlooks: Sequence[Outlook | None] = ()
) -> None:
    """Every time chart of a range spans all of it, so a period without a
    snapshot at either end shows as one (a line's autorange would stop at its
    last value): days from the middle of the night before the first to that
    after the last, where their bars end; weeks and months from the first
    period's first calendar day to the last's, where their points and bars
    lie. A forecast drawn past the range extends it to its last day."""
    first, last = periods[0].first, periods[-1].last
    start = dt.datetime.combine(first, dt.time())
    end = dt.datetime.combine(last, dt.time()) + dt.timedelta(days=1)
    if periods[0].granularity is Granularity.DAY:
        start, end = start - dt.timedelta(hours=12), end - dt.timedelta(hours=12)
    for outlook in outlooks:
        if outlook is not None and outlook.forecast is not None:
            end = max(end, dt.datetime.combine(outlook.forecast.end_day, dt.time()))
    figure.update_xaxes(range=[start.isoformat(), end.isoformat()])


def _counts(values: Sequence[int | None]) -> list[str]:
    return [human_count(value) for value in values]


def records_figure(
    series: ClientSeries, mode: str, drops: Sequence[Drop], outlooks: Sequence[Outlook] = ()
) -> go.Figure:
    """Records by collection: stacked bars, lines, or each one's share in %.

    A bar spans its period; bars and broken lines leave a period without a
    snapshot empty (a stacked area would draw it down to zero). ``outlooks``
    are drawn after the data (``add_outlook``): the total's on the stack, a
    collection's after its line.
    """
    periods = series.periods
    # A legend draws a trace's first bar: partial (hatched) ones go last.
    order = sorted(range(len(periods)), key=lambda i: periods[i].partial)
    bar_periods = [periods[i] for i in order]
    figure = go.Figure()
    for name, values in series.records.items():
        label = plot_text(name)
        if mode == "lines":
            trace: go.Scatter | go.Bar = go.Scatter(
                y=values,
                name=label,
                **_line_geometry(periods, values),
                **_hover(label, values, periods),
            )
        else:
            ordered = [values[i] for i in order]
            trace = go.Bar(
                y=ordered,
                name=label,
                **_bar_geometry(bar_periods),
                **_hover(label, ordered, bar_periods),
            )
        figure.add_trace(trace)
    marks = _drop_marks(drops, mode)
    by_day = periods[0].granularity is Granularity.DAY
    if marks:
        figure.add_trace(
            go.Scatter(
                # On the day's bar: centred on the day, or inside a longer period's.
                x=[dt.datetime.combine(day, dt.time(0 if by_day else 12)) for day, _ in marks],
                y=[value for _, value in marks],
                name=DROP_TRACE,
                mode="markers",
                marker={"symbol": "x", "size": 11, "color": _FALL},
                customdata=[day_label(day) for day, _ in marks],
                hovertemplate=f"{DROP_TRACE} on %{{customdata}}<extra></extra>",
            )
        )
    for outlook in outlooks:
        add_outlook(figure, outlook, periods[0].first)
    title = {"stacked": "Records by collection", "lines": "Records by collection",
             "share": "Share of records by collection (%)"}[mode]  # fmt: skip
    figure = _layout(figure, title, height=420)
    _period_axis(figure, periods, bars=mode != "lines", max_ticks=_MAX_TICKS)
    _span_axis(figure, periods, outlooks)
    if mode != "lines":
        figure.update_layout(barmode="stack", barnorm="percent" if mode == "share" else None)
    if mode == "share":
        figure.update_yaxes(ticksuffix="%", range=[0, 100])
    return figure


def _drop_marks(drops: Sequence[Drop], mode: str) -> list[tuple[dt.date, int]]:
    """Where to mark the drops: on top of the stack, or on the collection's
    own line (a share chart has no place for them)."""
    if mode == "stacked":
        return sorted({(drop.snapshot_date, drop.total_after) for drop in drops})
    if mode == "lines":
        return [(drop.snapshot_date, drop.after) for drop in drops if drop.in_collection]
    return []


def _line_figure(
    title: str,
    series: ClientSeries,
    lines: dict[str, Values],
    in_bytes: bool,
    max_ticks: int = _MAX_TICKS,
    outlook: Outlook | None = None,
) -> go.Figure:
    """``outlook``: a forecast drawn after the lines (``add_outlook``), which
    the axis spans too."""
    periods = series.periods
    figure = go.Figure()
    for name, values in lines.items():
        label = plot_text(name)
        figure.add_trace(
            go.Scatter(
                y=values,
                name=label,
                **_line_geometry(periods, values),
                **_hover(label, values, periods, in_bytes),
            )
        )
    if in_bytes:
        figure.update_yaxes(**_BYTES_AXIS)
    _period_axis(figure, periods, bars=False, max_ticks=max_ticks)
    _span_axis(figure, periods, [outlook])
    return _layout(figure, title)


def storage_figure(series: ClientSeries, outlook: Outlook | None = None) -> go.Figure:
    """Half the page's width: half the ticks. ``outlook``: the storage's
    forecast and limit (``add_outlook``)."""
    lines = {"storage": series.total_bytes}
    figure = _line_figure(
        "Storage", series, lines, in_bytes=True, max_ticks=_MAX_TICKS // 2, outlook=outlook
    )
    if outlook is not None:
        add_outlook(figure, outlook, series.periods[0].first)
    return figure


def _forecast_name(metric: str) -> str:
    if metric == STORAGE_BYTES:
        return "storage"
    return "records" if metric == TOTAL_RECORDS else plot_text(metric)


def _amount(value: float, in_bytes: bool) -> str:
    return human_bytes(value) if in_bytes else human_count(round(value))


def add_outlook(figure: go.Figure, outlook: Outlook, first: dt.date) -> None:
    """The forecast as a dashed line from the last observed day, inside its
    band (filled, light), and the limit as a horizontal line from ``first``
    (the chart's first day) to the forecast's end; either may be missing."""
    in_bytes = outlook.metric == STORAGE_BYTES
    name = _forecast_name(outlook.metric)
    forecast = outlook.forecast
    end = first
    if forecast is not None:
        end = forecast.end_day
        x = [day.isoformat() for day in (forecast.last_day, *forecast.days)]
        start = forecast.last_value
        expected, lower, upper = ([start, *values] for values in (
            forecast.expected, forecast.lower, forecast.upper))  # fmt: skip
        band = {"mode": "lines", "line": {"width": 0}, "hoverinfo": "skip", "x": x}
        figure.add_trace(go.Scatter(y=upper, name=f"{name} band", showlegend=False, **band))
        figure.add_trace(go.Scatter(y=lower, name=f"{name} band", fill="tonexty",
                                    fillcolor=_BAND, showlegend=False, **band))  # fmt: skip
        figure.add_trace(
            go.Scatter(
                x=x,
                y=expected,
                name=f"{name} forecast",
                mode="lines",
                line={"color": _FORECAST, "dash": "dash", "width": 2},
                customdata=[[_amount(value, in_bytes), _amount(low, in_bytes),
                             _amount(high, in_bytes)]
                            for value, low, high in zip(expected, lower, upper, strict=True)],
                hovertemplate=f"{name} forecast: %{{customdata[0]}} "
                "(%{customdata[1]} to %{customdata[2]})<extra></extra>",
            )
        )  # fmt: skip
    if outlook.limit is not None:
        limit = quantity(outlook.metric, outlook.limit)
        figure.add_trace(
            go.Scatter(
                x=[first.isoformat(), end.isoformat()],
                y=[outlook.limit, outlook.limit],
                name=f"limit: {plot_text(limit)}",
                mode="lines",
                line={"color": _FALL, "dash": "dot", "width": 1.5},
                hovertemplate=f"limit: {plot_text(limit)}<extra></extra>",
            )
        )


def objects_figure(series: ClientSeries) -> go.Figure:
    """Half the page's width: half the ticks."""
    lines = {"objects": series.object_count}
    return _line_figure("Objects", series, lines, in_bytes=False, max_ticks=_MAX_TICKS // 2)


def prefix_figure(series: ClientSeries) -> go.Figure:
    return _line_figure("Storage by prefix", series, series.prefix_bytes, in_bytes=True)


def _labelled_bars(
    title: str,
    names: Sequence[str],
    values: Sequence[int],
    text: Sequence[str],
    trace: str,
) -> go.Figure:
    """Horizontal bars, the first on top, with the whole name beside each bar
    and its value in human units after it (outside the bar, so a short bar
    keeps it readable)."""
    figure = go.Figure(
        go.Bar(
            x=list(values),
            y=[plot_text(name) for name in names],
            orientation="h",
            name=trace,
            text=list(text),
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    figure = _layout(figure, title, height=80 + _BAR_ROW * len(names))
    # Room after the longest bar for its value; the names' margin grows to fit them.
    top = max(values, default=0)
    figure.update_xaxes(range=[0, top * 1.2 if top > 0 else 1], automargin=True)
    figure.update_yaxes(automargin=True, autorange="reversed")
    figure.update_layout(hovermode="closest", uniformtext={"minsize": 11, "mode": "show"})
    return figure


def breakdown_figure(title: str, values: dict[str, int], in_bytes: bool = False) -> go.Figure:
    """One snapshot's counts as horizontal bars, largest on top."""
    ordered = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    numbers = [value for _, value in ordered]
    text = _bytes_text(numbers) if in_bytes else _counts(numbers)
    figure = _labelled_bars(title, [name for name, _ in ordered], numbers, text, trace=title)
    if in_bytes:
        figure.update_xaxes(**_BYTES_AXIS)
    return figure


def totals_figure(days: Sequence[PortfolioDay], in_bytes: bool) -> go.Figure:
    """The portfolio's records, or its storage, over time."""
    dates = [day.snapshot_date for day in days]
    values = [day.total_bytes if in_bytes else day.total_records for day in days]
    name = "storage bytes" if in_bytes else "records"
    shown = _bytes_text(values) if in_bytes else [human_count(value) for value in values]
    figure = go.Figure(
        go.Scatter(
            **_day_axis(dates),
            y=values,
            name=name,
            mode="lines",
            customdata=[
                [text, day.clients, day.stale] for text, day in zip(shown, days, strict=True)
            ],
            hovertemplate="%{customdata[0]} (%{customdata[1]} clients, %{customdata[2]} stale)"
            "<extra></extra>",
        )
    )
    if in_bytes:
        figure.update_yaxes(**_BYTES_AXIS)
    return _layout(figure, "Portfolio storage" if in_bytes else "Portfolio records", height=320)


def movers_figure(growers: Sequence[ClientSummary], drops: Sequence[ClientSummary]) -> go.Figure:
    """% change over the change window: growers in green, drops in red."""
    rows = [*reversed(growers), *drops]
    figure = go.Figure(
        go.Bar(
            x=[row.change_pct for row in rows],
            y=[plot_text(row.display_name) for row in rows],
            orientation="h",
            name="change %",
            marker={"color": [_GROWTH if (row.change or 0) > 0 else _FALL for row in rows]},
            text=[signed_pct(row.change_pct) for row in rows],
            textposition="auto",
            hovertemplate="%{y}: %{x:+.1f}%<extra></extra>",
        )
    )
    figure.update_xaxes(ticksuffix="%")
    figure = _layout(figure, "Fastest growers and sharpest drops", height=80 + 28 * len(rows))
    figure.update_layout(hovermode="closest", yaxis={"autorange": "reversed"})
    return figure


def compare_figure(
    title: str, moves: Sequence[Movement], before: dt.date, after: dt.date
) -> go.Figure:
    """Both dates' counts side by side, largest movers first."""
    names = [plot_text(move.name) for move in moves]
    figure = go.Figure(
        [
            go.Bar(x=names, y=[move.before for move in moves], name=before.isoformat()),
            go.Bar(x=names, y=[move.after for move in moves], name=after.isoformat()),
        ]
    )
    figure.update_layout(barmode="group")
    figure = _layout(figure, title)
    figure.update_layout(hovermode="x")
    return figure


def day_figure(title: str, names: Sequence[str], records: Sequence[int]) -> go.Figure:
    """The given clients' records, in the given order from the top."""
    return _labelled_bars(title, names, records, _counts(records), trace="records")
