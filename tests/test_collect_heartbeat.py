"""The heartbeat: a run renews its claim while it works, a killed run frees
its clients once its lease lapses, and a run taken over stores nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from tests.collect_processes import (
    Machine,
    as_utc,
    finish,
    kill,
    progress_lines,
    run_row,
    wait_until,
)
from tests.collect_support import BUCKETS, make_records_database, write_config_file
from tests.conftest import new_database_url
from tests.factories import new_client
from tests.s3_server import S3Server, running_s3
from usage.access import LOCAL_ADMIN
from usage.collect.config import CollectConfig, RecordsConfig, StorageConfig
from usage.collect.runs import StartedBy, claim_run, claim_runs, start_runs
from usage.collect.trigger import TRIGGER_INTERVAL, run_trigger
from usage.db import for_writes
from usage.errors import RateLimited
from usage.history import read_history
from usage.models import CollectionRun, utcnow

LEASE = dt.timedelta(seconds=2)
# slow-co's listing at 20 keys a page: 55 held pages, long enough to watch it.
SLOW = {"USAGE_COLLECT_LEASE_SECONDS": "2", "USAGE_STORAGE_PAGE_SIZE": "20"}
MICROSECOND = dt.timedelta(microseconds=1)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3({"slow-co": BUCKETS["slow-co"]}) as server:
        yield server


@pytest.fixture
def machine(
    engine: Engine,
    database_url: str,
    s3: S3Server,
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
) -> Machine:
    records_url = new_database_url(request, backend, tmp_path)
    make_records_database(records_url)
    with Session(engine) as session, session.begin():
        new_client(session, "slow-co")
    config_file = write_config_file(tmp_path / "usage.toml", s3.endpoint_url, records_url)
    return Machine(database_url, s3, config_file)


def _client_id(engine: Engine) -> int:
    row = run_row(engine, "slow-co")
    assert row is not None
    return row.client_id


def _beat(engine: Engine) -> dt.datetime | None:
    row = run_row(engine, "slow-co")
    if row is None or row.status != "running" or row.heartbeat_at is None:
        return None
    return as_utc(row.heartbeat_at)


def _claims_at(engine: Engine, client_id: int, now: dt.datetime) -> tuple[bool, bool]:
    """Would the command line's claim, and the trigger's, take the client at
    ``now``? (Rolled back: nothing is claimed.)"""
    with Session(for_writes(engine)) as session, session.begin():
        by_cli = claim_run(
            session, client_id, now=now, snapshot_date=now.date(), started_by=StartedBy.CLI,
            lease=LEASE,
        )  # fmt: skip
        session.rollback()
    with Session(for_writes(engine)) as session, session.begin():
        blocked = claim_runs(
            session, [client_id], now=now, snapshot_date=now.date(), interval=TRIGGER_INTERVAL,
            lease=LEASE,
        )  # fmt: skip
        session.rollback()
    return by_cli, not blocked


def _history(engine: Engine) -> list[dict[str, object]]:
    with Session(engine) as session:
        return [dict(s) for s in read_history(session, "slow-co", None, None, None, visible=None)]


def test_a_killed_run_frees_its_client_once_its_lease_lapses(
    engine: Engine, machine: Machine
) -> None:
    process = machine.start("--bucket", "slow-co", **SLOW)
    try:
        # One client that takes long: its heartbeat moves while it lists.
        wait_until(lambda: _beat(engine) is not None, "the run's claim")
        first = _beat(engine)
        assert first is not None
        wait_until(lambda: (_beat(engine) or first) > first, "a renewed heartbeat")
        client_id = _client_id(engine)
        beat = _beat(engine)
        assert beat is not None
        assert _claims_at(engine, client_id, beat + LEASE / 2) == (False, False)
    finally:
        kill(process)
    row = run_row(engine, "slow-co")
    assert row is not None
    assert row.status == "running"
    assert row.heartbeat_at is not None
    last = as_utc(row.heartbeat_at)
    # Not before the lease has passed since the last beat, at once after it,
    # for the trigger too: it started a moment ago, well within 5 minutes.
    assert as_utc(row.started_at) + TRIGGER_INTERVAL > last + LEASE
    assert _claims_at(engine, client_id, last + LEASE - MICROSECOND) == (False, False)
    assert _claims_at(engine, client_id, last + LEASE) == (True, True)
    # A real run, once the lease has really passed, takes and stores it.
    wait_until(lambda: utcnow() > last + LEASE, "the lease to lapse")
    code, _, err = finish(machine.start("--bucket", "slow-co", USAGE_COLLECT_LEASE_SECONDS="2"))
    assert (code, progress_lines(err)) == (0, {"slow-co": "ok"}), err
    (stored,) = _history(engine)
    assert stored["storage"]["object_count"] == 1100  # type: ignore[index]
    row = run_row(engine, "slow-co")
    assert row is not None
    assert row.status == "succeeded"


def test_a_run_taken_over_stores_nothing(engine: Engine, machine: Machine) -> None:
    """A forced trigger takes a client from a run at work: that run, when its
    listing ends, finds its claim gone and neither stores nor records."""
    process = machine.start("--bucket", "slow-co", USAGE_STORAGE_PAGE_SIZE="20")
    try:
        wait_until(lambda: _beat(engine) is not None, "the run's claim")
        taken_at = utcnow()
        with Session(for_writes(engine)) as session, session.begin():
            start_runs(
                session, [_client_id(engine)], now=taken_at, snapshot_date=taken_at.date(),
                started_by=StartedBy.TRIGGER,
            )  # fmt: skip
        code, out, err = finish(process)
    finally:
        if process.returncode is None:
            kill(process)
    assert code == 0
    assert progress_lines(err) == {"slow-co": "skipped: another run took it over"}
    assert ": 0 processed, 0 failed, 1 skipped, in " in out
    assert _history(engine) == []
    row = run_row(engine, "slow-co")
    assert row is not None
    assert (row.status, row.started_by, as_utc(row.started_at)) == ("running", "trigger", taken_at)


def _config(lease_seconds: float = 60) -> CollectConfig:
    """Settings the trigger reads before it claims; it never gets to collect here."""
    return CollectConfig(
        storage=StorageConfig(endpoint_url="http://127.0.0.1:1"),
        records=RecordsConfig(url="sqlite://"),
        lease_seconds=lease_seconds,
    )


def _set_run(engine: Engine, client_id: int, **values: object) -> None:
    with Session(engine) as session, session.begin():
        session.execute(
            update(CollectionRun).where(CollectionRun.client_id == client_id).values(**values)
        )


@pytest.mark.parametrize(
    ("started_ago", "beat_ago", "refused"),
    [
        (600, 1, True),  # at work for 10 minutes, heard from a second ago
        (60, 61, False),  # started a minute ago, silent for longer than the lease: dead
        (600, None, False),  # from before heartbeats: 5 minutes from its start, as before
        (60, None, True),
    ],
)
def test_the_trigger_waits_for_a_run_at_work_and_not_for_a_dead_one(
    engine: Engine, started_ago: int, beat_ago: int | None, refused: bool
) -> None:
    now = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
    with Session(engine) as session, session.begin():
        client_id = new_client(session, "globex")
        start_runs(
            session, [client_id], now=now, snapshot_date=now.date(), started_by=StartedBy.CLI
        )
    _set_run(
        engine,
        client_id,
        started_at=now - dt.timedelta(seconds=started_ago),
        heartbeat_at=None if beat_ago is None else now - dt.timedelta(seconds=beat_ago),
    )
    body = b'{"bucket_ids": ["globex"]}'
    if not refused:
        with Session(for_writes(engine)) as session, session.begin():
            assert claim_runs(
                session, [client_id], now=now, snapshot_date=now.date(),
                interval=TRIGGER_INTERVAL, lease=dt.timedelta(seconds=60),
            ) == []  # fmt: skip
            session.rollback()
        return
    with pytest.raises(RateLimited) as caught:
        run_trigger(engine, body, principal=LOCAL_ADMIN, now=now, config=_config())
    assert caught.value.message.startswith(
        "globex ran less than 5 minutes ago or is being collected by another run: retry in "
    )
    # A run at work may die any moment: retry when its lease would lapse.
    expected = 59 if beat_ago == 1 else 240
    assert caught.value.retry_after == expected
