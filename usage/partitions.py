"""``snapshots`` partitioned by date range on PostgreSQL, for stores big
enough that it pays (docs/scaling.md says when); never done by default.

``partition_snapshots`` turns ``snapshots`` and the three tables keyed by its
rows (``snapshot_collections``, ``snapshot_prefixes``, ``snapshot_bodies``)
into tables declaratively partitioned by ``snapshot_date``: one partition
per year or per quarter of the four alike, and a default partition for a day
no range covers. It runs in the caller's transaction, so a conversion is done
whole or not at all, and keeps every row, key, index and foreign key as they
were (read from the catalog, so whatever the migrations made). Run on a
partitioned store, it only adds the partitions missing up to ``ahead``
periods after today: a cron job runs it so that new days never land in the
default partition.

Every key of the four tables holds ``snapshot_date``, as PostgreSQL requires
of a unique key on a partitioned table. The kept totals
(``portfolio_changes``, ``latest_snapshots``) are small, keyed by day or by
client, and stay as they are.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from usage.errors import InvalidParams, UsageError
from usage.models import Snapshot, SnapshotBody, SnapshotCollection, SnapshotPrefix

# ``snapshots`` first: every writer reads it before the others, so locking
# it first cannot deadlock with one.
TABLES: tuple[str, ...] = tuple(
    model.__tablename__ for model in (Snapshot, SnapshotCollection, SnapshotPrefix, SnapshotBody)
)
PARTITION_KEY = "snapshot_date"
DEFAULT_SUFFIX = "default"
_OLD_SUFFIX = "_unpartitioned"
_BOUND = re.compile(r"FROM \('(\d{4}-\d{2}-\d{2})'\) TO \('(\d{4}-\d{2}-\d{2})'\)")


class Period(enum.StrEnum):
    YEAR = "year"
    QUARTER = "quarter"


@dataclass(frozen=True)
class Partitioning:
    """What ``partition_snapshots`` did: ``converted`` when the tables were
    partitioned by this call; ``added``, the periods given a partition
    (``2026``, ``2026q3``); ``moved``, the snapshots they took out of the
    default partition; ``periods``, all the store's periods now."""

    converted: bool
    added: list[str]
    moved: int
    periods: list[str]


def period_start(day: dt.date, period: Period) -> dt.date:
    if period is Period.YEAR:
        return dt.date(day.year, 1, 1)
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def next_period(start: dt.date, period: Period) -> dt.date:
    if period is Period.YEAR:
        return dt.date(start.year + 1, 1, 1)
    month = start.month + 3
    return dt.date(start.year + (month > 12), (month - 1) % 12 + 1, 1)


def period_name(start: dt.date, end: dt.date) -> str:
    """``2026`` for a year, ``2026q3`` for a quarter, else the first day."""
    if start.month == start.day == 1 and end == next_period(start, Period.YEAR):
        return str(start.year)
    if start == period_start(start, Period.QUARTER) and end == next_period(start, Period.QUARTER):
        return f"{start.year}q{(start.month - 1) // 3 + 1}"
    return start.strftime("%Y%m%d")


def is_partitioned(session: Session) -> bool:
    return bool(
        session.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table"
                " WHERE partrelid = to_regclass(:table))"
            ),
            {"table": TABLES[0]},
        )
    )


def partition_snapshots(
    session: Session,
    period: Period,
    *,
    today: dt.date,
    ahead: int = 1,
    first: dt.date | None = None,
) -> Partitioning:
    """Partition the four tables by ``period`` if they are not yet, then add
    the partitions missing from ``first`` (default: the oldest partition, or
    the oldest snapshot, or today) through ``ahead`` periods after today's.

    A period some existing partition overlaps is left out, so a store
    partitioned by year can take quarters after its last year. The rows of a
    new period that sit in the default partition (a backfill before the
    first partition, days written while the cron job did not run) move to
    its partition."""
    if session.get_bind().dialect.name != "postgresql":
        raise InvalidParams("partitioning is for a PostgreSQL store; SQLite stays as it is")
    if ahead < 0:
        raise InvalidParams("--ahead must be an integer from 0")
    session.execute(text(f"LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE"))
    converted = not is_partitioned(session)
    existing = [] if converted else _ranges(session)
    if first is None:
        first = min((start for start, _ in existing), default=None) or _oldest_day(session) or today
    wanted = _periods(period_start(first, period), period_start(today, period), ahead, period)
    missing = [
        (start, end)
        for start, end in wanted
        if not any(start < taken_end and taken_start < end for taken_start, taken_end in existing)
    ]
    moved = 0
    if converted:
        _convert(session, missing)
    else:
        for start, end in missing:
            if _defaulted(session, start, end):
                moved += _move_out_of_default(session, start, end)
            else:
                _add_partitions(session, start, end)
    return Partitioning(
        converted=converted,
        added=[period_name(start, end) for start, end in missing],
        moved=moved,
        periods=[period_name(start, end) for start, end in _ranges(session)],
    )


def _periods(
    first: dt.date, current: dt.date, ahead: int, period: Period
) -> list[tuple[dt.date, dt.date]]:
    last = current
    for _ in range(ahead):
        last = next_period(last, period)
    periods: list[tuple[dt.date, dt.date]] = []
    start = first
    while start <= last:
        end = next_period(start, period)
        periods.append((start, end))
        start = end
    return periods


def _ranges(session: Session) -> list[tuple[dt.date, dt.date]]:
    """The ranges of ``snapshots``' partitions, oldest first (the default
    partition has none)."""
    bounds = session.scalars(
        text(
            "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:table)"
        ),
        {"table": TABLES[0]},
    )
    ranges = []
    for bound in bounds:
        if match := _BOUND.search(bound):
            ranges.append(
                (dt.date.fromisoformat(match.group(1)), dt.date.fromisoformat(match.group(2)))
            )
    return sorted(ranges)


def _oldest_day(session: Session) -> dt.date | None:
    day: dt.date | None = session.scalar(text(f"SELECT min({PARTITION_KEY}) FROM {TABLES[0]}"))
    return day


def _convert(session: Session, periods: list[tuple[dt.date, dt.date]]) -> None:
    """Each table renamed aside, made anew partitioned with the same columns,
    filled, dropped; then the keys, foreign keys and indexes it had."""
    _refuse_outside_references(session)
    constraints: list[tuple[str, str, str, str]] = []  # (kind, table, name, definition)
    indexes: list[str] = []
    for table in TABLES:
        constraints += [
            (kind, table, name, definition)
            for kind, name, definition in session.execute(
                text(
                    "SELECT contype, conname, pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE conrelid = to_regclass(:table) AND contype IN ('p', 'u', 'f', 'c')"
                ),
                {"table": table},
            )
        ]
        # Indexes of their own, not those behind a key.
        indexes += session.scalars(
            text(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i"
                " WHERE i.indrelid = to_regclass(:table) AND NOT EXISTS (SELECT 1"
                " FROM pg_constraint c WHERE c.conindid = i.indexrelid"
                " AND c.conrelid = i.indrelid)"
            ),
            {"table": table},
        ).all()
    for table in TABLES:
        session.execute(text(f"ALTER TABLE {table} RENAME TO {table}{_OLD_SUFFIX}"))
        session.execute(
            text(
                f"CREATE TABLE {table} (LIKE {table}{_OLD_SUFFIX} INCLUDING DEFAULTS)"
                f" PARTITION BY RANGE ({PARTITION_KEY})"
            )
        )
        session.execute(text(f"CREATE TABLE {table}_{DEFAULT_SUFFIX} PARTITION OF {table} DEFAULT"))
        for start, end in periods:
            _add_partition(session, table, start, end)
        # The keys come after the rows: an index built once beats one kept
        # row by row, and a foreign key checked in one join beats a lookup
        # per row.
        session.execute(text(f"INSERT INTO {table} SELECT * FROM {table}{_OLD_SUFFIX}"))
    session.execute(text("DROP TABLE " + ", ".join(table + _OLD_SUFFIX for table in TABLES)))
    # Primary and unique keys before the foreign keys that reference them.
    for _kind, table, name, definition in sorted(constraints, key=lambda c: c[0] == "f"):
        session.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    for definition in indexes:
        session.execute(text(definition))
    session.execute(text(f"ANALYZE {', '.join(TABLES)}"))


def _refuse_outside_references(session: Session) -> None:
    """A foreign key from another table into the four would be lost when
    they are dropped: refuse rather than lose it."""
    outside = session.scalars(
        text(
            "SELECT conrelid::regclass::text || '.' || conname FROM pg_constraint"
            " WHERE contype = 'f' AND confrelid::regclass::text = ANY(:tables)"
            " AND NOT conrelid::regclass::text = ANY(:tables)"
        ),
        {"tables": list(TABLES)},
    ).all()
    if outside:
        raise UsageError(
            f"cannot partition: {', '.join(outside)} references the snapshot tables;"
            " drop that foreign key first"
        )


def _move_out_of_default(session: Session, start: dt.date, end: dt.date) -> int:
    """Give the period its partitions, taking the rows of its days out of
    the default partitions (PostgreSQL cannot add a range whose rows the
    default holds): each table's rows copied to a table of their own, deleted
    from the default, and that table attached as the period's partition
    (``snapshots`` first: the others' foreign keys are checked against it).
    Returns how many snapshots moved."""
    name = period_name(start, end)
    in_period = (
        f"{PARTITION_KEY} >= '{start.isoformat()}' AND {PARTITION_KEY} < '{end.isoformat()}'"
    )
    for table in reversed(TABLES):  # the rows that reference a snapshot first
        session.execute(text(f"CREATE TABLE {table}_{name} (LIKE {table} INCLUDING DEFAULTS)"))
        session.execute(
            text(
                f"WITH gone AS (DELETE FROM {table}_{DEFAULT_SUFFIX} WHERE {in_period}"
                f" RETURNING *) INSERT INTO {table}_{name} SELECT * FROM gone"
            )
        )
    for table in TABLES:
        session.execute(
            text(
                f"ALTER TABLE {table} ATTACH PARTITION {table}_{name}"
                f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )
    moved: int = session.scalar(text(f"SELECT count(*) FROM {TABLES[0]}_{name}")) or 0
    return moved


def _defaulted(session: Session, start: dt.date, end: dt.date) -> bool:
    return bool(
        session.scalar(
            text(
                f"SELECT EXISTS (SELECT 1 FROM {TABLES[0]}_{DEFAULT_SUFFIX}"
                f" WHERE {PARTITION_KEY} >= :start AND {PARTITION_KEY} < :end)"
            ),
            {"start": start, "end": end},
        )
    )


def _add_partitions(session: Session, start: dt.date, end: dt.date) -> None:
    for table in TABLES:
        _add_partition(session, table, start, end)


def _add_partition(session: Session, table: str, start: dt.date, end: dt.date) -> None:
    # The bounds are dates formatted here (DDL takes no bound parameters).
    session.execute(
        text(
            f"CREATE TABLE {table}_{period_name(start, end)} PARTITION OF {table}"
            f" FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    )
