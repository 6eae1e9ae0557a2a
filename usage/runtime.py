"""The server's engine: made once per process, on first use.

On the embedded default (no ``USAGE_DATABASE_URL``) the schema is upgraded
and, when the database has no client yet, the demo portfolio is loaded, so a
first start has something to show. A configured database is never touched.
"""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from usage.db import configured_url, open_engine
from usage.demo import load_demo_if_empty

_lock = threading.Lock()
_engine: Engine | None = None


def server_engine() -> Engine:
    global _engine
    if _engine is not None:  # every call but the first: no lock taken
        return _engine
    with _lock:
        if _engine is None:
            engine = open_engine()
            if configured_url() is None:
                with Session(engine) as session, session.begin():
                    load_demo_if_empty(session, dt.date.today())
            _engine = engine
        return _engine
