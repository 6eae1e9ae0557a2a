"""ui.format.first_of: a list cut to its first items and how many more."""

from __future__ import annotations

import pytest

from ui.format import first_of

NAMES = [f"c{n}" for n in range(1, 1201)]


@pytest.mark.parametrize(
    ("items", "separator", "shown"),
    [
        ([], ", ", ""),
        (NAMES[:1], ", ", "c1"),
        (NAMES[:3], ", ", "c1, c2, c3"),  # as many as shown: all, nothing said of more
        (NAMES[:4], ", ", "c1, c2, c3 … and 1 more"),
        (NAMES, " ", "c1 c2 c3 … and 1,197 more"),
    ],
)
def test_first_of_shows_the_first_items_and_counts_the_others(
    items: list[str], separator: str, shown: str
) -> None:
    assert first_of(items, 3, separator) == shown
