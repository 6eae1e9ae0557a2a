"""GET /api/v1/alerts on every backend: the items, the caller's clients only,
the filters, paging by the signed cursors (Link headers, no repeats, a
cursor kept to its filters), 400s naming the parameter; and on the real
server."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from tests.api_client import ApiClient
from tests.factories import new_client
from tests.live_server import running_server
from tests.test_alert_events import NOW, add_event
from tests.test_api_paging import next_link
from usage.api import create_api_app
from usage.audit import cli_actor
from usage.keys import create_key
from usage.models import AlertEvent

ALERTS = "/api/v1/alerts"
ITEM_KEYS = {"id", "bucket_id", "kind", "scope", "metric", "day", "severity", "summary",
             "details", "opened_at", "last_seen_at", "resolved_at"}  # fmt: skip
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def events(engine: Engine) -> dict[str, list[int]]:
    """acme-corp: 12 open events (4 at the same instant) and 3 resolved;
    globex: 5 open. Their ids by client, newest first."""
    with Session(engine) as session, session.begin():
        acme, globex = new_client(session, "acme-corp"), new_client(session, "globex")
        kinds = ["drop", "limit", "stopped", "growth"]
        opened = [NOW - HOUR * max(n - 3, 0) for n in range(12)]  # the first 4 together
        acme_open = [
            add_event(session, acme, kinds[n % 4], ["low", "medium", "high"][n % 3],
                      opened=at, day=dt.date(2026, 11, 1 + n),
                      details={"before": 100 * n, "previous_day": "2026-10-31"})
            for n, at in enumerate(opened)
        ]  # fmt: skip
        acme_resolved = [
            add_event(session, acme, "drop", "high", opened=NOW - HOUR * (30 + n),
                      resolved=NOW - HOUR * (20 + n))
            for n in range(3)
        ]  # fmt: skip
        globex_open = [
            add_event(session, globex, "disappeared", "medium", opened=NOW - HOUR * (5 + 2 * n))
            for n in range(5)
        ]
    newest_first = sorted(acme_open, key=lambda i: (opened[acme_open.index(i)], i), reverse=True)
    return {"acme_open": newest_first, "acme_resolved": acme_resolved, "globex_open": globex_open}


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    with Session(engine) as session, session.begin():
        return {
            "admin": create_key(session, "admin", admin=True, actor=cli_actor()),
            "acme": create_key(session, "acme", buckets=["acme-corp"], actor=cli_actor()),
        }


@pytest.fixture
def api(engine: Engine, keys: dict[str, str]) -> Iterator[ApiClient]:
    client = ApiClient(create_api_app(lambda: engine), {"X-API-Key": keys["admin"]})
    yield client
    client.close()


def ids(body: dict[str, Any]) -> list[int]:
    assert body["count"] == len(body["alerts"])
    return [item["id"] for item in body["alerts"]]


def every_page(api: ApiClient, params: dict[str, str], **kwargs: Any) -> list[dict[str, Any]]:
    """Every page, by the Link headers; each page's next_cursor is its link's."""
    pages = []
    response = api.get(ALERTS, params=params, **kwargs)
    while True:
        assert response.status_code == 200, response.text
        pages.append(response.json())
        link, cursor = next_link(response), pages[-1]["next_cursor"]
        if cursor is None:
            assert link is None
            return pages
        assert link is not None
        assert httpx.URL(link).params["cursor"] == cursor
        response = api.get(link, **kwargs)


def test_open_events_newest_first_with_their_fields(
    api: ApiClient, events: dict[str, list[int]]
) -> None:
    response = api.get(ALERTS, params={"bucket_id": "acme-corp"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"alerts", "count", "next_cursor"}
    assert ids(body) == events["acme_open"]
    assert body["next_cursor"] is None
    assert "link" not in response.headers
    assert response.headers["etag"]
    first = body["alerts"][-1]  # the oldest: opened 8 hours before NOW
    assert set(first) == ITEM_KEYS
    assert first["bucket_id"] == "acme-corp"
    assert first["opened_at"] == "2026-11-19T22:00:00Z"
    assert first["last_seen_at"] == "2026-11-19T22:00:00Z"
    assert first["resolved_at"] is None
    assert first["day"] == "2026-11-12"
    assert first["details"] == {"before": 1100, "previous_day": "2026-10-31"}
    assert (first["scope"], first["metric"]) == ("total", "total records")
    resolved = api.get(ALERTS, params={"status": "resolved"}).json()
    assert ids(resolved) == events["acme_resolved"]
    assert resolved["alerts"][0]["resolved_at"] == "2026-11-19T10:00:00Z"


def test_a_limited_key_sees_only_its_clients_events(
    engine: Engine, keys: dict[str, str], events: dict[str, list[int]]
) -> None:
    client = ApiClient(create_api_app(lambda: engine), {"X-API-Key": keys["acme"]})
    try:
        every = client.get(ALERTS, params={"status": "all", "limit": "1000"}).json()
        assert set(ids(every)) == {*events["acme_open"], *events["acme_resolved"]}
        assert every["count"] == 15
        assert {item["bucket_id"] for item in every["alerts"]} == {"acme-corp"}
        # Another client's events: an empty list, as an unknown client's.
        for bucket in ("globex", "nobody"):
            other = client.get(ALERTS, params={"bucket_id": bucket, "status": "all"})
            assert other.status_code == 200
            assert other.json() == {"alerts": [], "count": 0, "next_cursor": None}
        pages = every_page(client, {"limit": "5", "kind": "drop"})
        assert {item["bucket_id"] for page in pages for item in page["alerts"]} == {"acme-corp"}
    finally:
        client.close()


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"kind": "disappeared"}, lambda item: item["kind"] == "disappeared"),
        ({"kind": "drop", "status": "all"}, lambda item: item["kind"] == "drop"),
        ({"severity": "medium"}, lambda item: item["severity"] in ("medium", "high")),
        ({"severity": "high", "status": "all"}, lambda item: item["severity"] == "high"),
        ({"status": "resolved"}, lambda item: item["resolved_at"] is not None),
        ({"bucket_id": "globex"}, lambda item: item["bucket_id"] == "globex"),
    ],
)  # fmt: skip
def test_filters_keep_exactly_the_matching_events(
    api: ApiClient, events: dict[str, list[int]], params: dict[str, str], check: Any
) -> None:
    status = params.get("status", "open")
    every = api.get(ALERTS, params={"status": "all", "limit": "1000"}).json()["alerts"]
    assert len(every) == 20
    wanted = [
        item["id"] for item in every
        if check(item) and (status == "all" or (item["resolved_at"] is None) == (status == "open"))
    ]  # fmt: skip
    assert wanted
    assert ids(api.get(ALERTS, params={**params, "limit": "1000"}).json()) == wanted


@pytest.mark.parametrize("params", [{}, {"status": "all"}, {"severity": "medium"}])
def test_pages_follow_each_other_without_repeats(
    api: ApiClient, events: dict[str, list[int]], params: dict[str, str]
) -> None:
    whole = ids(api.get(ALERTS, params={**params, "limit": "1000"}).json())
    pages = every_page(api, {**params, "limit": "3"})
    assert [page["count"] for page in pages[:-1]] == [3] * (len(pages) - 1)
    assert [i for page in pages for i in ids(page)] == whole


def test_an_event_resolved_between_pages_skips_nothing(
    engine: Engine, api: ApiClient, events: dict[str, list[int]]
) -> None:
    params = {"bucket_id": "acme-corp", "limit": "5"}
    first = api.get(ALERTS, params=params).json()
    assert ids(first) == events["acme_open"][:5]
    with Session(engine) as session, session.begin():
        gone = events["acme_open"][2]
        session.execute(update(AlertEvent).where(AlertEvent.id == gone).values(resolved_at=NOW))
    rest = every_page(api, {**params, "cursor": first["next_cursor"]})
    assert [i for page in rest for i in ids(page)] == events["acme_open"][5:]


@pytest.mark.parametrize(
    ("changed", "value"),
    [("status", "all"), ("kind", "drop"), ("severity", "low"), ("bucket_id", "globex")],
)
def test_a_cursor_is_refused_with_other_filters(
    api: ApiClient, events: dict[str, list[int]], changed: str, value: str
) -> None:
    cursor = api.get(ALERTS, params={"limit": "2"}).json()["next_cursor"]
    assert cursor
    response = api.get(ALERTS, params={"limit": "2", "cursor": cursor, changed: value})
    assert response.status_code == 400
    assert response.json()["error"] == (
        "cursor must be the cursor returned by the previous page, with the same status, kind,"
        " severity and bucket_id"
    )
    assert api.get(ALERTS, params={"limit": "2", "cursor": cursor}).status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": "closed"}, "status must be one of: open, resolved, all"),
        ({"kind": "loss"}, "kind must be one of: limit, drop, disappeared, stopped, growth"),
        ({"severity": "critical"}, "severity must be one of: low, medium, high"),
        ({"bucket_id": "a/b"},
         "bucket_id must be 1 to 64 characters of letters, digits, '-' or '_'"),
        ({"limit": "0"}, "limit must be an integer from 1 to 1000"),
        ({"cursor": "x" * 600}, "cursor must be the cursor returned by the previous page"),
        ({"cursor": "bm90LWEtY3Vyc29y"},
         "cursor must be the cursor returned by the previous page, unchanged"),
        ({"client": "acme-corp"},
         "unknown query parameter 'client'; expected: bucket_id, cursor, kind, limit, severity,"
         " status"),
    ],
)  # fmt: skip
def test_bad_parameters_are_400s_naming_them(
    api: ApiClient, events: dict[str, list[int]], params: dict[str, str], message: str
) -> None:
    response = api.get(ALERTS, params=params)
    assert response.status_code == 400
    assert response.json()["error"] == message


def test_no_key_is_a_401(engine: Engine, events: dict[str, list[int]]) -> None:
    client = ApiClient(create_api_app(lambda: engine))
    try:
        assert client.get(ALERTS).status_code == 401
    finally:
        client.close()


def test_the_real_server_answers_alerts_per_key(
    engine: Engine, database_url: str, keys: dict[str, str], events: dict[str, list[int]]
) -> None:
    with running_server(database_url) as base, httpx.Client(base_url=base) as http:
        admin = http.get(ALERTS, params={"limit": "10"}, headers={"X-API-Key": keys["admin"]})
        assert admin.status_code == 200
        assert admin.json()["count"] == 10
        assert 'rel="next"' in admin.headers["link"]
        limited = http.get(ALERTS, params={"limit": "1000"}, headers={"X-API-Key": keys["acme"]})
        assert ids(limited.json()) == events["acme_open"]
        index = http.get("/api/v1/").json()
        assert {"method": "GET", "path": ALERTS, "summary": "Alert events: open, resolved or both",
                "needs_key": True} in index["endpoints"]  # fmt: skip
