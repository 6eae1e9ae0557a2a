from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

import usage.audit
from tests.factories import new_client
from usage.audit import (
    MAX_TEXT,
    Action,
    Actor,
    cli_actor,
    list_events,
    record,
    record_once,
    trail_stamp,
)
from usage.models import AuditEvent
from usage.plans import Plan, read_plans, set_plan


def _at(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, second, tzinfo=dt.UTC)


NEW_YORK, TOKYO = ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")
# (at, actor, action, target), inserted in this order
EVENTS = [
    (_at(1, 0, 0, 0), "ann@example.com", "sign_in", "ann@example.com"),
    (_at(1, 23, 59, 59), "cli:ops", "person_added", "bob@example.com"),
    (_at(2, 0, 0, 0), "key:ops_100%", "key_created", "reporting"),
    (_at(2, 9), "ANN@example.com", "book_assigned", "bob@example.com"),
    (_at(3, 12), "cli:opsx100x", "key_revoked", "reporting"),
    (_at(3, 12), "cli:ops", "person_removed", "bob@example.com"),  # same instant, inserted later
]


@pytest.fixture
def trail(engine: Engine) -> Engine:
    with Session(engine) as session, session.begin():
        session.execute(
            insert(AuditEvent),
            [
                {"at": at, "actor": actor, "action": action, "target": target,
                 "detail": "", "address": ""}
                for at, actor, action, target in EVENTS
            ],
        )  # fmt: skip
    return engine


def _events(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return list_events(session)


def _actions(engine: Engine, **filters: Any) -> list[str]:
    with Session(engine) as session:
        return [event["action"] for event in list_events(session, **filters)]


@pytest.mark.parametrize(
    ("filters", "actions"),
    [
        ({}, ["person_removed", "key_revoked", "book_assigned", "key_created", "person_added",
              "sign_in"]),
        # days are UTC days by default, both ends inclusive
        ({"since": dt.date(2026, 3, 2)}, ["person_removed", "key_revoked", "book_assigned",
                                          "key_created"]),
        ({"until": dt.date(2026, 3, 1)}, ["person_added", "sign_in"]),
        ({"since": dt.date(2026, 3, 2), "until": dt.date(2026, 3, 2)},
         ["book_assigned", "key_created"]),
        ({"since": dt.date(2026, 3, 4)}, []),
        # the actor contains the text, in any case; % and _ are plain characters
        ({"actor": "ann@"}, ["book_assigned", "sign_in"]),
        ({"actor": " cli:OPS "}, ["person_removed", "key_revoked", "person_added"]),
        ({"actor": "ops_100%"}, ["key_created"]),
        ({"action": "key_created"}, ["key_created"]),
        ({"action": "key_created", "actor": "cli:"}, []),
        ({"limit": 2}, ["person_removed", "key_revoked"]),
        ({"limit": None, "since": dt.date(2026, 3, 3)}, ["person_removed", "key_revoked"]),
        # days in another zone: 2 March in New York (UTC-5) is 05:00 to 05:00 UTC,
        # in Tokyo (UTC+9) 1 March 15:00 to 2 March 15:00 UTC
        ({"since": dt.date(2026, 3, 2), "until": dt.date(2026, 3, 2), "zone": NEW_YORK},
         ["book_assigned"]),
        ({"since": dt.date(2026, 3, 2), "until": dt.date(2026, 3, 2), "zone": TOKYO},
         ["book_assigned", "key_created", "person_added"]),
        ({"until": dt.date(2026, 3, 1), "zone": NEW_YORK},
         ["key_created", "person_added", "sign_in"]),
    ],
)  # fmt: skip
def test_list_events_filters(trail: Engine, filters: dict[str, Any], actions: list[str]) -> None:
    assert _actions(trail, **filters) == actions


def test_list_events_gives_each_event_in_full(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.execute(
            insert(AuditEvent),
            {"at": _at(5, 7, 8, 9), "actor": "ann@example.com", "action": "sign_in",
             "target": "ann@example.com", "detail": "first", "address": "203.0.113.9"},
        )  # fmt: skip
    with Session(engine) as session:
        assert list_events(session) == [
            {"at": "2026-03-05T07:08:09Z", "actor": "ann@example.com", "action": "sign_in",
             "target": "ann@example.com", "detail": "first", "address": "203.0.113.9"}
        ]  # fmt: skip


def test_record_stores_the_actor_and_address_and_clips_long_text(engine: Engine) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with Session(engine) as session, session.begin():
        record(session, Actor("x" * 500, "198.51.100.7"), Action.KEY_CREATED, "k", "d" * 500)
    with Session(engine) as session:
        (event,) = list_events(session)
    assert event["actor"] == "x" * (MAX_TEXT - 1) + "…"
    assert event["detail"] == "d" * 500  # the detail is free text
    assert (event["action"], event["target"], event["address"]) == (
        "key_created",
        "k",
        "198.51.100.7",
    )
    at = dt.datetime.fromisoformat(event["at"])
    assert before <= at <= dt.datetime.now(dt.UTC)


def test_record_once_records_an_event_once(engine: Engine) -> None:
    ann = Actor("ann@example.com", "203.0.113.9")
    with Session(engine) as session, session.begin():
        assert record_once(session, ann, Action.SIGN_IN, "ann@example.com", "iat 1")
        assert not record_once(session, Actor(ann.name, "other"), Action.SIGN_IN,
                               "ann@example.com", "iat 1")  # fmt: skip
        assert record_once(session, ann, Action.SIGN_IN, "ann@example.com", "iat 2")
    assert [event["detail"] for event in _events(engine)] == ["iat 2", "iat 1"]


def _stamp(engine: Engine) -> tuple[Any, ...]:
    with Session(engine) as session:
        return trail_stamp(session)


def test_the_trails_stamp_changes_with_each_event_added_or_removed(trail: Engine) -> None:
    """The Audit page reads the trail again only when this stamp changes:
    an event added, another in place of the newest removed (on SQLite with
    its id again), an older one removed; the same events, the same stamp."""
    seen = [_stamp(trail)]
    assert seen[0][0] == len(EVENTS)
    with Session(trail) as session, session.begin():
        record(session, Actor("ann@example.com"), Action.SIGN_IN, "ann@example.com")
    seen.append(_stamp(trail))
    with Session(trail) as session, session.begin():
        newest = session.scalar(select(func.max(AuditEvent.id)))
        session.execute(delete(AuditEvent).where(AuditEvent.id == newest))
    seen.append(_stamp(trail))
    with Session(trail) as session, session.begin():
        row = {"at": _at(4), "actor": "bob@example.com", "action": "sign_in", "target": "",
               "detail": "", "address": ""}  # fmt: skip
        session.execute(insert(AuditEvent), row)
    seen.append(_stamp(trail))
    with Session(trail) as session, session.begin():
        oldest = session.scalar(select(func.min(AuditEvent.id)))
        session.execute(delete(AuditEvent).where(AuditEvent.id == oldest))
    seen.append(_stamp(trail))
    first, added, removed, replaced, older_removed = seen
    assert added != first
    assert removed == first  # the events it had
    assert replaced not in (first, added)
    assert older_removed != replaced
    assert _stamp(trail) == older_removed  # and reading moves nothing


def test_an_empty_trails_stamp(engine: Engine) -> None:
    assert _stamp(engine) == (0, None, None)


def test_the_stamp_counts_only_the_newest_ids(
    trail: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A range of the primary key below the newest id, not the whole trail
    (a million events took 99 ms to count)."""
    monkeypatch.setattr(usage.audit, "STAMP_REACH", 2)
    with Session(trail) as session:
        newest = session.scalar(select(func.max(AuditEvent.id)))
    assert _stamp(trail)[:2] == (2, newest)  # of the trail's 6


def _failing(error: Exception) -> Callable[[], str]:
    """A getpass.getuser that fails as it does for a uid without a name."""

    def getuser() -> str:
        raise error

    return getuser


@pytest.mark.parametrize(
    ("getuser", "name"),
    [
        (lambda: "ops", "cli:ops"),
        (_failing(KeyError("getpwuid(): uid not found: 1000")), "cli:unknown"),
        (_failing(OSError("No username set in the environment")), "cli:unknown"),
    ],
)
def test_cli_actor_is_the_login_name(
    monkeypatch: pytest.MonkeyPatch, getuser: Callable[[], str], name: str
) -> None:
    monkeypatch.setattr("usage.audit.getpass.getuser", getuser)
    assert cli_actor() == Actor(name, "")


def test_a_plan_change_and_its_event_are_one_transaction(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        new_client(session, "acme-corp")
    operator = Actor("cli:ops")

    def failing_change() -> None:
        with Session(engine) as session, session.begin():
            set_plan(session, "acme-corp", Plan(records=5), actor=operator)
            raise RuntimeError("the change fails after it was written")

    with pytest.raises(RuntimeError):
        failing_change()
    with Session(engine) as session:
        assert read_plans(session) == {}
    assert _events(engine) == []

    with Session(engine) as session, session.begin():
        set_plan(session, "acme-corp", Plan(records=5, storage_bytes=10**9), actor=operator)
    [event] = _events(engine)
    assert (event["actor"], event["action"], event["target"], event["detail"]) == (
        "cli:ops",
        Action.PLAN_SET.value,
        "acme-corp",
        "5 records, 1.0 GB",
    )
