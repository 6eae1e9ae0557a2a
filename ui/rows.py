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

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from ui.params import amend, linked_anew, opened_param, read_param, warn_param
from usage.validation import MAX_SEARCH, parse_page, parse_search

ROWS_SHOWN = 200
ROW_HEIGHT = 35  # pixels: a row of ``st.dataframe`` at the default theme
MOST_HEIGHT = 700  # pixels: a taller table scrolls inside itself (about 19 rows)
EVERY = "Every one"  # the filter's first option: no filtering
# The window in its page's URL: the search, the filter's value and the page.
SEARCH_PARAM, FILTER_PARAM, PAGE_PARAM = "q", "filter", "page"
WINDOW_PARAMS = (SEARCH_PARAM, FILTER_PARAM, PAGE_PARAM)
_MARK = re.compile(r"^\W+")  # a value's leading mark and space ("✗ ")
_FROM_URL = "from the URL"  # the page number was read from the URL: keep it


def fitted_height(rows: int, most: int | None = None) -> int:
    """The height of a ``st.dataframe`` that shows its header and ``rows``
    rows without scrolling, or ``most`` pixels when that is less."""
    height = ROW_HEIGHT * (rows + 1) + 3
    return height if most is None else min(most, height)


def _url_form(value: str) -> str:
    """A filter's value as the URL carries it: ``failed`` for ``✗ failed``."""
    return _MARK.sub("", value) or value


def _load_from_url(key: str) -> None:
    """The window's search, filter and page from the URL, when its widgets have
    no state yet (the page opened, or came back to) or a link to the page
    says other ones: a shared link opens the same rows. The filter and the
    page are checked when drawn (``row_window``), against the values and the
    pages there are."""
    st.session_state[f"{key}_search"] = read_param(
        SEARCH_PARAM, lambda raw: parse_search(raw, SEARCH_PARAM), "", "no search"
    )
    st.session_state[f"{key}_filter"] = opened_param(FILTER_PARAM) or EVERY
    st.session_state[f"{key}_page"] = read_param(
        PAGE_PARAM, lambda raw: parse_page(raw, PAGE_PARAM), 1, "the first page"
    )
    st.session_state[f"{key}_seen"] = _FROM_URL


def _chosen_filter(key: str, values: list[str]) -> None:
    """The filter's state, one of ``values`` (from the URL: by its URL form)."""
    wanted = st.session_state.get(f"{key}_filter", EVERY)
    if wanted in values:
        return
    by_url = {_url_form(value): value for value in values[1:]}
    if wanted in by_url:
        st.session_state[f"{key}_filter"] = by_url[wanted]
        return
    warn_param(f"{FILTER_PARAM} must be one of: {', '.join(by_url)}; showing every one instead.")
    st.session_state[f"{key}_filter"] = EVERY


def row_window(
    frame: pd.DataFrame,
    key: str,
    *,
    searched: Sequence[str],
    noun: str,
    url_of: str,
    filtered: str | None = None,
) -> pd.DataFrame:
    """``frame``, or a window of at most ``ROWS_SHOWN`` of its rows when it has
    more, with the widgets that choose it (keys ``{key}_search``,
    ``{key}_filter`` on the column ``filtered``, and ``{key}_page``). The
    search looks for its text, in any case, in the columns ``searched``;
    ``noun`` names a row in the plural ("clients"). The window's search,
    filter and page are in the URL of the page ``url_of`` (``q``, ``filter``,
    ``page``), read from it when the widgets have no state yet or a link
    says other ones."""
    if len(frame) <= ROWS_SHOWN:
        return frame
    if f"{key}_search" not in st.session_state or linked_anew(url_of, WINDOW_PARAMS):
        _load_from_url(key)
    columns = st.columns([2, 1, 1] if filtered else [3, 1])
    search: str = columns[0].text_input(
        f"Find {noun}",
        key=f"{key}_search",
        max_chars=MAX_SEARCH,
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
        _chosen_filter(key, values)
        value = columns[1].selectbox(filtered, values, key=f"{key}_filter")
        if value != EVERY:
            chosen = chosen[chosen[filtered].astype(str) == value]
    pages = max(1, -(-len(chosen) // ROWS_SHOWN))
    page_key, seen_key = f"{key}_page", f"{key}_seen"
    seen = (len(frame), needle, value)
    previous = st.session_state.get(seen_key)
    if previous != seen:  # another search, filter or table: page 1 (a link's own page)
        st.session_state[seen_key] = seen
        if previous != _FROM_URL:
            st.session_state[page_key] = 1
    asked = int(st.session_state.get(page_key, 1))
    if asked > pages:  # from the URL: the rows have fewer pages now
        warn_param(
            f"{PAGE_PARAM} {asked:,} is past the last page of these rows; showing page {pages:,}."
        )
        st.session_state[page_key] = pages
    page: int = columns[-1].number_input(
        f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key=page_key
    )
    amend(
        url_of,
        {
            SEARCH_PARAM: search.strip() or None,
            FILTER_PARAM: None if value == EVERY else _url_form(value),
            PAGE_PARAM: None if page == 1 else str(page),
        },
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
    url_of: str,
    filtered: str | None = None,
    height: int | None = None,
    **table: Any,
) -> None:
    """``row_window``'s window of ``frame`` (its widgets keyed by
    ``window_key``) as a ``st.dataframe`` given ``table``, ``height`` pixels
    tall, or (None) as tall as its rows up to ``MOST_HEIGHT``. A fragment: a
    search, the filter or another page reruns the table alone, not the page
    and its charts."""
    window = row_window(
        frame, window_key, searched=searched, noun=noun, url_of=url_of, filtered=filtered
    )
    table["height"] = fitted_height(len(window), MOST_HEIGHT) if height is None else height
    st.dataframe(window, **table)
