"""The API over HTTP with wrk: requests/s, p50 and p99 at concurrency 1 and 16,
limit 30 and 1000, served by ``streamlit run app.py`` and by
``uvicorn app:app --workers 2``, with the servers' memory (RSS).

    apt-get install -y wrk
    python -m bench.http [--seconds 10] [--backend sqlite] [--server uvicorn]
    python -m bench.http --before /tmp/before --rounds 3 --conditional  # a change's cost

Each request asks for a different client of the 10,000-client portfolio
(``python -m bench.generate``); the data are read once before measuring, so
they sit in the page cache. Everything runs on 127.0.0.1. The in-process
floor's throughput (``bench/_floor.py``, one thread) is measured in the same
run, for the ratio.

``--before DIR`` serves a second tree (the code before a change: a copy of
this one with the changed files as they were) beside this one, on the same
data, and measures the two in turn, point by point and ``--rounds`` times,
so that both meet the same load (each round begins with the next of them);
the summary gives the ratio of the medians.
``--conditional`` adds, for this tree, requests that send each client's
current ``ETag`` in ``If-None-Match`` (answered 304 without a body).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench._common import (
    add_backend_argument,
    chosen_backends,
    dataset_urls,
    libpq_url,
    load,
    new_admin_key,
    save_results,
    time_calls,
    warm,
)
from bench._floor import Floor
from bench.history import bucket_ids
from tests.live_server import PROJECT_ROOT, free_port, stop_process, wait_until_healthy
from usage.db import make_engine

CLIENTS = 10_000
LIMITS = (30, 1000)
CONCURRENCY = (1, 16)
SERVERS = ("streamlit", "uvicorn")
# bench/lean_server.py (SQLite) or bench/lean_pg_server.py (PostgreSQL) under
# uvicorn --workers 2: --reference.
REFERENCE = "lean"
# On PostgreSQL also the reference planning its read once per connection, as
# the product's API does (USAGE_LEAN_PG_PLAN=generic): the two ratios part
# what the product's Python costs from what PostgreSQL's planning saves it.
REFERENCE_GENERIC = "lean-generic"
# And the reference reading as the product's API does, past psycopg's cursor
# (USAGE_LEAN_PG_MODE=libpq, generic plans): what is left between the two is
# the product's own Python (keys, validation, paging, ETag).
REFERENCE_LIBPQ = "lean-libpq"
REFERENCES = (REFERENCE, REFERENCE_GENERIC, REFERENCE_LIBPQ)
# uvicorn app:app --workers 2: requests/s at 16 connections, and p99 at limit 1000.
# uvicorn's workers for app:app and the reference (--workers).
WORKERS = 2
TARGETS = {30: 8000.0, 1000: 400.0}
TARGET_P99_MS = 100.0

_LUA = """
local counter = 0
wrk.headers["X-API-Key"] = "%(key)s"
request = function()
  counter = counter + 1
  local id = (counter * 7919 + %(offset)d) %% %(clients)d + 1
  local path = "/api/v1/clients/client-%%05d/history?limit=%(limit)d"
  return wrk.format("GET", string.format(path, id))
end
"""
# The same requests, each with its client's current ETag: every answer a 304.
_LUA_CONDITIONAL = """
local counter = 0
local tags = {%(tags)s}
request = function()
  counter = counter + 1
  local id = (counter * 7919 + %(offset)d) %% %(clients)d + 1
  local path = "/api/v1/clients/client-%%05d/history?limit=%(limit)d"
  local headers = {["X-API-Key"] = "%(key)s", ["If-None-Match"] = tags[id]}
  return wrk.format("GET", string.format(path, id), headers)
end
"""


def _server_args(server: str, port: int, python: str, url: str) -> list[str]:
    if server in REFERENCES:
        lean = "bench.lean_server:app" if url.startswith("sqlite") else "bench.lean_pg_server:app"
        return [python, "-m", "uvicorn", lean, "--workers", str(WORKERS),
                "--no-access-log", "--port", str(port), "--host", "127.0.0.1"]  # fmt: skip
    if server == "streamlit":
        return [python, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                "--server.address", "127.0.0.1", "--server.headless", "true"]  # fmt: skip
    return [python, "-m", "uvicorn", "app:app", "--workers", str(WORKERS), "--no-access-log",
            "--port", str(port), "--host", "127.0.0.1"]  # fmt: skip


@contextmanager
def serving(
    server: str, url: str, log: Path, python: str = sys.executable, root: Path = PROJECT_ROOT
) -> Iterator[tuple[str, int]]:
    """The server of the tree at ``root`` on a free port, its output (and
    uvicorn's access log) in ``log``."""
    port = free_port()
    env = {**os.environ, "USAGE_DATABASE_URL": url}
    if url.startswith("sqlite"):
        env["USAGE_LEAN_SQLITE"] = url.removeprefix("sqlite:///")
    else:
        env["USAGE_LEAN_POSTGRES"] = libpq_url(url)  # USAGE_LEAN_PG_MODE: passed on as set
        if server in (REFERENCE_GENERIC, REFERENCE_LIBPQ):
            env["USAGE_LEAN_PG_PLAN"] = "generic"
        if server == REFERENCE_LIBPQ:
            env["USAGE_LEAN_PG_MODE"] = "libpq"
    with log.open("wb") as output:
        process = subprocess.Popen(
            _server_args(server, port, python, url), cwd=root, env=env, stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(process, base, 60)
            yield base, process.pid
        finally:
            stop_process(process, timeout=15)


def rss_mb(pid: int) -> dict[str, float]:
    """RSS of the server process and each of its children, in MB."""
    found: dict[str, float] = {}
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for member in [str(pid), *children]:
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                found[member] = round(int(line.split()[1]) / 1024, 1)
    return found


def _milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(
    base: str,
    key: str,
    limit: int,
    connections: int,
    seconds: float,
    offset: int,
    clients: int = CLIENTS,
    tags: dict[int, str] | None = None,
) -> dict[str, Any]:
    """``tags``: each client's ETag (by number), sent in ``If-None-Match``."""
    values = {"key": key, "limit": limit, "clients": clients, "offset": offset}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if tags is None:
            script.write(_LUA % values)
        else:
            listed = ", ".join(f"[{number}] = '{tag}'" for number, tag in tags.items())
            script.write(_LUA_CONDITIONAL % {**values, "tags": listed})
    try:
        return _wrk(["-s", script.name, base], connections, seconds)
    finally:
        os.unlink(script.name)


def _wrk(target: list[str], connections: int, seconds: float) -> dict[str, Any]:
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
         *target],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in output or re.search(r"Socket errors: connect [1-9]", output):
        raise RuntimeError(f"wrk saw failed requests:\n{output}")
    timeouts = re.search(r"timeout ([0-9]+)", output)
    latency = dict(re.findall(r"^ +(50|99)% +(\S+) *$", output, re.MULTILINE))
    if len(latency) != 2:
        raise RuntimeError(f"wrk printed no latency distribution:\n{output}")
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": round(_milliseconds(latency["50"]), 2),
        "p99_ms": round(_milliseconds(latency["99"]), 2),
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
    }


def current_tags(base: str, key: str, limit: int, clients: int) -> dict[int, str]:
    """Each client's ETag for its history at ``limit``, as wrk asks it
    (no gzip); checked to answer a 304."""
    tags: dict[int, str] = {}
    headers = {"X-API-Key": key, "Accept-Encoding": "identity"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for number in range(1, clients + 1):
            path = f"/api/v1/clients/client-{number:05d}/history?limit={limit}"
            tags[number] = http.get(path).headers["etag"]
        check = http.get(path, headers={"If-None-Match": tags[clients]})
        if check.status_code != 304:
            raise RuntimeError(f"a current ETag got {check.status_code}, not 304")
    return tags


def floor_rate(url: str, clients: int, limit: int, seconds: float) -> float:
    floor = Floor(url)
    buckets = bucket_ids(clients, 100_000)
    try:
        _, rate = time_calls(lambda i: floor.history(buckets[i], limit), min_calls=50,
                             seconds=seconds)  # fmt: skip
    finally:
        floor.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_backend_argument(parser)
    parser.add_argument("--server", choices=(*SERVERS, "both"), default="both")
    parser.add_argument("--seconds", type=float, default=10.0, help="per point")
    parser.add_argument("--limit", type=int, choices=LIMITS, nargs="+", default=list(LIMITS))
    parser.add_argument(
        "--python", default=sys.executable, help="the servers' interpreter (a venv, say)"
    )
    parser.add_argument("--tag", default="", help="a suffix for the results file")
    parser.add_argument(
        "--ceiling", action="store_true", help="also time the static /api/v1/openapi.json"
    )
    parser.add_argument("--clients", type=int, default=CLIENTS, help="the data set's size")
    parser.add_argument(
        "--reference", action="store_true",
        help="also serve bench/lean_server.py (SQLite) or bench/lean_pg_server.py"
        " (PostgreSQL): the same data with nothing in between",
    )  # fmt: skip
    parser.add_argument("--connections", type=int, nargs="+", default=list(CONCURRENCY))
    parser.add_argument(
        "--before", type=Path,
        help="another tree (the code before a change), served and measured in turn with this one",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=1, help="measurements per point and tree")
    parser.add_argument(
        "--workers", type=int, default=2,
        help="uvicorn's workers (1: no share of the connections between workers to vary"
        " from run to run, for a change's cost)",
    )  # fmt: skip
    parser.add_argument(
        "--conditional", action="store_true",
        help="also send each client's current ETag (If-None-Match: 304s), this tree only",
    )  # fmt: skip
    args = parser.parse_args()
    global WORKERS
    WORKERS = args.workers
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    backends = chosen_backends(args)
    servers = list(SERVERS) if args.server == "both" else [args.server]

    results: list[dict[str, Any]] = []
    logs = Path(tempfile.mkdtemp(prefix="usage-bench-http-"))
    for backend, url in dataset_urls(args.clients, backends).items():
        warm(url)
        engine = make_engine(url)
        key = new_admin_key(engine)
        engine.dispose()
        floors = {limit: floor_rate(url, args.clients, limit, 3.0) for limit in args.limit}
        print(f"{backend}: in-process floor "
              + ", ".join(f"{rate:,.0f}/s at limit {limit}" for limit, rate in floors.items())
              + f" ({load()})")  # fmt: skip
        # The reference is served beside uvicorn (else the one server asked
        # for) and measured in turn with it, point by point, as a tree is.
        beside = "uvicorn" if "uvicorn" in servers else servers[0]
        for server in servers:
            trees = {"after": PROJECT_ROOT}
            if args.before is not None:
                trees = {"before": args.before.resolve(), **trees}
            with contextlib.ExitStack() as running:
                bases = {
                    tree: running.enter_context(serving(
                        server, url, logs / f"{server}-{backend}-{tree}.log", args.python, root))
                    for tree, root in trees.items()
                }  # fmt: skip
                if args.reference and server == beside:
                    references = REFERENCES if backend == "postgresql" else (REFERENCE,)
                    for reference in references:
                        log = logs / f"{reference}-{backend}.log"
                        bases[reference] = running.enter_context(
                            serving(reference, url, log, args.python)
                        )
                for base, _ in bases.values():
                    run_wrk(base, key, max(args.limit), 16, 3, 0, args.clients)  # warm up
                base, pid = bases["after"]
                if args.ceiling:  # the stack alone: a static body
                    point = _wrk([f"{base}/api/v1/openapi.json"], 16, args.seconds)
                    point.update(backend=backend, server=server, limit=0, connections=16,
                                 load=load(), rss_mb=rss_mb(pid))  # fmt: skip
                    results.append(point)
                    print(f"{backend:10} {server:9} static openapi.json c16:"
                          f" {point['requests_per_second']:8.1f} req/s"
                          f" p50 {point['p50_ms']:.2f} ms p99 {point['p99_ms']:.2f} ms"
                          f" | {point['load']}", flush=True)  # fmt: skip
                for limit in args.limit:
                    tags = None
                    if args.conditional:
                        tags = current_tags(base, key, limit, args.clients)
                    for connections in args.connections:
                        for round_ in range(args.rounds):
                            sides: list[tuple[str, dict[int, str] | None]] = [
                                (tree, None) for tree in bases]  # fmt: skip
                            if tags is not None:
                                sides.append(("after", tags))
                            # Each round starts with the next server: none is
                            # always the one measured right after another.
                            turn = round_ % len(sides)
                            sides = sides[turn:] + sides[:turn]
                            for tree, sent in sides:
                                point = _measure(args, bases[tree], key, limit, connections,
                                                 len(results), floors[limit], sent)  # fmt: skip
                                point.update(backend=backend, server=server, tree=tree,
                                             conditional=sent is not None)  # fmt: skip
                                if tree in REFERENCES:
                                    point.update(server=tree, beside=server)
                                results.append(point)
                                _print_point(point)
    print("\ntargets at 16 connections (streamlit: half of uvicorn's):")
    for point in results:
        if point["connections"] != 16 or point["limit"] not in TARGETS:
            continue
        if point["server"] in REFERENCES or point.get("tree") == "before" or point.get(
                "conditional"):  # fmt: skip
            continue
        wanted = TARGETS[point["limit"]] * (0.5 if point["server"] == "streamlit" else 1)
        met = point["requests_per_second"] >= wanted
        if point["limit"] == 1000:
            met = met and point["p99_ms"] < TARGET_P99_MS
        print(f"  {point['backend']:10} {point['server']:9} limit {point['limit']:>4}:"
              f" {point['requests_per_second']:8.1f} req/s (>= {wanted:g})"
              f" {'met' if met else 'MISSED'}")  # fmt: skip
    if args.before is not None or args.conditional or args.reference:
        _print_comparison(results)
    save_results(f"http{args.tag}", results)
    shutil.rmtree(logs)


def _measure(
    args: argparse.Namespace,
    served: tuple[str, int],
    key: str,
    limit: int,
    connections: int,
    offset: int,
    floor: float,
    tags: dict[int, str] | None,
) -> dict[str, Any]:
    base, pid = served
    point = run_wrk(base, key, limit, connections, args.seconds, offset * 1000, args.clients, tags)
    point.update(
        limit=limit, connections=connections, load=load(), rss_mb=rss_mb(pid),
        floor_per_second=round(floor, 1),
        ratio_to_floor=round(point["requests_per_second"] / floor, 2),
    )  # fmt: skip
    return point


def _print_point(point: dict[str, Any]) -> None:
    form = "304" if point["conditional"] else point["tree"]
    print(f"{point['backend']:10} {point['server']:9} {form:6} limit {point['limit']:>4}"
          f" c{point['connections']:<2}: {point['requests_per_second']:8.1f} req/s"
          f" p50 {point['p50_ms']:7.2f} ms p99 {point['p99_ms']:7.2f} ms"
          f" | x{point['ratio_to_floor']:.2f} floor"
          f" | RSS {sum(point['rss_mb'].values()):.0f} MB {point['rss_mb']}"
          f" | {point['load']}", flush=True)  # fmt: skip


def _print_comparison(results: list[dict[str, Any]]) -> None:
    """Medians by point: this tree over the one before and over the reference
    served beside it, and its 304s over its 200s."""
    rates: dict[tuple[Any, ...], list[float]] = {}
    for point in results:
        if "tree" not in point:
            continue
        form = "304" if point["conditional"] else point["tree"]
        server = point.get("beside", point["server"])
        where = (point["backend"], server, point["limit"], point["connections"])
        rates.setdefault((*where, form), []).append(point["requests_per_second"])
    print("\nmedian requests/s (rounds), after / before, after / lean, and 304 / 200:")
    for where in sorted({key[:4] for key in rates}):
        forms = ("before", "after", *REFERENCES, "304")
        median = {form: statistics.median(rates[(*where, form)])
                  for form in forms if (*where, form) in rates}  # fmt: skip
        line = "  ".join(f"{form} {value:8.1f}" for form, value in median.items())
        if "before" in median:
            line += f"  after/before {median['after'] / median['before']:.3f}"
        for reference in REFERENCES:
            if reference in median:
                line += f"  after/{reference} {median['after'] / median[reference]:.3f}"
        if "304" in median:
            line += f"  304/200 {median['304'] / median['after']:.3f}"
        backend, server, limit, connections = where
        print(f"  {backend:10} {server:9} limit {limit:>4} c{connections:<2}: {line}")


if __name__ == "__main__":
    main()
