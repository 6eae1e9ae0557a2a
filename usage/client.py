"""A small Python client of the Usage API v1, over httpx (synchronous).

    from usage.client import UsageClient

    with UsageClient("http://localhost:8501", api_key=KEY) as usage:
        for snapshot in usage.iter_history("acme-corp", start_date="2026-01-01"):
            print(snapshot["snapshot_date"], snapshot["records"]["total"])

One method per endpoint, answering the API's JSON as typed dicts; ``iter_*``
methods follow the cursors page after page. A 429 or a 503 is retried after
the ``Retry-After`` it carries, up to ``max_attempts`` tries and as long as
the wait is at most ``max_wait`` seconds (a longer one, such as collection
left unconfigured, is raised at once). A GET asked again sends the ``ETag``
of its last answer, and a 304 returns that answer from memory. Any other
error is a ``UsageApiError`` with the API's message.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NotRequired, TypedDict, cast

import httpx
import orjson

API = "/api/v1"
PAGE_SIZE = 1000  # what the iterators ask per page: the API's largest


class PrefixUsage(TypedDict):
    count: int
    bytes: int


class Storage(TypedDict):
    object_count: int
    total_bytes: int
    by_prefix: dict[str, PrefixUsage]


class Period(TypedDict):
    start: str
    end: str
    partial: bool


class Snapshot(TypedDict):
    bucket_id: str
    snapshot_date: str
    records: dict[str, int]  # by collection, and "total"
    storage: Storage
    computed_at: str
    period: NotRequired[Period]  # history by week or month


class HistoryPage(TypedDict):
    snapshots: list[Snapshot]
    count: int
    next_cursor: str | None


class Client(TypedDict):
    bucket_id: str
    display_name: str
    status: str
    total_records: int
    total_storage_bytes: int
    trial_end_date: str | None
    client_since: str


class PlanUse(TypedDict):
    records: float | None
    storage_bytes: float | None
    collections: dict[str, float | None]


class Plan(TypedDict):
    records: int | None
    storage_bytes: int | None
    collections: dict[str, int]
    used: PlanUse


class ClientDetail(Client):
    latest_snapshot: Snapshot | None
    plan: Plan | None


class ForecastDay(TypedDict):
    date: str
    expected: float
    lower: float
    upper: float


class Projection(TypedDict):
    fit_start: str
    steps: list[str]
    scale: str
    slope_per_day: float
    daily: list[ForecastDay]


class Reach(TypedDict):
    reached: bool
    likely: str | None
    earliest: str | None
    latest: str | None


class MetricForecast(TypedDict):
    metric: str
    scope: str
    unit: str
    last_value: float | None
    limit: int | None
    forecast: Projection | None
    reach: Reach | None
    summary: str | None
    note: str | None


class ClientForecast(TypedDict):
    bucket_id: str
    last_day: str | None
    horizon_days: int
    window_days: int
    observations: int
    metrics: list[MetricForecast]


class ClientPage(TypedDict):
    clients: list[Client]
    count: int
    cursor: str | None


class SnapshotPage(TypedDict):
    snapshots: list[Snapshot]
    count: int
    cursor: str | None


class AlertEvent(TypedDict):
    id: int
    bucket_id: str
    kind: str
    scope: str
    metric: str
    day: str | None
    severity: str
    summary: str
    details: dict[str, Any]
    opened_at: str
    last_seen_at: str
    resolved_at: str | None


class AlertPage(TypedDict):
    alerts: list[AlertEvent]
    count: int
    next_cursor: str | None


class TriggerFailure(TypedDict):
    bucket_id: str
    error: str


class TriggerResult(TypedDict):
    buckets_processed: int
    buckets_failed: int
    duration_seconds: float
    failures: list[TriggerFailure]


@dataclass(frozen=True)
class CsvPage:
    """A page as CSV text, and the cursor of the next (from its ``Link``)."""

    text: str
    next_cursor: str | None


class UsageApiError(Exception):
    """An error answer: its status, the API's message and request id, and
    ``retry_after`` (seconds) on a 429 or 503."""

    def __init__(
        self, status: int, message: str, request_id: str | None, retry_after: float | None
    ) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after


Day = dt.date | str
Params = dict[str, str]


@dataclass(frozen=True)
class _Kept:
    """A GET's last answer, to reuse on a 304."""

    etag: str
    content: bytes
    link: str | None


class UsageClient:
    """The Usage API v1 at ``base_url`` (``http://host:port``), as the key's
    holder. ``transport``: httpx's (a test may pass one); ``sleep``: how a
    retry waits."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        max_attempts: int = 4,
        max_wait: float = 60.0,
        kept_answers: int = 256,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url,
            headers={"X-API-Key": api_key},
            timeout=timeout,
            transport=transport,
        )
        self._max_attempts = max(1, max_attempts)
        self._max_wait = max_wait
        self._sleep = sleep
        self._kept: OrderedDict[tuple[str, str], _Kept] = OrderedDict()
        self._kept_max = kept_answers

    def __enter__(self) -> UsageClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- history

    def history(
        self,
        bucket_id: str,
        *,
        start_date: Day | None = None,
        end_date: Day | None = None,
        limit: int | None = None,
        granularity: str | None = None,
        cursor: str | None = None,
    ) -> HistoryPage:
        """One page of a client's history, newest first
        (``GET /clients/{bucket_id}/history``)."""
        params = _history_params(start_date, end_date, limit, granularity, cursor)
        return cast(HistoryPage, self._json(f"/clients/{bucket_id}/history", params))

    def iter_history(
        self,
        bucket_id: str,
        *,
        start_date: Day | None = None,
        end_date: Day | None = None,
        granularity: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[Snapshot]:
        """Every snapshot (or period) of the range, newest first, page after page."""
        return _follow(
            lambda cursor: self.history(bucket_id, start_date=start_date, end_date=end_date,
                                        limit=page_size, granularity=granularity, cursor=cursor),
            "snapshots", "next_cursor",
        )  # fmt: skip

    def history_csv(
        self,
        bucket_id: str,
        *,
        start_date: Day | None = None,
        end_date: Day | None = None,
        limit: int | None = None,
        granularity: str | None = None,
        cursor: str | None = None,
    ) -> CsvPage:
        """One page of a client's history as CSV (``format=csv``)."""
        params = _history_params(start_date, end_date, limit, granularity, cursor)
        return self._csv(f"/clients/{bucket_id}/history", params)

    # --- clients

    def clients(
        self, *, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> ClientPage:
        """One page of clients, by bucket id (``GET /clients``)."""
        params = _params(status=status, limit=limit, cursor=cursor)
        return cast(ClientPage, self._json("/clients", params))

    def iter_clients(
        self, *, status: str | None = None, page_size: int = PAGE_SIZE
    ) -> Iterator[Client]:
        return _follow(
            lambda cursor: self.clients(status=status, limit=page_size, cursor=cursor),
            "clients", "cursor",
        )  # fmt: skip

    def client(self, bucket_id: str) -> ClientDetail:
        """A client with its latest snapshot and its plan (``GET /clients/{bucket_id}``)."""
        return cast(ClientDetail, self._json(f"/clients/{bucket_id}", {}))

    def forecast(self, bucket_id: str) -> ClientForecast:
        """The client's projections and when it reaches its plan's limits
        (``GET /clients/{bucket_id}/forecast``)."""
        return cast(ClientForecast, self._json(f"/clients/{bucket_id}/forecast", {}))

    # --- snapshots on a date

    def snapshots_on(
        self, day: Day, *, limit: int | None = None, cursor: str | None = None
    ) -> SnapshotPage:
        """One page of every client's snapshot on ``day`` (``GET /snapshots/{date}``)."""
        params = _params(limit=limit, cursor=cursor)
        return cast(SnapshotPage, self._json(f"/snapshots/{_day(day)}", params))

    def iter_snapshots_on(self, day: Day, *, page_size: int = PAGE_SIZE) -> Iterator[Snapshot]:
        return _follow(
            lambda cursor: self.snapshots_on(day, limit=page_size, cursor=cursor),
            "snapshots", "cursor",
        )  # fmt: skip

    def snapshots_on_csv(
        self, day: Day, *, limit: int | None = None, cursor: str | None = None
    ) -> CsvPage:
        return self._csv(f"/snapshots/{_day(day)}", _params(limit=limit, cursor=cursor))

    # --- alerts

    def alerts(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        severity: str | None = None,
        bucket_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AlertPage:
        """One page of alert events, newest first (``GET /alerts``): open ones
        unless ``status`` says ``resolved`` or ``all``."""
        params = _params(status=status, kind=kind, severity=severity, bucket_id=bucket_id,
                         limit=limit, cursor=cursor)  # fmt: skip
        return cast(AlertPage, self._json("/alerts", params))

    def iter_alerts(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        severity: str | None = None,
        bucket_id: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[AlertEvent]:
        return _follow(
            lambda cursor: self.alerts(status=status, kind=kind, severity=severity,
                                       bucket_id=bucket_id, limit=page_size, cursor=cursor),
            "alerts", "next_cursor",
        )  # fmt: skip

    # --- collection

    def trigger(
        self, bucket_ids: Sequence[str] | None = None, *, force: bool = False
    ) -> TriggerResult:
        """Compute today's snapshots now (``POST /collect/trigger``, admin key)."""
        body: dict[str, Any] = {"force": force}
        if bucket_ids is not None:
            body["bucket_ids"] = list(bucket_ids)
        response = self._send("POST", "/collect/trigger", {}, json=body)
        return cast(TriggerResult, orjson.loads(response.content))

    # --- the exchange

    def _json(self, path: str, params: Params) -> Any:
        content, _ = self._get(path, params, "application/json")
        return orjson.loads(content)

    def _csv(self, path: str, params: Params) -> CsvPage:
        content, link = self._get(path, {**params, "format": "csv"}, "text/csv")
        return CsvPage(content.decode(), _next_cursor(link))

    def _get(self, path: str, params: Params, accept: str) -> tuple[bytes, str | None]:
        """The answer's body and ``Link``, from memory on a 304."""
        key = (str(httpx.URL(API + path, params=params)), accept)
        kept = self._kept.get(key)
        headers = {"Accept": accept}
        if kept is not None:
            headers["If-None-Match"] = kept.etag
        response = self._send("GET", path, params, headers=headers)
        if response.status_code == 304 and kept is not None:
            self._kept.move_to_end(key)
            return kept.content, kept.link
        etag = response.headers.get("etag")
        link = response.headers.get("link")
        if etag is not None:
            self._kept[key] = _Kept(etag, response.content, link)
            self._kept.move_to_end(key)
            while len(self._kept) > self._kept_max:
                self._kept.popitem(last=False)
        return response.content, link

    def _send(
        self,
        method: str,
        path: str,
        params: Params,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """The answer (2xx or 304), after the retries a 429 or 503 allows;
        ``UsageApiError`` otherwise."""
        attempt = 1
        while True:
            response = self._http.request(
                method, API + path, params=params, headers=headers, json=json
            )
            if response.status_code < 400:
                return response
            wait = _retry_after(response)
            retry = response.status_code in (429, 503) and attempt < self._max_attempts
            if not retry or wait is None or wait > self._max_wait:
                raise _error(response, wait)
            self._sleep(wait)
            attempt += 1


def _day(day: Day) -> str:
    return day.isoformat() if isinstance(day, dt.date) else day


def _follow(
    fetch: Callable[[str | None], Mapping[str, Any]], items: str, cursor: str
) -> Iterator[Any]:
    """Every item of the pages ``fetch(cursor)`` gives, from the first page
    (``None``) on, following each page's ``cursor`` member until it is null."""
    after: str | None = None
    while True:
        page = fetch(after)
        yield from page[items]
        after = page[cursor]
        if after is None:
            return


def _params(**values: object) -> Params:
    return {name: str(value) for name, value in values.items() if value is not None}


def _history_params(
    start_date: Day | None,
    end_date: Day | None,
    limit: int | None,
    granularity: str | None,
    cursor: str | None,
) -> Params:
    return _params(
        start_date=None if start_date is None else _day(start_date),
        end_date=None if end_date is None else _day(end_date),
        limit=limit,
        granularity=granularity,
        cursor=cursor,
    )


def _next_cursor(link: str | None) -> str | None:
    """The ``cursor`` of a ``Link: <URL>; rel="next"`` header."""
    if not link:
        return None
    for value in httpx.Headers({"link": link}).get_list("link", split_commas=True):
        url, _, rest = value.partition(";")
        if 'rel="next"' in rest.replace(" ", ""):
            cursor: str | None = httpx.URL(url.strip().strip("<>")).params.get("cursor")
            return cursor
    return None


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date (RFC 9110, 10.2.3)."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    if raw.strip().isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, says RFC 5322
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _error(response: httpx.Response, retry_after: float | None) -> UsageApiError:
    try:
        body = orjson.loads(response.content)
        message, request_id = str(body["error"]), body.get("request_id")
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message, request_id = response.text[:200], response.headers.get("x-request-id")
    return UsageApiError(response.status_code, message, request_id, retry_after)
