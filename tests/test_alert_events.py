"""Reading the alerts' events (usage.alert_events) on every backend: the
filters, the viewer's clients only, "Needs attention"'s order, the Client
page's range around an event. Events are stored as ``usage.alerts`` stores
them (the demo makes only a couple, all of one kind)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.factories import new_client
from usage.alert_events import (
    AlertEventRow,
    EventFilters,
    list_alert_events,
    read_needs_attention,
    zoom_range,
)
from usage.alerts import AlertKind
from usage.anomalies import Severity
from usage.models import AlertEvent
from usage.validation import ALERT_KINDS, AlertStatus

NOW = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)
_keys = itertools.count()


def add_event(
    session: Session,
    client_id: int,
    kind: str = "drop",
    severity: str = "high",
    *,
    opened: dt.datetime = NOW,
    resolved: dt.datetime | None = None,
    day: dt.date | None = None,
    summary: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """One stored event, as ``usage.alerts`` stores it; its id."""
    event = AlertEvent(
        client_id=client_id,
        key=f"{next(_keys):064d}",
        kind=kind,
        scope="total",
        metric="total records",
        day=day,
        severity=severity,
        summary=summary or f"{kind} ({severity})",
        details=details or {},
        opened_at=opened,
        last_seen_at=resolved or opened,
        resolved_at=resolved,
    )
    session.add(event)
    session.flush()
    return event.id


@pytest.fixture
def seeded(engine: Engine) -> dict[str, int]:
    """Three clients' events, open and resolved, of every kind and severity:
    their ids by name."""
    hour = dt.timedelta(hours=1)
    with Session(engine) as session, session.begin():
        acme, globex, initech = (new_client(session, name) for name in
                                 ("acme-corp", "globex", "initech"))  # fmt: skip
        return {
            "acme_growth": add_event(session, acme, "growth", "low", opened=NOW),
            "acme_drop": add_event(session, acme, "drop", "high", opened=NOW - hour),
            "acme_limit": add_event(session, acme, "limit", "medium", opened=NOW - 2 * hour),
            "acme_old": add_event(session, acme, "drop", "high", opened=NOW - 50 * hour,
                                  resolved=NOW - 30 * hour),
            "globex_stopped": add_event(session, globex, "stopped", "high", opened=NOW - hour),
            "globex_limit": add_event(session, globex, "limit", "high", opened=NOW - 3 * hour),
            "globex_gone": add_event(session, globex, "disappeared", "medium",
                                     opened=NOW - 4 * hour),
            "initech_old": add_event(session, initech, "growth", "low", opened=NOW - 60 * hour,
                                     resolved=NOW - 10 * hour),
        }  # fmt: skip


def listed(engine: Engine, filters: EventFilters, visible: Any = None) -> list[int]:
    with Session(engine) as session:
        return [event.id for event in list_alert_events(session, filters, visible, 100).events]


# acme_drop and globex_stopped opened at the same time: the later stored first.
@pytest.mark.parametrize(
    ("filters", "names"),
    [
        (EventFilters(), ["acme_growth", "globex_stopped", "acme_drop", "acme_limit",
                          "globex_limit", "globex_gone"]),
        (EventFilters(AlertStatus.RESOLVED), ["acme_old", "initech_old"]),
        (EventFilters(AlertStatus.ALL, kind="drop"), ["acme_drop", "acme_old"]),
        (EventFilters(severity=Severity.MEDIUM), ["globex_stopped", "acme_drop", "acme_limit",
                                                  "globex_limit", "globex_gone"]),
        (EventFilters(severity=Severity.HIGH, bucket_id="globex"),
         ["globex_stopped", "globex_limit"]),
        (EventFilters(AlertStatus.ALL, bucket_id="initech"), ["initech_old"]),
        (EventFilters(AlertStatus.ALL, bucket_id="nobody"), []),
    ],
)  # fmt: skip
def test_events_are_filtered_and_newest_first(
    engine: Engine, seeded: dict[str, int], filters: EventFilters, names: list[str]
) -> None:
    assert listed(engine, filters) == [seeded[name] for name in names]


def test_a_viewer_sees_only_the_events_of_their_clients(
    engine: Engine, seeded: dict[str, int]
) -> None:
    book = frozenset({"acme-corp"})
    every = EventFilters(AlertStatus.ALL)
    assert set(listed(engine, every, book)) == {
        seeded[name] for name in ("acme_growth", "acme_drop", "acme_limit", "acme_old")
    }
    assert listed(engine, dataclasses.replace(every, bucket_id="globex"), book) == []
    with Session(engine) as session:
        assert list_alert_events(session, every, book, 2).total == 4
        attention = read_needs_attention(session, book, 10)
        assert attention.total == 3
        assert {event.bucket_id for event in attention.events} == {"acme-corp"}
        assert list_alert_events(session, every, frozenset(), 10).total == 0


def test_pages_of_the_list_count_every_match(engine: Engine, seeded: dict[str, int]) -> None:
    with Session(engine) as session:
        first = list_alert_events(session, EventFilters(), None, 4)
        second = list_alert_events(session, EventFilters(), None, 4, offset=4)
        past = list_alert_events(session, EventFilters(), None, 4, offset=8)
    assert (first.total, second.total, past.total) == (6, 6, 6)
    assert len(first.events) == 4
    assert len(second.events) == 2
    assert past.events == []
    assert not {e.id for e in first.events} & {e.id for e in second.events}


def test_needs_attention_is_by_severity_then_kind(engine: Engine, seeded: dict[str, int]) -> None:
    with Session(engine) as session:
        found = read_needs_attention(session, None, 10)
        top = read_needs_attention(session, None, 2)
    # High: a limit, then data loss, then a stopped collection; then medium's
    # limit before its disappearance; low last.
    assert [event.id for event in found.events] == [
        seeded[name]
        for name in ("globex_limit", "acme_drop", "globex_stopped", "acme_limit", "globex_gone",
                     "acme_growth")
    ]  # fmt: skip
    assert found.total == 6
    assert ([event.id for event in top.events], top.total) == (
        [seeded["globex_limit"], seeded["acme_drop"]], 6)  # fmt: skip


def test_needs_attention_of_nothing_is_empty(engine: Engine) -> None:
    with Session(engine) as session:
        found = read_needs_attention(session, None, 10)
    assert (found.events, found.total) == ([], 0)


def test_rows_carry_the_client_and_utc_times(engine: Engine, seeded: dict[str, int]) -> None:
    with Session(engine) as session:
        (old,) = list_alert_events(session, EventFilters(AlertStatus.RESOLVED, kind="drop"),
                                   None, 10).events  # fmt: skip
    assert (old.bucket_id, old.display_name) == ("acme-corp", "Acme Corp")
    assert old.opened_at == NOW - dt.timedelta(hours=50)
    assert old.resolved_at == NOW - dt.timedelta(hours=30)
    assert old.opened_at.utcoffset() == dt.timedelta(0)


def event_on(day: dt.date | None, **details: Any) -> AlertEventRow:
    return AlertEventRow(1, "acme-corp", "Acme", "drop", "total", "total records", day, "high",
                         "", details, NOW, NOW, None)  # fmt: skip


@pytest.mark.parametrize(
    ("event", "today", "days"),
    [
        # A drop: a month before the day before it, two weeks after it.
        (event_on(dt.date(2026, 11, 12), previous_day="2026-11-11"), dt.date(2026, 12, 31),
         ("2026-10-12", "2026-11-26")),
        # ... up to today, when that is sooner.
        (event_on(dt.date(2026, 11, 12), previous_day="2026-11-11"), dt.date(2026, 11, 15),
         ("2026-10-12", "2026-11-15")),
        # Growth: its 30 days and the month before.
        (event_on(None, from_day="2026-10-20", to_day="2026-11-19"), dt.date(2026, 11, 20),
         ("2026-09-20", "2026-11-20")),
        # A limit: up to its last snapshot.
        (event_on(None, last_day="2026-11-19", likely="2027-03-14"), dt.date(2026, 11, 20),
         ("2026-10-20", "2026-11-20")),
        # Nothing dated: the days before it was last seen.
        (event_on(None, note="x"), dt.date(2026, 12, 1), ("2026-10-21", "2026-12-01")),
    ],
)  # fmt: skip
def test_zoom_range_frames_the_event(
    event: AlertEventRow, today: dt.date, days: tuple[str, str]
) -> None:
    start, end = zoom_range(event, today)
    assert (start.isoformat(), end.isoformat()) == days


def test_the_kinds_validation_knows_are_the_rules_kinds() -> None:
    assert tuple(kind.value for kind in AlertKind) == ALERT_KINDS
