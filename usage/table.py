"""Snapshots as a table: the columns of every CSV, the API's and the dashboard's.

One row per snapshot (or per period, showing its last snapshot), raw numbers:
the totals, one column per collection (the standard six, then the others by
name) and two per storage prefix (objects and bytes, prefixes by name), each
the union over the table's rows (0 where a snapshot does not list one), then
the time it was computed (RFC 3339, UTC). The API's ``format=csv`` and the
pages' CSV downloads are built here, so they have the same columns.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from usage.series import Period, collection_names
from usage.snapshots import SnapshotJSON

Table = dict[str, list[Any]]  # column name -> one value per row, in column order

TOTAL_RECORDS = "total records"
OBJECTS = "objects"
STORAGE_BYTES = "storage bytes"
COMPUTED_AT = "computed at"


def prefix_columns(prefix: str) -> tuple[str, str]:
    """The two columns of one storage prefix: its objects and its bytes."""
    return f"{prefix} objects", f"{prefix} bytes"


def snapshot_columns(snapshots: Sequence[SnapshotJSON], taken: Iterable[str] = ()) -> Table:
    """The columns every table of snapshots has, after its leading ones
    (``taken``: their names, which a collection's column must not reuse)."""
    collections = collection_names(snapshots)
    prefixes = sorted({prefix for s in snapshots for prefix in s["storage"]["by_prefix"]})
    used = {*taken, TOTAL_RECORDS, OBJECTS, STORAGE_BYTES, COMPUTED_AT}
    used.update(name for prefix in prefixes for name in prefix_columns(prefix))
    table: Table = {TOTAL_RECORDS: [s["records"]["total"] for s in snapshots]}
    for name in collections:
        # A collection named like another column (say "objects") keeps its own.
        column = name if name not in used else f"{name} (collection)"
        table[column] = [s["records"].get(name, 0) for s in snapshots]
    table[OBJECTS] = [s["storage"]["object_count"] for s in snapshots]
    table[STORAGE_BYTES] = [s["storage"]["total_bytes"] for s in snapshots]
    for prefix in prefixes:
        objects, size = prefix_columns(prefix)
        entries = [s["storage"]["by_prefix"].get(prefix) for s in snapshots]
        table[objects] = [0 if entry is None else entry["count"] for entry in entries]
        table[size] = [0 if entry is None else entry["bytes"] for entry in entries]
    table[COMPUTED_AT] = [s["computed_at"] for s in snapshots]
    return table


def prefix_column_names(snapshots: Iterable[SnapshotJSON]) -> list[str]:
    """Every storage prefix's two columns in a table of these snapshots (the
    pages show storage by prefix as a chart, and leave these to the CSV)."""
    prefixes = sorted({prefix for s in snapshots for prefix in s["storage"]["by_prefix"]})
    return [name for prefix in prefixes for name in prefix_columns(prefix)]


def history_table(snapshots: Sequence[SnapshotJSON]) -> Table:
    """One client's snapshots, one row per day (the client page's CSV by day)."""
    head: Table = {"date": [s["snapshot_date"] for s in snapshots]}
    return {**head, **snapshot_columns(snapshots, head)}


def period_table(periods: Sequence[Period]) -> Table:
    """One client's periods with a snapshot, one row each, with the days the
    period covers in the range and whether that is only part of it (the
    client page's CSV by week or month)."""
    snapshots = [period.snapshot for period in periods if period.snapshot is not None]
    if len(snapshots) != len(periods):
        raise ValueError("every period of a table shows a snapshot")
    head: Table = {
        "period": [period.label for period in periods],
        "from": [period.start.isoformat() for period in periods],
        "to": [period.end.isoformat() for period in periods],
        "partial": [period.partial for period in periods],
        "snapshot date": [s["snapshot_date"] for s in snapshots],
    }
    return {**head, **snapshot_columns(snapshots, head)}


def day_table(snapshots: Sequence[SnapshotJSON], names: Mapping[str, str] | None = None) -> Table:
    """Every client's snapshot on one day, one row each (the daily snapshot
    page's CSV); ``names``: display names by bucket id, for a ``client``
    column after the bucket's."""
    head: Table = {"bucket": [s["bucket_id"] for s in snapshots]}
    if names is not None:
        head["client"] = [names.get(s["bucket_id"], "") for s in snapshots]
    return {**head, **snapshot_columns(snapshots, head)}


def write_csv(table: Table) -> str:
    """The table as CSV text, as pandas' ``to_csv(index=False)`` writes it:
    a header line, ``\\n`` line ends, quotes only where needed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table)
    writer.writerows(zip(*table.values(), strict=True))
    return out.getvalue()
