"""A reference server for ``bench.http --reference`` on PostgreSQL: the
history endpoint and nothing else, Starlette over psycopg 3, reading the same
stored bodies with the same SQL as ``bench/lean_server.py``. No key check, no
validation beyond ``int()``, no SQLAlchemy, no error shape.

    USAGE_LEAN_POSTGRES=postgresql://user@host/usage_bench_10000 \\
        uvicorn bench.lean_pg_server:app --workers 2

``USAGE_LEAN_PG_MODE`` picks how it reads (each worker has its own
connections), so that the reference is the fastest way, measured, not one
way: ``loop`` (the default: one synchronous connection per worker, used in
the event loop itself, as the SQLite reference uses ``sqlite3``), ``thread``
(a pool of synchronous connections, each read in a thread),
``async`` (one ``AsyncConnection`` per worker, its reads queued on it) and
``async-pool`` (several, each request taking an idle one from a queue) and
``libpq`` (as ``loop``, but past psycopg's cursor: the read prepared once on
the connection and run with ``PGconn.exec_prepared``, libpq's own call, as
the product's API reads since it was measured at a third of the cursor's
client CPU: ``usage/libpq_reads.py``).
``USAGE_LEAN_PG_CONNECTIONS`` sizes the pools (4), ``USAGE_LEAN_PG_TEXT=1``
reads the bodies as text instead of PostgreSQL's binary format.
``USAGE_LEAN_PG_PLAN=generic`` has PostgreSQL plan the prepared read once per
connection, as the product's API does (``plan_cache_mode``); by default
(``auto``) it plans it at every run. In every mode but ``libpq`` each
connection has one cursor, made once (making one copies the connection's
adapters), and psycopg prepares the statement on it after its fifth run
(``prepare_threshold``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import psycopg
from psycopg import pq
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_SQL = (
    "SELECT body FROM snapshot_bodies"
    " WHERE client_id = (SELECT id FROM clients WHERE bucket_id = %s)"
    " ORDER BY snapshot_date DESC LIMIT %s"
)
MODES = ("loop", "thread", "async", "async-pool", "libpq")
_MODE = os.environ.get("USAGE_LEAN_PG_MODE", "loop")
_CONNECTIONS = int(os.environ.get("USAGE_LEAN_PG_CONNECTIONS", "4"))
_BINARY = os.environ.get("USAGE_LEAN_PG_TEXT", "") != "1"
_PLAN = os.environ.get("USAGE_LEAN_PG_PLAN", "auto")

Read = Callable[[str, int], Awaitable[list[Any]]]
_read: Read | None = None


def _url() -> str:
    return os.environ["USAGE_LEAN_POSTGRES"]


def _options() -> dict[str, Any]:
    """The connections' settings: ``plan_cache_mode`` as asked."""
    if _PLAN not in ("auto", "generic"):
        raise SystemExit("USAGE_LEAN_PG_PLAN must be auto or generic")
    if _PLAN == "generic":
        return {"options": "-c plan_cache_mode=force_generic_plan"}
    return {}


def _in_loop() -> Read:
    cursor = psycopg.connect(_url(), autocommit=True, **_options()).cursor(binary=_BINARY)

    async def read(bucket_id: str, limit: int) -> list[Any]:
        return cursor.execute(_SQL, (bucket_id, limit)).fetchall()

    return read


def _in_loop_libpq() -> Read:
    pgconn = psycopg.connect(_url(), autocommit=True, **_options()).pgconn
    sql = _SQL.replace("%s", "$1", 1).replace("%s", "$2", 1).encode()
    prepared = pgconn.prepare(b"lean_history", sql, None)
    if prepared.status != pq.ExecStatus.COMMAND_OK:
        raise SystemExit(prepared.get_error_message())
    result_format = 1 if _BINARY else 0

    async def read(bucket_id: str, limit: int) -> list[Any]:
        params = [bucket_id.encode(), b"%d" % limit]
        result = pgconn.exec_prepared(b"lean_history", params, None, result_format)
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise RuntimeError(result.get_error_message())
        value = result.get_value
        return [(value(row, 0),) for row in range(result.ntuples)]

    return read


def _in_threads() -> Read:
    idle: queue.SimpleQueue[psycopg.Cursor[Any]] = queue.SimpleQueue()
    for _ in range(_CONNECTIONS):
        idle.put(psycopg.connect(_url(), autocommit=True, **_options()).cursor(binary=_BINARY))
    threads = anyio.CapacityLimiter(_CONNECTIONS)  # a thread never waits for a connection

    def read_sync(bucket_id: str, limit: int) -> list[Any]:
        cursor = idle.get()
        try:
            return cursor.execute(_SQL, (bucket_id, limit)).fetchall()
        finally:
            idle.put(cursor)

    async def read(bucket_id: str, limit: int) -> list[Any]:
        return await anyio.to_thread.run_sync(read_sync, bucket_id, limit, limiter=threads)

    return read


async def _async_one() -> Read:
    connection = await psycopg.AsyncConnection.connect(_url(), autocommit=True, **_options())
    cursor = connection.cursor(binary=_BINARY)
    lock = asyncio.Lock()  # one statement at a time on the cursor

    async def read(bucket_id: str, limit: int) -> list[Any]:
        async with lock:
            await cursor.execute(_SQL, (bucket_id, limit))
            return await cursor.fetchall()

    return read


async def _async_pool() -> Read:
    idle: asyncio.Queue[psycopg.AsyncCursor[Any]] = asyncio.Queue()
    for _ in range(_CONNECTIONS):
        connection = await psycopg.AsyncConnection.connect(_url(), autocommit=True, **_options())
        idle.put_nowait(connection.cursor(binary=_BINARY))

    async def read(bucket_id: str, limit: int) -> list[Any]:
        cursor = await idle.get()
        try:
            await cursor.execute(_SQL, (bucket_id, limit))
            return await cursor.fetchall()
        finally:
            idle.put_nowait(cursor)

    return read


@contextlib.asynccontextmanager
async def _connected(_app: Starlette) -> AsyncIterator[None]:
    """Each worker connects before it serves (uvicorn runs this per worker)."""
    global _read
    if _MODE == "loop":
        _read = _in_loop()
    elif _MODE == "libpq":
        _read = _in_loop_libpq()
    elif _MODE == "thread":
        _read = _in_threads()
    elif _MODE == "async":
        _read = await _async_one()
    elif _MODE == "async-pool":
        _read = await _async_pool()
    else:
        raise SystemExit(f"USAGE_LEAN_PG_MODE must be one of {', '.join(MODES)}")
    yield


async def history(request: Request) -> Response:
    bucket_id = request.path_params["bucket_id"]
    limit = int(request.query_params.get("limit", "30"))
    assert _read is not None
    bodies = [row[0] for row in await _read(bucket_id, limit)]
    head = b'{"bucket_id":"' + bucket_id.encode() + b'",'
    items = (b"}," + head).join(bodies)
    body = b'{"snapshots":[%s%s}],"count":%d}' % (head, items, len(bodies))
    return Response(body, media_type="application/json")


async def health(_request: Request) -> Response:
    return Response(b"ok")  # where bench.http waits for a server to be up


app = Starlette(
    routes=[
        Route("/api/v1/clients/{bucket_id}/history", history),
        Route("/_stcore/health", health),
    ],
    lifespan=_connected,
)
