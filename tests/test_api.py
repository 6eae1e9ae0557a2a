"""The Usage API v1 in process: every status code and every rule of the contract."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.api_client import ApiClient
from tests.factories import add_days, day, new_client, snapshot
from usage.api import _is_api_path, create_api_app
from usage.audit import cli_actor
from usage.keys import create_key, revoke_key
from usage.models import Client
from usage.openapi import build_openapi
from usage.snapshots import insert_snapshots

HISTORY = "/api/v1/clients/acme-corp/history"


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    """A small portfolio and one key of each kind."""
    with Session(engine) as session, session.begin():
        add_days(session, new_client(session, "acme-corp"), [day(i) for i in range(10)])
        add_days(session, new_client(session, "globex", "trial"), [day(0), day(1)])
        new_client(session, "empty-co", "inactive")
        for name in ("b-one", "b-two", "b-three"):
            new_client(session, name)
        made = {
            "admin": create_key(session, "admin", admin=True, actor=cli_actor()),
            "acme": create_key(
                session, "acme-only", buckets=["acme-corp", "empty-co"], actor=cli_actor()
            ),
            "revoked": create_key(session, "old", admin=True, actor=cli_actor()),
        }
        revoke_key(session, "old", actor=cli_actor())
    return made


@pytest.fixture
def api(engine: Engine, keys: dict[str, str]) -> Iterator[ApiClient]:
    client = ApiClient(create_api_app(lambda: engine), {"X-API-Key": keys["admin"]})
    yield client
    client.close()


SCHEMA = build_openapi()


def conforms(body: Any, schema_name: str) -> None:
    """Validate against a component of the served OpenAPI document."""
    resolver_schema = {"$ref": f"#/components/schemas/{schema_name}", **SCHEMA}
    jsonschema.validate(body, resolver_schema, format_checker=jsonschema.FormatChecker())


def is_error(response: Any, status: int, message: str | None = None) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) - {"retry_after"} == {"error", "request_id"}
    assert body["request_id"] == response.headers["x-request-id"]
    if message is not None:
        assert body["error"] == message
    conforms(body, "Error")
    return body


def test_history_newest_first_with_count(api: ApiClient) -> None:
    response = api.get(HISTORY, params={"limit": "3"})
    assert response.status_code == 200
    body = response.json()
    conforms(body, "History")
    assert body["count"] == 3
    assert [s["snapshot_date"] for s in body["snapshots"]] == [
        "2024-01-10",
        "2024-01-09",
        "2024-01-08",
    ]


def test_history_default_limit_and_inclusive_range(api: ApiClient) -> None:
    assert api.get(HISTORY).json()["count"] == 10
    body = api.get(HISTORY, params={"start_date": "2024-01-03", "end_date": "2024-01-05"}).json()
    assert [s["snapshot_date"] for s in body["snapshots"]] == [
        "2024-01-05",
        "2024-01-04",
        "2024-01-03",
    ]


def test_each_request_sees_what_was_written_before_it(api: ApiClient, engine: Engine) -> None:
    """On SQLite the API keeps one connection from request to request: it
    must hold no read transaction open between them."""
    first = api.get(HISTORY, params={"limit": "1000"}).json()
    api.get("/api/v1/clients/nobody/history")  # an error in between keeps nothing open
    with Session(engine) as session, session.begin():
        client_id = session.scalar(select(Client.id).where(Client.bucket_id == "acme-corp"))
        assert client_id is not None
        insert_snapshots(session, [(client_id, snapshot(day(10)))])
    second = api.get(HISTORY, params={"limit": "1000"}).json()
    assert second["count"] == first["count"] + 1
    assert second["snapshots"][0]["snapshot_date"] == day(10).isoformat()


def test_known_client_with_nothing_in_range_is_empty_200(api: ApiClient) -> None:
    response = api.get("/api/v1/clients/empty-co/history")
    assert response.status_code == 200
    assert response.json() == {"snapshots": [], "count": 0, "next_cursor": None}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (HISTORY + "?limit=0", "limit must be an integer from 1 to 1000"),
        (HISTORY + "?limit=1001", "limit must be an integer from 1 to 1000"),
        (HISTORY + "?limit=abc", "limit must be an integer from 1 to 1000"),
        (HISTORY + "?start_date=2024-02-30",
         "start_date must be a real calendar date in YYYY-MM-DD format"),
        (HISTORY + "?end_date=2024-1-1", "end_date must be a date in YYYY-MM-DD format"),
        (HISTORY + "?start_date=2024-01-05&end_date=2024-01-04",
         "start_date must be on or before end_date"),
        (HISTORY + "?from=2024-01-01", "unknown query parameter 'from'; expected: cursor,"
                                       " end_date, format, granularity, limit, start_date"),
        ("/api/v1/clients/bad.bucket/history",
         "bucket_id must be 1 to 64 characters of letters, digits, '-' or '_'"),
        ("/api/v1/clients/" + "x" * 65, "bucket_id must be 1 to 64 characters of letters,"
                                        " digits, '-' or '_'"),
        ("/api/v1/clients?status=gone",
         "status must be one of: active, inactive, suspended, trial"),
        ("/api/v1/clients?cursor=tampered",
         "cursor must be the cursor returned by the previous page, unchanged"),
        ("/api/v1/snapshots/2024-13-01", "date must be a real calendar date in YYYY-MM-DD format"),
        ("/api/v1/snapshots/2024-01-01?limit=-3", "limit must be an integer from 1 to 1000"),
        ("/api/v1/clients/acme-corp?verbose=1",
         "unknown query parameter 'verbose'; expected: none"),
        # A parameter without a name, with and without an escape in the query.
        (HISTORY + "?=5", "a query parameter has no name ('=' first); expected: cursor,"
                          " end_date, format, granularity, limit, start_date"),
        (HISTORY + "?limit=5&=a%20b", "a query parameter has no name ('=' first); expected:"
                                      " cursor, end_date, format, granularity, limit, start_date"),
        ("/api/v1/clients?=", "a query parameter has no name ('=' first); expected: cursor,"
                              " limit, status"),
        # Two of them: no name, rather than one name given twice.
        ("/api/v1/clients?=1&=2", "a query parameter has no name ('=' first); expected: cursor,"
                                  " limit, status"),
        (HISTORY + "?=1&limit=5&=a%20b", "a query parameter has no name ('=' first); expected:"
                                         " cursor, end_date, format, granularity, limit,"
                                         " start_date"),
    ],
)  # fmt: skip
def test_bad_parameters_are_400_naming_the_parameter(
    api: ApiClient, url: str, message: str
) -> None:
    is_error(api.get(url), 400, message)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing API key: send it in the X-API-Key header"),
        ({"X-API-Key": "nonsense"}, "invalid API key"),
        ({"X-API-Key": "usk_0000000000000000_wrong"}, "invalid API key"),
    ],
)
def test_missing_or_invalid_key_is_401(
    engine: Engine, keys: dict[str, str], headers: dict[str, str], message: str
) -> None:
    client = ApiClient(create_api_app(lambda: engine), headers)
    try:
        for url in (HISTORY, "/api/v1/clients", "/api/v1/snapshots/2024-01-01"):
            is_error(client.get(url), 401, message)
    finally:
        client.close()


def test_revoked_and_altered_keys_are_401(api: ApiClient, keys: dict[str, str]) -> None:
    is_error(api.get(HISTORY, headers={"X-API-Key": keys["revoked"]}), 401, "invalid API key")
    altered = keys["admin"][:-1] + ("A" if keys["admin"][-1] != "A" else "B")
    is_error(api.get(HISTORY, headers={"X-API-Key": altered}), 401, "invalid API key")


def test_limited_key_sees_other_buckets_as_unknown(api: ApiClient, keys: dict[str, str]) -> None:
    limited = {"X-API-Key": keys["acme"]}
    assert api.get(HISTORY, headers=limited).status_code == 200
    hidden = api.get("/api/v1/clients/globex/history", headers=limited)
    unknown = api.get("/api/v1/clients/nobody-here/history", headers=limited)
    is_error(hidden, 404, "client 'globex' not found")
    is_error(unknown, 404, "client 'nobody-here' not found")
    is_error(api.get("/api/v1/clients/globex", headers=limited), 404, "client 'globex' not found")
    listed = api.get("/api/v1/clients", headers=limited).json()
    assert [c["bucket_id"] for c in listed["clients"]] == ["acme-corp", "empty-co"]
    day_page = api.get("/api/v1/snapshots/2024-01-01", headers=limited).json()
    assert [s["bucket_id"] for s in day_page["snapshots"]] == ["acme-corp"]


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/api/v1/nothing"),
        ("GET", "/api/v2/clients"),
        ("POST", "/api/unknown/deeper/path"),
        ("GET", "/api/v1/clients/acme-corp/history/extra"),
        ("GET", "/api/v1/openapi.json/"),
    ],
)
def test_unknown_api_path_is_json_404(api: ApiClient, method: str, url: str) -> None:
    body = is_error(api.request(method, url), 404)
    assert body["error"].startswith("no such path: /api/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/API/v1/clients", "no such path: /API/v1/clients; did you mean /api/v1/clients?"
                            " (the API's paths are lower case)"),
        ("/api/V1/openapi.json", "no such path: /api/V1/openapi.json; did you mean"
                                 " /api/v1/openapi.json? (the API's paths are lower case)"),
        # A bucket id keeps its case: only the API's own words are lowered.
        ("/API/v1/clients/Acme-1/History", "no such path: /API/v1/clients/Acme-1/History; did"
         " you mean /api/v1/clients/Acme-1/history? (the API's paths are lower case)"),
        ("/API/v1/nothing", "no such path: /API/v1/nothing"),  # no endpoint in any case
    ],
)  # fmt: skip
def test_a_path_in_the_wrong_case_is_told_the_right_one(
    api: ApiClient, url: str, message: str
) -> None:
    assert is_error(api.get(url), 404)["error"] == message


@pytest.mark.parametrize(
    ("path", "raw", "to_the_api"),
    [
        ("/api/v1/clients", b"/api/v1/clients", True),
        ("/API/v1/clients", b"/API/v1/clients", True),
        ("/API/v1/clients", b"/%41PI/v1/clients", True),  # decoded, in any case
        ("/Api", b"/Api", True),
        ("/api", b"/api", True),
        ("/apiary", b"/apiary", False),
        ("/api-keys", b"/api-keys", False),
        ("/client", b"/client", False),
        ("/_stcore/health", b"/_stcore/health", False),
    ],
)  # fmt: skip
def test_the_lane_sends_every_case_of_api_to_the_api(
    path: str, raw: bytes, to_the_api: bool
) -> None:
    assert _is_api_path({"type": "http", "path": path, "raw_path": raw}) is to_the_api


@pytest.mark.parametrize("url", ["/api/v1/", "/api/v1", "/api/", "/api"])
def test_the_index_lists_every_endpoint_without_a_key(engine: Engine, url: str) -> None:
    client = ApiClient(create_api_app(lambda: engine))
    try:
        response = client.get(url)
        bad = client.get(url, params={"x": "1"})
    finally:
        client.close()
    assert response.status_code == 200
    index = response.json()
    conforms(index, "Index")
    assert index["openapi"] == "/api/v1/openapi.json"
    listed = {(e["method"], e["path"]): e["needs_key"] for e in index["endpoints"]}
    document = build_openapi()
    assert set(listed) == {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    assert listed[("GET", "/api/v1/clients/{bucket_id}/history")] is True
    assert listed[("GET", "/api/v1/openapi.json")] is False
    is_error(bad, 400, "unknown query parameter 'x'; expected: none")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_json_405(api: ApiClient, method: str) -> None:
    response = api.request(method, HISTORY)
    is_error(response, 405, "method not allowed")
    assert "GET" in response.headers["allow"]


MALFORMED_PATH = (
    "bad request: the path must not hold a '.' or '..' or empty segment, a backslash, a NUL"
    " or an encoded slash (%2F); no bucket_id or date has one"
)


@pytest.mark.parametrize(
    "url",
    ["/api/v1/clients/%2E%2E/clients", "/api/v1/clients/%2E/acme-corp", "/api//v1/clients",
     "/api/v1/clients/acme%5Ccorp/history", "/api/v1/clients/acme%00/history"],
)  # fmt: skip
def test_a_path_with_dot_or_empty_segments_is_json_400(api: ApiClient, url: str) -> None:
    """Percent-encoded here, as httpx would resolve dot segments; the path
    the server routes on is decoded."""
    is_error(api.get(url), 400, MALFORMED_PATH)


@pytest.mark.parametrize(
    "url", ["/api/v1/clients/acme-corp%2Fhistory", "/api/v1%2fclients", "/api/v1/clients%2F"]
)
def test_an_encoded_slash_is_no_separator(api: ApiClient, url: str) -> None:
    is_error(api.get(url), 400, MALFORMED_PATH)


@pytest.mark.parametrize(
    ("url", "repeated"),
    [
        (f"{HISTORY}?limit=1&limit=2", "limit"),
        ("/api/v1/clients?status=active&status=trial", "status"),
        (f"{HISTORY}?start_date=2024-01-01&limit=5&start_date=2024-01-02", "start_date"),
        (f"{HISTORY}?granularity=day&granularity=day", "granularity"),  # even the same value
        ("/api/v1/snapshots/2024-01-01?limit=1&limit=%31", "limit"),
        ("/api/v1/?x&x", "x"),
    ],
)
def test_a_parameter_given_twice_is_400(api: ApiClient, url: str, repeated: str) -> None:
    message = f"query parameter {repeated!r} is given more than once; give it once"
    is_error(api.get(url), 400, message)


def test_the_openapi_document_takes_no_parameter(api: ApiClient) -> None:
    response = api.get("/api/v1/openapi.json?x=1")
    is_error(response, 400, "unknown query parameter 'x'; expected: none")


def test_head_gives_the_get_headers_without_a_body(api: ApiClient) -> None:
    got = api.get(HISTORY, headers={"Accept-Encoding": "identity"})
    head = api.request("HEAD", HISTORY, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))


@pytest.mark.parametrize(("accept", "gzipped"), [("gzip", True), ("gzip, br", True),
                                                 ("identity", False), ("br", False)])  # fmt: skip
def test_answers_are_gzipped_only_for_clients_that_accept_it(
    api: ApiClient, accept: str, gzipped: bool
) -> None:
    plain = api.get(HISTORY, headers={"Accept-Encoding": "identity"})
    response = api.get(HISTORY, headers={"Accept-Encoding": accept})
    assert response.headers.get("content-encoding") == ("gzip" if gzipped else None)
    assert response.content == plain.content  # httpx decodes
    assert len(plain.content) > 1000
    small = api.get("/api/v1/clients/empty-co/history", headers={"Accept-Encoding": accept})
    assert "content-encoding" not in small.headers  # under the 1,000-byte minimum
    assert small.json() == {"snapshots": [], "count": 0, "next_cursor": None}


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("abc-123_X.y", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("has space", False),
        ("semi;colon", False),
        ("", False),
    ],
)
def test_request_id_is_echoed_only_when_valid(api: ApiClient, sent: str, echoed: bool) -> None:
    for url in (HISTORY, "/api/v1/clients/nobody/history", "/api/v1/nowhere"):
        response = api.get(url, headers={"X-Request-ID": sent})
        request_id = response.headers["x-request-id"]
        if echoed:
            assert request_id == sent
        else:
            assert re.fullmatch(r"[0-9a-f]{32}", request_id)
        if response.status_code != 200:
            assert response.json()["request_id"] == request_id


def test_clients_pages_neither_skip_nor_repeat(api: ApiClient) -> None:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = api.get("/api/v1/clients", params=params).json()
        conforms(body, "ClientPage")
        seen += [c["bucket_id"] for c in body["clients"]]
        assert body["count"] == len(body["clients"])
        cursor = body["cursor"]
        pages += 1
        if cursor is None:
            break
    assert seen == sorted(["acme-corp", "globex", "empty-co", "b-one", "b-two", "b-three"])
    assert pages == 3


def test_clients_page_is_stable_when_clients_are_added_between_pages(
    api: ApiClient, engine: Engine
) -> None:
    first = api.get("/api/v1/clients", params={"limit": "3"}).json()
    with Session(engine) as session, session.begin():
        new_client(session, "a-first")  # sorts before the cursor: not on later pages
        new_client(session, "zz-last")
    rest = api.get("/api/v1/clients", params={"limit": "10", "cursor": first["cursor"]}).json()
    names = [c["bucket_id"] for c in first["clients"] + rest["clients"]]
    assert len(names) == len(set(names))
    assert names[-1] == "zz-last"


def test_tampered_cursor_is_400(api: ApiClient) -> None:
    cursor = api.get("/api/v1/clients", params={"limit": "2"}).json()["cursor"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    message = "cursor must be the cursor returned by the previous page, unchanged"
    is_error(api.get("/api/v1/clients", params={"cursor": tampered}), 400, message)


def test_clients_filter_by_status(api: ApiClient) -> None:
    body = api.get("/api/v1/clients", params={"status": "trial"}).json()
    assert [c["bucket_id"] for c in body["clients"]] == ["globex"]
    assert body["cursor"] is None


def test_client_detail_has_totals_and_latest_snapshot(api: ApiClient) -> None:
    body = api.get("/api/v1/clients/acme-corp").json()
    conforms(body, "ClientDetail")
    latest = body["latest_snapshot"]
    assert latest["snapshot_date"] == "2024-01-10"
    assert body["total_records"] == latest["records"]["total"]
    assert body["total_storage_bytes"] == latest["storage"]["total_bytes"]
    assert body["client_since"] == "2023-06-01"
    empty = api.get("/api/v1/clients/empty-co").json()
    conforms(empty, "ClientDetail")
    assert (empty["latest_snapshot"], empty["total_records"]) == (None, 0)
    is_error(api.get("/api/v1/clients/nobody"), 404, "client 'nobody' not found")


def test_snapshots_by_date_pages(api: ApiClient) -> None:
    first = api.get("/api/v1/snapshots/2024-01-01", params={"limit": "1"}).json()
    conforms(first, "SnapshotPage")
    assert [s["bucket_id"] for s in first["snapshots"]] == ["acme-corp"]
    rest = api.get("/api/v1/snapshots/2024-01-01", params={"cursor": first["cursor"]}).json()
    assert [s["bucket_id"] for s in rest["snapshots"]] == ["globex"]
    assert rest["cursor"] is None
    assert api.get("/api/v1/snapshots/1999-01-01").json() == {
        "snapshots": [],
        "count": 0,
        "cursor": None,
    }


def test_history_snapshot_equals_client_latest_and_day_listing(api: ApiClient) -> None:
    newest = api.get(HISTORY, params={"limit": "1"}).json()["snapshots"][0]
    assert api.get("/api/v1/clients/acme-corp").json()["latest_snapshot"] == newest
    on_day = api.get("/api/v1/snapshots/2024-01-10").json()["snapshots"]
    assert on_day == [newest]


def test_openapi_needs_no_key_and_lists_every_endpoint(engine: Engine) -> None:
    client = ApiClient(create_api_app(lambda: engine))
    try:
        response = client.get("/api/v1/openapi.json")
    finally:
        client.close()
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) >= {
        "/api/v1/clients/{bucket_id}/history",
        "/api/v1/clients",
        "/api/v1/clients/{bucket_id}",
        "/api/v1/snapshots/{date}",
        "/api/v1/openapi.json",
    }
    schemes = document["components"]["securitySchemes"]
    assert {
        name: (scheme["type"], scheme["in"], scheme["name"]) for name, scheme in schemes.items()
    } == {
        "ApiKey": ("apiKey", "header", "X-API-Key"),
        "SessionCookie": ("apiKey", "cookie", "_streamlit_user"),
    }
    assert "same origin" in schemes["SessionCookie"]["description"]
    # Either credential alone is enough: a key, or a signed-in browser's cookie.
    assert document["security"] == [{"ApiKey": []}, {"SessionCookie": []}]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path in ("/api/v1/openapi.json", "/api/v1/"):
                assert operation["security"] == []
                continue
            assert "security" not in operation  # the document's: key or cookie
            assert {"200", "400", "401", "404", "405", "503"} <= set(operation["responses"])
            # Only a POST may be refused to a cookie from another site.
            assert ("403" in operation["responses"]) is (method == "post")
    refused = document["paths"]["/api/v1/collect/trigger"]["post"]["responses"]["403"]
    assert "Origin" in refused["description"]
