"""Snapshots: their API encoding, how they are read in bulk and written whole.

A snapshot leaves this module as a plain dict in the API's shape (dates as
``YYYY-MM-DD``, ``computed_at`` as RFC 3339 UTC), built straight from Core
rows: the API encodes it as is and the pages turn lists of them into frames,
so both show the same numbers.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, insert, select
from sqlalchemy.orm import Session

from usage.models import (
    STANDARD_COLLECTIONS,
    Snapshot,
    SnapshotCollection,
    SnapshotPrefix,
)

SnapshotJSON = dict[str, Any]

_SNAPSHOT_COLUMNS = (
    Snapshot.client_id,
    Snapshot.snapshot_date,
    Snapshot.person,
    Snapshot.organisation,
    Snapshot.member,
    Snapshot.payment,
    Snapshot.ticket,
    Snapshot.booking,
    Snapshot.total_records,
    Snapshot.object_count,
    Snapshot.total_bytes,
    Snapshot.computed_at,
)


@dataclass
class SnapshotData:
    """One client's usage on one day, as computed or imported."""

    snapshot_date: dt.date
    records: dict[str, int]
    by_prefix: dict[str, tuple[int, int]]  # prefix -> (object_count, bytes)
    computed_at: dt.datetime

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def object_count(self) -> int:
        return sum(count for count, _ in self.by_prefix.values())

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.by_prefix.values())


def format_datetime(value: dt.datetime) -> str:
    """RFC 3339 in UTC; a naive value (SQLite drops the zone) is UTC already."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _encode(
    bucket_id: str,
    row: Sequence[Any],
    extras: dict[str, int],
    prefixes: dict[str, dict[str, int]],
) -> SnapshotJSON:
    records = dict(zip(STANDARD_COLLECTIONS, row[2:8], strict=True))
    records.update(extras)
    records["total"] = row[8]
    return {
        "bucket_id": bucket_id,
        "snapshot_date": row[1].isoformat(),
        "records": records,
        "storage": {
            "object_count": row[9],
            "total_bytes": row[10],
            "by_prefix": prefixes,
        },
        "computed_at": format_datetime(row[11]),
    }


def read_snapshots(
    session: Session,
    where: ColumnElement[bool],
    order_by: Sequence[Any],
    limit: int | None,
    bucket_ids: dict[int, str],
) -> list[SnapshotJSON]:
    """Snapshots matching ``where``, in order, with their details attached.

    ``bucket_ids`` maps every client id that can match to its bucket id. The
    details are read with the same filter narrowed to the rows found, so each
    of the three reads is an index range read.
    """
    stmt = select(*_SNAPSHOT_COLUMNS).where(where).order_by(*order_by)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = session.execute(stmt).all()
    if not rows:
        return []
    detail_filter = _detail_filter(rows)
    extras: dict[tuple[int, dt.date], dict[str, int]] = defaultdict(dict)
    for client_id, day, name, count in session.execute(
        select(
            SnapshotCollection.client_id,
            SnapshotCollection.snapshot_date,
            SnapshotCollection.collection,
            SnapshotCollection.count,
        )
        .where(detail_filter(SnapshotCollection))
        .order_by(SnapshotCollection.collection)
    ):
        extras[(client_id, day)][name] = count
    prefixes: dict[tuple[int, dt.date], dict[str, dict[str, int]]] = defaultdict(dict)
    for client_id, day, prefix, count, size in session.execute(
        select(
            SnapshotPrefix.client_id,
            SnapshotPrefix.snapshot_date,
            SnapshotPrefix.prefix,
            SnapshotPrefix.object_count,
            SnapshotPrefix.total_bytes,
        )
        .where(detail_filter(SnapshotPrefix))
        .order_by(SnapshotPrefix.prefix)
    ):
        prefixes[(client_id, day)][prefix] = {"count": count, "bytes": size}
    return [
        _encode(
            bucket_ids[row[0]],
            row,
            extras.get((row[0], row[1]), {}),
            prefixes.get((row[0], row[1]), {}),
        )
        for row in rows
    ]


def _detail_filter(rows: Sequence[Any]) -> Any:
    client_ids = {row[0] for row in rows}
    days = [row[1] for row in rows]
    first, last = min(days), max(days)

    def build(table: type[SnapshotCollection] | type[SnapshotPrefix]) -> Any:
        if len(client_ids) == 1:
            (client_id,) = client_ids
            return and_(
                table.client_id == client_id,
                table.snapshot_date.between(first, last),
            )
        return and_(
            table.client_id.in_(sorted(client_ids)),
            table.snapshot_date.between(first, last),
        )

    return build


def snapshot_row(client_id: int, data: SnapshotData) -> dict[str, Any]:
    row: dict[str, Any] = {
        "client_id": client_id,
        "snapshot_date": data.snapshot_date,
        "total_records": data.total_records,
        "object_count": data.object_count,
        "total_bytes": data.total_bytes,
        "computed_at": as_utc(data.computed_at),
    }
    for name in STANDARD_COLLECTIONS:
        row[name] = data.records.get(name, 0)
    return row


def insert_snapshots(session: Session, items: Iterable[tuple[int, SnapshotData]]) -> int:
    """Insert new snapshots in bulk (executemany); returns how many."""
    main: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []
    prefixes: list[dict[str, Any]] = []
    for client_id, data in items:
        main.append(snapshot_row(client_id, data))
        key = {"client_id": client_id, "snapshot_date": data.snapshot_date}
        extras.extend(
            {**key, "collection": name, "count": count}
            for name, count in data.records.items()
            if name not in STANDARD_COLLECTIONS
        )
        prefixes.extend(
            {**key, "prefix": prefix, "object_count": count, "total_bytes": size}
            for prefix, (count, size) in data.by_prefix.items()
        )
    if main:
        session.execute(insert(Snapshot), main)
    if extras:
        session.execute(insert(SnapshotCollection), extras)
    if prefixes:
        session.execute(insert(SnapshotPrefix), prefixes)
    return len(main)


def replace_snapshot(session: Session, client_id: int, data: SnapshotData) -> None:
    """Store one snapshot, replacing the same day's whole (details cascade)."""
    delete_snapshots(session, client_id, [data.snapshot_date])
    insert_snapshots(session, [(client_id, data)])


def delete_snapshots(session: Session, client_id: int, days: Sequence[dt.date]) -> None:
    # Children first: ON DELETE CASCADE holds on PostgreSQL, and on SQLite
    # only where foreign keys are switched on; do not rely on it.
    for table in (SnapshotCollection, SnapshotPrefix, Snapshot):
        session.execute(
            delete(table).where(table.client_id == client_id, table.snapshot_date.in_(days))
        )
