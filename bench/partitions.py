"""The history and portfolio queries on the 10,000-client PostgreSQL store,
before and after ``snapshots`` is partitioned by date range (docs/scaling.md).

    psql -c 'CREATE DATABASE usage_bench_10000_partitioned TEMPLATE usage_bench_10000'
    USAGE_DATABASE_URL=.../usage_bench_10000_partitioned python -m usage db upgrade
    USAGE_DATABASE_URL=.../usage_bench_10000_partitioned \\
        python -m usage db partition-snapshots --by year
    python -m bench.partitions [--seconds 3] [--partitioned DATABASE ...]

The plain store, each partitioned copy, then the plain store again (A B A):
the two plain runs show how far the machine's noise alone moves a figure.
Each store is read whole before its run, so both are measured from memory.
The measurements are those of ``bench.history`` (``fetch_history_json`` beside
its floors) and ``bench.portfolio`` (the page's queries beside their replay),
then the history's statement alone on every store in turn.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import history, portfolio
from bench._common import libpq_url, load, postgres_url, save_results, warm
from usage.db import make_engine

CLIENTS = 10_000
# The history's statement (``usage.snapshots._client_range`` of the bodies),
# newest first as the API reads it by default, and from a start date.
STATEMENT = (
    "SELECT body FROM snapshot_bodies WHERE client_id ="
    " (SELECT id FROM clients WHERE bucket_id = %s){start}"
    " ORDER BY snapshot_date DESC LIMIT %s"
)
STATEMENTS = {"newest": "", "from a start date": " AND snapshot_date >= %s"}


def _url(database: str) -> str:
    base = postgres_url(CLIENTS)
    if base is None:
        raise SystemExit("set USAGE_BENCH_POSTGRES_URL to the benchmark server")
    return make_url(base).set(database=database).render_as_string(hide_password=False)


def _describe(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as connection:
        partitions = connection.scalar(
            text("SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass('snapshots')")
        )
        size = connection.scalar(
            text("SELECT pg_size_pretty(pg_database_size(current_database()))")
        )
    engine.dispose()
    return f"{partitions} partitions, {size}" if partitions else f"not partitioned, {size}"


def run(label: str, url: str, seconds: float) -> list[dict[str, Any]]:
    print(f"-- {label}: {make_url(url).database} ({_describe(url)})", flush=True)
    warm(url)
    points: list[dict[str, Any]] = []
    for limit in history.LIMITS:
        point = history.measure(url, CLIENTS, limit, seconds)
        point.update(store=label, kind="history", query=f"history limit {limit}", load=load())
        points.append(point)
    for point in portfolio.measure(url, seconds):
        point.update(store=label, kind="portfolio", load=load())
        points.append(point)
    for point in points:
        p = point["product"]
        print(f"{label:12} {point['query']:26} p50 {p['p50_ms']:8.2f} ms"
              f" p99 {p['p99_ms']:8.2f} ms | {point['load']}", flush=True)  # fmt: skip
    return points


def statements(urls: dict[str, str], rounds: int = 20) -> list[dict[str, Any]]:
    """The history statement alone, on one connection per store kept open
    and warmed (a server's pool keeps its connections: a new one first
    loads the partitions' catalog entries), the stores in turn each round."""
    connections = {
        label: psycopg.connect(libpq_url(url), autocommit=True) for label, url in urls.items()
    }
    points: list[dict[str, Any]] = []
    try:
        for name, start in STATEMENTS.items():
            for limit in (31, 1001):  # a page of 30 or 1000, and the next page's row
                times = _time_statement(connections, STATEMENT.format(start=start), limit, rounds)
                base = statistics.median(times["plain"])
                for label, taken in times.items():
                    p50 = statistics.median(taken)
                    query = f"{name} limit {limit}"
                    points.append(
                        {"store": label, "kind": "statement", "query": query, "load": load(),
                         "product": {"p50_ms": round(p50, 3)}, "over_plain": round(p50 / base, 2)}
                    )  # fmt: skip
                    print(f"{label:32} statement {query:29} p50 {p50:7.3f} ms"
                          f" x{p50 / base:.2f} | {load()}", flush=True)  # fmt: skip
    finally:
        for connection in connections.values():
            connection.close()
    return points


def _time_statement(
    connections: dict[str, psycopg.Connection[Any]], sql: str, limit: int, rounds: int
) -> dict[str, list[float]]:
    chooser = random.Random(3)
    with_start = sql.count("%s") == 3

    def once(label: str) -> float:
        params: list[Any] = [f"client-{chooser.randint(1, CLIENTS):05d}"]
        params += ["2026-09-03"] if with_start else []  # 90 days before the newest
        before = time.perf_counter()
        connections[label].cursor(binary=True).execute(sql, [*params, limit]).fetchall()
        return (time.perf_counter() - before) * 1000

    times: dict[str, list[float]] = {label: [] for label in connections}
    for label in connections:
        for _ in range(200):
            once(label)
    for _ in range(rounds):
        for label in connections:
            times[label] += [once(label) for _ in range(100 if limit < 100 else 25)]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per point and side")
    parser.add_argument("--plain", default=f"usage_bench_{CLIENTS}")
    parser.add_argument(
        "--partitioned", nargs="+", default=[f"usage_bench_{CLIENTS}_partitioned"],
        help="one or more partitioned copies (by year, by quarter...)",
    )  # fmt: skip
    args = parser.parse_args()
    plain = _url(args.plain)
    copies = {name: _url(name) for name in args.partitioned}
    results = run("plain", plain, args.seconds)
    for name, url in copies.items():
        results += run(name, url, args.seconds)
    results += run("plain again", plain, args.seconds)
    print("\np50 partitioned over plain (the two plain runs' own spread in brackets):")
    for point in (r for r in results if not r["store"].startswith("plain")):
        before = [r["product"]["p50_ms"] for r in results
                  if r["store"].startswith("plain") and r["query"] == point["query"]]  # fmt: skip
        ratio = point["product"]["p50_ms"] / min(before)
        print(f"  {point['store']:32} {point['query']:26} x{ratio:5.2f}"
              f" [{min(before):.2f}-{max(before):.2f} ms]")  # fmt: skip
    print()
    results += statements({"plain": plain, **copies})
    save_results("partitions", results)


if __name__ == "__main__":
    main()
