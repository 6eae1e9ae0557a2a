"""Export and import of snapshots as JSON Lines, one API snapshot per line.

Export writes the snapshots in bucket_id then date order, each exactly as the
API encodes it. Import checks every line (a bad line is an ``InvalidParams``
naming its line number and field) and stores the snapshots in the caller's
one transaction, each replacing the same client and day whole: importing the
same file twice changes nothing, and a bad line anywhere imports nothing.
A line is refused when an object in it names a key twice, when its day is
after today (as ``collect --date`` is), and when a collection or prefix name
has a control character, a lone surrogate or a space at its end.

A snapshot of an unknown client is refused, unless ``create_clients``: then
the client is created as ``active``, named by its bucket_id, client since its
first imported day (the file carries snapshots, not client details).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from usage.access import client_not_found
from usage.clients import add_client
from usage.demo import clear_demo
from usage.errors import InvalidParams
from usage.models import STANDARD_COLLECTIONS, Client, ClientStatus, Snapshot, utcnow
from usage.snapshots import SnapshotData, read_snapshots, replace_snapshots
from usage.validation import NewClient, first_repeated, name_is_text, parse_bucket_id, parse_date

EXPORT_BATCH = 500  # snapshots read per query
IMPORT_BATCH = 500  # snapshots written per statement
MAX_COUNT = 2**63 - 1  # BIGINT
MAX_COLLECTION = 64
MAX_PREFIX = 1024
_SNAPSHOT_FIELDS = ("bucket_id", "snapshot_date", "records", "storage", "computed_at")
_STORAGE_FIELDS = ("object_count", "total_bytes", "by_prefix")
_PREFIX_FIELDS = ("count", "bytes")


def export_snapshots(
    session: Session,
    out: TextIO,
    *,
    bucket_ids: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> int:
    """Write the snapshots of ``bucket_ids`` (default: every client) between
    ``start`` and ``end`` inclusive; returns how many. ``NotFound`` for an
    unknown client."""
    stmt = select(Client.id, Client.bucket_id).order_by(Client.bucket_id)
    if bucket_ids is not None:
        stmt = stmt.where(Client.bucket_id.in_(sorted(set(bucket_ids))))
    clients = session.execute(stmt).all()
    found = {row[1] for row in clients}
    for bucket_id in bucket_ids or ():
        if bucket_id not in found:
            raise client_not_found(bucket_id)
    written = 0
    for client_id, bucket_id in clients:
        after = start - dt.timedelta(days=1) if start is not None else None
        while True:
            conditions = [Snapshot.client_id == client_id]
            if after is not None:
                conditions.append(Snapshot.snapshot_date > after)
            if end is not None:
                conditions.append(Snapshot.snapshot_date <= end)
            batch = read_snapshots(
                session,
                and_(*conditions),
                order_by=[Snapshot.snapshot_date],
                limit=EXPORT_BATCH,
                bucket_ids={client_id: bucket_id},
            )
            for snapshot in batch:
                out.write(json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")))
                out.write("\n")
            written += len(batch)
            if len(batch) < EXPORT_BATCH:
                break
            after = dt.date.fromisoformat(batch[-1]["snapshot_date"])
    return written


@dataclass(frozen=True)
class ImportSummary:
    snapshots: int
    created_clients: tuple[str, ...]
    client_ids: tuple[int, ...] = ()  # the clients whose snapshots were stored


def import_snapshots(
    session: Session,
    lines: Iterable[str],
    *,
    create_clients: bool = False,
    today: dt.date | None = None,
) -> ImportSummary:
    """Check and store every line (blank lines are skipped); see the module.
    ``today`` (default: today in UTC, as collection's) is the last day a
    snapshot may have."""
    today = utcnow().date() if today is None else today
    client_ids: dict[str, int] = {
        row[0]: row[1] for row in session.execute(select(Client.bucket_id, Client.id))
    }
    created: dict[str, dt.date] = {}  # new client -> its first day
    seen: dict[tuple[str, dt.date], int] = {}  # (bucket, day) -> line number
    pending: list[tuple[int, SnapshotData]] = []
    imported = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            bucket_id, data = parse_snapshot_line(line, today=today)
        except InvalidParams as exc:
            raise InvalidParams(f"line {number}: {exc.message}") from None
        key = (bucket_id, data.snapshot_date)
        if key in seen:
            raise InvalidParams(
                f"line {number}: a second snapshot of {bucket_id} on"
                f" {data.snapshot_date.isoformat()} (the first is on line {seen[key]})"
            )
        seen[key] = number
        if bucket_id not in client_ids:
            if not create_clients:
                raise InvalidParams(
                    f"line {number}: unknown client {bucket_id!r}: add it first"
                    " (python -m usage clients add) or import with --create-clients"
                )
            client_ids[bucket_id] = _create_client(session, bucket_id, data.snapshot_date)
            created[bucket_id] = data.snapshot_date
        if bucket_id in created:
            created[bucket_id] = min(created[bucket_id], data.snapshot_date)
        pending.append((client_ids[bucket_id], data))
        if len(pending) >= IMPORT_BATCH:
            imported += replace_snapshots(session, pending)
            pending = []
    imported += replace_snapshots(session, pending)
    for bucket_id, first_day in created.items():
        session.execute(
            update(Client).where(Client.bucket_id == bucket_id).values(client_since=first_day)
        )
    if imported:  # real snapshots: the store is not only the demo now
        clear_demo(session)
    return ImportSummary(
        snapshots=imported,
        created_clients=tuple(sorted(created)),
        client_ids=tuple(sorted({client_ids[bucket_id] for bucket_id, _ in seen})),
    )


def _create_client(session: Session, bucket_id: str, since: dt.date) -> int:
    new = NewClient(
        bucket_id=bucket_id,
        display_name=bucket_id,
        status=ClientStatus.ACTIVE,
        client_since=since,
        trial_end_date=None,
    )
    add_client(session, new)
    return session.execute(select(Client.id).where(Client.bucket_id == bucket_id)).scalar_one()


def parse_snapshot_line(line: str, *, today: dt.date) -> tuple[str, SnapshotData]:
    """One line of JSON in the API's snapshot format -> (bucket_id, snapshot)."""
    try:
        raw = json.loads(line, object_pairs_hook=_unique_keys)
    except ValueError as exc:
        raise InvalidParams(f"not valid JSON ({exc})") from None
    except RecursionError:
        raise InvalidParams("not valid JSON (nested too deeply)") from None
    body = _object(raw, "the line", _SNAPSHOT_FIELDS)
    bucket_id = parse_bucket_id(_string(body["bucket_id"], "bucket_id"))
    day = _snapshot_date(body["snapshot_date"], today)
    records = _records(body["records"])
    storage = _object(body["storage"], "storage", _STORAGE_FIELDS)
    by_prefix = _by_prefix(storage["by_prefix"])
    _check_sum(storage["object_count"], "storage.object_count", by_prefix, 0, "counts")
    _check_sum(storage["total_bytes"], "storage.total_bytes", by_prefix, 1, "bytes")
    return bucket_id, SnapshotData(
        snapshot_date=day,
        records=records,
        by_prefix=by_prefix,
        computed_at=_datetime(body["computed_at"], "computed_at"),
    )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: ``json`` alone would keep
    the last of two, so a line could end by overwriting its own bucket_id."""
    twice = first_repeated(key for key, _ in pairs)
    if twice is not None:
        raise InvalidParams(f"the key {twice!r} appears twice in one JSON object")
    return dict(pairs)


def _snapshot_date(raw: Any, today: dt.date) -> dt.date:
    day = parse_date(_string(raw, "snapshot_date"), "snapshot_date")
    assert day is not None
    if day > today:
        raise InvalidParams(f"snapshot_date must not be after today ({today.isoformat()})")
    return day


def _object(raw: Any, name: str, fields: Sequence[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidParams(f"{name} must be a JSON object")
    for field in fields:
        if field not in raw:
            raise InvalidParams(f"{name} lacks the field {field!r}")
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise InvalidParams(f"{name} has an unknown field {unknown[0]!r}")
    return raw


def _string(raw: Any, name: str) -> str:
    if not isinstance(raw, str):
        raise InvalidParams(f"{name} must be a string")
    return raw


def _count(raw: Any, name: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_COUNT:
        raise InvalidParams(f"{name} must be a whole number from 0 to {MAX_COUNT}")
    return raw


def _records(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise InvalidParams("records must be a JSON object")
    for name in (*STANDARD_COLLECTIONS, "total"):
        if name not in raw:
            raise InvalidParams(f"records lacks {name!r}")
    records: dict[str, int] = {}
    for name, value in raw.items():
        if not 1 <= len(name) <= MAX_COLLECTION:
            raise InvalidParams(f"records: collection names must be 1 to {MAX_COLLECTION} long")
        if not name_is_text(name):
            raise InvalidParams(
                "records: collection names must have no control character, lone surrogate"
                f" or space at either end (got {name!r})"
            )
        records[name] = _count(value, f"records.{name}")
    total = records.pop("total")
    if total != sum(records.values()):
        raise InvalidParams(
            f"records.total must be the sum of the collections ({sum(records.values())}),"
            f" not {total}"
        )
    return records


def _by_prefix(raw: Any) -> dict[str, tuple[int, int]]:
    if not isinstance(raw, dict):
        raise InvalidParams("storage.by_prefix must be a JSON object")
    by_prefix: dict[str, tuple[int, int]] = {}
    for prefix, usage in raw.items():
        if not 1 <= len(prefix) <= MAX_PREFIX:
            raise InvalidParams(f"storage.by_prefix: prefixes must be 1 to {MAX_PREFIX} long")
        # A leading space is an S3 key's own (collection keeps it); a prefix
        # ends in '/' or is ROOT_PREFIX, so a trailing one is never real.
        if not name_is_text(prefix, leading_space=True):
            raise InvalidParams(
                "storage.by_prefix: prefixes must have no control character, lone surrogate"
                f" or space at their end (got {prefix!r})"
            )
        name = f"storage.by_prefix[{prefix!r}]"
        entry = _object(usage, name, _PREFIX_FIELDS)
        by_prefix[prefix] = (
            _count(entry["count"], f"{name}.count"),
            _count(entry["bytes"], f"{name}.bytes"),
        )
    return by_prefix


def _check_sum(
    raw: Any, name: str, by_prefix: dict[str, tuple[int, int]], index: int, what: str
) -> None:
    value = _count(raw, name)
    total = sum(usage[index] for usage in by_prefix.values())
    if value != total:
        raise InvalidParams(
            f"{name} must be the sum of the by_prefix {what} ({total}), not {value}"
        )


def _datetime(raw: Any, name: str) -> dt.datetime:
    message = f"{name} must be an RFC 3339 date-time with its zone, e.g. 2024-01-15T02:00:00Z"
    if not isinstance(raw, str):
        raise InvalidParams(message)
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidParams(message) from None
    if value.tzinfo is None:
        raise InvalidParams(message)
    return value.astimezone(dt.UTC)
