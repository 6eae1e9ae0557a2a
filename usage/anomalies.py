"""What in a client's history someone should look at: a sharp drop (a
possible data loss), a sudden jump (a bulk import), a collection or storage
prefix that disappears, and snapshots that stopped coming.

Drops, jumps and disappearances compare each snapshot with the one before
it (across missing days: the explanation then names both days), for the
totals, every collection and every storage prefix. Everything works on the
API-shaped snapshot dicts (``usage.snapshots.SnapshotJSON``); the thresholds
are an ``AnomalySettings``, documented in ``docs/insights.md``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import itertools
from collections.abc import Iterable, Iterator

from usage.series import (
    DROP_MIN_BEFORE,
    DROP_THRESHOLD,
    STORAGE_BYTES,
    TOTAL_RECORDS,
    Drop,
    day_label,
)
from usage.snapshots import SnapshotJSON
from usage.units import human_bytes


class AnomalyKind(enum.StrEnum):
    DROP = "drop"  # a fall of more than ``drop_share``: possible data loss
    JUMP = "jump"  # a rise of more than ``jump_share``: a bulk import
    DISAPPEARED = "disappeared"  # a collection or prefix gone (or emptied)
    STOPPED = "stopped"  # no snapshot for ``stopped_days`` while active


class Scope(enum.StrEnum):
    TOTAL = "total"  # metric: TOTAL_RECORDS or STORAGE_BYTES
    COLLECTION = "collection"  # metric: the collection's name
    PREFIX = "prefix"  # metric: the storage prefix (its bytes)


class Severity(enum.IntEnum):
    """Ordered: a larger one needs attention first."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclasses.dataclass(frozen=True)
class AnomalySettings:
    """The thresholds; the defaults are documented in ``docs/insights.md``."""

    # A fall of more than this share from one snapshot to the next is a drop
    # (the Client page's drop marks come from here too: ``find_drops``) ...
    drop_share: float = DROP_THRESHOLD
    # ... and a fall of at least this share is a severe one.
    severe_drop_share: float = 0.5
    # A rise of more than this share is a jump.
    jump_share: float = 0.5
    # Smaller numbers before the change are left alone: a percentage of a
    # handful of records or bytes says nothing.
    min_records: int = DROP_MIN_BEFORE
    min_bytes: int = 10_000_000
    # Days without a snapshot, up to the store's newest day, before an active
    # client's collection counts as stopped, and as severely stopped.
    stopped_days: int = 3
    severe_stopped_days: int = 7
    # The statuses whose clients are expected to be collected every day.
    active_statuses: tuple[str, ...] = ("active", "trial")

    def __post_init__(self) -> None:
        if not 0 < self.drop_share <= self.severe_drop_share <= 1:
            raise ValueError("drop shares must satisfy 0 < drop_share <= severe_drop_share <= 1")
        if self.jump_share <= 0:
            raise ValueError("jump_share must be positive")
        if not 1 <= self.stopped_days <= self.severe_stopped_days:
            raise ValueError("stopped days must satisfy 1 <= stopped_days <= severe_stopped_days")


DEFAULT_SETTINGS = AnomalySettings()


@dataclasses.dataclass(frozen=True)
class Anomaly:
    """One event. ``before`` is the value on ``previous_day`` (the snapshot
    before), ``after`` the value on ``day``. For ``STOPPED``, ``day`` is the
    first day without a snapshot, ``previous_day`` the last with one,
    ``before`` and ``after`` both its total records, and ``silent_days``
    how many days have no snapshot since, up to the store's newest day."""

    kind: AnomalyKind
    bucket_id: str
    scope: Scope
    metric: str
    day: dt.date
    previous_day: dt.date
    before: int
    after: int
    severity: Severity
    explanation: str
    silent_days: int = 0

    @property
    def in_bytes(self) -> bool:
        return self.scope is Scope.PREFIX or self.metric == STORAGE_BYTES

    @property
    def change_pct(self) -> float | None:
        if self.before == 0:
            return None
        return (self.after - self.before) * 100.0 / self.before

    @property
    def key(self) -> tuple[str, str, str, str, dt.date]:
        """The event's identity, the same on every run that finds it: an
        alert is sent once per key."""
        return (self.bucket_id, self.kind.value, self.scope.value, self.metric, self.day)


def find_anomalies(
    bucket_id: str,
    snapshots: Iterable[SnapshotJSON],
    *,
    status: str | None = None,
    as_of: dt.date | None = None,
    settings: AnomalySettings = DEFAULT_SETTINGS,
) -> list[Anomaly]:
    """Every drop, jump and disappearance in ``snapshots``, oldest first,
    and, when ``as_of`` (the store's newest snapshot day) is given and the
    client's ``status`` is an active one, a stopped collection last."""
    ordered = sorted(_by_date(snapshots).items())
    found: list[Anomaly] = []
    for (previous_day, previous), (day, current) in itertools.pairwise(ordered):
        for scope, metric, before, after in _pairs(previous, current):
            anomaly = _change(bucket_id, scope, metric, previous_day, day, before, after, settings)
            if anomaly is not None:
                found.append(anomaly)
    if ordered and as_of is not None and status in settings.active_statuses:
        stopped = find_stopped(bucket_id, *ordered[-1], as_of, settings)
        if stopped is not None:
            found.append(stopped)
    return found


def find_drops(
    snapshots: Iterable[SnapshotJSON], settings: AnomalySettings = DEFAULT_SETTINGS
) -> list[Drop]:
    """The possible data losses the Client page lists and marks, oldest
    first: ``find_anomalies``' drops and disappearances (a jump is no loss),
    so the page and the alerts agree on what a drop is."""
    ordered = list(snapshots)
    totals = {s["snapshot_date"]: int(s["records"]["total"]) for s in ordered}
    return [
        Drop(
            metric=anomaly.metric,
            snapshot_date=anomaly.day,
            previous_date=anomaly.previous_day,
            before=anomaly.before,
            after=anomaly.after,
            total_after=totals[anomaly.day.isoformat()],
            in_collection=anomaly.scope is Scope.COLLECTION,
            in_bytes=anomaly.in_bytes,
        )
        for anomaly in find_anomalies("", ordered, settings=settings)
        if anomaly.kind in (AnomalyKind.DROP, AnomalyKind.DISAPPEARED)
    ]


def find_stopped(
    bucket_id: str,
    last_day: dt.date,
    last: SnapshotJSON,
    as_of: dt.date,
    settings: AnomalySettings = DEFAULT_SETTINGS,
) -> Anomaly | None:
    """A stopped collection: ``last`` (of ``last_day``) is the client's
    newest snapshot and ``as_of``, the store's newest day, is at least
    ``stopped_days`` later. The caller checks that the client is active."""
    records = int(last["records"]["total"])
    size = int(last["storage"]["total_bytes"])
    return find_stopped_after(bucket_id, last_day, records, size, as_of, settings)


def find_stopped_after(
    bucket_id: str,
    last_day: dt.date,
    records: int,
    size: int,
    as_of: dt.date,
    settings: AnomalySettings = DEFAULT_SETTINGS,
) -> Anomaly | None:
    """``find_stopped`` from the newest snapshot's totals alone (``records``
    and ``size`` in bytes): what ``latest_snapshots`` keeps of it, so every
    client can be checked without reading its history."""
    silent = (as_of - last_day).days
    if silent < settings.stopped_days:
        return None
    severity = Severity.HIGH if silent >= settings.severe_stopped_days else Severity.MEDIUM
    return Anomaly(
        kind=AnomalyKind.STOPPED,
        bucket_id=bucket_id,
        scope=Scope.TOTAL,
        metric=TOTAL_RECORDS,
        day=last_day + dt.timedelta(days=1),
        previous_day=last_day,
        before=records,
        after=records,
        severity=severity,
        explanation=(
            f"No snapshot for {silent} days up to {day_label(as_of)}: the last is from"
            f" {day_label(last_day)} ({records:,} records, {human_bytes(size)})"
        ),
        silent_days=silent,
    )


def _by_date(snapshots: Iterable[SnapshotJSON]) -> dict[dt.date, SnapshotJSON]:
    return {dt.date.fromisoformat(s["snapshot_date"]): s for s in snapshots}


def _pairs(
    previous: SnapshotJSON, current: SnapshotJSON
) -> Iterator[tuple[Scope, str, int, int | None]]:
    """``(scope, metric, before, after)`` for everything ``previous`` has;
    ``after`` is None where ``current`` does not list it."""
    yield Scope.TOTAL, TOTAL_RECORDS, previous["records"]["total"], current["records"]["total"]
    yield (
        Scope.TOTAL,
        STORAGE_BYTES,
        previous["storage"]["total_bytes"],
        current["storage"]["total_bytes"],
    )
    records = current["records"]
    for name, count in previous["records"].items():
        if name != "total":
            yield Scope.COLLECTION, name, count, records.get(name)
    prefixes = current["storage"]["by_prefix"]
    for prefix, entry in previous["storage"]["by_prefix"].items():
        now = prefixes.get(prefix)
        yield Scope.PREFIX, prefix, entry["bytes"], None if now is None else now["bytes"]


def _change(
    bucket_id: str,
    scope: Scope,
    metric: str,
    previous_day: dt.date,
    day: dt.date,
    before: int,
    after: int | None,
    settings: AnomalySettings,
) -> Anomaly | None:
    in_bytes = scope is Scope.PREFIX or metric == STORAGE_BYTES
    if before < (settings.min_bytes if in_bytes else settings.min_records):
        return None
    now = 0 if after is None else int(after)
    if scope is not Scope.TOTAL and now == 0:
        kind, severity = AnomalyKind.DISAPPEARED, Severity.HIGH
    elif now < before * (1 - settings.drop_share):
        severe = now <= before * (1 - settings.severe_drop_share)
        kind, severity = AnomalyKind.DROP, Severity.HIGH if severe else Severity.MEDIUM
    elif now > before * (1 + settings.jump_share):
        kind, severity = AnomalyKind.JUMP, Severity.LOW
    else:
        return None
    anomaly = Anomaly(
        kind, bucket_id, scope, metric, day, previous_day, int(before), now, severity, ""
    )
    return _explained(anomaly, gone=after is None)


def _explained(anomaly: Anomaly, *, gone: bool) -> Anomaly:
    """``anomaly`` with its sentence: ```documents/` fell from 3.4 GB to
    512.0 MB on 12 Nov 2026 (-85%)``."""
    name = _subject(anomaly)
    if anomaly.in_bytes:
        before, after = human_bytes(anomaly.before), human_bytes(anomaly.after)
    else:
        before, after = f"{anomaly.before:,}", f"{anomaly.after:,} records"
    when = _when(anomaly.previous_day, anomaly.day)
    pct = anomaly.change_pct
    change = "" if pct is None else f" ({pct:+.0f}%)"
    if anomaly.kind is AnomalyKind.DISAPPEARED:
        unit = "" if anomaly.in_bytes else " records"
        state = "is gone" if gone else "is empty"
        text = f"{name} {state} {when}: it held {before}{unit} on {day_label(anomaly.previous_day)}"
    elif anomaly.kind is AnomalyKind.DROP:
        text = f"{name} fell from {before} to {after} {when}{change}"
    else:
        text = f"{name} jumped from {before} to {after} {when}{change}: a bulk import?"
    return dataclasses.replace(anomaly, explanation=text)


def _subject(anomaly: Anomaly) -> str:
    if anomaly.metric == TOTAL_RECORDS and anomaly.scope is Scope.TOTAL:
        return "Total records"
    if anomaly.metric == STORAGE_BYTES and anomaly.scope is Scope.TOTAL:
        return "Storage"
    return f"`{anomaly.metric}`"


def _when(previous_day: dt.date, day: dt.date) -> str:
    """``on 12 Nov 2026`` after a snapshot the day before, else the two days
    with no snapshot between them: ``between 3 Nov and 12 Nov 2026``."""
    if (day - previous_day).days == 1:
        return f"on {day_label(day)}"
    first = day_label(previous_day)
    if previous_day.year == day.year:
        first = first.rsplit(" ", 1)[0]
    return f"between {first} and {day_label(day)}"
