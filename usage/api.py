"""The Usage API v1: Starlette routes over the domain, and the one JSON shape.

The only module of ``usage`` that knows HTTP. Handlers parse with
``usage.validation``, call the domain with a session they own, and return
JSON; every error becomes ``{"error": ..., "request_id": ...}``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import orjson
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from usage.clients import fetch_client, fetch_clients_page
from usage.collect.trigger import run_trigger
from usage.daily import fetch_day
from usage.errors import DatabaseUnavailable, NotFound, RateLimited, UsageError
from usage.history import client_not_found, fetch_history
from usage.keys import KeyInfo, authenticate
from usage.openapi import build_openapi
from usage.validation import (
    check_known_params,
    parse_bucket_id,
    parse_clients_params,
    parse_day_params,
    parse_history_params,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api"
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_PATTERN = re.compile(rb"[A-Za-z0-9._-]{1,128}")
_JSON = "application/json"

EngineFactory = Callable[[], Engine]
EndpointAsync = Callable[[Request], Awaitable[Response]]


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=_JSON, headers=headers)


def error_body(message: str, request_id: str, **extra: Any) -> bytes:
    return orjson.dumps({"error": message, "request_id": request_id, **extra})


def _request_id(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


def error_response(request: Request, error: UsageError) -> Response:
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(error, RateLimited):
        extra["retry_after"] = error.retry_after
        headers["Retry-After"] = str(error.retry_after)
    return Response(
        error_body(error.message, _request_id(request.scope), **extra),
        status_code=error.status,
        media_type=_JSON,
        headers=headers,
    )


class ApiEnvelope:
    """Around the whole server: every response under ``/api/`` gets an
    ``X-Request-ID`` and is JSON, even one made before any route ran (a
    path refused by the server's own checks) or by an unexpected error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_api_path(scope):
            await self.app(scope, receive, send)
            return
        request_id = _pick_request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = False
        rewrite: int | None = None
        allow: bytes | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal started, rewrite, allow
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"x-request-id"
                ]
                content_type = dict(headers).get(b"content-type", b"")
                if not content_type.startswith(_JSON.encode()):
                    rewrite = message["status"]
                    allow = dict(headers).get(b"allow")
                    return
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and rewrite is not None:
                if message.get("more_body", False):
                    return
                await _send_json_error(send, rewrite, request_id, allow)
                return
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            log.exception("unexpected error on %s", scope.get("path"))
            if not started:
                await _send_json_error(send, 500, request_id)


def _is_api_path(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    raw: bytes = scope.get("raw_path") or b""
    return path == API_PREFIX or path.startswith(API_PREFIX + "/") or raw.startswith(b"/api/")


def _pick_request_id(scope: Scope) -> str:
    value: bytes
    for name, value in scope.get("headers", []):
        if name == b"x-request-id" and _REQUEST_ID_PATTERN.fullmatch(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


_STATUS_MESSAGES = {
    400: "bad request: the path or the request is malformed",
    404: "not found",
    405: "method not allowed",
    500: "internal error: the server failed; quote the request_id when reporting it",
}


async def _send_json_error(
    send: Send, status: int, request_id: str, allow: bytes | None = None
) -> None:
    body = error_body(_STATUS_MESSAGES.get(status, f"HTTP error {status}"), request_id)
    headers = [
        (b"content-type", _JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    if allow:
        headers.append((b"allow", allow))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# How long a server process trusts a key it has checked: a revoked key keeps
# working on a process that checked it for at most this long.
KEY_CACHE_SECONDS = 5.0
# Threads per server process that run the endpoints' PostgreSQL work: a few,
# to overlap round trips; the rest is Python under the GIL, where a crowd of
# threads only takes turns. At most the engine pool's size, so that no
# request opens a connection of its own.
DB_THREADS = 4


class _RecentKeys:
    """The keys this process accepted in the last ``KEY_CACHE_SECONDS``, by
    the SHA-256 of the whole key, so that a burst of requests costs one key
    lookup. Only accepted keys are kept: a new key works at once."""

    _MAX_KEYS = 1024

    def __init__(self) -> None:
        self._accepted: dict[bytes, tuple[float, KeyInfo]] = {}

    def get(self, raw_key: str | None) -> KeyInfo | None:
        if not raw_key:
            return None
        found = self._accepted.get(hashlib.sha256(raw_key.encode()).digest())
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, raw_key: str | None, key: KeyInfo) -> None:
        if not raw_key:
            return
        if len(self._accepted) >= self._MAX_KEYS:
            self._accepted.clear()
        fingerprint = hashlib.sha256(raw_key.encode()).digest()
        self._accepted[fingerprint] = (time.monotonic() + KEY_CACHE_SECONDS, key)


class UsageApi:
    """The endpoints, bound to a way of getting the engine (made lazily by
    the caller, so that importing this module opens nothing)."""

    def __init__(self, get_engine: EngineFactory) -> None:
        self._get_engine = get_engine
        self._openapi = orjson.dumps(build_openapi())
        self._recent_keys = _RecentKeys()
        self._db_threads: anyio.CapacityLimiter | None = None
        self._db_is_local = False  # SQLite, once the engine exists

    def _in_db_thread(self, endpoint: Callable[[Request], Response]) -> EndpointAsync:
        """``endpoint`` run in one of ``DB_THREADS`` threads, or on SQLite in
        the event loop itself.

        sqlite3 gives the GIL up around every row it steps through: with
        another thread waiting for the GIL, each of those is a hand-over (a
        futex call and often a context switch), which cost SQLite requests a
        third of their throughput at 16 connections. SQLite reads never wait
        on the network, nor on writers (WAL). The first request runs in a
        thread, as making the engine may take a while (the embedded default
        loads the demo)."""

        async def run(request: Request) -> Response:
            if self._db_is_local:
                return endpoint(request)
            if self._db_threads is None:  # made inside the server's event loop
                self._db_threads = anyio.CapacityLimiter(DB_THREADS)
            return await anyio.to_thread.run_sync(endpoint, request, limiter=self._db_threads)

        return run

    def _run(self, request: Request, work: Callable[[Session, KeyInfo], Any]) -> Response:
        try:
            engine = self._get_engine()
            self._db_is_local = engine.dialect.name == "sqlite"
            with Session(engine) as session:
                raw_key = request.headers.get("x-api-key")
                key = self._recent_keys.get(raw_key)
                if key is None:
                    key = authenticate(session, raw_key)
                    self._recent_keys.put(raw_key, key)
                return json_response(work(session, key))
        except UsageError as error:
            return error_response(request, error)
        except (OperationalError, PoolTimeout) as exc:
            log.warning("database unavailable: %s", str(exc).splitlines()[0])
            return error_response(
                request, DatabaseUnavailable("database unavailable; try again shortly")
            )
        except DBAPIError as exc:
            if exc.connection_invalidated:
                return error_response(
                    request, DatabaseUnavailable("database unavailable; try again shortly")
                )
            raise

    def history(self, request: Request) -> Response:
        def work(session: Session, key: KeyInfo) -> Any:
            params = parse_history_params(request.path_params["bucket_id"], request.query_params)
            if not key.may_read(params.bucket_id):
                raise client_not_found(params.bucket_id)
            snapshots = fetch_history(session, params)
            return {"snapshots": snapshots, "count": len(snapshots)}

        return self._run(request, work)

    def clients(self, request: Request) -> Response:
        def work(session: Session, key: KeyInfo) -> Any:
            return fetch_clients_page(
                session, parse_clients_params(request.query_params), key.visible
            )

        return self._run(request, work)

    def client(self, request: Request) -> Response:
        def work(session: Session, key: KeyInfo) -> Any:
            check_known_params(request.query_params, set())
            bucket_id = parse_bucket_id(request.path_params["bucket_id"])
            if not key.may_read(bucket_id):
                raise client_not_found(bucket_id)
            return fetch_client(session, bucket_id)

        return self._run(request, work)

    def snapshots(self, request: Request) -> Response:
        def work(session: Session, key: KeyInfo) -> Any:
            params = parse_day_params(request.path_params["date"], request.query_params)
            return fetch_day(session, params, key.visible)

        return self._run(request, work)

    async def trigger(self, request: Request) -> Response:
        body = await request.body()

        def work(session: Session, key: KeyInfo) -> Any:
            check_known_params(request.query_params, set())
            session.close()  # hand the connection back before a long run
            return run_trigger(self._get_engine(), body, is_admin=key.is_admin)

        return await run_in_threadpool(self._run, request, work)

    async def openapi(self, request: Request) -> Response:
        return Response(self._openapi, media_type=_JSON)

    async def not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        await error_response(request, NotFound(f"no such path: {scope['path']}"))(
            scope, receive, send
        )

    def router(self) -> Router:
        get = ["GET"]
        routes = [
            Route("/v1/openapi.json", self.openapi, methods=get),
            Route("/v1/clients", self._in_db_thread(self.clients), methods=get),
            Route("/v1/clients/{bucket_id}", self._in_db_thread(self.client), methods=get),
            Route("/v1/clients/{bucket_id}/history", self._in_db_thread(self.history), methods=get),
            Route("/v1/snapshots/{date}", self._in_db_thread(self.snapshots), methods=get),
            Route("/v1/collect/trigger", self.trigger, methods=["POST"]),
        ]
        return Router(routes=routes, default=self.not_found)


def api_routes(get_engine: EngineFactory) -> list[Mount]:
    """The routes to hand to ``st.App``: everything under ``/api``."""
    return [Mount(API_PREFIX, app=UsageApi(get_engine).router())]


def api_middleware() -> list[Middleware]:
    return [Middleware(ApiEnvelope)]


def create_api_app(get_engine: EngineFactory) -> Starlette:
    """The API alone, as served inside ``st.App`` (for tests and tools)."""
    return Starlette(routes=api_routes(get_engine), middleware=api_middleware())
