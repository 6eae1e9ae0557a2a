from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from tests.factories import add_days, api_history, day, new_client, snapshot
from usage.db import alembic_config, schema_is_current, upgrade_schema
from usage.history import read_history
from usage.models import Setting, SnapshotBody
from usage.paging import CURSOR_SECRET_SETTING
from usage.snapshots import insert_snapshots


def test_migrations_build_the_whole_schema_from_empty(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {
        "clients",
        "snapshots",
        "snapshot_collections",
        "snapshot_prefixes",
        "snapshot_bodies",
        "collection_runs",
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


def test_upgrading_an_older_store_encodes_the_bodies_of_its_snapshots(engine: Engine) -> None:
    """A store from before ``snapshot_bodies`` (migration 0002) gets every
    snapshot's body from its columns when upgraded, and the API then answers
    exactly what the pages read."""
    with Session(engine) as session, session.begin():
        acme = new_client(session, "acme-corp")
        add_days(session, acme, [day(i) for i in range(40)])
        globex = new_client(session, "globex")
        insert_snapshots(session, [
            (globex, snapshot(day(0), extra={"event": 4}, prefixes={"(root)": (1, 2)})),
            (globex, snapshot(day(1), scale=3, extra={"donation": 1, "event": 5})),
        ])  # fmt: skip
        new_client(session, "empty-co")
    command.downgrade(alembic_config(engine), "0002")
    assert "snapshot_bodies" not in inspect(engine).get_table_names()
    upgrade_schema(engine)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(SnapshotBody)) == 42
        for bucket in ("acme-corp", "globex", "empty-co"):
            assert api_history(engine, bucket) == read_history(
                session, bucket, None, None, None, visible=None
            )
