"""POST /api/v1/collect/trigger over HTTP: rights, body, limit, answer."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.api_client import ApiClient
from tests.collect_support import BUCKETS, make_records_database
from tests.conftest import new_database_url
from tests.factories import new_client
from tests.s3_server import S3Server, running_s3
from tests.test_api import conforms, is_error
from usage.api import create_api_app
from usage.audit import cli_actor
from usage.history import read_history
from usage.keys import create_key

TRIGGER = "/api/v1/collect/trigger"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3({name: BUCKETS[name] for name in ("globex", "empty-co")}) as server:
        yield server


@pytest.fixture
def configured(
    s3: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
) -> None:
    """Collection configured by the environment alone, as an operator may."""
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    records_url = new_database_url(request, backend, tmp_path)
    make_records_database(records_url)
    monkeypatch.delenv("USAGE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no usage.toml there
    monkeypatch.setenv("USAGE_RECORDS_URL", records_url)
    monkeypatch.setenv("USAGE_STORAGE_ENDPOINT_URL", s3.endpoint_url)
    monkeypatch.setenv("USAGE_STORAGE_BUCKET_TEMPLATE", "{bucket_id}")
    monkeypatch.setenv("USAGE_STORAGE_MAX_ATTEMPTS", "1")


@pytest.fixture
def api(engine: Engine) -> Iterator[tuple[ApiClient, dict[str, str]]]:
    with Session(engine) as session, session.begin():
        new_client(session, "globex")
        new_client(session, "empty-co", "trial")
        new_client(session, "missing-co")  # no bucket in S3
        new_client(session, "gone-co", "inactive")
        keys = {
            "admin": create_key(session, "admin", admin=True, actor=cli_actor()),
            "reader": create_key(session, "reader", buckets=["globex"], actor=cli_actor()),
        }
    client = ApiClient(create_api_app(lambda: engine))
    yield client, keys
    client.close()


def post(api: ApiClient, key: str, body: bytes = b"") -> Any:
    return api.request(
        "POST",
        TRIGGER,
        content=body,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )


def test_trigger_collects_and_reports_failures(
    configured: None, api: tuple[ApiClient, dict[str, str]], engine: Engine
) -> None:
    client, keys = api
    response = post(client, keys["admin"])
    assert response.status_code == 200
    body = response.json()
    conforms(body, "TriggerResult")
    # Every active and trial client, the inactive one left alone; processed
    # counts every client tried, failed ones included.
    assert (body["buckets_processed"], body["buckets_failed"]) == (3, 1)
    assert [failure["bucket_id"] for failure in body["failures"]] == ["missing-co"]
    with Session(engine) as session:
        (snapshot,) = read_history(session, "globex", None, None, None, visible=None)
        assert read_history(session, "gone-co", None, None, None, visible=None) == []
    assert snapshot["records"]["person"] == 7
    assert snapshot["storage"]["object_count"] == 123


def test_second_trigger_within_five_minutes_is_429_unless_forced(
    configured: None, api: tuple[ApiClient, dict[str, str]]
) -> None:
    client, keys = api
    body = b'{"bucket_ids": ["globex"]}'
    assert post(client, keys["admin"], body).status_code == 200
    limited = post(client, keys["admin"], body)
    error = is_error(limited, 429)
    assert 1 <= error["retry_after"] <= 300
    assert limited.headers["retry-after"] == str(error["retry_after"])
    assert "globex" in error["error"]
    forced = post(client, keys["admin"], b'{"bucket_ids": ["globex"], "force": true}')
    assert forced.status_code == 200
    assert forced.json()["buckets_processed"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1]", 'the request body must be a JSON object such as {"bucket_ids": ["acme-corp"],'
                 ' "force": false}'),
        (b'{"force": "yes"}', "force must be a boolean (true or false)"),
        (b'{"bucket_ids": []}', "bucket_ids must be an array of 1 to 1000 bucket ids"
                                " (leave it out for every active and trial client)"),
        (b'{"bucket_ids": ["no spaces"]}',
         "bucket_ids[0] must be 1 to 64 characters of letters, digits, '-' or '_'"),
        (b'{"buckets": ["globex"]}',
         "unknown field 'buckets' in the request body; expected: bucket_ids, force"),
        # Which of two values was meant is not guessed.
        (b'{"force": false, "force": true}',
         "field 'force' is given more than once in the request body"),
        (b'{"bucket_ids": ["x"], "bucket_ids": ["globex"]}',
         "field 'bucket_ids' is given more than once in the request body"),
        # UTF-8 only: the same JSON in UTF-16 is not read.
        ('{"force": true}'.encode("utf-16"),
         'the request body must be a JSON object such as {"bucket_ids": ["acme-corp"],'
         ' "force": false}'),
    ],
)  # fmt: skip
def test_bad_body_is_400_naming_the_field(
    api: tuple[ApiClient, dict[str, str]], body: bytes, message: str
) -> None:
    client, keys = api
    is_error(post(client, keys["admin"], body), 400, message)


@pytest.mark.parametrize("kind", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_is_400(api: tuple[ApiClient, dict[str, str]], kind: str) -> None:
    client, keys = api
    headers = {"X-API-Key": keys["admin"], "Content-Type": kind}
    response = client.request("POST", TRIGGER, content=b'{"force": true}', headers=headers)
    message = f"Content-Type must be application/json for a request body, got {kind!r}"
    is_error(response, 400, message)


@pytest.mark.parametrize("coding", ["gzip", "br", "GZIP"])
def test_a_compressed_body_is_400_not_read_as_json(
    api: tuple[ApiClient, dict[str, str]], coding: str
) -> None:
    """Sent compressed, a body's bytes are not JSON: said, not read as such."""
    client, keys = api
    headers = {"X-API-Key": keys["admin"], "Content-Type": "application/json",
               "Content-Encoding": coding}  # fmt: skip
    response = client.request("POST", TRIGGER, content=gzip.compress(b'{"force": true}'),
                              headers=headers)  # fmt: skip
    message = f"Content-Encoding must be identity (an uncompressed body), got {coding.lower()!r}"
    is_error(response, 400, message)


def test_an_identity_encoding_is_read(
    configured: None, api: tuple[ApiClient, dict[str, str]]
) -> None:
    client, keys = api
    headers = {"X-API-Key": keys["admin"], "Content-Encoding": "identity"}
    body = b'{"bucket_ids": ["globex"], "force": true}'
    response = client.request("POST", TRIGGER, content=body, headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "kind", [None, "application/json; charset=utf-8", "Application/JSON", "application/merge+json"]
)
def test_a_json_body_may_say_so_or_not(
    configured: None, api: tuple[ApiClient, dict[str, str]], kind: str | None
) -> None:
    client, keys = api
    headers = {"X-API-Key": keys["admin"], **({"Content-Type": kind} if kind else {})}
    body = b'{"bucket_ids": ["globex"], "force": true}'
    response = client.request("POST", TRIGGER, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["buckets_processed"] == 1


def test_a_body_past_a_mebibyte_is_413_unread(
    configured: None, api: tuple[ApiClient, dict[str, str]]
) -> None:
    client, keys = api
    body = b'{"bucket_ids": [' + b'"globex",' * 120_000 + b'"globex"]}'
    is_error(post(client, keys["admin"], body), 413, "the request body is larger than 1024 KiB")
    # The largest body the trigger takes (1,000 ids of 64 characters) is read.
    largest = b'{"bucket_ids": [' + b",".join([b'"' + b"a" * 64 + b'"'] * 1000) + b"]}"
    is_error(post(client, keys["admin"], largest), 404, f"client {'a' * 64!r} not found")


def test_unknown_bucket_is_404(configured: None, api: tuple[ApiClient, dict[str, str]]) -> None:
    client, keys = api
    response = post(client, keys["admin"], b'{"bucket_ids": ["nobody"]}')
    is_error(response, 404, "client 'nobody' not found")


def test_rights(api: tuple[ApiClient, dict[str, str]]) -> None:
    client, keys = api
    is_error(post(client, keys["reader"]), 403, "collecting needs an admin key")
    is_error(post(client, ""), 401)
    is_error(client.get(TRIGGER, headers={"X-API-Key": keys["admin"]}), 405)


def test_unconfigured_collection_is_503_naming_the_setting(
    api: tuple[ApiClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("USAGE_CONFIG", raising=False)
    monkeypatch.delenv("USAGE_RECORDS_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    client, keys = api
    body = is_error(post(client, keys["admin"]), 503)
    assert body["error"].startswith("collection is not configured: records.url is missing")
    # The request's own mistakes first: a bad body, an unknown client.
    is_error(post(client, keys["admin"], b'{"bucket_ids": 3}'), 400)
    is_error(post(client, keys["admin"], b'{"bucket_ids": ["nobody"]}'), 404,
             "client 'nobody' not found")  # fmt: skip
