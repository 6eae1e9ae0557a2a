"""A table drawn as HTML (``st.html``) instead of the data grid.

The data grid (``st.dataframe``) draws on a canvas with 1.7 MB of its own
front-end code (the grid, Apache Arrow, numbro), which the browser fetches,
compiles and runs before the page is whole: measured on the Portfolio page,
its 25-row table cost 0.7-0.8 s of a deep link, as much as leaving the table
out altogether. A table of a few dozen rows, or a window of 200 of a long
one (``ui.rows``, which sorts every row itself), needs none of the grid's powers;
an HTML table is text the browser draws at once, and its words can be
selected and found with the browser's search, its links are links (a middle
click opens a tab) and a screen reader reads it as a table.

Each column has a kind that says how its values are shown (``Column``); a
missing value, or one the page already wrote as ``—``, is the grey ``—``. A
column may take its cells' tooltips from another column of the frame, which
is then not drawn: a time in the viewer's zone with its UTC on hover, a list
cut short (``ui.format.first_of``) with all of it on hover. A table that fits
the page's width reads without scrolling sideways.
Every value is escaped here: the page passes data, never markup. Colours
follow the theme (text inherits it; lines and bars are translucent grey), so
the table reads in the light and dark themes.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import pandas as pd
import streamlit as st

from ui.format import NOTHING

Kind = Literal["text", "number", "link", "share", "trend"]
RISING = "#21c354"  # Streamlit's green and red, as the grid's "auto" line colours
FALLING = "#ff4b4b"
TREND_SIZE = (100, 24)  # pixels: the grid's small line-chart cell
MOST_HEIGHT = 700  # pixels: a taller table scrolls inside itself (about 22 rows)
_STYLE = """<style>
.usage-table-frame{overflow-x:auto}
.usage-table-frame.scroll{overflow-y:auto}
.usage-table-frame.scroll thead th{position:sticky;top:0;z-index:1;
 background:rgba(128,128,128,.14);backdrop-filter:blur(10px);
 box-shadow:inset 0 -1px rgba(128,128,128,.4)}
table.usage-table{border-collapse:collapse;width:100%;font-size:.875rem;line-height:1.4}
table.usage-table th{text-align:left;font-weight:600;padding:.45rem .6rem;
 border-bottom:1px solid rgba(128,128,128,.4);white-space:nowrap}
table.usage-table td{padding:.3rem .6rem;border-bottom:1px solid rgba(128,128,128,.18);
 white-space:nowrap;vertical-align:middle}
table.usage-table tbody tr:hover{background:rgba(128,128,128,.08)}
table.usage-table .right{text-align:right;font-variant-numeric:tabular-nums}
table.usage-table .none{opacity:.45}
table.usage-table td.wrap{white-space:normal;min-width:14rem}
table.usage-table th[title]{text-decoration:underline dotted rgba(128,128,128,.7);cursor:help}
table.usage-table .bar{display:inline-block;width:4rem;height:.4rem;margin-right:.5rem;
 border-radius:.2rem;background:rgba(128,128,128,.25);vertical-align:middle;overflow:hidden}
table.usage-table .bar>span{display:block;height:100%;background:#ff4b4b}
table.usage-table img{display:block}
</style>"""


class Link(NamedTuple):
    """A cell of a ``link`` column."""

    text: str
    href: str  # relative to the page, so that a server under a path still works


@dataclass(frozen=True)
class Column:
    """How a column's values are shown.

    - ``text``: as they are (``align="right"`` for figures given as text);
    - ``number``: a number with thousands separators and ``digits`` decimals
      (none: an integer), on the right;
    - ``link``: a ``Link``, its text linking to its address;
    - ``share``: a percentage (0-100, more is allowed) as a bar and ``%.1f%%``;
    - ``trend``: a list of numbers as a small line, green when the last is at
      or above the first, red below; its first and last values are its text
      (the image's ``alt`` and tooltip).

    ``hover`` names the frame's column whose values are this column's
    tooltips, row for row (none where it is missing or blank); that column
    is not drawn.
    """

    kind: Kind = "text"
    help: str = ""  # the header's tooltip
    align: Literal["left", "right"] | None = None
    wrap: bool = False  # long text (a list of clients) wraps instead of widening the table
    digits: int = 0  # a ``number``'s decimals
    hover: str | None = None  # the column of the cells' tooltips (not drawn itself)


def missing(value: Any) -> bool:
    """None, NaN or NaT: a value the table shows as its grey ``—``."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list (a trend) is not missing
        return False


def trend_image(values: Sequence[float]) -> str:
    """``values`` as an inline SVG line (a ``data:`` URL: the sanitizer of
    ``st.html`` keeps images, not inline SVG)."""
    width, height = TREND_SIZE
    low, high = min(values), max(values)
    span = (high - low) or 1
    step = width / (len(values) - 1)
    points = " ".join(
        f"{index * step:.1f},{1 + (high - value) * (height - 2) / span:.1f}"
        for index, value in enumerate(values)
    )
    colour = RISING if values[-1] >= values[0] else FALLING
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
        f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _on_the_right(column: Column) -> bool:
    return column.align == "right" or column.kind in ("number", "share")


def _cell(value: Any, column: Column, hover: Any = None) -> str:
    classes = ["right"] if _on_the_right(column) else []
    if column.wrap:
        classes.append("wrap")
    if column.kind == "trend":
        values = [float(v) for v in (value or []) if not missing(v)]
        if len(values) < 2:
            return f'<td class="none">{NOTHING}</td>'
        words = f"from {values[0]:,.0f} to {values[-1]:,.0f}"
        return (
            f'<td><img src="{trend_image(values)}" width="{TREND_SIZE[0]}" '
            f'height="{TREND_SIZE[1]}" alt="{words}" title="{words}"></td>'
        )
    if missing(value):
        classes.append("none")
        shown = NOTHING
    elif column.kind == "number":
        shown = f"{float(value):,.{column.digits}f}" if column.digits else f"{int(value):,}"
    elif column.kind == "share":
        share = float(value)
        width = min(max(share, 0.0), 100.0)
        return (
            f'<td class="right"><span class="bar"><span style="width:{width:.1f}%"></span>'
            f"</span>{share:.1f}%</td>"
        )
    elif column.kind == "link":
        link = Link(*value)
        return f'<td><a href="{html.escape(link.href)}">{html.escape(link.text)}</a></td>'
    else:
        shown = str(value)
        if shown == NOTHING:  # a page's own placeholder (``ui.format``): grey too
            classes.append("none")
    attribute = f' class="{" ".join(classes)}"' if classes else ""
    if not missing(hover) and str(hover) not in ("", NOTHING):
        attribute += f' title="{html.escape(str(hover))}"'
    return f"<td{attribute}>{html.escape(shown)}</td>"


def hover_sources(columns: Mapping[str, Column]) -> frozenset[str]:
    """The columns ``columns`` take tooltips from: in the frame, not drawn."""
    return frozenset(spec.hover for spec in columns.values() if spec.hover)


def table_html(
    name: str, frame: pd.DataFrame, columns: Mapping[str, Column], height: int | None = None
) -> str:
    """The table of ``frame`` (its columns in order; ``columns`` says how to
    show those that are not plain text), marked ``data-table="<name>"``; at
    most ``height`` pixels tall when given, scrolling inside itself below a
    header that stays."""
    hidden = hover_sources(columns)
    drawn = [column for column in frame.columns if column not in hidden]
    specs = [columns.get(column, Column()) for column in drawn]
    position = {name: index for index, name in enumerate(frame.columns)}
    places = [position[column] for column in drawn]
    sources = [position[spec.hover] if spec.hover else None for spec in specs]
    heads = []
    for column, spec in zip(drawn, specs, strict=True):
        attributes = ' class="right"' if _on_the_right(spec) else ""
        if spec.help:  # a tooltip is plain text: the help's markdown bold goes
            attributes += f' title="{html.escape(spec.help.replace("**", ""))}"'
        heads.append(f"<th{attributes}>{html.escape(str(column))}</th>")
    rows = [
        "<tr>" + "".join(
            _cell(row[place], spec, None if source is None else row[source])
            for place, spec, source in zip(places, specs, sources, strict=True)
        ) + "</tr>"
        for row in frame.itertuples(index=False, name=None)
    ]  # fmt: skip
    box = 'class="usage-table-frame"'
    if height is not None:  # scrolls inside: taller than ``height``
        box = f'class="usage-table-frame scroll" style="max-height:{int(height)}px"'
    return (
        f'{_STYLE}<div {box}><table class="usage-table" '
        f'data-table="{html.escape(name)}"><thead><tr>{"".join(heads)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def html_table(
    name: str, frame: pd.DataFrame, columns: Mapping[str, Column], height: int | None = None
) -> None:
    """Draw ``frame`` as an HTML table (see ``table_html``)."""
    st.html(table_html(name, frame, columns, height))
