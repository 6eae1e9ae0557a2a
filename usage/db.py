"""Where the store lives: the database URL, engines and the schema upgrade.

The default is an embedded SQLite file that needs no configuration at all;
``USAGE_DATABASE_URL`` points the same code at PostgreSQL
(``postgresql+psycopg://user:pass@host/db``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from usage.errors import ConfigError

DATABASE_URL_ENV = "USAGE_DATABASE_URL"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "data" / "usage.sqlite3"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
# An execution option: the transaction writes, and begins with BEGIN IMMEDIATE.
_SQLITE_WRITER = "usage_sqlite_writer"


def configured_url() -> str | None:
    """The URL from the environment, or None when the embedded default is used."""
    value = os.environ.get(DATABASE_URL_ENV, "").strip()
    return value or None


def database_url() -> str:
    return configured_url() or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: the configured database)."""
    url = url or database_url()
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"{DATABASE_URL_ENV} is not a database URL: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        return _make_sqlite_engine(url, parsed.database, **kwargs)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"{DATABASE_URL_ENV} must be a sqlite:// or postgresql+psycopg:// URL,"
            f" not {parsed.drivername}://"
        )
    kwargs.setdefault("pool_pre_ping", True)
    # A snapshot is read with several SELECTs (its row, its collections, its
    # prefixes): under READ COMMITTED each could see a different commit and a
    # reader could mix two versions of a day. One snapshot per transaction.
    kwargs.setdefault("isolation_level", "REPEATABLE READ")
    defaults = {name: value for name, value in POSTGRES_CONNECT_DEFAULTS.items()
                if name not in parsed.query}  # fmt: skip
    kwargs.setdefault("connect_args", defaults)
    return create_engine(url, **kwargs)


# libpq's settings for every connection to PostgreSQL, where the URL's query
# does not set them: a server that does not answer is given up after 5 s,
# and one lost without closing the connection (a host gone, a network cut)
# is noticed within about a minute, by TCP keepalives while a connection
# waits for an answer and by ``tcp_user_timeout`` while what it sent goes
# unacknowledged. Without them a read waiting on such a server holds its
# thread, or a server process's event loop, until the kernel gives up (about
# 15 minutes of retransmissions).
POSTGRES_CONNECT_DEFAULTS: dict[str, int] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,  # milliseconds
}


def _make_sqlite_engine(url: str, database: str | None, **kwargs: Any) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin, so
        # that BEGIN IMMEDIATE can take the write lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_SQLITE_WRITER):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


def for_writes(engine: Engine) -> Engine:
    """The engine for a transaction that writes snapshots (collection,
    import, demo) or claims runs. On PostgreSQL it runs in READ COMMITTED:
    such writers add to shared rows (a day's portfolio change, a client's
    run) with ``ON CONFLICT DO UPDATE``, which under REPEATABLE READ fails to
    serialise when two of them commit the same row at once; in READ
    COMMITTED the second waits for the first and adds to its result.

    On SQLite the transaction begins with ``BEGIN IMMEDIATE``: it takes the
    one write lock before its first read (waiting up to the busy timeout),
    as a writer that read first could not take it after another commits."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="READ COMMITTED")
    return engine.execution_options(**{_SQLITE_WRITER: True})


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is there)."""
    command.upgrade(alembic_config(engine), "head")


def schema_is_current(engine: Engine) -> bool:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) == set(script.get_heads())


def open_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine whose schema is ready: the embedded default is upgraded in
    place; a configured database must have been upgraded by the operator."""
    engine = make_engine(url, **kwargs)
    try:
        if url is None and configured_url() is None:
            upgrade_schema(engine)
        elif not schema_is_current(engine):
            raise ConfigError(
                "the database schema is not up to date: run `python -m usage db upgrade`"
            )
    except BaseException:
        engine.dispose()
        raise
    return engine
