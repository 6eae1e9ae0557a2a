"""The history query in process: p50 and p99 at limit 30 and 1000, at 100 and
10,000 clients, on both backends, each beside its floor.

    python -m bench.generate --clients 100 && python -m bench.generate
    python -m bench.history [--seconds 3] [--backend sqlite]

A call is what the API does for one request once the key is checked: a
``Connection`` from the pool (in autocommit on PostgreSQL) and
``fetch_history_json`` (the stored bodies, joined). Two floors
(``bench/_floor.py``), with the driver alone on one open connection: the
snapshot rows read and encoded with orjson (the issue's floor), and the
stored bodies read and joined (the design's).
Each call asks for a random client of the portfolio.
"""

from __future__ import annotations

import argparse
import random
from typing import Any

from bench._common import (
    add_backend_argument,
    chosen_backends,
    dataset_urls,
    load,
    save_results,
    summarize,
    time_calls,
    warm,
)
from bench._floor import Floor, check_same_body
from usage.db import make_engine
from usage.history import fetch_history_json
from usage.validation import HistoryParams

SIZES = (100, 10_000)
LIMITS = (30, 1000)
TARGET_SCALING = 1.2  # latency at 10,000 clients over that at 100


def bucket_ids(clients: int, count: int, seed: int = 1) -> list[str]:
    chooser = random.Random(seed)
    return [f"client-{chooser.randint(1, clients):05d}" for _ in range(count)]


def measure(url: str, clients: int, limit: int, seconds: float) -> dict[str, Any]:
    engine = make_engine(url)
    floor = Floor(url)
    buckets = bucket_ids(clients, 100_000)

    def product(i: int) -> bytes:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":  # as the API reads: one statement
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            return fetch_history_json(connection, HistoryParams(buckets[i], limit=limit))

    def rows_floor(i: int) -> bytes:
        return floor.history(buckets[i], limit)

    def stored_floor(i: int) -> bytes:
        return floor.stored_history(buckets[i], limit)

    sides = {"product": product, "floor": rows_floor, "stored_floor": stored_floor}
    try:
        for i in range(3):
            check_same_body(product(i), rows_floor(i))
            check_same_body(product(i), stored_floor(i))
        for call in sides.values():  # warm the caches and the statement cache
            for i in range(20):
                call(i)
        min_calls = 200 if limit <= 30 else 50
        # Alternate the sides so that a burst of load on the machine hits all.
        times: dict[str, list[float]] = {name: [] for name in sides}
        rates = dict.fromkeys(sides, 0.0)
        rounds = 3
        for _ in range(rounds):
            for name, call in sides.items():
                taken, rate = time_calls(call, min_calls=min_calls, seconds=seconds / rounds)
                times[name] += taken
                rates[name] += rate / rounds
    finally:
        floor.close()
        engine.dispose()
    result: dict[str, Any] = {}
    for name in sides:
        result[name] = {**summarize(times[name]), "per_second": round(rates[name], 1)}
    for floor_name, suffix in (("floor", ""), ("stored_floor", "_stored")):
        for q in ("p50", "p99"):
            ratio = result["product"][f"{q}_ms"] / result[floor_name][f"{q}_ms"]
            result[f"ratio_{q}{suffix}"] = round(ratio, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_backend_argument(parser)
    parser.add_argument("--seconds", type=float, default=3.0, help="per point and side")
    parser.add_argument("--clients", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    backends = chosen_backends(args)

    results: list[dict[str, Any]] = []
    for clients in args.clients:
        for backend, url in dataset_urls(clients, backends).items():
            warm(url)  # every page of the data read once: the comparison is of work, not disks
            for limit in LIMITS:
                point = measure(url, clients, limit, args.seconds)
                point.update(backend=backend, clients=clients, limit=limit, load=load())
                results.append(point)
                p, f, s = point["product"], point["floor"], point["stored_floor"]
                print(f"{backend:10} {clients:>6} clients limit {limit:>4}:"
                      f" p50 {p['p50_ms']:7.2f} ms p99 {p['p99_ms']:7.2f} ms"
                      f" ({p['per_second']:7.1f}/s) | floor p50 {f['p50_ms']:6.2f} ms"
                      f" p99 {f['p99_ms']:6.2f} ms ({f['per_second']:7.1f}/s)"
                      f" x{point['ratio_p50']:.2f}/x{point['ratio_p99']:.2f}"
                      f" | stored floor p50 {s['p50_ms']:6.2f} ms p99 {s['p99_ms']:6.2f} ms"
                      f" x{point['ratio_p50_stored']:.2f}/x{point['ratio_p99_stored']:.2f}"
                      f" | {point['load']}", flush=True)  # fmt: skip

    if sorted(args.clients) != sorted(SIZES):
        save_results("history-partial", results)
        return
    print(f"\nscaling, 10,000 clients over 100 (target <= {TARGET_SCALING}):")
    for backend in backends:
        for limit in LIMITS:
            small, large = (
                next(r for r in results
                     if (r["backend"], r["clients"], r["limit"]) == (backend, size, limit))
                for size in SIZES
            )  # fmt: skip
            p50 = large["product"]["p50_ms"] / small["product"]["p50_ms"]
            p99 = large["product"]["p99_ms"] / small["product"]["p99_ms"]
            verdict = "met" if p50 <= TARGET_SCALING and p99 <= TARGET_SCALING else "MISSED"
            print(f"  {backend:10} limit {limit:>4}: p50 x{p50:.2f}, p99 x{p99:.2f} {verdict}")
    save_results("history", results)


if __name__ == "__main__":
    main()
