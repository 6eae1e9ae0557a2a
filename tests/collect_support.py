"""What the collection tests share: the buckets they list, a records database, a config."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert

from tests.s3_server import Buckets, ObjectGroup
from usage.collect.config import CollectConfig, RecordsConfig, StorageConfig
from usage.models import ROOT_PREFIX, STANDARD_COLLECTIONS

# acme-corp holds thousands of objects in prefixes of every shape.
ACME_GROUPS = [
    ObjectGroup("documents/2024/01/", 900, 700),
    ObjectGroup("documents/2023/", 600, 650),
    ObjectGroup("images/", 800, 420),
    ObjectGroup("médias/été/", 40, 90),  # keys that need URL encoding
    ObjectGroup("exports/", 200, 9000),
    ObjectGroup("", 25, 50),  # objects outside any prefix
]
BUCKETS: Buckets = {
    "acme-corp": ACME_GROUPS,
    "globex": [ObjectGroup("documents/", 120, 300), ObjectGroup("", 3, 10)],
    "mid-co": [ObjectGroup("documents/2024/01/", 600, 700)],  # acme-corp's key shape
    "empty-co": [],
    # missing-co has no bucket at all
    "broken-co": [ObjectGroup("documents/", 1200, 10)],
    "slow-co": [ObjectGroup("documents/", 1100, 10)],
    # The shared layout: one bucket, a prefix per client; "acme" must not
    # take the objects of "acme-corp".
    "platform-shared": [
        ObjectGroup("clients/acme/documents/", 30, 100),
        ObjectGroup("clients/acme/", 4, 5),
        ObjectGroup("clients/acme-corp/images/", 50, 200),
        ObjectGroup("clients/acme2/images/", 7, 1),
    ],
}


def expected_usage(
    groups: list[ObjectGroup], client_prefix: str = ""
) -> dict[str, tuple[int, int]]:
    """by_prefix worked out from the groups, independently of the code under test."""
    usage: dict[str, tuple[int, int]] = {}
    for group in groups:
        assert group.prefix.startswith(client_prefix)
        relative = group.prefix[len(client_prefix) :]
        top = relative.split("/", 1)[0] + "/" if "/" in relative else ROOT_PREFIX
        count, size = usage.get(top, (0, 0))
        usage[top] = (count + group.count, size + group.total_bytes)
    return usage


# Record counts in the records database, by client and collection.
RECORDS: dict[str, dict[str, int]] = {
    "acme-corp": {"person": 120, "organisation": 15, "payment": 300, "event": 42},
    "globex": {"person": 7, "donation": 3},
    "empty-co": {},
    "missing-co": {"person": 1},
    "broken-co": {"ticket": 2},
    "slow-co": {"booking": 1},
}


def make_records_database(url: str, records: dict[str, dict[str, int]] = RECORDS) -> None:
    """The platform's records table, one row per record, as the default query expects."""
    metadata = MetaData()
    table = Table(
        "records",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("bucket_id", String(64), index=True),
        Column("collection", String(64)),
    )
    engine = create_engine(url)
    metadata.create_all(engine)
    rows = [
        {"bucket_id": bucket_id, "collection": collection}
        for bucket_id, counts in records.items()
        for collection, count in counts.items()
        for _ in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(insert(table), rows)
    engine.dispose()


def expected_records(bucket_id: str) -> dict[str, int]:
    counts = dict.fromkeys(STANDARD_COLLECTIONS, 0)
    counts.update(RECORDS[bucket_id])
    return counts


def make_config(endpoint_url: str, records_url: str, **storage: object) -> CollectConfig:
    # One attempt: a failing listing fails at once (test_collect_storage retries).
    return CollectConfig(
        storage=StorageConfig(endpoint_url=endpoint_url, max_attempts=1, **storage),  # type: ignore[arg-type]
        records=RecordsConfig(url=records_url),
        workers=3,
    )


def write_config_file(path: Path, endpoint_url: str, records_url: str) -> Path:
    path.write_text(
        "[storage]\n"
        f'endpoint_url = "{endpoint_url}"\n'
        "max_attempts = 2\n"
        "[records]\n"
        f'url = "{records_url}"\n'
        "[collect]\n"
        "workers = 3\n"
    )
    return path
