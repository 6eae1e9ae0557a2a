"""On PostgreSQL a client's stored bodies are read by a libpq prepared
statement (``usage.libpq_reads``): the same rows as SQL gives, prepared once
per connection, again when the server forgot it, only in autocommit outside
a transaction, and its errors raised as SQLAlchemy raises them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.conftest import new_database_url
from tests.factories import add_days, day, new_client
from usage.db import make_engine
from usage.history import find_client_id
from usage.libpq_reads import text_params
from usage.models import SnapshotBody
from usage.snapshots import _client_range, read_client_bodies

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


def test_a_transaction_reads_through_psycopg(pg_engine: Engine) -> None:
    """Outside autocommit the reads go through psycopg's cursor, inside the
    transaction (a failed statement would abort it), and see the store as
    it was when the transaction began."""
    with pg_engine.connect() as connection:
        connection.begin()
        before = read_client_bodies(connection, "acme-corp", None, None, None)
        assert len(before) == DAYS
        with Session(pg_engine) as session, session.begin():
            add_days(session, find_client_id(session, "acme-corp"), [day(DAYS)])
        assert read_client_bodies(connection, "acme-corp", None, None, None) == before
        assert _prepared(connection) == []
        connection.rollback()
        connection.begin()
        assert len(read_client_bodies(connection, "acme-corp", None, None, None)) == DAYS + 1
        connection.rollback()


def test_autocommit_with_a_transaction_open_reads_through_psycopg(pg_engine: Engine) -> None:
    with pg_engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("BEGIN")
        connection.exec_driver_sql("SELECT 1 FROM snapshot_bodies LIMIT 1")
        assert len(read_client_bodies(connection, "acme-corp", None, None, 5)) == 5
        assert _prepared(connection) == []
        connection.exec_driver_sql("ROLLBACK")


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
        read_client_bodies(connection, "acme-corp", None, None, 5)  # prepared: the run times out
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


def test_a_nul_in_a_parameter_is_refused(pg_engine: Engine) -> None:
    """libpq would cut the value at the NUL and read another client."""
    with pg_engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        with pytest.raises(DBAPIError) as raised:
            read_client_bodies(connection, "acme-corp\x00other", None, None, 5)
        assert isinstance(raised.value.orig, psycopg.DataError)
        assert len(read_client_bodies(connection, "acme-corp", None, None, 5)) == 5


@pytest.mark.parametrize("has_start", [False, True])
@pytest.mark.parametrize("has_end", [False, True])
@pytest.mark.parametrize("has_limit", [False, True])
def test_prepared_sql_is_the_engines_sql(has_start: bool, has_end: bool, has_limit: bool) -> None:
    """The statement prepared for libpq is the one psycopg's dialect
    renders, with PostgreSQL's own placeholders ($1, $2) in its order."""
    statement = _client_range(SnapshotBody, has_start, has_end, has_limit)
    dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
    engines = statement._statement.compile(dialect=dialect)
    dollar = statement._compiled_for(dialect, "numeric_dollar")
    assert dollar.prepared is not None
    assert dollar.names is not None
    expected = engines.string
    for number, name in enumerate(dollar.names, start=1):
        expected = expected.replace(f"%({name})s", f"${number}")
    assert dollar.sql == expected
    assert dollar.prepared.sql == expected.encode()
    assert "%(" not in expected


def test_parameters_in_text_form() -> None:
    assert text_params(["acme-corp", 31, dt.date(2025, 1, 2)]) == [
        b"acme-corp",
        b"31",
        b"2025-01-02",
    ]
    assert text_params(["café"], "latin-1") == ["café".encode("latin-1")]
    for unsupported in (True, 1.5, None, dt.datetime(2025, 1, 2)):
        with pytest.raises(TypeError):
            text_params([unsupported])
    with pytest.raises(psycopg.DataError):
        text_params(["a\x00b"])
