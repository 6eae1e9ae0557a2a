"""Collecting clients end to end: moto's S3 server, a records database and the
store, on every backend; failures, atomic replacement and concurrent reads."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests.collect_support import (
    BUCKETS,
    expected_records,
    expected_usage,
)
from tests.factories import api_history, new_client, replacing_in_turn, snapshot
from tests.s3_server import S3Server, running_s3
from usage.collect.config import CollectConfig
from usage.collect.runner import RunSummary, Target, collect, select_targets
from usage.collect.runs import StartedBy, list_runs, start_runs
from usage.demo import DEMO_SETTING, is_demo
from usage.errors import NotFound
from usage.history import read_history
from usage.models import Setting
from usage.snapshots import SnapshotJSON, replace_snapshot

DAY = dt.date(2024, 3, 1)
CLIENTS = {
    "acme-corp": "active",
    "globex": "trial",
    "empty-co": "active",
    "missing-co": "active",
    "broken-co": "active",
    "slow-co": "inactive",
    "gone-co": "suspended",
}


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3(BUCKETS) as server:
        yield server


@pytest.fixture
def targets(engine: Engine) -> dict[str, Target]:
    with Session(engine) as session, session.begin():
        for bucket_id, status in CLIENTS.items():
            new_client(session, bucket_id, status)
        return {target.bucket_id: target for target in select_targets(session, list(CLIENTS))}


def run(
    engine: Engine, config: CollectConfig, targets: list[Target], day: dt.date = DAY
) -> RunSummary:
    with Session(engine) as session, session.begin():
        ids = [target.client_id for target in targets]
        start_runs(session, ids, now=_now(), snapshot_date=day, started_by=StartedBy.CLI)
    return collect(engine, config, targets, day)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def pages_history(engine: Engine, bucket_id: str) -> list[SnapshotJSON]:
    with Session(engine) as session:
        return read_history(session, bucket_id, None, None, None, visible=None)


def history(engine: Engine, bucket_id: str) -> list[SnapshotJSON]:
    """The stored history as the pages read it and as the API does (from
    the stored bodies): with no writer running, they must agree."""
    snapshots = pages_history(engine, bucket_id)
    assert api_history(engine, bucket_id) == snapshots
    return snapshots


def test_default_targets_are_active_and_trial_clients(
    engine: Engine, targets: dict[str, Target]
) -> None:
    with Session(engine) as session:
        chosen = [target.bucket_id for target in select_targets(session, None)]
        assert chosen == ["acme-corp", "broken-co", "empty-co", "globex", "missing-co"]
        with pytest.raises(NotFound, match="client 'nobody' not found"):
            select_targets(session, ["globex", "nobody"])


def test_each_clients_snapshot_is_stored(
    engine: Engine, config: CollectConfig, targets: dict[str, Target]
) -> None:
    chosen = [targets[name] for name in ("acme-corp", "globex", "empty-co")]
    summary = run(engine, config, chosen)
    assert (summary.processed, summary.failed) == (3, 0)
    for name in ("acme-corp", "globex", "empty-co"):
        (stored,) = history(engine, name)
        records = expected_records(name)
        assert stored["snapshot_date"] == DAY.isoformat()
        assert stored["records"] == {**records, "total": sum(records.values())}
        usage = expected_usage(BUCKETS[name])
        assert stored["storage"] == {
            "object_count": sum(count for count, _ in usage.values()),
            "total_bytes": sum(size for _, size in usage.values()),
            "by_prefix": {p: {"count": c, "bytes": b} for p, (c, b) in usage.items()},
        }
    assert history(engine, "globex")[0]["records"]["donation"] == 3


def test_one_failing_client_never_stops_the_others(
    engine: Engine, config: CollectConfig, targets: dict[str, Target]
) -> None:
    chosen = [targets[name] for name in ("missing-co", "globex", "broken-co", "empty-co")]
    summary = run(engine, config, chosen)
    assert summary.as_json()["buckets_processed"] == 4
    assert summary.as_json()["failures"] == [
        {"bucket_id": "broken-co",
         "error": "listing s3://broken-co/ failed after 1000 objects: InternalError:"
                  " We encountered an internal error. Please try again."},
        {"bucket_id": "missing-co", "error": "bucket 'missing-co' does not exist"},
    ]  # fmt: skip
    assert [len(history(engine, name)) for name in ("globex", "empty-co")] == [1, 1]
    runs = {run["bucket_id"]: run for run in _runs(engine)}
    assert runs["globex"]["run_status"] == "succeeded"
    assert runs["missing-co"]["run_status"] == "failed"
    assert runs["missing-co"]["error"] == "bucket 'missing-co' does not exist"
    assert runs["missing-co"]["started_by"] == "cli"
    assert runs["acme-corp"]["run_status"] == "never"


def _runs(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return list_runs(session, visible=None)


def test_a_failure_leaves_the_previous_snapshot_untouched(
    engine: Engine, config: CollectConfig, targets: dict[str, Target]
) -> None:
    with Session(engine) as session, session.begin():
        for name in ("missing-co", "broken-co"):
            replace_snapshot(session, targets[name].client_id, snapshot(DAY, extra={"old": 1}))
    before = {name: history(engine, name) for name in ("missing-co", "broken-co")}
    summary = run(engine, config, [targets["missing-co"], targets["broken-co"]])
    assert summary.failed == 2
    assert {name: history(engine, name) for name in before} == before


def test_collecting_a_day_again_replaces_it_whole(
    engine: Engine, config: CollectConfig, targets: dict[str, Target]
) -> None:
    globex = targets["globex"]
    with Session(engine) as session, session.begin():
        old = snapshot(DAY, extra={"legacy": 9}, prefixes={"old/": (5, 5)})
        replace_snapshot(session, globex.client_id, old)
    run(engine, config, [globex])
    first = history(engine, "globex")
    run(engine, config, [globex])
    second = history(engine, "globex")
    assert len(first) == len(second) == 1
    assert "legacy" not in first[0]["records"]
    assert "old/" not in first[0]["storage"]["by_prefix"]
    first[0].pop("computed_at")
    second[0].pop("computed_at")
    assert first == second


def test_a_backfill_stores_the_given_day(
    engine: Engine, config: CollectConfig, targets: dict[str, Target]
) -> None:
    run(engine, config, [targets["globex"]], day=DAY - dt.timedelta(days=30))
    run(engine, config, [targets["globex"]])
    days = [stored["snapshot_date"] for stored in history(engine, "globex")]
    assert days == ["2024-03-01", "2024-01-31"]


_FAILING_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER fail_exports BEFORE INSERT ON snapshot_prefixes"
        " WHEN NEW.prefix = 'exports/' BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION fail_exports() RETURNS trigger AS $$ BEGIN"
        " IF NEW.prefix = 'exports/' THEN RAISE EXCEPTION 'injected failure'; END IF;"
        " RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER fail_exports BEFORE INSERT ON snapshot_prefixes"
        " FOR EACH ROW EXECUTE FUNCTION fail_exports()",
    ],
}


def test_a_write_that_fails_midway_changes_nothing(
    engine: Engine, config: CollectConfig, targets: dict[str, Target], backend: str
) -> None:
    """The database refuses the last detail row of acme-corp's new snapshot
    (only acme-corp has an exports/ prefix): the delete of the old one and
    the rows already inserted are rolled back with it."""
    with Session(engine) as session, session.begin():
        replace_snapshot(session, targets["acme-corp"].client_id, snapshot(DAY))
        for statement in _FAILING_TRIGGER[backend]:
            session.execute(text(statement))
    before = history(engine, "acme-corp")
    summary = run(engine, config, [targets["acme-corp"], targets["globex"]])
    assert [failure.bucket_id for failure in summary.failures] == ["acme-corp"]
    assert summary.failures[0].error is not None
    assert summary.failures[0].error.startswith("usage database: ")
    assert "injected failure" in summary.failures[0].error
    assert history(engine, "acme-corp") == before
    assert len(history(engine, "globex")) == 1


def test_an_unreachable_records_database_fails_every_client_cleanly(
    engine: Engine, config: CollectConfig, targets: dict[str, Target]
) -> None:
    records = type(config.records)(url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    broken = type(config)(storage=config.storage, records=records, workers=2)
    summary = run(engine, broken, [targets["globex"], targets["empty-co"]])
    assert summary.failed == 2
    assert all(
        (failure.error or "").startswith("records database: ") for failure in summary.failures
    )
    assert history(engine, "globex") == []


def test_a_read_during_a_collection_sees_the_old_or_the_new_snapshot(
    engine: Engine, config: CollectConfig, targets: dict[str, Target]
) -> None:
    """slow-co's listing takes a while (its pages are held): readers keep
    seeing the previous snapshot whole until the new one is stored whole."""
    slow = targets["slow-co"]
    with Session(engine) as session, session.begin():
        replace_snapshot(session, slow.client_id, snapshot(DAY, extra={"old": 1}))
    (old,) = history(engine, "slow-co")
    worker = threading.Thread(target=run, args=(engine, config, [slow]))
    worker.start()
    reads: list[SnapshotJSON] = []
    while worker.is_alive():
        reads.extend(pages_history(engine, "slow-co"))
        reads.extend(api_history(engine, "slow-co"))
        time.sleep(0.01)
    worker.join()
    (new,) = history(engine, "slow-co")
    assert new["records"]["booking"] == 1
    assert new["storage"]["object_count"] == 1100
    assert reads.count(old) > 10  # the listing took a while
    assert all(read in (old, new) for read in reads)


def test_concurrent_replacements_never_show_half_a_snapshot(
    engine: Engine, targets: dict[str, Target]
) -> None:
    """Two versions of a day replace each other as fast as they can while a
    reader reads: every read must be one version whole."""
    client_id = targets["globex"].client_id
    versions = [
        snapshot(DAY, scale=1, extra={"a": 1}, prefixes={"a/": (1, 10), "b/": (2, 20)}),
        snapshot(DAY, scale=2, extra={"b": 2}, prefixes={"c/": (3, 30)}),
    ]
    versions[1].computed_at += dt.timedelta(hours=1)
    expected = []
    for version in versions:
        with Session(engine) as session, session.begin():
            replace_snapshot(session, client_id, version)
        expected.append(history(engine, "globex"))
    torn = 0
    with replacing_in_turn(engine, client_id, versions):
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            torn += pages_history(engine, "globex") not in expected
            torn += api_history(engine, "globex") not in expected
    assert torn == 0


def _mark_demo(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add(Setting(name=DEMO_SETTING, value=DAY.isoformat()))


def _is_demo(engine: Engine) -> bool:
    with Session(engine) as session:
        return is_demo(session)


def test_a_collected_snapshot_ends_the_demo_and_a_failure_does_not(
    engine: Engine, config: CollectConfig, targets: dict[str, Target], backend: str
) -> None:
    """The demo flag goes in the transaction that stores the snapshot: a
    client that fails, even midway through its write, leaves it."""
    _mark_demo(engine)
    with Session(engine) as session, session.begin():
        for statement in _FAILING_TRIGGER[backend]:
            session.execute(text(statement))
    run(engine, config, [targets["missing-co"], targets["acme-corp"]])
    assert _is_demo(engine)
    run(engine, config, [targets["globex"]])
    assert not _is_demo(engine)
