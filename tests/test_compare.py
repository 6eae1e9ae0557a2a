from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.factories import snapshot_of_total as snapshot
from tests.factories import store
from usage.compare import Movement, compare_snapshots, read_snapshot_at
from usage.errors import NotFound

D = dt.date


@pytest.fixture
def acme(engine: Engine) -> Engine:
    """Two snapshots: tickets purged, events and exports/ new, images/ gone."""
    store(engine, "acme", [
        snapshot(D(2024, 1, 10), 1500, extra={"ticket": 600},
                 prefixes={"documents/": (100, 10_000), "images/": (20, 4_000)}),
        snapshot(D(2024, 2, 10), 1450, extra={"ticket": 50, "event": 400},
                 prefixes={"documents/": (130, 13_000), "exports/": (2, 900_000)}),
    ])  # fmt: skip
    return engine


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2024, 1, 10), "2024-01-10"),  # that very day
        (D(2024, 1, 31), "2024-01-10"),  # else the last one before it
        (D(2024, 3, 1), "2024-02-10"),
        (D(2024, 1, 9), None),  # nothing before
    ],
)
def test_read_snapshot_at(acme: Engine, day: dt.date, expected: str | None) -> None:
    with Session(acme) as session:
        found = read_snapshot_at(session, "acme", day, visible=None)
    assert (found and found["snapshot_date"]) == expected


def test_read_snapshot_at_an_unknown_client(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(NotFound, match="'nope'"):
        read_snapshot_at(session, "nope", D(2024, 1, 1), visible=None)


def test_compare_collections_largest_movers_first(acme: Engine) -> None:
    with Session(acme) as session:
        before = read_snapshot_at(session, "acme", D(2024, 1, 10), visible=None)
        after = read_snapshot_at(session, "acme", D(2024, 2, 10), visible=None)
    assert before is not None
    assert after is not None
    comparison = compare_snapshots(before, after)
    assert comparison.collections[:3] == [
        Movement("ticket", 600, 50),
        Movement("event", None, 400),
        Movement("person", 900, 1000),
    ]
    assert {move.name for move in comparison.collections[3:]} == {
        "organisation", "member", "payment", "booking"}  # fmt: skip
    assert comparison.totals == [
        Movement("records", 1500, 1450),
        Movement("objects", 120, 132),
        Movement("bytes", 14_000, 913_000),
    ]
    assert comparison.prefix_bytes == [
        Movement("exports/", None, 900_000),
        Movement("images/", 4_000, None),
        Movement("documents/", 10_000, 13_000),
    ]
    assert [move.name for move in comparison.prefix_objects] == [
        "documents/", "images/", "exports/"]  # fmt: skip


@pytest.mark.parametrize(
    ("move", "delta", "change_pct", "new", "gone"),
    [
        (Movement("a", 600, 50), -550, -550 * 100 / 600, False, False),
        (Movement("a", None, 400), 400, None, True, False),  # new: no percentage
        (Movement("a", 0, 400), 400, None, True, False),
        (Movement("a", 4_000, None), -4_000, -100.0, False, True),  # no longer listed
        (Movement("a", 4_000, 0), -4_000, -100.0, False, False),  # listed, emptied
        (Movement("a", 0, 0), 0, None, False, False),
        (Movement("a", 10, 10), 0, 0.0, False, False),
    ],
)
def test_movement(
    move: Movement, delta: int, change_pct: float | None, new: bool, gone: bool
) -> None:
    assert move.delta == delta
    assert move.change_pct == (None if change_pct is None else pytest.approx(change_pct))
    assert (move.is_new, move.is_gone) == (new, gone)
