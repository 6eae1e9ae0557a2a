"""Reading the alerts' events (``usage.alerts`` stores them): the API's
pages, the Alerts page's table and the Portfolio's "Needs attention".

Every read keeps to the viewer's visible clients (``usage.access``), joins
the client for its bucket id and name, and is one statement.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, or_, select
from sqlalchemy.orm import Session

from usage.access import Visible, visible_clients
from usage.alerts import AlertKind
from usage.anomalies import Severity
from usage.delivery import EVENT_COLUMNS
from usage.errors import InvalidParams
from usage.models import AlertEvent, Client
from usage.paging import cursor_secret, decode_cursor, encode_cursor
from usage.snapshots import as_utc, format_datetime
from usage.validation import AlertsParams, AlertStatus

# "Needs attention" first by severity, then by what it is: a limit near, a
# possible data loss, a collection stopped, fast growth.
KIND_RANK: dict[str, int] = {
    AlertKind.LIMIT.value: 0,
    AlertKind.DROP.value: 1,
    AlertKind.DISAPPEARED.value: 1,
    AlertKind.STOPPED.value: 2,
    AlertKind.GROWTH.value: 3,
}
# The Client page's range around an event: this much before its first day
# and after its last (not after today).
ZOOM_DAYS_BEFORE = 30
ZOOM_DAYS_AFTER = 14
# The dates in an event's details that say when it happened.
_DETAIL_DAYS = ("previous_day", "last_day", "from_day", "to_day", "as_of")


@dataclasses.dataclass(frozen=True)
class EventFilters:
    """What a list of events keeps: by status, kind, least severity and client."""

    status: AlertStatus = AlertStatus.OPEN
    kind: str | None = None
    severity: Severity | None = None  # this one and the more severe
    bucket_id: str | None = None


@dataclasses.dataclass(frozen=True)
class AlertEventRow:
    id: int
    bucket_id: str
    display_name: str
    kind: str
    scope: str
    metric: str
    day: dt.date | None
    severity: str
    summary: str
    details: dict[str, Any]
    opened_at: dt.datetime  # UTC
    last_seen_at: dt.datetime
    resolved_at: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        """The API's item."""
        return {
            "id": self.id,
            "bucket_id": self.bucket_id,
            "kind": self.kind,
            "scope": self.scope,
            "metric": self.metric,
            "day": None if self.day is None else self.day.isoformat(),
            "severity": self.severity,
            "summary": self.summary,
            "details": self.details,
            "opened_at": format_datetime(self.opened_at),
            "last_seen_at": format_datetime(self.last_seen_at),
            "resolved_at": None if self.resolved_at is None else format_datetime(self.resolved_at),
        }


@dataclasses.dataclass(frozen=True)
class EventList:
    """Some events, and how many match in all."""

    events: list[AlertEventRow]
    total: int


_COLUMNS = (*EVENT_COLUMNS, AlertEvent.last_seen_at, AlertEvent.resolved_at)
_NEWEST_FIRST = (AlertEvent.opened_at.desc(), AlertEvent.id.desc())


def _row(row: Any) -> AlertEventRow:
    resolved = row.resolved_at
    return AlertEventRow(
        id=row.id,
        bucket_id=row.bucket_id,
        display_name=row.display_name,
        kind=row.kind,
        scope=row.scope,
        metric=row.metric,
        day=row.day,
        severity=row.severity,
        summary=row.summary,
        details=row.details,
        opened_at=as_utc(row.opened_at),
        last_seen_at=as_utc(row.last_seen_at),
        resolved_at=None if resolved is None else as_utc(resolved),
    )


def _conditions(filters: EventFilters, visible: Visible) -> list[ColumnElement[bool]]:
    conditions = list(visible_clients(visible))
    if filters.status is AlertStatus.OPEN:
        conditions.append(AlertEvent.resolved_at.is_(None))
    elif filters.status is AlertStatus.RESOLVED:
        conditions.append(AlertEvent.resolved_at.is_not(None))
    if filters.kind is not None:
        conditions.append(AlertEvent.kind == filters.kind)
    if filters.severity is not None:
        least = filters.severity
        conditions.append(AlertEvent.severity.in_([s.label for s in Severity if s >= least]))
    if filters.bucket_id is not None:
        conditions.append(Client.bucket_id == filters.bucket_id)
    return conditions


def _select(filters: EventFilters, visible: Visible) -> Select[Any]:
    return (
        select(*_COLUMNS)
        .join(Client, Client.id == AlertEvent.client_id)
        .where(*_conditions(filters, visible))
    )


def filters_of(params: AlertsParams) -> EventFilters:
    return EventFilters(params.status, params.kind, params.severity, params.bucket_id)


def _cursor_scope(filters: EventFilters) -> str:
    """The filters a cursor was made for: another listing refuses it."""
    severity = "" if filters.severity is None else filters.severity.label
    return "|".join((filters.status.value, filters.kind or "", severity, filters.bucket_id or ""))


def _encode_position(secret: bytes, event: AlertEventRow, filters: EventFilters) -> str:
    opened = as_utc(event.opened_at).isoformat()
    return encode_cursor(secret, f"{opened}|{event.id}|{_cursor_scope(filters)}")


def _decode_position(secret: bytes, raw: str, filters: EventFilters) -> tuple[dt.datetime, int]:
    opened, _, rest = decode_cursor(secret, raw).partition("|")
    event_id, _, made_for = rest.partition("|")
    try:
        if made_for == _cursor_scope(filters):
            return as_utc(dt.datetime.fromisoformat(opened)), int(event_id)
    except ValueError:
        pass
    raise InvalidParams(
        "cursor must be the cursor returned by the previous page, with the same"
        " status, kind, severity and bucket_id"
    )


def fetch_alerts_page(session: Session, params: AlertsParams, visible: Visible) -> dict[str, Any]:
    """``GET /api/v1/alerts``: newest first (by when they opened), a page at
    a time; the cursor holds the page's last event (its opening time and id)
    and the filters it was made for."""
    filters = filters_of(params)
    secret = cursor_secret(session)
    stmt = _select(filters, visible)
    if params.cursor is not None:
        opened, event_id = _decode_position(secret, params.cursor, filters)
        # The two conditions, not a row comparison: the first is the index's range.
        stmt = stmt.where(
            AlertEvent.opened_at <= opened,
            or_(AlertEvent.opened_at < opened, AlertEvent.id < event_id),
        )
    stmt = stmt.order_by(*_NEWEST_FIRST).limit(params.limit + 1)
    rows = [_row(row) for row in session.execute(stmt)]
    page = rows[: params.limit]
    more = len(rows) > params.limit
    return {
        "alerts": [event.as_json() for event in page],
        "count": len(page),
        "next_cursor": _encode_position(secret, page[-1], filters) if more else None,
    }


def list_alert_events(
    session: Session, filters: EventFilters, visible: Visible, limit: int, offset: int = 0
) -> EventList:
    """The Alerts page: the events that match, newest first, ``limit`` of
    them from ``offset``, and how many match. Two statements: a window
    count would read every matching event whole, where the page reads the
    newest few by the index."""
    stmt = _select(filters, visible).order_by(*_NEWEST_FIRST).limit(limit).offset(offset)
    events = [_row(row) for row in session.execute(stmt)]
    counted = (
        select(func.count())
        .select_from(AlertEvent)
        .join(Client, Client.id == AlertEvent.client_id)
        .where(*_conditions(filters, visible))
    )
    return EventList(events, int(session.scalar(counted) or 0))


def _severity_rank() -> Any:
    return case({s.label: -s.value for s in Severity}, value=AlertEvent.severity, else_=0)


def _kind_rank() -> Any:
    return case(KIND_RANK, value=AlertEvent.kind, else_=len(KIND_RANK))


def read_needs_attention(session: Session, visible: Visible, limit: int) -> EventList:
    """The open events to act on first: by severity, then limit, data loss,
    stopped collection, growth; the newest first among equals. At most
    ``limit``, and how many are open in all."""
    stmt = _select(EventFilters(AlertStatus.OPEN), visible).add_columns(
        func.count().over().label("total")
    )
    stmt = stmt.order_by(_severity_rank(), _kind_rank(), *_NEWEST_FIRST).limit(limit)
    found = session.execute(stmt).all()
    return EventList([_row(row) for row in found], int(found[0].total) if found else 0)


def zoom_range(event: AlertEventRow, today: dt.date) -> tuple[dt.date, dt.date]:
    """The days the Client page shows for ``event``: from a while before it
    began to a little after (up to ``today``)."""
    days = [] if event.day is None else [event.day]
    for name in _DETAIL_DAYS:
        value = event.details.get(name)
        if isinstance(value, str):
            try:
                days.append(dt.date.fromisoformat(value))
            except ValueError:
                continue  # not a date: the details are the rule's to say
    if not days:
        days.append(as_utc(event.last_seen_at).date())
    first, last = min(days), max(days)
    end = max(min(last + dt.timedelta(days=ZOOM_DAYS_AFTER), today), last)
    return first - dt.timedelta(days=ZOOM_DAYS_BEFORE), end
