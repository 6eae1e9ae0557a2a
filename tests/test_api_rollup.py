"""``granularity=week|month`` on history: the same periods and the same values
as the dashboard's week and month views (``usage.series``), on the demo
portfolio."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.api_client import ApiClient
from tests.conftest import DEMO_TODAY
from usage.api import create_api_app
from usage.audit import cli_actor
from usage.history import read_history
from usage.keys import create_key
from usage.series import Granularity, build_series, rollup

D = dt.date


@pytest.fixture(scope="module")
def api(demo_engine: Engine) -> Iterator[ApiClient]:
    with Session(demo_engine) as session, session.begin():
        key = create_key(session, "rollups", admin=True, actor=cli_actor())
    client = ApiClient(create_api_app(lambda: demo_engine), {"X-API-Key": key})
    yield client
    client.close()


def dashboard_rows(
    engine: Engine, bucket: str, start: dt.date, end: dt.date, granularity: Granularity
) -> list[dict[str, Any]]:
    """What the client page shows at this granularity: its series' periods
    with a snapshot, newest first, as the API's items."""
    with Session(engine) as session:
        snapshots = read_history(session, bucket, start, end, None, visible=None)
    series = build_series(snapshots, start, end, granularity)
    rows = []
    for index, period in reversed(list(enumerate(series.periods))):
        if period.snapshot is None:
            continue
        assert series.total_records[index] == period.snapshot["records"]["total"]
        assert series.total_bytes[index] == period.snapshot["storage"]["total_bytes"]
        extent = {"start": period.start.isoformat(), "end": period.end.isoformat(),
                  "partial": period.partial}  # fmt: skip
        rows.append({**period.snapshot, "period": extent})
    return rows


@pytest.mark.parametrize(
    ("bucket", "start", "end", "granularity", "partial"),
    [
        ("acme-corp", D(2026, 6, 3), D(2026, 8, 20), Granularity.WEEK, (True, True)),
        ("acme-corp", D(2026, 6, 1), D(2026, 6, 28), Granularity.WEEK, (False, False)),
        ("acme-corp", D(2024, 2, 10), D(2026, 3, 5), Granularity.MONTH, (True, True)),
        ("globex", D(2025, 12, 1), D(2026, 2, 14), Granularity.MONTH, (True, False)),
        ("acme-corp", D(2026, 11, 20), D(2026, 11, 30), Granularity.DAY, None),
    ],
)  # fmt: skip
def test_periods_and_values_are_the_dashboards(
    api: ApiClient,
    demo_engine: Engine,
    bucket: str,
    start: dt.date,
    end: dt.date,
    granularity: Granularity,
    partial: tuple[bool, bool] | None,
) -> None:
    response = api.get(
        f"/api/v1/clients/{bucket}/history",
        params={"start_date": start.isoformat(), "end_date": end.isoformat(),
                "granularity": granularity.value, "limit": "1000"},
    )  # fmt: skip
    assert response.status_code == 200
    expected = dashboard_rows(demo_engine, bucket, start, end, granularity)
    got = response.json()["snapshots"]
    assert len(got) > 1
    if partial is None:  # by day: every snapshot, and no period added
        assert got == [{k: v for k, v in row.items() if k != "period"} for row in expected]
    else:
        assert got == expected
        assert (got[0]["period"]["partial"], got[-1]["period"]["partial"]) == partial


def test_the_default_range_is_the_dashboards_all(api: ApiClient, demo_engine: Engine) -> None:
    """Without dates: from the client's first snapshot to today, the
    current month partial."""
    body = api.get("/api/v1/clients/acme-corp/history",
                   params={"granularity": "month", "limit": "1000"}).json()  # fmt: skip
    with Session(demo_engine) as session:
        snapshots = read_history(session, "acme-corp", None, None, None, visible=None)
    first = D.fromisoformat(snapshots[-1]["snapshot_date"])
    today = max(dt.datetime.now(dt.UTC).date(), DEMO_TODAY)
    periods = [p for p in reversed(rollup(snapshots, first, today, Granularity.MONTH))
               if p.snapshot is not None]  # fmt: skip
    assert [(s["period"]["start"], s["period"]["end"], s["snapshot_date"])
            for s in body["snapshots"]] == [
        (p.start.isoformat(), p.end.isoformat(), p.snapshot["snapshot_date"])
        for p in periods if p.snapshot
    ]  # fmt: skip
    assert body["snapshots"][0]["period"]["partial"] is periods[0].partial
    assert body["snapshots"][-1]["period"]["start"] == first.isoformat()


@pytest.mark.parametrize("granularity", [Granularity.WEEK, Granularity.MONTH])
def test_a_range_to_the_calendars_last_day_rolls_up_the_snapshots_it_holds(
    api: ApiClient, granularity: Granularity
) -> None:
    """Up to 9999-12-31 (the last week and month stop there), and from
    0001-01-01: the default range's periods with a snapshot, whole at the
    range's far ends; not thousands of years of empty periods."""
    path = "/api/v1/clients/acme-corp/history"
    by = {"granularity": granularity.value, "limit": "1000"}
    expected = api.get(path, params=by).json()["snapshots"]
    to_the_end = api.get(path, params={**by, "end_date": "9999-12-31"})
    assert to_the_end.status_code == 200, to_the_end.text
    got = to_the_end.json()["snapshots"]
    assert [row["snapshot_date"] for row in got] == [row["snapshot_date"] for row in expected]
    assert [row["period"]["start"] for row in got] == [row["period"]["start"] for row in expected]
    assert got[0]["period"]["partial"] is False  # the range holds the whole newest period
    whole = api.get(path, params={**by, "start_date": "0001-01-01", "end_date": "9999-12-31"})
    assert whole.status_code == 200, whole.text
    rows = whole.json()["snapshots"]
    assert [row["snapshot_date"] for row in rows] == [row["snapshot_date"] for row in expected]
    assert not [row for row in rows if row["period"]["partial"]]


def test_the_periods_of_the_calendars_last_days() -> None:
    last = D.max  # a Friday: its week stops on it
    periods = rollup([], last - dt.timedelta(days=9), last, Granularity.WEEK)
    assert [(period.start, period.end) for period in periods] == [
        (D(9999, 12, 22), D(9999, 12, 26)), (D(9999, 12, 27), last)]  # fmt: skip
    (december,) = rollup([], D(9999, 12, 1), last, Granularity.MONTH)
    assert (december.start, december.end, december.partial) == (D(9999, 12, 1), last, False)
