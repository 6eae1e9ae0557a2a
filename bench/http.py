"""The API over HTTP with wrk: requests/s, p50 and p99 at concurrency 1 and 16,
limit 30 and 1000, served by ``streamlit run app.py`` and by
``uvicorn app:app --workers 2``, with the servers' memory (RSS).

    apt-get install -y wrk
    python -m bench.http [--seconds 10] [--backend sqlite] [--server uvicorn]

Each request asks for a different client of the 10,000-client portfolio
(``python -m bench.generate``); the data are read once before measuring, so
they sit in the page cache. Everything runs on 127.0.0.1. The in-process
floor's throughput (``bench/_floor.py``, one thread) is measured in the same
run, for the ratio.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._common import (
    add_backend_argument,
    chosen_backends,
    dataset_urls,
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
# bench/lean_server.py under uvicorn --workers 2 (SQLite only): --reference.
REFERENCE = "lean"
# uvicorn app:app --workers 2: requests/s at 16 connections, and p99 at limit 1000.
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


def _server_args(server: str, port: int, python: str) -> list[str]:
    if server == REFERENCE:
        return [python, "-m", "uvicorn", "bench.lean_server:app", "--workers", "2",
                "--no-access-log", "--port", str(port), "--host", "127.0.0.1"]  # fmt: skip
    if server == "streamlit":
        return [python, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                "--server.address", "127.0.0.1", "--server.headless", "true"]  # fmt: skip
    return [python, "-m", "uvicorn", "app:app", "--workers", "2", "--no-access-log",
            "--port", str(port), "--host", "127.0.0.1"]  # fmt: skip


@contextmanager
def serving(
    server: str, url: str, log: Path, python: str = sys.executable
) -> Iterator[tuple[str, int]]:
    """The server on a free port, its output (and uvicorn's access log) in ``log``."""
    port = free_port()
    env = {**os.environ, "USAGE_DATABASE_URL": url,
           "USAGE_LEAN_SQLITE": url.removeprefix("sqlite:///")}  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            _server_args(server, port, python), cwd=PROJECT_ROOT, env=env, stdout=output,
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
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA % {"key": key, "limit": limit, "clients": clients, "offset": offset})
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
        help="also serve bench/lean_server.py (SQLite): the same data with nothing in between",
    )  # fmt: skip
    parser.add_argument("--connections", type=int, nargs="+", default=list(CONCURRENCY))
    args = parser.parse_args()
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
        reference = [REFERENCE] if args.reference and backend == "sqlite" else []
        for server in servers + reference:
            log = logs / f"{server}-{backend}.log"
            with serving(server, url, log, args.python) as (base, pid):
                run_wrk(base, key, max(args.limit), 16, 3, 0, args.clients)  # warm up
                if args.ceiling and server != REFERENCE:  # the stack alone: a static body
                    point = _wrk([f"{base}/api/v1/openapi.json"], 16, args.seconds)
                    point.update(backend=backend, server=server, limit=0, connections=16,
                                 load=load(), rss_mb=rss_mb(pid))  # fmt: skip
                    results.append(point)
                    print(f"{backend:10} {server:9} static openapi.json c16:"
                          f" {point['requests_per_second']:8.1f} req/s"
                          f" p50 {point['p50_ms']:.2f} ms p99 {point['p99_ms']:.2f} ms"
                          f" | {point['load']}", flush=True)  # fmt: skip
                for limit in args.limit:
                    for connections in args.connections:
                        point = run_wrk(base, key, limit, connections, args.seconds,
                                        len(results) * 1000, args.clients)  # fmt: skip
                        point.update(
                            backend=backend, server=server, limit=limit,
                            connections=connections, load=load(), rss_mb=rss_mb(pid),
                            floor_per_second=round(floors[limit], 1),
                            ratio_to_floor=round(point["requests_per_second"] / floors[limit], 2),
                        )  # fmt: skip
                        results.append(point)
                        print(f"{backend:10} {server:9} limit {limit:>4} c{connections:<2}:"
                              f" {point['requests_per_second']:8.1f} req/s"
                              f" p50 {point['p50_ms']:7.2f} ms p99 {point['p99_ms']:7.2f} ms"
                              f" | x{point['ratio_to_floor']:.2f} floor"
                              f" | RSS {sum(point['rss_mb'].values()):.0f} MB {point['rss_mb']}"
                              f" | {point['load']}", flush=True)  # fmt: skip
    print("\ntargets at 16 connections (streamlit: half of uvicorn's):")
    for point in results:
        if point["connections"] != 16 or point["limit"] not in TARGETS:
            continue
        if point["server"] == REFERENCE:
            continue
        wanted = TARGETS[point["limit"]] * (0.5 if point["server"] == "streamlit" else 1)
        met = point["requests_per_second"] >= wanted
        if point["limit"] == 1000:
            met = met and point["p99_ms"] < TARGET_P99_MS
        print(f"  {point['backend']:10} {point['server']:9} limit {point['limit']:>4}:"
              f" {point['requests_per_second']:8.1f} req/s (>= {wanted:g})"
              f" {'met' if met else 'MISSED'}")  # fmt: skip
    save_results(f"http{args.tag}", results)
    shutil.rmtree(logs)


if __name__ == "__main__":
    main()
