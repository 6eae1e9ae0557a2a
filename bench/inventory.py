"""Storage figures from a listing against S3 Inventory reports (CSV and Parquet) of the same bucket.

    python -m bench.inventory [--objects 100000] [--prefixes 20] [--repeat 2]

One bucket of ``--objects`` objects on moto's S3 server (a process of its own,
``tests/s3_server.py``), and two reports of exactly those objects, written as
AWS writes them (``tests/inventory_reports.py``): gzipped CSV and Parquet,
25,000 objects a data file. Each source is run ``--repeat`` times,
interleaved, and the best counts:

- listing: ``measure_storage``, ListObjectsV2 a page of 1,000 keys at a time;
- inventory CSV and inventory Parquet: ``measure_inventory``, the manifest
  and its checks, every data file fetched, its MD5 checked, its rows summed.

Objects per second per core is the objects over this process's CPU time
(the S3 server runs in another process), so it is what the collecting side
costs and what one core of a collector gets through; wall time is shown
beside it. Memory: the peak of the Python heap (tracemalloc) while reading
each report, and the same for a report of a tenth of the objects.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
from collections.abc import Callable
from typing import Any

from bench._common import save_results
from bench.collect import Timing, groups, peak_heap, timed
from tests.inventory_reports import current_rows, write_report
from tests.s3_server import running_s3
from usage.collect.config import Location, StorageConfig
from usage.collect.inventory import measure_inventory
from usage.collect.storage import make_s3_client, measure_storage

BUCKET = "bench-co"
SMALL_BUCKET = "bench-small"
DEST = "bench-inventory"
ROWS_PER_FILE = 25_000
FORMATS = ("CSV", "Parquet")
MAX_AGE = dt.timedelta(days=1)


def write_reports(s3: Any, bucket: str, objects: list[tuple[str, int]], now: dt.datetime) -> None:
    for file_format in FORMATS:
        write_report(
            s3, bucket=DEST, prefix=f"{file_format}/{bucket}/usage/", source_bucket=bucket,
            rows=current_rows(objects), created=now, file_format=file_format,
            rows_per_file=ROWS_PER_FILE,
        )  # fmt: skip


def read_report(s3: Any, bucket: str, file_format: str, now: dt.datetime) -> int:
    inventory = Location(DEST, f"{file_format}/{bucket}/usage/")
    usage = measure_inventory(s3, inventory, Location(bucket, ""), now=now, max_age=MAX_AGE)
    return sum(count for count, _ in usage.values())


def reader(s3: Any, bucket: str, file_format: str, now: dt.datetime) -> Callable[[], int]:
    return lambda: read_report(s3, bucket, file_format, now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--prefixes", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; the best counts")
    args = parser.parse_args()
    large, small = groups(args.objects, args.prefixes), groups(args.objects // 10, args.prefixes)
    print(f"filling moto's S3 server with {args.objects:,} + {args.objects // 10:,} objects…")
    names = ["listing", *(f"inventory_{name.lower()}" for name in FORMATS)]
    timings = {name: Timing() for name in names}
    now = dt.datetime.now(dt.UTC)
    with running_s3({BUCKET: large, SMALL_BUCKET: small, DEST: []}) as server:
        os.environ.update(server.env)
        s3 = make_s3_client(StorageConfig(endpoint_url=server.endpoint_url))
        for bucket, made in ((BUCKET, large), (SMALL_BUCKET, small)):
            write_reports(s3, bucket, [item for group in made for item in group.objects()], now)
        expected = measure_storage(s3, Location(SMALL_BUCKET, ""))  # and warms botocore up
        for file_format in FORMATS:  # and pyarrow
            usage = measure_inventory(
                s3, Location(DEST, f"{file_format}/{SMALL_BUCKET}/usage/"),
                Location(SMALL_BUCKET, ""), now=now, max_age=MAX_AGE,
            )  # fmt: skip
            assert usage == expected, file_format
        for _ in range(args.repeat):  # interleaved, so that a busy moment hits all three
            listed = timed(timings["listing"], lambda: measure_storage(s3, Location(BUCKET, "")))
            assert sum(count for count, _ in listed.values()) == args.objects
            for file_format in FORMATS:
                timing = timings[f"inventory_{file_format.lower()}"]
                read = timed(timing, reader(s3, BUCKET, file_format, now))
                assert read == args.objects
        heaps = {
            f"peak_heap_bytes_{file_format.lower()}{suffix}": peak_heap(
                reader(s3, bucket, file_format, now)
            )
            for file_format in FORMATS
            for bucket, suffix in ((BUCKET, ""), (SMALL_BUCKET, "_at_a_tenth"))
        }
        s3.close()
    import pyarrow as pa

    results: dict[str, Any] = {
        "objects": args.objects,
        "prefixes": args.prefixes + 1,
        "objects_per_data_file": ROWS_PER_FILE,
        "repeats": args.repeat,
        **{f"{name}_seconds": round(timing.wall, 2) for name, timing in timings.items()},
        **{f"{name}_cpu_seconds": round(timing.cpu, 3) for name, timing in timings.items()},
        **{
            f"{name}_objects_per_cpu_second": round(args.objects / timing.cpu)
            for name, timing in timings.items()
        },
        **{
            f"{name}_objects_per_second": round(args.objects / timing.wall)
            for name, timing in timings.items()
        },
        **heaps,
        "arrow_pool_peak_bytes": pa.default_memory_pool().max_memory(),
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    for name, value in results.items():
        print(f"{name:44} {value:,}" if isinstance(value, int) else f"{name:44} {value}")
    print(f"saved to {save_results('inventory', results)}")


if __name__ == "__main__":
    main()
