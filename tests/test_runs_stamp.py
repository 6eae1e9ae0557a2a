"""The runs' stamp (``usage.collect.runs.runs_stamp``): the Collection page
keeps its table until the stamp moves, so every change the table shows must
move it, in whatever order the runs' transactions commit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.factories import new_client
from usage.collect.runs import StartedBy, claim_run, finish_run, runs_stamp, start_runs

T0 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
DAY = T0.date()


def stamp(engine: Engine) -> tuple[Any, ...]:
    with Session(engine) as session:
        return runs_stamp(session)


def test_every_step_of_a_run_moves_the_stamp(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        first, second = new_client(session, "first-co"), new_client(session, "second-co")
    seen = [stamp(engine)]
    with Session(engine) as session, session.begin():
        start_runs(session, [first, second], now=T0, snapshot_date=DAY, started_by=StartedBy.CLI)
    seen.append(stamp(engine))
    # The later end commits first; the earlier one after it: the newest end
    # is the same, but a run left "running".
    with Session(engine) as session, session.begin():
        finish_run(session, second, now=T0 + dt.timedelta(minutes=2), error=None)
    seen.append(stamp(engine))
    with Session(engine) as session, session.begin():
        finish_run(session, first, now=T0 + dt.timedelta(minutes=1), error="bucket gone")
    seen.append(stamp(engine))
    # A second run of a client, claimed and ended as its first was.
    later = T0 + dt.timedelta(hours=1)
    with Session(engine) as session, session.begin():
        assert claim_run(session, second, now=later, snapshot_date=DAY,
                         started_by=StartedBy.TRIGGER, force=True)  # fmt: skip
    seen.append(stamp(engine))
    with Session(engine) as session, session.begin():
        finish_run(session, second, now=later + dt.timedelta(seconds=30), error=None)
    seen.append(stamp(engine))
    with Session(engine) as session, session.begin():
        new_client(session, "third-co")
    seen.append(stamp(engine))
    assert len(set(seen)) == len(seen), seen
    assert stamp(engine) == seen[-1]  # and nothing else moves it
