"""Small, exact histories for the dashboard's domain tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from usage.models import STANDARD_COLLECTIONS, Client
from usage.snapshots import SnapshotData, insert_snapshots

DAY = dt.date(2024, 3, 1)


def snapshot(
    day: dt.date,
    total: int,
    *,
    extra: dict[str, int] | None = None,
    prefixes: dict[str, tuple[int, int]] | None = None,
) -> SnapshotData:
    """``total`` records: all in ``person`` but for ``extra``."""
    records = dict.fromkeys(STANDARD_COLLECTIONS, 0)
    records.update(extra or {})
    records["person"] = total - sum((extra or {}).values())
    return SnapshotData(
        snapshot_date=day,
        records=records,
        by_prefix=prefixes if prefixes is not None else {"documents/": (total // 10, total * 100)},
        computed_at=dt.datetime.combine(day, dt.time(2, 0), tzinfo=dt.UTC),
    )


def store(
    engine: Engine,
    bucket_id: str,
    snapshots: Iterable[SnapshotData],
    *,
    name: str | None = None,
    status: str = "active",
) -> None:
    with Session(engine) as session, session.begin():
        client_id = session.execute(
            insert(Client).returning(Client.id),
            {
                "bucket_id": bucket_id,
                "display_name": name or bucket_id.replace("-", " ").title(),
                "status": status,
                "client_since": DAY - dt.timedelta(days=365),
            },
        ).scalar_one()
        insert_snapshots(session, [(client_id, item) for item in snapshots])


def days(start: dt.date, count: int, skip: Iterable[int] = ()) -> list[dt.date]:
    """``count`` consecutive days from ``start``, less the offsets in ``skip``."""
    skipped = set(skip)
    return [start + dt.timedelta(days=n) for n in range(count) if n not in skipped]
