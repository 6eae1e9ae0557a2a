"""The server's first start: the embedded default gets the demo, nothing else does."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.factories import new_client
from usage import runtime
from usage.demo import is_demo
from usage.models import Client


@pytest.fixture
def fresh_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "data" / "usage.sqlite3"
    monkeypatch.setattr("usage.db.DEFAULT_SQLITE_PATH", path)
    monkeypatch.setattr(runtime, "_engine", None)
    monkeypatch.delenv("USAGE_DATABASE_URL", raising=False)
    return path


def client_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Client)) or 0


def test_first_start_on_the_default_creates_the_file_and_loads_the_demo(
    fresh_runtime: Path,
) -> None:
    engine = runtime.server_engine()
    try:
        assert fresh_runtime.exists()
        assert client_count(engine) >= 12
        with Session(engine) as session:
            assert is_demo(session)
        assert runtime.server_engine() is engine
    finally:
        engine.dispose()


def test_default_database_with_clients_gets_no_demo(fresh_runtime: Path) -> None:
    from usage.db import open_engine

    engine = open_engine()
    with Session(engine) as session, session.begin():
        new_client(session, "mine")
    engine.dispose()
    engine = runtime.server_engine()
    try:
        assert client_count(engine) == 1
        with Session(engine) as session:
            assert not is_demo(session)
    finally:
        engine.dispose()


def test_configured_database_is_never_filled(
    fresh_runtime: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setenv("USAGE_DATABASE_URL", database_url)
    engine = runtime.server_engine()
    try:
        assert client_count(engine) == 0
        assert not fresh_runtime.exists()
    finally:
        engine.dispose()
