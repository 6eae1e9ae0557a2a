"""The portfolio's daily totals and each client's latest snapshot, kept in
tables written in the same transaction as the snapshots.

Every write of snapshots (``usage.snapshots.insert_snapshots`` and
``replace_snapshots``: collection, import, demo) goes through ``kept``: it
reads the changed clients' contributions around the changed days before and
after the write and stores the difference, so the tables stay what
``rebuild`` would make from scratch.

- ``portfolio_changes``: one row per day, what that day changes in the
  portfolio's total (see ``PortfolioChange``). The total on a day is the
  running sum up to it: the pages read a few hundred small rows instead of
  every snapshot of the window. The changes only add up (no row is read and
  rewritten), so concurrent writers of different clients commute.
- ``latest_snapshots``: one row per client, its newest snapshot and its
  baseline ``CHANGE_DAYS`` before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, case, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from usage.models import Client, LatestSnapshot, PortfolioChange, Snapshot

# A client's change is its latest snapshot against its last one this many
# days before (the portfolio table, the movers, the tiles).
CHANGE_DAYS = 30

Reader = Session | Connection
# day -> (records, bytes, first snapshots, snapshots)
Changes = dict[dt.date, tuple[int, int, int, int]]


def upsert(reader: Reader) -> Any:
    """The dialect's INSERT, the one with ON CONFLICT."""
    return postgresql.insert if _dialect(reader) == "postgresql" else sqlite.insert


def _dialect(reader: Reader) -> str:
    bind = reader.get_bind() if isinstance(reader, Session) else reader
    return bind.dialect.name


@contextmanager
def kept(reader: Reader, days_by_client: Mapping[int, Collection[dt.date]]) -> Iterator[None]:
    """Keep the tables true across a write of these clients' snapshots on
    these days (inserted, replaced or deleted) done inside the block."""
    spans = {client: (min(days), max(days)) for client, days in days_by_client.items() if days}
    if spans and _dialect(reader) == "postgresql":
        # One writer of a client at a time: another's changes to its
        # snapshots would change what its neighbouring days contribute. In
        # READ COMMITTED (``usage.db.for_writes``) the reads below then see
        # what the one before committed.
        reader.execute(
            select(Client.id)
            .where(Client.id.in_(sorted(spans)))
            .order_by(Client.id)
            .with_for_update()
        )
    before = _contributions(reader, spans)
    yield
    after = _contributions(reader, spans)
    _add_changes(reader, _difference(after, before))
    refresh_latest(reader, sorted(spans))


def _contributions(reader: Reader, spans: Mapping[int, tuple[dt.date, dt.date]]) -> Changes:
    """What the clients' snapshots from each span's first day up to their
    first snapshot after its last day add to each day's change: the rest of
    their history is untouched by a write inside the span."""
    changes: Changes = {}
    for client_id, (first, last) in spans.items():
        before = (
            select(func.max(Snapshot.snapshot_date))
            .where(Snapshot.client_id == client_id, Snapshot.snapshot_date < first)
            .scalar_subquery()
        )
        after = (
            select(func.min(Snapshot.snapshot_date))
            .where(Snapshot.client_id == client_id, Snapshot.snapshot_date > last)
            .scalar_subquery()
        )
        rows = reader.execute(
            select(Snapshot.snapshot_date, Snapshot.total_records, Snapshot.total_bytes)
            .where(
                Snapshot.client_id == client_id,
                Snapshot.snapshot_date >= func.coalesce(before, first),
                Snapshot.snapshot_date <= func.coalesce(after, last),
            )
            .order_by(Snapshot.snapshot_date)
        ).all()
        previous: tuple[int, int] | None = None
        for day, records, size in rows:
            if day >= first:
                was_records, was_bytes = previous or (0, 0)
                _add(changes, day, (records - was_records, size - was_bytes,
                                    int(previous is None), 1))  # fmt: skip
            previous = (records, size)
    return changes


def _add(changes: Changes, day: dt.date, change: tuple[int, int, int, int]) -> None:
    now = changes.get(day, (0, 0, 0, 0))
    changes[day] = (now[0] + change[0], now[1] + change[1], now[2] + change[2], now[3] + change[3])


def _difference(after: Changes, before: Changes) -> Changes:
    difference: Changes = {}
    for day in after.keys() | before.keys():
        a, b = after.get(day, (0, 0, 0, 0)), before.get(day, (0, 0, 0, 0))
        change = (a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3])
        if any(change):
            difference[day] = change
    return difference


def _add_changes(reader: Reader, changes: Changes) -> None:
    """Add to each day's row, in date order (the lock order of concurrent
    writers on PostgreSQL)."""
    if not changes:
        return
    rows = [
        {"snapshot_date": day, "total_records": records, "total_bytes": size,
         "first_snapshots": firsts, "snapshots": count}
        for day, (records, size, firsts, count) in sorted(changes.items())
    ]  # fmt: skip
    stmt = upsert(reader)(PortfolioChange)
    table = PortfolioChange.__table__.c
    stmt = stmt.on_conflict_do_update(
        index_elements=[PortfolioChange.snapshot_date],
        set_={
            name: table[name] + getattr(stmt.excluded, name)
            for name in ("total_records", "total_bytes", "first_snapshots", "snapshots")
        },
    )
    reader.execute(stmt, rows)


def refresh_latest(reader: Reader, client_ids: Iterable[int]) -> None:
    """Write each client's row of ``latest_snapshots`` anew from its snapshots
    (none for a client without any)."""
    ids = list(client_ids)
    if not ids:
        return
    newest = (
        select(Snapshot.client_id, func.max(Snapshot.snapshot_date).label("day"))
        .where(Snapshot.client_id.in_(ids))
        .group_by(Snapshot.client_id)
    )
    rows: list[dict[str, Any]] = []
    for client_id, day in reader.execute(newest).all():
        latest = reader.execute(
            select(
                Snapshot.total_records,
                Snapshot.total_bytes,
                Snapshot.object_count,
                Snapshot.computed_at,
            ).where(Snapshot.client_id == client_id, Snapshot.snapshot_date == day)
        ).one()
        baseline = reader.execute(
            select(Snapshot.snapshot_date, Snapshot.total_records)
            .where(
                Snapshot.client_id == client_id,
                Snapshot.snapshot_date <= day - dt.timedelta(days=CHANGE_DAYS),
            )
            .order_by(Snapshot.snapshot_date.desc())
            .limit(1)
        ).first()
        rows.append(
            {
                "client_id": client_id,
                "snapshot_date": day,
                "total_records": latest.total_records,
                "total_bytes": latest.total_bytes,
                "object_count": latest.object_count,
                "computed_at": latest.computed_at,
                "baseline_date": baseline[0] if baseline else None,
                "baseline_records": baseline[1] if baseline else None,
            }
        )
    reader.execute(delete(LatestSnapshot).where(LatestSnapshot.client_id.in_(ids)))
    if rows:
        reader.execute(upsert(reader)(LatestSnapshot), rows)


def rebuild(reader: Reader) -> None:
    """Make both tables anew from every snapshot (the migration that adds
    them, a bulk load that bypasses ``kept``, or a repair): one pass of SQL
    for the changes, and one client at a time for the latest rows."""
    reader.execute(delete(PortfolioChange))
    previous = (
        select(
            Snapshot.snapshot_date,
            Snapshot.total_records,
            Snapshot.total_bytes,
            func.lag(Snapshot.total_records)
            .over(partition_by=Snapshot.client_id, order_by=Snapshot.snapshot_date)
            .label("was_records"),
            func.lag(Snapshot.total_bytes)
            .over(partition_by=Snapshot.client_id, order_by=Snapshot.snapshot_date)
            .label("was_bytes"),
        )
    ).subquery("previous")
    by_day = select(
        previous.c.snapshot_date,
        func.sum(previous.c.total_records - func.coalesce(previous.c.was_records, 0)),
        func.sum(previous.c.total_bytes - func.coalesce(previous.c.was_bytes, 0)),
        func.sum(case((previous.c.was_records.is_(None), 1), else_=0)),
        func.count(),
    ).group_by(previous.c.snapshot_date)
    reader.execute(
        insert(PortfolioChange).from_select(
            ["snapshot_date", "total_records", "total_bytes", "first_snapshots", "snapshots"],
            by_day,
        )
    )
    reader.execute(delete(LatestSnapshot))
    ids = list(reader.scalars(select(Client.id).order_by(Client.id)))
    for start in range(0, len(ids), 500):
        refresh_latest(reader, ids[start : start + 500])


def read_changes(reader: Reader, end: dt.date) -> list[Any]:
    """Every day's change up to ``end``, oldest first: (day, records, bytes,
    first snapshots, snapshots)."""
    return list(
        reader.execute(
            select(
                PortfolioChange.snapshot_date,
                PortfolioChange.total_records,
                PortfolioChange.total_bytes,
                PortfolioChange.first_snapshots,
                PortfolioChange.snapshots,
            )
            .where(PortfolioChange.snapshot_date <= end)
            .order_by(PortfolioChange.snapshot_date)
        ).all()
    )
