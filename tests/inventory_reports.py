"""S3 Inventory reports written as AWS writes them, for the tests and the benchmark.

``write_report`` puts one report of the given objects into a bucket over the
S3 API: ``<folder>/<YYYY-MM-DDTHH-MMZ>/manifest.json`` and
``manifest.checksum``, the data files under ``<folder>/data/`` (gzipped CSV
with URL-encoded keys, or Parquet with several row groups), and a Hive
``symlink.txt`` beside them, as AWS lays them out.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any
from urllib.parse import quote_plus

import pyarrow as pa
import pyarrow.parquet as pq

CSV_COLUMNS = ["Bucket", "Key", "Size", "LastModifiedDate", "ETag", "StorageClass"]
CSV_VERSIONED_COLUMNS = [
    "Bucket", "Key", "VersionId", "IsLatest", "IsDeleteMarker", "Size", "LastModifiedDate",
    "ETag", "StorageClass",
]  # fmt: skip
PARQUET_SCHEMA = (
    "message s3.inventory { required binary bucket (STRING); required binary key (STRING);"
    " optional binary version_id (STRING); optional boolean is_latest;"
    " optional boolean is_delete_marker; optional int64 size;"
    " optional int64 last_modified_date (TIMESTAMP(MILLIS,true));"
    " optional binary e_tag (STRING); optional binary storage_class (STRING);}"
)


@dataclass(frozen=True)
class Row:
    """One line of a report: an object, or (with versions) an old version or a delete marker."""

    key: str
    size: int | None
    is_latest: bool = True
    is_delete_marker: bool = False


@dataclass(frozen=True)
class Report:
    bucket: str
    folder: str  # the report's own folder, "<prefix>YYYY-MM-DDTHH-MMZ/"
    data_keys: tuple[str, ...]

    @property
    def manifest_key(self) -> str:
        return self.folder + "manifest.json"

    @property
    def checksum_key(self) -> str:
        return self.folder + "manifest.checksum"


def current_rows(objects: Iterable[tuple[str, int]]) -> Iterator[Row]:
    for key, size in objects:
        yield Row(key, size)


def write_report(
    s3: Any,
    *,
    bucket: str,
    prefix: str,
    source_bucket: str,
    rows: Iterable[Row],
    created: dt.datetime,
    file_format: str = "CSV",
    rows_per_file: int = 1000,
    versions: bool = False,
    columns: list[str] | None = None,
    complete: bool = True,
) -> Report:
    """Write a report into ``bucket`` under ``prefix`` (the configuration's
    folder, ending in "/"); ``complete=False`` leaves out the checksum, as
    while S3 is still delivering it."""
    folder = f"{prefix}{created:%Y-%m-%dT%H-%MZ}/"
    files: list[dict[str, Any]] = []
    iterator = iter(rows)
    while chunk := list(islice(iterator, rows_per_file)):
        if file_format == "Parquet":
            body, ext = _parquet(source_bucket, chunk, versions, rows_per_file), "parquet"
        else:
            names = columns or (CSV_VERSIONED_COLUMNS if versions else CSV_COLUMNS)
            body, ext = _csv_gz(source_bucket, chunk, names), "csv.gz"
        key = f"{prefix}data/{uuid.uuid4()}.{ext}"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        files.append({"key": key, "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()})
    if file_format == "Parquet":
        schema = PARQUET_SCHEMA
    else:
        schema = ", ".join(columns or (CSV_VERSIONED_COLUMNS if versions else CSV_COLUMNS))
    manifest = json.dumps(
        {
            "sourceBucket": source_bucket,
            "destinationBucket": f"arn:aws:s3:::{bucket}",
            "version": "2016-11-30",
            "creationTimestamp": str(int(created.timestamp() * 1000)),
            "fileFormat": file_format,
            "fileSchema": schema,
            "files": files,
        },
        indent=2,
    ).encode()
    s3.put_object(Bucket=bucket, Key=folder + "manifest.json", Body=manifest)
    hive = f"{prefix}hive/dt={created:%Y-%m-%d-%H-%M}/symlink.txt"
    s3.put_object(Bucket=bucket, Key=hive, Body="\n".join(f["key"] for f in files).encode())
    if complete:
        checksum = hashlib.md5(manifest).hexdigest().encode()
        s3.put_object(Bucket=bucket, Key=folder + "manifest.checksum", Body=checksum)
    return Report(bucket, folder, tuple(f["key"] for f in files))


def _csv_gz(source_bucket: str, rows: list[Row], columns: list[str]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for row in rows:
        values = {
            "Bucket": source_bucket,
            "Key": quote_plus(row.key, safe="/"),  # URL-encoded, a space as "+"
            "VersionId": uuid.uuid4().hex,
            "IsLatest": "true" if row.is_latest else "false",
            "IsDeleteMarker": "true" if row.is_delete_marker else "false",
            "Size": "" if row.size is None else str(row.size),
            "LastModifiedDate": "2024-02-29T10:00:00.000Z",
            "ETag": "0" * 32,
            "StorageClass": "STANDARD",
        }
        writer.writerow([values[name] for name in columns])
    return gzip.compress(text.getvalue().encode(), mtime=0)


def _parquet(source_bucket: str, rows: list[Row], versions: bool, rows_per_file: int) -> bytes:
    columns: dict[str, Any] = {
        "bucket": pa.array([source_bucket] * len(rows), pa.string()),
        "key": pa.array([row.key for row in rows], pa.string()),
    }
    if versions:
        columns["version_id"] = pa.array([uuid.uuid4().hex for _ in rows], pa.string())
        columns["is_latest"] = pa.array([row.is_latest for row in rows], pa.bool_())
        columns["is_delete_marker"] = pa.array([row.is_delete_marker for row in rows], pa.bool_())
    columns["size"] = pa.array([row.size for row in rows], pa.int64())
    columns["last_modified_date"] = pa.array(
        [dt.datetime(2024, 2, 29, 10, tzinfo=dt.UTC)] * len(rows), pa.timestamp("ms", tz="UTC")
    )
    columns["storage_class"] = pa.array(["STANDARD"] * len(rows), pa.string())
    sink = io.BytesIO()
    # Several row groups a file, as large reports have.
    pq.write_table(pa.table(columns), sink, row_group_size=max(1, rows_per_file // 3))
    return sink.getvalue()
