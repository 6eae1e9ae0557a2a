"""Plotly figures of the pages, built from what ``usage`` returns.

Trace values are the query's numbers as they are (a gap stays ``None``);
names and labels from the data are escaped, as plotly reads some HTML.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import plotly.graph_objects as go

from ui.format import human_bytes, human_count, plot_text, signed_pct
from usage.compare import Movement
from usage.portfolio import ClientSummary, PortfolioDay
from usage.series import ClientSeries, Drop

RECORD_MODES: dict[str, str] = {"stacked": "Stacked", "lines": "Lines", "share": "Share %"}
DROP_TRACE = "Possible data loss"
_BYTES_AXIS = {"tickformat": "~s", "ticksuffix": "B"}
_GROWTH = "#2e9e5b"
_FALL = "#d64545"


def _layout(figure: go.Figure, title: str, height: int = 360) -> go.Figure:
    figure.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
        hovermode="x unified",
    )
    return figure


def _bytes_text(values: Sequence[int | None]) -> list[str]:
    return [human_bytes(value) for value in values]


def records_figure(series: ClientSeries, mode: str, drops: Sequence[Drop]) -> go.Figure:
    """Records by collection: stacked bars, lines, or each one's share in %.

    Bars and broken lines leave a period without a snapshot empty; a stacked
    area would draw it down to zero.
    """
    figure = go.Figure()
    for name, values in series.records.items():
        if mode == "lines":
            trace: go.Scatter | go.Bar = go.Scatter(
                x=series.dates, y=values, name=plot_text(name), mode="lines", connectgaps=False
            )
        else:
            trace = go.Bar(x=series.dates, y=values, name=plot_text(name))
        figure.add_trace(trace)
    marks = _drop_marks(drops, mode)
    if marks:
        figure.add_trace(
            go.Scatter(
                x=[day for day, _ in marks],
                y=[value for _, value in marks],
                name=DROP_TRACE,
                mode="markers",
                marker={"symbol": "x", "size": 11, "color": _FALL},
            )
        )
    title = {"stacked": "Records by collection", "lines": "Records by collection",
             "share": "Share of records by collection (%)"}[mode]  # fmt: skip
    figure = _layout(figure, title, height=420)
    if mode != "lines":
        figure.update_layout(
            barmode="stack", bargap=0.15, barnorm="percent" if mode == "share" else None
        )
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


def storage_figure(series: ClientSeries) -> go.Figure:
    figure = go.Figure(
        go.Scatter(
            x=series.dates,
            y=series.total_bytes,
            name="storage bytes",
            mode="lines",
            customdata=_bytes_text(series.total_bytes),
            hovertemplate="%{customdata}<extra></extra>",
            connectgaps=False,
        )
    )
    figure.update_yaxes(**_BYTES_AXIS)
    return _layout(figure, "Storage")


def objects_figure(series: ClientSeries) -> go.Figure:
    figure = go.Figure(
        go.Scatter(
            x=series.dates,
            y=series.object_count,
            name="objects",
            mode="lines",
            connectgaps=False,
        )
    )
    return _layout(figure, "Objects")


def prefix_figure(series: ClientSeries) -> go.Figure:
    figure = go.Figure()
    for prefix, values in series.prefix_bytes.items():
        figure.add_trace(
            go.Scatter(
                x=series.dates,
                y=values,
                name=plot_text(prefix),
                mode="lines",
                customdata=_bytes_text(values),
                hovertemplate="%{customdata}",
                connectgaps=False,
            )
        )
    figure.update_yaxes(**_BYTES_AXIS)
    return _layout(figure, "Storage by prefix")


def breakdown_figure(title: str, values: dict[str, int], in_bytes: bool = False) -> go.Figure:
    """One snapshot's counts as horizontal bars, largest on top."""
    ordered = sorted(values.items(), key=lambda item: item[1])
    numbers = [value for _, value in ordered]
    text = _bytes_text(numbers) if in_bytes else [human_count(value) for value in numbers]
    figure = go.Figure(
        go.Bar(
            x=numbers,
            y=[plot_text(name) for name, _ in ordered],
            orientation="h",
            name=title,
            text=text,
            textposition="auto",
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    if in_bytes:
        figure.update_xaxes(**_BYTES_AXIS)
    figure = _layout(figure, title, height=max(220, 40 + 28 * len(ordered)))
    figure.update_layout(hovermode="closest")
    return figure


def totals_figure(days: Sequence[PortfolioDay], in_bytes: bool) -> go.Figure:
    """The portfolio's records, or its storage, over time."""
    dates = [day.snapshot_date for day in days]
    values = [day.total_bytes if in_bytes else day.total_records for day in days]
    name = "storage bytes" if in_bytes else "records"
    shown = _bytes_text(values) if in_bytes else [human_count(value) for value in values]
    figure = go.Figure(
        go.Scatter(
            x=dates,
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
    figure = go.Figure(
        go.Bar(
            x=list(records),
            y=[plot_text(name) for name in names],
            orientation="h",
            name="records",
            hovertemplate="%{y}: %{x:,}<extra></extra>",
        )
    )
    figure = _layout(figure, title, height=80 + 24 * len(names))
    figure.update_layout(hovermode="closest", yaxis={"autorange": "reversed"})
    return figure
