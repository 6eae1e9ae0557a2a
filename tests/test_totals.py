"""The kept portfolio totals and latest snapshots (``usage.totals``) stay what
the snapshots say, through every way snapshots are written, on both backends.

Each check compares the tables with an independent reading: every snapshot
read back and summed in Python, a client at its latest snapshot on or
before each day.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from collections import defaultdict
from typing import Any

from alembic import command
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from tests.factories import days, new_client, store
from tests.factories import snapshot_of_total as snapshot
from usage.db import alembic_config, for_writes
from usage.demo import load_demo
from usage.models import STANDARD_COLLECTIONS, LatestSnapshot, Snapshot
from usage.portfolio import (
    read_portfolio_totals,
    summarize_clients,
    summarize_portfolio,
)
from usage.snapshots import SnapshotData, insert_snapshots, replace_snapshots
from usage.totals import CHANGE_DAYS, rebuild
from usage.transfer import import_snapshots

D = dt.date
FIRST, LAST = D(2024, 1, 1), D(2024, 3, 31)


def _expected_totals(engine: Engine, start: dt.date, end: dt.date) -> list[tuple[Any, ...]]:
    """Each day's (day, records, bytes, clients counted, stale) from every
    snapshot, days before any snapshot left out."""
    by_client: dict[int, dict[dt.date, tuple[int, int]]] = defaultdict(dict)
    with engine.connect() as connection:
        for client_id, day, records, size in connection.execute(
            select(
                Snapshot.client_id,
                Snapshot.snapshot_date,
                Snapshot.total_records,
                Snapshot.total_bytes,
            )
        ):
            by_client[client_id][day] = (records, size)
    expected: list[tuple[Any, ...]] = []
    for day in days(start, (end - start).days + 1):
        records = size = counted = fresh = 0
        for history in by_client.values():
            before = [d for d in history if d <= day]
            if before:
                counted += 1
                fresh += day in history
                records += history[max(before)][0]
                size += history[max(before)][1]
        if counted:
            expected.append((day, records, size, counted, counted - fresh))
    return expected


def _expected_latest(engine: Engine) -> dict[int, tuple[Any, ...]]:
    by_client: dict[int, dict[dt.date, int]] = defaultdict(dict)
    with engine.connect() as connection:
        for client_id, day, records in connection.execute(
            select(Snapshot.client_id, Snapshot.snapshot_date, Snapshot.total_records)
        ):
            by_client[client_id][day] = records
    expected: dict[int, tuple[Any, ...]] = {}
    for client_id, history in by_client.items():
        latest = max(history)
        older = [d for d in history if d <= latest - dt.timedelta(days=CHANGE_DAYS)]
        baseline = max(older) if older else None
        expected[client_id] = (latest, history[latest], baseline,
                               history[baseline] if baseline else None)  # fmt: skip
    return expected


def _assert_kept(engine: Engine) -> None:
    with Session(engine) as session:
        kept = [
            (day.snapshot_date, day.total_records, day.total_bytes, day.clients, day.stale)
            for day in read_portfolio_totals(session, FIRST, LAST, visible=None)
        ]
        latest = {
            row.client_id: (
                row.snapshot_date,
                row.total_records,
                row.baseline_date,
                row.baseline_records,
            )
            for row in session.scalars(select(LatestSnapshot))
        }
    assert kept == _expected_totals(engine, FIRST, LAST)
    assert latest == _expected_latest(engine)


def test_random_writes_keep_the_tables_true(engine: Engine) -> None:
    """Inserts, replacements (bigger and smaller), backfills before the first
    day, gaps filled later, new clients: after each transaction the tables
    are what the snapshots say."""
    rng = random.Random(7)
    with Session(engine) as session, session.begin():
        clients = [new_client(session, f"client-{n}") for n in range(4)]
    taken: set[tuple[int, dt.date]] = set()
    for _ in range(25):
        with Session(engine) as session, session.begin():
            items: list[tuple[int, SnapshotData]] = []
            for _ in range(rng.randint(1, 6)):
                client = rng.choice(clients)
                day = FIRST + dt.timedelta(days=rng.randint(0, 90))
                if (client, day) not in {(c, d.snapshot_date) for c, d in items}:
                    items.append((client, snapshot(day, rng.randint(0, 5000))))
            if all((c, d.snapshot_date) not in taken for c, d in items) and rng.random() < 0.5:
                insert_snapshots(session, items)
            else:
                replace_snapshots(session, items)
            taken.update((c, d.snapshot_date) for c, d in items)
        _assert_kept(engine)


def test_a_failed_write_leaves_the_tables_as_they_were(engine: Engine) -> None:
    store(engine, "alpha", [snapshot(day, 100) for day in days(FIRST, 10)])
    with Session(engine) as session, session.begin():
        client = new_client(session, "beta")
    try:
        with Session(engine) as session, session.begin():
            replace_snapshots(session, [(client, snapshot(FIRST, 50))])
            # The same day twice in one insert: the primary key refuses it.
            insert_snapshots(session, [(client, snapshot(D(2024, 2, 1), 1))] * 2)
    except Exception:
        pass
    else:
        raise AssertionError("the duplicate snapshot was stored")
    _assert_kept(engine)
    with Session(engine) as session:
        (day,) = read_portfolio_totals(session, FIRST, FIRST, visible=None)
    assert (day.total_records, day.clients) == (100, 1)


def test_an_import_and_the_demo_keep_the_tables_true(engine: Engine) -> None:
    store(engine, "alpha", [snapshot(day, 10 * day.day) for day in days(FIRST, 60, skip=[5])])
    lines = [
        json.dumps(
            {
                "bucket_id": bucket,
                "snapshot_date": day.isoformat(),
                "records": {
                    **dict.fromkeys(STANDARD_COLLECTIONS, 0),
                    "person": total,
                    "total": total,
                },
                "storage": {
                    "object_count": 1,
                    "total_bytes": total,
                    "by_prefix": {"a/": {"count": 1, "bytes": total}},
                },
                "computed_at": f"{day.isoformat()}T02:00:00Z",
            }
        )
        # alpha's missing day filled and two of its days replaced; a new client.
        for bucket, day, total in [
            ("alpha", D(2024, 1, 6), 7),
            ("alpha", D(2024, 1, 20), 1),
            ("alpha", D(2024, 2, 29), 99999),
            ("gamma", D(2024, 1, 3), 5),
            ("gamma", D(2024, 3, 30), 8),
        ]
    ]
    with Session(engine) as session, session.begin():
        import_snapshots(session, lines, create_clients=True)
    _assert_kept(engine)
    with Session(engine) as session, session.begin():
        load_demo(session, D(2024, 3, 31))
    _assert_kept(engine)


def test_the_migration_fills_the_tables_from_the_snapshots_already_stored(
    engine: Engine,
) -> None:
    store(engine, "alpha", [snapshot(day, 10 * day.day) for day in days(FIRST, 70, skip=[3])])
    store(engine, "beta", [snapshot(day, 500) for day in days(D(2024, 2, 10), 20)])
    config = alembic_config(engine)
    command.downgrade(config, "0004")  # the tables are dropped...
    with engine.begin() as connection:  # ...and a snapshot comes without them
        connection.execute(
            text(
                "INSERT INTO snapshots (client_id, snapshot_date, person, organisation, member,"
                " payment, ticket, booking, total_records, object_count, total_bytes,"
                " computed_at) SELECT client_id, :day, 0, 0, 0, 0, 0, 0, 1, 1, 1, computed_at"
                " FROM snapshots WHERE snapshot_date = :first"
            ),
            {"day": D(2024, 3, 31), "first": FIRST},
        )
    command.upgrade(config, "head")
    _assert_kept(engine)


def test_rebuild_makes_the_same_tables(engine: Engine) -> None:
    store(engine, "alpha", [snapshot(day, 3 * day.day) for day in days(FIRST, 80, skip=[9, 40])])
    store(engine, "beta", [snapshot(day, 70) for day in days(D(2024, 2, 1), 10)])
    with Session(engine) as session:
        before = read_portfolio_totals(session, FIRST, LAST, visible=None)
    with engine.begin() as connection:
        rebuild(connection)
    with Session(engine) as session:
        assert read_portfolio_totals(session, FIRST, LAST, visible=None) == before
    _assert_kept(engine)


def test_the_kept_rows_answer_as_the_snapshots_do(engine: Engine) -> None:
    """The pages' view (as of the newest day) reads ``latest_snapshots`` and
    the daily changes; any other day and any book look the snapshots up.
    Both ways give the same rows and totals."""
    store(engine, "alpha", [snapshot(day, 1000 + 10 * day.day) for day in days(FIRST, 91)])
    store(engine, "beta", [snapshot(day, 50) for day in days(D(2024, 3, 20), 12)])
    store(engine, "delta", [snapshot(day, 700) for day in days(FIRST, 31)])
    store(engine, "gamma", [snapshot(day, 2000 - day.day) for day in days(D(2024, 2, 20), 41)])
    everyone = frozenset({"alpha", "beta", "delta", "gamma", "late"})
    with Session(engine) as session:
        kept_rows = summarize_clients(session, as_of=LAST, visible=None, sort="-change_pct")
        kept_summary = summarize_portfolio(session, as_of=LAST, visible=None)
        kept_days = read_portfolio_totals(session, FIRST, LAST, visible=None)
    # A client with a snapshot after the day makes the day an earlier one.
    store(engine, "late", [snapshot(LAST + dt.timedelta(days=1), 5)])
    with Session(engine) as session:
        looked_up = summarize_clients(session, as_of=LAST, visible=None, sort="-change_pct")
        book_summary = summarize_portfolio(session, as_of=LAST, visible=everyone)
        book_days = read_portfolio_totals(session, FIRST, LAST, visible=everyone)
    assert [row for row in looked_up if row.bucket_id != "late"] == kept_rows
    assert [row.bucket_id for row in kept_rows] == ["alpha", "gamma", "beta", "delta"]
    assert (book_summary.total_records, book_summary.change) == (
        kept_summary.total_records,
        kept_summary.change,
    )
    assert book_days == kept_days


def test_concurrent_writers_add_up(engine: Engine) -> None:
    """Collections of many clients on the same day, in parallel, and two
    writers of one client on different days: every transaction commits
    (no serialisation failure on the shared day's row) and the totals are
    the snapshots' own."""
    with Session(engine) as session, session.begin():
        clients = [new_client(session, f"client-{n}") for n in range(6)]
    writes = [[(client, snapshot(day, 100 * n + day.day))] for n, client in enumerate(clients)
              for day in days(D(2024, 3, 1), 5)]  # fmt: skip
    # The same client from two writers, days interleaved.
    writes += [[(clients[0], snapshot(day, 7 * day.day))] for day in days(D(2024, 2, 1), 20)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def write(share: list[list[tuple[int, SnapshotData]]]) -> None:
        barrier.wait()
        try:
            for items in share:
                with Session(for_writes(engine)) as session, session.begin():
                    replace_snapshots(session, items)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(writes[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _assert_kept(engine)
