"""A row of counts, each a label over its number, drawn as one HTML element.

It reads as a row of ``st.metric`` without a delta, in the same sizes. Five
metrics in five ``st.columns`` are five elements, five columns and five
labels in Markdown for the browser to build; as one HTML element, the
Collection page's renderer worked 25–36 ms less an open (two series of 30
interleaved rounds, ``docs/benchmarks.md``, session 24). A list of terms
and values (``<dl>``) for screen readers; on a narrow screen the counts
wrap, a few to a line.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import streamlit as st

COUNTS_CLASS = "usage-counts"  # the list's class: tests read the counts back by it
_LIST = "display:flex;flex-wrap:wrap;gap:1rem;margin:0 0 .5rem;padding:0"
_ITEM = "flex:1 1 0;min-width:7rem"
_LABEL = "margin:0;font-size:.875rem;line-height:1.6"  # st.metric's label
_VALUE = "margin:0;font-size:2.25rem;line-height:1.4"  # st.metric's value


def counts_html(counts: Sequence[tuple[str, int]]) -> str:
    """``counts`` (label, number), in order, as one ``<dl>``; the numbers
    with thousands separators."""
    items = "".join(
        f'<div style="{_ITEM}"><dt style="{_LABEL}">{escape(label)}</dt>'
        f'<dd style="{_VALUE}">{number:,}</dd></div>'
        for label, number in counts
    )
    return f'<dl class="{COUNTS_CLASS}" style="{_LIST}">{items}</dl>'


def draw_counts(counts: Sequence[tuple[str, int]]) -> None:
    st.html(counts_html(counts))
