"""The client picker of the Client and Compare pages: every client while they
are few, a search box and its first matches when they are many.

A select box sends all its options to the browser on every run, and the
browser builds them all: at 10,000 clients that was 400 KB a run and 0.4 to
0.7 s more before a Client page was drawn (measured in Debian's chromium
against the same page with 100 options). Above ``ALL_SHOWN`` clients the
picker offers the current client and the first ``MATCHES_SHOWN`` clients
whose name or bucket holds what the search box holds, in name order.
"""

from __future__ import annotations

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
        search = place.text_input(
            "Find a client",
            key=f"{key}_search",
            placeholder=f"Part of a name or bucket, among {len(choices):,} clients",
        )
        options, found = matching(choices, search, st.session_state.get(key))
        if found > MATCHES_SHOWN and not search.strip():
            place.caption(f"The first {MATCHES_SHOWN} clients by name: search for the others.")
        elif found > MATCHES_SHOWN:
            place.caption(f"The first {MATCHES_SHOWN} of {found:,} matches, by name.")
        elif found == 0:
            place.caption("No client matches: only the current one is listed.")
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
    needle = search.strip().lower()
    found = [
        choice.bucket_id
        for choice in choices
        if needle in choice.bucket_id.lower() or needle in choice.display_name.lower()
    ]
    shown = found[:MATCHES_SHOWN]
    if (
        current is not None
        and current not in shown
        and any(choice.bucket_id == current for choice in choices)
    ):
        shown.insert(0, current)
    return shown or [choices[0].bucket_id], len(found)
