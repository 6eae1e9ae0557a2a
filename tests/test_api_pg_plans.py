"""On PostgreSQL the API's history read is planned once per connection, not
at every request (``usage.api.API_PLAN_CACHE_MODE``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from tests.api_client import ApiClient
from tests.conftest import new_database_url
from tests.factories import add_days, day, new_client
from usage.api import create_api_app
from usage.audit import cli_actor
from usage.db import make_engine
from usage.keys import create_key


def test_history_read_is_planned_once(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    engine = make_engine(new_database_url(request, "postgresql", tmp_path))
    made: list[Any] = []  # every driver connection the engine opens
    event.listen(engine, "connect", lambda dbapi_connection, _record: made.append(dbapi_connection))
    with Session(engine) as session, session.begin():
        for name in ("acme-corp", "globex"):
            add_days(session, new_client(session, name), [day(offset) for offset in range(40)])
        key = create_key(session, "admin", admin=True, actor=cli_actor())
    api = ApiClient(create_api_app(lambda: engine), {"X-API-Key": key})
    try:
        # Past psycopg's threshold for preparing a statement (5 runs) and
        # PostgreSQL's for choosing between plans (5 custom ones first).
        for number in range(12):
            bucket = ("acme-corp", "globex")[number % 2]
            limit = (30, 5, 1000)[number % 3]
            response = api.get(f"/api/v1/clients/{bucket}/history?limit={limit}")
            assert response.status_code == 200
            assert response.json()["count"] == min(limit, 40)
        plans = []
        for connection in made:  # between requests: none is in use
            if connection.closed:
                continue
            plans += connection.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE '%FROM snapshot_bodies%'"
            ).fetchall()
            connection.rollback()
        # One connection prepared the read, and plans it once. PostgreSQL's
        # default plans it anew for its first five runs here, and on the
        # benchmark's 10,000 clients at every run (docs/benchmarks.md).
        # The first request runs in a thread on a pool connection, planned
        # as PostgreSQL's default plans: at most that one run is custom (the
        # API then keeps the same connection, in the generic mode).
        assert len(plans) == 1
        generic, custom = plans[0]
        assert custom <= 1
        assert generic >= 10
    finally:
        api.close()
        engine.dispose()
