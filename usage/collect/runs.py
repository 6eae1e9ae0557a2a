"""Each client's last collection run, kept in ``collection_runs``.

A run is recorded when it starts (``running``) and when it ends
(``succeeded`` or ``failed`` with its error). The trigger claims a run with
one conditional upsert per client, which the database serialises: of two
processes racing for the same client, one claims it and the other sees a run
started less than the interval ago.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from usage.access import Visible, visible_clients
from usage.models import Client, CollectionRun, RunStatus, Snapshot
from usage.snapshots import as_utc, format_datetime

MAX_ERROR_LENGTH = 2000


class StartedBy(StrEnum):
    CLI = "cli"
    TRIGGER = "trigger"  # the API's trigger or the dashboard's button


def _insert(session: Session) -> Any:
    """The session's dialect's INSERT, the one with ON CONFLICT."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _run_row(
    client_id: int, now: dt.datetime, snapshot_date: dt.date, started_by: StartedBy
) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "started_at": as_utc(now),
        "finished_at": None,
        "status": RunStatus.RUNNING.value,
        "snapshot_date": snapshot_date,
        "started_by": started_by.value,
        "error": None,
    }


def _claim(session: Session, row: dict[str, Any], not_after: dt.datetime | None) -> bool:
    stmt = _insert(session)(CollectionRun).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=[CollectionRun.client_id],
        set_={name: getattr(stmt.excluded, name) for name in row if name != "client_id"},
        where=None if not_after is None else CollectionRun.started_at <= as_utc(not_after),
    )
    # A row comes back when the run was inserted or updated, none when the
    # WHERE kept the last run (rowcount is not dependable for an INSERT).
    return session.execute(stmt.returning(CollectionRun.client_id)).first() is not None


def start_runs(
    session: Session,
    client_ids: Sequence[int],
    *,
    now: dt.datetime,
    snapshot_date: dt.date,
    started_by: StartedBy,
) -> None:
    """Record runs as started, whenever the last one was."""
    for client_id in sorted(client_ids):
        _claim(session, _run_row(client_id, now, snapshot_date, started_by), None)


def claim_runs(
    session: Session,
    client_ids: Sequence[int],
    *,
    now: dt.datetime,
    snapshot_date: dt.date,
    interval: dt.timedelta,
) -> list[int]:
    """Start a run for each client whose last run started ``interval`` ago or
    more; returns the clients that could not be claimed.

    Rows are claimed in client id order, so concurrent claims of overlapping
    sets wait on each other instead of deadlocking. The caller rolls back
    when the answer is not empty to claim all or nothing.
    """
    blocked = []
    for client_id in sorted(client_ids):
        row = _run_row(client_id, now, snapshot_date, StartedBy.TRIGGER)
        if not _claim(session, row, now - interval):
            blocked.append(client_id)
    return blocked


def seconds_until_free(
    session: Session, client_ids: Sequence[int], *, now: dt.datetime, interval: dt.timedelta
) -> int:
    """Whole seconds until every one of ``client_ids`` may run again (at least 1)."""
    started = session.scalars(
        select(CollectionRun.started_at).where(CollectionRun.client_id.in_(client_ids))
    ).all()
    if not started:
        return 1
    wait = max(as_utc(value) for value in started) + interval - as_utc(now)
    return min(max(math.ceil(wait.total_seconds()), 1), math.ceil(interval.total_seconds()))


def finish_run(session: Session, client_id: int, *, now: dt.datetime, error: str | None) -> None:
    if error is not None and len(error) > MAX_ERROR_LENGTH:
        error = error[: MAX_ERROR_LENGTH - 1] + "…"
    session.execute(
        update(CollectionRun)
        .where(CollectionRun.client_id == client_id)
        .values(
            finished_at=as_utc(now),
            status=(RunStatus.SUCCEEDED if error is None else RunStatus.FAILED).value,
            error=error,
        )
    )


def list_runs(session: Session, *, visible: Visible) -> list[dict[str, Any]]:
    """Every visible client with its last run (``run_status`` "never" before
    the first) and its newest snapshot's date, whoever stored it (a client
    never run may hold demo or imported snapshots)."""
    latest = (
        select(func.max(Snapshot.snapshot_date))
        .where(Snapshot.client_id == Client.id)
        .correlate(Client)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Client.bucket_id,
            Client.display_name,
            Client.status,
            CollectionRun.status,
            CollectionRun.snapshot_date,
            CollectionRun.started_at,
            CollectionRun.finished_at,
            CollectionRun.started_by,
            CollectionRun.error,
            latest,
        )
        .outerjoin(CollectionRun, CollectionRun.client_id == Client.id)
        .where(*visible_clients(visible))
        .order_by(Client.bucket_id)
    )
    return [
        {
            "bucket_id": row[0],
            "display_name": row[1],
            "client_status": row[2],
            "run_status": row[3] or "never",
            "snapshot_date": row[4].isoformat() if row[4] else None,
            "started_at": format_datetime(row[5]) if row[5] else None,
            "finished_at": format_datetime(row[6]) if row[6] else None,
            "duration_seconds": (
                round((as_utc(row[6]) - as_utc(row[5])).total_seconds(), 3)
                if row[5] and row[6]
                else None
            ),
            "started_by": row[7],
            "error": row[8],
            "latest_snapshot_date": row[9].isoformat() if row[9] else None,
        }
        for row in rows
    ]
