"""Alembic environment: runs on the engine handed over by usage.db."""

from __future__ import annotations

from alembic import context

from usage.db import make_engine
from usage.models import Base

config = context.config
engine = config.attributes.get("engine") or make_engine()

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
