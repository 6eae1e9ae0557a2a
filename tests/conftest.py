"""Fixtures: a fresh database on every backend, the CLI, the API in process.

Database tests take the ``engine`` fixture and run once on SQLite and once on
PostgreSQL (``USAGE_TEST_POSTGRES_URL``, started by scripts/test.sh). With
``USAGE_TEST_REQUIRE_ALL=1`` a backend or a browser that is missing fails the
run instead of skipping it.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

import usage.runtime
from tests.s3_server import S3Server
from usage.collect.config import CollectConfig
from usage.db import make_engine, upgrade_schema
from usage.demo import load_demo

POSTGRES_URL_ENV = "USAGE_TEST_POSTGRES_URL"
REQUIRE_ALL = os.environ.get("USAGE_TEST_REQUIRE_ALL") == "1"
BACKENDS = ("sqlite", "postgresql")
DEMO_TODAY = dt.date(2026, 11, 25)
# Tests and pages each read "today": none starts this close to midnight.
MIDNIGHT_MARGIN = dt.timedelta(minutes=5)


def missing(reason: str) -> None:
    """Skip, or fail where every backend and the browser must run."""
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (USAGE_TEST_REQUIRE_ALL=1: nothing may be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating)."""
    path = tmp_path_factory.mktemp("template") / "usage.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_schema(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        missing(f"{POSTGRES_URL_ENV} is not set: no PostgreSQL server to test on")
    return str(url)


@pytest.fixture(scope="session")
def postgres_template(postgres_admin_url: str) -> str:
    """A migrated database that each test's database is cloned from."""
    name = f"usage_template_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade_schema(engine)
    engine.dispose()
    return name


def new_database_url(request: pytest.FixtureRequest, backend: str, directory: Path) -> str:
    """A URL of a new, migrated, empty database on ``backend``."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = directory / f"usage-{uuid.uuid4().hex[:8]}.sqlite3"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    admin_url: str = request.getfixturevalue("postgres_admin_url")
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"usage_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    admin.dispose()

    def drop() -> None:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def new_demo_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, today: dt.date
) -> str:
    """A new database on ``request.param``'s backend holding the demo
    portfolio up to ``today`` (for module-scoped fixtures)."""
    url = new_database_url(request, str(request.param), tmp_path_factory.mktemp("demo"))
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        load_demo(session, today)
    engine.dispose()
    return url


def _until_midnight(now: dt.datetime) -> dt.timedelta:
    return dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), now.tzinfo) - now


@pytest.fixture(autouse=True)
def _clear_of_midnight() -> None:
    """A test that reads "today" and the page it opens, which reads it again,
    must see the same day: no test starts in the last minutes of a day (local
    or UTC). It waits for the new day instead."""
    wait = min(_until_midnight(dt.datetime.now()), _until_midnight(dt.datetime.now(dt.UTC)))
    if wait < MIDNIGHT_MARGIN:
        time.sleep(wait.total_seconds() + 1)


@pytest.fixture
def today(_clear_of_midnight: None) -> dt.date:
    """Today as the pages read it (local), read when the test starts."""
    return dt.date.today()


@pytest.fixture
def utc_today(_clear_of_midnight: None) -> dt.date:
    """Today as collection reads it (UTC), read when the test starts."""
    return dt.datetime.now(dt.UTC).date()


class DemoByDay:
    """Demo databases for a module, one per day asked for: a run that crosses
    midnight gets the new day's portfolio instead of yesterday's as today's.
    ``prepare`` adds what the module needs to each new database."""

    def __init__(
        self, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        prepare: Callable[[str], None] | None = None,
    ) -> None:  # fmt: skip
        self._request, self._factory, self._prepare = request, tmp_path_factory, prepare
        self._urls: dict[dt.date, str] = {}

    def url(self, today: dt.date) -> str:
        if today not in self._urls:
            url = new_demo_url(self._request, self._factory, today)
            if self._prepare is not None:
                self._prepare(url)
            self._urls[today] = url
        return self._urls[today]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    return new_database_url(request, backend, tmp_path)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def demo_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database holding the demo portfolio up to DEMO_TODAY, shared by a
    module's tests: they must only read it."""
    url = new_database_url(request, str(request.param), tmp_path_factory.mktemp("demo"))
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        load_demo(session, DEMO_TODAY)
    yield engine
    engine.dispose()


@pytest.fixture
def config(
    s3: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
) -> CollectConfig:
    """Collection settings for the module's ``s3`` server (each collection
    test module serves the buckets it needs) and a records database on the
    test's backend."""
    from tests.collect_support import make_config, make_records_database

    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    records_url = new_database_url(request, backend, tmp_path)
    make_records_database(records_url)
    return make_config(s3.endpoint_url, records_url)


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """``python -m usage ...`` in process on the test's database: the exit
    code (argparse's own exits included), stdout and stderr of that call."""
    from usage.cli import main

    monkeypatch.setenv("USAGE_DATABASE_URL", database_url)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Point the pages at a database: the env var, a fresh engine, no cache."""

    def use(url: str) -> str:
        monkeypatch.setenv("USAGE_DATABASE_URL", url)
        monkeypatch.setattr("usage.runtime._engine", None)
        st.cache_data.clear()
        st.cache_resource.clear()
        return url

    yield use
    if usage.runtime._engine is not None:
        usage.runtime._engine.dispose()
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture(scope="module", params=BACKENDS)
def demo_by_day(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> DemoByDay:
    return DemoByDay(request, tmp_path_factory)


@pytest.fixture
def demo_url(demo_by_day: DemoByDay, today: dt.date) -> str:
    """The demo portfolio up to today, loaded once per backend and day (read only)."""
    return demo_by_day.url(today)


@pytest.fixture
def demo(demo_url: str, use_database: Any) -> str:
    return str(use_database(demo_url))


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The bytes of each download the page offers, by file name."""
    saved: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def load(
        self: MemoryMediaFileStorage, data: str | bytes, mimetype: str, kind: Any, filename: Any
    ) -> str:
        if isinstance(data, bytes) and filename:
            saved[filename] = data
        return original(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", load)
    add_deferred = MediaFileManager.add_deferred

    def deferred(
        self: MediaFileManager, make: Callable[[], str | bytes], *args: Any, **kwargs: Any
    ) -> str:
        """A download made on the click: made here, as a click would."""
        data = make()
        name = kwargs.get("file_name")
        if name:
            saved[name] = data.encode() if isinstance(data, str) else data
        return add_deferred(self, make, *args, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", deferred)
    return saved
