"""A reference server for ``bench.http --reference``: the history endpoint
and nothing else, Starlette over ``sqlite3`` on one connection per worker,
reading the same stored bodies as the product. No key check, no validation
beyond ``int()``, no pool, no error shape: what serving this data over HTTP
costs on this machine, to set the product's figures against.

    USAGE_LEAN_SQLITE=/path/usage-10000.sqlite3 uvicorn bench.lean_server:app --workers 2
"""

from __future__ import annotations

import os
import sqlite3

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_SQL = (
    "SELECT body FROM snapshot_bodies"
    " WHERE client_id = (SELECT id FROM clients WHERE bucket_id = ?)"
    " ORDER BY snapshot_date DESC LIMIT ?"
)
_connection: sqlite3.Connection | None = None


def _database() -> sqlite3.Connection:
    global _connection
    if _connection is None:
        _connection = sqlite3.connect(os.environ["USAGE_LEAN_SQLITE"], check_same_thread=False)
    return _connection


async def history(request: Request) -> Response:
    bucket_id = request.path_params["bucket_id"]
    limit = int(request.query_params.get("limit", "30"))
    bodies = [row[0] for row in _database().execute(_SQL, (bucket_id, limit)).fetchall()]
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
    ]
)
