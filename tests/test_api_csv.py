"""CSV: ``format=csv`` and ``Accept: text/csv`` on history and the snapshots of
a date, the same numbers as the JSON, the same bytes as the dashboard's CSV
downloads (one function, ``usage.table``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.api_client import ApiClient
from tests.factories import snapshot_of_total as snapshot
from tests.factories import store
from tests.test_client_page import open_client, shop
from tests.test_pages import open_page
from usage.api import create_api_app
from usage.audit import cli_actor
from usage.keys import create_key
from usage.models import STANDARD_COLLECTIONS
from usage.table import Table, day_table, history_table, write_csv

__all__ = ["shop"]  # a fixture of the client page's tests, used here

D = dt.date
MARCH = D(2024, 3, 1)


def key_for(engine: Engine) -> str:
    with Session(engine) as session, session.begin():
        return create_key(session, "csv", admin=True, actor=cli_actor())


@pytest.fixture
def api(shop: Engine) -> Iterator[ApiClient]:
    client = ApiClient(create_api_app(lambda: shop), {"X-API-Key": key_for(shop)})
    yield client
    client.close()


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def expected_csv(items: list[dict[str, Any]], leading: list[dict[str, str]]) -> str:
    """The CSV the contract describes for these JSON items: the leading
    columns, the total, every collection of the page (the six standard ones,
    then the others by name), objects and bytes, every prefix of the page by
    name (0 where an item has none), the time."""
    extras = sorted({name for item in items for name in item["records"]} - {"total"}
                    - set(STANDARD_COLLECTIONS))  # fmt: skip
    prefixes = sorted({prefix for item in items for prefix in item["storage"]["by_prefix"]})
    lines = []
    for item, head in zip(items, leading, strict=True):
        row = {**head, "total records": item["records"]["total"]}
        row.update({name: item["records"].get(name, 0)
                    for name in [*STANDARD_COLLECTIONS, *extras]})  # fmt: skip
        row.update({"objects": item["storage"]["object_count"],
                    "storage bytes": item["storage"]["total_bytes"]})  # fmt: skip
        for prefix in prefixes:
            entry = item["storage"]["by_prefix"].get(prefix, {"count": 0, "bytes": 0})
            row.update({f"{prefix} objects": entry["count"], f"{prefix} bytes": entry["bytes"]})
        row["computed at"] = item["computed_at"]
        lines.append(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(lines[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(lines)
    return out.getvalue()


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_history_csv_holds_the_json_numbers(api: ApiClient, granularity: str) -> None:
    params = {"start_date": "2024-03-01", "end_date": "2024-03-12", "granularity": granularity,
              "limit": "1000"}  # fmt: skip
    for bucket in ("acme", "other"):
        url = f"/api/v1/clients/{bucket}/history"
        items = api.get(url, params=params).json()["snapshots"]
        response = api.get(url, params={**params, "format": "csv"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert len(rows(response.text)) == len(items) > 0
        if granularity == "day":
            leading = [{"date": item["snapshot_date"]} for item in items]
        else:
            labels = [row["period"] for row in rows(response.text)]
            leading = [{"period": label, "from": item["period"]["start"],
                        "to": item["period"]["end"], "partial": str(item["period"]["partial"]),
                        "snapshot date": item["snapshot_date"]}
                       for label, item in zip(labels, items, strict=True)]  # fmt: skip
        assert response.text == expected_csv(items, leading)


def test_snapshots_csv_holds_the_json_numbers(api: ApiClient) -> None:
    items = api.get("/api/v1/snapshots/2024-03-09").json()["snapshots"]
    text = api.get("/api/v1/snapshots/2024-03-09", params={"format": "csv"}).text
    assert [item["bucket_id"] for item in items] == ["acme", "other"]
    assert text == expected_csv(items, [{"bucket": item["bucket_id"]} for item in items])


def test_columns_are_the_union_of_the_rows_in_a_stable_order() -> None:
    a = {
        "bucket_id": "a",
        "snapshot_date": "2024-03-02",
        "computed_at": "2024-03-02T02:00:00Z",
        "records": {**dict.fromkeys(STANDARD_COLLECTIONS, 1), "zeta": 4, "total": 10},
        "storage": {
            "object_count": 3,
            "total_bytes": 30,
            "by_prefix": {"images/": {"count": 3, "bytes": 30}},
        },
    }
    b = {"bucket_id": "b", "snapshot_date": "2024-03-01", "computed_at": "2024-03-01T02:00:00Z",
         "records": {**dict.fromkeys(STANDARD_COLLECTIONS, 2), "alpha": 1, "objects": 5,
                     "total": 18},
         "storage": {"object_count": 1, "total_bytes": 7,
                     "by_prefix": {"(root)": {"count": 1, "bytes": 7}}}}  # fmt: skip
    table = day_table([a, b])
    assert list(table) == [
        "bucket", "total records", *STANDARD_COLLECTIONS, "alpha", "objects (collection)",
        "zeta", "objects", "storage bytes", "(root) objects", "(root) bytes", "images/ objects",
        "images/ bytes", "computed at",
    ]  # fmt: skip
    assert table["zeta"] == [4, 0]
    assert table["objects (collection)"] == [0, 5]
    assert table["objects"] == [3, 1]
    assert table["images/ bytes"] == [30, 0]
    assert list(history_table([b, a])) == ["date", *list(table)[1:]]
    assert list(day_table([a], {"a": "Ay, Inc."})) == [
        "bucket",
        "client",
        *list(day_table([a]))[1:],
    ]


def test_the_csv_is_written_as_pandas_writes_it() -> None:
    table: Table = {"name": ["plain", 'a "quoted", name', "two\nlines"], "count": [1, 0, 12],
             "partial": [True, False, True]}  # fmt: skip
    assert write_csv(table) == pd.DataFrame(table).to_csv(index=False)
    assert write_csv({"date": [], "total records": []}) == "date,total records\n"


@pytest.mark.parametrize(
    ("accept", "query", "csv_wanted"),
    [
        (None, "", False),
        ("text/csv", "", True),
        ("text/csv; charset=utf-8", "", True),
        ("application/json", "", False),
        ("*/*", "", False),
        ("text/html, text/csv;q=0.9, application/json;q=0.5", "", True),
        ("text/csv;q=0.5, application/json", "", False),
        ("text/csv, application/json", "", False),  # a tie: the default
        ("text/*", "", True),
        ("text/csv", "format=json", False),
        ("application/json", "format=csv", True),
        (None, "format=csv", True),
    ],
)
def test_accept_asks_for_csv_unless_format_says_otherwise(
    api: ApiClient, accept: str | None, query: str, csv_wanted: bool
) -> None:
    headers = {} if accept is None else {"Accept": accept}
    for url in ("/api/v1/clients/acme/history", "/api/v1/snapshots/2024-03-09"):
        response = api.get(f"{url}?{query}", headers=headers)
        assert response.status_code == 200
        assert "Accept" in response.headers["vary"].split(", ")
        wanted = "text/csv; charset=utf-8" if csv_wanted else "application/json"
        assert response.headers["content-type"] == wanted


def test_a_known_client_with_nothing_in_the_range_is_a_header_alone(api: ApiClient) -> None:
    response = api.get("/api/v1/clients/newco/history", params={"format": "csv"})
    assert response.status_code == 200
    assert response.text == write_csv(history_table([]))
    assert response.text.startswith("date,total records,person,")


@pytest.mark.parametrize(
    ("granularity", "name"),
    [("day", "acme_2024-03-01_2024-03-12.csv"), ("week", "acme_2024-03-01_2024-03-12_by_week.csv"),
     ("month", "acme_2024-03-01_2024-03-12_by_month.csv")],
)  # fmt: skip
def test_the_client_pages_csv_download_is_the_apis_csv(
    api: ApiClient, downloads: dict[str, bytes], granularity: str, name: str
) -> None:
    open_client(bucket="acme", start="2024-03-01", end="2024-03-12", granularity=granularity)
    response = api.get(
        "/api/v1/clients/acme/history",
        params={"start_date": "2024-03-01", "end_date": "2024-03-12",
                "granularity": granularity, "format": "csv"},
    )  # fmt: skip
    assert downloads[name] == response.content
    assert b"documents/ bytes" in response.content


def test_the_daily_snapshot_pages_csv_download_is_the_apis_with_names(
    api: ApiClient, downloads: dict[str, bytes]
) -> None:
    open_page("snapshots", date="2024-03-09")
    page = rows(downloads["snapshots_2024-03-09.csv"].decode())
    assert [row.pop("client") for row in page] == ["Acme", "Other"]
    got = api.get("/api/v1/snapshots/2024-03-09", params={"format": "csv"})
    assert page == rows(got.text)
    assert list(page[0]) == next(csv.reader(io.StringIO(got.text)))


def test_the_daily_snapshot_pages_json_download_is_the_apis_answer(
    api: ApiClient, downloads: dict[str, bytes]
) -> None:
    """The day's JSON download: ``GET /api/v1/snapshots/{date}`` as one page
    holding every client (kept packed with the page's tables, unpacked on
    the click)."""
    open_page("snapshots", date="2024-03-09")
    got = api.get("/api/v1/snapshots/2024-03-09")
    assert got.json()["cursor"] is None  # every client in one page of the API too
    assert json.loads(downloads["snapshots_2024-03-09.json"]) == got.json()
    assert got.json()["count"] == 2


def test_extra_collections_and_prefixes_of_some_rows_only(engine: Engine) -> None:
    store(engine, "mixed", [
        snapshot(MARCH, 100, extra={"event": 5}, prefixes={"docs/": (1, 10)}),
        snapshot(MARCH + dt.timedelta(days=1), 200, prefixes={"img/": (2, 20)}),
    ])  # fmt: skip
    client = ApiClient(create_api_app(lambda: engine), {"X-API-Key": key_for(engine)})
    try:
        text = client.get("/api/v1/clients/mixed/history", params={"format": "csv"}).text
    finally:
        client.close()
    found = rows(text)
    assert [(r["date"], r["event"], r["docs/ bytes"], r["img/ bytes"]) for r in found] == [
        ("2024-03-02", "0", "0", "20"), ("2024-03-01", "5", "10", "0")]  # fmt: skip
