"""Load a synthetic portfolio into SQLite and PostgreSQL, fast, and report the rate.

    python -m bench.generate                      # 10,000 clients x 1,095 days, both backends
    python -m bench.generate --clients 100        # the small portfolio
    python -m bench.generate --backend sqlite --sqlite /tmp/x.sqlite3 --replace
    python -m bench.generate --people-only        # add the people and audit trail alone

The schema is made by ``usage.db.upgrade_schema``; the rows then go in by the
bulk paths: ``sqlite3.executemany`` in large transactions with the journal
off, and PostgreSQL ``COPY`` through psycopg. The secondary index on
``(snapshot_date, client_id)`` is dropped for the load and built again after
it (a sort, instead of millions of random inserts), and on PostgreSQL the
foreign-key triggers are skipped (``session_replication_role = replica``: the
rows are consistent by construction). Both end with ``ANALYZE``.

Every number is a function of the seed, the client and the day: each client
has a size, a growth rate, a mix of the six standard collections, 0 to 3 extra
collections (some appearing part way through) and 2 to 4 storage prefixes.

The People and Audit pages need people: ``add_people`` adds ``PEOPLE`` of
them through the product's own ``usage.people.add_person`` (an admin, analysts
and managers with books of ``BOOK_SIZE`` clients), which audits each, and
sign-ins up to ``AUDIT_EVENTS`` events in all (the Audit page's 1,000), one
every ``SIGN_IN_SPACING`` back from the present.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench._common import (
    BENCH_DIR,
    add_backend_argument,
    chosen_backends,
    libpq_url,
    load,
    postgres_url,
    save_results,
    sqlite_url,
)
from usage.audit import Action, Actor, record
from usage.db import make_engine, upgrade_schema
from usage.models import ROOT_PREFIX, AuditEvent, Client, Person, Role
from usage.people import add_person
from usage.snapshots import encode_bodies
from usage.totals import rebuild

EXTRA_COLLECTIONS = ("event", "donation", "appointment", "volunteer", "grant")
PREFIXES = ("documents/", "images/", "exports/", ROOT_PREFIX, "scans/", "backups/")
STATUSES = ("active", "inactive", "suspended", "trial")
STATUS_WEIGHTS = (0.8, 0.1, 0.05, 0.05)
_WORDS = ("Acme", "Blue", "Cedar", "Delta", "Echo", "Falcon", "Granite", "Harbor", "Iris",
          "Juniper", "Kestrel", "Lumen", "Maple", "North", "Orchid", "Pioneer", "Quartz",
          "River", "Summit", "Tidal", "Unity", "Vista", "Willow", "Zenith")  # fmt: skip
_KINDS = ("Foundation", "Trust", "Society", "Club", "Charity", "Association", "Group", "Ltd")
PEOPLE = 60  # one admin, 9 analysts, 50 managers
BOOK_SIZE = 40  # a manager's clients
AUDIT_EVENTS = 1_000
SIGN_IN_SPACING = dt.timedelta(days=29) / AUDIT_EVENTS  # the sign-ins' 29 days and a bit
SNAPSHOT_INDEX = "ix_snapshots_snapshot_date"
CREATE_SNAPSHOT_INDEX = f"CREATE INDEX {SNAPSHOT_INDEX} ON snapshots (snapshot_date, client_id)"
# Clients per transaction (SQLite) or per COPY (PostgreSQL).
BATCH_CLIENTS = 100


@dataclass
class ClientRows:
    client: tuple[object, ...]
    snapshots: list[tuple[object, ...]]
    collections: list[tuple[object, ...]]
    prefixes: list[tuple[object, ...]]
    bodies: list[tuple[Any, Any, bytes]]


def _client_rows(client_id: int, days: list[str], seed: int, timestamp_suffix: str) -> ClientRows:
    """One client's rows; dates are ISO strings, which both backends take."""
    rng = np.random.default_rng([seed, client_id])
    n = len(days)
    t = np.arange(n) / 365.0
    base = float(np.clip(np.exp(rng.normal(10.5, 1.4)), 300, 5_000_000))
    growth = rng.normal(0.25, 0.3)
    level = base * np.exp(growth * t) * (1 + 0.01 * np.sin(2 * np.pi * np.arange(n) / 7))
    level *= 1 + 0.01 * np.cumsum(rng.normal(0, 0.05, n)) / np.sqrt(np.arange(1, n + 1))
    if rng.random() < 0.1:  # a bulk import or a purge
        level[rng.integers(n) :] *= rng.choice((0.5, 1.6))
    mix = rng.dirichlet(np.full(6, 2.0))
    standard = (level[:, None] * mix[None, :]).astype(np.int64)
    total = standard.sum(axis=1)

    collections: list[tuple[object, ...]] = []
    extra_count = int(rng.choice(4, p=(0.4, 0.3, 0.2, 0.1)))
    for name in sorted(rng.choice(EXTRA_COLLECTIONS, extra_count, replace=False)):
        start = 0 if rng.random() < 0.5 else int(rng.integers(int(n * 0.7)))
        counts = (level * rng.uniform(0.05, 0.3)).astype(np.int64)
        counts[:start] = 0
        total += counts
        collections.extend(
            (client_id, day, str(name), count)
            for day, count in zip(days[start:], counts[start:].tolist(), strict=True)
        )

    prefixes: list[tuple[object, ...]] = []
    object_count = np.zeros(n, dtype=np.int64)
    total_bytes = np.zeros(n, dtype=np.int64)
    for name in rng.choice(PREFIXES, int(rng.integers(2, 5)), replace=False):
        objects = (total * rng.uniform(0.001, 0.06)).astype(np.int64) + 1
        size = objects * np.exp(rng.normal(12, 1)) * (1 + 0.005 * rng.random(n))
        sizes = size.astype(np.int64)
        object_count += objects
        total_bytes += sizes
        prefixes.extend(
            zip(
                [client_id] * n,
                days,
                [str(name)] * n,
                objects.tolist(),
                sizes.tolist(),
                strict=True,
            )
        )
    # Rows in key order: (client_id, snapshot_date, prefix).
    prefixes.sort(key=lambda row: (row[1], row[2]))
    collections.sort(key=lambda row: (row[1], row[2]))

    minute = client_id % 50
    computed = [f"{day} 02:{minute:02d}:07{timestamp_suffix}" for day in days]
    snapshots = list(
        zip([client_id] * n, days, *standard.T.tolist(), total.tolist(),
            object_count.tolist(), total_bytes.tolist(), computed, strict=True)
    )  # fmt: skip

    words = rng.choice(_WORDS, 2, replace=False)
    status = str(rng.choice(STATUSES, p=STATUS_WEIGHTS))
    since = days[0]
    trial_end = days[-1] if status == "trial" else None
    created = f"{since} 00:00:00{timestamp_suffix}"
    client = (client_id, f"client-{client_id:05d}",
              f"{words[0]} {words[1]} {rng.choice(_KINDS)} {client_id}",
              status, trial_end, since, created)  # fmt: skip
    # The API bodies, encoded by the product's own function from these rows.
    bodies = encode_bodies(snapshots, collections, prefixes)
    return ClientRows(client, snapshots, collections, prefixes, bodies)


def _batches(
    clients: int, days: list[str], seed: int, timestamp_suffix: str
) -> Iterator[list[ClientRows]]:
    for first in range(1, clients + 1, BATCH_CLIENTS):
        last = min(first + BATCH_CLIENTS, clients + 1)
        yield [_client_rows(cid, days, seed, timestamp_suffix) for cid in range(first, last)]


@dataclass
class LoadStats:
    backend: str
    clients: int = 0
    snapshots: int = 0
    collections: int = 0
    prefixes: int = 0
    bodies: int = 0
    load_seconds: float = 0.0
    index_seconds: float = 0.0
    totals_seconds: float = 0.0

    @property
    def rows(self) -> int:
        return self.clients + self.snapshots + self.collections + self.prefixes + self.bodies

    def add(self, batch: list[ClientRows]) -> None:
        self.clients += len(batch)
        for rows in batch:
            self.snapshots += len(rows.snapshots)
            self.collections += len(rows.collections)
            self.prefixes += len(rows.prefixes)
            self.bodies += len(rows.bodies)

    def report(self) -> dict[str, object]:
        total = self.load_seconds + self.index_seconds
        return {
            "backend": self.backend,
            "clients": self.clients,
            "snapshots": self.snapshots,
            "collection_rows": self.collections,
            "prefix_rows": self.prefixes,
            "body_rows": self.bodies,
            "rows": self.rows,
            "load_seconds": round(self.load_seconds, 1),
            "index_and_analyze_seconds": round(self.index_seconds, 1),
            "totals_seconds": round(self.totals_seconds, 1),
            "snapshots_per_second": round(self.snapshots / total),
            "rows_per_second": round(self.rows / total),
        }


def _progress(stats: LoadStats, started: float, total_clients: int) -> None:
    if stats.clients % 1000 == 0 or stats.clients == total_clients:
        rate = stats.rows / (time.perf_counter() - started)
        print(f"  {stats.backend}: {stats.clients}/{total_clients} clients,"
              f" {stats.rows:,} rows, {rate:,.0f} rows/s ({load()})", flush=True)  # fmt: skip


def load_sqlite(path: Path, clients: int, days: list[str], seed: int) -> LoadStats:
    engine = make_engine(f"sqlite:///{path}")
    upgrade_schema(engine)
    engine.dispose()
    stats = LoadStats("sqlite")
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000",
                   "temp_store=MEMORY", "locking_mode=EXCLUSIVE"):  # fmt: skip
        connection.execute(f"PRAGMA {pragma}")
    connection.execute(f"DROP INDEX {SNAPSHOT_INDEX}")
    started = time.perf_counter()
    for batch in _batches(clients, days, seed, ".000000"):
        connection.execute("BEGIN")
        connection.executemany(
            "INSERT INTO clients (id, bucket_id, display_name, status, trial_end_date,"
            " client_since, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [rows.client for rows in batch],
        )
        for rows in batch:
            connection.executemany(
                "INSERT INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows.snapshots
            )
            connection.executemany(
                "INSERT INTO snapshot_collections VALUES (?, ?, ?, ?)", rows.collections
            )
            connection.executemany(
                "INSERT INTO snapshot_prefixes VALUES (?, ?, ?, ?, ?)", rows.prefixes
            )
            connection.executemany("INSERT INTO snapshot_bodies VALUES (?, ?, ?)", rows.bodies)
        connection.execute("COMMIT")
        stats.add(batch)
        _progress(stats, started, clients)
    stats.load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    connection.execute(CREATE_SNAPSHOT_INDEX)
    connection.execute("ANALYZE")
    connection.execute("PRAGMA locking_mode=NORMAL")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.close()
    stats.index_seconds = time.perf_counter() - started
    stats.totals_seconds = _rebuild_totals(f"sqlite:///{path}")
    return stats


def _rebuild_totals(url: str) -> float:
    """The portfolio's kept totals (``usage.totals``), which the bulk load
    bypassed, made from the loaded snapshots; returns the seconds taken."""
    started = time.perf_counter()
    engine = make_engine(url)
    with engine.begin() as connection:
        rebuild(connection)
    engine.dispose()
    return time.perf_counter() - started


def _create_postgres_database(url: str, replace: bool) -> None:
    parsed = make_url(url)
    name = parsed.database
    admin = libpq_url(parsed.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(admin, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if exists and not replace:
            sys.exit(f"database {name} exists: pass --replace to load it again")
        if exists:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def load_postgres(url: str, clients: int, days: list[str], seed: int) -> LoadStats:
    engine = make_engine(url)
    upgrade_schema(engine)
    engine.dispose()
    stats = LoadStats("postgresql")
    with psycopg.connect(libpq_url(url)) as connection:
        # Skip the foreign-key triggers: every child row has its snapshot.
        connection.execute("SET session_replication_role = replica")
        connection.execute(f"DROP INDEX {SNAPSHOT_INDEX}")
        connection.commit()
        started = time.perf_counter()
        for batch in _batches(clients, days, seed, "+00"):
            with connection.cursor() as cursor:
                with cursor.copy(
                    "COPY clients (id, bucket_id, display_name, status, trial_end_date,"
                    " client_since, created_at) FROM STDIN"
                ) as copy:
                    for rows in batch:
                        copy.write_row(rows.client)
                for table, attribute in (
                    ("snapshots", "snapshots"),
                    ("snapshot_collections", "collections"),
                    ("snapshot_prefixes", "prefixes"),
                    ("snapshot_bodies", "bodies"),
                ):
                    with cursor.copy(f"COPY {table} FROM STDIN") as copy:
                        for rows in batch:
                            for row in getattr(rows, attribute):
                                copy.write_row(row)
            connection.commit()
            stats.add(batch)
            _progress(stats, started, clients)
        stats.load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        connection.execute(CREATE_SNAPSHOT_INDEX)
        # Rows went in with explicit ids: move the id sequence past them.
        connection.execute(
            "SELECT setval(pg_get_serial_sequence('clients', 'id'), max(id)) FROM clients"
        )
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM (ANALYZE)")
        stats.index_seconds = time.perf_counter() - started
    stats.totals_seconds = _rebuild_totals(url)
    return stats


def add_people(session: Session, seed: int) -> int:
    """``PEOPLE`` people and an audit trail of ``AUDIT_EVENTS`` events, by the
    product's own functions; the events added. A data set that has people
    already is left as it is."""
    if session.scalar(select(func.count()).select_from(Person)):
        return 0
    events = select(func.count()).select_from(AuditEvent)
    before = session.scalar(events) or 0
    rng = np.random.default_rng(seed)
    actor = Actor("bench.generate")
    buckets = session.scalars(select(Client.bucket_id).order_by(Client.id)).all()
    emails = []
    for number in range(PEOPLE):
        role = Role.ADMIN if number == 0 else Role.ANALYST if number < 10 else Role.MANAGER
        email = f"{role.value}{number:02d}@example.com"
        book: list[str] = []
        if role is Role.MANAGER:
            size = min(BOOK_SIZE, len(buckets))
            book = [str(bucket) for bucket in rng.choice(buckets, size, replace=False)]
        add_person(session, email, role, book, actor=actor)
        emails.append(email)
    audited = session.scalar(events) or 0
    last = session.scalar(select(func.max(AuditEvent.id))) or 0
    for number in range(max(0, AUDIT_EVENTS - audited)):
        who = Actor(emails[number % PEOPLE], f"10.0.{number % 250}.{number % 200 + 1}")
        record(session, who, Action.SIGN_IN, who.name)
    # ``record`` stamps each event with the present moment: the sign-ins are
    # spread back over the Audit page's 30 days instead, the last one now.
    signed_in = select(AuditEvent).where(AuditEvent.id > last).order_by(AuditEvent.id.desc())
    for back, event in enumerate(session.scalars(signed_in)):
        event.at = event.at - back * SIGN_IN_SPACING
    return (session.scalar(events) or 0) - before


def _add_people_to(url: str, seed: int) -> int:
    engine = make_engine(url)
    try:
        with Session(engine) as session, session.begin():
            return add_people(session, seed)
    finally:
        engine.dispose()


def day_strings(end: dt.date, count: int) -> list[str]:
    return [(end - dt.timedelta(days=count - 1 - n)).isoformat() for n in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=3 * 365)
    parser.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.date.today(),
                        help="the last snapshot day (default: today)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=6)
    add_backend_argument(parser)
    parser.add_argument("--sqlite", type=Path, help=f"file (default: under {BENCH_DIR})")
    parser.add_argument("--postgres", help="database URL (default: usage_bench_<clients>"
                        " on the server of $USAGE_BENCH_POSTGRES_URL or"
                        " $USAGE_TEST_POSTGRES_URL)")  # fmt: skip
    parser.add_argument("--replace", action="store_true", help="drop an existing data set")
    parser.add_argument("--people-only", action="store_true",
                        help="add the people and audit trail to the data sets alone")  # fmt: skip
    args = parser.parse_args()
    path = args.sqlite or Path(sqlite_url(args.clients).removeprefix("sqlite:///"))
    url: str = args.postgres or postgres_url(args.clients) or ""
    if "postgresql" in chosen_backends(args) and not url:
        sys.exit("no PostgreSQL server: pass --postgres or set USAGE_BENCH_POSTGRES_URL")
    if args.people_only:
        if "sqlite" in chosen_backends(args) and not path.exists():
            sys.exit(f"{path} does not exist: generate the data set first")
        for backend in chosen_backends(args):
            added = _add_people_to(f"sqlite:///{path}" if backend == "sqlite" else url, args.seed)
            print(f"  {backend}: {added:,} audit events added")
        return

    days = day_strings(args.end_date, args.days)
    print(f"{args.clients:,} clients x {len(days):,} days, {days[0]} to {days[-1]} ({load()})")
    results = []
    if "sqlite" in chosen_backends(args):
        if path.exists() and not args.replace:
            sys.exit(f"{path} exists: pass --replace to load it again")
        for stale in path.parent.glob(f"{path.name}*"):
            stale.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        results.append(load_sqlite(path, args.clients, days, args.seed).report())
        _add_people_to(f"sqlite:///{path}", args.seed)
        print(f"  sqlite: {path} is {path.stat().st_size / 2**30:.2f} GiB")
    if "postgresql" in chosen_backends(args):
        _create_postgres_database(url, args.replace)
        results.append(load_postgres(url, args.clients, days, args.seed).report())
        _add_people_to(url, args.seed)
    for result in results:
        print(result)
    save_results(f"generate-{args.clients}", results)


if __name__ == "__main__":
    main()
