"""Every client's snapshot on one date, a page at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from usage.access import Visible, visible_clients
from usage.models import Client, Snapshot
from usage.paging import cursor_secret, decode_scoped_cursor, encode_scoped_cursor
from usage.portfolio import ClientChoice
from usage.snapshots import SnapshotJSON, read_snapshots
from usage.validation import DayParams


def read_day(
    session: Session,
    params: DayParams,
    after: str | None = None,
    limit: int | None = None,
    only: Visible = None,
) -> list[SnapshotJSON]:
    """Snapshots on ``params.snapshot_date`` in bucket_id order, after
    ``after``, among ``only`` when given."""
    client_filter = [] if after is None else [Client.bucket_id > after]
    client_filter.extend(visible_clients(only))
    clients = (
        select(Client.id, Client.bucket_id)
        .where(
            Client.id.in_(
                select(Snapshot.client_id).where(Snapshot.snapshot_date == params.snapshot_date)
            ),
            *client_filter,
        )
        .order_by(Client.bucket_id)
    )
    if limit is not None:
        clients = clients.limit(limit)
    bucket_ids: dict[int, str] = {row[0]: row[1] for row in session.execute(clients)}
    if not bucket_ids:
        return []
    snapshots = read_snapshots(
        session,
        and_(
            Snapshot.snapshot_date == params.snapshot_date,
            Snapshot.client_id.in_(list(bucket_ids)),
        ),
        order_by=[],
        limit=None,
        bucket_ids=bucket_ids,
    )
    return sorted(snapshots, key=lambda snapshot: snapshot["bucket_id"])


def clients_on_day(
    choices: Iterable[ClientChoice], day: dt.date, snapped: Collection[str]
) -> set[str]:
    """The bucket ids of the clients ``day`` counts among ``choices``: those
    that were clients by then (``client_since`` on or before it), and any of
    ``snapped``, with a snapshot on it (collected before it was recorded as
    a client)."""
    return {
        choice.bucket_id
        for choice in choices
        if choice.client_since is None or choice.client_since <= day or choice.bucket_id in snapped
    }


def fetch_day(session: Session, params: DayParams, only: Visible = None) -> dict[str, Any]:
    secret = cursor_secret(session)
    scope = f"snapshots|{params.snapshot_date.isoformat()}"  # one date's listing
    after = decode_scoped_cursor(secret, params.cursor, scope) if params.cursor else None
    rows = read_day(session, params, after=after, limit=params.limit + 1, only=only)
    page = rows[: params.limit]
    more = len(rows) > params.limit
    return {
        "snapshots": page,
        "count": len(page),
        "cursor": encode_scoped_cursor(secret, page[-1]["bucket_id"], scope) if more else None,
    }
