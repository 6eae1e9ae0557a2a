from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.conftest import DEMO_TODAY as TODAY
from tests.factories import api_history
from usage.audit import Actor, list_events
from usage.demo import clear_demo, is_demo, load_demo, load_demo_if_empty
from usage.history import read_history
from usage.models import STANDARD_COLLECTIONS, Client, Snapshot, SnapshotPrefix
from usage.plans import Plan, read_plan, set_plan
from usage.snapshots import SnapshotJSON


@pytest.fixture
def demo(engine: Engine) -> Engine:
    """A demo database of the test's own, for tests that change it."""
    with Session(engine) as session, session.begin():
        load_demo(session, TODAY)
    return engine


def history(engine: Engine, bucket: str) -> list[SnapshotJSON]:
    with Session(engine) as session:
        return list(reversed(read_history(session, bucket, None, None, None, visible=None)))


def count_rows(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Client)) or 0,
            session.scalar(select(func.count()).select_from(Snapshot)) or 0,
            session.scalar(select(func.sum(SnapshotPrefix.total_bytes))) or 0,
        )


def test_demo_is_idempotent(demo: Engine) -> None:
    before = count_rows(demo)
    with Session(demo) as session, session.begin():
        assert load_demo(session, TODAY) == 0
    assert count_rows(demo) == before


def test_a_later_day_only_adds_the_new_days(demo: Engine) -> None:
    before = history(demo, "acme-corp")
    with Session(demo) as session, session.begin():
        added = load_demo(session, TODAY + dt.timedelta(days=2))
    after = history(demo, "acme-corp")
    assert after[: len(before)] == before
    assert [s["snapshot_date"] for s in after[len(before) :]] == ["2026-11-26", "2026-11-27"]
    assert added > 0


def test_portfolio_has_every_status_and_the_named_clients(demo_engine: Engine) -> None:
    with Session(demo_engine) as session:
        rows = session.execute(select(Client.bucket_id, Client.status)).all()
        assert is_demo(session)
    statuses = {status for _, status in rows}
    assert len(rows) >= 12
    assert {"acme-corp", "globex"} <= {bucket for bucket, _ in rows}
    assert statuses == {"active", "inactive", "suspended", "trial"}


def test_acme_covers_three_years_up_to_today(demo_engine: Engine) -> None:
    snapshots = history(demo_engine, "acme-corp")
    first = dt.date.fromisoformat(snapshots[0]["snapshot_date"])
    assert snapshots[-1]["snapshot_date"] == TODAY.isoformat()
    assert (TODAY - first).days >= 3 * 365 - 1


def test_every_snapshot_adds_up(demo_engine: Engine) -> None:
    with Session(demo_engine) as session:
        buckets = session.scalars(select(Client.bucket_id)).all()
    for bucket in buckets:
        for snap in history(demo_engine, bucket):
            records = snap["records"]
            assert all(records[name] >= 0 for name in STANDARD_COLLECTIONS)
            assert records["total"] == sum(v for k, v in records.items() if k != "total")
            storage = snap["storage"]
            prefixes = storage["by_prefix"].values()
            assert storage["object_count"] == sum(p["count"] for p in prefixes)
            assert storage["total_bytes"] == sum(p["bytes"] for p in prefixes)


def test_the_api_answers_every_demo_snapshot_as_the_pages_read_it(demo_engine: Engine) -> None:
    """Each snapshot's stored body against the same snapshot built from its
    columns: the newest 1,000 days of each client and the days before."""
    with Session(demo_engine) as session:
        buckets = session.scalars(select(Client.bucket_id)).all()
    for bucket in buckets:
        pages = list(reversed(history(demo_engine, bucket)))
        newest = api_history(demo_engine, bucket)
        assert newest == pages[:1000]
        if len(pages) > 1000:
            end = dt.date.fromisoformat(pages[1000]["snapshot_date"])
            assert api_history(demo_engine, bucket, end_date=end) == pages[1000:]


def totals(snapshots: list[SnapshotJSON]) -> list[int]:
    return [s["records"]["total"] for s in snapshots]


def test_weekends_grow_slower_than_weekdays(demo_engine: Engine) -> None:
    snapshots = history(demo_engine, "acme-corp")
    growth = {"weekday": 0, "weekend": 0}
    for previous, current in itertools.pairwise(snapshots):
        day = dt.date.fromisoformat(current["snapshot_date"])
        kind = "weekend" if day.weekday() >= 5 else "weekday"
        growth[kind] += current["records"]["total"] - previous["records"]["total"]
    # Per day, a weekend day adds well under half of a weekday's records.
    assert growth["weekend"] / 2 < 0.5 * growth["weekday"] / 5


def largest_daily_change(snapshots: list[SnapshotJSON]) -> float:
    values = totals(snapshots)
    changes = [(b - a) / a for a, b in itertools.pairwise(values) if a]
    return max(changes, key=abs)


def test_a_bulk_import_steps_up_and_a_purge_drops(demo_engine: Engine) -> None:
    assert largest_daily_change(history(demo_engine, "acme-corp")) > 0.15
    assert largest_daily_change(history(demo_engine, "initech")) < -0.2


def test_churned_client_stops_and_trial_is_recent(demo_engine: Engine) -> None:
    churned = history(demo_engine, "soylent")
    assert dt.date.fromisoformat(churned[-1]["snapshot_date"]) < TODAY - dt.timedelta(days=200)
    trial = history(demo_engine, "wonka-events")
    assert (TODAY - dt.date.fromisoformat(trial[0]["snapshot_date"])).days < 31


def test_some_days_are_missing(demo_engine: Engine) -> None:
    snapshots = history(demo_engine, "cyberdyne")
    days = [dt.date.fromisoformat(s["snapshot_date"]) for s in snapshots]
    gaps = sum(1 for a, b in itertools.pairwise(days) if (b - a).days > 1)
    assert gaps >= 3


def test_prefixes_appear_over_time_and_extra_collections_exist(demo_engine: Engine) -> None:
    snapshots = history(demo_engine, "acme-corp")
    assert "exports/" not in snapshots[0]["storage"]["by_prefix"]
    assert "exports/" in snapshots[-1]["storage"]["by_prefix"]
    assert "event" in snapshots[-1]["records"]


def test_demo_loads_only_into_an_empty_database(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add(Client(bucket_id="mine", display_name="Mine", status="active",
                           client_since=TODAY))  # fmt: skip
    with Session(engine) as session, session.begin():
        assert load_demo_if_empty(session, TODAY) is False
    assert count_rows(engine)[:2] == (1, 0)


def test_clear_demo_ends_the_demo_and_keeps_its_snapshots(demo: Engine) -> None:
    before = count_rows(demo)
    with Session(demo) as session, session.begin():
        assert is_demo(session)
        clear_demo(session)
        assert not is_demo(session)  # within the same transaction already
    with Session(demo) as session:
        assert not is_demo(session)
    assert count_rows(demo) == before


def test_three_clients_have_plans_one_near_its_storage_limit(demo: Engine) -> None:
    with Session(demo) as session:
        plans = {
            bucket: read_plan(session, bucket)
            for bucket in ("acme-corp", "globex", "umbrella-health", "initech")
        }
        events = list_events(session)
    assert plans["initech"] is None
    for bucket in ("acme-corp", "globex", "umbrella-health"):
        plan, latest = plans[bucket], history(demo, bucket)[-1]
        assert plan is not None
        assert plan.records is not None
        assert plan.storage_bytes is not None
        assert plan.records > latest["records"]["total"]
        assert plan.storage_bytes > latest["storage"]["total_bytes"]
    # Globex's storage is within a few percent of its limit: the forecast
    # reaches it within weeks (an alert, and Needs attention, on the demo).
    globex, latest = plans["globex"], history(demo, "globex")[-1]
    assert globex is not None
    assert globex.storage_bytes is not None
    assert globex.storage_bytes <= latest["storage"]["total_bytes"] * 1.05
    assert {(event["actor"], event["action"]) for event in events} == {("demo", "plan_set")}
    assert sorted(event["target"] for event in events) == ["acme-corp", "globex",
                                                           "umbrella-health"]  # fmt: skip


def test_a_second_load_leaves_a_changed_plan_alone(demo: Engine) -> None:
    with Session(demo) as session, session.begin():
        set_plan(session, "acme-corp", Plan(records=1_000_000), actor=Actor("cli:ops"))
    with Session(demo) as session, session.begin():
        load_demo(session, TODAY + dt.timedelta(days=2))
    with Session(demo) as session:
        assert read_plan(session, "acme-corp") == Plan(records=1_000_000)
