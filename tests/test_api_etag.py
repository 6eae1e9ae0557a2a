"""Conditional requests: a strong ``ETag`` and ``Cache-Control`` on every data
GET, ``If-None-Match`` answered with a 304 without a body, a new tag after a
collection or an import, and never a 304 for a client the caller may not see."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator

import pytest
import xxhash
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.api_client import ApiClient
from tests.collect_support import BUCKETS
from tests.factories import add_days, day, new_client, snapshot
from tests.s3_server import S3Server, running_s3
from usage.api import CACHE_CONTROL, create_api_app
from usage.audit import cli_actor
from usage.collect.config import CollectConfig
from usage.collect.runner import collect, select_targets
from usage.collect.runs import StartedBy, start_runs
from usage.keys import create_key
from usage.snapshots import insert_snapshots
from usage.transfer import export_snapshots, import_snapshots

HISTORY = "/api/v1/clients/acme-corp/history"
# Every data GET, in each of its forms.
GETS = [
    HISTORY,
    HISTORY + "?limit=3",
    HISTORY + "?granularity=week",
    HISTORY + "?format=csv",
    "/api/v1/clients",
    "/api/v1/clients?limit=1",
    "/api/v1/clients/acme-corp",
    "/api/v1/snapshots/2024-01-02",
    "/api/v1/snapshots/2024-01-02?format=csv",
    "/api/v1/openapi.json",
    "/api/v1/",
]


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3({"acme-corp": BUCKETS["acme-corp"]}) as server:
        yield server


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    with Session(engine) as session, session.begin():
        add_days(session, new_client(session, "acme-corp"), [day(i) for i in range(10)])
        add_days(session, new_client(session, "globex"), [day(0), day(1), day(2)])
        return {
            "admin": create_key(session, "admin", admin=True, actor=cli_actor()),
            "globex": create_key(session, "globex-only", buckets=["globex"], actor=cli_actor()),
        }


@pytest.fixture
def api(engine: Engine, keys: dict[str, str]) -> Iterator[ApiClient]:
    client = ApiClient(create_api_app(lambda: engine), {"X-API-Key": keys["admin"]})
    yield client
    client.close()


def tag_of(api: ApiClient, url: str, **headers: str) -> str:
    response = api.get(url, headers=headers)
    assert response.status_code == 200
    return response.headers["etag"]


@pytest.mark.parametrize("url", GETS)
def test_every_data_get_carries_a_strong_tag_and_answers_304_to_it(
    api: ApiClient, url: str
) -> None:
    plain = {"Accept-Encoding": "identity"}
    first = api.get(url, headers=plain)
    assert first.status_code == 200
    tag = first.headers["etag"]
    assert tag[0] == tag[-1] == '"'  # strong: no W/
    assert first.headers["cache-control"] == CACHE_CONTROL.decode()
    assert api.get(url, headers=plain).headers["etag"] == tag  # the same bytes, the same tag
    for sent in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = api.get(url, headers={**plain, "If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.content == b""
        assert "content-type" not in again.headers
        assert again.headers["etag"] == tag
        assert again.headers["cache-control"] == CACHE_CONTROL.decode()
        assert again.headers["x-request-id"]
    other = api.get(url, headers={**plain, "If-None-Match": '"0123456789abcdef"'})
    assert (other.status_code, other.content) == (200, first.content)
    head = api.request("HEAD", url, headers={**plain, "If-None-Match": tag})
    assert head.status_code == 304


def test_a_gzipped_body_has_its_own_tag(api: ApiClient) -> None:
    plain = api.get(HISTORY, headers={"Accept-Encoding": "identity"})
    zipped = api.get(HISTORY, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["etag"] == plain.headers["etag"][:-1] + '-gzip"'
    sent = zipped.headers["etag"]
    assert (
        api.get(HISTORY, headers={"Accept-Encoding": "gzip", "If-None-Match": sent}).status_code
        == 304
    )
    unzipped = api.get(HISTORY, headers={"Accept-Encoding": "identity", "If-None-Match": sent})
    assert unzipped.status_code == 200


def test_the_tag_follows_the_bytes_of_each_form(api: ApiClient) -> None:
    tags = {url: tag_of(api, url, **{"Accept-Encoding": "identity"}) for url in GETS}
    assert len(set(tags.values())) == len(GETS)
    assert tag_of(api, HISTORY, Accept="text/csv") == tags[HISTORY + "?format=csv"]


def test_an_import_changes_the_tags_of_what_it_changed_only(api: ApiClient, engine: Engine) -> None:
    urls = [HISTORY, "/api/v1/clients/acme-corp", "/api/v1/clients/globex/history",
            "/api/v1/snapshots/2024-01-05", "/api/v1/clients"]  # fmt: skip
    before = {url: tag_of(api, url) for url in urls}
    exported = io.StringIO()
    with Session(engine) as session:
        export_snapshots(session, exported, bucket_ids=["acme-corp"], start=day(4), end=day(4))
    line = json.loads(exported.getvalue())
    line["records"]["person"] += 1
    line["records"]["total"] += 1
    with Session(engine) as session, session.begin():
        import_snapshots(session, [json.dumps(line)])
    after = {url: tag_of(api, url) for url in urls}
    assert after[HISTORY] != before[HISTORY]  # the 5th of January is in it
    assert after["/api/v1/snapshots/2024-01-05"] != before["/api/v1/snapshots/2024-01-05"]
    # Not the latest snapshot, nor globex: those answers are the same bytes.
    assert after["/api/v1/clients/acme-corp"] == before["/api/v1/clients/acme-corp"]
    assert after["/api/v1/clients/globex/history"] == before["/api/v1/clients/globex/history"]
    assert after["/api/v1/clients"] == before["/api/v1/clients"]
    stale = api.get(HISTORY, headers={"If-None-Match": before[HISTORY]})
    assert stale.status_code == 200
    assert stale.json()["snapshots"][5]["records"]["person"] == line["records"]["person"]


def test_a_collection_changes_the_tags(
    api: ApiClient, engine: Engine, config: CollectConfig
) -> None:
    today = day(10)
    urls = [HISTORY, "/api/v1/clients/acme-corp", "/api/v1/clients",
            f"/api/v1/snapshots/{today.isoformat()}"]  # fmt: skip
    before = {url: tag_of(api, url) for url in urls}
    with Session(engine) as session, session.begin():
        targets = select_targets(session, ["acme-corp"])
        start_runs(session, [t.client_id for t in targets], now=dt.datetime.now(dt.UTC),
                   snapshot_date=today, started_by=StartedBy.CLI)  # fmt: skip
    assert collect(engine, config, targets, today).as_json()["buckets_processed"] == 1
    for url in urls:
        response = api.get(url, headers={"If-None-Match": before[url]})
        assert response.status_code == 200, url
        assert response.headers["etag"] != before[url]
    latest = api.get("/api/v1/clients/acme-corp").json()["latest_snapshot"]
    assert latest["snapshot_date"] == today.isoformat()


def test_a_write_of_the_same_bytes_keeps_the_tag(api: ApiClient, engine: Engine) -> None:
    """The tag is the answer's bytes: a snapshot of another client, or a
    day outside the range, leaves it as it was."""
    url = HISTORY + "?end_date=2024-01-05"
    before = tag_of(api, url)
    with Session(engine) as session, session.begin():
        insert_snapshots(session, [(new_client(session, "newco"), snapshot(day(3)))])
    assert tag_of(api, url) == before
    assert api.get(url, headers={"If-None-Match": before}).status_code == 304


@pytest.mark.parametrize(
    "url",
    [HISTORY, HISTORY + "?granularity=month", HISTORY + "?format=csv", HISTORY + "?limit=2",
     "/api/v1/clients/acme-corp"],
)  # fmt: skip
def test_a_scoped_key_gets_the_404_of_an_unknown_client_whatever_tag_it_sends(
    api: ApiClient, keys: dict[str, str], url: str
) -> None:
    """Even with the right tag of a client it may not see, the answer is
    the one it gets without the header: a 304 would say the client exists
    and what its answer is."""
    tag = tag_of(api, url)  # the admin's: the current tag of acme-corp's answer
    scoped = {"X-API-Key": keys["globex"]}
    without = api.get(url, headers=scoped)
    for sent in (tag, "*", f"W/{tag}"):
        guessed = api.get(url, headers={**scoped, "If-None-Match": sent})
        assert guessed.status_code == without.status_code == 404
        assert guessed.json()["error"] == without.json()["error"] == "client 'acme-corp' not found"
        assert "etag" not in guessed.headers


def test_a_scoped_keys_list_has_its_own_tag(api: ApiClient, keys: dict[str, str]) -> None:
    """A list shows the caller's clients only: the admin's tag is another
    answer's and gets the scoped key's own list, not a 304."""
    scoped = {"X-API-Key": keys["globex"]}
    for url in ("/api/v1/clients", "/api/v1/snapshots/2024-01-02"):
        admin_tag = tag_of(api, url)
        mine = api.get(url, headers={**scoped, "If-None-Match": admin_tag})
        assert mine.status_code == 200
        assert mine.headers["etag"] != admin_tag
        listed = mine.json().get("clients") or mine.json()["snapshots"]
        assert [item["bucket_id"] for item in listed] == ["globex"]
        assert (
            api.get(url, headers={**scoped, "If-None-Match": mine.headers["etag"]}).status_code
            == 304
        )


def test_errors_carry_no_tag(api: ApiClient) -> None:
    for url in ("/api/v1/clients/nobody/history", HISTORY + "?limit=0", "/api/v1/nowhere"):
        response = api.get(url, headers={"If-None-Match": "*"})
        assert response.status_code in (400, 404)
        assert "etag" not in response.headers
        assert "cache-control" not in response.headers


def test_a_post_is_never_answered_304(api: ApiClient) -> None:
    response = api.request("POST", "/api/v1/collect/trigger", headers={"If-None-Match": "*"})
    assert response.status_code != 304
    assert "etag" not in response.headers


def test_the_tag_is_a_hash_of_the_body(api: ApiClient) -> None:
    """Documented: a hash of the answer's bytes, so any byte that changes
    changes it (here checked by recomputing it)."""
    response = api.get(HISTORY, headers={"Accept-Encoding": "identity"})
    assert response.headers["etag"] == f'"{xxhash.xxh3_128_hexdigest(response.content)}"'
