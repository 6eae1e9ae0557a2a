"""Clients: adding them, listing them a page at a time, and one client's detail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, select
from sqlalchemy.orm import Session

from usage.access import client_not_found
from usage.errors import InvalidParams
from usage.models import Client, Snapshot
from usage.outlook import plan_json
from usage.paging import cursor_secret, decode_scoped_cursor, encode_scoped_cursor
from usage.plans import read_plans
from usage.snapshots import read_snapshots
from usage.validation import ClientsParams, NewClient

ClientJSON = dict[str, Any]


def add_client(session: Session, new: NewClient) -> None:
    if session.scalar(select(Client.id).where(Client.bucket_id == new.bucket_id)):
        raise InvalidParams(f"client {new.bucket_id!r} exists already")
    session.execute(
        insert(Client),
        {
            "bucket_id": new.bucket_id,
            "display_name": new.display_name,
            "status": new.status.value,
            "client_since": new.client_since,
            "trial_end_date": new.trial_end_date,
        },
    )


def _latest_date() -> Any:
    return (
        select(func.max(Snapshot.snapshot_date))
        .where(Snapshot.client_id == Client.id)
        .correlate(Client)
        .scalar_subquery()
    )


def _select_clients(where: ColumnElement[bool] | None) -> Any:
    stmt = select(
        Client.bucket_id,
        Client.display_name,
        Client.status,
        Snapshot.total_records,
        Snapshot.total_bytes,
        Client.trial_end_date,
        Client.client_since,
        Client.id,
        Snapshot.snapshot_date,
    ).outerjoin(
        Snapshot,
        and_(Snapshot.client_id == Client.id, Snapshot.snapshot_date == _latest_date()),
    )
    return stmt if where is None else stmt.where(where)


def _encode(row: Any) -> ClientJSON:
    return {
        "bucket_id": row[0],
        "display_name": row[1],
        "status": row[2],
        "total_records": row[3] or 0,
        "total_storage_bytes": row[4] or 0,
        "trial_end_date": row[5].isoformat() if row[5] else None,
        "client_since": row[6].isoformat(),
    }


def list_clients(
    session: Session,
    *,
    status: str | None,
    limit: int | None,
    after: str | None,
    only: frozenset[str] | None = None,
) -> list[ClientJSON]:
    """Clients in bucket_id order, after ``after``, at most ``limit``, among
    ``only`` when given."""
    conditions: list[ColumnElement[bool]] = []
    if only is not None:
        conditions.append(Client.bucket_id.in_(sorted(only)))
    if status is not None:
        conditions.append(Client.status == status)
    if after is not None:
        conditions.append(Client.bucket_id > after)
    stmt = _select_clients(and_(*conditions) if conditions else None)
    stmt = stmt.order_by(Client.bucket_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_encode(row) for row in session.execute(stmt)]


def fetch_clients_page(
    session: Session, params: ClientsParams, only: frozenset[str] | None = None
) -> dict[str, Any]:
    secret = cursor_secret(session)
    # A cursor holds its listing: the clients of one status filter.
    scope = f"clients|{params.status.value if params.status else ''}"
    after = decode_scoped_cursor(secret, params.cursor, scope) if params.cursor else None
    rows = list_clients(
        session,
        status=params.status.value if params.status else None,
        limit=params.limit + 1,
        after=after,
        only=only,
    )
    page = rows[: params.limit]
    more = len(rows) > params.limit
    return {
        "clients": page,
        "count": len(page),
        "cursor": encode_scoped_cursor(secret, page[-1]["bucket_id"], scope) if more else None,
    }


def fetch_client(session: Session, bucket_id: str) -> ClientJSON:
    """A client with its ``latest_snapshot`` (None before the first one) and
    its ``plan`` (``usage.outlook.plan_json``: None without one)."""
    row = session.execute(_select_clients(Client.bucket_id == bucket_id)).first()
    if row is None:
        raise client_not_found(bucket_id)
    client = _encode(row)
    client_id, latest = row[7], row[8]
    client["latest_snapshot"] = None
    if latest is not None:
        (client["latest_snapshot"],) = read_snapshots(
            session,
            and_(Snapshot.client_id == client_id, Snapshot.snapshot_date == latest),
            order_by=[],
            limit=None,
            bucket_ids={client_id: bucket_id},
        )
    plan = read_plans(session, [client_id]).get(client_id)
    client["plan"] = plan_json(plan, client["latest_snapshot"])
    return client
