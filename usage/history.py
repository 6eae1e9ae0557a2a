"""One client's history: the query behind the API's history endpoint and the
dashboard's client page.

The API pages it newest first with a signed cursor that holds the first day
of the page's last item (a snapshot's day, or a period's first day): the next
page is everything before that day, so a snapshot written between two pages
(a new newest day, or a day written again) is never skipped or repeated.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from usage.access import Visible, check_visible, client_not_found
from usage.models import Client
from usage.paging import decode_date_cursor, encode_date_cursor
from usage.series import Granularity, Period, period_end, period_start, rollup
from usage.snapshots import (
    SnapshotJSON,
    join_history,
    read_client_bodies,
    read_client_history_json,
    read_client_snapshots,
)
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
    """``fetch_history``'s snapshots as the API encodes them, ``{"snapshots":
    [...], "count": n}``, joined from the snapshots' stored bodies (on a
    ``Connection``: see ``read_client_bodies``): the first page by day,
    without the API's paging field (``fetch_history_body`` adds it)."""
    body = read_client_history_json(
        connection, params.bucket_id, params.start_date, params.end_date, params.limit
    )
    if body is not None:
        return body
    find_client_id(connection, params.bucket_id)  # NotFound for an unknown client
    return b'{"snapshots":[],"count":0}'


@dataclass(slots=True)
class HistoryBody:
    """The API's JSON answer for a page, and the cursor of the next one."""

    body: bytes
    next_cursor: str | None


def fetch_history_body(connection: Connection, params: HistoryParams, secret: bytes) -> HistoryBody:
    """The history endpoint's JSON answer at day granularity,
    ``{"snapshots": [...], "count": n, "next_cursor": ...}``, joined from the
    stored bodies in one statement: ``limit + 1`` of them, the last only to
    know that another page follows. ``secret`` signs the cursors
    (``usage.paging.cursor_secret``)."""
    end = _page_end(params, secret)
    bodies = read_client_bodies(
        connection, params.bucket_id, params.start_date, end, params.limit + 1
    )
    if not bodies:
        find_client_id(connection, params.bucket_id)  # NotFound for an unknown client
        return HistoryBody(b'{"snapshots":[],"count":0,"next_cursor":null}', None)
    page = bodies[: params.limit]
    next_cursor = None
    if len(bodies) > params.limit:
        next_cursor = _cursor(secret, params, _body_date(page[-1]))
    # A cursor is URL-safe base64: it needs no escaping in JSON.
    shown = b"null" if next_cursor is None else b'"%s"' % next_cursor.encode()
    more = b',"count":%d,"next_cursor":%s' % (len(page), shown)
    return HistoryBody(join_history(params.bucket_id, page, more), next_cursor)


_DATE_FIRST = b'"snapshot_date":"'


def _body_date(body: bytes) -> dt.date:
    """The day of a stored body: its first member (``encode_bodies``)."""
    if body.startswith(_DATE_FIRST):
        start = len(_DATE_FIRST)
        return dt.date.fromisoformat(body[start : start + 10].decode())
    return dt.date.fromisoformat(orjson.loads(b"{%s}" % body)["snapshot_date"])


@dataclass(frozen=True)
class HistoryPage:
    """A page of one client's history, newest first. At week or month
    granularity each item is a period's last snapshot with its ``period``
    (``start``, ``end``: its days in the range; ``partial``: the range holds
    only part of it), and ``periods`` are those periods."""

    snapshots: list[SnapshotJSON]
    periods: list[Period] | None
    next_cursor: str | None

    def json(self) -> bytes:
        return orjson.dumps(
            {"snapshots": self.snapshots, "count": len(self.snapshots),
             "next_cursor": self.next_cursor}
        )  # fmt: skip


def fetch_history_page(
    connection: Connection, params: HistoryParams, secret: bytes, today: dt.date
) -> HistoryPage:
    """A page of the history at ``params.granularity``, as snapshot dicts.

    A week (Monday to Sunday) or a month shows its last snapshot in the
    range, as the dashboard's views do (``usage.series.rollup``); periods
    without a snapshot are left out. Without ``start_date`` the range starts
    on the client's first snapshot, without ``end_date`` it ends ``today``
    (or on a later snapshot): the dashboard's "All". A page holds ``limit``
    periods; its cursor is its last period's first day, so the next page
    rolls up the days before it alone, into the same periods."""
    end = _page_end(params, secret)
    if params.granularity is Granularity.DAY:
        limit: int | None = params.limit + 1
    else:
        limit = None  # every day of the range: a period shows its last one
    bodies = read_client_bodies(connection, params.bucket_id, params.start_date, end, limit)
    if not bodies:
        find_client_id(connection, params.bucket_id)  # NotFound for an unknown client
        return HistoryPage([], None if params.granularity is Granularity.DAY else [], None)
    snapshots: list[SnapshotJSON] = orjson.loads(join_history(params.bucket_id, bodies))[
        "snapshots"
    ]
    if params.granularity is Granularity.DAY:
        page = snapshots[: params.limit]
        next_cursor = None
        if len(snapshots) > params.limit:
            last = dt.date.fromisoformat(page[-1]["snapshot_date"])
            next_cursor = _cursor(secret, params, last)
        return HistoryPage(page, None, next_cursor)
    oldest = dt.date.fromisoformat(snapshots[-1]["snapshot_date"])
    newest = dt.date.fromisoformat(snapshots[0]["snapshot_date"])
    if end is None:
        end = max(today, newest)
    # Only the periods that can hold a snapshot are rolled up (a range of
    # centuries is a few periods); each keeps its cut by the range, so its
    # ``partial`` is the range's.
    first = max(params.start_date or oldest, period_start(oldest, params.granularity))
    end = min(end, period_end(newest, params.granularity))
    shown = [
        period
        for period in reversed(rollup(snapshots, first, end, params.granularity))
        if period.snapshot is not None
    ]
    periods = shown[: params.limit]
    next_cursor = None
    if len(shown) > params.limit:
        next_cursor = _cursor(secret, params, periods[-1].start)
    return HistoryPage([_with_period(period) for period in periods], periods, next_cursor)


def _with_period(period: Period) -> SnapshotJSON:
    assert period.snapshot is not None
    extent = {"start": period.start.isoformat(), "end": period.end.isoformat(),
              "partial": period.partial}  # fmt: skip
    return {**period.snapshot, "period": extent}


def _scope(params: HistoryParams) -> str:
    """What a history cursor is valid for: one client at one granularity."""
    return f"{params.bucket_id}|{params.granularity.value}"


def _cursor(secret: bytes, params: HistoryParams, first_day_shown: dt.date) -> str:
    return encode_date_cursor(secret, first_day_shown, _scope(params))


def _page_end(params: HistoryParams, secret: bytes) -> dt.date | None:
    """The last day the page may show: ``end_date``, and before the cursor's
    day when there is one (``InvalidParams`` for a cursor not made for this
    client and granularity)."""
    if params.cursor is None:
        return params.end_date
    before = decode_date_cursor(secret, params.cursor, _scope(params))
    last = before - dt.timedelta(days=1)
    return last if params.end_date is None else min(params.end_date, last)


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
