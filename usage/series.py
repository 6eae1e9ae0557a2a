"""One client's snapshots by period (day, week, month) and their gaps.

Everything here works on the API-shaped snapshot dicts that
``usage.history.read_history`` returns, so a chart shows exactly the numbers
the API serves. A period without a snapshot is ``None`` (a gap), never 0.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from usage.models import STANDARD_COLLECTIONS
from usage.snapshots import SnapshotJSON

# A fall of more than this share from one snapshot to the next is a drop
# (``usage.anomalies``, which finds them for the Client page and the alerts).
DROP_THRESHOLD = 0.2
# Counts below this are too small for a percentage to mean a data loss.
DROP_MIN_BEFORE = 100

Values = list[int | None]

# The totals' metrics, beside each collection's and prefix's.
TOTAL_RECORDS = "total records"
STORAGE_BYTES = "storage bytes"


class Granularity(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class RangePreset(enum.StrEnum):
    LAST_30_DAYS = "30d"
    LAST_90_DAYS = "90d"
    LAST_12_MONTHS = "12m"
    YEAR_TO_DATE = "ytd"
    ALL = "all"
    CUSTOM = "custom"


_PRESET_DAYS = {
    RangePreset.LAST_30_DAYS: 30,
    RangePreset.LAST_90_DAYS: 90,
    RangePreset.LAST_12_MONTHS: 365,
}


def preset_range(
    preset: RangePreset, today: dt.date, first_day: dt.date | None
) -> tuple[dt.date, dt.date]:
    """The dates a preset covers, both included; ``first_day`` is the
    client's first snapshot (``ALL`` starts there)."""
    days = _PRESET_DAYS.get(preset)
    if days is not None:
        return today - dt.timedelta(days=days - 1), today
    if preset is RangePreset.YEAR_TO_DATE:
        return today.replace(month=1, day=1), today
    if preset is RangePreset.ALL:
        start = today if first_day is None else min(first_day, today)
        return start, today
    raise ValueError("a custom range has no preset dates")


def period_start(day: dt.date, granularity: Granularity) -> dt.date:
    """The first day of the period holding ``day`` (weeks start on Monday)."""
    if granularity is Granularity.WEEK:
        return day - dt.timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return day.replace(day=1)
    return day


def period_end(day: dt.date, granularity: Granularity) -> dt.date:
    """The last day of the period holding ``day`` (weeks end on Sunday)."""
    if granularity is Granularity.WEEK:  # the calendar's last week ends on its last day
        return day + min(dt.timedelta(days=6 - day.weekday()), dt.date.max - day)
    if granularity is Granularity.MONTH:
        last = calendar.monthrange(day.year, day.month)[1]
        return day.replace(day=last)
    return day


# Not calendar.month_abbr: it follows the process's locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_label(day: dt.date) -> str:
    """``23 Jun 2025``: a day as the pages name it, whatever the locale."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


@dataclass(frozen=True)
class Period:
    """A day, a week (Monday to Sunday) or a month, cut to a range.

    It shows its last snapshot in the range (the value on its last day with
    a snapshot); ``None`` when it has none (a gap, never 0)."""

    granularity: Granularity
    start: dt.date  # its first day in the range
    end: dt.date  # its last day in the range
    snapshot: SnapshotJSON | None

    @property
    def first(self) -> dt.date:
        """Its first day on the calendar (before ``start`` when cut)."""
        return period_start(self.start, self.granularity)

    @property
    def last(self) -> dt.date:
        """Its last day on the calendar (after ``end`` when cut)."""
        return period_end(self.start, self.granularity)

    @property
    def partial(self) -> bool:
        """The range covers only part of it."""
        return self.start != self.first or self.end != self.last

    @property
    def days(self) -> int:
        """Its days in the range."""
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        """``23 Jun 2025``, ``week of 23 Jun 2025`` or ``Nov 2026``."""
        if self.granularity is Granularity.WEEK:
            return f"week of {day_label(self.first)}"
        if self.granularity is Granularity.MONTH:
            return f"{_MONTHS[self.first.month - 1]} {self.first.year}"
        return day_label(self.first)

    @property
    def extent(self) -> str:
        """The label, and for a partial period the days the range holds:
        ``week of 23 Jun 2025 (partial: 25 Jun to 29 Jun 2025)``."""
        if not self.partial:
            return self.label
        last = day_label(self.end)
        if self.days == 1:
            return f"{self.label} (partial: {last} only)"
        first = day_label(self.start)
        if self.start.year == self.end.year:
            first = first.rsplit(" ", 1)[0]
        return f"{self.label} (partial: {first} to {last})"

    @property
    def snapshot_date(self) -> dt.date | None:
        """The day whose snapshot it shows."""
        if self.snapshot is None:
            return None
        return dt.date.fromisoformat(self.snapshot["snapshot_date"])


def rollup(
    snapshots: Iterable[SnapshotJSON], start: dt.date, end: dt.date, granularity: Granularity
) -> list[Period]:
    """Every period from ``start`` to ``end`` (both included), oldest first,
    each with its last snapshot in the range; the first and the last period
    are cut at the range's ends (``Period.partial``).

    At day granularity, the periods with a snapshot are the range's
    snapshots one for one: the API's history for the same range."""
    last_in_period: dict[dt.date, SnapshotJSON] = {}
    for day, snapshot in sorted(_by_date(snapshots).items()):
        if start <= day <= end:
            last_in_period[max(period_start(day, granularity), start)] = snapshot
    periods: list[Period] = []
    day = start
    while day <= end:
        last = min(period_end(day, granularity), end)
        periods.append(Period(granularity, day, last, last_in_period.get(day)))
        if last == dt.date.max:  # no day after it
            break
        day = last + dt.timedelta(days=1)
    return periods


@dataclass(frozen=True)
class ClientSeries:
    """Aligned series: one value per period of ``periods``, ``None`` where
    the period has no snapshot."""

    periods: list[Period]
    records: dict[str, Values]  # collection -> records (without the total)
    total_records: Values
    object_count: Values
    total_bytes: Values
    prefix_bytes: dict[str, Values]
    prefix_objects: dict[str, Values]


def _by_date(snapshots: Iterable[SnapshotJSON]) -> dict[dt.date, SnapshotJSON]:
    return {dt.date.fromisoformat(s["snapshot_date"]): s for s in snapshots}


def collection_names(snapshots: Iterable[SnapshotJSON]) -> list[str]:
    """The standard six first, then the others by name."""
    extras = {
        name
        for snapshot in snapshots
        for name in snapshot["records"]
        if name != "total" and name not in STANDARD_COLLECTIONS
    }
    return [*STANDARD_COLLECTIONS, *sorted(extras)]


def build_series(
    snapshots: Sequence[SnapshotJSON],
    start: dt.date,
    end: dt.date,
    granularity: Granularity,
) -> ClientSeries:
    """The last snapshot of each period from ``start`` to ``end`` (``rollup``).

    Inside a snapshot, a collection or prefix it does not list has 0 (it did
    not exist yet); a period without any snapshot has ``None`` everywhere.
    """
    periods = rollup(snapshots, start, end, granularity)
    chosen = [period.snapshot for period in periods]
    present = [snapshot for snapshot in chosen if snapshot is not None]
    collections = collection_names(present)
    prefixes = _prefix_names(present)

    def column(pick: str, key: str) -> Values:
        values: Values = []
        for snapshot in chosen:
            if snapshot is None:
                values.append(None)
            elif pick == "records":
                values.append(int(snapshot["records"].get(key, 0)))
            elif pick == "storage":
                values.append(int(snapshot["storage"][key]))
            else:
                entry = snapshot["storage"]["by_prefix"].get(key)
                values.append(0 if entry is None else int(entry[pick]))
        return values

    return ClientSeries(
        periods=periods,
        records={name: column("records", name) for name in collections},
        total_records=column("records", "total"),
        object_count=column("storage", "object_count"),
        total_bytes=column("storage", "total_bytes"),
        prefix_bytes={prefix: column("bytes", prefix) for prefix in prefixes},
        prefix_objects={prefix: column("count", prefix) for prefix in prefixes},
    )


def _prefix_names(snapshots: Sequence[SnapshotJSON]) -> list[str]:
    """Prefixes, largest first in the newest snapshot that has them."""
    size: dict[str, int] = {}
    ordered = sorted(snapshots, key=lambda s: str(s["snapshot_date"]))
    for snapshot in ordered:
        for prefix, entry in snapshot["storage"]["by_prefix"].items():
            size[prefix] = int(entry["bytes"])
    return sorted(size, key=lambda prefix: (-size[prefix], prefix))


def missing_days(
    snapshots: Iterable[SnapshotJSON],
    start: dt.date,
    end: dt.date,
    last_collected: dt.date | None,
    client_since: dt.date | None = None,
) -> list[dt.date]:
    """Every day of ``start``..``end`` without a snapshot, the first and the
    last included, up to ``last_collected``, the store's newest snapshot day
    (a later day is not due yet; ``None``: nothing was ever collected), and
    from ``client_since`` on (before it, no snapshot was due either)."""
    if last_collected is None:
        return []
    present = set(_by_date(snapshots))
    start = max(start, client_since or start)
    last = min(end, last_collected)
    count = (last - start).days + 1
    every = (start + dt.timedelta(days=offset) for offset in range(count))
    return [day for day in every if day not in present]


def day_runs(days: Sequence[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days as runs of consecutive days: ``[(first, last), ...]``."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if runs and runs[-1][1] + dt.timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


@dataclass(frozen=True)
class Drop:
    """A possible data loss as the Client page lists and marks it: a drop or
    a disappearance that ``usage.anomalies.find_drops`` found, the finder
    the alerts use too."""

    metric: str  # TOTAL_RECORDS, STORAGE_BYTES, a collection's name or a prefix
    snapshot_date: dt.date
    previous_date: dt.date
    before: int
    after: int
    total_after: int  # the snapshot's total records, where a chart marks it
    in_collection: bool  # a collection's records (the records chart has its line)
    in_bytes: bool  # the storage, or a prefix's bytes

    @property
    def change_pct(self) -> float:
        return (self.after - self.before) * 100.0 / self.before
