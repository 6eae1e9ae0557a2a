"""The server's start: with sign-in off, a server reachable from the network
says so in its log (and, through ``reachable_from_network``, on every page)."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

import usage.serving
from usage.nodelay import listening_addresses
from usage.serving import reachable_from_network, server_lifespan

WARNING = "Sign-in is off and the server listens on"


def start(sign_in: bool) -> None:
    async def run() -> None:
        async with server_lifespan(lambda: sign_in)(object()):
            pass

    asyncio.run(run())


@pytest.mark.parametrize(
    ("addresses", "sign_in", "reachable", "warned"),
    [
        (["127.0.0.1"], False, False, False),
        (["::1", "127.0.0.2"], False, False, False),
        (["0.0.0.0"], False, True, True),
        (["::"], False, True, True),
        (["192.0.2.7"], True, True, False),
    ],
)
def test_a_reachable_server_without_sign_in_warns_at_start(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    addresses: list[str],
    sign_in: bool,
    reachable: bool,
    warned: bool,
) -> None:
    monkeypatch.setattr(usage.serving, "listening_addresses", lambda: addresses)
    monkeypatch.setattr(usage.serving, "_listening", [])
    with caplog.at_level(logging.WARNING, logger="usage.serving"):
        start(sign_in)
    assert reachable_from_network() is reachable
    assert any(WARNING in record.getMessage() for record in caplog.records) is warned


def test_listening_addresses_are_this_process_listeners() -> None:
    before = listening_addresses().count("127.0.0.2")
    with socket.socket() as listener:
        listener.bind(("127.0.0.2", 0))
        listener.listen()
        assert listening_addresses().count("127.0.0.2") == before + 1
    with socket.socket() as unbound:
        unbound.bind(("127.0.0.2", 0))  # bound, not listening: not a listener
        assert listening_addresses().count("127.0.0.2") == before
