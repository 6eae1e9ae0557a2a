"""Reads of one ``bytea`` column run as libpq prepared statements, on the
psycopg connection SQLAlchemy holds.

psycopg's cursor costs about 45 us of client CPU per small read on top of
PostgreSQL's own work (its query conversion, prepared-statement bookkeeping,
parameter dumpers, row loaders and the non-blocking wait loop, in Python);
``PGconn.exec_prepared``, libpq's ``PQexecPrepared`` as psycopg exposes it for
what its cursors do not wrap, costs a third of that. The API's history read
is such a read: a client's stored JSON bodies, newest first.

Each statement is prepared on a connection the first time it runs there, by
a name of its own (psycopg's own are ``_pg3_N``), and again if the server
says it is gone (``DISCARD ALL`` by a pooler). A read runs only where it sees
what psycopg would: on a connection in autocommit, or inside the transaction
psycopg has opened; on an idle connection that is not in autocommit psycopg
must open the transaction first, so ``fetch_column`` answers None and the
caller uses the cursor. Errors are psycopg's own, as its cursor raises them.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import Connection

_BINARY = 1  # PostgreSQL's binary format: a bytea is its bytes
_INVALID_STATEMENT_NAME = b"26000"  # the prepared statement does not exist
_PREPARED = "usage_libpq_prepared"  # in Connection.info: (driver connection, names)
_numbers = itertools.count(1)


class PreparedRead:
    """One statement in PostgreSQL's ``$1`` parameter style, and its name."""

    __slots__ = ("name", "sql")

    def __init__(self, sql: str) -> None:
        self.name = b"usage_%d" % next(_numbers)
        self.sql = sql.encode()


def text_params(values: Sequence[Any]) -> list[bytes]:
    """Parameters in PostgreSQL's text format, typed by the server from the
    statement (its casts, a column compared, ``LIMIT``). The statements bind
    only the values they have: no NULL."""
    return [_text(value) for value in values]


def _text(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int) and not isinstance(value, bool):
        return b"%d" % value
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat().encode()
    raise TypeError(f"no text form for a {type(value).__name__} parameter")


def fetch_column(
    connection: Connection, read: PreparedRead, params: list[bytes]
) -> list[Any] | None:
    """The first column of ``read``'s rows, in binary format; None when the
    connection's transaction state asks for psycopg's cursor (see above)."""
    driver: psycopg.Connection[Any] = connection.connection.dbapi_connection  # type: ignore[assignment]
    pgconn = driver.pgconn
    if not driver.autocommit and pgconn.transaction_status != pq.TransactionStatus.INTRANS:
        return None
    prepared = _prepared_names(connection, driver)
    with driver.lock:
        if read.name not in prepared:
            _prepare(pgconn, read)
            prepared.add(read.name)
        result = pgconn.exec_prepared(read.name, params, None, _BINARY)
        if _failed_with(result, _INVALID_STATEMENT_NAME):
            _prepare(pgconn, read)
            result = pgconn.exec_prepared(read.name, params, None, _BINARY)
    if result.status != pq.ExecStatus.TUPLES_OK:
        raise _error(pgconn, result)
    value = result.get_value
    return [value(row, 0) for row in range(result.ntuples)]


def _prepared_names(connection: Connection, driver: object) -> set[bytes]:
    """The names prepared on this driver connection (``Connection.info``
    outlives it when the pool replaces an invalidated one)."""
    kept = connection.info.get(_PREPARED)
    if kept is None or kept[0] is not driver:
        kept = connection.info[_PREPARED] = (driver, set())
    names: set[bytes] = kept[1]
    return names


def _prepare(pgconn: Any, read: PreparedRead) -> None:
    result = pgconn.prepare(read.name, read.sql, None)
    if result.status != pq.ExecStatus.COMMAND_OK:
        raise _error(pgconn, result)


def _failed_with(result: Any, sqlstate: bytes) -> bool:
    return bool(
        result.status == pq.ExecStatus.FATAL_ERROR
        and result.error_field(pq.DiagnosticField.SQLSTATE) == sqlstate
    )


def _error(pgconn: Any, result: Any) -> psycopg.Error:
    """psycopg's exception for a failed result: its class by SQLSTATE, an
    ``OperationalError`` when the connection was lost (psycopg's ``closed``
    then says so, and SQLAlchemy invalidates the connection)."""
    if pgconn.status == pq.ConnStatus.BAD:
        message = result.get_error_message() or "the connection to the server was lost"
        return psycopg.OperationalError(message)
    return psycopg.errors.error_from_result(result)
