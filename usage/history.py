"""One client's history: the query behind the API's history endpoint and the
dashboard's client page."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from usage.access import Visible, check_visible, client_not_found
from usage.models import Client
from usage.snapshots import SnapshotJSON, read_client_history_json, read_client_snapshots
from usage.validation import HistoryParams


def find_client_id(reader: Session | Connection, bucket_id: str) -> int:
    client_id = reader.scalar(select(Client.id).where(Client.bucket_id == bucket_id))
    if client_id is None:
        raise client_not_found(bucket_id)
    return client_id


def fetch_history(session: Session, params: HistoryParams) -> list[SnapshotJSON]:
    """The newest ``params.limit`` snapshots in the range, newest first.

    Raises ``NotFound`` for an unknown client; a known client with nothing in
    the range gets an empty list.
    """
    return read_history(
        session, params.bucket_id, params.start_date, params.end_date, params.limit, visible=None
    )


def fetch_history_json(connection: Connection, params: HistoryParams) -> bytes:
    """``fetch_history``'s answer as the API sends it, ``{"snapshots": [...],
    "count": n}``, joined from the snapshots' stored bodies (on a
    ``Connection``: see ``read_client_history_json``)."""
    body = read_client_history_json(
        connection, params.bucket_id, params.start_date, params.end_date, params.limit
    )
    if body is not None:
        return body
    find_client_id(connection, params.bucket_id)  # NotFound for an unknown client
    return b'{"snapshots":[],"count":0}'


def read_history(
    session: Session,
    bucket_id: str,
    start: dt.date | None,
    end: dt.date | None,
    limit: int | None,
    *,
    visible: Visible,
) -> list[SnapshotJSON]:
    """``fetch_history`` without the API's limit cap (``None``: every row);
    a client outside ``visible`` is an unknown one."""
    check_visible(visible, bucket_id)
    snapshots = read_client_snapshots(session, bucket_id, start, end, limit)
    if not snapshots:
        find_client_id(session, bucket_id)  # NotFound for an unknown client
    return snapshots
