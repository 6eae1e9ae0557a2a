"""Alerts: what an account manager should hear about, found after every
collection run, import and demo load (``run_alerts``), kept as one row per
event, and handed to ``usage.delivery``.

The rules, their thresholds from ``[alerts]`` of the settings file
(``usage.collect.config.AlertConfig``; docs/insights.md):

- ``limit``: a plan's limit (``usage.plans``) is reached within
  ``limit_days`` by the forecast's likely day (``usage.forecast``), or
  already;
- ``drop`` and ``disappeared``: a total, a collection or a storage prefix
  fell by more than ``drop_percent`` from one snapshot to the next
  (``usage.anomalies``) in the newest ``DROP_DAYS`` of the client's history,
  and has not come back since;
- ``stopped``: an active client has had no snapshot for ``stopped_days``;
- ``growth``: total records or storage grew by more than ``growth_percent``
  in ``GROWTH_DAYS``.

``evaluate`` compares what is current with the open events: a new one is
stored (and its deliveries queued), one that lasts is updated and not sent
again, one no longer current is resolved. A resolved event that comes back
is a new row and is sent again.

A run evaluates the clients whose snapshots it changed (``client_ids``):
their histories are read and their events found, lasting or resolved; an
other client's events stay as they are. A stopped collection is the
exception, as other clients' days make it: it is looked for in every
client, from ``latest_snapshots`` alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from usage import delivery
from usage.anomalies import (
    AnomalyKind,
    AnomalySettings,
    Scope,
    Severity,
    find_anomalies,
    find_stopped_after,
)
from usage.collect.config import AlertConfig, load_alert_config
from usage.db import for_writes
from usage.errors import ConfigError
from usage.forecast import (
    DEFAULT_SETTINGS,
    describe_reach,
    forecast_metric,
    quantity,
    reach_limit,
)
from usage.models import AlertEvent, Client, LatestSnapshot, utcnow
from usage.plans import Plan, read_plans
from usage.series import STORAGE_BYTES, TOTAL_RECORDS, day_label
from usage.snapshots import SnapshotJSON, as_utc, format_day, read_client_snapshots
from usage.totals import upsert
from usage.units import human_bytes

log = logging.getLogger(__name__)

# A drop older than this (from the client's newest snapshot) is history, not news.
DROP_DAYS = 14
# Growth is measured over this many days, from the newest snapshot back to the
# last one at least that old, and at most a week older than that.
GROWTH_DAYS = 30
GROWTH_SLACK_DAYS = 7
# The history read for a client without a plan (drops, growth) and with one
# (the forecast's window).
_HISTORY_DAYS = GROWTH_DAYS + GROWTH_SLACK_DAYS + 1
_FORECAST_DAYS = DEFAULT_SETTINGS.window_days


class AlertKind(enum.StrEnum):
    LIMIT = "limit"  # a plan's limit reached soon, or already
    DROP = "drop"  # a sharp fall: possible data loss
    DISAPPEARED = "disappeared"  # a collection or prefix gone or emptied
    STOPPED = "stopped"  # no snapshot for days while active
    GROWTH = "growth"  # fast growth over 30 days


@dataclasses.dataclass(frozen=True)
class AlertRules:
    """The thresholds, as shares (the settings say percent)."""

    limit_days: int = 30
    drop_share: float = 0.2
    stopped_days: int = 3
    growth_share: float = 0.25

    @classmethod
    def from_config(cls, config: AlertConfig) -> AlertRules:
        return cls(
            limit_days=config.limit_days,
            drop_share=config.drop_percent / 100,
            stopped_days=config.stopped_days,
            growth_share=config.growth_percent / 100,
        )

    def anomaly_settings(self) -> AnomalySettings:
        defaults = AnomalySettings()
        return dataclasses.replace(
            defaults,
            drop_share=self.drop_share,
            severe_drop_share=max(self.drop_share, defaults.severe_drop_share),
            stopped_days=self.stopped_days,
            severe_stopped_days=max(self.stopped_days, defaults.severe_stopped_days),
        )


def drop_settings() -> AnomalySettings:
    """The anomaly thresholds of the ``[alerts]`` settings, for the Client
    page's drop marks: the page marks exactly the drops the alerts see
    (the defaults, and a warning logged, while the settings are wrong)."""
    try:
        config = load_alert_config()
    except ConfigError as exc:
        log.warning("drops found with the default thresholds: %s", exc)
        return AnomalySettings()
    return AlertRules.from_config(config).anomaly_settings()


@dataclasses.dataclass(frozen=True)
class Finding:
    """A current event of one client. ``day`` is when it happened (none for
    a limit or growth, which last as long as they are true); ``details``
    are its numbers, as JSON."""

    kind: AlertKind
    scope: Scope
    metric: str
    day: dt.date | None
    severity: Severity
    summary: str
    details: dict[str, Any]

    @property
    def key(self) -> str:
        """The event's identity among the client's: the same on every run
        that finds it."""
        day = "" if self.day is None else self.day.isoformat()
        parts = "\x1f".join((self.kind.value, self.scope.value, self.metric, day))
        return hashlib.sha256(parts.encode()).hexdigest()


def current_events(
    bucket_id: str,
    status: str,
    snapshots: Iterable[SnapshotJSON],
    plan: Plan | None,
    as_of: dt.date,
    rules: AlertRules = AlertRules(),
) -> list[Finding]:
    """Every event that is true of the client now: ``snapshots`` are its
    newest (at least ``_FORECAST_DAYS`` with a plan, ``_HISTORY_DAYS``
    without), ``as_of`` the store's newest snapshot day."""
    ordered = sorted(snapshots, key=lambda snapshot: snapshot["snapshot_date"])
    if not ordered:
        return []
    found = history_events(bucket_id, ordered, plan, rules)
    last = ordered[-1]
    stopped = stopped_event(
        bucket_id,
        status,
        dt.date.fromisoformat(last["snapshot_date"]),
        int(last["records"]["total"]),
        int(last["storage"]["total_bytes"]),
        as_of,
        rules,
    )
    return found if stopped is None else [*found, stopped]


def history_events(
    bucket_id: str, snapshots: Iterable[SnapshotJSON], plan: Plan | None, rules: AlertRules
) -> list[Finding]:
    """The events its history shows (a limit, a drop, growth): all of
    ``current_events`` but a stopped collection, which needs no history."""
    ordered = sorted(snapshots, key=lambda snapshot: snapshot["snapshot_date"])
    if not ordered:
        return []
    found: list[Finding] = []
    if plan is not None:
        found.extend(_limits(ordered, plan, rules))
    found.extend(_drops(bucket_id, ordered, rules))
    found.extend(_growth(ordered, rules))
    return found


def stopped_event(
    bucket_id: str,
    status: str,
    last_day: dt.date,
    records: int,
    size: int,
    as_of: dt.date,
    rules: AlertRules,
) -> Finding | None:
    """A stopped collection, from the client's newest snapshot's day and
    totals (``records``, ``size`` in bytes) and the store's newest day."""
    settings = rules.anomaly_settings()
    if status not in settings.active_statuses:
        return None
    anomaly = find_stopped_after(bucket_id, last_day, records, size, as_of, settings)
    if anomaly is None:
        return None
    return Finding(
        kind=AlertKind.STOPPED,
        scope=anomaly.scope,
        metric=anomaly.metric,
        day=anomaly.day,
        severity=anomaly.severity,
        summary=anomaly.explanation,
        details={
            "last_day": anomaly.previous_day.isoformat(),
            "silent_days": anomaly.silent_days,
            "as_of": as_of.isoformat(),
        },
    )


def _value(snapshot: SnapshotJSON, scope: Scope, metric: str) -> int:
    if scope is Scope.PREFIX:
        entry = snapshot["storage"]["by_prefix"].get(metric)
        return 0 if entry is None else int(entry["bytes"])
    if metric == STORAGE_BYTES and scope is Scope.TOTAL:
        return int(snapshot["storage"]["total_bytes"])
    if metric == TOTAL_RECORDS and scope is Scope.TOTAL:
        return int(snapshot["records"]["total"])
    return int(snapshot["records"].get(metric, 0))


def _subject(scope: Scope, metric: str) -> str:
    if scope is Scope.TOTAL:
        return "Total records" if metric == TOTAL_RECORDS else "Storage"
    return f"`{metric}`"


def _limits(ordered: Sequence[SnapshotJSON], plan: Plan, rules: AlertRules) -> Iterable[Finding]:
    last = ordered[-1]
    for metric, limit in sorted(plan.limits().items()):
        scope = Scope.TOTAL if metric in (TOTAL_RECORDS, STORAGE_BYTES) else Scope.COLLECTION
        now = _value(last, scope, metric)
        reach = None
        if now >= limit:
            text = f"{quantity(metric, now)}, over the plan's limit of {quantity(metric, limit)}"
        else:
            # Only the limited metrics are projected: the forecast is the cost here.
            forecast = forecast_metric(ordered, metric)
            reach = None if forecast is None else reach_limit(forecast, limit)
            days = None if reach is None else reach.days_to_likely
            if reach is None or days is None or days > rules.limit_days:
                continue  # not within the days, or too short a history to tell
            text = f"{describe_reach(reach, metric)} (the plan's limit)"
        yield Finding(
            kind=AlertKind.LIMIT,
            scope=scope,
            metric=metric,
            day=None,
            severity=Severity.HIGH if now >= limit else Severity.MEDIUM,
            summary=f"{_subject(scope, metric)}: {text}",
            details={
                "limit": int(limit),
                "value": now,
                "last_day": last["snapshot_date"],
                "reached": now >= limit,
                "likely": format_day(None if reach is None else reach.likely),
                "earliest": format_day(None if reach is None else reach.earliest),
                "latest": format_day(None if reach is None else reach.latest),
            },
        )


def _drops(bucket_id: str, ordered: Sequence[SnapshotJSON], rules: AlertRules) -> Iterable[Finding]:
    last = ordered[-1]
    since = dt.date.fromisoformat(last["snapshot_date"]) - dt.timedelta(days=DROP_DAYS - 1)
    settings = rules.anomaly_settings()
    # From the snapshot before the lookback on: the older pairs cannot matter.
    first = next(
        (i for i, snapshot in enumerate(ordered) if snapshot["snapshot_date"] >= since.isoformat()),
        len(ordered) - 1,
    )
    recent = ordered[max(first - 1, 0) :]
    for anomaly in find_anomalies(bucket_id, recent, settings=settings):
        if anomaly.kind is AnomalyKind.JUMP or anomaly.day < since:
            continue
        # Come back (near) to where it was: no longer a loss to act on.
        if _value(last, anomaly.scope, anomaly.metric) >= anomaly.before * (1 - rules.drop_share):
            continue
        kind = AlertKind.DROP if anomaly.kind is AnomalyKind.DROP else AlertKind.DISAPPEARED
        yield Finding(
            kind=kind,
            scope=anomaly.scope,
            metric=anomaly.metric,
            day=anomaly.day,
            severity=anomaly.severity,
            summary=anomaly.explanation,
            details={
                "before": anomaly.before,
                "after": anomaly.after,
                "previous_day": anomaly.previous_day.isoformat(),
                "change_pct": _rounded(anomaly.change_pct),
                "now": _value(last, anomaly.scope, anomaly.metric),
            },
        )


def _growth(ordered: Sequence[SnapshotJSON], rules: AlertRules) -> Iterable[Finding]:
    last = ordered[-1]
    last_day = dt.date.fromisoformat(last["snapshot_date"])
    latest_start = last_day - dt.timedelta(days=GROWTH_DAYS)
    earliest_start = latest_start - dt.timedelta(days=GROWTH_SLACK_DAYS)
    base = None
    for snapshot in ordered:  # oldest first: the last one that fits wins
        if earliest_start.isoformat() <= snapshot["snapshot_date"] <= latest_start.isoformat():
            base = snapshot
    if base is None:
        return
    base_day = dt.date.fromisoformat(base["snapshot_date"])
    defaults = AnomalySettings()
    for metric, smallest in (
        (TOTAL_RECORDS, defaults.min_records),
        (STORAGE_BYTES, defaults.min_bytes),
    ):
        before, after = _value(base, Scope.TOTAL, metric), _value(last, Scope.TOTAL, metric)
        if before < smallest or after <= before * (1 + rules.growth_share):
            continue
        if metric == STORAGE_BYTES:
            start, end = human_bytes(before), human_bytes(after)
        else:
            start, end = f"{before:,}", f"{after:,} records"
        change = (after - before) * 100.0 / before
        days = (last_day - base_day).days
        first = day_label(base_day)
        if base_day.year == last_day.year:
            first = first.rsplit(" ", 1)[0]
        yield Finding(
            kind=AlertKind.GROWTH,
            scope=Scope.TOTAL,
            metric=metric,
            day=None,
            severity=Severity.LOW,
            summary=(
                f"{_subject(Scope.TOTAL, metric)} grew from {start} to {end}"
                f" in {days} days, {first} to {day_label(last_day)} ({change:+.0f}%)"
            ),
            details={
                "before": before,
                "after": after,
                "from_day": base_day.isoformat(),
                "to_day": last_day.isoformat(),
                "change_pct": _rounded(change),
            },
        )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    opened: tuple[int, ...]  # new events' ids
    resolved: tuple[int, ...]
    still_open: int  # events that were open and still are


def evaluate(
    session: Session, config: AlertConfig, now: dt.datetime, *, client_ids: Collection[int] | None
) -> Evaluation:
    """Find the current events (``find_current``), store the new ones and
    queue their deliveries, refresh the lasting ones, resolve the others."""
    return record_events(session, config, find_current(session, config, client_ids), now)


@dataclasses.dataclass(frozen=True)
class Current:
    """What ``find_current`` found: the events by (client id, key), the
    clients whose history was read (None: every client), and the newest
    stored event's id then (a later one is another run's: it is not this
    run's to resolve)."""

    findings: dict[tuple[int, str], Finding]
    last_event_id: int
    evaluated: frozenset[int] | None = None

    def covers(self, event: AlertEvent) -> bool:
        """Whether this run looked for ``event``: a stopped collection is
        looked for in every client, the rest in the evaluated ones."""
        return (
            event.kind == AlertKind.STOPPED.value
            or self.evaluated is None
            or event.client_id in self.evaluated
        )


# Clients per statement when they are named: far below any driver's limit
# on bound parameters.
_ID_BATCH = 1000


def find_current(
    session: Session, config: AlertConfig, client_ids: Collection[int] | None
) -> Current:
    """The current events of ``client_ids`` (the clients whose snapshots
    changed; None: every client), and every client's stopped collection.

    A client's events other than a stopped collection change only with its
    own snapshots (and plan), so only those clients' histories are read; a
    stopped collection is the one event that comes of other clients' days,
    and it needs no history: one query over ``latest_snapshots`` finds it
    in every client."""
    last_event_id = int(session.scalar(select(func.coalesce(func.max(AlertEvent.id), 0))) or 0)
    evaluated = None if client_ids is None else frozenset(client_ids)
    rules = AlertRules.from_config(config)
    as_of = session.scalar(select(func.max(LatestSnapshot.snapshot_date)))
    findings: dict[tuple[int, str], Finding] = {}
    if as_of is None:
        return Current(findings, last_event_id, evaluated)
    for client_id, finding in _stopped(session, as_of, rules):
        findings[(client_id, finding.key)] = finding
    for client_id, bucket_id, plan, last_day in _evaluated(session, evaluated):
        days = _FORECAST_DAYS if plan is not None else _HISTORY_DAYS
        start = last_day - dt.timedelta(days=days - 1)
        snapshots = read_client_snapshots(session, bucket_id, start, None, None)
        for finding in history_events(bucket_id, snapshots, plan, rules):
            findings[(client_id, finding.key)] = finding
    return Current(findings, last_event_id, evaluated)


def _stopped(session: Session, as_of: dt.date, rules: AlertRules) -> Iterator[tuple[int, Finding]]:
    """Every active client whose newest snapshot is ``stopped_days`` or
    more before ``as_of``: one query, no history read."""
    settings = rules.anomaly_settings()
    rows = session.execute(
        select(
            Client.id,
            Client.bucket_id,
            Client.status,
            LatestSnapshot.snapshot_date,
            LatestSnapshot.total_records,
            LatestSnapshot.total_bytes,
        )
        .join(LatestSnapshot, LatestSnapshot.client_id == Client.id)
        .where(
            Client.status.in_(settings.active_statuses),
            LatestSnapshot.snapshot_date <= as_of - dt.timedelta(days=settings.stopped_days),
        )
        .order_by(Client.id)
    )
    for client_id, bucket_id, status, last_day, records, size in rows:
        finding = stopped_event(bucket_id, status, last_day, records, size, as_of, rules)
        if finding is not None:
            yield client_id, finding


def _evaluated(
    session: Session, client_ids: frozenset[int] | None
) -> Iterator[tuple[int, str, Plan | None, dt.date]]:
    """``(client id, bucket_id, plan, newest snapshot day)`` of the clients
    with a snapshot among ``client_ids`` (None: every client), by id."""
    stmt = (
        select(Client.id, Client.bucket_id, LatestSnapshot.snapshot_date)
        .join(LatestSnapshot, LatestSnapshot.client_id == Client.id)
        .order_by(Client.id)
    )
    if client_ids is None:
        plans = read_plans(session)
        for client_id, bucket_id, last_day in session.execute(stmt):
            yield client_id, bucket_id, plans.get(client_id), last_day
        return
    ordered = sorted(client_ids)
    for first in range(0, len(ordered), _ID_BATCH):
        batch = ordered[first : first + _ID_BATCH]
        plans = read_plans(session, batch)
        for client_id, bucket_id, last_day in session.execute(stmt.where(Client.id.in_(batch))):
            yield client_id, bucket_id, plans.get(client_id), last_day


def record_events(
    session: Session, config: AlertConfig, current: Current, now: dt.datetime
) -> Evaluation:
    """``evaluate``'s writes, given what ``find_current`` found (in an
    earlier transaction, possibly). An open event this run did not look for
    (``Current.covers``) stays as it is."""
    new = dict(current.findings)
    now = as_utc(now)
    open_events = session.scalars(select(AlertEvent).where(AlertEvent.resolved_at.is_(None))).all()
    resolved: list[int] = []
    lasting = 0
    for event in open_events:
        finding = new.pop((event.client_id, event.key), None)
        if event.id > current.last_event_id:
            continue  # opened by another run since this one looked: it is that run's
        if finding is None:
            if current.covers(event):
                event.resolved_at = now
                resolved.append(event.id)
            continue
        lasting += 1
        event.severity = finding.severity.label
        event.summary = finding.summary
        event.details = finding.details
        event.last_seen_at = now
    opened = [
        event_id
        for (client_id, _), finding in new.items()
        if (event_id := _open(session, client_id, finding, now)) is not None
    ]
    session.flush()
    delivery.queue_deliveries(session, config, opened)
    delivery.skip_deliveries(session, resolved)
    return Evaluation(tuple(opened), tuple(resolved), lasting)


def _open(session: Session, client_id: int, finding: Finding, now: dt.datetime) -> int | None:
    """Store a new event; None when another run stored it a moment ago."""
    stmt = upsert(session)(AlertEvent).values(
        client_id=client_id,
        key=finding.key,
        kind=finding.kind.value,
        scope=finding.scope.value,
        metric=finding.metric,
        day=finding.day,
        severity=finding.severity.label,
        summary=finding.summary,
        details=finding.details,
        opened_at=now,
        last_seen_at=now,
        resolved_at=None,
    )
    stmt = stmt.on_conflict_do_nothing(
        index_elements=[AlertEvent.client_id, AlertEvent.key],
        index_where=AlertEvent.resolved_at.is_(None),
    )
    event_id: int | None = session.scalar(stmt.returning(AlertEvent.id))
    return event_id


@dataclasses.dataclass(frozen=True)
class AlertRun:
    evaluation: Evaluation
    deliveries: delivery.DeliverySummary


def run_alerts(
    engine: Engine,
    config: AlertConfig | None = None,
    *,
    client_ids: Collection[int] | None,
    now: dt.datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> AlertRun | None:
    """Evaluate the alerts of ``client_ids``, the clients whose snapshots
    changed (None: every client; a stopped collection is looked for in
    every client anyway), and send what is due, in this process (the
    deliveries are synchronous, each attempt bounded by the timeout).

    Called after every collection run, import and demo load; it never
    raises: a failure (a wrong ``[alerts]`` setting, the database, a
    receiver) is logged and None returned, so it cannot fail what called
    it. ``config`` None: read from the settings file and environment."""
    try:
        config = load_alert_config() if config is None else config
        now = utcnow() if now is None else now
        # Read first, then write in a short transaction: on SQLite a write
        # transaction holds the one write lock that collection needs too.
        with Session(engine) as session:
            current = find_current(session, config, client_ids)
        with Session(for_writes(engine)) as session, session.begin():
            evaluation = record_events(session, config, current, now)
        sent = delivery.deliver(engine, config, now, sleep=sleep)
    except ConfigError as exc:  # a wrong [alerts] setting: its message says which
        log.error("alerts were not evaluated or sent: %s", exc)
        return None
    except Exception:
        log.exception("alerts were not evaluated or sent")
        return None
    if evaluation.opened or evaluation.resolved or sent.sent or sent.failed:
        log.info(
            "alerts: %d opened, %d resolved; %d deliveries sent, %d failed",
            len(evaluation.opened),
            len(evaluation.resolved),
            sent.sent,
            sent.failed,
        )
    return AlertRun(evaluation, sent)
