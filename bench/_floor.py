"""The floor: a client's history read with the database driver alone and
encoded with orjson, in process, with nothing of the product in between.

``Floor.history`` reads the rows a snapshot is stored in (the client's id,
then its newest ``limit`` snapshots, then their extra collections and
prefixes) and builds the same JSON: the issue's floor, what any server of
these tables must at least do per request. ``Floor.stored_history`` reads
the snapshots' stored bodies (``snapshot_bodies``, what the API answers
from) and joins them: the floor of the product's own design. The product's
time over either is what its layers cost.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from typing import Any

import orjson
import psycopg

from bench._common import libpq_url
from usage.models import STANDARD_COLLECTIONS

_STANDARD = ", ".join(STANDARD_COLLECTIONS)
_CLIENT = "SELECT id FROM clients WHERE bucket_id = {p}"
_SNAPSHOTS = (
    f"SELECT snapshot_date, {_STANDARD}, total_records, object_count, total_bytes, computed_at"
    " FROM snapshots WHERE client_id = {p} ORDER BY snapshot_date DESC LIMIT {p}"
)
_EXTRAS = (
    "SELECT snapshot_date, collection, count FROM snapshot_collections"
    " WHERE client_id = {p} AND snapshot_date BETWEEN {p} AND {p}"
    " ORDER BY client_id, snapshot_date, collection"
)
_PREFIXES = (
    "SELECT snapshot_date, prefix, object_count, total_bytes FROM snapshot_prefixes"
    " WHERE client_id = {p} AND snapshot_date BETWEEN {p} AND {p}"
    " ORDER BY client_id, snapshot_date, prefix"
)
_BODIES = (
    "SELECT body FROM snapshot_bodies WHERE client_id = {p} ORDER BY snapshot_date DESC LIMIT {p}"
)
_UTC_Z = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS


class Floor:
    """``history(bucket_id, limit)`` -> the JSON body's bytes."""

    def __init__(self, url: str) -> None:
        self._sqlite: sqlite3.Connection | None = None
        self._postgres: psycopg.Connection[Any] | None = None
        if url.startswith("sqlite"):
            self._sqlite = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            self._sqlite.execute("PRAGMA journal_mode=WAL")
            placeholder = "?"
        else:
            self._postgres = psycopg.connect(libpq_url(url), autocommit=True)
            # Timestamps come back in UTC, so orjson writes them as ...Z itself.
            self._postgres.execute("SET TIME ZONE 'UTC'")
            placeholder = "%s"
        self._sql = [sql.replace("{p}", placeholder) for sql in
                     (_CLIENT, _SNAPSHOTS, _EXTRAS, _PREFIXES, _BODIES)]  # fmt: skip

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._postgres is not None:
            self._postgres.close()

    def _query(self, index: int, params: tuple[Any, ...]) -> list[Any]:
        if self._sqlite is not None:
            return self._sqlite.execute(self._sql[index], params).fetchall()
        assert self._postgres is not None
        return self._postgres.execute(self._sql[index], params).fetchall()

    def history(self, bucket_id: str, limit: int) -> bytes:
        ((client_id,),) = self._query(0, (bucket_id,))
        rows = self._query(1, (client_id, limit))
        if not rows:
            return orjson.dumps({"snapshots": [], "count": 0})
        span = (client_id, rows[-1][0], rows[0][0])
        extras: dict[Any, dict[str, int]] = defaultdict(dict)
        for day, name, count in self._query(2, span):
            extras[day][name] = count
        prefixes: dict[Any, dict[str, dict[str, int]]] = defaultdict(dict)
        for day, prefix, count, size in self._query(3, span):
            prefixes[day][prefix] = {"count": count, "bytes": size}
        snapshots = []
        for row in rows:
            day = row[0]
            records = dict(zip(STANDARD_COLLECTIONS, row[1:7], strict=True))
            records.update(extras.get(day, {}))
            records["total"] = row[7]
            computed_at = row[10]
            if isinstance(computed_at, str):  # SQLite: "YYYY-MM-DD HH:MM:SS.ffffff", UTC
                computed_at = f"{computed_at[:10]}T{computed_at[11:19]}Z"
            snapshots.append(
                {
                    "bucket_id": bucket_id,
                    "snapshot_date": day,
                    "records": records,
                    "storage": {
                        "object_count": row[8],
                        "total_bytes": row[9],
                        "by_prefix": prefixes.get(day, {}),
                    },
                    "computed_at": computed_at,
                }
            )
        return orjson.dumps({"snapshots": snapshots, "count": len(snapshots)}, option=_UTC_Z)

    def stored_history(self, bucket_id: str, limit: int) -> bytes:
        ((client_id,),) = self._query(0, (bucket_id,))
        if self._postgres is not None:  # bytea as itself, not as hexadecimal text
            cursor = self._postgres.cursor(binary=True)
            rows = cursor.execute(self._sql[4], (client_id, limit)).fetchall()
        else:
            rows = self._query(4, (client_id, limit))
        bodies = [body for (body,) in rows]
        head = b'{"bucket_id":' + orjson.dumps(bucket_id) + b","
        items = b",".join([head + body + b"}" for body in bodies])
        return b'{"snapshots":[%s],"count":%d}' % (items, len(bodies))


def check_same_body(product: bytes, floor: bytes) -> None:
    """The floor must produce what the product does, or the ratio means nothing."""
    if orjson.loads(product) != orjson.loads(floor):
        raise AssertionError("the floor's JSON differs from the product's")
