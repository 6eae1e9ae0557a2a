from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.factories import days, store
from tests.factories import snapshot_of_total as snapshot
from usage.errors import InvalidParams
from usage.portfolio import (
    SORT_CHOICES,
    count_clients,
    find_movers,
    latest_snapshot_date,
    list_client_choices,
    read_portfolio_totals,
    read_sparklines,
    summarize_clients,
    summarize_portfolio,
)

D = dt.date
AS_OF = D(2024, 3, 31)


@pytest.fixture
def portfolio(engine: Engine) -> Engine:
    """alpha grows 10 a day and misses March 15th; beta is new; gamma falls;
    delta stopped in January; empty has no snapshot at all."""
    store(engine, "alpha", [snapshot(day, 1000 + 10 * day.day)
                            for day in days(D(2024, 3, 1), 31, skip=[14])],
          name="Alpha Co")  # fmt: skip
    store(engine, "beta", [snapshot(day, 50) for day in days(D(2024, 3, 20), 12)],
          name="Beta Ltd", status="trial")  # fmt: skip
    store(engine, "gamma", [snapshot(day, 2000 if day < D(2024, 3, 10) else 1500)
                            for day in days(D(2024, 2, 20), 41)],
          name="Gamma 100% Corp", status="suspended")  # fmt: skip
    store(engine, "delta", [snapshot(day, 700) for day in days(D(2024, 1, 1), 31)],
          name="Delta_Inc", status="inactive")  # fmt: skip
    store(engine, "empty", [], name="Empty")
    return engine


@pytest.mark.parametrize(
    ("bucket_id", "latest", "total", "baseline", "change", "change_pct"),
    [
        ("alpha", D(2024, 3, 31), 1310, D(2024, 3, 1), 300, 300 * 100 / 1010),
        ("beta", D(2024, 3, 31), 50, None, None, None),
        ("gamma", D(2024, 3, 31), 1500, D(2024, 3, 1), -500, -25.0),
        ("delta", D(2024, 1, 31), 700, None, None, None),  # stale: no change of today's
        ("empty", None, None, None, None, None),
    ],
)
def test_summary_compares_the_latest_snapshot_with_the_one_30_days_before(
    portfolio: Engine,
    bucket_id: str,
    latest: dt.date | None,
    total: int | None,
    baseline: dt.date | None,
    change: int | None,
    change_pct: float | None,
) -> None:
    with Session(portfolio) as session:
        rows = {row.bucket_id: row for row in summarize_clients(session, as_of=AS_OF, visible=None)}
    row = rows[bucket_id]
    assert (row.latest_date, row.total_records, row.baseline_date) == (latest, total, baseline)
    assert row.change == change
    assert row.change_pct == (None if change_pct is None else pytest.approx(change_pct))
    if total is not None:
        assert row.total_bytes == total * 100
        assert row.object_count == total // 10
        assert row.computed_at is not None


def test_summary_as_of_an_earlier_day(portfolio: Engine) -> None:
    with Session(portfolio) as session:
        (row,) = summarize_clients(session, as_of=D(2024, 3, 15), search="alpha", visible=None)
    assert (row.latest_date, row.total_records) == (D(2024, 3, 14), 1140)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["alpha", "beta", "delta", "empty", "gamma"]),
        ("-name", ["gamma", "empty", "delta", "beta", "alpha"]),
        ("records", ["beta", "delta", "alpha", "gamma", "empty"]),  # none last
        ("-records", ["gamma", "alpha", "delta", "beta", "empty"]),  # none last too
        ("change", ["gamma", "alpha", "beta", "delta", "empty"]),  # no change last
        ("-change_pct", ["alpha", "gamma", "beta", "delta", "empty"]),
        ("status", ["alpha", "empty", "delta", "gamma", "beta"]),
        ("freshness", ["delta", "alpha", "beta", "gamma", "empty"]),
    ],
)
def test_sort(portfolio: Engine, sort: str, expected: list[str]) -> None:
    with Session(portfolio) as session:
        rows = summarize_clients(session, as_of=AS_OF, sort=sort, visible=None)
    assert [row.bucket_id for row in rows] == expected


@pytest.mark.parametrize(
    ("status", "search", "expected"),
    [
        (None, None, ["alpha", "beta", "delta", "empty", "gamma"]),
        ("active", None, ["alpha", "empty"]),
        (None, "ALP", ["alpha"]),  # case does not matter
        (None, "corp", ["gamma"]),  # the display name
        (None, "100%", ["gamma"]),  # % is a character, not a wildcard
        (None, "a_c", []),  # and so is _ ("alpha co" would match a wildcard)
        (None, "delta_", ["delta"]),
        ("trial", "alpha", []),
    ],
)
def test_filter_and_search(
    portfolio: Engine, status: str | None, search: str | None, expected: list[str]
) -> None:
    with Session(portfolio) as session:
        rows = summarize_clients(session, as_of=AS_OF, status=status, search=search, visible=None)
        assert count_clients(session, status=status, search=search, visible=None) == len(expected)
    assert [row.bucket_id for row in rows] == expected


@pytest.mark.parametrize(
    ("limit", "offset", "expected"),
    [(2, 0, ["alpha", "beta"]), (2, 2, ["delta", "empty"]), (2, 4, ["gamma"]), (2, 6, [])],
)
def test_paging(portfolio: Engine, limit: int, offset: int, expected: list[str]) -> None:
    with Session(portfolio) as session:
        rows = summarize_clients(session, as_of=AS_OF, limit=limit, offset=offset, visible=None)
    assert [row.bucket_id for row in rows] == expected


@pytest.mark.parametrize("sort", SORT_CHOICES)
def test_pages_of_every_sort_add_up_to_the_whole_order(portfolio: Engine, sort: str) -> None:
    """Sorts by a client's own column page the clients before looking up
    their snapshots; every sort's pages must still be the whole order, cut."""
    with Session(portfolio) as session:
        whole = summarize_clients(session, as_of=AS_OF, sort=sort, search="a", visible=None)
        pages = [
            summarize_clients(
                session, as_of=AS_OF, sort=sort, search="a", limit=2, offset=offset, visible=None
            )
            for offset in range(0, 6, 2)
        ]
    assert [row for page in pages for row in page] == whole
    assert [len(page) for page in pages] == [2, 2, len(whole) - 4]


def test_an_unknown_sort_is_refused_naming_the_parameter(portfolio: Engine) -> None:
    with Session(portfolio) as session, pytest.raises(InvalidParams, match=r"^sort must be"):
        summarize_clients(session, as_of=AS_OF, sort="size", visible=None)


def test_movers(portfolio: Engine) -> None:
    with Session(portfolio) as session:
        movers = find_movers(session, as_of=AS_OF, limit=5, visible=None)
    assert [row.bucket_id for row in movers.growers] == ["alpha"]
    assert [row.bucket_id for row in movers.drops] == ["gamma"]


def test_a_stale_client_is_not_a_mover(portfolio: Engine) -> None:
    """Grew fast until the 30th and has no snapshot on the newest day: the
    table says "no data since", so the movers leave it out."""
    store(portfolio, "zeta", [snapshot(day, 100 * day.day) for day in days(D(2024, 2, 20), 40)],
          name="Zeta")  # fmt: skip
    with Session(portfolio) as session:
        movers = find_movers(session, as_of=AS_OF, limit=5, visible=None)
        (zeta,) = summarize_clients(session, as_of=AS_OF, search="zeta", visible=None)
    assert zeta.latest_date == D(2024, 3, 30)
    assert (zeta.baseline_date, zeta.change, zeta.change_pct) == (None, None, None)
    assert [row.bucket_id for row in movers.growers] == ["alpha"]


def test_sparklines_leave_missing_days_empty(portfolio: Engine) -> None:
    with Session(portfolio) as session:
        lines = read_sparklines(
            session, ["alpha", "beta"], D(2024, 3, 14), D(2024, 3, 20), visible=None
        )
    assert lines == {
        "alpha": [1140, None, 1160, 1170, 1180, 1190, 1200],
        "beta": [None, None, None, None, None, None, 50],
    }


def test_portfolio_totals_count_each_client_with_its_latest_snapshot(portfolio: Engine) -> None:
    with Session(portfolio) as session:
        totals = read_portfolio_totals(session, D(2024, 3, 14), D(2024, 3, 20), visible=None)
    by_day = {day.snapshot_date: day for day in totals}
    assert sorted(by_day) == days(D(2024, 3, 14), 7)
    # alpha's 14th stands in for its missing 15th; delta, stopped in January,
    # counts with its last snapshot (stale); beta joins on the 20th.
    assert by_day[D(2024, 3, 15)].total_records == 1140 + 1500 + 700
    assert (by_day[D(2024, 3, 15)].clients, by_day[D(2024, 3, 15)].stale) == (3, 2)
    assert by_day[D(2024, 3, 19)].total_records == 1190 + 1500 + 700
    assert (by_day[D(2024, 3, 19)].clients, by_day[D(2024, 3, 19)].stale) == (3, 1)
    assert by_day[D(2024, 3, 20)].total_records == 1200 + 1500 + 50 + 700
    assert by_day[D(2024, 3, 20)].total_bytes == (1200 + 1500 + 50 + 700) * 100
    assert (by_day[D(2024, 3, 20)].clients, by_day[D(2024, 3, 20)].stale) == (4, 1)


@pytest.mark.parametrize("visible", [None, frozenset({"alpha", "delta"}), frozenset({"beta"})])
def test_a_day_has_one_total_whatever_the_window(
    portfolio: Engine, visible: frozenset[str] | None
) -> None:
    """The KPI's day and every window's charts agree, day by day."""
    with Session(portfolio) as session:
        windows = [
            read_portfolio_totals(session, start, AS_OF, visible=visible)
            for start in (D(2023, 12, 1), D(2024, 1, 15), D(2024, 3, 15), D(2024, 3, 25), AS_OF)
        ]
        kpi = summarize_portfolio(session, as_of=AS_OF, visible=visible)
    whole = {day.snapshot_date: day for day in windows[0]}
    for window in windows[1:]:
        for day in window:
            assert day == whole[day.snapshot_date]
    last = windows[-1][-1]
    assert (last.snapshot_date, last.total_records, last.total_bytes) == (
        AS_OF,
        kpi.total_records,
        kpi.total_bytes,
    )
    assert (last.clients, last.stale) == (kpi.reporting, kpi.reporting - kpi.up_to_date)


def test_portfolio_summary(portfolio: Engine) -> None:
    with Session(portfolio) as session:
        summary = summarize_portfolio(session, as_of=AS_OF, visible=None)
        assert latest_snapshot_date(session, visible=None) == AS_OF
        assert [choice.bucket_id for choice in list_client_choices(session, visible=None)] == [
            "alpha", "beta", "delta", "empty", "gamma"]  # fmt: skip
    assert (summary.clients, summary.reporting, summary.up_to_date) == (5, 4, 3)
    assert summary.total_records == 1310 + 50 + 1500 + 700
    assert summary.total_bytes == summary.total_records * 100
    # The totals chart's change over 30 days: beta, new, counts whole.
    assert summary.change == (1310 + 50 + 1500 + 700) - (1010 + 2000 + 700)


def test_an_empty_store(engine: Engine) -> None:
    with Session(engine) as session:
        assert latest_snapshot_date(session, visible=None) is None
        assert summarize_clients(session, as_of=AS_OF, visible=None) == []
        assert summarize_portfolio(session, as_of=AS_OF, visible=None).clients == 0
        assert read_portfolio_totals(session, D(2024, 1, 1), AS_OF, visible=None) == []
