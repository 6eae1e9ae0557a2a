"""``snapshots`` partitioned by date range on PostgreSQL (``usage.partitions``):
the conversion keeps every row, key and foreign key, each row sits in its
period's partition, partitions are added ahead, and what cannot be done is
refused with nothing changed. The product's own tests run on a partitioned
store in tests/test_partitioned_store.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests.conftest import Cli, new_database_url
from tests.factories import api_history, days, new_client, snapshot
from usage.db import make_engine
from usage.errors import UsageError
from usage.models import Client, Snapshot, SnapshotBody
from usage.partitions import (
    TABLES,
    Partitioning,
    Period,
    is_partitioned,
    next_period,
    partition_snapshots,
    period_name,
    period_start,
)
from usage.snapshots import insert_snapshots, replace_snapshots
from usage.totals import rebuild

D = dt.date
TODAY = D(2025, 2, 10)
# Two clients over three years: every table gets rows in 2023, 2024 and 2025.
HISTORY = days(D(2023, 11, 25), 30) + days(D(2024, 6, 25), 10) + days(D(2025, 1, 28), 14)
KEPT_TABLES = (*TABLES, "portfolio_changes", "latest_snapshots")


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Engine]:
    """A PostgreSQL store, not partitioned, holding ``HISTORY`` for two
    clients (extra collections and several prefixes) and a client without
    snapshots."""
    engine = make_engine(new_database_url(request, "postgresql", tmp_path))
    with Session(engine) as session, session.begin():
        acme = new_client(session, "acme-corp")
        globex = new_client(session, "globex")
        new_client(session, "empty-co")
        insert_snapshots(
            session,
            [(acme, snapshot(day, scale=i + 1, extra={"event": i}))
               for i, day in enumerate(HISTORY)]
            + [(globex, snapshot(day, prefixes={"(root)": (1, i), "a/": (2, 3)}))
               for i, day in enumerate(HISTORY[::3])],
        )  # fmt: skip
    yield engine
    engine.dispose()


def partition(engine: Engine, period: Period, **kwargs: Any) -> Partitioning:
    kwargs.setdefault("today", TODAY)
    with Session(engine) as session, session.begin():
        return partition_snapshots(session, period, **kwargs)


def everything(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the snapshot tables and of the kept totals, sorted."""
    with engine.connect() as connection:
        return {
            table: sorted(tuple(row) for row in connection.execute(text(f"SELECT * FROM {table}")))
            for table in KEPT_TABLES
        }


def placement(engine: Engine, table: str) -> dict[str, set[dt.date]]:
    """The days each partition of ``table`` holds."""
    held: dict[str, set[dt.date]] = {}
    with engine.connect() as connection:
        for name, day in connection.execute(
            text(f"SELECT tableoid::regclass::text, snapshot_date FROM {table}")
        ):
            held.setdefault(name, set()).add(day)
    return held


def expected_partition(table: str, day: dt.date, period: Period) -> str:
    start = period_start(day, period)
    return f"{table}_{period_name(start, next_period(start, period))}"


@pytest.mark.parametrize(
    ("period", "periods"),
    [
        (Period.YEAR, ["2023", "2024", "2025", "2026"]),
        (Period.QUARTER, ["2023q4", "2024q1", "2024q2", "2024q3", "2024q4", "2025q1", "2025q2"]),
    ],
)
def test_the_conversion_keeps_every_row_and_puts_each_in_its_period(
    store: Engine, period: Period, periods: list[str]
) -> None:
    before = everything(store)
    histories = {bucket: api_history(store, bucket) for bucket in ("acme-corp", "globex")}
    done = partition(store, period)
    assert done.converted
    assert done.added == done.periods == periods
    assert everything(store) == before
    assert {bucket: api_history(store, bucket) for bucket in histories} == histories
    with Session(store) as session:
        assert is_partitioned(session)
    for table in TABLES:
        held = placement(store, table)
        assert f"{table}_default" not in held
        for name, in_partition in held.items():
            assert {expected_partition(table, day, period) for day in in_partition} == {name}
        assert set().union(*held.values()) == set(HISTORY)


def test_keys_and_foreign_keys_hold_on_the_partitioned_tables(store: Engine) -> None:
    partition(store, Period.QUARTER)
    row = {"client_id": 1, "snapshot_date": HISTORY[0], "body": b"{}"}
    with pytest.raises(IntegrityError), Session(store) as session, session.begin():
        session.execute(insert(SnapshotBody), row)  # a second body for the same day
    with pytest.raises(IntegrityError), Session(store) as session, session.begin():
        session.execute(
            insert(SnapshotBody), {**row, "snapshot_date": D(2024, 1, 1)}
        )  # no snapshot
    with pytest.raises(IntegrityError), Session(store) as session, session.begin():
        session.execute(insert(Snapshot), snapshot_columns(99, D(2024, 5, 1)))  # no client
    with Session(store) as session, session.begin():
        session.execute(delete(Client).where(Client.bucket_id == "acme-corp"))
    with store.connect() as connection:
        for table in TABLES:
            left = connection.scalar(text(f"SELECT count(*) FROM {table} WHERE client_id = 1"))
            assert left == 0, table


def snapshot_columns(client_id: int, day: dt.date) -> dict[str, Any]:
    return {"client_id": client_id, "snapshot_date": day, "total_records": 0, "object_count": 0,
            "total_bytes": 0, "computed_at": dt.datetime(2024, 5, 1, tzinfo=dt.UTC)}  # fmt: skip


def test_writes_after_the_conversion_land_in_their_partitions_and_keep_the_totals(
    store: Engine,
) -> None:
    partition(store, Period.YEAR, today=D(2026, 12, 1))  # 2023 to 2027
    new_days = [D(2026, 12, 31), D(2027, 1, 1), D(2024, 6, 30)]
    with Session(store) as session, session.begin():
        acme = new_client(session, "initech")
        insert_snapshots(session, [(acme, snapshot(day, scale=2)) for day in new_days[:2]])
        replace_snapshots(session, [(1, snapshot(new_days[2], scale=7, extra={"donation": 3}))])
    held = placement(store, "snapshot_prefixes")
    assert {D(2026, 12, 31)} <= held["snapshot_prefixes_2026"]
    assert {D(2027, 1, 1)} <= held["snapshot_prefixes_2027"]
    assert [s["records"]["donation"] for s in api_history(store, "acme-corp")
            if s["snapshot_date"] == "2024-06-30"] == [3]  # fmt: skip
    kept = everything(store)
    with Session(store) as session, session.begin():
        rebuild(session)
    assert everything(store) == kept


def test_partitions_are_added_ahead_and_running_again_changes_nothing(store: Engine) -> None:
    assert partition(store, Period.YEAR).added == ["2023", "2024", "2025", "2026"]
    again = partition(store, Period.YEAR)
    assert (again.converted, again.added) == (False, [])
    later = partition(store, Period.YEAR, today=D(2026, 6, 1), ahead=2)
    assert later.added == ["2027", "2028"]
    # Quarters fill what the years leave, and no more.
    finer = partition(store, Period.QUARTER, today=D(2028, 11, 1), ahead=2)
    assert finer.added == ["2029q1", "2029q2"]
    assert finer.periods == ["2023", "2024", "2025", "2026", "2027", "2028", *finer.added]


@pytest.mark.parametrize(
    ("written", "later", "added"),
    [
        # A backfill before the first partition, then partitions from earlier.
        (D(2021, 5, 1), {"first": D(2020, 1, 1)}, ["2020", "2021", "2022", "2026"]),
        # A day after the last partition: the cron job had not run.
        (D(2027, 3, 1), {"today": D(2027, 3, 2)}, ["2026", "2027", "2028"]),
    ],
)
def test_a_day_outside_every_range_waits_in_the_default_until_its_period_is_added(
    store: Engine, written: dt.date, later: dict[str, Any], added: list[str]
) -> None:
    partition(store, Period.YEAR, ahead=0)  # 2023 to 2025
    with Session(store) as session, session.begin():
        insert_snapshots(session, [(3, snapshot(written, extra={"event": 2}))])
    for table in TABLES:
        assert placement(store, table)[f"{table}_default"] == {written}
    before = everything(store)
    done = partition(store, Period.YEAR, **later)
    assert (done.added, done.moved) == (added, 1)
    assert everything(store) == before
    for table in TABLES:
        held = placement(store, table)
        assert f"{table}_default" not in held
        assert held[f"{table}_{written.year}"] == {written}
    assert [s["snapshot_date"] for s in api_history(store, "empty-co")] == [written.isoformat()]
    with pytest.raises(IntegrityError), Session(store) as session, session.begin():
        session.execute(insert(Snapshot), snapshot_columns(3, written))  # its key holds


def test_a_foreign_key_from_another_table_is_refused_and_nothing_changes(store: Engine) -> None:
    with store.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE notes (client_id integer, snapshot_date date,"
                " FOREIGN KEY (client_id, snapshot_date)"
                " REFERENCES snapshots (client_id, snapshot_date))"
            )
        )
    with pytest.raises(UsageError, match=r"notes\.notes_client_id_snapshot_date_fkey references"):
        partition(store, Period.YEAR)
    with Session(store) as session:
        assert not is_partitioned(session)


def test_the_command(cli: Cli, backend: str, engine: Engine) -> None:
    code, out, err = cli("db", "partition-snapshots", "--by", "quarter", "--ahead", "0")
    if backend == "sqlite":
        assert (code, out) == (2, "")
        assert err == "error: partitioning is for a PostgreSQL store; SQLite stays as it is\n"
        return
    start = period_start(dt.datetime.now(dt.UTC).date(), Period.QUARTER)
    this_quarter = period_name(start, next_period(start, Period.QUARTER))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "partitioned by quarter: " + ", ".join(TABLES),
        f"partitions added: {this_quarter}",
        f"partitions: {this_quarter} and a default",
    ]
    code, out, err = cli("db", "partition-snapshots", "--by", "quarter", "--ahead", "0")
    assert (code, out.splitlines()[0]) == (0, "no partition to add")
    code, _, err = cli("db", "partition-snapshots", "--from", "1 May")
    assert (code, err) == (2, "error: --from must be a date in YYYY-MM-DD format\n")
    code, _, err = cli("db", "partition-snapshots", "--ahead", "-1")
    assert (code, err) == (2, "error: --ahead must be an integer from 0\n")
