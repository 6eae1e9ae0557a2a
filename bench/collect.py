"""Collection beside its floor, and its memory, on one bucket of 100,000 objects.

    python -m bench.collect [--objects 100000] [--prefixes 20] [--repeat 2]

The bucket lives on moto's S3 server, in a process of its own
(``tests/s3_server.py``), filled in process before it serves.

- floor: a bare paginated ListObjectsV2 of the bucket with boto3 (1,000 keys
  a page), touching nothing but the page: what any listing costs;
- storage: ``measure_storage``, the same listing summed by top-level prefix;
- collect: the whole collection of the client (``usage.collect.runner.collect``):
  its run recorded, records counted in a SQLite records database, the
  listing, the snapshot stored in a SQLite store.

Each is run ``--repeat`` times, interleaved, and the best counts: the wall
time, and this process's CPU time, which leaves out the S3 server (another
process) and so shows what the client side itself costs.

Memory: the peak of the Python heap (tracemalloc) while ``measure_storage``
lists the bucket, and the same for a bucket of a tenth of the objects: flat
memory means the two are about the same. Timed runs are made without
tracemalloc, which slows Python down.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bench._common import save_results
from tests.collect_support import make_records_database
from tests.factories import new_client
from tests.s3_server import ObjectGroup, S3Server, running_s3
from usage.collect.config import CollectConfig, Location, RecordsConfig, StorageConfig
from usage.collect.runner import collect, select_targets
from usage.collect.runs import StartedBy, start_runs
from usage.collect.storage import make_s3_client, measure_storage
from usage.db import make_engine, upgrade_schema

BUCKET = "bench-co"
SMALL_BUCKET = "bench-small"


def groups(objects: int, prefixes: int) -> list[ObjectGroup]:
    per_prefix, rest = divmod(objects, prefixes)
    made = [ObjectGroup(f"prefix-{i:02d}/sub/", per_prefix, 500) for i in range(prefixes)]
    return [*made, ObjectGroup("", rest, 100)]


def floor(s3: Any, bucket: str) -> int:
    """A bare listing: every page fetched and parsed, nothing kept."""
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 1000}
    ):
        count += len(page.get("Contents", ()))
    return count


@dataclass
class Timing:
    """Best of the repeats: wall time, and this process's CPU time (the S3
    server runs in another process, so this is the client side's own cost)."""

    wall: float = float("inf")
    cpu: float = float("inf")

    def add(self, wall: float, cpu: float) -> None:
        self.wall = min(self.wall, wall)
        self.cpu = min(self.cpu, cpu)


def timed(timing: Timing, work: Callable[[], Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    timing.add(time.perf_counter() - wall, time.process_time() - cpu)
    return result


def peak_heap(work: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def collect_once(server: S3Server, directory: Path, timing: Timing) -> None:
    """The whole collection of the bench client into a new SQLite store."""
    for old in directory.glob("*.sqlite3*"):
        old.unlink()
    store = make_engine(f"sqlite:///{directory / 'usage.sqlite3'}")
    upgrade_schema(store)
    records_url = f"sqlite:///{directory / 'records.sqlite3'}"
    make_records_database(records_url, {BUCKET: {"person": 5_000, "payment": 20_000}})
    config = CollectConfig(
        storage=StorageConfig(endpoint_url=server.endpoint_url),
        records=RecordsConfig(url=records_url),
        workers=1,
    )
    with Session(store) as session, session.begin():
        new_client(session, BUCKET)
        targets = select_targets(session, [BUCKET])
        start_runs(
            session,
            [targets[0].client_id],
            now=dt.datetime.now(dt.UTC),
            snapshot_date=dt.date.today(),
            started_by=StartedBy.CLI,
        )
    summary = timed(timing, lambda: collect(store, config, targets, dt.date.today()))
    assert summary.failed == 0, summary.failures
    store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--prefixes", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best counts")
    args = parser.parse_args()
    buckets = {
        BUCKET: groups(args.objects, args.prefixes),
        SMALL_BUCKET: groups(args.objects // 10, args.prefixes),
    }
    print(f"filling moto's S3 server with {args.objects:,} + {args.objects // 10:,} objects…")
    timings = {"floor": Timing(), "storage": Timing(), "collect": Timing()}
    with running_s3(buckets) as server, tempfile.TemporaryDirectory() as directory:
        os.environ.update(server.env)
        s3 = make_s3_client(StorageConfig(endpoint_url=server.endpoint_url))
        floor(s3, SMALL_BUCKET)  # warm up: botocore loads its models once
        location = Location(BUCKET, "")
        for _ in range(args.repeat):  # interleaved, so that a busy moment hits all three
            listed = timed(timings["floor"], lambda: floor(s3, BUCKET))
            assert listed == args.objects, listed
            usage = timed(timings["storage"], lambda: measure_storage(s3, location))
            assert sum(count for count, _ in usage.values()) == args.objects
            collect_once(server, Path(directory), timings["collect"])
        heap_large = peak_heap(lambda: measure_storage(s3, location))
        heap_small = peak_heap(lambda: measure_storage(s3, Location(SMALL_BUCKET, "")))
        heap_floor = peak_heap(lambda: floor(s3, BUCKET))
    max_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = {
        "objects": args.objects,
        "prefixes": args.prefixes + 1,
        "repeats": args.repeat,
        **{f"{name}_seconds": round(timing.wall, 2) for name, timing in timings.items()},
        **{f"{name}_cpu_seconds": round(timing.cpu, 2) for name, timing in timings.items()},
        "storage_over_floor": round(timings["storage"].wall / timings["floor"].wall, 3),
        "collect_over_floor": round(timings["collect"].wall / timings["floor"].wall, 3),
        "storage_cpu_over_floor_cpu": round(timings["storage"].cpu / timings["floor"].cpu, 3),
        "peak_heap_bytes": heap_large,
        "peak_heap_bytes_at_a_tenth": heap_small,
        "peak_heap_bytes_floor": heap_floor,
        "max_rss_bytes": max_rss_kib * 1024,
    }
    for name, value in results.items():
        print(f"{name:28} {value:,}" if isinstance(value, int) else f"{name:28} {value}")
    print(f"saved to {save_results('collect', results)}")


if __name__ == "__main__":
    main()
