from __future__ import annotations

from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from usage.db import schema_is_current, upgrade_schema
from usage.models import Setting
from usage.paging import CURSOR_SECRET_SETTING


def test_migrations_build_the_whole_schema_from_empty(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {
        "clients",
        "snapshots",
        "snapshot_collections",
        "snapshot_prefixes",
        "api_keys",
        "settings",
        "alembic_version",
    } <= tables
    assert schema_is_current(engine)


def test_upgrade_twice_changes_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        secret = session.get(Setting, CURSOR_SECRET_SETTING)
        assert secret is not None
        assert len(secret.value) == 64
        before = secret.value
    upgrade_schema(engine)
    with Session(engine) as session:
        assert (
            session.scalar(select(Setting.value).where(Setting.name == CURSOR_SECRET_SETTING))
            == before
        )
