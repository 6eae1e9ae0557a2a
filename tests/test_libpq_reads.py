"""On PostgreSQL a client's stored bodies are read by a libpq prepared
statement (``usage.libpq_reads``): the same rows as SQL gives, prepared once
per connection, again when the server forgot it, only where psycopg's
transaction state allows, and its errors raised as SQLAlchemy raises them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.conftest import new_database_url
from tests.factories import add_days, day, new_client
from usage.db import make_engine
from usage.history import find_client_id
from usage.libpq_reads import text_params
from usage.snapshots import read_client_bodies

DAYS = 40


@pytest.fixture
def pg_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(new_database_url(request, "postgresql", tmp_path))
    with Session(engine) as session, session.begin():
        for name in ("acme-corp", "globex"):
            add_days(session, new_client(session, name), [day(offset) for offset in range(DAYS)])
    yield engine
    engine.dispose()


def _stored(connection: Connection, bucket_id: str) -> list[bytes]:
    """The client's bodies, newest first, by plain SQL."""
    rows = connection.execute(
        text(
            "SELECT body FROM snapshot_bodies WHERE client_id ="
            " (SELECT id FROM clients WHERE bucket_id = :bucket) ORDER BY snapshot_date DESC"
        ),
        {"bucket": bucket_id},
    )
    return [bytes(row[0]) for row in rows]


def _prepared(connection: Connection) -> list[tuple[str, bool]]:
    """This connection's prepared statements that read the stored bodies."""
    rows = connection.execute(
        text(
            "SELECT name, from_sql FROM pg_prepared_statements"
            " WHERE statement LIKE '%FROM snapshot_bodies%' AND statement LIKE '%$1%'"
        )
    )
    return [(row[0], row[1]) for row in rows]


def test_reads_the_stored_bodies_with_one_prepared_statement(pg_engine: Engine) -> None:
    with pg_engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        expected = {name: _stored(connection, name) for name in ("acme-corp", "globex")}
        for number in range(8):
            bucket = ("acme-corp", "globex")[number % 2]
            limit = (3, 31, None)[number % 3]
            bodies = read_client_bodies(connection, bucket, None, None, limit)
            assert bodies == expected[bucket][:limit]
            assert all(type(body) is bytes for body in bodies)
        ranged = read_client_bodies(connection, "globex", day(5), day(9), 100)
        assert ranged == expected["globex"][DAYS - 10 : DAYS - 5]
        assert read_client_bodies(connection, "nobody", None, None, 5) == []
        # Two statements (with and without a limit; the range is a third),
        # each prepared once at the protocol level, not by psycopg's cursor.
        prepared = _prepared(connection)
        assert len(prepared) == 3
        assert all(name.startswith("usage_") and not from_sql for name, from_sql in prepared)


def test_prepares_again_when_the_server_forgot_the_statement(pg_engine: Engine) -> None:
    with pg_engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        first = read_client_bodies(connection, "acme-corp", None, None, 5)
        connection.exec_driver_sql("DEALLOCATE ALL")  # as a pooler's DISCARD ALL does
        assert _prepared(connection) == []
        assert read_client_bodies(connection, "acme-corp", None, None, 5) == first
        assert len(_prepared(connection)) == 1


def test_a_transaction_reads_its_own_snapshot(pg_engine: Engine) -> None:
    """The first read of a transaction goes through psycopg, which opens it;
    the next ones run in it, and see the store as it was when it began."""
    with pg_engine.connect() as connection:
        before = read_client_bodies(connection, "acme-corp", None, None, None)
        assert len(before) == DAYS
        with Session(pg_engine) as session, session.begin():
            add_days(session, find_client_id(session, "acme-corp"), [day(DAYS)])
        assert read_client_bodies(connection, "acme-corp", None, None, None) == before
        assert [name for name, _ in _prepared(connection)] != []  # the second read's
        connection.rollback()
        assert len(read_client_bodies(connection, "acme-corp", None, None, None)) == DAYS + 1


def test_a_lost_connection_is_invalidated(pg_engine: Engine) -> None:
    with pg_engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        read_client_bodies(connection, "acme-corp", None, None, 5)
        backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with pg_engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
            other.commit()
        with pytest.raises(DBAPIError) as raised:
            read_client_bodies(connection, "acme-corp", None, None, 5)
        assert raised.value.connection_invalidated
        assert connection.invalidated


def test_a_failed_read_raises_the_server_error(pg_engine: Engine) -> None:
    with pg_engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("SET statement_timeout = 1")
        with pg_engine.connect() as locker:
            locker.exec_driver_sql("LOCK TABLE snapshot_bodies IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(DBAPIError) as raised:
                read_client_bodies(connection, "acme-corp", None, None, 5)
            locker.rollback()
        orig: Any = raised.value.orig
        assert orig.sqlstate == "57014"  # cancelled by the statement timeout
        assert not raised.value.connection_invalidated
        connection.exec_driver_sql("SET statement_timeout = 0")
        assert len(read_client_bodies(connection, "acme-corp", None, None, 5)) == 5


def test_parameters_in_text_form() -> None:
    assert text_params(["acme-corp", 31, dt.date(2025, 1, 2)]) == [
        b"acme-corp",
        b"31",
        b"2025-01-02",
    ]
    for unsupported in (True, 1.5, None, dt.datetime(2025, 1, 2)):
        with pytest.raises(TypeError):
            text_params([unsupported])
