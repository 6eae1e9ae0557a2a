"""The usage store: clients, their daily snapshots, API keys, collection runs,
the people who sign in with their books of clients, and the audit trail.

A snapshot is split over three tables so that one client's history is an
index range read and per-collection or per-prefix series are plain SQL:

- ``snapshots``: one row per (client, date), keyed by that pair, with the six
  standard collections as columns (every snapshot has them) and the totals;
- ``snapshot_collections``: the collections beyond the standard six, one row
  per (client, date, collection);
- ``snapshot_prefixes``: storage per top-level prefix, one row per
  (client, date, prefix).

Beside them, ``snapshot_bodies`` keeps each snapshot as the API encodes it,
written with it (``usage.snapshots.insert_snapshots``): the history endpoint
answers from those bytes without decoding and encoding thousands of values.

All four are keyed by ``(client_id, snapshot_date, ...)``, so a history range
is contiguous in each of them (SQLite tables are ``WITHOUT ROWID``, clustered
on that key).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

STANDARD_COLLECTIONS: tuple[str, ...] = (
    "person",
    "organisation",
    "member",
    "payment",
    "ticket",
    "booking",
)

# Objects that sit at the top of a client's storage, outside any prefix.
ROOT_PREFIX = "(root)"

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ClientStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    SUSPENDED = "suspended"
    TRIAL = "trial"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


_NO_ROWID = {"sqlite_with_rowid": False}


class Client(Base):
    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'inactive', 'suspended', 'trial')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket_id: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True)
    trial_end_date: Mapped[dt.date | None] = mapped_column(Date)
    client_since: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Snapshot(Base):
    __tablename__ = "snapshots"
    __table_args__ = (
        Index("ix_snapshots_snapshot_date", "snapshot_date", "client_id"),
        _NO_ROWID,
    )

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    snapshot_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    person: Mapped[int] = mapped_column(BigInteger, default=0)
    organisation: Mapped[int] = mapped_column(BigInteger, default=0)
    member: Mapped[int] = mapped_column(BigInteger, default=0)
    payment: Mapped[int] = mapped_column(BigInteger, default=0)
    ticket: Mapped[int] = mapped_column(BigInteger, default=0)
    booking: Mapped[int] = mapped_column(BigInteger, default=0)
    total_records: Mapped[int] = mapped_column(BigInteger)
    object_count: Mapped[int] = mapped_column(BigInteger)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


def _part_of_snapshot(constraint: str) -> tuple[ForeignKeyConstraint, dict[str, bool]]:
    """The table arguments of rows that belong to one snapshot: keyed by
    (client_id, snapshot_date, ...) and gone with their snapshot."""
    return (
        ForeignKeyConstraint(
            ["client_id", "snapshot_date"],
            ["snapshots.client_id", "snapshots.snapshot_date"],
            ondelete="CASCADE",
            name=constraint,
        ),
        _NO_ROWID,
    )


class SnapshotCollection(Base):
    """Record counts of the collections beyond the standard six."""

    __tablename__ = "snapshot_collections"
    __table_args__ = _part_of_snapshot("fk_snapshot_collections_snapshot")

    client_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    collection: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class SnapshotPrefix(Base):
    __tablename__ = "snapshot_prefixes"
    __table_args__ = _part_of_snapshot("fk_snapshot_prefixes_snapshot")

    client_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(1024), primary_key=True)
    object_count: Mapped[int] = mapped_column(BigInteger)
    total_bytes: Mapped[int] = mapped_column(BigInteger)


class SnapshotBody(Base):
    """A snapshot's API JSON, encoded when the snapshot is written: the
    members of its object after ``bucket_id`` (``"snapshot_date":...``), without
    the braces, so that a client's history is those bytes joined."""

    __tablename__ = "snapshot_bodies"
    __table_args__ = _part_of_snapshot("fk_snapshot_bodies_snapshot")

    client_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    snapshot_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)


class PortfolioChange(Base):
    """The change one day brings to the whole portfolio's totals, kept as
    snapshots are written (``usage.totals``): over the clients with a
    snapshot that day, the sum of (that snapshot minus the client's previous
    one, or minus nothing for its first). A day's portfolio total is then the
    running sum of the changes up to it, with every client counted at its
    latest snapshot on or before the day."""

    __tablename__ = "portfolio_changes"

    snapshot_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    total_records: Mapped[int] = mapped_column(BigInteger)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    first_snapshots: Mapped[int] = mapped_column(Integer)  # clients counted from this day
    snapshots: Mapped[int] = mapped_column(Integer)  # clients with a snapshot this day


class LatestSnapshot(Base):
    """Each client's newest snapshot and its baseline (the client's last
    snapshot ``CHANGE_DAYS`` or more before it), kept as snapshots are
    written (``usage.totals``): the portfolio's table and movers read one row
    per client instead of looking two up."""

    __tablename__ = "latest_snapshots"
    __table_args__ = (Index("ix_latest_snapshots_snapshot_date", "snapshot_date"),)

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    snapshot_date: Mapped[dt.date] = mapped_column(Date)
    total_records: Mapped[int] = mapped_column(BigInteger)
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    object_count: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    baseline_date: Mapped[dt.date | None] = mapped_column(Date)
    baseline_records: Mapped[int | None] = mapped_column(BigInteger)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # The public part of the key, used to find the row; the secret part is
    # only ever stored as a SHA-256 digest.
    lookup: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Space-separated bucket ids; empty means every bucket (admin keys only).
    buckets: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Role(enum.StrEnum):
    """What a person may do: ``admin`` everything (every client, collection,
    people, audit); ``analyst`` reads every client; ``manager`` reads only the
    clients of their book."""

    ADMIN = "admin"
    ANALYST = "analyst"
    MANAGER = "manager"


class Person(Base):
    """Someone who signs in to the dashboard, known by the identity claim of
    their ID token (the email by default), stored lower-cased."""

    __tablename__ = "people"
    __table_args__ = (CheckConstraint("role IN ('admin', 'analyst', 'manager')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Assignment(Base):
    """A client in a person's book: the person is one of its account managers.
    Gone with the person or the client."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_client_id", "client_id"), _NO_ROWID)

    person_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )


class AuditEvent(Base):
    """Who did what, when and from where: sign-ins (and refusals), changes to
    people and books, keys made and revoked, collection triggers."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(400))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(400), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(100), default="")


class Setting(Base):
    """Small per-database values: the cursor signing secret, the demo flag."""

    __tablename__ = "settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CollectionRun(Base):
    """The last collection run of each client.

    ``started_at`` is also the trigger's rate limit: a run is claimed by a
    conditional UPDATE of this row, so the limit holds across processes.
    """

    __tablename__ = "collection_runs"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status"),
    )

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    # The snapshot date the run computes (today, or a backfilled day).
    snapshot_date: Mapped[dt.date] = mapped_column(Date)
    # Who started it: "cli" or "api" (the trigger, from the API or the page).
    started_by: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    # Where the storage figures came from: "listing" or "inventory" (S3
    # Inventory); None while running, after a failure, or before 0007.
    storage_source: Mapped[str | None] = mapped_column(String(16))
    # Why the S3 Inventory report was refused and the bucket listed instead
    # (storage.inventory_fallback = "listing"); None otherwise, or before 0008.
    storage_note: Mapped[str | None] = mapped_column(Text)
    # Renewed while the run works: a run whose heartbeat is old died with
    # its process, and the next run may take its client at once.
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ClientPlan(Base):
    """A client's plan: what it may hold. A limit left out (None) is not
    limited; per-collection limits are ``CollectionLimit`` rows."""

    __tablename__ = "client_plans"
    __table_args__ = (
        CheckConstraint("records_limit IS NULL OR records_limit > 0", name="records_limit"),
        CheckConstraint("storage_limit IS NULL OR storage_limit > 0", name="storage_limit"),
    )

    client_id: Mapped[int] = mapped_column(
        ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    records_limit: Mapped[int | None] = mapped_column(BigInteger)  # total records
    storage_limit: Mapped[int | None] = mapped_column(BigInteger)  # bytes
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CollectionLimit(Base):
    """The records one collection of a client's plan may hold; gone with the plan."""

    __tablename__ = "plan_collection_limits"
    __table_args__ = (CheckConstraint("records_limit > 0", name="records_limit"), _NO_ROWID)

    client_id: Mapped[int] = mapped_column(
        ForeignKey("client_plans.client_id", ondelete="CASCADE"), primary_key=True
    )
    collection: Mapped[str] = mapped_column(String(64), primary_key=True)
    records_limit: Mapped[int] = mapped_column(BigInteger)


class AlertEvent(Base):
    """Something an account manager should hear about (``usage.alerts``).

    One row per occurrence of an event: ``key`` (a digest of the kind, scope,
    metric and day) is unique among a client's open events, so an event that
    lasts is one row, alerted once; once resolved, it may open again as a new
    row."""

    __tablename__ = "alert_events"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('limit', 'drop', 'disappeared', 'stopped', 'growth')", name="kind"
        ),
        CheckConstraint("severity IN ('low', 'medium', 'high')", name="severity"),
        Index(
            "ix_alert_events_open_key",
            "client_id",
            "key",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_alert_events_client_id", "client_id", "opened_at"),
        Index("ix_alert_events_opened_at", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(16))  # total, collection or prefix
    metric: Mapped[str] = mapped_column(String(1024))
    day: Mapped[dt.date | None] = mapped_column(Date)  # the day it happened, if it has one
    severity: Mapped[str] = mapped_column(String(8))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AlertDelivery(Base):
    """One event to one receiver: a webhook, a Slack webhook or a mailbox
    (an e-mail goes out in the recipient's daily digest). ``target`` is the
    address, or for a webhook a label that does not show its secret path."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        CheckConstraint("channel IN ('webhook', 'slack', 'email')", name="channel"),
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'skipped')", name="status"
        ),
        UniqueConstraint("event_id", "channel", "target", name="uq_alert_deliveries_receiver"),
        Index("ix_alert_deliveries_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("alert_events.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)  # why the last attempt failed
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
