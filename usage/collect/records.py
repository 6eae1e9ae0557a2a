"""Record counts of one client, by collection, from the platform's records database.

The default query counts a table's rows by collection for one bucket_id
(``SELECT collection, count(*) ... WHERE bucket_id = :bucket_id GROUP BY
collection``); ``records.query`` replaces it with any SQL that returns
``(collection, count)`` rows for ``:bucket_id``. Collections beyond the
standard six are kept; the six are always there (0 when absent).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnClause,
    Connection,
    Engine,
    Executable,
    bindparam,
    column,
    create_engine,
    func,
    select,
    table,
    text,
)

from usage.collect.config import RecordsConfig
from usage.models import STANDARD_COLLECTIONS
from usage.validation import name_is_text

MAX_COLLECTION_NAME = 64  # snapshot_collections.collection
RESERVED_NAMES = frozenset({"total"})  # the API's records object has its own "total"


class RecordsError(Exception):
    """The records query failed or returned something that is not counts."""


def make_records_engine(config: RecordsConfig, pool_size: int) -> Engine:
    """An engine for the records database, with a connection per worker."""
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if config.url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        kwargs.update(pool_size=pool_size, max_overflow=0)
    return create_engine(config.url, **kwargs)


def records_query(config: RecordsConfig) -> Executable:
    if config.query is not None:
        return text(config.query)
    schema, _, name = config.table.rpartition(".")
    collection: ColumnClause[Any] = column(config.collection_column)
    source = table(name, column(config.bucket_column), collection, schema=schema or None)
    return (
        select(collection, func.count())
        .select_from(source)
        .where(source.c[config.bucket_column] == bindparam("bucket_id"))
        .group_by(collection)
    )


def count_records(connection: Connection, query: Executable, bucket_id: str) -> dict[str, int]:
    """Counts by collection: the standard six first, then the others by name."""
    counts = dict.fromkeys(STANDARD_COLLECTIONS, 0)
    seen: set[str] = set()
    for row in connection.execute(query, {"bucket_id": bucket_id}):
        if len(row) != 2:
            raise RecordsError(
                f"the records query must return 2 columns (collection, count), not {len(row)}"
            )
        name, count = row
        _check(name, count, seen)
        seen.add(name)
        counts[name] = int(count)
    extras = sorted(name for name in counts if name not in STANDARD_COLLECTIONS)
    return {name: counts[name] for name in (*STANDARD_COLLECTIONS, *extras)}


def _check(name: Any, count: Any, seen: set[str]) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_COLLECTION_NAME:
        raise RecordsError(
            f"collection names must be 1 to {MAX_COLLECTION_NAME} characters, got {name!r}"
        )
    if not name_is_text(name):  # import would refuse it: an export must import back
        raise RecordsError(
            "collection names must have no control character, lone surrogate or space at"
            f" either end, got {name!r}"
        )
    if name in RESERVED_NAMES:
        raise RecordsError(f"a collection may not be named {name!r} (reserved)")
    if name in seen:
        raise RecordsError(f"the records query returned collection {name!r} twice")
    # PostgreSQL's sum() gives a Decimal; a whole one is a count all the same.
    whole = isinstance(count, int) or (
        isinstance(count, Decimal) and count.is_finite() and count == count.to_integral_value()
    )
    if isinstance(count, bool) or not whole or count < 0:
        raise RecordsError(f"collection {name!r} has a count that is not a whole number: {count!r}")
