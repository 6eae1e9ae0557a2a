"""The alerts' cost after a collection run: every client evaluated, against
only the one whose snapshot changed.

    python -m bench.alerts [--clients 1000] [--days 150] [--backend sqlite|postgresql|both]

Before the change every run evaluated every client (the first case);
now a collection run passes the clients it stored (the second).

The data set is the benchmark portfolio (``bench.generate``) of ``--clients``
clients over ``--days`` days, loaded once into its own database
(``alerts-<clients>-<days>.sqlite3`` under the benchmark directory, or
``usage_bench_alerts_<clients>_<days>`` on the PostgreSQL server) and reused; every
client gets a plan at twice its newest totals, so each evaluated client
costs its history read and two forecasts. No receiver is configured: the
time is the evaluation's. Each case runs once to settle the events, then
``--repeat`` times; the median is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench._common import (
    BENCH_DIR,
    add_backend_argument,
    chosen_backends,
    load,
    postgres_server_url,
    save_results,
)
from bench.generate import _create_postgres_database, day_strings, load_postgres, load_sqlite
from usage.alerts import run_alerts
from usage.audit import cli_actor
from usage.collect.config import AlertConfig
from usage.db import make_engine
from usage.models import Client, LatestSnapshot
from usage.plans import Plan, set_plan

SEED = 6
NOW = dt.datetime(2026, 6, 30, 6, 0, tzinfo=dt.UTC)


def dataset_url(backend: str, clients: int, days: int) -> str | None:
    """The data set's URL, loaded first when it is not there yet."""
    end = day_strings(NOW.date(), days)
    if backend == "sqlite":
        path = BENCH_DIR / f"alerts-{clients}-{days}.sqlite3"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            load_sqlite(path, clients, end, SEED)
            _give_plans(f"sqlite:///{path}")
        return f"sqlite:///{path}"
    server = postgres_server_url()
    if server is None:
        return None
    url = make_url(server).set(database=f"usage_bench_alerts_{clients}_{days}")
    rendered = url.render_as_string(hide_password=False)
    engine = make_engine(server)
    try:
        with engine.connect() as connection:
            exists = connection.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": url.database}
            ).first()
    finally:
        engine.dispose()
    if exists is None:
        _create_postgres_database(rendered, replace=False)
        load_postgres(rendered, clients, end, SEED)
        _give_plans(rendered)
    return rendered


def _give_plans(url: str) -> None:
    """Every client a plan at twice its newest totals (records and storage)."""
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        rows = session.execute(
            select(Client.bucket_id, LatestSnapshot.total_records, LatestSnapshot.total_bytes).join(
                LatestSnapshot, LatestSnapshot.client_id == Client.id
            )
        ).all()
        for bucket_id, records, size in rows:
            plan = Plan(records=2 * records + 1, storage_bytes=2 * size + 1)
            set_plan(session, bucket_id, plan, actor=cli_actor())
    engine.dispose()


def timed(call: Callable[[], object], repeat: int) -> float:
    call()  # settles the events: the timed runs only refresh them
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def measure(engine: Engine, repeat: int) -> dict[str, float]:
    with Session(engine) as session:
        one = session.scalar(select(Client.id).order_by(Client.id).limit(1))
    assert one is not None
    config = AlertConfig()
    cases: dict[str, Callable[[], object]] = {
        # What every run did before, and what client_ids=None still does.
        "every client": lambda: run_alerts(engine, config, client_ids=None, now=NOW),
        "one client collected": lambda: run_alerts(engine, config, client_ids=[one], now=NOW),
    }
    results: dict[str, float] = {}
    for name, call in cases.items():
        results[name] = round(timed(call, repeat), 3)
        print(f"  {name}: {results[name]:.3f} s ({load()})", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3)
    add_backend_argument(parser)
    args = parser.parse_args()
    results = []
    for backend in chosen_backends(args):
        url = dataset_url(backend, args.clients, args.days)
        if url is None:
            print(f"{backend} skipped: no PostgreSQL server named")
            continue
        print(f"{backend}: {args.clients:,} clients with plans x {args.days} days")
        engine = make_engine(url)
        try:
            results.append({"backend": backend, "clients": args.clients,
                            **measure(engine, args.repeat)})  # fmt: skip
        finally:
            engine.dispose()
    save_results("alerts", results)


if __name__ == "__main__":
    main()
