"""The server's listening sockets: Nagle's algorithm off on every connection
they accept, and the addresses they listen on.

``uvicorn --workers N`` and ``streamlit run`` bind their listening socket
themselves, with ``proto`` left at 0, and asyncio then leaves Nagle's
algorithm on for the connections accepted from it (uvicorn issue #3149).
uvicorn writes a response's headers and its body in two writes, so on a
keep-alive connection every response after the first waits for the client's
delayed ACK: about 40 ms each, which caps 16 connections at some 350
requests/s. Linux copies ``TCP_NODELAY`` from a listening socket to the
sockets it accepts, so setting it once on the listeners, at startup, fixes
every connection.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

_FD_DIR = "/proc/self/fd"


def _listeners() -> Iterator[socket.socket]:
    """This process's listening TCP sockets (none where ``/proc`` is missing,
    not Linux); each is detached, so the descriptor stays the server's."""
    try:
        descriptors = [int(name) for name in os.listdir(_FD_DIR)]
    except OSError:
        return
    for descriptor in descriptors:
        try:
            sock = socket.socket(fileno=descriptor)
        except OSError:  # not a socket, or closed since the listing
            continue
        try:
            if (
                sock.family in (socket.AF_INET, socket.AF_INET6)
                and sock.type == socket.SOCK_STREAM
                and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            ):
                yield sock
        except OSError:
            pass
        finally:
            sock.detach()


def set_nodelay_on_listeners() -> int:
    """Set ``TCP_NODELAY`` on this process's listening TCP sockets; returns how many."""
    count = 0
    for sock in _listeners():
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            count += 1
        except OSError:
            pass
    return count


def listening_addresses() -> list[str]:
    """The IP addresses this process's listening TCP sockets are bound to."""
    addresses = []
    for sock in _listeners():
        with contextlib.suppress(OSError):
            addresses.append(str(sock.getsockname()[0]))
    return addresses
