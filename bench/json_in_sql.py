"""A probe, not the product: the history body built by SQLite's JSON functions
in one statement, against the floor (driver + orjson) and the product.

    python -m bench.json_in_sql [--clients 10000]

At limit 1000 a body is some 4,800 rows (1,000 snapshots, their extra
collections and prefixes) and 420 KB of JSON; the floor spends its time
making a Python object of each row. Here Python receives one string. The
bodies are checked equal (as JSON) to the product's before timing.
"""

from __future__ import annotations

import argparse
import sqlite3
from typing import Any

import orjson
from sqlalchemy.orm import Session

from bench._common import load, sqlite_url, summarize, time_calls
from bench._floor import Floor
from bench.history import bucket_ids
from usage.db import make_engine
from usage.history import fetch_history
from usage.models import STANDARD_COLLECTIONS
from usage.validation import HistoryParams

_STANDARD = ", ".join(f"'{name}', s.{name}" for name in STANDARD_COLLECTIONS)
HISTORY_JSON = f"""
SELECT json_group_array(json_object(
  'bucket_id', ?1,
  'snapshot_date', s.snapshot_date,
  'records', json_insert(
    json_patch(json_object({_STANDARD}),
      (SELECT json_group_object(c.collection, c.count) FROM snapshot_collections c
        WHERE c.client_id = s.client_id AND c.snapshot_date = s.snapshot_date)),
    '$.total', s.total_records),
  'storage', json_object('object_count', s.object_count, 'total_bytes', s.total_bytes,
    'by_prefix', (SELECT json_group_object(p.prefix,
                    json_object('count', p.object_count, 'bytes', p.total_bytes))
                  FROM snapshot_prefixes p
                  WHERE p.client_id = s.client_id AND p.snapshot_date = s.snapshot_date)),
  'computed_at', substr(s.computed_at, 1, 10) || 'T' || substr(s.computed_at, 12, 8) || 'Z')),
  count(*)
FROM (SELECT * FROM snapshots
      WHERE client_id = (SELECT id FROM clients WHERE bucket_id = ?1)
      ORDER BY snapshot_date DESC LIMIT ?2) AS s
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    url = sqlite_url(args.clients)
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    floor = Floor(url)
    engine = make_engine(url)
    buckets = bucket_ids(args.clients, 100_000)

    for limit in (30, 1000):

        def in_sql(i: int, limit: int = limit) -> bytes:
            ((body, count),) = connection.execute(HISTORY_JSON, (buckets[i], limit)).fetchall()
            return b'{"snapshots":' + str(body).encode() + b',"count":' + str(count).encode() + b"}"

        def product(i: int, limit: int = limit) -> bytes:
            with Session(engine) as session:
                found = fetch_history(session, HistoryParams(buckets[i], limit=limit))
            return orjson.dumps({"snapshots": found, "count": len(found)})

        def baseline(i: int, limit: int = limit) -> bytes:
            return floor.history(buckets[i], limit)

        for i in range(5):
            if orjson.loads(in_sql(i)) != orjson.loads(product(i)):
                raise AssertionError(f"the JSON built in SQL differs for {buckets[i]}")
        line: dict[str, Any] = {}
        for name, call in (("floor", baseline), ("product", product), ("json in SQL", in_sql)):
            timings, rate = time_calls(call, min_calls=20, seconds=args.seconds)
            line[name] = {**summarize(timings), "per_second": round(rate, 1)}
        print(f"limit {limit:>4}: "
              + " | ".join(f"{name} p50 {v['p50_ms']:.2f} ms ({v['per_second']:.0f}/s)"
                           for name, v in line.items())
              + f" | {load()}")  # fmt: skip
    floor.close()
    engine.dispose()
    connection.close()


if __name__ == "__main__":
    main()
