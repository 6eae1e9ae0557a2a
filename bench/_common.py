"""What the benchmark scripts share: where the data sets live, timing, the load."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from usage.audit import cli_actor
from usage.db import make_engine
from usage.keys import create_key

BENCH_DIR = Path(os.environ.get("USAGE_BENCH_DIR", "/tmp/usage-bench"))
RESULTS_DIR = Path(__file__).resolve().parent / "results"
POSTGRES_URL_ENV = "USAGE_BENCH_POSTGRES_URL"
# The test suite's throwaway server, when no benchmark server is named.
FALLBACK_POSTGRES_URL_ENV = "USAGE_TEST_POSTGRES_URL"


def sqlite_url(clients: int) -> str:
    return f"sqlite:///{BENCH_DIR / f'usage-{clients}.sqlite3'}"


def postgres_server_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV) or os.environ.get(FALLBACK_POSTGRES_URL_ENV)


def postgres_url(clients: int) -> str | None:
    """The benchmark database of ``clients`` clients on the PostgreSQL server."""
    server = postgres_server_url()
    if not server:
        return None
    url = make_url(server).set(database=f"usage_bench_{clients}")
    return url.render_as_string(hide_password=False)


def dataset_urls(clients: int, backends: list[str]) -> dict[str, str]:
    urls: dict[str, str] = {}
    for backend in backends:
        if backend == "sqlite":
            urls[backend] = sqlite_url(clients)
        elif (url := postgres_url(clients)) is not None:
            urls[backend] = url
        else:
            print(f"postgresql skipped: set {POSTGRES_URL_ENV} to a server URL")
    return urls


def libpq_url(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def load() -> str:
    """The machine's load average, to print beside each measurement."""
    one, five, _ = os.getloadavg()
    return f"load {one:.2f}/{five:.2f}"


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100), nearest rank."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def time_calls(
    call: Callable[[int], object], *, min_calls: int, seconds: float
) -> tuple[list[float], float]:
    """Call ``call(i)`` at least ``min_calls`` times and for about ``seconds``;
    returns each call's time in milliseconds and the calls per second."""
    timings: list[float] = []
    started = time.perf_counter()
    i = 0
    while i < min_calls or time.perf_counter() - started < seconds:
        before = time.perf_counter()
        call(i)
        timings.append((time.perf_counter() - before) * 1000)
        i += 1
    elapsed = time.perf_counter() - started
    return timings, len(timings) / elapsed


def summarize(timings: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(timings, 50), 3),
        "p99_ms": round(percentile(timings, 99), 3),
        "mean_ms": round(statistics.fmean(timings), 3),
    }


def new_admin_key(engine: Engine) -> str:
    """A fresh admin key for one benchmark run (keys are shown only once)."""
    with Session(engine) as session, session.begin():
        return create_key(session, f"bench-{uuid.uuid4().hex[:12]}", admin=True, actor=cli_actor())


def save_results(name: str, results: Any) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "results": results}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


# A column of each table that only its rows hold, so that reading it reads
# the table itself (a count(*) may be answered from an index alone).
_WARM_COLUMNS = {
    "clients": "display_name",
    "snapshots": "computed_at",
    "snapshot_collections": "count",
    "snapshot_prefixes": "total_bytes",
    "snapshot_bodies": "length(body)",
}


def warm(url: str) -> None:
    """Read every table once, so the measured requests find them in memory."""
    engine = make_engine(url)
    with engine.connect() as connection:
        for table, column in _WARM_COLUMNS.items():
            connection.execute(text(f"SELECT max({column}) FROM {table}"))
    engine.dispose()


BACKENDS = ("sqlite", "postgresql")


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")


def chosen_backends(args: argparse.Namespace) -> list[str]:
    """The backends ``--backend`` names, in the order the results list them."""
    return list(BACKENDS) if args.backend == "both" else [args.backend]
