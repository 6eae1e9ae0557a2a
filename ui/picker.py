"""Choosing clients on a page: every client while they are few, a search box
and its first matches when they are many.

A select box sends all its options to the browser on every run, and the
browser builds them all: at 10,000 clients that was 400 KB a run and 0.4 to
0.7 s more before a Client page was drawn (measured in Debian's chromium
against the same page with 100 options). Above ``ALL_SHOWN`` clients:

- ``client_picker`` (Client, Compare) offers the current client and the
  first ``MATCHES_SHOWN`` clients whose name or bucket holds what the search
  box holds, in name order;
- ``clients_picker`` (Collection's "Collect now") offers the clients chosen
  so far and the search's first matches;
- ``book_input`` (People, inside a form, which a search box cannot refresh)
  is a text box of bucket ids, one per line.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from usage.portfolio import ClientChoice

ALL_SHOWN = 500
MATCHES_SHOWN = 100


def client_picker(
    place: DeltaGenerator,
    choices: list[ClientChoice],
    key: str,
    on_change: Callable[[], None] | None = None,
) -> str:
    """The chosen client's bucket; ``key`` is the select box's (its value is
    the bucket), ``key + "_search"`` the search box's."""
    names = {choice.bucket_id: choice for choice in choices}
    options = list(names)
    if len(choices) > ALL_SHOWN:
        search = _search_box(place, choices, key, "Find a client")
        options, found = matching(choices, search, st.session_state.get(key))
        if found == 0:
            place.caption("No client matches: only the current one is listed.")
        else:
            _say_found(place, found, search)
    chosen: str = place.selectbox(
        "Client",
        options,
        key=key,
        format_func=lambda bucket_id: f"{names[bucket_id].display_name} ({bucket_id})",
        on_change=on_change,
    )
    return chosen


def matching(
    choices: list[ClientChoice], search: str, current: str | None
) -> tuple[list[str], int]:
    """The buckets to offer (``current`` first when it is not among the first
    matches) and how many clients match ``search`` in all."""
    found = _found(choices, search)
    shown = found[:MATCHES_SHOWN]
    if (
        current is not None
        and current not in shown
        and any(choice.bucket_id == current for choice in choices)
    ):
        shown.insert(0, current)
    return shown or [choices[0].bucket_id], len(found)


def _search_box(place: DeltaGenerator, choices: list[ClientChoice], key: str, label: str) -> str:
    search: str = place.text_input(
        label,
        key=f"{key}_search",
        placeholder=f"Part of a name or bucket, among {len(choices):,} clients",
    )
    return search


def _found(choices: list[ClientChoice], search: str) -> list[str]:
    needle = search.strip().lower()
    return [
        choice.bucket_id
        for choice in choices
        if needle in choice.bucket_id.lower() or needle in choice.display_name.lower()
    ]


def _say_found(place: DeltaGenerator, found: int, search: str) -> None:
    if found > MATCHES_SHOWN and not search.strip():
        place.caption(f"The first {MATCHES_SHOWN} clients by name: search for the others.")
    elif found > MATCHES_SHOWN:
        place.caption(f"The first {MATCHES_SHOWN} of {found:,} matches, by name.")
    elif found == 0:
        place.caption("No client matches.")


def clients_picker(
    place: DeltaGenerator, choices: list[ClientChoice], key: str, label: str, placeholder: str
) -> list[str]:
    """The chosen clients' buckets; ``key`` is the multiselect's,
    ``key + "_search"`` the search box's (many clients only). The clients
    chosen stay chosen whatever is searched next."""
    names = {choice.bucket_id: choice for choice in choices}
    options = list(names)
    if len(choices) > ALL_SHOWN:
        search = _search_box(place, choices, key, "Find clients")
        chosen = [bucket for bucket in st.session_state.get(key, []) if bucket in names]
        found = _found(choices, search)
        options = chosen + [bucket for bucket in found[:MATCHES_SHOWN] if bucket not in chosen]
        _say_found(place, len(found), search)
    picked: list[str] = place.multiselect(
        label,
        options,
        key=key,
        placeholder=placeholder,
        format_func=lambda bucket_id: f"{names[bucket_id].display_name} ({bucket_id})",
    )
    return picked


def parse_buckets(text: str) -> list[str]:
    """The bucket ids in ``text`` (separated by new lines, commas, semicolons
    or spaces), each once, in order."""
    return list(dict.fromkeys(part for part in re.split(r"[\s,;]+", text) if part))


def book_keys(key: str) -> tuple[str, str]:
    """The keys of ``book_input``'s widget for ``key``: the multiselect's and
    the text box's (a form that empties itself forgets both)."""
    return key, f"{key}_text"


def book_input(
    choices: list[ClientChoice],
    key: str,
    label: str,
    book: tuple[str, ...] = (),
) -> list[str]:
    """A person's book, starting from ``book``, drawn where the page is (a
    form): a multiselect of every client (key ``key``) while they are few, a
    text box of bucket ids (key ``key + "_text"``) when they are many. An
    unknown bucket is refused by ``usage.people`` when the form is saved."""
    names = {choice.bucket_id: choice.display_name for choice in choices}
    select_key, text_key = book_keys(key)
    if len(choices) > ALL_SHOWN:
        text: str = st.text_area(
            f"{label}: bucket ids",
            "\n".join(book),
            key=text_key,
            placeholder="One bucket id per line",
            help=f"One bucket id per line (or separated by commas): {len(choices):,} clients "
            "are too many to list. The Portfolio page shows each client's bucket id.",
        )
        return parse_buckets(text)
    picked: list[str] = st.multiselect(
        label,
        [*names, *(bucket for bucket in book if bucket not in names)],
        default=list(book),
        key=select_key,
        format_func=lambda bucket: f"{names.get(bucket, bucket)} ({bucket})",
    )
    return picked
