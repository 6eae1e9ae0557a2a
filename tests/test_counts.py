"""The row of counts (``ui.counts``): what it says, read back as drawn."""

from __future__ import annotations

from tests.shown_tables import read_counts
from ui.counts import COUNTS_CLASS, counts_html


def test_each_label_over_its_number_in_order() -> None:
    body = counts_html([("✓ succeeded", 9_812), ("✗ failed", 0), ("— never run", 1_234_567)])
    assert body.startswith(f'<dl class="{COUNTS_CLASS}"')
    assert read_counts(body) == [
        ("✓ succeeded", "9,812"), ("✗ failed", "0"), ("— never run", "1,234,567"),
    ]  # fmt: skip


def test_a_label_is_text_never_markup() -> None:
    body = counts_html([('<img src=x onerror="alert(1)"> & co', 3)])
    assert "<img" not in body
    assert read_counts(body) == [('<img src=x onerror="alert(1)"> & co', "3")]
