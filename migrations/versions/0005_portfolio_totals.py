"""portfolio totals: each day's change to them, and each client's latest snapshot

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from usage.totals import rebuild

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portfolio_changes",
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("total_records", sa.BigInteger(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("first_snapshots", sa.Integer(), nullable=False),
        sa.Column("snapshots", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("snapshot_date", name=op.f("pk_portfolio_changes")),
    )
    op.create_table(
        "latest_snapshots",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("total_records", sa.BigInteger(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("object_count", sa.BigInteger(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("baseline_date", sa.Date(), nullable=True),
        sa.Column("baseline_records", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_latest_snapshots_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_latest_snapshots")),
    )
    op.create_index(
        "ix_latest_snapshots_snapshot_date", "latest_snapshots", ["snapshot_date"], unique=False
    )
    # The snapshots already stored make the first rows.
    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_latest_snapshots_snapshot_date", table_name="latest_snapshots")
    op.drop_table("latest_snapshots")
    op.drop_table("portfolio_changes")
