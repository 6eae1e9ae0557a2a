"""Listing real buckets: moto's S3 server, thousands of objects, and the failures."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from tests.collect_support import ACME_GROUPS, BUCKETS, expected_usage
from tests.s3_server import S3Server, running_s3
from usage.collect.config import Layout, Location, StorageConfig
from usage.collect.storage import StorageError, make_s3_client, measure_storage, top_level_prefix
from usage.models import ROOT_PREFIX


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3(BUCKETS) as server:
        yield server


@pytest.fixture
def client(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    s3_client = make_s3_client(StorageConfig(endpoint_url=s3.endpoint_url, max_attempts=2))
    yield s3_client
    s3_client.close()


@pytest.mark.parametrize(
    ("key", "prefix"),
    [
        ("documents/2024/01/a.pdf", "documents/"),
        ("documents/", "documents/"),
        ("a.txt", ROOT_PREFIX),
        ("", ROOT_PREFIX),
        ("/leading-slash", "/"),
        ("médias/été/x", "médias/"),
    ],
)
def test_top_level_prefix(key: str, prefix: str) -> None:
    assert top_level_prefix(key) == prefix


@pytest.mark.parametrize(
    ("bucket", "page_size"),
    [("acme-corp", 1000), ("acme-corp", 337), ("globex", 1000), ("empty-co", 1000)],
)
def test_every_object_is_counted_once_under_its_top_level_prefix(
    client: Any, bucket: str, page_size: int
) -> None:
    usage = measure_storage(client, Location(bucket, ""), page_size)
    assert usage == expected_usage(BUCKETS[bucket])
    assert sum(count for count, _ in usage.values()) == sum(g.count for g in BUCKETS[bucket])


def test_thousands_of_objects_across_prefixes() -> None:
    total = sum(group.count for group in ACME_GROUPS)
    assert total > 2500
    assert set(expected_usage(ACME_GROUPS)) == {
        "documents/", "images/", "médias/", "exports/", ROOT_PREFIX
    }  # fmt: skip


@pytest.mark.parametrize(
    ("bucket_id", "expected"),
    [
        ("acme", {"documents/": (30, 30 * 100 + sum(i % 17 for i in range(30))),
                  ROOT_PREFIX: (4, 4 * 5 + 6)}),
        ("acme-corp", {"images/": (50, 50 * 200 + sum(i % 17 for i in range(50)))}),
        ("nobody", {}),
    ],
)  # fmt: skip
def test_shared_bucket_takes_only_the_clients_prefix(
    client: Any, bucket_id: str, expected: dict[str, tuple[int, int]]
) -> None:
    config = StorageConfig(
        layout=Layout.SHARED_BUCKET,
        bucket="platform-shared",
        prefix_template="clients/{bucket_id}/",
    )
    assert measure_storage(client, config.locate(bucket_id)) == expected


def test_a_missing_bucket_is_an_error_naming_it(client: Any) -> None:
    with pytest.raises(StorageError, match=r"^bucket 'missing-co' does not exist$"):
        measure_storage(client, Location("missing-co", ""))


def test_a_listing_that_fails_midway_is_an_error_not_a_partial_count(client: Any) -> None:
    with pytest.raises(StorageError) as caught:
        measure_storage(client, Location("broken-co", ""))
    assert str(caught.value) == (
        "listing s3://broken-co/ failed after 1000 objects: InternalError:"
        " We encountered an internal error. Please try again."
    )


def test_an_unreachable_endpoint_is_an_error(monkeypatch: pytest.MonkeyPatch, s3: S3Server) -> None:
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    dead = make_s3_client(
        StorageConfig(endpoint_url="http://127.0.0.1:9", max_attempts=1, timeout_seconds=2)
    )
    with pytest.raises(StorageError, match=r"^listing s3://acme-corp/ failed after 0 objects: "):
        measure_storage(dead, Location("acme-corp", ""))
    dead.close()


def _peak_bytes(client: Any, location: Location) -> int:
    tracemalloc.start()
    try:
        measure_storage(client, location, page_size=250)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_object_count(client: Any) -> None:
    measure_storage(client, Location("mid-co", ""))  # load botocore's models first
    small = _peak_bytes(client, Location("mid-co", ""))  # 600 objects, 3 pages
    large = _peak_bytes(client, Location("acme-corp", ""))  # 2565 objects, 11 pages
    # Keeping the 1965 more objects would take over 1 MB (botocore makes a
    # dict of five fields per object); a page at a time takes no more. The
    # margin leaves room for other threads' allocations, which tracemalloc
    # also counts (seen over 128 KiB on a loaded machine).
    assert large - small < 512 * 1024
