from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.factories import days, store
from tests.factories import snapshot_of_total as snapshot
from usage.anomalies import AnomalySettings, find_drops
from usage.history import read_history
from usage.series import (
    STORAGE_BYTES,
    TOTAL_RECORDS,
    Granularity,
    Period,
    RangePreset,
    build_series,
    day_runs,
    missing_days,
    period_end,
    preset_range,
    rollup,
)

D = dt.date


def _json(day: dt.date, total: int, size: int = 1000, **extra: int) -> dict[str, Any]:
    """A snapshot in the API's shape: ``total`` records, ``extra`` of them
    in the named collections and the rest in ``person``."""
    records = {"person": total - sum(extra.values()), "organisation": 0, "member": 0,
               "payment": 0, "ticket": 0, "booking": 0, **extra, "total": total}  # fmt: skip
    return {
        "bucket_id": "acme",
        "snapshot_date": day.isoformat(),
        "records": records,
        "storage": {
            "object_count": 1,
            "total_bytes": size,
            "by_prefix": {"documents/": {"count": 1, "bytes": size}},
        },
        "computed_at": f"{day.isoformat()}T02:00:00Z",
    }


@pytest.mark.parametrize(
    ("day", "granularity", "expected"),
    [
        (D(2024, 2, 14), Granularity.DAY, D(2024, 2, 14)),
        (D(2024, 2, 14), Granularity.WEEK, D(2024, 2, 18)),  # a Wednesday: that Sunday
        (D(2024, 2, 18), Granularity.WEEK, D(2024, 2, 18)),  # a Sunday ends its week
        (D(2024, 2, 14), Granularity.MONTH, D(2024, 2, 29)),  # a leap year
        (D(2023, 12, 31), Granularity.MONTH, D(2023, 12, 31)),
    ],
)
def test_period_end(day: dt.date, granularity: Granularity, expected: dt.date) -> None:
    assert period_end(day, granularity) == expected


W, M = Granularity.WEEK, Granularity.MONTH


@pytest.mark.parametrize(
    ("start", "end", "granularity", "expected"),
    [
        (D(2024, 1, 30), D(2024, 2, 1), Granularity.DAY,
         [(D(2024, 1, 30), D(2024, 1, 30)), (D(2024, 1, 31), D(2024, 1, 31)),
          (D(2024, 2, 1), D(2024, 2, 1))]),
        # A Tuesday to the next Monday: the week's Tuesday to Sunday, then one day.
        (D(2024, 1, 30), D(2024, 2, 5), W, [(D(2024, 1, 30), D(2024, 2, 4)),
                                            (D(2024, 2, 5), D(2024, 2, 5))]),
        (D(2024, 1, 15), D(2024, 3, 10), M, [(D(2024, 1, 15), D(2024, 1, 31)),
                                             (D(2024, 2, 1), D(2024, 2, 29)),
                                             (D(2024, 3, 1), D(2024, 3, 10))]),
        (D(2024, 1, 15), D(2024, 1, 15), M, [(D(2024, 1, 15), D(2024, 1, 15))]),
    ],
)  # fmt: skip
def test_rollup_periods_span_their_days_cut_at_the_range(
    start: dt.date,
    end: dt.date,
    granularity: Granularity,
    expected: list[tuple[dt.date, dt.date]],
) -> None:
    periods = rollup([], start, end, granularity)
    assert [(period.start, period.end) for period in periods] == expected
    # One period per period: no extra one for the range's last day.
    assert len({(period.first, period.last) for period in periods}) == len(periods)


@pytest.mark.parametrize(
    ("period", "label", "partial", "extent"),
    [
        (Period(W, D(2025, 6, 23), D(2025, 6, 29), None), "week of 23 Jun 2025", False,
         "week of 23 Jun 2025"),
        (Period(W, D(2025, 6, 25), D(2025, 6, 29), None), "week of 23 Jun 2025", True,
         "week of 23 Jun 2025 (partial: 25 Jun to 29 Jun 2025)"),
        (Period(W, D(2025, 6, 23), D(2025, 6, 23), None), "week of 23 Jun 2025", True,
         "week of 23 Jun 2025 (partial: 23 Jun 2025 only)"),
        (Period(W, D(2025, 12, 31), D(2026, 1, 4), None), "week of 29 Dec 2025", True,
         "week of 29 Dec 2025 (partial: 31 Dec 2025 to 4 Jan 2026)"),
        (Period(M, D(2026, 11, 1), D(2026, 11, 30), None), "Nov 2026", False, "Nov 2026"),
        (Period(M, D(2024, 2, 1), D(2024, 2, 28), None), "Feb 2024", True,
         "Feb 2024 (partial: 1 Feb to 28 Feb 2024)"),  # a leap year's February
        (Period(Granularity.DAY, D(2025, 7, 4), D(2025, 7, 4), None), "4 Jul 2025", False,
         "4 Jul 2025"),
    ],
)  # fmt: skip
def test_periods_are_labelled_as_periods(
    period: Period, label: str, partial: bool, extent: str
) -> None:
    assert (period.label, period.partial, period.extent) == (label, partial, extent)


def test_rollup_takes_each_periods_last_snapshot_in_the_range() -> None:
    snapshots = [_json(D(2024, 3, day), 100 + day) for day in (4, 6, 8, 12)]
    # Monday 4 March to Sunday 10 March, then the 11th to the 12th.
    periods = rollup(reversed(snapshots), D(2024, 3, 5), D(2024, 3, 12), W)
    assert [(p.snapshot_date, p.partial) for p in periods] == [(D(2024, 3, 8), True),
                                                               (D(2024, 3, 12), True)]  # fmt: skip
    # The 4th is before the range: the week's snapshot is the 8th's, not the 4th's.
    assert [p.snapshot["records"]["total"] for p in periods if p.snapshot] == [108, 112]


def test_rollup_by_day_is_the_ranges_snapshots() -> None:
    snapshots = [_json(D(2024, 3, day), 100 + day) for day in (1, 2, 5)]
    periods = rollup(snapshots, D(2024, 3, 1), D(2024, 3, 5), Granularity.DAY)
    assert [p.snapshot for p in periods] == [snapshots[0], snapshots[1], None, None,
                                             snapshots[2]]  # fmt: skip
    assert not any(period.partial for period in periods)


@pytest.mark.parametrize(
    ("preset", "first_day", "expected"),
    [
        (RangePreset.LAST_30_DAYS, None, (D(2024, 2, 15), D(2024, 3, 15))),
        (RangePreset.LAST_90_DAYS, None, (D(2023, 12, 17), D(2024, 3, 15))),
        (RangePreset.LAST_12_MONTHS, None, (D(2023, 3, 17), D(2024, 3, 15))),
        (RangePreset.YEAR_TO_DATE, None, (D(2024, 1, 1), D(2024, 3, 15))),
        (RangePreset.ALL, D(2021, 6, 1), (D(2021, 6, 1), D(2024, 3, 15))),
        (RangePreset.ALL, None, (D(2024, 3, 15), D(2024, 3, 15))),
    ],
)
def test_preset_range(
    preset: RangePreset, first_day: dt.date | None, expected: tuple[dt.date, dt.date]
) -> None:
    assert preset_range(preset, D(2024, 3, 15), first_day) == expected


def test_a_custom_range_has_no_preset_dates() -> None:
    with pytest.raises(ValueError, match="custom"):
        preset_range(RangePreset.CUSTOM, D(2024, 3, 15), None)


@pytest.mark.parametrize(
    ("present", "start", "end", "collected", "expected"),
    [
        ([1, 2, 3], 1, 3, 3, []),
        ([1, 3, 6], 1, 6, 6, [2, 4, 5]),
        # The range's first and last days count too.
        ([2, 3], 1, 4, 4, [1, 4]),
        ([10, 12], 1, 12, 12, [*range(1, 10), 11]),
        # Up to the store's newest collected day, not beyond.
        ([1, 2], 1, 31, 3, [3]),
        ([1, 2], 1, 31, 2, []),
        # Only the range counts.
        ([1, 3, 6], 3, 6, 6, [4, 5]),
        ([], 1, 3, 31, [1, 2, 3]),
        ([], 1, 3, None, []),  # nothing collected yet: nothing is due
        ([1], 5, 31, 3, []),  # the range starts after the newest collected day
    ],
)
def test_missing_days_are_every_day_without_a_snapshot(
    present: list[int], start: int, end: int, collected: int | None, expected: list[int]
) -> None:
    snapshots = [_json(D(2024, 3, day), 100) for day in present]
    last_collected = None if collected is None else D(2024, 3, collected)
    missing = missing_days(snapshots, D(2024, 3, start), D(2024, 3, end), last_collected)
    assert missing == [D(2024, 3, day) for day in expected]


def test_day_runs() -> None:
    missing = [D(2024, 3, day) for day in (1, 2, 3, 5, 7, 8)]
    assert day_runs(missing) == [(D(2024, 3, 1), D(2024, 3, 3)), (D(2024, 3, 5), D(2024, 3, 5)),
                                 (D(2024, 3, 7), D(2024, 3, 8))]  # fmt: skip


MB = 1_000_000


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (_json(D(2024, 3, 1), 1000), _json(D(2024, 3, 2), 790), [TOTAL_RECORDS, "person"]),
        (_json(D(2024, 3, 1), 1000), _json(D(2024, 3, 2), 800), []),  # 20%: not more
        (_json(D(2024, 3, 1), 1000), _json(D(2024, 3, 5), 700), [TOTAL_RECORDS, "person"]),
        # The storage, and its one prefix with it.
        (_json(D(2024, 3, 1), 1000, size=100 * MB), _json(D(2024, 3, 2), 1000, size=50 * MB),
         [STORAGE_BYTES, "documents/"]),
        # Under 10 MB, bytes are too few to mean a loss.
        (_json(D(2024, 3, 1), 1000, size=10_000), _json(D(2024, 3, 2), 1000, size=5_000), []),
        # One collection purged: flagged though the total moved 10%.
        (_json(D(2024, 3, 1), 5000, ticket=500), _json(D(2024, 3, 2), 4550, ticket=50),
         ["ticket"]),
        # Emptied: a disappearance is a loss too.
        (_json(D(2024, 3, 1), 5000, ticket=500), _json(D(2024, 3, 2), 4500, ticket=0),
         ["ticket"]),
        # Counts under 100 are too small to mean a loss.
        (_json(D(2024, 3, 1), 5000, ticket=90), _json(D(2024, 3, 2), 4910, ticket=0), []),
        (_json(D(2024, 3, 1), 1000), _json(D(2024, 3, 2), 5000), []),  # growth
    ],
)  # fmt: skip
def test_find_drops(before: dict[str, Any], after: dict[str, Any], expected: list[str]) -> None:
    drops = find_drops([after, before])  # any order
    assert [drop.metric for drop in drops] == expected
    for drop in drops:
        assert drop.previous_date.isoformat() == before["snapshot_date"]
        assert drop.snapshot_date.isoformat() == after["snapshot_date"]
        assert drop.total_after == after["records"]["total"]
        assert drop.change_pct < -20
        # Where the records chart marks it, and in which unit the page says it.
        assert drop.in_collection is (drop.metric not in (TOTAL_RECORDS, STORAGE_BYTES,
                                                          "documents/"))  # fmt: skip
        assert drop.in_bytes is (drop.metric in (STORAGE_BYTES, "documents/"))


def test_find_drops_takes_the_thresholds() -> None:
    before, after = _json(D(2024, 3, 1), 1000), _json(D(2024, 3, 2), 850)  # -15%
    assert find_drops([before, after]) == []
    strict = AnomalySettings(drop_share=0.1)
    assert [drop.metric for drop in find_drops([before, after], strict)] == [
        TOTAL_RECORDS,
        "person",
    ]


@pytest.fixture
def history(engine: Engine) -> list[dict[str, Any]]:
    """March 2024 with the 3rd, 4th and 10th missing; an extra collection
    appears on the 20th and a prefix on the 25th."""
    items = []
    for day in days(D(2024, 3, 1), 31, skip=(2, 3, 9)):
        extra = {"event": 50} if day.day >= 20 else {}
        prefixes = {"documents/": (day.day, day.day * 1000)}
        if day.day >= 25:
            prefixes["exports/"] = (1, 5_000_000)
        items.append(snapshot(day, 1000 + day.day, extra=extra, prefixes=prefixes))
    store(engine, "acme", items)
    with Session(engine) as session:
        return read_history(session, "acme", None, None, None, visible=None)


def test_daily_series_leaves_missing_days_empty(history: list[dict[str, Any]]) -> None:
    series = build_series(history, D(2024, 3, 1), D(2024, 3, 31), Granularity.DAY)
    assert [period.start for period in series.periods] == days(D(2024, 3, 1), 31)
    expected = [None if day in (3, 4, 10) else 1000 + day for day in range(1, 32)]
    assert series.total_records == expected
    assert series.records["person"][1:4] == [1002, None, None]
    assert series.total_bytes[0] == 1000
    assert series.total_bytes[2] is None
    # A collection or prefix the snapshot does not list has none in it (0);
    # a missing day has nothing at all (None).
    assert series.records["event"][18:21] == [0, 50, 50]
    assert series.prefix_bytes["exports/"][23:25] == [0, 5_000_000]
    assert list(series.prefix_bytes) == ["exports/", "documents/"]  # largest first


@pytest.mark.parametrize(
    ("granularity", "labels", "totals"),
    [
        # Weeks run Monday to Sunday; the first one is cut at the range's start.
        (Granularity.WEEK, ["week of 26 Feb 2024", "week of 4 Mar 2024", "week of 11 Mar 2024",
                            "week of 18 Mar 2024", "week of 25 Mar 2024"],
         [1002, 1009, 1017, 1024, 1031]),
        (Granularity.MONTH, ["Feb 2024", "Mar 2024"], [None, 1031]),
    ],
)  # fmt: skip
def test_coarser_series_take_the_last_snapshot_of_each_period(
    history: list[dict[str, Any]],
    granularity: Granularity,
    labels: list[str],
    totals: list[int | None],
) -> None:
    start = D(2024, 2, 1) if granularity is Granularity.MONTH else D(2024, 3, 1)
    series = build_series(history, start, D(2024, 3, 31), granularity)
    assert [period.label for period in series.periods] == labels
    assert series.total_records == totals


def test_a_week_whose_last_day_is_missing_takes_the_day_before(
    history: list[dict[str, Any]],
) -> None:
    series = build_series(history, D(2024, 3, 4), D(2024, 3, 10), Granularity.WEEK)
    assert series.total_records == [1009]
    assert [period.snapshot_date for period in series.periods] == [D(2024, 3, 9)]
