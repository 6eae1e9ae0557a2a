"""A page's URL query parameters <-> its widgets' session state.

A page loads its widgets from the URL when it is arrived at (first run, a
new URL, or its widgets' state dropped by a page switch), then writes the
widgets' values back to the URL after drawing them. The values it writes
also become the query parameters of its sidebar link, and the shared ones
(``SHARED``) those of the other pages' links, so switching pages keeps the
chosen client and range.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
    ``default``, described to the reader as ``default_text``."""
    try:
        value = parse(st.query_params.get(name))
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


def link_params(page: str) -> dict[str, str]:
    """The query parameters of ``page``'s link: what it showed last."""
    links: dict[str, dict[str, str]] = st.session_state.get(_LINKS, {})
    return dict(links.get(page, {}))
