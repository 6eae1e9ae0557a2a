"""Every connection to PostgreSQL notices a server lost without closing it:
TCP keepalives and ``tcp_user_timeout`` on its socket (``usage.db``), unless
the URL's own query sets them."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.conftest import new_database_url
from usage.db import POSTGRES_CONNECT_DEFAULTS, make_engine

# Linux's TCP option numbers (socket has TCP_USER_TIMEOUT only from Python 3.12).
TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


def _socket_options(engine: Engine) -> dict[str, int]:
    """The TCP options the kernel holds for a pooled connection's socket."""
    with engine.connect() as connection:
        fd = connection.connection.dbapi_connection.pgconn.socket  # type: ignore[union-attr]
        with socket.socket(fileno=socket.dup(fd)) as sock:
            return {
                "keepalive": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                "idle": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                "interval": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                "count": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
                "user_timeout_ms": sock.getsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT),
            }


def test_connections_notice_a_lost_server(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    engine = make_engine(new_database_url(request, "postgresql", tmp_path))
    try:
        options = _socket_options(engine)
    finally:
        engine.dispose()
    assert options == {
        "keepalive": 1,
        "idle": POSTGRES_CONNECT_DEFAULTS["keepalives_idle"],
        "interval": POSTGRES_CONNECT_DEFAULTS["keepalives_interval"],
        "count": POSTGRES_CONNECT_DEFAULTS["keepalives_count"],
        "user_timeout_ms": POSTGRES_CONNECT_DEFAULTS["tcp_user_timeout"],
    }


def test_the_url_sets_its_own(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = new_database_url(request, "postgresql", tmp_path)
    separator = "&" if "?" in url else "?"
    engine = make_engine(f"{url}{separator}keepalives_idle=120&tcp_user_timeout=5000")
    try:
        options = _socket_options(engine)
    finally:
        engine.dispose()
    assert options["idle"] == 120
    assert options["user_timeout_ms"] == 5000
    assert options["interval"] == POSTGRES_CONNECT_DEFAULTS["keepalives_interval"]
