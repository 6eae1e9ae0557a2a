"""The database goes away: the API answers 503 JSON, then serves again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.api_client import ApiClient
from tests.conftest import new_database_url
from tests.factories import add_days, day, new_client
from tests.tcp_proxy import TcpProxy
from usage import api as api_module
from usage.api import create_api_app
from usage.audit import cli_actor
from usage.db import make_engine
from usage.keys import create_key

HISTORY = "/api/v1/clients/acme-corp/history"


@pytest.fixture
def proxied(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, TcpProxy]]:
    """A PostgreSQL database reached through a proxy the test can cut."""
    url = make_url(new_database_url(request, "postgresql", tmp_path))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    engine = make_engine(url.set(port=proxy.port).render_as_string(hide_password=False))
    yield engine, proxy
    proxy.stop()
    engine.dispose()


def test_outage_is_503_json_then_service_resumes(proxied: tuple[Engine, TcpProxy]) -> None:
    engine, proxy = proxied
    with Session(engine) as session, session.begin():
        add_days(session, new_client(session, "acme-corp"), [day(0)])
        key = create_key(session, "admin", admin=True, actor=cli_actor())
    api = ApiClient(create_api_app(lambda: engine), {"X-API-Key": key})
    try:
        assert api.get(HISTORY).status_code == 200
        proxy.stop()
        for _ in range(3):
            response = api.get(HISTORY, headers={"X-Request-ID": "during-outage"})
            assert response.status_code == 503
            assert response.headers["retry-after"] == "5"
            assert response.json() == {
                "error": "database unavailable; try again shortly",
                "request_id": "during-outage",
            }
        proxy.start()  # same port: the server comes back
        response = api.get(HISTORY)
        assert response.status_code == 200
        assert response.json()["count"] == 1
    finally:
        api.close()


def test_sqlite_file_that_cannot_be_opened_is_503(tmp_path: Path) -> None:
    (tmp_path / "usage.sqlite3").mkdir()  # a directory where the file should be
    engine = make_engine(f"sqlite:///{tmp_path / 'usage.sqlite3'}")
    api = ApiClient(create_api_app(lambda: engine), {"X-API-Key": "usk_a_b"})
    try:
        response = api.get(HISTORY)
        assert response.status_code == 503
        assert response.json()["error"] == "database unavailable; try again shortly"
    finally:
        api.close()
        engine.dispose()


def test_read_blocked_by_a_lock_is_cancelled_then_service_resumes(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history read waits in the event loop: one blocked by a lock (a
    migration's ALTER TABLE) is cancelled after the API's statement timeout
    and answered 503, instead of holding the worker until the lock goes."""
    monkeypatch.setattr(api_module, "API_STATEMENT_TIMEOUT_MS", 300)
    engine = make_engine(new_database_url(request, "postgresql", tmp_path))
    with Session(engine) as session, session.begin():
        add_days(session, new_client(session, "acme-corp"), [day(0)])
        key = create_key(session, "admin", admin=True, actor=cli_actor())
    api = ApiClient(create_api_app(lambda: engine), {"X-API-Key": key})
    locker = engine.raw_connection()  # a driver connection: rolled back from a timer too
    # Without the timeout the read would wait for the lock: it goes after 20 s.
    release = threading.Timer(20, locker.rollback)
    try:
        assert api.get(HISTORY).status_code == 200  # made in a thread
        assert api.get(HISTORY).status_code == 200  # in the loop, on a kept connection
        locker.cursor().execute("LOCK TABLE snapshot_bodies IN ACCESS EXCLUSIVE MODE")
        release.start()
        started = time.monotonic()
        response = api.get(HISTORY, headers={"X-Request-ID": "locked"})
        waited = time.monotonic() - started
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json() == {
            "error": "database busy: the read took longer than 0.3 s and was cancelled"
            " (a lock held by maintenance?); try again shortly",
            "request_id": "locked",
        }
        assert waited < 10  # cancelled by the server, not left waiting for the lock
        release.cancel()
        locker.rollback()  # the lock goes
        for _ in range(3):  # in a thread, then in the loop again
            response = api.get(HISTORY)
            assert response.status_code == 200
            assert response.json()["count"] == 1
    finally:
        release.cancel()
        locker.close()
        api.close()
        engine.dispose()
