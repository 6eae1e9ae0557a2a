"""What the server process does when it starts, whichever command ran it.

Two fixes to how ``streamlit run`` and ``uvicorn app:app`` serve, both at
startup, when the listening sockets exist and Streamlit has set up logging:

- Nagle's algorithm off on the listening sockets (``usage.nodelay``);
- uvicorn's access-log choice kept. Streamlit's logging setup, run as its
  runtime starts, gives the ``uvicorn.access`` logger a handler of its own,
  and uvicorn logs each request when that logger has any: so ``uvicorn
  app:app --no-access-log`` logged every request (at a cost of about a tenth
  of a small request's time). The handlers the logger had before Streamlit
  started are put back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from usage.nodelay import set_nodelay_on_listeners

ACCESS_LOGGER = "uvicorn.access"

Lifespan = Callable[[object], AbstractAsyncContextManager[None]]


def server_lifespan() -> Lifespan:
    """A lifespan for ``st.App``, made when the app is: it remembers the
    access logger's handlers as the server configured them."""
    access = logging.getLogger(ACCESS_LOGGER)
    handlers = list(access.handlers)

    @asynccontextmanager
    async def lifespan(_app: object) -> AsyncIterator[None]:
        access.handlers = list(handlers)
        set_nodelay_on_listeners()
        yield

    return lifespan
