"""Paging past ``limit``: ``next_cursor`` and ``Link: <...>; rel="next"`` on
history (by day, week and month), the snapshots of a date and the clients,
with snapshots written between the pages and while they are read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.api_client import ApiClient
from tests.factories import days, new_client, replacing_in_turn, snapshot
from usage.api import create_api_app
from usage.audit import cli_actor
from usage.keys import create_key
from usage.snapshots import insert_snapshots, replace_snapshot

FIRST = dt.date(2024, 1, 1)  # a Monday
COUNT = 75  # 2024-01-01 to 2024-03-15: 11 weeks, 3 months
HISTORY = "/api/v1/clients/acme-corp/history"


@pytest.fixture
def client_ids(engine: Engine) -> dict[str, int]:
    """acme-corp: every day of COUNT but the 10th; globex: the first 5 days."""
    with Session(engine) as session, session.begin():
        acme = new_client(session, "acme-corp")
        every = enumerate(days(FIRST, COUNT, skip=[9]))
        insert_snapshots(session, [(acme, snapshot(day, scale=i + 1)) for i, day in every])
        globex = new_client(session, "globex")
        insert_snapshots(session, [(globex, snapshot(day)) for day in days(FIRST, 5)])
        for name in ("b-one", "b-two", "b-three"):
            insert_snapshots(session, [(new_client(session, name), snapshot(FIRST))])
        return {"acme-corp": acme, "globex": globex}


@pytest.fixture
def api(engine: Engine, client_ids: dict[str, int]) -> Iterator[ApiClient]:
    with Session(engine) as session, session.begin():
        key = create_key(session, "admin", admin=True, actor=cli_actor())
    client = ApiClient(create_api_app(lambda: engine), {"X-API-Key": key})
    yield client
    client.close()


def next_link(response: httpx.Response) -> str | None:
    link = response.links.get("next")
    return None if link is None else str(link["url"])


def every_page(api: ApiClient, url: str, params: dict[str, str]) -> list[dict[str, Any]]:
    """The bodies of every page, first to last, by the Link headers; each
    page's ``next_cursor`` must be in its link."""
    pages = []
    response = api.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        link = next_link(response)
        cursor = body.get("next_cursor", body.get("cursor"))
        if cursor is None:
            assert link is None
            return pages
        assert link is not None
        assert httpx.URL(link).params["cursor"] == cursor
        response = api.get(link)


def items(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [item for page in pages for item in page["snapshots"]]
    assert [page["count"] for page in pages] == [len(page["snapshots"]) for page in pages]
    return found


@pytest.mark.parametrize(
    ("granularity", "limit", "pages"),
    [("day", 10, 8), ("day", 74, 1), ("day", 73, 2), ("week", 3, 4), ("week", 11, 1),
     ("month", 1, 3), ("month", 2, 2)],
)  # fmt: skip
def test_history_pages_are_the_whole_history_cut_in_order(
    api: ApiClient, granularity: str, limit: int, pages: int
) -> None:
    whole = api.get(HISTORY, params={"granularity": granularity, "limit": "1000",
                                     "end_date": "2024-03-31"}).json()  # fmt: skip
    assert whole["next_cursor"] is None
    found = every_page(api, HISTORY, {"granularity": granularity, "limit": str(limit),
                                      "end_date": "2024-03-31"})  # fmt: skip
    assert len(found) == pages
    assert all(page["count"] == limit for page in found[:-1])
    assert items(found) == whole["snapshots"]
    shown = [item["snapshot_date"] for item in whole["snapshots"]]
    assert shown == sorted(shown, reverse=True)


def test_the_link_keeps_the_other_parameters(api: ApiClient) -> None:
    params = {"start_date": "2024-01-15", "end_date": "2024-03-01", "limit": "5",
              "granularity": "week"}  # fmt: skip
    response = api.get(HISTORY, params=params)
    link = httpx.URL(next_link(response) or "")
    assert (link.scheme, link.host, link.path) == ("http", "testserver", HISTORY)
    assert {name: link.params[name] for name in params} == params
    assert link.params["cursor"] == response.json()["next_cursor"]
    csv = api.get(HISTORY, params={**params, "format": "csv"})
    assert httpx.URL(next_link(csv) or "").params["format"] == "csv"
    assert httpx.URL(next_link(csv) or "").params["cursor"] == link.params["cursor"]


def test_the_last_page_has_a_null_cursor_and_no_link(api: ApiClient) -> None:
    response = api.get(HISTORY, params={"start_date": "2024-03-10"})
    assert response.json()["next_cursor"] is None
    assert "link" not in response.headers
    assert [s["snapshot_date"] for s in response.json()["snapshots"]][-1] == "2024-03-10"


def test_pages_neither_skip_nor_repeat_when_snapshots_are_written_between_them(
    api: ApiClient, engine: Engine, client_ids: dict[str, int]
) -> None:
    """After each page: a new newest day, the page's last day and the next
    page's first day written again (other values)."""
    acme = client_ids["acme-corp"]
    before = [s["snapshot_date"] for s in api.get(HISTORY, params={"limit": "1000"}).json()[
        "snapshots"]]  # fmt: skip
    seen: list[str] = []
    newest = FIRST + dt.timedelta(days=COUNT)
    response = api.get(HISTORY, params={"limit": "9"})
    while True:
        body = response.json()
        page = [s["snapshot_date"] for s in body["snapshots"]]
        seen += page
        with Session(engine) as session, session.begin():
            insert_snapshots(session, [(acme, snapshot(newest, scale=999))])
            replace_snapshot(session, acme, snapshot(dt.date.fromisoformat(page[-1]), scale=7))
            following = dt.date.fromisoformat(page[-1]) - dt.timedelta(days=1)
            if following.isoformat() in before:
                replace_snapshot(session, acme, snapshot(following, scale=7))
        newest += dt.timedelta(days=1)
        if body["next_cursor"] is None:
            break
        response = api.get(HISTORY, params={"limit": "9", "cursor": body["next_cursor"]})
    assert seen == before


@pytest.mark.parametrize("granularity", ["day", "week"])
def test_pages_neither_skip_nor_repeat_while_a_day_is_written_again_and_again(
    api: ApiClient, engine: Engine, client_ids: dict[str, int], granularity: str
) -> None:
    """A writer replaces one day in a loop, in transactions of its own, while
    the pages are read: the pages still hold every day (period) once."""
    busy = FIRST + dt.timedelta(days=40)
    versions = [snapshot(busy, scale=scale) for scale in (3, 30, 300)]
    params = {"granularity": granularity, "end_date": "2024-03-31"}
    whole = api.get(HISTORY, params={**params, "limit": "1000"}).json()["snapshots"]
    with replacing_in_turn(engine, client_ids["acme-corp"], versions):
        found = items(every_page(api, HISTORY, {**params, "limit": "4"}))
    assert [s["snapshot_date"] for s in found] == [s["snapshot_date"] for s in whole]
    # Whichever version a page read, it read one whole.
    for item in found:
        records = item["records"]
        assert records["total"] == sum(v for k, v in records.items() if k != "total")


@pytest.mark.parametrize(
    ("made_for", "used_with"),
    [
        ({"granularity": "day"}, {"granularity": "week"}),
        ({"granularity": "week"}, {"granularity": "month"}),
        ({}, {"path": "/api/v1/clients/globex/history"}),
        ({"path": "/api/v1/clients"}, {}),
        ({"path": "/api/v1/snapshots/2024-01-01"}, {}),
        # The clients' and a date's cursors hold their listing too.
        ({}, {"path": "/api/v1/clients"}),
        ({}, {"path": "/api/v1/snapshots/2024-01-01"}),
        ({"path": "/api/v1/clients"}, {"path": "/api/v1/snapshots/2024-01-01"}),
        ({"path": "/api/v1/snapshots/2024-01-01"}, {"path": "/api/v1/clients"}),
        ({"path": "/api/v1/snapshots/2024-01-01"}, {"path": "/api/v1/snapshots/2024-01-02"}),
        ({"path": "/api/v1/clients"}, {"path": "/api/v1/clients", "status": "active"}),
    ],
)
def test_a_cursor_is_valid_for_its_own_listing_only(
    api: ApiClient, made_for: dict[str, str], used_with: dict[str, str]
) -> None:
    made, used = dict(made_for), dict(used_with)
    body = api.get(made.pop("path", HISTORY), params={"limit": "2", **made}).json()
    cursor = body.get("next_cursor", body.get("cursor"))
    response = api.get(used.pop("path", HISTORY), params={**used, "cursor": cursor})
    assert response.status_code == 400
    assert response.json()["error"] == (
        "cursor must be the cursor returned by the previous page, unchanged"
    )


def test_a_month_page_continues_with_the_months_before(api: ApiClient) -> None:
    first = api.get(HISTORY, params={"granularity": "month", "limit": "1",
                                     "end_date": "2024-03-31"})  # fmt: skip
    (march,) = first.json()["snapshots"]
    assert march["period"] == {"start": "2024-03-01", "end": "2024-03-31", "partial": False}
    assert march["snapshot_date"] == "2024-03-15"  # its last day with a snapshot
    cursor = first.json()["next_cursor"]
    rest = api.get(HISTORY, params={"granularity": "month", "end_date": "2024-03-31",
                                    "cursor": cursor}).json()["snapshots"]  # fmt: skip
    assert [(s["period"]["start"], s["snapshot_date"]) for s in rest] == [
        ("2024-02-01", "2024-02-29"), ("2024-01-01", "2024-01-31")]  # fmt: skip


def test_snapshots_of_a_date_page_with_a_link(api: ApiClient) -> None:
    found = every_page(api, "/api/v1/snapshots/2024-01-01", {"limit": "2"})
    assert len(found) == 3
    assert [s["bucket_id"] for s in items(found)] == [
        "acme-corp", "b-one", "b-three", "b-two", "globex"]  # fmt: skip


def test_clients_page_with_a_link(api: ApiClient) -> None:
    pages = []
    response = api.get("/api/v1/clients", params={"limit": "2"})
    while True:
        pages.append(response.json())
        link = next_link(response)
        if link is None:
            break
        assert httpx.URL(link).params["cursor"] == pages[-1]["cursor"]
        response = api.get(link)
    assert pages[-1]["cursor"] is None
    assert [c["bucket_id"] for page in pages for c in page["clients"]] == [
        "acme-corp", "b-one", "b-three", "b-two", "globex"]  # fmt: skip
