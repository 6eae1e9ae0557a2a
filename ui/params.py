"""A page's URL query parameters <-> its widgets' session state.

A page loads its widgets from the URL when it is arrived at (first run, a
new URL, or its widgets' state dropped by a page switch), then writes the
widgets' values back to the URL after drawing them. The values it writes
also become the query parameters of its sidebar link, and the shared ones
(``SHARED``) those of the other pages' links, so switching pages keeps the
chosen client and range.

A part of a page drawn after it (a long table's window, ``ui.rows``) adds
its own parameters with ``amend``. In a whole run the URL is written once,
when the run ends (``url_at_start``): the page's parameters with its parts'.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TypeVar

import streamlit as st

from ui.format import md_text
from usage.errors import InvalidParams
from usage.validation import parse_choice

T = TypeVar("T")

_WRITTEN = "_url_written"  # page -> the parameters it last wrote
_LINKS = "_url_links"  # page -> the parameters its sidebar link carries
_AMENDED = "_url_amended"  # page -> the parameters its parts added (``amend``)
MAX_SHOWN_VALUE = 40  # characters of a bad URL value repeated in a warning

# parameter -> the pages that read it: a value chosen on one is kept on all.
SHARED: dict[str, tuple[str, ...]] = {"bucket": ("client", "compare")}


@dataclass
class _Run:
    """A whole run of a page (not a fragment's alone): the URL as the run
    found it, and the one it leaves."""

    opened: dict[str, str]
    repeated: frozenset[str] = frozenset()  # given more than once: the last one is read
    page: str | None = None  # the page that published in this run
    leaves: dict[str, str] | None = None  # what it published, written at the end
    amended: set[str] = field(default_factory=set)  # pages whose parts amended


_run: ContextVar[_Run | None] = ContextVar("page_run", default=None)


@contextmanager
def url_at_start() -> Iterator[None]:
    """Around a whole run of a page: keep the URL as the run found it, so that
    a part drawn after the page has published its own parameters still reads
    what the link said (``opened_param``), and write the URL the page leaves
    once, at the end, with what its parts amended."""
    params = st.query_params
    run = _Run(params.to_dict(), frozenset(n for n in params if len(params.get_all(n)) > 1))
    token = _run.set(run)
    try:
        yield
    finally:
        _run.reset(token)
        _leave(run)


def _leave(run: _Run) -> None:
    """Write the URL of ``run``'s page, less the parameters of parts that
    amended it in an earlier run and were not drawn in this one."""
    if run.page is None or run.leaves is None:  # the page published nothing
        return
    leaves = run.leaves
    if run.page not in run.amended:
        gone = st.session_state.get(_AMENDED, {}).pop(run.page, set())
        if gone & leaves.keys():
            leaves = {name: value for name, value in leaves.items() if name not in gone}
            _record(run.page, leaves)
    _write(leaves)


def _write(params: dict[str, str]) -> None:
    if st.query_params.to_dict() != params:
        st.query_params.from_dict(params)


def opened_param(name: str) -> str | None:
    """The URL's ``name`` as this run found it; the URL's now outside a whole
    run (a fragment rerunning alone)."""
    run = _run.get()
    return (st.query_params if run is None else run.opened).get(name)


def linked_anew(page: str, names: Collection[str]) -> bool:
    """True when this whole run was opened on a URL whose ``names`` differ from
    what ``page`` last wrote: a link to the page that says other values for a
    part's parameters (``amend``), which the part must load."""
    run = _run.get()
    if run is None:
        return False
    written = _written(page)
    return any(run.opened.get(name) != written.get(name) for name in names)


def arriving(page: str, keys: Iterable[str]) -> bool:
    """True when ``page`` must load its widgets (``keys``) from the URL."""
    if _written(page) != st.query_params.to_dict():
        return True
    return any(key not in st.session_state for key in keys)


def field_name(label: str, name: str, raw: str | None) -> str:
    """A URL parameter named as the page labels its field, with what the URL
    said: ``From (start=2024-13-01)``."""
    if raw is None:
        return f"{label} ({name})"
    shown = raw if len(raw) <= MAX_SHOWN_VALUE else raw[:MAX_SHOWN_VALUE] + "…"
    return f"{label} ({name}={shown})"


def url_field_name(label: str, name: str) -> str:
    """``field_name`` with what the URL this run found says for ``name``."""
    return field_name(label, name, opened_param(name) or None)


def read_param(
    name: str,
    parse: Callable[[str | None], T | None],
    default: T,
    default_text: str,
    label: str | None = None,
) -> T:
    """The URL's ``name`` parsed by a ``usage.validation`` parser; a bad value
    is reported, named as ``label`` (the field's label on the page) where the
    parser's message names the parameter, and replaced by ``default``,
    described to the reader as ``default_text``. An empty value
    (``?status=``) is no value; of a value given more than once, the last
    is read and the repetition said. The URL is the one the run found
    (``opened_param``)."""
    raw = opened_param(name) or None
    run = _run.get()
    if run is not None and name in run.repeated:  # which was meant? The last, and said
        warn_param(
            f"{field_name(label or name, name, None)} is given more than once in the link; "
            f"reading the last one, {field_name(label or name, name, raw or '')}."
        )
    try:
        value = parse(raw)
    except InvalidParams as error:
        message = error.message
        if label is not None and message.startswith(f"{name} "):
            message = field_name(label, name, raw) + message[len(name) :]
        warn_param(f"{message}; showing {default_text} instead.")
        return default
    return default if value is None else value


def read_switch(name: str, default: bool, default_text: str, label: str | None = None) -> bool:
    """The URL's ``name``, ``on`` or ``off`` (``default`` when absent or bad)."""
    value = read_param(
        name,
        lambda raw: parse_choice(raw, ("on", "off"), name),
        "on" if default else "off",
        default_text,
        label,
    )
    return value == "on"


def warn_unknown_client(bucket: str, instead: str) -> None:
    """The URL's client (``bucket``) is none the viewer may see."""
    warn_param(
        f"{field_name('Client', 'bucket', bucket)} is not a known client; showing {instead}."
    )


def warn_past_last_page(asked: int, pages: int, noun: str) -> None:
    """A page (from the URL, or of rows since fewer) past the last of ``pages``."""
    warn_param(
        f"{field_name('Page', 'page', str(asked))} is past the last page of these {noun};"
        f" showing page {pages:,}."
    )


def warn_param(message: str) -> None:
    st.warning(md_text(message), icon=":material/warning:")


def publish(page: str, params: Mapping[str, str | None]) -> None:
    """Make ``params`` the page's parameters: its sidebar links' at once, the
    URL's at the end of the run (at once in a fragment's run), with the
    parameters its parts amended in the last run kept until they amend them
    again."""
    amended: dict[str, set[str]] = st.session_state.get(_AMENDED, {})
    written = _written(page)
    kept = {name: written[name] for name in amended.get(page, ()) if name in written}
    # The page's own first, in its order; a kept one it names itself is its own.
    clean = {name: value for name, value in {**params, **kept, **params}.items() if value}
    _record(page, clean)
    run = _run.get()
    if run is None:
        _write(clean)
    else:
        run.page, run.leaves = page, clean


def _record(page: str, params: dict[str, str]) -> None:
    st.session_state.setdefault(_WRITTEN, {})[page] = params
    links: dict[str, dict[str, str]] = st.session_state.setdefault(_LINKS, {})
    links[page] = params
    for name, pages in SHARED.items():
        if name in params:
            for other in pages:
                if other != page:
                    links.setdefault(other, {})[name] = params[name]


def _written(page: str) -> dict[str, str]:
    written: dict[str, dict[str, str]] = st.session_state.get(_WRITTEN, {})
    return written.get(page, {})


def amend(page: str, params: Mapping[str, str | None]) -> None:
    """Add ``params`` to what ``page`` published, or drop those that are None:
    for a part of the page drawn after ``publish``, or rerun alone (a
    fragment), such as a long table's window (``ui.rows``). They stay in the
    page's URL while the part is drawn."""
    st.session_state.setdefault(_AMENDED, {}).setdefault(page, set()).update(params)
    run = _run.get()
    if run is not None:
        run.amended.add(page)
    publish(page, {**_written(page), **params})


def link_params(page: str) -> dict[str, str]:
    """The query parameters of ``page``'s link: what it showed last."""
    links: dict[str, dict[str, str]] = st.session_state.get(_LINKS, {})
    return dict(links.get(page, {}))
