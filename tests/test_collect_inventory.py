"""S3 Inventory as the storage source: generated reports on moto's S3 server,
summed exactly as a listing of the same objects, and every bad report refused."""

from __future__ import annotations

import datetime as dt
import gzip
import re
import tracemalloc
from collections.abc import Iterable, Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

import usage.runtime
from tests.collect_support import expected_usage, make_records_database
from tests.factories import api_history, new_client
from tests.inventory_reports import Report, Row, current_rows, write_report
from tests.s3_server import PROJECT_ROOT, ObjectGroup, S3Server, running_s3
from tests.shown_tables import shown_tables
from usage.collect.config import (
    CollectConfig,
    InventoryFallback,
    Layout,
    Location,
    RecordsConfig,
    StorageConfig,
    StorageSource,
    load_config,
)
from usage.collect.inventory import (
    InventoryError,
    NoInventoryReport,
    measure_inventory,
    measure_usage,
)
from usage.collect.runner import collect, select_targets
from usage.collect.runs import StartedBy, list_runs, start_runs
from usage.collect.storage import make_s3_client, measure_storage
from usage.errors import ConfigError
from usage.models import ROOT_PREFIX

NOW = dt.datetime(2024, 3, 1, 6, 0, tzinfo=dt.UTC)
FRESH = NOW - dt.timedelta(hours=5)  # the report of the night
MAX_AGE = dt.timedelta(hours=48)
DEST = "inv-dest"  # where the reports are delivered

GROUPS: dict[str, list[ObjectGroup]] = {
    "inv-acme": [
        ObjectGroup("documents/2024/01/", 900, 700),
        ObjectGroup("images/", 800, 420),
        ObjectGroup("médias/été/", 40, 90),
        ObjectGroup("exports/", 200, 9000),
        ObjectGroup("", 25, 50),
    ],
    "inv-small": [ObjectGroup("documents/2024/01/", 600, 700)],  # inv-acme's key shape
    "inv-plain": [ObjectGroup("documents/", 30, 10)],  # no inventory at all
    "inv-shared": [
        ObjectGroup("clients/acme/documents/", 300, 100),
        ObjectGroup("clients/acme/", 4, 5),
        ObjectGroup("clients/acme-corp/images/", 50, 200),
        ObjectGroup("clients/acme2/images/", 7, 1),
    ],
    DEST: [],
}
# Keys a report must URL-encode, and zero-byte folder markers, put over HTTP.
ODD_OBJECTS: dict[str, list[tuple[str, int]]] = {
    "inv-acme": [
        ("documents/", 0),  # a folder marker: counts under documents/
        ("images/new/", 0),
        ("odd name+plus/a b.txt", 11),
        ("100%/x&y=z?.bin", 12),
        ("top level with space.txt", 13),
        ("ünï/çødé/ß", 14),
        ('q/"quoted",comma.txt', 15),
    ],
    "inv-shared": [("clients/acme/", 0), ("clients/acme/documents/", 0)],
}


def objects(bucket: str) -> list[tuple[str, int]]:
    """Every object of ``bucket``: what the bucket holds and the reports list."""
    made = [item for group in GROUPS[bucket] for item in group.objects()]
    return made + ODD_OBJECTS.get(bucket, [])


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3(GROUPS) as server:
        client = server.client()
        for bucket, odd in ODD_OBJECTS.items():
            for key, size in odd:
                client.put_object(Bucket=bucket, Key=key, Body=b"\0" * size)
        client.close()
        yield server


@pytest.fixture
def client(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    s3_client = make_s3_client(StorageConfig(endpoint_url=s3.endpoint_url, max_attempts=2))
    yield s3_client
    s3_client.close()


_folders = count()


@pytest.fixture
def folder() -> str:
    """A configuration folder of its own for each test: reports never mix."""
    return f"t{next(_folders)}/"


def report(
    client: Any,
    folder: str,
    source_bucket: str,
    *,
    rows: Iterable[Row] | None = None,
    created: dt.datetime = FRESH,
    **options: Any,
) -> Report:
    rows = current_rows(objects(source_bucket)) if rows is None else rows
    return write_report(
        client, bucket=DEST, prefix=folder, source_bucket=source_bucket, rows=rows,
        created=created, **options,
    )  # fmt: skip


def inventory(client: Any, folder: str, location: Location) -> dict[str, tuple[int, int]]:
    return measure_inventory(client, Location(DEST, folder), location, now=NOW, max_age=MAX_AGE)


@pytest.mark.parametrize("file_format", ["CSV", "Parquet"])
def test_a_report_sums_exactly_as_the_listing_of_the_same_objects(
    client: Any, folder: str, file_format: str
) -> None:
    written = report(client, folder, "inv-acme", file_format=file_format, rows_per_file=450)
    assert len(written.data_keys) == 5  # 1,972 objects, 450 a file
    location = Location("inv-acme", "")
    listed = measure_storage(client, location)
    assert inventory(client, folder, location) == listed
    assert listed["documents/"] == (901, 900 * 700 + sum(i % 17 for i in range(900)))
    assert listed["odd name+plus/"] == (1, 11)
    assert listed[ROOT_PREFIX] == (26, expected_usage(GROUPS["inv-acme"])[ROOT_PREFIX][1] + 13)
    assert {"100%/", "ünï/", "q/"} <= set(listed)


@pytest.mark.parametrize("file_format", ["CSV", "Parquet"])
@pytest.mark.parametrize("bucket_id", ["acme", "acme-corp", "acme2", "nobody"])
def test_a_shared_buckets_report_gives_each_client_its_prefix_only(
    client: Any, folder: str, file_format: str, bucket_id: str
) -> None:
    report(client, folder, "inv-shared", file_format=file_format, rows_per_file=150)
    location = StorageConfig(
        layout=Layout.SHARED_BUCKET, bucket="inv-shared", prefix_template="clients/{bucket_id}/"
    ).locate(bucket_id)
    assert inventory(client, folder, location) == measure_storage(client, location)
    if bucket_id == "acme":  # its own folder marker is its "(root)", as when listed
        assert inventory(client, folder, location)[ROOT_PREFIX] == (5, 4 * 5 + 6)


@pytest.mark.parametrize("file_format", ["CSV", "Parquet"])
def test_old_versions_and_delete_markers_are_not_counted(
    client: Any, folder: str, file_format: str
) -> None:
    rows = [
        *current_rows(objects("inv-small")),
        Row("documents/2024/01/000001.bin", 5_000, is_latest=False),  # an older version
        Row("documents/2024/01/deleted.bin", 70, is_latest=False),
        Row("documents/2024/01/deleted.bin", None, is_delete_marker=True),
        Row("gone/whole-prefix.bin", None, is_delete_marker=True),
    ]
    report(client, folder, "inv-small", rows=rows, file_format=file_format, versions=True)
    location = Location("inv-small", "")
    assert inventory(client, folder, location) == measure_storage(client, location)


def test_the_newest_complete_report_is_read(client: Any, folder: str) -> None:
    half = current_rows(objects("inv-small")[:300])
    report(client, folder, "inv-small", rows=half, created=FRESH - dt.timedelta(days=1))
    report(client, folder, "inv-small", created=FRESH)
    # Newer, but still being delivered (no checksum yet): not read.
    report(client, folder, "inv-small", rows=half, created=FRESH + dt.timedelta(hours=1),
           complete=False)  # fmt: skip
    location = Location("inv-small", "")
    assert inventory(client, folder, location) == measure_storage(client, location)


def _corrupt_checksum(client: Any, written: Report) -> None:
    client.put_object(Bucket=DEST, Key=written.checksum_key, Body=b"0" * 32)


def _delete_data_file(client: Any, written: Report) -> None:
    client.delete_object(Bucket=DEST, Key=written.data_keys[1])


def _same_size_other_bytes(client: Any, written: Report) -> None:
    key = written.data_keys[0]
    body = bytearray(client.get_object(Bucket=DEST, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    client.put_object(Bucket=DEST, Key=key, Body=bytes(body))


def _shorter(client: Any, written: Report) -> None:
    key = written.data_keys[0]
    body = client.get_object(Bucket=DEST, Key=key)["Body"].read()
    client.put_object(Bucket=DEST, Key=key, Body=body[:-10])


REFUSALS = [
    ("bad checksum", _corrupt_checksum,
     r"^inventory report s3://inv-dest/{folder}2024-03-01T01-00Z/: manifest\.json does not"
     r" match manifest\.checksum \(its MD5 is [0-9a-f]{{32}}, the checksum says '0{{32}}'\)$"),
    ("missing data file", _delete_data_file,
     r"^inventory report s3://inv-dest/{folder}2024-03-01T01-00Z/: data file"
     r" {folder}data/[0-9a-f-]+\.(csv\.gz|parquet) is missing$"),
    ("damaged data file", _same_size_other_bytes,
     r"^inventory report s3://inv-dest/{folder}2024-03-01T01-00Z/: data file {folder}data/\S+"
     r" does not match the manifest's MD5 \(its MD5 is [0-9a-f]{{32}}, the manifest says"
     r" [0-9a-f]{{32}}\)$"),
    ("short data file", _shorter,
     r"^inventory report s3://inv-dest/{folder}2024-03-01T01-00Z/: data file {folder}data/\S+"
     r" is \d+ bytes, its manifest says \d+$"),
]  # fmt: skip


@pytest.mark.parametrize("file_format", ["CSV", "Parquet"])
@pytest.mark.parametrize(("case", "spoil", "message"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_damaged_report_is_refused_naming_the_problem(
    client: Any, folder: str, file_format: str, case: str, spoil: Any, message: str
) -> None:
    written = report(client, folder, "inv-small", file_format=file_format, rows_per_file=250)
    spoil(client, written)
    with pytest.raises(InventoryError, match=message.format(folder=folder)):
        inventory(client, folder, Location("inv-small", ""))


def test_a_stale_report_is_refused(client: Any, folder: str) -> None:
    report(client, folder, "inv-small", created=NOW - dt.timedelta(hours=49))
    with pytest.raises(InventoryError, match=(
        rf"^inventory report s3://inv-dest/{folder}2024-02-28T05-00Z/ is 49 hours old \(from"
        r" 2024-02-28 05:00 UTC\), older than the 48 allowed"
        r" \(storage\.inventory_max_age_hours\)$"
    )):  # fmt: skip
        inventory(client, folder, Location("inv-small", ""))


def test_a_report_of_another_bucket_is_refused(client: Any, folder: str) -> None:
    report(client, folder, "inv-plain")  # delivered where inv-small's are expected
    with pytest.raises(InventoryError, match=(
        rf"^inventory report s3://inv-dest/{folder}2024-03-01T01-00Z/ is of bucket 'inv-plain',"
        r" not 'inv-small'$"
    )):  # fmt: skip
        inventory(client, folder, Location("inv-small", ""))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"file_format": "ORC"},
         r" is ORC: only CSV and Parquet reports are read \(change the inventory"
         r" configuration's format\)$"),
        ({"columns": ["Bucket", "Key", "StorageClass"]},
         r": data file \S+ has no Size column \(the inventory configuration must include the"
         r" field\)$"),
    ],
)  # fmt: skip
def test_a_report_that_cannot_be_summed_is_refused(
    client: Any, folder: str, options: dict[str, Any], message: str
) -> None:
    report(client, folder, "inv-small", **options)
    with pytest.raises(InventoryError, match=message):
        inventory(client, folder, Location("inv-small", ""))


def test_no_report_at_all_is_its_own_error(client: Any, folder: str) -> None:
    message = rf"^no complete inventory report in s3://inv-dest/{folder}$"
    with pytest.raises(NoInventoryReport, match=message):
        inventory(client, folder, Location("inv-small", ""))


def test_a_csv_row_that_is_not_an_object_is_refused(client: Any, folder: str) -> None:
    # A manifest and checksum that match a data file with a bad Size: a
    # generator's bug, not damage on the way.
    body = gzip.compress(b'"inv-small","a.txt","12"\n"inv-small","b.txt","lots"\n')
    rows = [Row("x", 1)]
    written = report(client, folder, "inv-small", rows=rows, columns=["Bucket", "Key", "Size"])
    client.put_object(Bucket=DEST, Key=written.data_keys[0], Body=body)
    _rewrite_manifest(client, written, body)
    with pytest.raises(InventoryError, match=(
        r": data file \S+ is not a gzipped CSV of the manifest's columns \(line 2: invalid literal"
    )):  # fmt: skip
        inventory(client, folder, Location("inv-small", ""))


def _rewrite_manifest(client: Any, written: Report, body: bytes) -> None:
    import hashlib
    import json

    manifest = json.loads(client.get_object(Bucket=DEST, Key=written.manifest_key)["Body"].read())
    manifest["files"][0].update(size=len(body), MD5checksum=hashlib.md5(body).hexdigest())
    text = json.dumps(manifest).encode()
    client.put_object(Bucket=DEST, Key=written.manifest_key, Body=text)
    checksum = hashlib.md5(text).hexdigest().encode()
    client.put_object(Bucket=DEST, Key=written.checksum_key, Body=checksum)


# What measure_usage does, by source, fallback and the report found.
POLICY = [
    (StorageSource.LISTING, InventoryFallback.FAIL, "bad", StorageSource.LISTING),
    (StorageSource.INVENTORY, InventoryFallback.FAIL, "good", StorageSource.INVENTORY),
    (StorageSource.AUTO, InventoryFallback.FAIL, "good", StorageSource.INVENTORY),
    (StorageSource.AUTO, InventoryFallback.FAIL, "none", StorageSource.LISTING),
    (StorageSource.INVENTORY, InventoryFallback.LISTING, "none", StorageSource.LISTING),
    (StorageSource.INVENTORY, InventoryFallback.FAIL, "none",
     "^no complete inventory report in s3://inv-dest/{folder}inv-small/$"),
    (StorageSource.INVENTORY, InventoryFallback.LISTING, "stale", StorageSource.LISTING),
    (StorageSource.AUTO, InventoryFallback.LISTING, "bad", StorageSource.LISTING),
    (StorageSource.AUTO, InventoryFallback.FAIL, "stale", " is 49 hours old "),
    (StorageSource.INVENTORY, InventoryFallback.FAIL, "bad",
     r": manifest\.json does not match manifest\.checksum "),
]  # fmt: skip


REFUSED = {
    (StorageSource.INVENTORY, InventoryFallback.LISTING, "none"): "^no complete inventory report ",
    (StorageSource.INVENTORY, InventoryFallback.LISTING, "stale"): " is 49 hours old ",
    (StorageSource.AUTO, InventoryFallback.LISTING, "bad"):
        r"manifest\.json does not match manifest\.checksum",
}  # fmt: skip


@pytest.mark.parametrize(("source", "fallback", "found", "outcome"), POLICY)
def test_the_source_and_the_fallback_decide_what_is_read(
    client: Any,
    folder: str,
    source: StorageSource,
    fallback: InventoryFallback,
    found: str,
    outcome: StorageSource | str,
) -> None:
    where = f"{folder}inv-small/"
    if found != "none":
        created = NOW - dt.timedelta(hours=49) if found == "stale" else FRESH
        rows = current_rows(objects("inv-small")[:100])  # tells the report from the listing
        written = report(client, where, "inv-small", rows=rows, created=created)
        if found == "bad":
            _corrupt_checksum(client, written)
    storage = StorageConfig(
        source=source,
        inventory_bucket=DEST,
        inventory_prefix_template=folder + "{bucket}/",
        inventory_fallback=fallback,
        bucket_template="inv-{bucket_id}",
    )
    if not isinstance(outcome, StorageSource):  # an error's message
        with pytest.raises(InventoryError, match=outcome.format(folder=folder)):
            measure_usage(client, storage, "small", now=NOW)
        return
    usage, used, refused = measure_usage(client, storage, "small", now=NOW)
    assert used is outcome
    # Why a report was refused, when the bucket was listed instead.
    reason = REFUSED.get((source, fallback, found))
    assert refused is None if reason is None else re.search(reason, refused or "")
    expected = objects("inv-small")[:100] if used is StorageSource.INVENTORY else None
    if expected is None:
        assert usage == measure_storage(client, Location("inv-small", ""))
    else:
        assert usage == {"documents/": (100, sum(size for _, size in expected))}


def _peak_bytes(client: Any, folder: str, bucket: str) -> int:
    tracemalloc.start()
    try:
        inventory(client, folder, Location(bucket, ""))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_object_count(client: Any, folder: str) -> None:
    report(client, folder + "small/", "inv-small", rows_per_file=20_000)  # 600 objects
    report(client, folder + "large/", "inv-acme", rows_per_file=20_000)  # 1,972 objects
    inventory(client, folder + "small/", Location("inv-small", ""))  # warm up
    small = _peak_bytes(client, folder + "small/", "inv-small")
    large = _peak_bytes(client, folder + "large/", "inv-acme")
    # Keeping the 1,372 more rows would take over 300 KB (a list of six
    # strings a row); streaming them takes no more. The margin leaves room
    # for other threads' allocations, which tracemalloc also counts.
    assert large - small < 160 * 1024


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"USAGE_STORAGE_SOURCE": "s3-inventory"},
         "storage.source must be one of: listing, inventory, auto (got 's3-inventory' from "
         "USAGE_STORAGE_SOURCE)"),
        ({"USAGE_STORAGE_SOURCE": "auto"},
         "storage.inventory_bucket is missing: storage.source = auto reads the inventory"
         " reports from it (set inventory_bucket in [storage] or"
         " USAGE_STORAGE_INVENTORY_BUCKET)"),
        ({"USAGE_STORAGE_INVENTORY_PREFIX_TEMPLATE": "{bucket}/{config}/"},
         "storage.inventory_prefix_template may contain {bucket} and {bucket_id} and no other"
         " {field}"),
        ({"USAGE_STORAGE_INVENTORY_PREFIX_TEMPLATE": "{bucket}/usage"},
         "storage.inventory_prefix_template must end with '/' and not start with '/'"),
        ({"USAGE_STORAGE_INVENTORY_MAX_AGE_HOURS": "0"},
         "storage.inventory_max_age_hours must be an integer from 1 to 8784"),
        ({"USAGE_STORAGE_INVENTORY_FALLBACK": "skip"},
         "storage.inventory_fallback must be one of: listing, fail"),
    ],
)  # fmt: skip
def test_a_wrong_inventory_setting_is_named(
    tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    environ = {"USAGE_RECORDS_URL": "sqlite:///records.db", **settings}
    with pytest.raises(ConfigError) as caught:
        load_config(environ=environ, cwd=tmp_path)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"USAGE_STORAGE_BUCKET_TEMPLATE": "usage-{bucket_id}"},
         Location("platform-inventory", "usage-acme/usage/")),
        ({"USAGE_STORAGE_BUCKET_TEMPLATE": "usage-{bucket_id}",
          "USAGE_STORAGE_INVENTORY_PREFIX_TEMPLATE": "reports/{bucket}/daily-{bucket_id}/"},
         Location("platform-inventory", "reports/usage-acme/daily-acme/")),
        ({"USAGE_STORAGE_LAYOUT": "shared-bucket", "USAGE_STORAGE_BUCKET": "platform-data",
          "USAGE_STORAGE_INVENTORY_PREFIX_TEMPLATE": "inventory/{bucket}/all/"},
         Location("platform-inventory", "inventory/platform-data/all/")),
    ],
)  # fmt: skip
def test_each_clients_reports_are_located_from_the_templates(
    tmp_path: Path, settings: dict[str, str], expected: Location
) -> None:
    environ = {
        "USAGE_RECORDS_URL": "sqlite:///records.db",
        "USAGE_STORAGE_SOURCE": "inventory",
        "USAGE_STORAGE_INVENTORY_BUCKET": "platform-inventory",
        **settings,
    }
    config = load_config(environ=environ, cwd=tmp_path)
    assert config.storage.source is StorageSource.INVENTORY
    assert config.storage.inventory_max_age_hours == 48  # the defaults
    assert config.storage.inventory_fallback is InventoryFallback.LISTING
    assert config.storage.locate_inventory("acme") == expected


# The store: a collection that reads the reports records where its figures came from.


def _collect_config(s3: S3Server, tmp_path: Path, fallback: InventoryFallback) -> CollectConfig:
    records_url = f"sqlite:///{tmp_path / 'records.sqlite3'}"
    make_records_database(records_url, {"acme": {"person": 4}, "small": {"event": 2}})
    return CollectConfig(
        storage=StorageConfig(
            endpoint_url=s3.endpoint_url,
            max_attempts=1,
            bucket_template="inv-{bucket_id}",
            source=StorageSource.INVENTORY,
            inventory_bucket=DEST,
            inventory_prefix_template=f"{tmp_path.name}/{{bucket}}/",
            inventory_fallback=fallback,
        ),
        records=RecordsConfig(url=records_url),
        workers=2,
    )


def _collect(engine: Engine, config: CollectConfig) -> dict[str, dict[str, Any]]:
    day = dt.datetime.now(dt.UTC).date()
    with Session(engine) as session, session.begin():
        for bucket_id in ("acme", "small", "plain"):
            new_client(session, bucket_id)
        targets = select_targets(session, None)
        start_runs(session, [target.client_id for target in targets], now=dt.datetime.now(dt.UTC),
                   snapshot_date=day, started_by=StartedBy.CLI)  # fmt: skip
    collect(engine, config, targets, day)
    with Session(engine) as session:
        return {run["bucket_id"]: run for run in list_runs(session, visible=None)}


def _storage(engine: Engine, bucket_id: str) -> dict[str, Any]:
    (stored,) = api_history(engine, bucket_id)
    return {prefix: (item["count"], item["bytes"])
            for prefix, item in stored["storage"]["by_prefix"].items()}  # fmt: skip


@pytest.mark.parametrize("fallback", [InventoryFallback.LISTING, InventoryFallback.FAIL])
def test_a_collection_records_the_source_of_each_clients_figures(
    engine: Engine,
    client: Any,
    s3: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fallback: InventoryFallback,
) -> None:
    now = dt.datetime.now(dt.UTC)
    where = f"{tmp_path.name}/"
    report(client, where + "inv-acme/", "inv-acme", created=now, file_format="Parquet")
    stale = report(client, where + "inv-small/", "inv-small", created=now - dt.timedelta(days=3))
    # inv-plain has no report.
    runs = _collect(engine, _collect_config(s3, tmp_path, fallback))
    assert runs["acme"]["run_status"] == "succeeded"
    assert runs["acme"]["storage_source"] == "inventory"
    assert _storage(engine, "acme") == measure_storage(client, Location("inv-acme", ""))
    if fallback is InventoryFallback.LISTING:
        for bucket_id in ("small", "plain"):
            assert (runs[bucket_id]["run_status"], runs[bucket_id]["storage_source"]) == (
                "succeeded", "listing"
            )  # fmt: skip
            listed = measure_storage(client, Location(f"inv-{bucket_id}", ""))
            assert _storage(engine, bucket_id) == listed
        # Why each report was refused, the bucket listed instead.
        assert " is 72 hours old " in runs["small"]["storage_note"]
        assert runs["plain"]["storage_note"].startswith("no complete inventory report in ")
        assert runs["acme"]["storage_note"] is None
        return
    assert (runs["small"]["run_status"], runs["small"]["storage_source"]) == ("failed", None)
    assert runs["small"]["storage_note"] is None
    assert runs["small"]["error"] == (
        f"inventory report s3://{DEST}/{stale.folder} is 72 hours old (from"
        f" {now - dt.timedelta(days=3):%Y-%m-%d %H:%M} UTC), older than the 48 allowed"
        " (storage.inventory_max_age_hours)"
    )
    assert (
        runs["plain"]["error"] == f"no complete inventory report in s3://{DEST}/{where}inv-plain/"
    )
    assert api_history(engine, "small") == []


def test_the_collection_page_shows_each_runs_source(
    engine: Engine,
    database_url: str,
    client: Any,
    s3: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report(client, f"{tmp_path.name}/inv-acme/", "inv-acme", created=dt.datetime.now(dt.UTC))
    _collect(engine, _collect_config(s3, tmp_path, InventoryFallback.FAIL))
    monkeypatch.setenv("USAGE_DATABASE_URL", database_url)
    monkeypatch.setattr("usage.runtime._engine", None)
    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
        at.switch_page("pages/collection.py")
        at.run()
        assert not at.exception, [item.value for item in at.exception]
        shown = shown_tables(at)["collection_runs"]
        table = shown.frame().set_index("Bucket")
        sources = {cell.text: None if source.grey else source.text  # the grey dash: none
                   for cell, source in zip(shown.column("Bucket"), shown.column("Source"),
                                           strict=True)}  # fmt: skip
        assert sources == {"acme": "inventory", "plain": None, "small": None}
        assert table["Last run"].to_dict()["small"] == "✗ failed"
    finally:
        if usage.runtime._engine is not None:
            usage.runtime._engine.dispose()
        st.cache_data.clear()
        st.cache_resource.clear()
