"""GET /api/v1/portfolio/totals on every backend: the Portfolio page's
definition of a day's total (each client's latest snapshot on or before the
day, stale ones counted), the same number whatever the range, the caller's
clients only, the default range, and 400s naming the parameter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.api_client import ApiClient
from tests.test_portfolio import AS_OF, D, portfolio  # noqa: F401  (a fixture)
from usage.api import create_api_app
from usage.audit import cli_actor
from usage.keys import create_key
from usage.portfolio import summarize_portfolio

TOTALS = "/api/v1/portfolio/totals"


@pytest.fixture
def keys(portfolio: Engine) -> dict[str, str]:  # noqa: F811
    with Session(portfolio) as session, session.begin():
        return {
            "admin": create_key(session, "admin", admin=True, actor=cli_actor()),
            "alpha": create_key(session, "alpha", buckets=["alpha", "delta"], actor=cli_actor()),
        }


@pytest.fixture
def api(portfolio: Engine, keys: dict[str, str]) -> Iterator[ApiClient]:  # noqa: F811
    client = ApiClient(create_api_app(lambda: portfolio), {"X-API-Key": keys["admin"]})
    yield client
    client.close()


def by_day(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert body["count"] == len(body["days"])
    return {day["date"]: day for day in body["days"]}


def test_a_days_total_counts_each_client_with_its_latest_snapshot(api: ApiClient) -> None:
    response = api.get(f"{TOTALS}?start_date=2024-03-14&end_date=2024-03-20")
    assert response.status_code == 200
    body = response.json()
    assert (body["start_date"], body["end_date"]) == ("2024-03-14", "2024-03-20")
    assert body["newest_snapshot_date"] == "2024-03-31"
    days = by_day(body)
    assert list(days) == [f"2024-03-{n}" for n in range(14, 21)]  # oldest first
    # alpha's 14th stands in for its missing 15th; gamma fell to 1,500 on the
    # 10th; delta, stopped in January, counts with its last snapshot; beta
    # joins on the 20th; "empty" has no snapshot and never counts.
    assert days["2024-03-15"] == {
        "date": "2024-03-15", "total_records": 1140 + 1500 + 700,
        "total_bytes": (1140 + 1500 + 700) * 100, "clients": 3, "stale_clients": 2,
    }  # fmt: skip
    assert days["2024-03-20"] == {
        "date": "2024-03-20", "total_records": 1200 + 1500 + 50 + 700,
        "total_bytes": (1200 + 1500 + 50 + 700) * 100, "clients": 4, "stale_clients": 1,
    }  # fmt: skip


def test_a_day_has_one_total_whatever_the_range_and_the_kpi_agrees(
    api: ApiClient,
    portfolio: Engine,  # noqa: F811
) -> None:
    ranges = ["2023-12-01", "2024-01-15", "2024-03-15", "2024-03-31"]
    answers = [by_day(api.get(f"{TOTALS}?start_date={start}&end_date=2024-03-31").json())
               for start in ranges]  # fmt: skip
    whole = answers[0]
    assert min(whole) == "2024-01-01"  # the first snapshot: no day before it is listed
    for answer in answers[1:]:
        assert answer == {date: whole[date] for date in answer}
    with Session(portfolio) as session:
        kpi = summarize_portfolio(session, as_of=AS_OF, visible=None)
    newest = whole["2024-03-31"]
    assert (newest["total_records"], newest["total_bytes"]) == (kpi.total_records, kpi.total_bytes)
    assert (newest["clients"], newest["stale_clients"]) == (
        kpi.reporting,
        kpi.reporting - kpi.up_to_date,
    )


def test_by_default_the_90_days_up_to_the_newest_snapshot_day(api: ApiClient) -> None:
    body = api.get(TOTALS).json()
    assert (body["start_date"], body["end_date"]) == ("2024-01-02", "2024-03-31")
    days = by_day(body)
    assert (min(days), max(days), len(days)) == ("2024-01-02", "2024-03-31", 90)
    # A later end stops at the newest day: the days after it are not collected yet.
    later = api.get(f"{TOTALS}?start_date=2024-03-30&end_date=2024-04-30").json()
    assert list(by_day(later)) == ["2024-03-30", "2024-03-31"]
    assert later["end_date"] == "2024-04-30"
    assert api.get(f"{TOTALS}?start_date=2024-04-01").json()["count"] == 0


def test_an_end_near_the_calendars_first_day_starts_on_it(api: ApiClient) -> None:
    """90 days before 0001-01-01 is no date: the range starts on the
    calendar's first day, and has no total."""
    for end in ("0001-01-01", "0001-03-30"):
        answer = api.get(f"{TOTALS}?end_date={end}")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["start_date"], body["end_date"], body["count"]) == ("0001-01-01", end, 0)


def test_a_key_sees_the_totals_of_its_clients_only(
    api: ApiClient,
    keys: dict[str, str],
    portfolio: Engine,  # noqa: F811
) -> None:
    answer = api.get(f"{TOTALS}?start_date=2024-03-14&end_date=2024-03-31",
                     headers={"X-API-Key": keys["alpha"]})  # fmt: skip
    days = by_day(answer.json())
    assert days["2024-03-15"]["total_records"] == 1140 + 700
    assert (days["2024-03-15"]["clients"], days["2024-03-15"]["stale_clients"]) == (2, 2)
    assert days["2024-03-31"]["total_records"] == 1310 + 700
    with Session(portfolio) as session:
        kpi = summarize_portfolio(session, as_of=AS_OF, visible=frozenset({"alpha", "delta"}))
    assert days["2024-03-31"]["total_records"] == kpi.total_records


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("start_date=2024-02-30", "start_date must be a real calendar date in YYYY-MM-DD format"),
        ("end_date=yesterday", "end_date must be a date in YYYY-MM-DD format"),
        ("start_date=2024-03-20&end_date=2024-03-10", "start_date must be on or before end_date"),
        ("start_date=2010-01-01&end_date=2024-03-31",
         "start_date to end_date is 5,204 days; at most 3,660 in one request"),
        ("limit=5", "unknown query parameter 'limit'; expected: end_date, start_date"),
    ],
)  # fmt: skip
def test_a_bad_parameter_is_a_400_naming_it(api: ApiClient, query: str, message: str) -> None:
    response = api.get(f"{TOTALS}?{query}")
    assert response.status_code == 400
    assert response.json()["error"] == message


def test_an_empty_store_answers_no_day(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        key = create_key(session, "admin", admin=True, actor=cli_actor())
    client = ApiClient(create_api_app(lambda: engine), {"X-API-Key": key})
    try:
        body = client.get(TOTALS).json()
    finally:
        client.close()
    assert body == {"start_date": None, "end_date": None, "newest_snapshot_date": None,
                    "days": [], "count": 0}  # fmt: skip
