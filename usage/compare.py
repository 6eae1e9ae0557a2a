"""One client on two dates: what changed, per collection and per prefix."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from usage.access import Visible
from usage.history import read_history
from usage.series import collection_names
from usage.snapshots import SnapshotJSON


@dataclass(frozen=True)
class Movement:
    """One count on both dates; ``None`` where the snapshot does not list it."""

    name: str
    before: int | None
    after: int | None

    @property
    def delta(self) -> int:
        return (self.after or 0) - (self.before or 0)

    @property
    def change_pct(self) -> float | None:
        """None when there was nothing before (a change from 0 has no %)."""
        if not self.before:
            return None
        return self.delta * 100.0 / self.before

    @property
    def is_new(self) -> bool:
        """Something now where there was nothing (not listed, or 0) before."""
        return not self.before and bool(self.after)

    @property
    def is_gone(self) -> bool:
        """Listed before, no longer listed after (a prefix emptied, say)."""
        return self.before is not None and self.after is None


@dataclass(frozen=True)
class Comparison:
    before: SnapshotJSON
    after: SnapshotJSON
    totals: list[Movement]  # records, objects, bytes
    collections: list[Movement]  # largest movers first
    prefix_objects: list[Movement]
    prefix_bytes: list[Movement]


def read_snapshot_at(
    session: Session, bucket_id: str, day: dt.date, *, visible: Visible
) -> SnapshotJSON | None:
    """The client's snapshot on ``day``, or else its last one before it.

    Raises ``NotFound`` for an unknown client, or one outside ``visible``.
    """
    found = read_history(session, bucket_id, None, day, 1, visible=visible)
    return found[0] if found else None


def _movers(before: Mapping[str, int | None], after: Mapping[str, int | None]) -> list[Movement]:
    names = sorted(set(before) | set(after))
    moves = [Movement(name, before.get(name), after.get(name)) for name in names]
    return sorted(moves, key=lambda move: (-abs(move.delta), move.name))


def _prefixes(snapshot: SnapshotJSON, field: str) -> dict[str, int | None]:
    return {prefix: int(entry[field]) for prefix, entry in snapshot["storage"]["by_prefix"].items()}


def compare_snapshots(before: SnapshotJSON, after: SnapshotJSON) -> Comparison:
    """Counts, deltas and % changes from ``before`` to ``after``."""
    names = collection_names([before, after])
    storage_before, storage_after = before["storage"], after["storage"]
    return Comparison(
        before=before,
        after=after,
        totals=[
            Movement("records", before["records"]["total"], after["records"]["total"]),
            Movement("objects", storage_before["object_count"], storage_after["object_count"]),
            Movement("bytes", storage_before["total_bytes"], storage_after["total_bytes"]),
        ],
        collections=_movers(
            {name: before["records"].get(name) for name in names},
            {name: after["records"].get(name) for name in names},
        ),
        prefix_objects=_movers(_prefixes(before, "count"), _prefixes(after, "count")),
        prefix_bytes=_movers(_prefixes(before, "bytes"), _prefixes(after, "bytes")),
    )
