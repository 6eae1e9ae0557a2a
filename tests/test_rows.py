"""``ui.rows.sorted_rows``: a long table's Sort, over every row, before the
window is cut."""

from __future__ import annotations

import pandas as pd

from ui.rows import AS_LISTED, sort_label, sort_options, sorted_rows

FRAME = pd.DataFrame(
    {
        "bucket": ["b-co", "A-co", "c-co", "d-co", "e-co"],
        "took": [2.5, None, 10.0, 2.5, float("nan")],
        "storage": ["2.0 KB", "900 B", "1.0 MB", "—", "10 B"],
        "error": ["", "boom", "", "Alarm", ""],
    },
    index=[10, 11, 12, 13, 14],  # not 0..n: the index is the rows', kept
)
BYTES = pd.Series([2048, 900, 1_048_576, None, 10], index=FRAME.index)


def order(sort: str, frame: pd.DataFrame = FRAME, **keys: pd.Series) -> list[str]:
    return sorted_rows(frame, sort, keys).loc[:, "bucket"].tolist()


def test_as_listed_keeps_the_pages_order() -> None:
    assert order(AS_LISTED) == ["b-co", "A-co", "c-co", "d-co", "e-co"]


def test_numbers_sort_as_numbers_with_missing_last_both_ways() -> None:
    # 10.0 after 2.5 (as text "10.0" would come first); ties keep their order.
    assert order("took") == ["b-co", "d-co", "c-co", "A-co", "e-co"]
    assert order("-took") == ["c-co", "b-co", "d-co", "A-co", "e-co"]


def test_text_sorts_in_any_case_and_blanks_come_last() -> None:
    assert order("bucket") == ["A-co", "b-co", "c-co", "d-co", "e-co"]
    assert order("-error") == ["A-co", "d-co", "b-co", "c-co", "e-co"]  # boom, Alarm, blanks


def test_a_column_shown_in_units_sorts_by_its_raw_values() -> None:
    assert order("-storage", storage=BYTES) == ["c-co", "b-co", "A-co", "e-co", "d-co"]
    # Without them, the units would sort as text: "1.0 MB" before "10 B".
    assert order("storage") == ["c-co", "e-co", "b-co", "A-co", "d-co"]


def test_a_part_of_the_rows_sorts_by_its_own_keys() -> None:
    part = FRAME.loc[[12, 10, 14]]
    assert order("storage", part, storage=BYTES) == ["e-co", "b-co", "c-co"]


def test_the_options_and_their_labels() -> None:
    assert sort_options(["Bucket", "Took (s)"]) == [
        AS_LISTED, "Bucket", "-Bucket", "Took (s)", "-Took (s)"]  # fmt: skip
    assert [sort_label(option) for option in sort_options(["Took (s)"])] == [
        "As listed", "Took (s) ↑", "Took (s) ↓"]  # fmt: skip


def test_rows_with_the_same_label_are_each_kept_once() -> None:
    twice = FRAME.set_axis([1, 1, 2, 2, 3])
    assert order("bucket", twice) == ["A-co", "b-co", "c-co", "d-co", "e-co"]
