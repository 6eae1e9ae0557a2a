"""The Daily snapshot page under AppTest on a small exact store (both
backends): which clients a day counts.

``acme`` has snapshots on 2 to 4 March 2024 but became a client on the 6th
(its snapshots were collected before it was recorded); ``newco`` became a
client on the 7th and has none; ``gone`` has none in March; ``other`` has
every day from the 1st to the 5th.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from tests.factories import days, store
from tests.factories import snapshot_of_total as snapshot
from tests.test_pages import open_page, texts
from usage.daily import clients_on_day, read_day
from usage.models import Client
from usage.portfolio import list_client_choices
from usage.validation import DayParams

D = dt.date


@pytest.fixture
def joined(engine: Engine, database_url: str, use_database: Any) -> Engine:
    store(engine, "acme", [snapshot(day, 1000) for day in days(D(2024, 3, 2), 3)])
    store(engine, "other", [snapshot(day, 500) for day in days(D(2024, 3, 1), 5)])
    store(engine, "gone", [snapshot(D(2024, 1, 1), 70)], name="Gone Corp", status="inactive")
    store(engine, "newco", [], name="Newco", status="trial")
    with Session(engine) as session, session.begin():
        for bucket, since in [("acme", D(2024, 3, 6)), ("newco", D(2024, 3, 7))]:
            session.execute(
                update(Client).where(Client.bucket_id == bucket).values(client_since=since)
            )
    use_database(database_url)
    return engine


def test_a_day_counts_only_the_clients_of_that_day(joined: Engine) -> None:
    at = open_page("snapshots", date="2024-03-04")
    # Newco became a client after the day; acme too, but its snapshot counts it.
    assert "2 of 3 clients have a snapshot on 2024-03-04." in texts(at.caption)
    assert "Without one: Gone Corp." in texts(at.caption)


def list_clients_on_day(
    session: Session, day: dt.date, only: frozenset[str] | None = None
) -> set[str]:
    choices = list_client_choices(session, visible=only)
    snapped = {s["bucket_id"] for s in read_day(session, DayParams(day), only=only)}
    return clients_on_day(choices, day, snapped)


def test_the_clients_on_a_day(joined: Engine) -> None:
    with Session(joined) as session:
        assert list_clients_on_day(session, D(2024, 3, 4)) == {"acme", "other", "gone"}
        assert list_clients_on_day(session, D(2024, 3, 5)) == {"other", "gone"}
        assert list_clients_on_day(session, D(2024, 3, 7)) == {"acme", "other", "gone", "newco"}
        assert list_clients_on_day(session, D(2024, 3, 4), only=frozenset({"gone"})) == {"gone"}
