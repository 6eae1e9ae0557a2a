"""``GET /api/v1/clients/{bucket_id}/forecast`` and the client detail's
``plan``, in process on both backends.

``grower`` has 150 days of snapshots up to 29 May 2024, growing by 500
records a day (100 of them ``member``) and 2 MB of storage a day, with a plan
on records, storage and ``member``; ``young`` has 3 snapshots; ``empty-co``
none; ``other`` grows without a plan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.api_client import ApiClient
from tests.factories import api_history, days, store
from tests.factories import snapshot_of_total as snapshot
from tests.test_api import conforms, is_error
from usage.api import create_api_app
from usage.audit import cli_actor
from usage.forecast import describe_reach, forecast_client
from usage.keys import create_key
from usage.plans import make_plan, set_plan
from usage.series import STORAGE_BYTES, TOTAL_RECORDS

FIRST = dt.date(2024, 1, 1)
LAST = FIRST + dt.timedelta(days=149)
PLAN = make_plan(250_000, 2_000_000_000, [("member", 60_000)])


def grower_snapshot(day: dt.date) -> Any:
    n = (day - FIRST).days
    total = 100_000 + 500 * n
    member = 20_000 + 100 * n
    return snapshot(day, total, extra={"member": member},
                    prefixes={"documents/": (1000 + n, 1_000_000_000 + 2_000_000 * n)})  # fmt: skip


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    store(engine, "grower", [grower_snapshot(day) for day in days(FIRST, 150)])
    store(engine, "other", [snapshot(day, 1000 + 10 * i) for i, day in enumerate(days(FIRST, 150))])
    store(engine, "young", [snapshot(day, 5000) for day in days(LAST - dt.timedelta(days=2), 3)])
    store(engine, "empty-co", [])
    with Session(engine) as session, session.begin():
        set_plan(session, "grower", PLAN, actor=cli_actor())
        set_plan(session, "young", make_plan(10_000, None, []), actor=cli_actor())
        return {
            "admin": create_key(session, "admin", admin=True, actor=cli_actor()),
            "grower": create_key(session, "grower-only", buckets=["grower"], actor=cli_actor()),
        }


@pytest.fixture
def api(engine: Engine, keys: dict[str, str]) -> Iterator[ApiClient]:
    client = ApiClient(create_api_app(lambda: engine), {"X-API-Key": keys["admin"]})
    yield client
    client.close()


def forecast_of(api: ApiClient, bucket_id: str) -> dict[str, Any]:
    response = api.get(f"/api/v1/clients/{bucket_id}/forecast")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    conforms(body, "ClientForecast")
    return body


def test_the_numbers_are_the_domain_functions(engine: Engine, api: ApiClient) -> None:
    body = forecast_of(api, "grower")
    assert (body["last_day"], body["horizon_days"], body["window_days"]) == (
        LAST.isoformat(), 180, 120)  # fmt: skip
    assert body["observations"] == 120  # the window, not the whole history
    # The same function on the history the API serves, cut to the window.
    window = api_history(engine, "grower", start_date=LAST - dt.timedelta(days=119))
    expected = forecast_client(window, PLAN.limits())
    assert [item["metric"] for item in body["metrics"]] == [TOTAL_RECORDS, STORAGE_BYTES,
                                                            "member"]  # fmt: skip
    for item, outlook in zip(body["metrics"], expected, strict=True):
        assert outlook.forecast is not None
        assert outlook.reach is not None
        assert item["limit"] == outlook.limit
        assert item["last_value"] == outlook.forecast.last_value
        daily = item["forecast"]["daily"]
        assert [day["date"] for day in daily] == [day.isoformat() for day in outlook.forecast.days]
        assert [(day["expected"], day["lower"], day["upper"]) for day in daily] == [
            (round(value, 2), round(low, 2), round(high, 2))
            for value, low, high in zip(outlook.forecast.expected, outlook.forecast.lower,
                                        outlook.forecast.upper, strict=True)
        ]  # fmt: skip
        reach = outlook.reach
        assert item["reach"] == {
            "reached": False,
            "likely": reach.likely and reach.likely.isoformat(),
            "earliest": reach.earliest and reach.earliest.isoformat(),
            "latest": reach.latest and reach.latest.isoformat(),
        }
        assert item["summary"] == describe_reach(reach, outlook.metric)
        assert item["note"] is None


def test_a_steady_grower_reaches_its_limits_when_its_growth_says(api: ApiClient) -> None:
    """174,500 records growing by 500 a day reach 250,000 in 151 days;
    1.298 GB growing by 2 MB a day reach 2 GB in 351 (beyond 180)."""
    total, storage, member = forecast_of(api, "grower")["metrics"]
    assert total["last_value"] == 174_500
    likely = dt.date.fromisoformat(total["reach"]["likely"])
    assert abs((likely - LAST).days - 151) <= 2
    assert total["summary"].startswith(f"reaches 250,000 records around {likely.day} ")
    assert total["forecast"]["daily"][0]["expected"] == pytest.approx(175_000, rel=1e-3)
    assert total["forecast"]["slope_per_day"] == pytest.approx(500, rel=1e-2)
    assert (storage["reach"]["likely"], storage["summary"]) == (None, "not within 180 days")
    assert (storage["unit"], storage["scope"], member["scope"]) == ("bytes", "total", "collection")
    # member: 34,900 + 100 a day reaches 60,000 in 251 days: not within 180.
    assert (member["limit"], member["reach"]["likely"]) == (60_000, None)


def test_without_a_plan_totals_are_projected_without_limits(api: ApiClient) -> None:
    total, storage = forecast_of(api, "other")["metrics"]
    assert (total["limit"], total["reach"], total["summary"]) == (None, None, None)
    assert total["forecast"]["daily"][-1]["expected"] == pytest.approx(1000 + 10 * 329, rel=1e-2)
    assert storage["forecast"] is not None


def test_too_little_history_says_so(api: ApiClient) -> None:
    body = forecast_of(api, "young")
    assert body["observations"] == 3
    total, storage = body["metrics"]
    assert (total["forecast"], total["reach"], total["summary"], total["limit"]) == (
        None, None, None, 10_000)  # fmt: skip
    assert total["note"] == (
        "too little history to project: 3 of the 7 snapshots needed in the newest 120 days"
    )
    assert storage["note"] == total["note"]
    empty = forecast_of(api, "empty-co")
    assert (empty["last_day"], empty["observations"]) == (None, 0)
    assert {item["note"] for item in empty["metrics"]} == {
        "no snapshot yet: nothing to project from"}  # fmt: skip


def test_a_client_the_key_may_not_see_is_an_unknown_one(
    engine: Engine, keys: dict[str, str]
) -> None:
    limited = ApiClient(create_api_app(lambda: engine), {"X-API-Key": keys["grower"]})
    try:
        assert limited.get("/api/v1/clients/grower/forecast").status_code == 200
        hidden = is_error(limited.get("/api/v1/clients/other/forecast"), 404)
        unknown = is_error(limited.get("/api/v1/clients/nobody/forecast"), 404)
        assert hidden["error"] == "client 'other' not found"
        assert unknown["error"] == "client 'nobody' not found"
        is_error(limited.get("/api/v1/clients/grower/forecast", headers={"X-API-Key": "x"}), 401)
    finally:
        limited.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/v1/clients/grower/forecast?horizon=90",
         "unknown query parameter 'horizon'; expected: none"),
        ("/api/v1/clients/bad!id/forecast",
         "bucket_id must be 1 to 64 characters of letters, digits, '-' or '_'"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_it(api: ApiClient, url: str, message: str) -> None:
    is_error(api.get(url), 400, message)


def test_a_forecast_is_revalidated_by_its_etag(api: ApiClient) -> None:
    first = api.get("/api/v1/clients/grower/forecast")
    again = api.get(
        "/api/v1/clients/grower/forecast", headers={"If-None-Match": first.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")


def test_client_detail_has_the_plan_and_its_use(api: ApiClient) -> None:
    body = api.get("/api/v1/clients/grower").json()
    conforms(body, "ClientDetail")
    assert body["plan"] == {
        "records": 250_000,
        "storage_bytes": 2_000_000_000,
        "collections": {"member": 60_000},
        # 174,500 / 250,000; 1,298,000,000 / 2,000,000,000; 34,900 / 60,000
        "used": {"records": 0.698, "storage_bytes": 0.649,
                 "collections": {"member": 0.5817}},
    }  # fmt: skip
    assert body["total_records"] == 174_500  # the rest as before
    for bucket_id in ("other", "empty-co"):
        plain = api.get(f"/api/v1/clients/{bucket_id}").json()
        conforms(plain, "ClientDetail")
        assert plain["plan"] is None
    young = api.get("/api/v1/clients/young").json()["plan"]
    assert young["used"] == {"records": 0.5, "storage_bytes": None, "collections": {}}
