"""What the server process does when it starts, whichever command ran it.

Two fixes to how ``streamlit run`` and ``uvicorn app:app`` serve, both at
startup, when the listening sockets exist and Streamlit has set up logging:

- Nagle's algorithm off on the listening sockets (``usage.nodelay``);
- the listening addresses noted: with sign-in off, a server reachable from
  the network logs a warning and every page says so;
- uvicorn's access-log choice kept. Streamlit's logging setup, run as its
  runtime starts, gives the ``uvicorn.access`` logger a handler of its own,
  and uvicorn logs each request when that logger has any: so ``uvicorn
  app:app --no-access-log`` logged every request (at a cost of about a tenth
  of a small request's time). The handlers the logger had before Streamlit
  started are put back.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from usage.nodelay import listening_addresses, set_nodelay_on_listeners

log = logging.getLogger(__name__)

ACCESS_LOGGER = "uvicorn.access"

Lifespan = Callable[[object], AbstractAsyncContextManager[None]]


def server_lifespan(sign_in_enabled: Callable[[], bool] = lambda: False) -> Lifespan:
    """A lifespan for ``st.App``, made when the app is: it remembers the
    access logger's handlers as the server configured them."""
    access = logging.getLogger(ACCESS_LOGGER)
    handlers = list(access.handlers)

    @asynccontextmanager
    async def lifespan(_app: object) -> AsyncIterator[None]:
        access.handlers = list(handlers)
        set_nodelay_on_listeners()
        _listening[:] = listening_addresses()
        if reachable_from_network() and not sign_in_enabled():
            log.warning(
                "Sign-in is off and the server listens on %s: anyone who can reach it sees "
                "every client. Configure [auth] in .streamlit/secrets.toml (see the README).",
                ", ".join(sorted(set(_listening))),
            )
        yield

    return lifespan


_listening: list[str] = []  # the server's listening addresses, once started


def reachable_from_network() -> bool:
    """True when the server listens on an address other than loopback (the
    pages then warn while sign-in is off). False outside a server."""
    return any(not ipaddress.ip_address(address).is_loopback for address in _listening)
