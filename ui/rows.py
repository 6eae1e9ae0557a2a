"""Long tables a window of rows at a time, drawn as HTML, sorted here.

A table sends all its rows to the browser on every run: the Daily snapshot's
10,000 clients were 2 MB a run, the Collection page's 1.3 MB, and the browser
decoded them all before the page was drawn, where a bare page drawing the same
charts takes a second or two. Above ``ROWS_SHOWN`` rows a table shows
``ROWS_SHOWN`` of them at a time: a search box (and, where a table has one, a
column to filter on) narrows them down, a page number steps through them, and
the downloads keep every row.

The window is an HTML table (``ui.html_table``), not the data grid, whose
code cost the browser more than the rows did; the grid's click on a header
sorted the window's rows alone. Here a Sort choice orders every row before
the window is cut, by a column's raw values where the page shows them in
units (``sort_keys``), missing values last. The search, filter, sort and page
are in the page's URL (``q``, ``filter``, ``sort``, ``page``), so a view can be
shared. ``windowed_table`` draws the window as a fragment: choosing another
one reruns the table alone, not its page.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from ui.format import NOTHING
from ui.html_table import MOST_HEIGHT, Column, hover_sources, html_table, missing
from ui.params import (
    amend,
    field_name,
    linked_anew,
    opened_param,
    read_param,
    warn_param,
    warn_past_last_page,
)
from usage.errors import InvalidParams
from usage.validation import MAX_SEARCH, parse_page, parse_search, parse_sort

ROWS_SHOWN = 200
EVERY = "Every one"  # the filter's first option: no filtering
AS_LISTED = ""  # the sort's first option: the rows in the page's own order
# The window in its page's URL: the search, the filter's value, the sort and the page.
SEARCH_PARAM, FILTER_PARAM, SORT_PARAM, PAGE_PARAM = "q", "filter", "sort", "page"
WINDOW_PARAMS = (SEARCH_PARAM, FILTER_PARAM, SORT_PARAM, PAGE_PARAM)
_MARK = re.compile(r"^\W+")  # a value's leading mark and space ("✗ ")
_FROM_URL = "from the URL"  # the page number was read from the URL: keep it


def _url_form(value: str) -> str:
    """A filter's value as the URL carries it: ``failed`` for ``✗ failed``."""
    return _MARK.sub("", value) or value


def sort_options(columns: Sequence[str]) -> list[str]:
    """The Sort choice's options as the URL carries them: ``AS_LISTED``, then
    each column ascending (its name) and descending (``-`` and its name)."""
    return [AS_LISTED, *(option for column in columns for option in (column, f"-{column}"))]


def sort_label(option: str) -> str:
    """How the Sort choice shows an option: ``Took (s) ↓`` for ``-Took (s)``."""
    if option == AS_LISTED:
        return "As listed"
    return f"{option[1:]} ↓" if option.startswith("-") else f"{option} ↑"


def _blank(value: Any) -> bool:
    """Missing (``ui.html_table.missing``), blank, or a page's own ``—``."""
    return missing(value) or (isinstance(value, str) and value.strip() in ("", NOTHING))


def sorted_rows(
    frame: pd.DataFrame, sort: str, sort_keys: Mapping[str, pd.Series] | None = None
) -> pd.DataFrame:
    """``frame``'s rows in the order ``sort`` (a ``sort_options`` option)
    says: by the column's values, or by its raw values in ``sort_keys`` (a
    Series indexed as ``frame``, one label a row) where the page shows it in
    units. Numbers sort as numbers, anything else as text in any case;
    missing values (None, blank, ``—``) come last in either direction, and
    ties keep the listed order."""
    if sort == AS_LISTED or frame.empty:
        return frame
    column = sort.removeprefix("-")
    keys = sort_keys or {}
    values = keys[column].loc[frame.index] if column in keys else frame[column]
    values = pd.Series(values.to_numpy(), index=pd.RangeIndex(len(frame)))  # by position
    present = ~values.map(_blank).astype(bool)
    kept = values[present]
    order: pd.Series[Any]
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in kept):
        order = kept.astype(float)
    else:
        order = kept.astype(str).str.casefold()
    ranked = order.sort_values(ascending=not sort.startswith("-"), kind="stable").index
    return frame.iloc[[*ranked, *values.index[~present]]]


def _load_from_url(key: str, noun: str) -> None:
    """The window's search, filter, sort and page from the URL, when its
    widgets have no state yet (the page opened, or came back to) or a link to
    the page says other ones: a shared link opens the same rows. The filter
    and the sort are checked when drawn (``_chosen_filter``, ``_chosen_sort``),
    against the values and columns there are, and the page against the pages
    there are."""
    st.session_state[f"{key}_search"] = read_param(
        SEARCH_PARAM, lambda raw: parse_search(raw, SEARCH_PARAM), "", "no search", f"Find {noun}"
    )
    st.session_state[f"{key}_filter"] = opened_param(FILTER_PARAM) or EVERY
    st.session_state[f"{key}_sort"] = opened_param(SORT_PARAM) or AS_LISTED
    st.session_state[f"{key}_page"] = read_param(
        PAGE_PARAM, lambda raw: parse_page(raw, PAGE_PARAM), 1, "the first page", "Page"
    )
    st.session_state[f"{key}_seen"] = _FROM_URL
    st.session_state[f"{key}_linked"] = {FILTER_PARAM, SORT_PARAM}  # to check when drawn


def _from_link(key: str, param: str) -> bool:
    """True once after ``param`` was read from a link (``_load_from_url``): a
    value that does not fit the table is then the link's mistake, to be
    said; one the reader chose, which the table no longer has (a filter
    value gone with its last row, a column gone with a granularity), goes
    quietly."""
    linked: set[str] = st.session_state.get(f"{key}_linked", set())
    found = param in linked
    linked.discard(param)
    return found


def _say_shown_whole(key: str, noun: str, filtered: str | None, rows: int) -> None:
    """A link's search or filter on a table short enough to be shown whole
    (no search, no filter): said, so its reader does not take every row for
    the ones it asked for."""
    asked = []
    search = st.session_state.get(f"{key}_search", "")
    if search:
        asked.append(field_name(f"Find {noun}", SEARCH_PARAM, search))
    wanted = st.session_state.get(f"{key}_filter", EVERY)
    if wanted != EVERY:
        asked.append(field_name(filtered or "Filter", FILTER_PARAM, wanted))
    if asked:
        shown = "only row is" if rows == 1 else f"{rows:,} {noun} are all"
        warn_param(
            f"{' and '.join(asked)}: the table's {shown} shown, without a search or a filter."
        )


def _forget_window(key: str, sort_too: bool = False) -> None:
    """No search, filter or page (nor, with ``sort_too``, sort) kept for a
    table drawn whole: they left its URL, and a table grown long again in
    the same session starts without them as the URL does."""
    st.session_state[f"{key}_search"] = ""
    st.session_state[f"{key}_filter"] = EVERY
    st.session_state[f"{key}_page"] = 1
    linked: set[str] = st.session_state.get(f"{key}_linked", set())
    linked.discard(FILTER_PARAM)  # a link's sort is still checked when drawn
    if sort_too:
        st.session_state[f"{key}_sort"] = AS_LISTED
        linked.discard(SORT_PARAM)


def _chosen_filter(key: str, values: list[str], label: str) -> None:
    """The filter's state, one of ``values`` (from the URL: by its URL form);
    ``label`` the filter's on the page."""
    wanted = st.session_state.get(f"{key}_filter", EVERY)
    linked = _from_link(key, FILTER_PARAM)
    if wanted in values:
        return
    by_url = {_url_form(value): value for value in values[1:]}
    if wanted in by_url:
        st.session_state[f"{key}_filter"] = by_url[wanted]
        return
    if linked:
        field = field_name(label, FILTER_PARAM, wanted)
        warn_param(f"{field} must be one of: {', '.join(by_url)}; showing every one instead.")
    st.session_state[f"{key}_filter"] = EVERY


def _chosen_sort(key: str, columns: Sequence[str]) -> None:
    """The sort's state, a column of the table (from the URL: checked here)."""
    wanted = st.session_state.get(f"{key}_sort", AS_LISTED)
    linked = _from_link(key, SORT_PARAM)
    if wanted == AS_LISTED:
        return
    try:
        parse_sort(wanted, columns, field_name("Sort by", SORT_PARAM, wanted))
    except InvalidParams as error:
        if linked:
            warn_param(f"{error.message}; showing the rows as listed instead.")
        st.session_state[f"{key}_sort"] = AS_LISTED


def _sort_choice(key: str, frame: pd.DataFrame, place: Any, hidden: Collection[str]) -> str:
    columns = [str(column) for column in frame.columns if column not in hidden]
    _chosen_sort(key, columns)
    sort: str = place.selectbox(
        "Sort by",
        sort_options(columns),
        format_func=sort_label,
        key=f"{key}_sort",
        help="Sorts every row, not only those shown; a column's missing values come last.",
    )
    return sort


def page_choice(place: Any, pages: int, key: str) -> int:
    """The page chosen (keyed ``key``, its number kept in the session) of
    ``pages``, in ``place``, under "Page (of N)"."""
    label = f"Page (of {pages:,})"
    return int(place.number_input(label, min_value=1, max_value=pages, step=1, key=key))


def row_window(
    frame: pd.DataFrame,
    key: str,
    *,
    searched: Sequence[str],
    noun: str,
    url_of: str,
    filtered: str | None = None,
    sort_keys: Mapping[str, pd.Series] | None = None,
    hidden: Collection[str] = (),
) -> pd.DataFrame:
    """``frame`` sorted as chosen, and cut to a window of at most
    ``ROWS_SHOWN`` rows when it has more, with the widgets that choose them
    (keys ``{key}_sort``, and above ``ROWS_SHOWN`` rows ``{key}_search``,
    ``{key}_filter`` on the column ``filtered``, and ``{key}_page``). The
    search looks for its text, in any case, in the columns ``searched``;
    ``noun`` names a row in the plural ("clients"); ``sort_keys`` has the raw
    values of columns shown in units (``sorted_rows``); the columns ``hidden``
    (not drawn: another column's tooltips) are not offered to sort by. The
    choices are in the URL of the page ``url_of`` (``q``, ``filter``, ``sort``, ``page``),
    read from it when the widgets have no state yet or a link says other
    ones."""
    linked = f"{key}_sort" not in st.session_state or linked_anew(url_of, WINDOW_PARAMS)
    if linked:
        _load_from_url(key, noun)
    if len(frame) <= 1:  # nothing to search, filter, sort or page
        if linked and len(frame) == 1:
            _say_shown_whole(key, noun, filtered, 1)
        _forget_window(key, sort_too=True)
        amend(url_of, dict.fromkeys(WINDOW_PARAMS))
        return frame
    if len(frame) <= ROWS_SHOWN:
        if linked:  # opened by a link: what it asked is said (a reader's own search goes)
            _say_shown_whole(key, noun, filtered, len(frame))
        _forget_window(key)
        sort = _sort_choice(key, frame, st.columns([1, 3])[0], hidden)
        # No window: a search, filter or page of an earlier, longer table goes.
        gone = dict.fromkeys((SEARCH_PARAM, FILTER_PARAM, PAGE_PARAM))
        amend(url_of, {**gone, SORT_PARAM: sort or None})
        return sorted_rows(frame, sort, sort_keys)
    columns = st.columns([3, 2, 2, 1] if filtered else [3, 2, 1])
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
        _chosen_filter(key, values, filtered)
        value = columns[1].selectbox(filtered, values, key=f"{key}_filter")
        if value != EVERY:
            chosen = chosen[chosen[filtered].astype(str) == value]
    sort = _sort_choice(key, frame, columns[-2], hidden)
    chosen = sorted_rows(chosen, sort, sort_keys)
    pages = max(1, -(-len(chosen) // ROWS_SHOWN))
    page_key, seen_key = f"{key}_page", f"{key}_seen"
    seen = (len(frame), needle, value, sort)
    previous = st.session_state.get(seen_key)
    if previous != seen:  # another search, filter, sort or table: page 1 (a link's own page)
        st.session_state[seen_key] = seen
        if previous != _FROM_URL:
            st.session_state[page_key] = 1
    asked = int(st.session_state.get(page_key, 1))
    if asked > pages:  # from the URL: the rows have fewer pages now
        warn_past_last_page(asked, pages, "rows")
        st.session_state[page_key] = pages
    page = page_choice(columns[-1], pages, page_key)
    amend(
        url_of,
        {
            SEARCH_PARAM: search.strip() or None,
            FILTER_PARAM: None if value == EVERY else _url_form(value),
            SORT_PARAM: sort or None,
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
            f"{len(chosen):,}{matching}. The Sort orders every row; the download has every row."
        )
    return window


@st.fragment
def windowed_table(
    frame: pd.DataFrame,
    window_key: str,
    *,
    name: str,
    columns: Mapping[str, Column],
    searched: Sequence[str],
    noun: str,
    url_of: str,
    filtered: str | None = None,
    sort_keys: Mapping[str, Iterable[Any]] | None = None,
    height: int = MOST_HEIGHT,
) -> None:
    """``row_window``'s window of ``frame`` (its widgets keyed by
    ``window_key``) as the HTML table ``name`` (``ui.html_table``, its
    columns shown as ``columns`` say), scrolling inside itself above
    ``height`` pixels. ``sort_keys`` has, row for row, the raw values of
    columns shown in units (bytes for a size shown as "1.2 GB"). A fragment: a
    search, the filter, the sort or another page reruns the table alone, not
    the page and its charts."""
    frame = frame.reset_index(drop=True)  # one label a row: the keys follow by it
    keys = {column: pd.Series(list(values), index=frame.index)
            for column, values in (sort_keys or {}).items()}  # fmt: skip
    window = row_window(
        frame,
        window_key,
        searched=searched,
        noun=noun,
        url_of=url_of,
        filtered=filtered,
        sort_keys=keys,
        hidden=hover_sources(columns),
    )
    if not window.empty:
        html_table(name, window, columns, height=height)
