"""Storage usage of one client from its bucket's S3 Inventory report, summed as the listing sums it.

S3 Inventory delivers, daily or weekly, a list of every object of a bucket.
Under ``<destination prefix>/<source bucket>/<configuration id>/`` each
report has a folder ``YYYY-MM-DDTHH-MMZ/`` holding ``manifest.json`` (the
report's data files with their size and MD5, their format and columns) and
``manifest.checksum`` (the MD5 of the manifest), which S3 writes last: the
newest folder with a checksum is the newest complete report.

A report is used whole and checked, or not at all: the manifest against its
checksum, its source bucket, its age, and every data file against its size
and MD5. Anything else is an ``InventoryError`` naming the report and the
problem. Data files are streamed (CSV: gzip and csv a row at a time; Parquet:
pyarrow a batch at a time), keeping one running total per top-level prefix,
so memory does not grow with the object count. The sums are the listing's
(``usage.collect.storage``): the same keys, the same top-level prefixes, the
same ``(root)``; a zero-byte folder marker is an object like any other.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import re
import tempfile
import zlib
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

from botocore.exceptions import BotoCoreError, ClientError

from usage.collect.config import InventoryFallback, Location, StorageConfig, StorageSource
from usage.collect.storage import PrefixUsage, StorageError, measure_storage, top_level_prefix
from usage.models import ROOT_PREFIX

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CHECKSUM = "manifest.checksum"
FORMATS = ("CSV", "Parquet")
_REPORT_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}Z/")
_CHUNK_BYTES = 1 << 20
_PARQUET_BATCH_ROWS = 65_536

Totals = dict[str, list[int]]  # top-level prefix -> [object count, bytes], as they grow


class InventoryError(StorageError):
    """An inventory report that cannot be used; the message says which and why."""


class NoInventoryReport(InventoryError):
    """No complete report where the client's reports are delivered."""


@dataclass(frozen=True)
class DataFile:
    key: str  # in the inventory bucket
    size: int
    md5: str  # hex, lower case


@dataclass(frozen=True)
class Manifest:
    report: Location  # the report's folder
    source_bucket: str
    file_format: str  # one of FORMATS, or what the manifest says when it is not
    file_schema: str
    created_at: dt.datetime
    files: tuple[DataFile, ...]


class Measured(NamedTuple):
    """A client's storage as measured, and how."""

    usage: PrefixUsage
    source: StorageSource  # LISTING or INVENTORY: what the figures came from
    refused: str | None = None  # why the inventory report was refused and the bucket listed


def measure_usage(s3: Any, storage: StorageConfig, bucket_id: str, *, now: dt.datetime) -> Measured:
    """The client's usage by top-level prefix and where it came from
    (``LISTING`` or ``INVENTORY``), as ``storage.source`` and
    ``storage.inventory_fallback`` say, with the reason a report was refused
    when the bucket was listed instead; raises ``StorageError``."""
    location = storage.locate(bucket_id)
    if storage.source is StorageSource.LISTING:
        return Measured(measure_storage(s3, location, storage.page_size), StorageSource.LISTING)
    max_age = dt.timedelta(hours=storage.inventory_max_age_hours)
    try:
        usage = measure_inventory(
            s3, storage.locate_inventory(bucket_id), location, now=now, max_age=max_age
        )
        return Measured(usage, StorageSource.INVENTORY)
    except NoInventoryReport as exc:
        if storage.source is not StorageSource.AUTO:
            problem: InventoryError = exc
        else:  # auto: a bucket without inventory is listed
            return Measured(measure_storage(s3, location, storage.page_size), StorageSource.LISTING)
    except InventoryError as exc:
        problem = exc
    if storage.inventory_fallback is InventoryFallback.FAIL:
        raise problem
    log.warning("%s: %s; listing the bucket instead", bucket_id, problem)
    listed = measure_storage(s3, location, storage.page_size)
    return Measured(listed, StorageSource.LISTING, str(problem))


def measure_inventory(
    s3: Any, inventory: Location, location: Location, *, now: dt.datetime, max_age: dt.timedelta
) -> PrefixUsage:
    """Object count and bytes of every key under ``location``, by top-level
    prefix, from the newest complete report in ``inventory``.

    Raises ``NoInventoryReport`` when there is none, ``InventoryError`` when
    it is not of ``location``'s bucket, is older than ``max_age`` at ``now``,
    or any check fails (nothing partial is returned).
    """
    manifest = read_manifest(s3, find_report(s3, inventory))
    check_manifest(manifest, location.bucket, now=now, max_age=max_age)
    check_data_files(s3, manifest)
    totals: Totals = {}
    add = _add_csv if manifest.file_format == "CSV" else _add_parquet
    for data_file in manifest.files:
        add(s3, manifest, data_file, location.prefix, totals)
    return {prefix: (count, size) for prefix, (count, size) in sorted(totals.items())}


def find_report(s3: Any, inventory: Location) -> Location:
    """The folder of the newest complete report in ``inventory``."""
    folders: list[str] = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=inventory.bucket, Prefix=inventory.prefix, Delimiter="/"
        )
        for page in pages:
            for common in page.get("CommonPrefixes", ()):
                folder = common["Prefix"][len(inventory.prefix) :]
                if _REPORT_FOLDER.fullmatch(folder):
                    folders.append(folder)
        # The names are fixed-width timestamps: their order is their time's.
        for folder in sorted(folders, reverse=True):
            report = Location(inventory.bucket, inventory.prefix + folder)
            if _exists(s3, report.bucket, report.prefix + CHECKSUM):
                return report  # a folder without one is still being delivered
    except (ClientError, BotoCoreError) as exc:
        raise _s3_failure(f"finding the inventory reports in {inventory}", exc) from exc
    raise NoInventoryReport(f"no complete inventory report in {inventory}")


def read_manifest(s3: Any, report: Location) -> Manifest:
    """The report's manifest, once it matches its checksum."""
    body = _read_object(s3, report, report.prefix + MANIFEST)
    expected = _read_object(s3, report, report.prefix + CHECKSUM).decode("ascii", "replace")
    actual = hashlib.md5(body, usedforsecurity=False).hexdigest()
    if actual != expected.strip().lower():
        raise InventoryError(
            f"inventory report {report}: {MANIFEST} does not match {CHECKSUM}"
            f" (its MD5 is {actual}, the checksum says {expected.strip()[:40]!r})"
        )
    try:
        document = json.loads(body)
        files = tuple(
            DataFile(_field(item, "key", str), _field(item, "size", int),
                     _field(item, "MD5checksum", str).lower())
            for item in _field(document, "files", list)
        )  # fmt: skip
        milliseconds = int(_field(document, "creationTimestamp", str))
        return Manifest(
            report=report,
            source_bucket=_field(document, "sourceBucket", str),
            file_format=_field(document, "fileFormat", str),
            file_schema=_field(document, "fileSchema", str),
            created_at=dt.datetime.fromtimestamp(milliseconds / 1000, dt.UTC),
            files=files,
        )
    except (ValueError, TypeError, OverflowError, OSError) as exc:  # bad JSON, field or time
        raise InventoryError(f"inventory report {report}: {MANIFEST} is not one: {exc}") from exc


def check_manifest(
    manifest: Manifest, bucket: str, *, now: dt.datetime, max_age: dt.timedelta
) -> None:
    """Refuse a report of another bucket, an old one, or one in a format not read here."""
    report = manifest.report
    if manifest.source_bucket != bucket:
        raise InventoryError(
            f"inventory report {report} is of bucket {manifest.source_bucket!r}, not {bucket!r}"
        )
    age = now - manifest.created_at
    if age > max_age:
        raise InventoryError(
            f"inventory report {report} is {age.total_seconds() / 3600:.0f} hours old"
            f" (from {manifest.created_at:%Y-%m-%d %H:%M} UTC), older than the"
            f" {max_age.total_seconds() / 3600:.0f} allowed (storage.inventory_max_age_hours)"
        )
    if manifest.file_format not in FORMATS:
        raise InventoryError(
            f"inventory report {report} is {manifest.file_format}: only CSV and Parquet"
            " reports are read (change the inventory configuration's format)"
        )


def check_data_files(s3: Any, manifest: Manifest) -> None:
    """Every data file of the manifest is there with its size (the MD5 is
    checked as each is read)."""
    report = manifest.report
    for data_file in manifest.files:
        try:
            size = int(s3.head_object(Bucket=report.bucket, Key=data_file.key)["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                raise InventoryError(
                    f"inventory report {report}: data file {data_file.key} is missing"
                ) from exc
            raise _s3_failure(f"reading inventory report {report}", exc) from exc
        except BotoCoreError as exc:
            raise _s3_failure(f"reading inventory report {report}", exc) from exc
        if size != data_file.size:
            raise InventoryError(
                f"inventory report {report}: data file {data_file.key} is {size} bytes,"
                f" its manifest says {data_file.size}"
            )


def _add_csv(s3: Any, manifest: Manifest, data_file: DataFile, prefix: str, totals: Totals) -> None:
    """Add a gzipped CSV data file's objects under ``prefix`` to ``totals``."""
    columns = [name.strip() for name in manifest.file_schema.split(",")]
    _require_columns(manifest, data_file, columns, "Key", "Size")
    key_at, size_at = columns.index("Key"), columns.index("Size")
    # A report of every version: the listing sees only the current ones.
    versions = "IsLatest" in columns and "IsDeleteMarker" in columns
    latest_at = columns.index("IsLatest") if versions else -1
    marker_at = columns.index("IsDeleteMarker") if versions else -1
    body = _Digesting(_open_object(s3, manifest.report, data_file.key))
    unzipped = gzip.GzipFile(fileobj=body, mode="rb")
    rows = csv.reader(io.TextIOWrapper(unzipped, encoding="utf-8", newline=""))
    with body:  # closed at the end, whatever happens
        try:
            for row in rows:
                key = row[key_at]
                if "%" in key or "+" in key:  # keys are URL-encoded, a space as "+"
                    key = unquote_plus(key)
                if not key.startswith(prefix):
                    continue
                if versions and (row[latest_at] != "true" or row[marker_at] == "true"):
                    continue
                entry = totals.setdefault(top_level_prefix(key[len(prefix) :]), [0, 0])
                entry[0] += 1
                entry[1] += int(row[size_at])
            body.drain()
        except (BotoCoreError, ClientError) as exc:
            raise _s3_failure(f"reading inventory report {manifest.report}", exc) from exc
        except (OSError, EOFError, zlib.error, csv.Error, ValueError, IndexError) as exc:
            body.drain()  # a damaged file: say so by its MD5 first, when that differs
            _check_digest(manifest, data_file, body)
            raise InventoryError(
                f"inventory report {manifest.report}: data file {data_file.key} is not a gzipped"
                f" CSV of the manifest's columns (line {rows.line_num}: {exc})"
            ) from exc
        _check_digest(manifest, data_file, body)


def _add_parquet(
    s3: Any, manifest: Manifest, data_file: DataFile, prefix: str, totals: Totals
) -> None:
    """Add a Parquet data file's objects under ``prefix`` to ``totals``.

    Parquet is read from its end (the footer), so the file is copied to a
    temporary file first, its MD5 checked on the way; then only the columns
    needed are read, a batch of rows at a time.
    """
    # Imported here: pyarrow takes a fifth of a second to import, and only
    # Parquet reports need it.
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryFile() as spool:
        with _Digesting(_open_object(s3, manifest.report, data_file.key)) as body:
            try:
                while chunk := body.read(_CHUNK_BYTES):
                    spool.write(chunk)
            except (BotoCoreError, ClientError) as exc:
                raise _s3_failure(f"reading inventory report {manifest.report}", exc) from exc
        _check_digest(manifest, data_file, body)
        spool.seek(0)
        try:
            parquet = pq.ParquetFile(spool)
            columns = parquet.schema_arrow.names
            _require_columns(manifest, data_file, columns, "key", "size")
            versions = "is_latest" in columns and "is_delete_marker" in columns
            wanted = ["key", "size", *(["is_latest", "is_delete_marker"] if versions else [])]
            for batch in parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS, columns=wanted):
                _add_batch(batch, prefix, versions, totals)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InventoryError(
                f"inventory report {manifest.report}: data file {data_file.key} is not"
                f" readable Parquet: {exc}"
            ) from exc


def _add_batch(batch: Any, prefix: str, versions: bool, totals: Totals) -> None:
    """Sum a batch of Parquet rows by top-level prefix, in Arrow's kernels."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys, sizes = batch.column("key"), batch.column("size")
    if not pa.types.is_string(keys.type) and not pa.types.is_large_string(keys.type):
        keys = keys.cast(pa.string())
    keep = pc.starts_with(keys, prefix) if prefix else None
    if versions:
        current = pc.and_not(
            pc.fill_null(batch.column("is_latest"), False),
            pc.fill_null(batch.column("is_delete_marker"), False),
        )
        keep = current if keep is None else pc.and_(keep, current)
    if keep is not None:
        keys, sizes = keys.filter(keep), sizes.filter(keep)
    if sizes.null_count:
        raise ValueError(f"{sizes.null_count} current objects have no size")
    relative = pc.utf8_slice_codeunits(keys, start=len(prefix)) if prefix else keys
    parts = pc.split_pattern(relative, "/", max_splits=1)
    top = pc.if_else(
        pc.greater(pc.list_value_length(parts), 1),
        pc.binary_join_element_wise(pc.list_element(parts, 0), "/", ""),  # "documents" + "/"
        ROOT_PREFIX,
    )
    grouped = (
        pa.table({"top": top, "size": sizes})
        .group_by("top")
        .aggregate([("size", "count"), ("size", "sum")])
        .to_pydict()
    )
    for name, count, size in zip(
        grouped["top"], grouped["size_count"], grouped["size_sum"], strict=True
    ):
        entry = totals.setdefault(name, [0, 0])
        entry[0] += count
        entry[1] += size


def _require_columns(
    manifest: Manifest, data_file: DataFile, columns: list[str], *names: str
) -> None:
    for name in names:
        if name not in columns:
            raise InventoryError(
                f"inventory report {manifest.report}: data file {data_file.key} has no"
                f" {name} column (the inventory configuration must include the field)"
            )


class _Digesting(io.RawIOBase):
    """A response body read through, counting its bytes and their MD5."""

    def __init__(self, body: Any) -> None:
        super().__init__()
        self._body = body
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk: bytes = self._body.read(len(buffer))
        buffer[: len(chunk)] = chunk
        self.md5.update(chunk)
        self.size += len(chunk)
        return len(chunk)

    def close(self) -> None:
        self._body.close()  # gives the connection back to the pool
        super().close()

    def drain(self) -> None:
        """Read what the reader above left (gzip may stop short of the end)."""
        while self.read(_CHUNK_BYTES):
            pass


def _check_digest(manifest: Manifest, data_file: DataFile, body: _Digesting) -> None:
    report = manifest.report
    if body.size != data_file.size:
        raise InventoryError(
            f"inventory report {report}: data file {data_file.key} was {body.size} bytes"
            f" when read, its manifest says {data_file.size}"
        )
    actual = body.md5.hexdigest()
    if actual != data_file.md5:
        raise InventoryError(
            f"inventory report {report}: data file {data_file.key} does not match the"
            f" manifest's MD5 (its MD5 is {actual}, the manifest says {data_file.md5})"
        )


def _field(document: Any, name: str, kind: type[Any]) -> Any:
    if not isinstance(document, dict):
        raise ValueError(f"expected an object, found {type(document).__name__}")
    value = document.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{name!r} is missing or not a {kind.__name__}")
    return value


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            return False
        raise
    return True


def _open_object(s3: Any, report: Location, key: str) -> Any:
    try:
        return s3.get_object(Bucket=report.bucket, Key=key)["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
            name = key.removeprefix(report.prefix)
            raise InventoryError(f"inventory report {report}: {name} is missing") from exc
        raise _s3_failure(f"reading inventory report {report}", exc) from exc
    except BotoCoreError as exc:
        raise _s3_failure(f"reading inventory report {report}", exc) from exc


def _read_object(s3: Any, report: Location, key: str) -> bytes:
    body = _open_object(s3, report, key)
    try:
        data: bytes = body.read()
    except BotoCoreError as exc:
        raise _s3_failure(f"reading inventory report {report}", exc) from exc
    return data


def _s3_failure(doing: str, exc: ClientError | BotoCoreError) -> InventoryError:
    if isinstance(exc, BotoCoreError):
        return InventoryError(f"{doing} failed: {exc}")
    error = exc.response.get("Error", {})
    code = error.get("Code", "error")
    if code == "NoSuchBucket":
        return InventoryError(f"{doing} failed: the inventory bucket does not exist")
    return InventoryError(f"{doing} failed: {code}: {error.get('Message', '')}")
