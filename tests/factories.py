"""Small builders of clients and snapshots for tests, and the API's reading of them."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterable, Iterator, Sequence

import orjson
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from usage.clients import add_client
from usage.history import fetch_history_json, find_client_id
from usage.models import STANDARD_COLLECTIONS, Client
from usage.snapshots import SnapshotData, SnapshotJSON, insert_snapshots, replace_snapshot
from usage.validation import MAX_LIMIT, HistoryParams, parse_new_client

BASE_DAY = dt.date(2024, 1, 1)
STORE_DAY = dt.date(2024, 3, 1)


def new_client(session: Session, bucket_id: str, status: str = "active") -> int:
    add_client(
        session,
        parse_new_client(
            bucket_id=bucket_id,
            display_name=bucket_id.replace("-", " ").title(),
            status=status,
            client_since="2023-06-01",
            trial_end_date=None,
        ),
    )
    return find_client_id(session, bucket_id)


def snapshot(
    day: dt.date,
    scale: int = 1,
    extra: dict[str, int] | None = None,
    prefixes: dict[str, tuple[int, int]] | None = None,
) -> SnapshotData:
    records = {"person": 100 * scale, "organisation": 10 * scale, "member": 50 * scale,
               "payment": 300 * scale, "ticket": 20 * scale, "booking": 5 * scale}  # fmt: skip
    records.update(extra or {})
    return SnapshotData(
        snapshot_date=day,
        records=records,
        by_prefix=prefixes or {"documents/": (10 * scale, 1000 * scale), "images/": (2, 2048)},
        computed_at=dt.datetime.combine(day, dt.time(2, 0), tzinfo=dt.UTC),
    )


def add_days(session: Session, client_id: int, days: list[dt.date], **kwargs: object) -> None:
    insert_snapshots(
        session,
        [(client_id, snapshot(day, scale=i + 1, **kwargs)) for i, day in enumerate(days)],  # type: ignore[arg-type]
    )


def day(offset: int) -> dt.date:
    return BASE_DAY + dt.timedelta(days=offset)


# Exact histories for the dashboard's domain tests.


def snapshot_of_total(
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


def snapshot_json(
    day: dt.date, records: dict[str, int], prefixes: dict[str, int], *, bucket_id: str
) -> SnapshotJSON:
    """A snapshot in the API's shape: the standard collections at 0 unless
    named, the total their sum; storage the sum of ``prefixes`` (bytes)."""
    counts = dict.fromkeys(STANDARD_COLLECTIONS, 0) | records
    return {
        "bucket_id": bucket_id,
        "snapshot_date": day.isoformat(),
        "records": {**counts, "total": sum(counts.values())},
        "storage": {
            "object_count": len(prefixes),
            "total_bytes": sum(prefixes.values()),
            "by_prefix": {p: {"count": 1, "bytes": size} for p, size in prefixes.items()},
        },
        "computed_at": f"{day.isoformat()}T02:00:00Z",
    }


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
                "client_since": STORE_DAY - dt.timedelta(days=365),
            },
        ).scalar_one()
        insert_snapshots(session, [(client_id, item) for item in snapshots])


def days(start: dt.date, count: int, skip: Iterable[int] = ()) -> list[dt.date]:
    """``count`` consecutive days from ``start``, less the offsets in ``skip``."""
    skipped = set(skip)
    return [start + dt.timedelta(days=n) for n in range(count) if n not in skipped]


def api_history(engine: Engine, bucket_id: str, **kwargs: object) -> list[SnapshotJSON]:
    """A client's history as the API answers it, from the stored bodies
    (``kwargs``: ``HistoryParams``' dates and limit; all rows by default)."""
    params = HistoryParams(bucket_id, **{"limit": MAX_LIMIT, **kwargs})  # type: ignore[arg-type]
    with engine.connect() as connection:
        body = orjson.loads(fetch_history_json(connection, params))
    assert body["count"] == len(body["snapshots"])
    snapshots: list[SnapshotJSON] = body["snapshots"]
    return snapshots


@contextlib.contextmanager
def replacing_in_turn(
    engine: Engine, client_id: int, versions: Sequence[SnapshotData]
) -> Iterator[None]:
    """While the block runs, a thread stores the versions of one day in turn,
    as fast as it can, each in a transaction of its own."""
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            with Session(engine) as session, session.begin():
                replace_snapshot(session, client_id, versions[i % len(versions)])
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        yield
    finally:
        stop.set()
        writer.join()
