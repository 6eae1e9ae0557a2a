"""A page's URL query parameters <-> its widgets' session state.

A page loads its widgets from the URL when it is arrived at (first run, a
new URL, or its widgets' state dropped by a page switch), then writes the
widgets' values back to the URL after drawing them. The values it writes
also become the query parameters of its sidebar link, and the shared ones
(``SHARED``) those of the other pages' links, so switching pages keeps the
chosen client and range.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

import streamlit as st

from ui.format import md_text
from usage.errors import InvalidParams
from usage.validation import parse_choice

T = TypeVar("T")

_WRITTEN = "_url_written"  # page -> the parameters it last wrote
_LINKS = "_url_links"  # page -> the parameters its sidebar link carries

# parameter -> the pages that read it: a value chosen on one is kept on all.
SHARED: dict[str, tuple[str, ...]] = {"bucket": ("client", "compare")}

# The URL as the current run found it (``url_at_start``).
_opened: ContextVar[Mapping[str, str] | None] = ContextVar("opened_url", default=None)


@contextmanager
def url_at_start() -> Iterator[None]:
    """Keep the URL as this run found it while the page runs: a part drawn
    after the page has published its own parameters (a long table's window,
    ``ui.rows``) still reads what the link said."""
    token = _opened.set(st.query_params.to_dict())
    try:
        yield
    finally:
        _opened.reset(token)


def opened_param(name: str) -> str | None:
    """The URL's ``name`` as this run found it; the URL's now outside a whole
    run (a fragment rerunning alone)."""
    opened = _opened.get()
    return (st.query_params if opened is None else opened).get(name)


def arriving(page: str, keys: Iterable[str]) -> bool:
    """True when ``page`` must load its widgets (``keys``) from the URL."""
    written: dict[str, dict[str, str]] = st.session_state.get(_WRITTEN, {})
    if written.get(page) != st.query_params.to_dict():
        return True
    return any(key not in st.session_state for key in keys)


def read_param(
    name: str, parse: Callable[[str | None], T | None], default: T, default_text: str
) -> T:
    """The URL's ``name`` parsed by a ``usage.validation`` parser; a bad value
    is reported (the parser's message names the parameter) and replaced by
    ``default``, described to the reader as ``default_text``. The URL is the
    one the run found (``opened_param``)."""
    try:
        value = parse(opened_param(name))
    except InvalidParams as error:
        warn_param(f"{error.message}; showing {default_text} instead.")
        return default
    return default if value is None else value


def read_switch(name: str, default: bool, default_text: str) -> bool:
    """The URL's ``name``, ``on`` or ``off`` (``default`` when absent or bad)."""
    value = read_param(
        name,
        lambda raw: parse_choice(raw, ("on", "off"), name),
        "on" if default else "off",
        default_text,
    )
    return value == "on"


def warn_param(message: str) -> None:
    st.warning(md_text(message), icon=":material/warning:")


def publish(page: str, params: Mapping[str, str | None]) -> None:
    """Write the page's parameters to the URL and to the sidebar links."""
    clean = {name: value for name, value in params.items() if value}
    if st.query_params.to_dict() != clean:
        st.query_params.from_dict(clean)
    st.session_state.setdefault(_WRITTEN, {})[page] = clean
    links: dict[str, dict[str, str]] = st.session_state.setdefault(_LINKS, {})
    links[page] = clean
    for name, pages in SHARED.items():
        if name in clean:
            for other in pages:
                if other != page:
                    links.setdefault(other, {})[name] = clean[name]


def amend(page: str, params: Mapping[str, str | None]) -> None:
    """Add ``params`` to what ``page`` last published, or drop those that are
    None: for a part of the page drawn after ``publish``, or rerun alone (a
    fragment), such as a long table's window (``ui.rows``)."""
    written: dict[str, dict[str, str]] = st.session_state.get(_WRITTEN, {})
    publish(page, {**written.get(page, {}), **params})


def link_params(page: str) -> dict[str, str]:
    """The query parameters of ``page``'s link: what it showed last."""
    links: dict[str, dict[str, str]] = st.session_state.get(_LINKS, {})
    return dict(links.get(page, {}))
