"""snapshot bodies: each snapshot's API JSON, stored when it is written

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from usage.snapshots import backfill_bodies

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshot_bodies",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id", "snapshot_date"],
            ["snapshots.client_id", "snapshots.snapshot_date"],
            name="fk_snapshot_bodies_snapshot",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "snapshot_date", name=op.f("pk_snapshot_bodies")),
        sqlite_with_rowid=False,
    )
    # The snapshots already stored get their bodies now, client by client.
    backfill_bodies(op.get_bind())


def downgrade() -> None:
    op.drop_table("snapshot_bodies")
