"""``usage.client.UsageClient`` against the real server (``uvicorn app:app``
on loopback): typed methods, iterators over cursors, ETag reuse, CSV, errors,
and retries that honour ``Retry-After``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.collect_support import BUCKETS, make_records_database
from tests.conftest import BACKENDS, new_database_url
from tests.factories import days, new_client, snapshot
from tests.live_server import running_server
from tests.s3_server import running_s3
from tests.tcp_proxy import TcpProxy
from usage.audit import cli_actor
from usage.client import UsageApiError, UsageClient
from usage.db import make_engine
from usage.history import find_client_id
from usage.keys import create_key
from usage.models import AlertEvent
from usage.snapshots import insert_snapshots

FIRST = dt.date(2024, 1, 1)


@dataclass(frozen=True)
class Live:
    base: str
    engine: Engine
    admin: str
    scoped: str  # sees globex only


def fill(engine: Engine) -> tuple[str, str]:
    """acme-corp: 40 days; globex: 3; two more clients; an admin and a
    globex-only key."""
    with Session(engine) as session, session.begin():
        acme = new_client(session, "acme-corp")
        insert_snapshots(session, [(acme, snapshot(day, scale=i + 1))
                                   for i, day in enumerate(days(FIRST, 40))])  # fmt: skip
        globex = new_client(session, "globex", "trial")
        insert_snapshots(session, [(globex, snapshot(day)) for day in days(FIRST, 3)])
        for name in ("b-one", "b-two"):
            new_client(session, name)
        return (
            create_key(session, "admin", admin=True, actor=cli_actor()),
            create_key(session, "globex", buckets=["globex"], actor=cli_actor()),
        )


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    """The server on a small store, with collection configured (so that the
    trigger runs, and then answers 429)."""
    directory = tmp_path_factory.mktemp("client-lib")
    url = new_database_url(request, str(request.param), directory)
    records_url = new_database_url(request, str(request.param), directory)
    make_records_database(records_url)
    engine = make_engine(url)
    admin, scoped = fill(engine)
    with running_s3({"acme-corp": BUCKETS["acme-corp"]}) as s3:
        env = {**s3.env, "USAGE_RECORDS_URL": records_url,
               "USAGE_STORAGE_ENDPOINT_URL": s3.endpoint_url,
               "USAGE_STORAGE_BUCKET_TEMPLATE": "{bucket_id}",
               "USAGE_STORAGE_MAX_ATTEMPTS": "1"}  # fmt: skip
        with running_server(url, command="uvicorn", env=env) as base:
            yield Live(base, engine, admin, scoped)
    engine.dispose()


class Recording(httpx.HTTPTransport):
    """httpx's transport, noting each exchange: (If-None-Match sent, status)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str | None, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.seen.append((request.headers.get("if-none-match"), response.status_code))
        return response


def raw(live: Live, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{live.base}/api/v1{path}", params=params,
                     headers={"X-API-Key": live.admin})  # fmt: skip


def test_each_method_answers_the_apis_json(live: Live) -> None:
    with UsageClient(live.base, live.admin) as usage:
        assert usage.client("acme-corp") == raw(live, "/clients/acme-corp").json()
        assert usage.clients(status="active", limit=2) == raw(
            live, "/clients", status="active", limit="2").json()  # fmt: skip
        page = usage.history("acme-corp", start_date=FIRST, end_date="2024-01-20", limit=5)
        assert page == raw(live, "/clients/acme-corp/history", start_date="2024-01-01",
                           end_date="2024-01-20", limit="5").json()  # fmt: skip
        assert page["count"] == 5
        assert page["next_cursor"] is not None
        weeks = usage.history("acme-corp", granularity="week", end_date="2024-02-09")
        assert weeks["snapshots"][0]["period"] == {"start": "2024-02-05", "end": "2024-02-09",
                                                   "partial": True}  # fmt: skip
        on_day = usage.snapshots_on(FIRST, limit=1)
        assert on_day == raw(live, "/snapshots/2024-01-01", limit="1").json()
        forecast = usage.forecast("acme-corp")
        assert forecast == raw(live, "/clients/acme-corp/forecast").json()
        assert [metric["metric"] for metric in forecast["metrics"]][:2] == [
            "total records", "storage bytes"]  # fmt: skip


def test_alerts_come_page_after_page(live: Live) -> None:
    opened = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
    with Session(live.engine) as session, session.begin():
        for number, bucket_id in enumerate(["acme-corp", "globex", "acme-corp"]):
            session.add(
                AlertEvent(client_id=find_client_id(session, bucket_id), key=f"k{number}",
                           kind="drop", scope="total", metric="total records",
                           day=dt.date(2024, 1, 20), severity="high", summary=f"drop {number}",
                           details={}, opened_at=opened + dt.timedelta(hours=number),
                           last_seen_at=opened, resolved_at=None)
            )  # fmt: skip
    with UsageClient(live.base, live.admin) as usage:
        whole = raw(live, "/alerts", limit="1000").json()["alerts"]
        assert list(usage.iter_alerts(page_size=1)) == whole
        assert [alert["summary"] for alert in whole] == ["drop 2", "drop 1", "drop 0"]
        assert usage.alerts(bucket_id="globex") == raw(live, "/alerts", bucket_id="globex").json()
    with UsageClient(live.base, live.scoped) as usage:  # a key that sees globex alone
        assert [alert["bucket_id"] for alert in usage.iter_alerts()] == ["globex"]


def test_iterators_follow_the_cursors_to_the_end(live: Live) -> None:
    with UsageClient(live.base, live.admin) as usage:
        whole = usage.history("acme-corp", limit=1000)["snapshots"]
        assert list(usage.iter_history("acme-corp", page_size=7)) == whole
        assert len(whole) == 40
        months = list(usage.iter_history("acme-corp", granularity="month", end_date="2024-02-29",
                                         page_size=1))  # fmt: skip
        assert [s["period"]["start"] for s in months] == ["2024-02-01", "2024-01-01"]
        assert [c["bucket_id"] for c in usage.iter_clients(page_size=2)] == [
            "acme-corp", "b-one", "b-two", "globex"]  # fmt: skip
        assert [s["bucket_id"] for s in usage.iter_snapshots_on("2024-01-02", page_size=1)] == [
            "acme-corp", "globex"]  # fmt: skip


def test_a_repeated_call_reuses_its_answer_while_the_tag_holds(live: Live) -> None:
    recording = Recording()
    with UsageClient(live.base, live.admin, transport=recording) as usage:
        first = usage.history("globex")
        again = usage.history("globex")
        assert again == first
        (_, status), (sent, status_again) = recording.seen
        assert (status, status_again) == (200, 304)
        assert sent is not None
        with Session(live.engine) as session, session.begin():
            globex = find_client_id(session, "globex")
            insert_snapshots(session, [(globex, snapshot(FIRST + dt.timedelta(days=3)))])
        changed = usage.history("globex")
        assert recording.seen[-1][1] == 200
        assert changed["count"] == first["count"] + 1
        assert usage.history("globex") == changed
        assert recording.seen[-1][1] == 304


def test_csv_pages_carry_the_next_cursor_of_their_link(live: Live) -> None:
    with UsageClient(live.base, live.admin) as usage:
        page = usage.history_csv("acme-corp", limit=30)
        assert page.text == raw(live, "/clients/acme-corp/history", limit="30",
                                format="csv").text  # fmt: skip
        assert page.text.startswith("date,total records,person,")
        rest = usage.history_csv("acme-corp", limit=30, cursor=page.next_cursor)
        assert rest.next_cursor is None
        assert len(page.text.splitlines()) + len(rest.text.splitlines()) == 40 + 2
        day = usage.snapshots_on_csv("2024-01-01", limit=1)
        assert day.text.splitlines()[1].startswith("acme-corp,")
        assert usage.snapshots_on_csv("2024-01-01", cursor=day.next_cursor).next_cursor is None


def test_errors_carry_the_apis_message(live: Live) -> None:
    with UsageClient(live.base, live.scoped) as usage:
        with pytest.raises(UsageApiError) as hidden:
            usage.history("acme-corp")
        assert (hidden.value.status, hidden.value.message) == (404, "client 'acme-corp' not found")
        assert hidden.value.request_id
        with pytest.raises(UsageApiError) as bad:
            usage.history("globex", granularity="year")
        assert bad.value.message == "granularity must be one of: day, week, month"
        assert [s["bucket_id"] for s in usage.iter_snapshots_on("2024-01-01")] == ["globex"]


def test_a_429_is_retried_after_its_retry_after_up_to_the_attempts(live: Live) -> None:
    waits: list[float] = []
    with UsageClient(live.base, live.admin) as usage:
        done = usage.trigger(["acme-corp"], force=True)
        assert done["buckets_processed"] == 1
        # The next run is 5 minutes away: more than the default wait cap.
        with pytest.raises(UsageApiError) as refused:
            usage.trigger(["acme-corp"])
        assert refused.value.status == 429
        assert refused.value.retry_after is not None
        assert 1 <= refused.value.retry_after <= 300
    patient = UsageClient(live.base, live.admin, max_wait=600, max_attempts=3, sleep=waits.append)
    with patient, pytest.raises(UsageApiError) as still:
        patient.trigger(["acme-corp"])
    assert still.value.status == 429
    assert len(waits) == 2  # three attempts
    assert all(1 <= wait <= 300 for wait in waits)


@pytest.fixture
def proxied_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Live, TcpProxy]]:
    """The server on PostgreSQL reached through a proxy the test can cut."""
    url = make_url(new_database_url(request, "postgresql", tmp_path))
    engine = make_engine(url.render_as_string(hide_password=False))
    admin, scoped = fill(engine)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    through = url.set(port=proxy.port).render_as_string(hide_password=False)
    try:
        with running_server(through, command="uvicorn") as base:
            yield Live(base, engine, admin, scoped), proxy
    finally:
        proxy.stop()
        engine.dispose()


def test_a_503_is_retried_after_its_retry_after(
    proxied_server: tuple[Live, TcpProxy],
) -> None:
    live, proxy = proxied_server
    waits: list[float] = []

    def wait_for_the_database(seconds: float) -> None:
        waits.append(seconds)
        proxy.start()  # the database is back when the client tries again

    with UsageClient(live.base, live.admin, sleep=wait_for_the_database) as usage:
        assert usage.client("globex")["bucket_id"] == "globex"
        proxy.stop()
        assert usage.history("globex")["count"] == 3
    assert waits == [5.0]
