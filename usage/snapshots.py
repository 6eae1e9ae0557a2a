"""Snapshots: their API encoding, how they are read in bulk and written whole.

A snapshot leaves this module as a plain dict in the API's shape (dates as
``YYYY-MM-DD``, ``computed_at`` as RFC 3339 UTC), built straight from Core
rows: the API encodes it as is and the pages turn lists of them into frames,
so both show the same numbers.

One client's history, the API's busiest read, goes the short way: its
statements are compiled once per dialect and run as the driver's own SQL
(bound parameters only), and the rows are encoded as the driver returns
them, with no per-value conversion in between; on PostgreSQL its stored
bodies are read by a libpq prepared statement (``usage.libpq_reads``).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Dialect, and_, bindparam, delete, insert, select
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from usage import totals
from usage.libpq_reads import PreparedRead, fetch_column
from usage.models import (
    STANDARD_COLLECTIONS,
    Client,
    Snapshot,
    SnapshotBody,
    SnapshotCollection,
    SnapshotPrefix,
)

SnapshotJSON = dict[str, Any]

_SNAPSHOT_COLUMNS = (
    Snapshot.client_id,
    Snapshot.snapshot_date,
    Snapshot.person,
    Snapshot.organisation,
    Snapshot.member,
    Snapshot.payment,
    Snapshot.ticket,
    Snapshot.booking,
    Snapshot.total_records,
    Snapshot.object_count,
    Snapshot.total_bytes,
    Snapshot.computed_at,
)


@dataclass
class SnapshotData:
    """One client's usage on one day, as computed or imported."""

    snapshot_date: dt.date
    records: dict[str, int]
    by_prefix: dict[str, tuple[int, int]]  # prefix -> (object_count, bytes)
    computed_at: dt.datetime

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def object_count(self) -> int:
        return sum(count for count, _ in self.by_prefix.values())

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.by_prefix.values())


def format_day(day: dt.date | None) -> str | None:
    """A day as the API writes it (``YYYY-MM-DD``); None stays None."""
    return None if day is None else day.isoformat()


def format_datetime(value: dt.datetime) -> str:
    """RFC 3339 in UTC; a naive value (SQLite drops the zone) is UTC already."""
    if value.tzinfo is not None and value.utcoffset():
        value = value.astimezone(dt.UTC)
    # isoformat is several times faster than strftime; it gives the same text.
    return value.isoformat(timespec="seconds")[:19] + "Z"


def _format_date_value(value: dt.date | str) -> str:
    """A date as a driver returns it: a ``date``, or SQLite's ISO text."""
    return value if isinstance(value, str) else value.isoformat()


def _format_datetime_value(value: dt.datetime | str) -> str:
    """A timestamp as a driver returns it: a ``datetime``, or SQLite's text
    (``YYYY-MM-DD HH:MM:SS.ffffff``, in UTC)."""
    if not isinstance(value, str):
        return format_datetime(value)
    if len(value) >= 19 and value[10] == " ":
        return f"{value[:10]}T{value[11:19]}Z"
    return format_datetime(dt.datetime.fromisoformat(value))


def as_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def read_snapshots(
    session: Session,
    where: ColumnElement[bool],
    order_by: Sequence[Any],
    limit: int | None,
    bucket_ids: dict[int, str],
) -> list[SnapshotJSON]:
    """Snapshots matching ``where``, in order, with their details attached.

    ``bucket_ids`` maps every client id that can match to its bucket id. The
    details are read with the same filter narrowed to the rows found, so each
    of the three reads is an index range read.
    """
    rows, extras, prefixes = _read_rows(session, where, order_by, limit)
    return _assemble(rows, extras, prefixes, bucket_ids) if rows else []


def _read_rows(
    reader: Session | Connection,
    where: ColumnElement[bool],
    order_by: Sequence[Any],
    limit: int | None,
) -> tuple[Sequence[Any], Iterable[Any], Iterable[Any]]:
    """The snapshot rows matching ``where``, and their extra-collection and
    prefix rows in key order (none when no snapshot matched)."""
    stmt = select(*_SNAPSHOT_COLUMNS).where(where).order_by(*order_by)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = reader.execute(stmt).all()
    if not rows:
        return rows, (), ()
    detail_filter = _detail_filter(rows)
    extras = reader.execute(
        select(*_EXTRA_COLUMNS)
        .where(detail_filter(SnapshotCollection))
        .order_by(*_EXTRA_COLUMNS[:3])
    )
    prefixes = reader.execute(
        select(*_PREFIX_COLUMNS).where(detail_filter(SnapshotPrefix)).order_by(*_PREFIX_COLUMNS[:3])
    )
    return rows, extras, prefixes


def read_client_snapshots(
    session: Session,
    bucket_id: str,
    start: dt.date | None,
    end: dt.date | None,
    limit: int | None,
) -> list[SnapshotJSON]:
    """One client's snapshots from ``start`` to ``end``, newest first, at most
    ``limit`` (``None``: all); empty for an unknown client too.

    Three statements: the snapshots (the client's id found inside the same
    statement), then their extra collections and prefixes.
    """
    connection = session.connection()
    statement = _client_range(Snapshot, start is not None, end is not None, limit is not None)
    rows = statement.run(connection, _range_params(bucket_id, start, end, limit))
    if not rows:
        return []
    client_id = rows[0][0]
    # Newest first: the last row holds the first day.
    span = {"client_id": client_id, "first": rows[-1][1], "last": rows[0][1]}
    extras = _client_details(SnapshotCollection).run(connection, span)
    prefixes = _client_details(SnapshotPrefix).run(connection, span)
    return _assemble(rows, extras, prefixes, {client_id: bucket_id})


def _assemble(
    rows: Sequence[Any],
    extra_rows: Iterable[Any],
    prefix_rows: Iterable[Any],
    bucket_ids: Mapping[int, str] | None,
) -> list[SnapshotJSON]:
    """Snapshot rows with their details, as the API's dicts (without
    ``bucket_id`` when ``bucket_ids`` is None: a stored body's members).

    Detail rows come in key order, (client, day, name): the order of the
    index, so the database need not sort them, and within a snapshot the
    order of the names. A day is a ``date`` or, from the driver directly,
    SQLite's text: the same in all three kinds of rows, so the keys match.
    """
    extras: dict[tuple[int, Any], dict[str, int]] = defaultdict(dict)
    for client_id, day, name, count in extra_rows:
        extras[(client_id, day)][name] = count
    prefixes: dict[tuple[int, Any], dict[str, dict[str, int]]] = defaultdict(dict)
    for client_id, day, prefix, count, size in prefix_rows:
        prefixes[(client_id, day)][prefix] = {"count": count, "bytes": size}
    # One loop, no call per row: at limit 1000 this is most of the work.
    snapshots: list[SnapshotJSON] = []
    for row in rows:
        key = (row[0], row[1])
        records = dict(zip(STANDARD_COLLECTIONS, row[2:8], strict=True))
        if key in extras:
            records.update(extras[key])
        records["total"] = row[8]
        head = {} if bucket_ids is None else {"bucket_id": bucket_ids[row[0]]}
        snapshots.append(
            {
                **head,
                "snapshot_date": _format_date_value(row[1]),
                "records": records,
                "storage": {
                    "object_count": row[9],
                    "total_bytes": row[10],
                    "by_prefix": prefixes.get(key, {}),
                },
                "computed_at": _format_datetime_value(row[11]),
            }
        )
    return snapshots


def encode_bodies(
    rows: Sequence[Any], extra_rows: Iterable[Any], prefix_rows: Iterable[Any]
) -> list[tuple[Any, Any, bytes]]:
    """``(client_id, snapshot_date, body)`` for each snapshot row: the bytes
    ``snapshot_bodies`` keeps. Rows are as ``read_snapshots`` reads them (the
    ``snapshots`` columns in model order, then the detail rows in key order),
    so a stored body is, by construction, what the API would build from the
    columns."""
    snapshots = _assemble(rows, extra_rows, prefix_rows, None)
    return [
        (row[0], row[1], orjson.dumps(snapshot)[1:-1])
        for row, snapshot in zip(rows, snapshots, strict=True)
    ]


def backfill_bodies(connection: Connection) -> int:
    """Store the body of every snapshot, client by client (the migration that
    made ``snapshot_bodies`` runs this once); returns how many."""
    stored = 0
    for client_id in connection.scalars(select(Client.id).order_by(Client.id)).all():
        where = Snapshot.client_id == client_id
        rows, extras, prefixes = _read_rows(connection, where, [Snapshot.snapshot_date], None)
        if not rows:
            continue
        bodies = encode_bodies(rows, extras, prefixes)
        connection.execute(
            insert(SnapshotBody),
            [{"client_id": c, "snapshot_date": d, "body": body} for c, d, body in bodies],
        )
        stored += len(bodies)
    return stored


def read_client_bodies(
    connection: Connection,
    bucket_id: str,
    start: dt.date | None,
    end: dt.date | None,
    limit: int | None,
) -> list[bytes]:
    """One client's stored bodies from ``start`` to ``end``, newest first, at
    most ``limit`` (``None``: all); empty for an unknown client too.

    It takes a ``Connection``, not a ``Session``: it is one statement (one
    index range read, consistent by itself), run on the driver's connection
    without opening a transaction, so that a request pays neither for a
    session nor for ``BEGIN`` and ``ROLLBACK``: at the API's rate those cost
    several times the read."""
    statement = _client_range(SnapshotBody, start is not None, end is not None, limit is not None)
    return statement.first_column(connection, _range_params(bucket_id, start, end, limit))


def join_history(bucket_id: str, bodies: Sequence[bytes], more: bytes = b"") -> bytes:
    """``{"snapshots": [...]}``, one client's snapshots from their stored
    bodies, with ``more`` members after the list (``b',"count":3'``); the
    bodies are copied twice, as few times as joining them allows."""
    if not bodies:
        return b'{"snapshots":[]%s}' % more
    head = b'{"bucket_id":' + orjson.dumps(bucket_id) + b","
    return b'{"snapshots":[%s%s}]%s}' % (head, (b"}," + head).join(bodies), more)


def read_client_history_json(
    connection: Connection,
    bucket_id: str,
    start: dt.date | None,
    end: dt.date | None,
    limit: int,
) -> bytes | None:
    """``{"snapshots": [...], "count": n}`` joined from the stored bodies
    (``read_client_bodies``); None when nothing matched, unknown client
    included."""
    bodies = read_client_bodies(connection, bucket_id, start, end, limit)
    if not bodies:
        return None
    return join_history(bucket_id, bodies, b',"count":%d' % len(bodies))


_EXTRA_COLUMNS = (
    SnapshotCollection.client_id,
    SnapshotCollection.snapshot_date,
    SnapshotCollection.collection,
    SnapshotCollection.count,
)
_PREFIX_COLUMNS = (
    SnapshotPrefix.client_id,
    SnapshotPrefix.snapshot_date,
    SnapshotPrefix.prefix,
    SnapshotPrefix.object_count,
    SnapshotPrefix.total_bytes,
)


class _DriverStatement:
    """A Core statement compiled once per dialect and then run on the DBAPI
    cursor, with bound parameters: a call pays neither for building and
    compiling the statement nor for a result object and a ``Row`` per row.
    Parameters reach the driver as given; rows come back as it makes them.
    ``binary``: ask psycopg for PostgreSQL's binary format, in which a
    ``bytea`` travels as itself instead of as hexadecimal text (half the time
    of a 1,000-body history)."""

    def __init__(self, statement: ClauseElement, binary: bool = False) -> None:
        self._statement = statement
        self._binary = binary
        self._compiled: dict[tuple[str, str, str | None], _Compiled] = {}

    def run(self, connection: Connection, params: Mapping[str, Any]) -> Sequence[Any]:
        compiled = self._compiled_for(connection.dialect)
        binary = self._binary and connection.dialect.driver == "psycopg"
        return _fetch_all(connection, compiled.sql, compiled.args(params), binary)

    def first_column(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        """The first column of ``run``'s rows. A ``binary`` statement on
        psycopg runs as a libpq prepared statement (``usage.libpq_reads``)
        on a connection in autocommit."""
        dialect = connection.dialect
        if self._binary and dialect.driver == "psycopg":
            compiled = self._compiled_for(dialect, _DOLLAR)
            assert compiled.prepared is not None
            try:
                found = fetch_column(connection, compiled.prepared, compiled.args(params))
            except dialect.loaded_dbapi.Error as error:
                raise _driver_error(connection, error, compiled.sql, params) from error
            if found is not None:
                return found
        return [row[0] for row in self.run(connection, params)]

    def _compiled_for(self, dialect: Dialect, paramstyle: str | None = None) -> _Compiled:
        key = (dialect.name, dialect.driver, paramstyle)
        compiled = self._compiled.get(key)
        if compiled is None:
            if paramstyle is not None:  # another of the driver's dialects, in that style
                dialect_type: Any = type(dialect)
                dialect = dialect_type(paramstyle=paramstyle)
            done = self._statement.compile(dialect=dialect)
            assert isinstance(done, SQLCompiler)
            # Positional paramstyles (SQLite's "?") take the values in order.
            names = tuple(done.positiontup or ()) if done.positional else None
            # The dialect's own parameters, such as SQLite's "OFFSET 0".
            defaults = {name: value for name, value in done.params.items() if value is not None}
            prepared = PreparedRead(done.string) if paramstyle == _DOLLAR else None
            compiled = self._compiled[key] = _Compiled(done.string, names, defaults, prepared)
        return compiled


# PostgreSQL's own parameter style ($1, $2), which libpq's prepared statements take.
_DOLLAR = "numeric_dollar"

# Where a psycopg connection keeps its binary cursor (``Connection.info``
# lives as long as the driver's connection).
_BINARY_CURSOR = "usage_binary_cursor"


def _fetch_all(connection: Connection, sql: str, args: Any, binary: bool) -> Sequence[Any]:
    """The rows of ``sql``, straight from a cursor of the session's own DBAPI
    connection (inside its transaction). A driver error is raised as
    SQLAlchemy raises it from ``execute`` (a dropped connection invalidated
    first), so callers handle both paths alike.

    ``binary`` (psycopg): the cursor is made once per driver connection and
    used again, as psycopg allows once its rows are fetched: making one
    copies the connection's adapters, a third of a small read's client
    time."""
    dbapi_connection = connection.connection
    if binary:
        cursor = connection.info.get(_BINARY_CURSOR)
        if cursor is None:
            cursor = connection.info[_BINARY_CURSOR] = dbapi_connection.cursor(binary=True)
    else:
        cursor = dbapi_connection.cursor()
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        cursor.execute(sql, args)
        rows = cursor.fetchall()
    except dbapi_error as error:
        raise _driver_error(connection, error, sql, args, cursor) from error
    if not binary:
        cursor.close()
    return rows


def _driver_error(
    connection: Connection, error: Any, sql: str, args: Any, cursor: Any = None
) -> StatementError:
    """A driver's error as SQLAlchemy raises it from ``execute``: a dropped
    connection invalidated first, so callers handle every path alike."""
    dbapi_connection = connection.connection.dbapi_connection
    dropped = connection.dialect.is_disconnect(error, dbapi_connection, cursor)
    if dropped:
        connection.invalidate(error)
    wrapped: StatementError = DBAPIError.instance(
        sql,
        args,
        error,
        connection.dialect.loaded_dbapi.Error,
        connection_invalidated=dropped,
        dialect=connection.dialect,
    )
    return wrapped


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # in order, for a positional paramstyle
    defaults: dict[str, Any]
    prepared: PreparedRead | None = None  # in PostgreSQL's $n style, for libpq

    def args(self, params: Mapping[str, Any]) -> Any:
        """``params`` as the driver takes them: by name, or in order."""
        values = {**self.defaults, **params}
        return values if self.names is None else tuple(values[name] for name in self.names)


def _range_params(
    bucket_id: str, start: dt.date | None, end: dt.date | None, limit: int | None
) -> dict[str, Any]:
    """The parameters of ``_client_range``: only those its statement binds."""
    params: dict[str, Any] = {"bucket_id": bucket_id}
    if start is not None:
        params["start"] = start.isoformat()  # ISO text: SQLite's own form; PostgreSQL casts it
    if end is not None:
        params["end"] = end.isoformat()
    if limit is not None:
        params["limit"] = limit
    return params


@functools.cache
def _client_range(
    table: type[Snapshot] | type[SnapshotBody], has_start: bool, has_end: bool, has_limit: bool
) -> _DriverStatement:
    """One client's rows of ``table`` in a date range, newest first: the
    snapshot columns, or the stored bodies (in binary format on PostgreSQL).
    The client's id is found inside the statement."""
    client_id = select(Client.id).where(Client.bucket_id == bindparam("bucket_id"))
    columns: tuple[Any, ...] = _SNAPSHOT_COLUMNS if table is Snapshot else (SnapshotBody.body,)
    stmt = select(*columns).where(table.client_id == client_id.scalar_subquery())
    if has_start:
        stmt = stmt.where(table.snapshot_date >= bindparam("start"))
    if has_end:
        stmt = stmt.where(table.snapshot_date <= bindparam("end"))
    stmt = stmt.order_by(table.snapshot_date.desc())
    if has_limit:
        stmt = stmt.limit(bindparam("limit"))
    return _DriverStatement(stmt, binary=table is SnapshotBody)


@functools.cache
def _client_details(table: type[SnapshotCollection] | type[SnapshotPrefix]) -> _DriverStatement:
    columns: tuple[Any, ...] = _EXTRA_COLUMNS if table is SnapshotCollection else _PREFIX_COLUMNS
    return _DriverStatement(
        select(*columns)
        .where(
            table.client_id == bindparam("client_id"),
            table.snapshot_date.between(bindparam("first"), bindparam("last")),
        )
        .order_by(*columns[:3])
    )


def _detail_filter(rows: Sequence[Any]) -> Any:
    client_ids = {row[0] for row in rows}
    days = [row[1] for row in rows]
    first, last = min(days), max(days)

    def build(table: type[SnapshotCollection] | type[SnapshotPrefix]) -> Any:
        if len(client_ids) == 1:
            (client_id,) = client_ids
            return and_(
                table.client_id == client_id,
                table.snapshot_date.between(first, last),
            )
        return and_(
            table.client_id.in_(sorted(client_ids)),
            table.snapshot_date.between(first, last),
        )

    return build


def snapshot_row(client_id: int, data: SnapshotData) -> dict[str, Any]:
    row: dict[str, Any] = {
        "client_id": client_id,
        "snapshot_date": data.snapshot_date,
        "total_records": data.total_records,
        "object_count": data.object_count,
        "total_bytes": data.total_bytes,
        "computed_at": as_utc(data.computed_at),
    }
    for name in STANDARD_COLLECTIONS:
        row[name] = data.records.get(name, 0)
    return row


def insert_snapshots(session: Session, items: Iterable[tuple[int, SnapshotData]]) -> int:
    """Insert new snapshots in bulk (executemany), keeping the portfolio's
    totals with them (``usage.totals``); returns how many."""
    items = list(items)
    with totals.kept(session, _days_by_client(items)):
        return _insert_rows(session, items)


def replace_snapshots(session: Session, items: Iterable[tuple[int, SnapshotData]]) -> int:
    """Store snapshots in bulk, each replacing its client's snapshot of the
    same day, if any, whole; returns how many."""
    items = list(items)
    days = _days_by_client(items)
    with totals.kept(session, days):
        for client_id, client_days in days.items():
            _delete_rows(session, client_id, sorted(client_days))
        return _insert_rows(session, items)


def _days_by_client(items: Iterable[tuple[int, SnapshotData]]) -> dict[int, set[dt.date]]:
    days: dict[int, set[dt.date]] = defaultdict(set)
    for client_id, data in items:
        days[client_id].add(data.snapshot_date)
    return days


def _insert_rows(session: Session, items: Iterable[tuple[int, SnapshotData]]) -> int:
    main: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []
    prefixes: list[dict[str, Any]] = []
    bodies: list[dict[str, Any]] = []
    for client_id, data in items:
        row = snapshot_row(client_id, data)
        main.append(row)
        key = {"client_id": client_id, "snapshot_date": data.snapshot_date}
        own_extras = [
            {**key, "collection": name, "count": count}
            for name, count in sorted(data.records.items())
            if name not in STANDARD_COLLECTIONS
        ]
        own_prefixes = [
            {**key, "prefix": prefix, "object_count": count, "total_bytes": size}
            for prefix, (count, size) in sorted(data.by_prefix.items())
        ]
        extras.extend(own_extras)
        prefixes.extend(own_prefixes)
        bodies.append({**key, "body": _body_of(row, own_extras, own_prefixes)})
    if main:
        session.execute(insert(Snapshot), main)
        session.execute(insert(SnapshotBody), bodies)
    if extras:
        session.execute(insert(SnapshotCollection), extras)
    if prefixes:
        session.execute(insert(SnapshotPrefix), prefixes)
    return len(main)


def _body_of(
    row: dict[str, Any], extras: list[dict[str, Any]], prefixes: list[dict[str, Any]]
) -> bytes:
    """The stored body of one snapshot about to be inserted, from its rows."""
    values = tuple(row[column.key] for column in _SNAPSHOT_COLUMNS)
    extra_rows = [tuple(extra[column.key] for column in _EXTRA_COLUMNS) for extra in extras]
    prefix_rows = [tuple(prefix[column.key] for column in _PREFIX_COLUMNS) for prefix in prefixes]
    return encode_bodies([values], extra_rows, prefix_rows)[0][2]


def replace_snapshot(session: Session, client_id: int, data: SnapshotData) -> None:
    """Store one snapshot, replacing the same day's whole."""
    replace_snapshots(session, [(client_id, data)])


def _delete_rows(session: Session, client_id: int, days: Sequence[dt.date]) -> None:
    # Children first: ON DELETE CASCADE holds on PostgreSQL, and on SQLite
    # only where foreign keys are switched on; do not rely on it.
    for table in (SnapshotCollection, SnapshotPrefix, SnapshotBody, Snapshot):
        session.execute(
            delete(table).where(table.client_id == client_id, table.snapshot_date.in_(days))
        )
