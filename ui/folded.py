"""A section of a page drawn once the reader opens it."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st


def draw_folded(
    label: str, key: str, icon: str, draw: Callable[[], None], expanded: bool = False
) -> None:
    """A folded section titled ``label`` (open or not in the session state
    under ``key``) whose content, ``draw()``, runs only while it is open: a
    page read for the rest neither sends its widgets nor has the browser
    build them. Opening or closing it reruns the page."""
    section = st.expander(label, expanded=expanded, key=key, on_change="rerun", icon=icon)
    if section.open:
        with section:
            draw()
