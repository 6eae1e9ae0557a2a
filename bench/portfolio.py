"""The portfolio page's queries (``usage.portfolio``) at 100 and 10,000 clients,
on both backends, each beside its floor.

    python -m bench.portfolio [--backend sqlite] [--seconds 3]

What the page runs on a first, uncached view: the newest date, the summary
tiles, one page of the table (25 clients) with the count of matching
clients, their 90-day sparklines, the movers and the 90-day totals; the table
also sorted by change. The floor of each is the same SQL statements, caught
as the product sends them, replayed with the driver alone (no SQLAlchemy, no
Python objects made from the rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from bench._common import (
    add_backend_argument,
    chosen_backends,
    dataset_urls,
    libpq_url,
    load,
    save_results,
    summarize,
    time_calls,
)
from usage import portfolio
from usage.db import make_engine

SIZES = (100, 10_000)
PAGE_SIZE = 25
SPARKLINE_DAYS = 90
TOTALS_DAYS = 90
MOVERS = 5
TARGET_MS = 300.0  # the page's table query at 10,000 clients


def page_queries(as_of: dt.date) -> dict[str, Callable[[Session], object]]:
    start = as_of - dt.timedelta(days=SPARKLINE_DAYS - 1)

    def table(session: Session, sort: str = portfolio.DEFAULT_SORT) -> object:
        rows = portfolio.summarize_clients(
            session, as_of=as_of, sort=sort, limit=PAGE_SIZE, offset=0, visible=None
        )
        portfolio.count_clients(session, status=None, search=None, visible=None)
        return rows

    def sparklines(session: Session) -> object:
        rows = portfolio.summarize_clients(session, as_of=as_of, limit=PAGE_SIZE, visible=None)
        return portfolio.read_sparklines(
            session, [row.bucket_id for row in rows], start, as_of, visible=None
        )

    return {
        "latest_date": lambda session: portfolio.latest_snapshot_date(session, visible=None),
        "summary": lambda session: portfolio.summarize_portfolio(
            session, as_of=as_of, visible=None
        ),
        "table (by name)": table,
        "table (by -change_pct)": lambda session: table(session, "-change_pct"),
        "table (search 'maple')": lambda session: portfolio.summarize_clients(
            session, as_of=as_of, search="maple", limit=PAGE_SIZE, visible=None
        ),
        "sparklines (25 clients)": sparklines,
        "movers": lambda session: portfolio.find_movers(
            session, as_of=as_of, limit=MOVERS, visible=None
        ),
        "totals (90 days)": lambda session: portfolio.read_portfolio_totals(
            session, as_of - dt.timedelta(days=TOTALS_DAYS - 1), as_of, visible=None
        ),
    }


def capture(engine: Engine, call: Callable[[Session], object]) -> list[tuple[str, Any]]:
    """The statements ``call`` sends to the driver, with their parameters."""
    sent: list[tuple[str, Any]] = []

    def listen(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "ROLLBACK", "SELECT 1")):
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        with Session(engine) as session:
            call(session)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return sent


class Replay:
    """Statements replayed on a connection of the driver alone."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite"):
            self._sqlite: sqlite3.Connection | None = sqlite3.connect(
                url.removeprefix("sqlite:///"), isolation_level=None
            )
            self._postgres: psycopg.Connection[Any] | None = None
        else:
            self._sqlite = None
            self._postgres = psycopg.connect(libpq_url(url), autocommit=True)

    def run(self, statements: list[tuple[str, Any]]) -> None:
        for sql, params in statements:
            if self._sqlite is not None:
                self._sqlite.execute(sql, params).fetchall()
            else:
                assert self._postgres is not None
                self._postgres.execute(sql, params).fetchall()

    def close(self) -> None:
        for connection in (self._sqlite, self._postgres):
            if connection is not None:
                connection.close()


def measure(url: str, seconds: float) -> list[dict[str, Any]]:
    engine = make_engine(url)
    replay = Replay(url)
    try:
        with Session(engine) as session:
            as_of = portfolio.latest_snapshot_date(session, visible=None) or dt.date.today()
        points = []
        for name, query in page_queries(as_of).items():
            statements = capture(engine, query)

            def product(_: int, query: Callable[[Session], object] = query) -> None:
                with Session(engine) as session:
                    query(session)

            def floor(_: int, statements: list[tuple[str, Any]] = statements) -> None:
                replay.run(statements)

            product(0)
            floor(0)
            product_times, _ = time_calls(product, min_calls=5, seconds=seconds)
            floor_times, _ = time_calls(floor, min_calls=5, seconds=seconds)
            point: dict[str, Any] = {
                "query": name,
                "statements": len(statements),
                "product": summarize(product_times),
                "floor": summarize(floor_times),
            }
            point["ratio_p50"] = round(point["product"]["p50_ms"] / point["floor"]["p50_ms"], 2)
            points.append(point)
    finally:
        replay.close()
        engine.dispose()
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_backend_argument(parser)
    parser.add_argument("--seconds", type=float, default=3.0, help="per query and side")
    parser.add_argument("--clients", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    backends = chosen_backends(args)

    results: list[dict[str, Any]] = []
    for clients in args.clients:
        for backend, url in dataset_urls(clients, backends).items():
            for point in measure(url, args.seconds):
                point.update(backend=backend, clients=clients, load=load())
                results.append(point)
                p, f = point["product"], point["floor"]
                print(f"{backend:10} {clients:>6} clients {point['query']:24}"
                      f" p50 {p['p50_ms']:8.2f} ms p99 {p['p99_ms']:8.2f} ms"
                      f" | floor p50 {f['p50_ms']:8.2f} ms | x{point['ratio_p50']:.2f}"
                      f" | {point['statements']} statements | {point['load']}",
                      flush=True)  # fmt: skip
    print(f"\nthe table query at 10,000 clients (target p50 < {TARGET_MS:g} ms):")
    for point in results:
        if point["clients"] == 10_000 and point["query"].startswith("table"):
            p50 = point["product"]["p50_ms"]
            verdict = "met" if p50 < TARGET_MS else "MISSED"
            print(f"  {point['backend']:10} {point['query']:24} {p50:8.2f} ms {verdict}")
    save_results("portfolio", results)


if __name__ == "__main__":
    main()
