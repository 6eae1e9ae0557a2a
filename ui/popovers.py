"""Inputs behind a button that says what they are set to.

Streamlit's front end builds a popover's contents only when it is opened:
inputs inside one cost a page open nothing until a viewer wants them (a
Client deep link was drawn about 0.07 of its floor sooner without its four
inputs; ``docs/benchmarks.md``, session 25). A keyed popover stays open
while its inputs rerun the page, its label changing with them.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st
from streamlit.delta_generator import DeltaGenerator


def range_label(start: dt.date, end: dt.date) -> str:
    """A range as its button shows it: "2024-01-01 to 2024-06-30", or the
    one day."""
    if start == end:
        return start.isoformat()
    return f"{start.isoformat()} to {end.isoformat()}"


def range_popover(
    place: DeltaGenerator, start_key: str, end_key: str, key: str, help: str
) -> DeltaGenerator:
    """The popover for a range's two date inputs (keyed ``start_key`` and
    ``end_key``, drawn in it by the caller), its button showing the range
    the page shows: the two days in order, as the page puts them when they
    come the wrong way round."""
    first, last = sorted((st.session_state[start_key], st.session_state[end_key]))
    return place.popover(
        range_label(first, last),
        icon=":material/date_range:",
        width="stretch",
        help=help,
        key=key,
    )
