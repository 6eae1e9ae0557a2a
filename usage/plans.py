"""Plans: what a client may hold (total records, storage bytes, records per
collection), set one client at a time or imported in bulk from CSV.

Limits are read as a person writes them: records as plain integers, storage
in decimal units as ``usage.units`` prints them (``50GB``, ``1.5 TB``,
``500MB``, or a plain number of bytes). A limit left out is not limited.

The CSV has a header line and one client per line: ``bucket_id``, then any
of ``records`` and ``storage``, and one column per limited collection, named
by the collection (``bucket_id,records,storage,person,member``). An empty
cell is no limit; a line whose limits are all empty clears the client's plan.
An import checks every line before it writes anything: a bad line is an
``InvalidParams`` naming its line and column, and nothing is imported.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from usage.access import client_not_found
from usage.audit import Action, Actor, record
from usage.errors import InvalidParams
from usage.models import Client, ClientPlan, CollectionLimit
from usage.series import STORAGE_BYTES, TOTAL_RECORDS
from usage.units import human_bytes, human_records
from usage.validation import name_is_text, parse_bucket_id

MAX_LIMIT = 10**18  # records or bytes (1,000 PB): far below BIGINT's end
_LIMIT_DIGITS = len(str(MAX_LIMIT))
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")
_INTEGER = re.compile(r"\s*0*([0-9]+)\s*")  # the digits without leading zeros
# The units of usage.units.human_bytes, read in any case (``gb`` is ``GB``).
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15}
# A collection's name: no space, nor the separators of --collection NAME=N;
# and text the store keeps (``name_is_text``: no control character, nor a
# lone surrogate from bytes that are not UTF-8 on the command line).
_COLLECTION = re.compile(r"[^\s=;,\"']{1,64}")
# The CSV's own columns; every other column is a collection.
BUCKET_COLUMN = "bucket_id"
RECORDS_COLUMN = "records"
STORAGE_COLUMN = "storage"


@dataclass(frozen=True)
class Plan:
    """A client's limits; None (or a collection left out) is not limited."""

    records: int | None = None
    storage_bytes: int | None = None
    collections: tuple[tuple[str, int], ...] = ()  # (name, records), by name

    def limits(self) -> dict[str, float]:
        """The limits by metric as ``usage.forecast.forecast_client`` takes
        them: ``TOTAL_RECORDS``, ``STORAGE_BYTES`` and collection names."""
        limits: dict[str, float] = dict(self.collections)
        if self.records is not None:
            limits[TOTAL_RECORDS] = self.records
        if self.storage_bytes is not None:
            limits[STORAGE_BYTES] = self.storage_bytes
        return limits

    def as_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "storage_bytes": self.storage_bytes,
            "collections": dict(self.collections),
        }

    @property
    def empty(self) -> bool:
        return self.records is None and self.storage_bytes is None and not self.collections

    def describe(self) -> str:
        """``250,000 records, 50.0 GB, 100,000 person records``."""
        parts = [] if self.records is None else [human_records(self.records)]
        if self.storage_bytes is not None:
            parts.append(human_bytes(self.storage_bytes))
        parts.extend(human_records(limit, name) for name, limit in self.collections)
        return ", ".join(parts) or "no limits"


def parse_records_limit(raw: str, name: str) -> int:
    """A number of records: a whole number from 1 to ``MAX_LIMIT``."""
    match = _INTEGER.fullmatch(raw)
    digits = match.group(1) if match else ""
    # More digits than the limit's is too large; int() would refuse thousands
    # of them with a ValueError (and a traceback) of its own.
    value = int(digits) if 1 <= len(digits) <= _LIMIT_DIGITS else 0
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidParams(
            f"{name} must be a whole number of records from 1 to 10^18 (got {raw!r})"
        )
    return value


def parse_size(raw: str, name: str) -> int:
    """Bytes from ``50GB``, ``1.5 TB``, ``500MB``, ``750 kB`` or a plain
    integer (bytes); decimal units, as storage is billed and shown."""
    match = _SIZE.fullmatch(raw)
    factor = _UNITS.get(match.group(2).lower()) if match else None
    value = 0
    if match and factor is not None and ("." not in match.group(1) or factor > 1):
        exact = Decimal(match.group(1)) * factor
        value = int(exact.to_integral_value(rounding=ROUND_HALF_UP))
    if not 1 <= value <= MAX_LIMIT:
        raise InvalidParams(
            f"{name} must be a size from 1 B to 1000 PB such as 50GB, 1.5 TB, 500MB"
            f" or a number of bytes (got {raw!r})"
        )
    return value


def parse_collection_name(raw: str, name: str) -> str:
    value = raw.strip()
    if not _COLLECTION.fullmatch(value) or not name_is_text(value) or value == "total":
        raise InvalidParams(
            f"{name} must be a collection's name: 1 to 64 characters, no space,"
            f" control character, '=', ';', ',' or quote, not 'total' (got {raw!r})"
        )
    return value


def parse_collection_limit(raw: str, name: str = "--collection") -> tuple[str, int]:
    """``person=100000``: a collection and its records limit."""
    collection, equals, limit = raw.partition("=")
    if not equals:
        raise InvalidParams(
            f"{name} must be COLLECTION=RECORDS such as person=100000 (got {raw!r})"
        )
    return parse_collection_name(collection, name), parse_records_limit(limit, name)


def make_plan(
    records: int | None, storage_bytes: int | None, collections: Iterable[tuple[str, int]]
) -> Plan:
    """A plan; one collection named twice is an error."""
    by_name: dict[str, int] = {}
    for collection, limit in collections:
        if collection in by_name:
            raise InvalidParams(f"collection {collection!r} is limited twice")
        by_name[collection] = limit
    return Plan(records, storage_bytes, tuple(sorted(by_name.items())))


def parse_plan(*, records: str | None, storage: str | None, collections: Sequence[str]) -> Plan:
    """The command line's ``--records``, ``--storage`` and ``--collection``
    values; at least one limit."""
    plan = make_plan(
        None if records is None else parse_records_limit(records, "--records"),
        None if storage is None else parse_size(storage, "--storage"),
        [parse_collection_limit(raw) for raw in collections],
    )
    if plan.empty:
        raise InvalidParams("a plan needs --records, --storage or --collection (or --clear)")
    return plan


def _client_id(session: Session, bucket_id: str) -> int:
    client_id = session.scalar(
        select(Client.id).where(Client.bucket_id == parse_bucket_id(bucket_id, "bucket"))
    )
    if client_id is None:
        raise client_not_found(bucket_id)
    return client_id


def _write(session: Session, client_id: int, plan: Plan | None) -> bool:
    """Replace the client's plan (None: remove it); True when it had one."""
    session.execute(delete(CollectionLimit).where(CollectionLimit.client_id == client_id))
    had = session.scalar(
        delete(ClientPlan).where(ClientPlan.client_id == client_id).returning(ClientPlan.client_id)
    )
    if plan is not None and not plan.empty:
        session.execute(
            insert(ClientPlan),
            {
                "client_id": client_id,
                "records_limit": plan.records,
                "storage_limit": plan.storage_bytes,
            },
        )
        if plan.collections:
            session.execute(
                insert(CollectionLimit),
                [
                    {"client_id": client_id, "collection": name, "records_limit": limit}
                    for name, limit in plan.collections
                ],
            )
    return had is not None


def set_plan(session: Session, bucket_id: str, plan: Plan, *, actor: Actor) -> None:
    """Give the client ``plan``, replacing the one it had; recorded in the
    audit trail as done by ``actor``."""
    _write(session, _client_id(session, bucket_id), plan)
    record(session, actor, Action.PLAN_SET, bucket_id, plan.describe())


def clear_plan(session: Session, bucket_id: str, *, actor: Actor) -> bool:
    """Remove the client's plan; False when it had none (nothing changed,
    nothing recorded)."""
    had = _write(session, _client_id(session, bucket_id), None)
    if had:
        record(session, actor, Action.PLAN_CLEARED, bucket_id)
    return had


def read_plan(session: Session, bucket_id: str) -> Plan | None:
    client_id = _client_id(session, bucket_id)
    return read_plans(session, [client_id]).get(client_id)


def read_plans(session: Session, client_ids: Iterable[int] | None = None) -> dict[int, Plan]:
    """The plans of ``client_ids`` (None: every client), by client id."""
    plans = select(ClientPlan.client_id, ClientPlan.records_limit, ClientPlan.storage_limit)
    limits = select(
        CollectionLimit.client_id, CollectionLimit.collection, CollectionLimit.records_limit
    ).order_by(CollectionLimit.client_id, CollectionLimit.collection)
    if client_ids is not None:
        wanted = sorted(set(client_ids))
        plans = plans.where(ClientPlan.client_id.in_(wanted))
        limits = limits.where(CollectionLimit.client_id.in_(wanted))
    collections: dict[int, list[tuple[str, int]]] = {}
    for client_id, collection, limit in session.execute(limits):
        collections.setdefault(client_id, []).append((collection, limit))
    return {
        client_id: Plan(records, storage, tuple(collections.get(client_id, ())))
        for client_id, records, storage in session.execute(plans)
    }


@dataclass(frozen=True)
class PlansImport:
    set: int  # clients given a plan
    cleared: int  # clients whose line has no limit (their plan removed)


def import_plans(
    session: Session, lines: Iterable[str], *, actor: Actor, source: str = ""
) -> PlansImport:
    """Check every line of the CSV (see the module), then write the plans in
    the caller's transaction; the clients the file does not name keep theirs.
    Recorded in the audit trail as one event of ``actor``, its target
    ``source`` (the file's name)."""
    rows = _parse_csv(lines)
    bucket_ids = sorted({bucket_id for _, bucket_id, _ in rows})
    client_ids: dict[str, int] = dict(
        session.execute(
            select(Client.bucket_id, Client.id).where(Client.bucket_id.in_(bucket_ids))
        ).all()
    )
    for line, bucket_id, _ in rows:
        if bucket_id not in client_ids:
            raise InvalidParams(
                f"line {line}, column {BUCKET_COLUMN}: unknown client {bucket_id!r}"
            )
    for _, bucket_id, plan in rows:
        _write(session, client_ids[bucket_id], plan)
    cleared = sum(1 for _, _, plan in rows if plan.empty)
    result = PlansImport(set=len(rows) - cleared, cleared=cleared)
    record(session, actor, Action.PLANS_IMPORTED, source, _import_detail(result, bucket_ids))
    return result


_LISTED_CLIENTS = 50  # the clients an import's audit event names


def _import_detail(result: PlansImport, bucket_ids: Sequence[str]) -> str:
    """``2 set, 1 cleared: acme-corp, globex, initech``."""
    named = ", ".join(bucket_ids[:_LISTED_CLIENTS])
    more = len(bucket_ids) - _LISTED_CLIENTS
    if more > 0:
        named += f" and {more:,} more"
    return f"{result.set} set, {result.cleared} cleared: {named or 'no client'}"


def _parse_csv(lines: Iterable[str]) -> list[tuple[int, str, Plan]]:
    """``(line, bucket_id, plan)`` of every line but the header and blank ones."""
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidParams(
            "the file is empty: its first line must be a header such as"
            " bucket_id,records,storage,person"
        ) from None
    except csv.Error as exc:
        raise InvalidParams(f"line 1: not CSV: {exc}") from None
    columns = _parse_header(header)
    seen: dict[str, int] = {}
    rows: list[tuple[int, str, Plan]] = []
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            raise InvalidParams(f"line {reader.line_num}: not CSV: {exc}") from None
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            raise InvalidParams(
                f"line {line}: {len(cells)} fields where the header has {len(columns)}"
            )
        values = dict(zip(columns, (cell.strip() for cell in cells), strict=True))
        bucket_id = parse_bucket_id(values[BUCKET_COLUMN], f"line {line}, column {BUCKET_COLUMN}")
        if bucket_id in seen:
            raise InvalidParams(
                f"line {line}, column {BUCKET_COLUMN}: {bucket_id!r} is on line"
                f" {seen[bucket_id]} already"
            )
        seen[bucket_id] = line
        rows.append((line, bucket_id, _parse_row(line, values)))


def _parse_header(header: Sequence[str]) -> list[str]:
    columns = [name.strip() for name in header]
    columns = [
        name.lower() if name.lower() in (BUCKET_COLUMN, RECORDS_COLUMN, STORAGE_COLUMN) else name
        for name in columns
    ]
    for name in columns:
        if name not in (BUCKET_COLUMN, RECORDS_COLUMN, STORAGE_COLUMN):
            parse_collection_name(name, f"line 1, column {name!r}")
        if columns.count(name) > 1:
            raise InvalidParams(f"line 1: column {name!r} appears twice")
    if BUCKET_COLUMN not in columns:
        raise InvalidParams(f"line 1: the header must have a {BUCKET_COLUMN} column")
    if len(columns) < 2:
        raise InvalidParams("line 1: the header must have a records, storage or collection column")
    return columns


def _parse_row(line: int, values: Mapping[str, str]) -> Plan:
    records = storage = None
    collections: list[tuple[str, int]] = []
    for column, raw in values.items():
        where = f"line {line}, column {column}"
        if column == BUCKET_COLUMN or not raw:
            continue
        if column == RECORDS_COLUMN:
            records = parse_records_limit(raw, where)
        elif column == STORAGE_COLUMN:
            storage = parse_size(raw, where)
        else:
            collections.append((column, parse_records_limit(raw, where)))
    return make_plan(records, storage, collections)
