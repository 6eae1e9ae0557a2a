"""The Usage API v1: an ASGI app over the domain, and the one JSON shape.

The only module of ``usage`` that knows HTTP. Endpoints parse with
``usage.validation``, call the domain with a session they own, and return
JSON; every error becomes ``{"error": ..., "request_id": ...}``.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import anyio
import orjson
import xxhash
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from usage.access import Principal, check_visible
from usage.alert_events import fetch_alerts_page
from usage.clients import fetch_client, fetch_clients_page
from usage.collect.trigger import run_trigger
from usage.daily import fetch_day
from usage.errors import (
    ConfigError,
    DatabaseUnavailable,
    Forbidden,
    RateLimited,
    Unauthorized,
    UsageError,
)
from usage.history import fetch_history_body, fetch_history_page
from usage.keys import authenticate
from usage.openapi import build_index, build_openapi
from usage.outlook import forecast_json, read_client_forecast
from usage.paging import cursor_secret
from usage.portfolio import fetch_portfolio_totals
from usage.series import Granularity
from usage.signin import (
    COOKIE_NAME,
    SIGN_IN_OFF,
    SignInRefused,
    SignInSettings,
    admit,
    identify,
    read_cookie_claims,
)
from usage.table import day_table, history_table, period_table, write_csv
from usage.validation import (
    Format,
    check_identity_encoding,
    check_json_type,
    check_known_params,
    first_repeated,
    parse_alerts_params,
    parse_bucket_id,
    parse_clients_params,
    parse_day_params,
    parse_forecast_params,
    parse_history_params,
    parse_totals_params,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api"
_REQUEST_ID = b"x-request-id"
_REQUEST_ID_PATTERN = re.compile(rb"[A-Za-z0-9._-]{1,128}")
_JSON = b"application/json"
_CSV = b"text/csv; charset=utf-8"
# Every answer to a GET may be kept by the caller, never by a shared cache,
# and must be checked again before each use (If-None-Match: a 304 costs no
# body): the data change whenever a collection, a trigger or an import runs.
CACHE_CONTROL = b"private, max-age=0, must-revalidate"
# Retry-After on a 503: the database is usually back within seconds; a
# setting that is missing or wrong needs an operator.
RETRY_AFTER_UNAVAILABLE = 5
RETRY_AFTER_MISCONFIGURED = 60
# Compression for clients that ask for it: Streamlit's own settings, which
# the API had while it was served behind Streamlit's middleware.
GZIP_MINIMUM_SIZE = 1000
GZIP_LEVEL = 5

EngineFactory = Callable[[], Engine]
SettingsFactory = Callable[[], SignInSettings]
Headers = tuple[tuple[bytes, bytes], ...]
# A request's headers by name, the last of a repeated one: made once per
# request (``dict(scope["headers"])``), never kept in the scope, which is
# shared on (a dict kept there went stale: the dashboard's sign-out broke).
RequestHeaders = dict[bytes, bytes]


@dataclass(slots=True)
class Answer:
    """A whole response: the API never streams. (Plain slots: two are made
    per request, and a frozen dataclass costs several times more to make.)"""

    status: int
    body: bytes
    headers: Headers = ()
    content_type: bytes = _JSON
    next_cursor: str | None = None  # a page's: the Link header's rel="next"


@dataclass(slots=True)
class Call:
    """What an endpoint gets of a request."""

    path_args: tuple[str, ...]
    method: str
    query: dict[str, str]  # the last value of each parameter
    api_key: str | None
    request_id: str
    body: bytes = b""
    in_loop: bool = False  # run in the event loop itself (SQLite)
    cookies: dict[str, str] | None = None  # the session cookie's parts, when sent
    origin: str | None = None  # where a POST says it comes from (Origin, else Referer)
    own_origin: str = ""  # this server as the request reached it: scheme://host
    address: str = ""  # the client's IP address
    accept: str | None = None  # the Accept header
    content_type: str | None = None  # a POST's Content-Type header
    content_encoding: str | None = None  # a POST's Content-Encoding header


def error_body(message: str, request_id: str, **extra: Any) -> bytes:
    return orjson.dumps({"error": message, "request_id": request_id, **extra})


def error_answer(error: UsageError, request_id: str) -> Answer:
    if isinstance(error, RateLimited):
        body = error_body(error.message, request_id, retry_after=error.retry_after)
        return Answer(error.status, body, _retry_after(error.retry_after))
    if error.status == 503:
        wait = (RETRY_AFTER_UNAVAILABLE if isinstance(error, DatabaseUnavailable)
                else RETRY_AFTER_MISCONFIGURED)  # fmt: skip
        return Answer(503, error_body(error.message, request_id), _retry_after(wait))
    return Answer(error.status, error_body(error.message, request_id))


def _retry_after(seconds: int) -> Headers:
    return ((b"retry-after", str(seconds).encode()),)


_MALFORMED = (
    "bad request: the path must not hold a '.' or '..' or empty segment, a backslash, a NUL"
    " or an encoded slash (%2F); no bucket_id or date has one"
)
_INTERNAL = "internal error: the server failed; quote the request_id when reporting it"


def _plain_error(status: int, message: str, request_id: str, headers: Headers = ()) -> Answer:
    return Answer(status, error_body(message, request_id), headers)


# How long a server process trusts a key or a session it has checked: a
# revoked key, or a person removed, reassigned or given another role, keeps
# their old rights on a process that checked them for at most this long.
KEY_CACHE_SECONDS = 5.0
# Threads per server process that run the endpoints' PostgreSQL work while
# the event loop does not (the first request, and after the database failed:
# see ``UsageApi._run``): a few, to overlap round trips. At most the engine
# pool's size, so that no request opens a connection of its own.
DB_THREADS = 4
# A POST's body, at most: the trigger's largest (1,000 bucket ids of 64
# characters) is 70 KB. A larger one is refused unread (413).
MAX_BODY_BYTES = 1024 * 1024
# How long a statement on the connections the API keeps in the event loop
# (PostgreSQL) may run before the server cancels it and the request gets a
# 503: the loop waits for each of its reads, so a read blocked by a lock (a
# migration's ALTER TABLE) would otherwise hold the worker, pages included,
# as long as the lock is held. The API's reads take milliseconds.
API_STATEMENT_TIMEOUT_MS = 5000
# The connection the API keeps for its one-statement reads (PostgreSQL) plans
# each prepared statement once. PostgreSQL's default (``auto``) plans the
# history read again at every execution: its LIMIT is a parameter, so the
# plan made for any limit looks costlier than one made for the limit given,
# and planning (about 120 us) then costs twice the read itself. Every read on
# that connection looks a row up by key, or a client's rows by the primary
# key (client, day), where the plan made once is the plan made each time.
API_PLAN_CACHE_MODE = "force_generic_plan"


class _RecentPrincipals:
    """The keys and session cookies this process accepted in the last
    ``KEY_CACHE_SECONDS``, by the SHA-256 of the credential, so that a burst
    of requests costs one look-up. Only accepted ones are kept: a new key or
    a new sign-in works at once."""

    _MAX_ENTRIES = 1024

    def __init__(self) -> None:
        self._accepted: dict[bytes, tuple[float, Principal]] = {}

    def get(self, credential: str) -> Principal | None:
        found = self._accepted.get(hashlib.sha256(credential.encode()).digest())
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, credential: str, principal: Principal) -> None:
        if len(self._accepted) >= self._MAX_ENTRIES:
            self._accepted.clear()
        fingerprint = hashlib.sha256(credential.encode()).digest()
        self._accepted[fingerprint] = (time.monotonic() + KEY_CACHE_SECONDS, principal)


Endpoint = Callable[[Call], Answer]


class RunsIn(enum.Enum):
    """Where an endpoint runs: the event loop (no database), the database's
    place (see ``UsageApi._run``), or a thread of its own (long work)."""

    LOOP = "loop"
    DATABASE = "database"
    THREAD = "thread"


class UsageApi:
    """The API as one ASGI app: every answer is JSON with an ``X-Request-ID``
    (the client's, when it sent a sound one), errors included.

    It routes by itself (six paths, one regular expression each) and sends
    each answer in two ASGI messages: at the history endpoint's rate, a
    framework's request and response objects cost more than the work. The
    engine comes from ``get_engine``, called on the first request, so that
    importing this module opens nothing."""

    def __init__(
        self, get_engine: EngineFactory, get_settings: SettingsFactory = lambda: SIGN_IN_OFF
    ) -> None:
        self._get_engine = get_engine
        self._get_settings = get_settings
        self._settings: SignInSettings | None = None
        document = build_openapi()
        self._openapi = orjson.dumps(document)
        self._index = orjson.dumps(build_index(document))
        self._recent = _RecentPrincipals()
        self._db_threads: anyio.CapacityLimiter | None = None
        self._db_in_loop = False  # database work runs in the event loop: see _run
        # The connections kept for it (see _in_loop), by whether they run in
        # autocommit (PostgreSQL's one-statement work); SQLite keeps one.
        self._loop_connections: dict[bool, Connection] = {}
        self._disposal_watched: Engine | None = None  # whose dispose() closes them
        self._secret: bytes | None = None  # the cursors' (usage.paging)
        get, post, db = ("GET", "HEAD"), ("POST",), RunsIn.DATABASE
        # Tried in turn (no two match the same path): the busiest first.
        self._routes: list[tuple[re.Pattern[str], tuple[str, ...], Endpoint, RunsIn]] = [
            (re.compile(r"/api/v1/clients/([^/]+)/history"), get, self.history, db),
            (re.compile(r"/api(?:/v1)?/?"), get, self.index, RunsIn.LOOP),
            (re.compile(r"/api/v1/openapi\.json"), get, self.openapi, RunsIn.LOOP),
            (re.compile(r"/api/v1/clients"), get, self.clients, db),
            (re.compile(r"/api/v1/clients/([^/]+)"), get, self.client, db),
            (re.compile(r"/api/v1/clients/([^/]+)/forecast"), get, self.forecast, db),
            (re.compile(r"/api/v1/snapshots/([^/]+)"), get, self.snapshots, db),
            (re.compile(r"/api/v1/alerts"), get, self.alerts, db),
            (re.compile(r"/api/v1/portfolio/totals"), get, self.portfolio_totals, db),
            (re.compile(r"/api/v1/collect/trigger"), post, self.trigger, RunsIn.THREAD),
        ]
        # The same paths in any case, for the 404's hint (``_no_such_path``).
        self._any_case = [re.compile(route[0].pattern, re.IGNORECASE) for route in self._routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        request_id = _pick_request_id(headers)
        try:
            answer = await self._answer(scope, headers, receive, request_id)
        except Exception:
            log.exception("unexpected error on %s", scope.get("path"))
            answer = _plain_error(500, _INTERNAL, request_id)
        if answer.status == 304:  # no body: the caller's copy is current
            sent = [(_REQUEST_ID, request_id.encode()), *answer.headers]
        else:
            sent = [
                (b"content-type", answer.content_type),
                (b"content-length", str(len(answer.body)).encode()),
                (_REQUEST_ID, request_id.encode()),
                *answer.headers,
            ]
        await send({"type": "http.response.start", "status": answer.status, "headers": sent})
        body = b"" if scope["method"] == "HEAD" else answer.body
        await send({"type": "http.response.body", "body": body})

    async def _answer(
        self, scope: Scope, headers: RequestHeaders, receive: Receive, request_id: str
    ) -> Answer:
        path: str = scope["path"]
        if _is_malformed(path, scope.get("raw_path") or b""):
            return _plain_error(400, _MALFORMED, request_id)
        query, repeated = _parse_query(scope["query_string"])
        if repeated is not None:  # which value was meant? Not guessed
            message = f"query parameter {repeated!r} is given more than once; give it once"
            return _plain_error(400, message, request_id)
        for pattern, methods, endpoint, runs_in in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if scope["method"] not in methods:
                allow = ((b"allow", ", ".join(methods).encode()),)
                return _plain_error(405, "method not allowed", request_id, allow)
            in_loop = runs_in is RunsIn.LOOP or (runs_in is RunsIn.DATABASE and self._db_in_loop)
            api_key = _text(headers, b"x-api-key")
            cookie_header = None if api_key else _text(headers, b"cookie")
            post = scope["method"] == "POST"  # only a POST reads its body and origin
            body = await _read_body(receive, MAX_BODY_BYTES) if post else b""
            if body is None:
                message = f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB"
                return _plain_error(413, message, request_id)
            call = Call(
                path_args=match.groups(),
                method=scope["method"],
                query=query,
                api_key=api_key,
                request_id=request_id,
                body=body,
                in_loop=in_loop,
                cookies=_session_cookies(cookie_header) if cookie_header else None,
                origin=_request_origin(headers) if post else None,
                own_origin=_own_origin(scope, headers) if post else "",
                address=_client_address(scope),
                accept=_text(headers, b"accept"),
                content_type=_text(headers, b"content-type") if post else None,
                content_encoding=_text(headers, b"content-encoding") if post else None,
            )
            if in_loop:
                answer = endpoint(call)
            elif runs_in is RunsIn.THREAD:
                answer = await run_in_threadpool(endpoint, call)
            else:
                if self._db_threads is None:  # made inside the server's event loop
                    self._db_threads = anyio.CapacityLimiter(DB_THREADS)
                answer = await anyio.to_thread.run_sync(endpoint, call, limiter=self._db_threads)
            if answer.status == 200 and not post:
                return _validated(scope, headers, call, answer)
            return answer
        return _plain_error(404, self._no_such_path(path), request_id)

    def _no_such_path(self, path: str) -> str:
        """The 404's message; a path that only its case keeps from an
        endpoint (``/API/v1/clients/Acme-1/History``) is told the endpoint's
        path: its own words in lower case, its ids as sent (a bucket id
        keeps its case)."""
        for pattern in self._any_case:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            parts, done = [], 0
            for start, end in match.regs[1:]:  # each id, as sent
                if start >= 0:
                    parts += [path[done:start].lower(), path[start:end]]
                    done = end
            meant = "".join([*parts, path[done:].lower()])
            return f"no such path: {path}; did you mean {meant}? (the API's paths are lower case)"
        return f"no such path: {path}"

    def _run(
        self,
        call: Call,
        work: Callable[[Connection, Principal], bytes | Answer],
        one_statement: bool = False,
    ) -> Answer:
        """``work``'s answer (or JSON) with a connection and the caller's
        key, or the error.

        ``one_statement``: ``work`` reads with one statement, consistent by
        itself, so on PostgreSQL the connection runs in autocommit: no
        ``BEGIN`` and ``ROLLBACK`` round trips (a third of a small history
        request's time). Work of several statements keeps the engine's
        REPEATABLE READ transaction, so that it reads one state of the store.

        Database endpoints run in the event loop itself, one request at a
        time on a connection kept from request to request (``_in_loop``),
        once a first request has made the engine in a thread (the embedded
        default may load the demo). In a thread each would pay a hand-over
        to it and back, which costs more than a small request's own work:
        sqlite3 gives the GIL up around every row it steps through, and with
        other threads waiting each of those is a hand-over (a third of the
        throughput at 16 connections); on PostgreSQL the threads, the pool's
        check-out (with its ping, one more round trip) and the isolation
        level set and reset cost twice the work of a history page (the
        measurements: docs/benchmarks.md). SQLite reads never wait on the
        network, nor on writers (WAL); a PostgreSQL read waits for its round
        trip, which the lean reference server waits for in the same way.
        After PostgreSQL failed, requests go back to ``DB_THREADS`` threads
        until one of them reaches it again: connecting to a database that
        does not answer may take ``connect_timeout`` seconds, which the
        loop must not wait."""
        try:
            engine = self._get_engine()
            if call.in_loop:
                done = self._in_loop(engine, call, work, one_statement)
            else:
                with engine.connect() as connection:
                    self._db_in_loop = True  # it answered: the next requests run in the loop
                    if one_statement and engine.dialect.name != "sqlite":
                        connection.execution_options(isolation_level="AUTOCOMMIT")
                    done = work(connection, self._principal(connection, call))
            return done if isinstance(done, Answer) else Answer(200, done)
        except UsageError as error:
            return error_answer(error, call.request_id)
        except ConfigError as exc:  # the database's settings or schema, or sign-in's
            log.error("server settings: %s", exc)
            message = f"the server's settings are wrong: {exc}"
            wait = _retry_after(RETRY_AFTER_MISCONFIGURED)
            return _plain_error(503, message, call.request_id, wait)
        except (OperationalError, PoolTimeout) as exc:
            if getattr(getattr(exc, "orig", None), "sqlstate", None) == _QUERY_CANCELED:
                log.warning("statement cancelled after %d ms: %s", API_STATEMENT_TIMEOUT_MS,
                            str(exc).splitlines()[0])  # fmt: skip
                return error_answer(_busy(), call.request_id)
            log.warning("database unavailable: %s", str(exc).splitlines()[0])
            return error_answer(_UNAVAILABLE, call.request_id)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                return error_answer(_UNAVAILABLE, call.request_id)
            raise

    def _in_loop(
        self,
        engine: Engine,
        call: Call,
        work: Callable[[Connection, Principal], bytes | Answer],
        one_statement: bool,
    ) -> bytes | Answer:
        """``work`` in the event loop on a connection kept from request to
        request: the loop runs one request at a time, and taking a
        connection from the pool and giving it back cost a tenth of a small
        request (on PostgreSQL more: the check-out pings). It is kept
        outside any transaction (a session bound to it rolls its own back).
        On PostgreSQL ``one_statement`` work has a connection of its own in
        autocommit, the rest one in the engine's REPEATABLE READ, so that
        neither changes mode from request to request; the first plans each
        statement once (``API_PLAN_CACHE_MODE``). After any error but
        the request's own every kept connection is dropped (and on
        PostgreSQL the next requests go to threads: see ``_run``)."""
        autocommit = one_statement and engine.dialect.name != "sqlite"
        connection = self._loop_connections.get(autocommit)
        if connection is not None and connection.closed:  # closed by the work that used it
            connection = None
        try:
            if connection is None:
                connection = self._loop_connections[autocommit] = engine.connect()
                if autocommit:
                    connection.execution_options(isolation_level="AUTOCOMMIT")
                if engine.dialect.name == "postgresql":  # for this connection's life
                    connection.exec_driver_sql(
                        f"SET statement_timeout = {int(API_STATEMENT_TIMEOUT_MS)}"
                    )
                    if autocommit:
                        connection.exec_driver_sql(f"SET plan_cache_mode = {API_PLAN_CACHE_MODE}")
                    connection.commit()
                if self._disposal_watched is not engine:
                    drop = functools.partial(_drop_kept, self._loop_connections)
                    event.listen(engine, "engine_disposed", drop)
                    self._disposal_watched = engine
            try:
                return work(connection, self._principal(connection, call))
            finally:
                if connection.in_transaction():
                    connection.rollback()
        except UsageError:  # the request's own error: the connection is sound
            raise
        except BaseException:
            self._db_in_loop = engine.dialect.name == "sqlite"
            # The failing one is among them: never back to the pool, timeout set.
            _drop_kept(self._loop_connections, engine)
            raise

    def _principal(self, connection: Connection, call: Call) -> Principal:
        """Who calls: the ``X-API-Key``'s principal, else the signed-in
        person of the session cookie; ``Unauthorized`` when neither is
        valid (the same-origin rule of a cookie POST is the trigger's)."""
        if call.api_key:
            credential = "key " + call.api_key
        elif call.cookies and self._sign_in().enabled:
            if call.method == "POST":  # refused before anything is read or written
                _check_same_origin(call, self._sign_in())
            credential = "session " + " ".join(sorted(call.cookies.values()))
        else:
            raise Unauthorized(
                "missing credentials: send an API key in the X-API-Key header, or sign in"
                " to the dashboard in this browser"
                if self._sign_in().enabled
                else "missing API key: send it in the X-API-Key header"
            )
        principal = self._recent.get(credential)
        if principal is None:
            if call.api_key:
                with Session(bind=connection) as session:
                    principal = authenticate(session, call.api_key)
            else:
                # A transaction of its own: a person admitted by their domain
                # is stored with its audit event, all or nothing, whatever
                # mode the request's connection is in (autocommit on PostgreSQL).
                with Session(self._get_engine()) as session, session.begin():
                    principal = self._session_principal(session, call)
            self._recent.put(credential, principal)
        return principal

    def _sign_in(self) -> SignInSettings:
        if self._settings is None:
            self._settings = self._get_settings()
        return self._settings

    def _session_principal(self, session: Session, call: Call) -> Principal:
        settings = self._sign_in()
        assert call.cookies is not None
        claims = read_cookie_claims(call.cookies, settings)
        identity = identify(claims, settings, dt.datetime.now(dt.UTC))
        principal = admit(session, identity, claims, settings, call.address)
        if principal is None:
            raise SignInRefused(f"{identity} may not use this dashboard: ask an admin to add you")
        return principal

    def _run_session(self, call: Call, work: Callable[[Session, Principal], Any]) -> Answer:
        """``_run`` for the endpoints whose domain functions take a session:
        ``work`` gives an ``Answer``, or data to send as JSON."""

        def in_session(connection: Connection, key: Principal) -> bytes | Answer:
            with Session(bind=connection) as session:
                done = work(session, key)
                return done if isinstance(done, Answer) else orjson.dumps(done)

        return self._run(call, in_session)

    def _cursor_secret(self, connection: Connection) -> bytes:
        """The database's cursor secret, read once: it never changes."""
        if self._secret is None:
            self._secret = cursor_secret(connection)
        return self._secret

    def history(self, call: Call) -> Answer:
        def work(connection: Connection, key: Principal) -> Answer:
            params = parse_history_params(call.path_args[0], call.query)
            check_visible(key.visible, params.bucket_id)
            secret = self._cursor_secret(connection)
            as_csv = _negotiated(params.format_, call.accept) is Format.CSV
            if params.granularity is Granularity.DAY and not as_csv:  # the hot path
                found = fetch_history_body(connection, params, secret)
                return Answer(200, found.body, _VARY_ACCEPT, next_cursor=found.next_cursor)
            page = fetch_history_page(connection, params, secret, dt.datetime.now(dt.UTC).date())
            if not as_csv:
                return Answer(200, page.json(), _VARY_ACCEPT, next_cursor=page.next_cursor)
            table = history_table(page.snapshots) if page.periods is None else period_table(
                page.periods)  # fmt: skip
            return _csv_answer(write_csv(table), page.next_cursor)

        return self._run(call, work, one_statement=True)

    def clients(self, call: Call) -> Answer:
        def work(session: Session, key: Principal) -> Answer:
            page = fetch_clients_page(session, parse_clients_params(call.query), key.visible)
            return Answer(200, orjson.dumps(page), next_cursor=page["cursor"])

        return self._run_session(call, work)

    def client(self, call: Call) -> Answer:
        def work(session: Session, key: Principal) -> Any:
            check_known_params(call.query, set())
            bucket_id = parse_bucket_id(call.path_args[0])
            check_visible(key.visible, bucket_id)
            return fetch_client(session, bucket_id)

        return self._run_session(call, work)

    def forecast(self, call: Call) -> Answer:
        def work(session: Session, key: Principal) -> Any:
            bucket_id = parse_forecast_params(call.path_args[0], call.query)
            return forecast_json(read_client_forecast(session, bucket_id, visible=key.visible))

        return self._run_session(call, work)

    def snapshots(self, call: Call) -> Answer:
        def work(session: Session, key: Principal) -> Answer:
            params = parse_day_params(call.path_args[0], call.query)
            page = fetch_day(session, params, key.visible)
            if _negotiated(params.format_, call.accept) is Format.CSV:
                return _csv_answer(write_csv(day_table(page["snapshots"])), page["cursor"])
            return Answer(200, orjson.dumps(page), _VARY_ACCEPT, next_cursor=page["cursor"])

        return self._run_session(call, work)

    def alerts(self, call: Call) -> Answer:
        def work(session: Session, key: Principal) -> Answer:
            page = fetch_alerts_page(session, parse_alerts_params(call.query), key.visible)
            return Answer(200, orjson.dumps(page), next_cursor=page["next_cursor"])

        return self._run_session(call, work)

    def portfolio_totals(self, call: Call) -> Answer:
        def work(session: Session, key: Principal) -> Answer:
            params = parse_totals_params(call.query)
            return Answer(200, orjson.dumps(fetch_portfolio_totals(session, params, key.visible)))

        return self._run_session(call, work)

    def trigger(self, call: Call) -> Answer:
        def work(connection: Connection, key: Principal) -> bytes:
            check_known_params(call.query, set())
            check_identity_encoding(call.content_encoding)
            if call.body.strip():
                check_json_type(call.content_type)
            connection.close()  # hand the connection back before a long run
            result = run_trigger(self._get_engine(), call.body, principal=key, address=call.address)
            return orjson.dumps(result)

        return self._run(call, work)

    def openapi(self, call: Call) -> Answer:
        return _without_params(call) or Answer(200, self._openapi)

    def index(self, call: Call) -> Answer:
        return _without_params(call) or Answer(200, self._index)


def _without_params(call: Call) -> Answer | None:
    """The 400 of a query parameter sent to an endpoint that takes none."""
    try:
        check_known_params(call.query, set())
    except UsageError as error:
        return error_answer(error, call.request_id)
    return None


_UNAVAILABLE = DatabaseUnavailable("database unavailable; try again shortly")


def _busy() -> DatabaseUnavailable:
    return DatabaseUnavailable(
        f"database busy: the read took longer than {API_STATEMENT_TIMEOUT_MS / 1000:g} s and"
        " was cancelled (a lock held by maintenance?); try again shortly"
    )


_QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled by its timeout


def _drop_kept(kept: dict[bool, Connection], _engine: Engine) -> None:
    """Close the connections ``UsageApi._in_loop`` keeps, when their engine
    is disposed (as ``dispose()`` closes those in its pool: a kept one
    would otherwise stay open until collected, and psycopg warns then) or
    after an error. Closed for good, never handed back to the pool: they
    carry the API's statement timeout and plan cache mode."""
    for connection in kept.values():
        connection.invalidate()  # closes the driver's connection now
        connection.close()
    kept.clear()


# The endpoints that answer CSV too: a cache keeps each format apart.
_VARY_ACCEPT: Headers = ((b"vary", b"Accept"),)


def _csv_answer(text: str, next_cursor: str | None) -> Answer:
    return Answer(200, text.encode(), _VARY_ACCEPT, _CSV, next_cursor)


def _negotiated(chosen: Format | None, accept: str | None) -> Format:
    """``format`` when given, else what ``Accept`` prefers: CSV when it
    rates ``text/csv`` above ``application/json``, JSON otherwise (a tie,
    ``*/*``, no header, or only types the API does not make)."""
    if chosen is not None:
        return chosen
    if accept is None or "text/" not in accept:  # neither text/csv nor text/*
        return Format.JSON
    csv_rating = _quality(accept, "text/csv")
    return Format.CSV if csv_rating > _quality(accept, "application/json") else Format.JSON


def _quality(accept: str, media_type: str) -> float:
    """The q-value ``accept`` gives ``media_type``, by its most specific
    matching range (RFC 9110, 12.5.1); 0 when none matches."""
    ranges = {media_type: 2, media_type.split("/")[0] + "/*": 1, "*/*": 0}
    specificity, quality = -1, 0.0
    for part in accept.split(","):
        name, *options = (piece.strip() for piece in part.split(";"))
        rank = ranges.get(name.lower(), -1)
        if rank <= specificity:
            continue
        specificity, quality = rank, 1.0
        for option in options:
            key, _, value = option.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
    return quality


def _validated(scope: Scope, headers: RequestHeaders, call: Call, answer: Answer) -> Answer:
    """A GET's 200 with its strong ``ETag`` (a 128-bit hash of the bytes
    sent: it changes whenever any byte would), ``Cache-Control`` and the
    next page's ``Link``; a 304 without a body when ``If-None-Match`` names
    that tag. Only an answer the caller may see gets here: a client it may
    not see was a 404 before anything was read."""
    tag = b'"' + xxhash.xxh3_128_hexdigest(answer.body).encode()
    # A gzipped body is other bytes: its tag is another (RFC 9110, 8.8.3).
    gzip = headers.get(b"accept-encoding")
    if call.method == "GET" and len(answer.body) >= GZIP_MINIMUM_SIZE and gzip and b"gzip" in gzip:
        tag += b'-gzip"'
    else:
        tag += b'"'
    if answer.next_cursor is None:
        answer.headers = ((b"etag", tag), (b"cache-control", CACHE_CONTROL), *answer.headers)
    else:
        link = _next_link(scope, headers.get(b"host"), call, answer.next_cursor)
        answer.headers = ((b"etag", tag), (b"cache-control", CACHE_CONTROL), *answer.headers,
                          (b"link", link))  # fmt: skip
    wanted = headers.get(b"if-none-match")
    if wanted is not None and _names_tag(wanted, tag):
        answer.status, answer.body = 304, b""
    return answer


def _names_tag(if_none_match: bytes, tag: bytes) -> bool:
    """``If-None-Match`` lists ``tag`` (the weak comparison RFC 9110 asks
    for here: ``W/`` is ignored), or is ``*``."""
    for listed in if_none_match.split(b","):
        listed = listed.strip()
        if listed == b"*" or listed.removeprefix(b"W/") == tag:
            return True
    return False


def _next_link(scope: Scope, host: bytes | None, call: Call, cursor: str) -> bytes:
    """``Link: <URL>; rel="next"`` (RFC 8288): this request's URL with the
    next page's cursor (URL-safe as it is), absolute when the request named
    its host."""
    query: bytes = scope["query_string"]
    if "cursor" in call.query:  # a later page: the other parameters, then the new cursor
        kept = [(name, value) for name, value in call.query.items() if name != "cursor"]
        query = urlencode(kept).encode()
    query = query + b"&cursor=" if query else b"cursor="
    origin = b"%s://%s" % (scope.get("scheme", "http").encode(), host) if host else b""
    return b'<%s%s?%s%s>; rel="next"' % (origin, scope["path"].encode(), query, cursor.encode())


def _accepts_gzip(scope: Scope) -> bool:
    """For the gzip layer, outside the API: one look through the headers."""
    accepted: bytes | None = None
    for name, value in scope["headers"]:
        if name == b"accept-encoding":
            accepted = value  # the last, when repeated
    return accepted is not None and b"gzip" in accepted


def _is_malformed(path: str, raw_path: bytes) -> bool:
    """A path no route could mean: a ``.`` or ``..`` or empty segment, a
    backslash or a NUL (what Streamlit's path check refuses elsewhere), or
    a slash sent encoded (``%2F``: no bucket id or date holds one, and the
    decoded path would read it as a separator)."""
    if "\\" in path or "\x00" in path or "//" in path or b"%2f" in raw_path.lower():
        return True
    return "/." in path and any(part in (".", "..") for part in path.split("/"))


def _check_same_origin(call: Call, settings: SignInSettings) -> None:
    """A POST carried by a browser's session cookie must say it comes from
    this dashboard (``Origin``, or ``Referer`` when a browser sends no
    ``Origin``): a form on another site cannot trigger anything."""
    if call.origin is None or call.origin not in (settings.origin, call.own_origin):
        raise Forbidden(
            "a POST signed in by the session cookie must come from this dashboard's own"
            " origin (its Origin header); scripts should send an X-API-Key instead"
        )


_CHUNK_PREFIX = COOKIE_NAME + "_"


def _is_chunk_name(name: str) -> bool:
    return name.startswith(_CHUNK_PREFIX) and name[len(_CHUNK_PREFIX) :].isdigit()


def _session_cookies(header: str) -> dict[str, str] | None:
    """The parts of the session cookie (it may be split in chunks)."""
    cookies = cookie_parser(header)
    parts = {
        name: value
        for name, value in cookies.items()
        if name == COOKIE_NAME or _is_chunk_name(name)
    }
    return parts or None


def _request_origin(headers: RequestHeaders) -> str | None:
    origin = _text(headers, b"origin")
    if origin and origin != "null":
        return origin.rstrip("/")
    referer = _text(headers, b"referer")
    if referer:
        parts = urlsplit(referer)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None


def _own_origin(scope: Scope, headers: RequestHeaders) -> str:
    host = _text(headers, b"host") or ""
    return f"{scope.get('scheme', 'http')}://{host}"


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _pick_request_id(headers: RequestHeaders) -> str:
    value = headers.get(_REQUEST_ID)
    if value is not None and _REQUEST_ID_PATTERN.fullmatch(value):
        return value.decode("ascii")
    return os.urandom(16).hex()  # random, as a uuid4's hex: a fifth of its cost


def _parse_query(raw: bytes) -> tuple[dict[str, str], str | None]:
    """The query string's parameters, and the first one given more than
    once (None: none was); the common plain case without parse_qsl."""
    if not raw:
        return {}, None
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        pairs = parse_qsl(text, keep_blank_values=True)
    else:
        # As parse_qsl: an empty segment ("a=1&&b=2") is no parameter, but
        # "=5" is one without a name (refused as unknown).
        split = (part.partition("=") for part in text.split("&") if part)
        pairs = [(name, value) for name, _, value in split]
    query = dict(pairs)
    if len(query) == len(pairs):
        return query, None
    # Parameters without a name ("=1&=2") are refused for that, when checked.
    return query, first_repeated(name for name, _ in pairs if name)


def _text(headers: RequestHeaders, name: bytes) -> str | None:
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request's body; None, and the rest left unread, past ``limit`` bytes."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class ApiLane:
    """Outermost on the server, around the ``st.App`` (and the lane of its
    front-end files, ``usage.static_assets``): every HTTP request under
    ``/api`` goes straight to the API, past the Streamlit app's Starlette
    stack and its middleware (path checks, session cookie, gzip), which
    would otherwise cost more than the API's work; the rest, and the
    lifespan, go on to the app."""

    def __init__(self, app: ASGIApp, api: ASGIApp) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_api_path(scope):
            await self.api(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _is_api_path(scope: Scope) -> bool:
    """Under ``/api``, in any case: ``/API/v1/...`` gets the API's JSON 404
    (naming the path it meant), not the dashboard's page. The API's own
    requests match as they are, before any case is folded."""
    path: str = scope["path"]
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return True
    head = path[: len(API_PREFIX) + 1].lower()
    if head in (API_PREFIX, API_PREFIX + "/"):
        return True
    raw: bytes = scope.get("raw_path") or b""
    return raw[: len(API_PREFIX) + 1].lower() == b"/api/"


class _GzipWhenAsked:
    """Compresses answers for clients that accept gzip; the others skip the
    gzip layer altogether (it costs a third of a small request even when it
    compresses nothing)."""

    def __init__(self, app: ASGIApp) -> None:
        self._plain = app
        self._gzip = GZipMiddleware(app, minimum_size=GZIP_MINIMUM_SIZE, compresslevel=GZIP_LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._gzip if _accepts_gzip(scope) else self._plain
        await app(scope, receive, send)


def create_api_app(
    get_engine: EngineFactory, get_settings: SettingsFactory = lambda: SIGN_IN_OFF
) -> ASGIApp:
    """The API as served: ``UsageApi``, gzip for clients that ask."""
    return _GzipWhenAsked(UsageApi(get_engine, get_settings))


def with_api_lane(
    app: ASGIApp, get_engine: EngineFactory, get_settings: SettingsFactory = lambda: SIGN_IN_OFF
) -> ApiLane:
    """``app`` (the ``st.App``, in ``app.py`` with its files' lane around
    it) behind the lane that serves everything under ``/api``."""
    return ApiLane(app, api=create_api_app(get_engine, get_settings))
