"""Long tables a window of rows at a time.

A table sends all its rows to the browser on every run: the Daily snapshot's
10,000 clients were 2 MB a run, the Collection page's 1.3 MB, and the browser
decoded them all before the page was drawn, where a bare page drawing the same
charts takes a second or two. Above ``ROWS_SHOWN`` rows a table shows
``ROWS_SHOWN`` of them at a time: a search box (and, where a table has one, a
column to filter on) narrows them down, a page number steps through them, and
the downloads keep every row. ``windowed_table`` draws the window as a
fragment: choosing another one reruns the table alone, not its page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

ROWS_SHOWN = 200
EVERY = "Every one"  # the filter's first option: no filtering


def row_window(
    frame: pd.DataFrame,
    key: str,
    *,
    searched: Sequence[str],
    noun: str,
    filtered: str | None = None,
) -> pd.DataFrame:
    """``frame``, or a window of at most ``ROWS_SHOWN`` of its rows when it has
    more, with the widgets that choose it (keys ``{key}_search``,
    ``{key}_filter`` on the column ``filtered``, and ``{key}_page``). The
    search looks for its text, in any case, in the columns ``searched``;
    ``noun`` names a row in the plural ("clients")."""
    if len(frame) <= ROWS_SHOWN:
        return frame
    columns = st.columns([2, 1, 1] if filtered else [3, 1])
    search: str = columns[0].text_input(
        f"Find {noun}",
        key=f"{key}_search",
        placeholder=f"Part of {' or '.join(name.lower() for name in searched)}, among "
        f"{len(frame):,} {noun}",
    )
    chosen = frame
    needle = search.strip().lower()
    if needle:
        found = pd.Series(False, index=frame.index)
        for column in searched:
            found |= frame[column].astype(str).str.lower().str.contains(needle, regex=False)
        chosen = chosen[found]
    value = EVERY
    if filtered:
        values = [EVERY, *sorted(frame[filtered].dropna().astype(str).unique())]
        value = columns[1].selectbox(filtered, values, key=f"{key}_filter")
        if value != EVERY:
            chosen = chosen[chosen[filtered].astype(str) == value]
    pages = max(1, -(-len(chosen) // ROWS_SHOWN))
    page_key, seen_key = f"{key}_page", f"{key}_seen"
    seen = (len(frame), needle, value)
    if st.session_state.get(seen_key) != seen:  # another search, filter or table: page 1
        st.session_state[seen_key] = seen
        st.session_state[page_key] = 1
    page: int = columns[-1].number_input(
        f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key=page_key
    )
    first = (page - 1) * ROWS_SHOWN
    window = chosen.iloc[first : first + ROWS_SHOWN]
    if chosen.empty:
        st.caption(f"None of the {len(frame):,} {noun} matches.")
    else:
        matching = f" matching, of {len(frame):,}" if len(chosen) < len(frame) else ""
        st.caption(
            f"{noun.capitalize()} {first + 1:,} to {first + len(window):,} of "
            f"{len(chosen):,}{matching}. Sorting a column sorts these rows; the download "
            "has every row."
        )
    return window


@st.fragment
def windowed_table(
    frame: pd.DataFrame,
    window_key: str,
    *,
    searched: Sequence[str],
    noun: str,
    filtered: str | None = None,
    height: Callable[[int], int] | int | None = None,
    **table: Any,
) -> None:
    """``row_window``'s window of ``frame`` (its widgets keyed by
    ``window_key``) as a ``st.dataframe`` given ``table``; ``height`` in
    pixels, or of the window's number of rows. A fragment: a search, the
    filter or another page reruns the table alone, not the page and its
    charts."""
    window = row_window(frame, window_key, searched=searched, noun=noun, filtered=filtered)
    if height is not None:
        table["height"] = height(len(window)) if callable(height) else height
    st.dataframe(window, **table)
