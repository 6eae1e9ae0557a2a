"""The portfolio: every client's latest numbers and recent change, in SQL.

Each client's latest snapshot (on or before ``as_of``) and its baseline (the
last one on or before ``as_of - CHANGE_DAYS``) are found by look-ups on the
snapshots key (see ``_summary_select``), so filter, sort and paging stay in
SQL, and a page sorted by a client's own column looks up only its clients.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Float,
    Select,
    and_,
    case,
    cast,
    func,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from usage.access import Visible, may_read, visible_clients
from usage.models import Client, LatestSnapshot, Snapshot
from usage.snapshots import format_day
from usage.totals import CHANGE_DAYS, read_changes
from usage.validation import (
    TOTALS_DEFAULT_DAYS,
    TotalsParams,
    check_span,
    parse_choice,
)

# sort key -> what it orders by; a leading "-" sorts descending.
SORT_KEYS: tuple[str, ...] = ("name", "bucket", "status", "records", "storage", "change",
                              "change_pct", "freshness")  # fmt: skip
SORT_CHOICES: tuple[str, ...] = tuple(choice for key in SORT_KEYS for choice in (key, f"-{key}"))
DEFAULT_SORT = "name"


@dataclass(frozen=True)
class ClientSummary:
    bucket_id: str
    display_name: str
    status: str
    latest_date: dt.date | None
    total_records: int | None
    total_bytes: int | None
    object_count: int | None
    computed_at: dt.datetime | None
    baseline_date: dt.date | None
    baseline_records: int | None

    @property
    def change(self) -> int | None:
        if self.total_records is None or self.baseline_records is None:
            return None
        return self.total_records - self.baseline_records

    @property
    def change_pct(self) -> float | None:
        change = self.change
        if change is None or not self.baseline_records:
            return None
        return change * 100.0 / self.baseline_records


@dataclass(frozen=True)
class ClientChoice:
    bucket_id: str
    display_name: str
    status: str
    client_since: dt.date | None = None


@dataclass(frozen=True)
class PortfolioDay:
    """The portfolio on one day: each client's latest snapshot on or before it."""

    snapshot_date: dt.date
    total_records: int
    total_bytes: int
    clients: int  # clients counted: with a snapshot on or before the day
    stale: int  # of those, the ones without a snapshot on the day itself


def latest_snapshot_date(session: Session, *, visible: Visible) -> dt.date | None:
    """The newest snapshot date of the visible clients (None when there is none)."""
    stmt = select(func.max(Snapshot.snapshot_date))
    if visible is not None:
        stmt = stmt.where(Snapshot.client_id.in_(_visible_ids(visible)))
    return session.scalar(stmt)


def _visible_ids(visible: Visible) -> Select[Any]:
    return select(Client.id).where(*visible_clients(visible))


def list_client_choices(session: Session, *, visible: Visible) -> list[ClientChoice]:
    rows = session.execute(
        select(Client.bucket_id, Client.display_name, Client.status, Client.client_since)
        .where(*visible_clients(visible))
        .order_by(Client.display_name, Client.bucket_id)
    )
    return [ClientChoice(*row) for row in rows]


def _date_at_or_before(day: dt.date) -> Any:
    return (
        select(func.max(Snapshot.snapshot_date))
        .where(Snapshot.client_id == Client.id, Snapshot.snapshot_date <= day)
        .correlate(Client)
        .scalar_subquery()
    )


def _filters(visible: Visible, status: str | None, search: str | None) -> list[Any]:
    conditions: list[Any] = list(visible_clients(visible))
    if status is not None:
        conditions.append(Client.status == status)
    if search:
        needle = search.strip().lower()
        conditions.append(
            or_(
                func.lower(Client.bucket_id).contains(needle, autoescape=True),
                func.lower(Client.display_name).contains(needle, autoescape=True),
            )
        )
    return conditions


@dataclass(frozen=True)
class _ClientPage:
    """A page of clients in an order of their own columns, taken before any
    snapshot is looked up: a page sorted by name costs its 25 clients'
    look-ups, not the whole portfolio's."""

    order: Sequence[Any]
    limit: int
    offset: int


def _summary_select(
    session: Session,
    as_of: dt.date,
    conditions: Sequence[Any],
    page: _ClientPage | None = None,
) -> tuple[Select[Any], dict[str, Any]]:
    """Each client's latest snapshot on or before ``as_of`` and its baseline
    ``CHANGE_DAYS`` before, as one statement, with the sort keys' columns.

    A client without a snapshot on ``as_of`` (stale) has no baseline and no
    change: its change would not be today's.

    When ``as_of`` is on or after every matching client's newest snapshot
    (the pages' view: the newest day), both come from ``latest_snapshots``,
    one row per client. Otherwise they are looked up in the snapshots: on
    PostgreSQL each is one ``LATERAL`` look-up (the newest row on or before
    the day), on SQLite (no ``LATERAL``) correlated ``max(snapshot_date)``
    look-ups joined to their rows."""
    columns: list[Any] = [Client.id.label("client_id"), Client.bucket_id, Client.display_name,
                          Client.status]  # fmt: skip
    if _is_newest(session, as_of, conditions):
        clients = _paged(select(*columns).where(*conditions), page).subquery("dates")
        kept = LatestSnapshot.__table__.alias("latest")
        found: Any = (
            select(clients)
            .outerjoin(kept, kept.c.client_id == clients.c.client_id)
            .with_only_columns(
                *clients.c,
                kept.c.snapshot_date.label("latest_date"),
                kept.c.total_records,
                kept.c.total_bytes,
                kept.c.object_count,
                kept.c.computed_at,
                kept.c.baseline_date,
                kept.c.baseline_records,
            )
        ).subquery("found")
    else:
        found = _looked_up(session, as_of, _paged(select(*columns).where(*conditions), page))
    fresh = found.c.latest_date == as_of
    baseline_date = case((fresh, found.c.baseline_date))
    baseline_records = case((fresh, found.c.baseline_records))
    change = found.c.total_records - baseline_records
    change_pct = cast(change, Float) * 100.0 / func.nullif(cast(baseline_records, Float), 0)
    stmt = select(
        found.c.bucket_id,
        found.c.display_name,
        found.c.status,
        found.c.latest_date,
        found.c.total_records,
        found.c.total_bytes,
        found.c.object_count,
        found.c.computed_at,
        baseline_date.label("baseline_date"),
        baseline_records.label("baseline_records"),
    )
    order = {
        "name": func.lower(found.c.display_name),
        "bucket": found.c.bucket_id,
        "status": found.c.status,
        "records": found.c.total_records,
        "storage": found.c.total_bytes,
        "change": change,
        "change_pct": change_pct,
        "freshness": found.c.computed_at,
    }
    return stmt, {**order, "_bucket": found.c.bucket_id, "_latest": found.c.latest_date}


def _paged(clients: Select[Any], page: _ClientPage | None) -> Select[Any]:
    if page is None:
        return clients
    return clients.order_by(*page.order).limit(page.limit).offset(page.offset)


def _is_newest(session: Session, as_of: dt.date, conditions: Sequence[Any]) -> bool:
    """No matching client has a snapshot after ``as_of``."""
    newest = session.scalar(
        select(func.max(LatestSnapshot.snapshot_date))
        .join(Client, Client.id == LatestSnapshot.client_id)
        .where(*conditions)
    )
    return newest is None or newest <= as_of


def _looked_up(session: Session, as_of: dt.date, clients: Select[Any]) -> Any:
    """The clients with their latest snapshot on or before ``as_of`` and
    their baseline, looked up in the snapshots."""
    baseline_day = as_of - dt.timedelta(days=CHANGE_DAYS)
    if session.get_bind().dialect.name == "postgresql":
        dates = clients.subquery("dates")
        latest: Any = _newest_on_or_before(dates, as_of, "latest")
        baseline: Any = _newest_on_or_before(dates, baseline_day, "baseline")
        joined = select(dates).outerjoin(latest, true()).outerjoin(baseline, true())
        latest_date, baseline_date = latest.c.snapshot_date, baseline.c.snapshot_date
    else:
        dates = clients.add_columns(
            _date_at_or_before(as_of).label("latest_date"),
            _date_at_or_before(baseline_day).label("baseline_date"),
        ).subquery("dates")
        latest = Snapshot.__table__.alias("latest")
        baseline = Snapshot.__table__.alias("baseline")
        latest_date, baseline_date = dates.c.latest_date, dates.c.baseline_date
        joined = (
            select(dates)
            .outerjoin(latest, and_(latest.c.client_id == dates.c.client_id,
                                    latest.c.snapshot_date == latest_date))
            .outerjoin(baseline, and_(baseline.c.client_id == dates.c.client_id,
                                      baseline.c.snapshot_date == baseline_date))
        )  # fmt: skip
    return joined.with_only_columns(
        dates.c.client_id,
        dates.c.bucket_id,
        dates.c.display_name,
        dates.c.status,
        latest_date.label("latest_date"),
        latest.c.total_records,
        latest.c.total_bytes,
        latest.c.object_count,
        latest.c.computed_at,
        baseline_date.label("baseline_date"),
        baseline.c.total_records.label("baseline_records"),
    ).subquery("found")


def _newest_on_or_before(clients: Any, day: dt.date, name: str) -> Any:
    """The newest snapshot of each of ``clients`` on or before ``day``."""
    return (
        select(
            Snapshot.snapshot_date,
            Snapshot.total_records,
            Snapshot.total_bytes,
            Snapshot.object_count,
            Snapshot.computed_at,
        )
        .where(Snapshot.client_id == clients.c.client_id, Snapshot.snapshot_date <= day)
        .order_by(Snapshot.snapshot_date.desc())
        .limit(1)
        .lateral(name)
    )


def _summary(row: Sequence[Any]) -> ClientSummary:
    return ClientSummary(*row)


def count_clients(
    session: Session, *, visible: Visible, status: str | None, search: str | None
) -> int:
    stmt = select(func.count()).select_from(Client).where(*_filters(visible, status, search))
    return int(session.scalar(stmt) or 0)


def summarize_clients(
    session: Session,
    *,
    as_of: dt.date,
    visible: Visible,
    status: str | None = None,
    search: str | None = None,
    sort: str = DEFAULT_SORT,
    limit: int | None = None,
    offset: int = 0,
) -> list[ClientSummary]:
    """Clients matching ``status`` and ``search`` (a case-insensitive part of
    the name or bucket id), sorted by ``sort`` (one of ``SORT_KEYS``, "-" for
    descending; clients without the value last), one page of them."""
    parse_choice(sort, SORT_CHOICES, "sort")
    descending = sort.startswith("-")
    key = sort.removeprefix("-")

    def ordered(column: Any) -> Any:
        return (column.desc() if descending else column.asc()).nulls_last()

    page = None
    if limit is not None and key in _CLIENT_COLUMNS:
        page = _ClientPage([ordered(_CLIENT_COLUMNS[key]), Client.bucket_id], limit, offset)
    stmt, order = _summary_select(session, as_of, _filters(visible, status, search), page)
    stmt = stmt.order_by(ordered(order[key]), order["_bucket"])
    if page is None and limit is not None:
        stmt = stmt.limit(limit)
    if page is None and offset:
        stmt = stmt.offset(offset)
    return [_summary(row) for row in session.execute(stmt)]


# The sort keys that are a client's own columns, as ``_summary_select``
# orders them (``order["name"]`` and so on).
_CLIENT_COLUMNS: dict[str, Any] = {
    "name": func.lower(Client.display_name),
    "bucket": Client.bucket_id,
    "status": Client.status,
}


@dataclass(frozen=True)
class Movers:
    growers: list[ClientSummary]  # largest % growth first
    drops: list[ClientSummary]  # largest % fall first


@dataclass(frozen=True)
class PortfolioSummary:
    clients: int
    reporting: int  # clients with a snapshot on or before as_of
    up_to_date: int  # clients whose latest snapshot is on as_of itself
    total_records: int  # the portfolio's total on as_of (see read_portfolio_totals)
    total_bytes: int
    change: int  # the total on as_of minus the total CHANGE_DAYS before


def summarize_portfolio(session: Session, *, as_of: dt.date, visible: Visible) -> PortfolioSummary:
    """The visible portfolio on ``as_of``: its totals as the totals chart
    draws them (``read_portfolio_totals``), so the tiles and the chart agree,
    and the change in records over the last ``CHANGE_DAYS`` days on that chart
    (clients added since count whole, stale ones with their last snapshot)."""
    clients = session.scalar(
        select(func.count()).select_from(Client).where(*visible_clients(visible))
    )
    then = as_of - dt.timedelta(days=CHANGE_DAYS)
    days = {
        day.snapshot_date: day
        for day in read_portfolio_totals(session, then, as_of, visible=visible)
    }
    today, before = days.get(as_of), days.get(then)
    if today is None:
        return PortfolioSummary(int(clients or 0), 0, 0, 0, 0, 0)
    return PortfolioSummary(
        clients=int(clients or 0),
        reporting=today.clients,
        up_to_date=today.clients - today.stale,
        total_records=today.total_records,
        total_bytes=today.total_bytes,
        change=today.total_records - (before.total_records if before else 0),
    )


def find_movers(session: Session, *, as_of: dt.date, limit: int, visible: Visible) -> Movers:
    """The fastest growers and sharpest drops over the last ``CHANGE_DAYS``
    among the visible clients with a snapshot on ``as_of`` (a stale client's
    change is not a change of today's)."""
    stmt, order = _summary_select(session, as_of, visible_clients(visible))
    stmt = stmt.where(order["_latest"] == as_of)
    pct = order["change_pct"]
    growers = stmt.where(pct > 0).order_by(pct.desc(), order["_bucket"]).limit(limit)
    drops = stmt.where(pct < 0).order_by(pct.asc(), order["_bucket"]).limit(limit)
    return Movers(
        growers=[_summary(row) for row in session.execute(growers)],
        drops=[_summary(row) for row in session.execute(drops)],
    )


def read_sparklines(
    session: Session,
    bucket_ids: Sequence[str],
    start: dt.date,
    end: dt.date,
    *,
    visible: Visible,
) -> dict[str, list[int | None]]:
    """Each visible client's total records on every day from ``start`` to
    ``end``, ``None`` on a day without a snapshot."""
    bucket_ids = [bucket for bucket in bucket_ids if may_read(visible, bucket)]
    if not bucket_ids:
        return {}
    rows = session.execute(
        select(Client.bucket_id, Snapshot.snapshot_date, Snapshot.total_records)
        .join(Snapshot, Snapshot.client_id == Client.id)
        .where(
            Client.bucket_id.in_(sorted(bucket_ids)),
            Snapshot.snapshot_date.between(start, end),
        )
    )
    found: dict[str, dict[dt.date, int]] = defaultdict(dict)
    for bucket_id, day, total in rows:
        found[bucket_id][day] = total
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    return {bucket_id: [found[bucket_id].get(day) for day in days] for bucket_id in bucket_ids}


def read_portfolio_totals(
    session: Session, start: dt.date, end: dt.date, *, visible: Visible
) -> list[PortfolioDay]:
    """The visible portfolio's total on every day from ``start`` to ``end``
    (from the first day any visible client has a snapshot).

    A day's total is the sum over clients of their latest snapshot on or
    before that day, the definition of ``summarize_portfolio`` too: a client
    without a snapshot on the day (a missing day, or a client whose
    collection stopped) counts with its last one and is *stale* that day.
    The same day has the same total whatever the window: each client's last
    snapshot on or before ``start`` is the base, and SQL sums each later
    snapshot's change from the client's previous one.
    """
    if visible is None:  # every client: the kept daily changes (usage.totals)
        return _running_totals(read_changes(session, end), start, end)
    base = _latest_on_or_before(session, start, visible)
    later = select(
        Snapshot.client_id, Snapshot.snapshot_date, Snapshot.total_records, Snapshot.total_bytes
    ).where(Snapshot.snapshot_date > start, Snapshot.snapshot_date <= end)
    if visible is not None:
        later = later.where(Snapshot.client_id.in_(_visible_ids(visible)))
    rows = union_all(base, later).subquery("rows")

    def previous(column: Any) -> Any:
        return func.lag(column).over(partition_by=rows.c.client_id, order_by=rows.c.snapshot_date)

    changes = select(
        rows.c.snapshot_date.label("day"),
        (rows.c.total_records - func.coalesce(previous(rows.c.total_records), 0)).label("records"),
        (rows.c.total_bytes - func.coalesce(previous(rows.c.total_bytes), 0)).label("bytes"),
        case((previous(rows.c.snapshot_date).is_(None), 1), else_=0).label("first"),
    ).subquery("changes")
    by_day = session.execute(
        select(
            changes.c.day,
            func.sum(changes.c.records),
            func.sum(changes.c.bytes),
            func.sum(changes.c.first),
            func.count(),
        )
        .group_by(changes.c.day)
        .order_by(changes.c.day)
    ).all()
    return _running_totals(by_day, start, end)


def _running_totals(by_day: Sequence[Any], start: dt.date, end: dt.date) -> list[PortfolioDay]:
    """Every day's totals from the per-day sums of changes (days before
    ``start`` are the base: each client's last snapshot on or before it)."""
    found = {row[0]: row for row in by_day}
    records = size = counted = 0
    for day, day_records, day_bytes, first, _ in by_day:
        if day > start:
            break
        records, size, counted = (
            records + int(day_records),
            size + int(day_bytes),
            counted + int(first),
        )
    days: list[PortfolioDay] = []
    day = start
    while day <= end:
        row = found.get(day)
        if row is not None and day > start:
            records += int(row[1])
            size += int(row[2])
            counted += int(row[3])
        fresh = int(row[4]) if row is not None else 0
        if counted:
            days.append(PortfolioDay(day, records, size, counted, counted - fresh))
        day += dt.timedelta(days=1)
    return days


def _latest_on_or_before(session: Session, day: dt.date, visible: Visible) -> Any:
    """Each visible client's newest snapshot on or before ``day``:
    (client_id, snapshot_date, total_records, total_bytes)."""
    columns = (Snapshot.client_id, Snapshot.snapshot_date, Snapshot.total_records,
               Snapshot.total_bytes)  # fmt: skip
    clients = select(Client.id.label("client_id")).where(*visible_clients(visible))
    if session.get_bind().dialect.name == "postgresql":
        chosen = clients.subquery("clients")
        newest = (
            select(*columns)
            .where(Snapshot.client_id == chosen.c.client_id, Snapshot.snapshot_date <= day)
            .order_by(Snapshot.snapshot_date.desc())
            .limit(1)
            .lateral("newest")
        )
        return select(*newest.c).select_from(chosen).join(newest, true())
    dated = clients.add_columns(_date_at_or_before(day).label("day")).subquery("dated")
    return select(*columns).join(
        dated, and_(Snapshot.client_id == dated.c.client_id, Snapshot.snapshot_date == dated.c.day)
    )


def fetch_portfolio_totals(
    session: Session, params: TotalsParams, visible: Visible
) -> dict[str, Any]:
    """``GET /api/v1/portfolio/totals``: the visible portfolio's total on each
    day, by ``read_portfolio_totals``' definition (the Portfolio page's).

    The days run from ``start_date`` (default: ``TOTALS_DEFAULT_DAYS`` before
    the end) to ``end_date`` (default: the newest snapshot day), and stop at
    the newest snapshot day: a later day is not collected yet. Days before
    the first snapshot have no total and are not listed."""
    newest = latest_snapshot_date(session, visible=visible)
    end = params.end_date or newest
    start = params.start_date
    if end is not None:
        default_span = dt.timedelta(days=TOTALS_DEFAULT_DAYS - 1)
        # From the calendar's first day when the end is nearer to it than that.
        start = start or (end - default_span if end - dt.date.min >= default_span else dt.date.min)
        check_span(start, end)
    days = []
    if newest is not None and start is not None and start <= newest:  # then end is set too
        days = read_portfolio_totals(session, start, min(end or newest, newest), visible=visible)
    return {
        "start_date": format_day(start),
        "end_date": format_day(end),
        "newest_snapshot_date": format_day(newest),
        "days": [
            {
                "date": day.snapshot_date.isoformat(),
                "total_records": day.total_records,
                "total_bytes": day.total_bytes,
                "clients": day.clients,
                "stale_clients": day.stale,
            }
            for day in days
        ],
        "count": len(days),
    }
