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
says it is gone (``DISCARD ALL`` by a pooler). A read runs this way only on
a connection in autocommit with no transaction open (the API's for its
one-statement reads): in a transaction a failed statement would abort it, and
psycopg must open one itself on a connection that is not in autocommit, so
there ``fetch_column`` answers None and the caller uses the cursor. Errors
are psycopg's own, as its cursor raises them.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import pq
from sqlalchemy import Connection

_BINARY = 1  # PostgreSQL's binary format: a bytea is its bytes
_INVALID_STATEMENT_NAME = b"26000"  # the prepared statement does not exist
_STATE = "usage_libpq_reads"  # in Connection.info: a _ConnectionState
_numbers = itertools.count(1)


class PreparedRead:
    """One statement in PostgreSQL's ``$1`` parameter style, and its name."""

    __slots__ = ("name", "sql")

    def __init__(self, sql: str) -> None:
        self.name = b"usage_%d" % next(_numbers)
        self.sql = sql.encode()


def text_params(values: Sequence[Any], encoding: str = "utf-8") -> list[bytes]:
    """Parameters in PostgreSQL's text format, typed by the server from the
    statement (its casts, a column compared, ``LIMIT``). The statements bind
    only the values they have: no NULL."""
    try:
        return [_TEXT_FORMS[type(value)](value, encoding) for value in values]
    except KeyError as error:
        raise TypeError(f"no text form for a {error.args[0].__name__} parameter") from None


def _str_text(value: str, encoding: str) -> bytes:
    if "\x00" in value:  # libpq would cut the value there
        raise psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    return value.encode(encoding)


# By exact type: a bool is not sent as an int, nor a datetime as a date.
_TEXT_FORMS: dict[type, Callable[[Any, str], bytes]] = {
    str: _str_text,
    int: lambda value, _encoding: b"%d" % value,
    dt.date: lambda value, _encoding: value.isoformat().encode(),
}


def fetch_column(
    connection: Connection, read: PreparedRead, values: Sequence[Any]
) -> list[Any] | None:
    """The first column of ``read``'s rows with ``values`` bound, in binary
    format; None when the connection is not in autocommit or has a
    transaction open: the caller then reads with psycopg's cursor."""
    driver: psycopg.Connection[Any] = connection.connection.dbapi_connection  # type: ignore[assignment]
    if not driver.autocommit:
        return None
    pgconn = driver.pgconn
    state = _state(connection, driver)
    params = text_params(values, state.encoding)
    with driver.lock:
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            return None  # a transaction opened by SQL in autocommit, or the connection lost
        if read.name not in state.prepared:
            _prepare(pgconn, read)
            state.prepared.add(read.name)
        result = pgconn.exec_prepared(read.name, params, None, _BINARY)
        if _failed_with(result, _INVALID_STATEMENT_NAME):  # outside a transaction: no harm done
            _prepare(pgconn, read)
            result = pgconn.exec_prepared(read.name, params, None, _BINARY)
    if result.status != pq.ExecStatus.TUPLES_OK:
        raise _error(pgconn, result)
    value = result.get_value
    return [value(row, 0) for row in range(result.ntuples)]


class _ConnectionState:
    """What this module keeps for one driver connection: the names prepared
    on it, and the encoding its text parameters are sent in."""

    __slots__ = ("encoding", "prepared")

    def __init__(self, driver: psycopg.Connection[Any]) -> None:
        self.encoding = driver.info.encoding
        self.prepared: set[bytes] = set()


def _state(connection: Connection, driver: psycopg.Connection[Any]) -> _ConnectionState:
    """This driver connection's state, in ``Connection.info``: the pool
    clears that whenever its record opens another driver connection."""
    state: _ConnectionState | None = connection.info.get(_STATE)
    if state is None:
        state = connection.info[_STATE] = _ConnectionState(driver)
    return state


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
