"""plans (limits per client) and alerts (events and their deliveries)

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "client_plans",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("records_limit", sa.BigInteger(), nullable=True),
        sa.Column("storage_limit", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "records_limit IS NULL OR records_limit > 0", name=op.f("ck_client_plans_records_limit")
        ),
        sa.CheckConstraint(
            "storage_limit IS NULL OR storage_limit > 0", name=op.f("ck_client_plans_storage_limit")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_client_plans_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_client_plans")),
    )
    op.create_table(
        "plan_collection_limits",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("collection", sa.String(length=64), nullable=False),
        sa.Column("records_limit", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "records_limit > 0", name=op.f("ck_plan_collection_limits_records_limit")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client_plans.client_id"],
            name=op.f("fk_plan_collection_limits_client_id_client_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "collection", name=op.f("pk_plan_collection_limits")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("metric", sa.String(length=1024), nullable=False),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('limit', 'drop', 'disappeared', 'stopped', 'growth')",
            name=op.f("ck_alert_events_kind"),
        ),
        sa.CheckConstraint(
            "severity IN ('low', 'medium', 'high')", name=op.f("ck_alert_events_severity")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_alert_events_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    # One open event per key: the row that lasts while the event does.
    op.create_index(
        "ix_alert_events_open_key",
        "alert_events",
        ["client_id", "key"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index("ix_alert_events_client_id", "alert_events", ["client_id", "opened_at"])
    op.create_index("ix_alert_events_opened_at", "alert_events", ["opened_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=400), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "channel IN ('webhook', 'slack', 'email')", name=op.f("ck_alert_deliveries_channel")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'skipped')",
            name=op.f("ck_alert_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["alert_events.id"],
            name=op.f("fk_alert_deliveries_event_id_alert_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
        sa.UniqueConstraint(
            "event_id", "channel", "target", name=op.f("uq_alert_deliveries_receiver")
        ),
    )
    op.create_index("ix_alert_deliveries_status", "alert_deliveries", ["status"])


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_status", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_index("ix_alert_events_opened_at", table_name="alert_events")
    op.drop_index("ix_alert_events_client_id", table_name="alert_events")
    op.drop_index("ix_alert_events_open_key", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_table("plan_collection_limits")
    op.drop_table("client_plans")
