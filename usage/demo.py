"""A deterministic, realistic demo portfolio.

Every number is a function of the client and the day alone, so running the
demo again changes nothing, and running it on a later day only adds the days
since. The portfolio shows what real histories have: growth of different
shapes, a weekly rhythm, a bulk import, a purge, a churned client, a recent
trial, missing days, prefixes that appear over time and collections beyond
the standard six.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from usage.audit import Actor
from usage.models import ROOT_PREFIX, Client, Setting, Snapshot
from usage.plans import Plan, set_plan
from usage.snapshots import SnapshotData, insert_snapshots

DEMO_SETTING = "demo_data"
DEMO_ACTOR = Actor("demo")
HISTORY_DAYS = 3 * 365

Curve = Callable[[float], float]  # years since the start -> total records


@dataclass(frozen=True)
class DemoClient:
    bucket_id: str
    display_name: str
    status: str
    curve: Curve
    mix: dict[str, float]
    prefixes: dict[str, tuple[float, int]]  # prefix -> (objects per record, bytes)
    days_ago: int = HISTORY_DAYS  # when its history starts
    ended_days_ago: int | None = None  # churned: no snapshots after this
    prefix_from: dict[str, int] = field(default_factory=dict)  # prefix -> days ago
    steps: dict[int, tuple[str, float]] = field(default_factory=dict)
    missing_every: int = 0  # about one day in N has no snapshot
    trial_days: int | None = None
    # A plan, as multiples of the client's records and storage on its first
    # demo day: near 1, the forecast reaches it soon.
    plan: tuple[float, float] | None = None


def _linear(start: float, per_year: float) -> Curve:
    return lambda years: start + per_year * years


def _exponential(start: float, per_year: float) -> Curve:
    return lambda years: start * math.exp(per_year * years)


def _logistic(ceiling: float, midpoint: float, steepness: float) -> Curve:
    return lambda years: ceiling / (1 + math.exp(-steepness * (years - midpoint)))


def _saturating(ceiling: float, scale: float) -> Curve:
    return lambda years: 500 + ceiling * (1 - math.exp(-years / scale))


_CRM = {"person": 0.3, "organisation": 0.05, "member": 0.15, "payment": 0.3,
        "ticket": 0.12, "booking": 0.08}  # fmt: skip
_DOCS = {"documents/": (0.05, 700_000), "images/": (0.02, 420_000)}

PORTFOLIO: tuple[DemoClient, ...] = (
    DemoClient("acme-corp", "Acme Corporation", "active", _linear(60_000, 25_000),
               {**_CRM, "event": 0.25}, {**_DOCS, "exports/": (0.004, 9_000_000)},
               prefix_from={"exports/": 400}, steps={300: ("person", 40_000)},
               plan=(1.06, 1.6)),
    DemoClient("globex", "Globex Corporation", "active", _exponential(20_000, 0.55),
               {**_CRM, "event": 0.4, "donation": 0.05},
               {**_DOCS, ROOT_PREFIX: (0.001, 50_000)}, plan=(1.25, 1.02)),
    DemoClient("initech", "Initech", "active", _logistic(180_000, 1.2, 3.0), _CRM,
               _DOCS, steps={120: ("payment", -0.9)}),
    DemoClient("umbrella-health", "Umbrella Health", "active", _linear(400_000, 8_000),
               {**_CRM, "appointment": 0.3},
               {**_DOCS, "scans/": (0.03, 2_500_000)}, plan=(1.5, 1.5)),
    DemoClient("stark-industries", "Stark Industries", "active",
               _saturating(250_000, 0.8), {**_CRM, "donation": 0.2},
               {**_DOCS, "backups/": (0.0005, 80_000_000)},
               prefix_from={"backups/": 200}),
    DemoClient("wayne-foundation", "Wayne Foundation", "active",
               _linear(90_000, 15_000), {**_CRM, "donation": 0.5}, _DOCS,
               missing_every=45),
    DemoClient("cyberdyne", "Cyberdyne Systems", "active", _exponential(5_000, 0.9),
               _CRM, {**_DOCS, "models/": (0.002, 40_000_000)},
               prefix_from={"models/": 500}, missing_every=30),
    DemoClient("massive-dynamic", "Massive Dynamic", "active",
               _logistic(60_000, 0.5, 5.0), _CRM,
               {**_DOCS, "exports/": (0.004, 6_000_000), "audio/": (0.01, 3_000_000)},
               prefix_from={"exports/": 700, "audio/": 250},
               steps={600: ("booking", 15_000)}),
    DemoClient("hooli", "Hooli", "suspended", _saturating(120_000, 0.4), _CRM, _DOCS),
    DemoClient("aperture-labs", "Aperture Laboratories", "suspended",
               _linear(30_000, 4_000), _CRM, _DOCS, days_ago=800),
    DemoClient("soylent", "Soylent Corp", "inactive", _linear(45_000, 12_000), _CRM,
               _DOCS, ended_days_ago=240),
    DemoClient("oscorp", "Oscorp", "inactive", _linear(8_000, 1_000), _CRM, _DOCS,
               days_ago=900, ended_days_ago=500),
    DemoClient("wonka-events", "Wonka Events", "trial", _linear(300, 20_000),
               {**_CRM, "event": 0.6}, _DOCS, days_ago=18, trial_days=30),
    DemoClient("vandelay-imports", "Vandelay Imports", "trial", _linear(1_000, 6_000),
               _CRM, _DOCS, days_ago=40, trial_days=60, missing_every=12),
)  # fmt: skip


def _unit(*parts: object) -> float:
    """A stable pseudo-random number in [0, 1) for the given parts."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


# Weekends see a third of a weekday's new records.
_WEEKDAY_WEIGHT = (1.15, 1.15, 1.15, 1.15, 1.1, 0.35, 0.35)


def _series(client: DemoClient, start: dt.date, end: dt.date) -> Iterator[SnapshotData]:
    """Snapshots from ``start`` to ``end`` (inclusive), skipping missing days."""
    day = start
    totals = dict.fromkeys(client.mix, 0.0)
    previous_level = client.curve(0.0)
    for name, share in client.mix.items():
        totals[name] = previous_level * share / sum(client.mix.values())
    while day <= end:
        years = (day - start).days / 365.0
        level = client.curve(years)
        growth = max(level - previous_level, 0.0)
        previous_level = level
        weight = _WEEKDAY_WEIGHT[day.weekday()]
        for name, share in client.mix.items():
            jitter = 0.6 + 0.8 * _unit(client.bucket_id, day, name)
            totals[name] += growth * share / sum(client.mix.values()) * weight * jitter
        # Days before the client was first loaded; negative for later days.
        days_ago = client.days_ago - (day - start).days
        step = client.steps.get(days_ago)
        if step is not None:
            name, amount = step
            # A negative fraction is a purge; a positive count a bulk import.
            totals[name] = totals[name] * (1 + amount) if amount < 0 else totals[name] + amount
        missing = (
            client.missing_every and _unit(client.bucket_id, day, "gap") < 1 / client.missing_every
        )
        if not missing:
            yield _snapshot(client, day, days_ago, totals)
        day += dt.timedelta(days=1)


def _snapshot(
    client: DemoClient, day: dt.date, days_ago: int, totals: dict[str, float]
) -> SnapshotData:
    records = {name: int(value) for name, value in totals.items()}
    total = sum(records.values())
    by_prefix: dict[str, tuple[int, int]] = {}
    for prefix, (per_record, size) in client.prefixes.items():
        since = client.prefix_from.get(prefix)
        if since is not None and days_ago > since:
            continue
        age = 1.0 if since is None else min(1.0, (since - days_ago + 1) / 90)
        count = int(total * per_record * age) + 1
        by_prefix[prefix] = (count, int(count * size * (0.995 + 0.01 * _unit(prefix, day))))
    minute = int(_unit(client.bucket_id, day, "at") * 50)
    computed_at = dt.datetime.combine(day, dt.time(2, minute, 7), tzinfo=dt.UTC)
    return SnapshotData(day, records, by_prefix, computed_at)


def load_demo(session: Session, today: dt.date) -> int:
    """Add the demo portfolio's missing clients and days up to ``today``.

    Returns the number of snapshots added (0 when everything is there).
    """
    added = 0
    for client in PORTFOLIO:
        row = session.execute(
            select(Client.id, Client.client_since).where(Client.bucket_id == client.bucket_id)
        ).first()
        if row is None:
            client_id, since = _add_client(session, client, today)
        else:
            client_id, since = row
        end = today
        if client.ended_days_ago is not None:
            end = since + dt.timedelta(days=client.days_ago - client.ended_days_ago)
        last = session.scalar(
            select(func.max(Snapshot.snapshot_date)).where(Snapshot.client_id == client_id)
        )
        new = [
            (client_id, snapshot)
            for snapshot in _series(client, since, end)
            if last is None or snapshot.snapshot_date > last
        ]
        added += insert_snapshots(session, new)
        if row is None and client.plan is not None and new:
            _give_plan(session, client, client.plan, new[-1][1])
    if session.get(Setting, DEMO_SETTING) is None:
        session.add(Setting(name=DEMO_SETTING, value=today.isoformat()))
    return added


def _give_plan(
    session: Session, client: DemoClient, factors: tuple[float, float], latest: SnapshotData
) -> None:
    """A plan above the client's newest figures (the demo's own; audited as
    the demo's doing, like any plan change)."""
    records = sum(latest.records.values())
    stored = sum(size for _, size in latest.by_prefix.values())
    plan = Plan(
        records=_round_up(records * factors[0]), storage_bytes=_round_up(stored * factors[1])
    )
    set_plan(session, client.bucket_id, plan, actor=DEMO_ACTOR)


def _round_up(value: float) -> int:
    """Up to two significant digits: a plan's round number (173,412 -> 180,000)."""
    scale = int(10 ** max(0, len(str(int(value))) - 2))
    return -(-int(value) // scale) * scale


def _add_client(session: Session, client: DemoClient, today: dt.date) -> tuple[int, dt.date]:
    since = today - dt.timedelta(days=client.days_ago)
    trial_end = since + dt.timedelta(days=client.trial_days) if client.trial_days else None
    client_id = session.execute(
        insert(Client).returning(Client.id),
        {
            "bucket_id": client.bucket_id,
            "display_name": client.display_name,
            "status": client.status,
            "trial_end_date": trial_end,
            "client_since": since,
        },
    ).scalar_one()
    return client_id, since


DEMO_BUCKETS = frozenset(client.bucket_id for client in PORTFOLIO)


def demo_client_ids(session: Session) -> list[int]:
    """The ids of the demo portfolio's clients the store holds."""
    return list(
        session.scalars(
            select(Client.id).where(Client.bucket_id.in_(sorted(DEMO_BUCKETS))).order_by(Client.id)
        )
    )


def is_demo(session: Session) -> bool:
    """True while the store holds the demo portfolio and nothing collected or
    imported since (the dashboard says so on every page)."""
    return session.scalar(select(Setting.name).where(Setting.name == DEMO_SETTING)) is not None


def clear_demo(session: Session) -> None:
    """Real snapshots are being stored: the store is no longer only the demo.

    Called by collection and import in the transaction that writes the
    snapshots, so the notice goes exactly when they arrive."""
    session.execute(delete(Setting).where(Setting.name == DEMO_SETTING))


def load_demo_if_empty(session: Session, today: dt.date) -> bool:
    """Load the demo into a database without clients; True when it did."""
    if session.scalar(select(Client.id).limit(1)) is not None:
        return False
    load_demo(session, today)
    return True
