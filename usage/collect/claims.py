"""How a collection run holds its clients: claims in ``collection_runs``,
kept alive by a heartbeat.

A run holds a client from its claim until its snapshot is stored (or its
failure recorded). The trigger claims every client before the run
(``ClaimedAt``); the command line claims each client as its turn comes
(``ClaimEach``), so two processes given overlapping lists split them, a
client going to whichever reaches it first, and the other skips it.

While a run holds clients, a thread of its own renews their heartbeat every
quarter of the lease, in short transactions on a connection of its own. A
thread rather than between clients: one client can take hours (a listing of
a billion keys is a million requests), far past any lease, and its workers
are busy in boto3 meanwhile. The thread dies with the process, so a run that
was killed stops renewing, and once the lease lapses the next claim takes its
clients instead of waiting for the 5 minutes of the rate limit.

A snapshot is stored only in a transaction that first finishes the run's own
claim (``finish_run`` with the claim's ``started_at``): a run whose client
was taken over meanwhile stores nothing, so a client is never stored by two
runs at once, whatever the timing.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from usage.collect.runs import StartedBy, claim_run, describe_claim, finish_run, renew_runs
from usage.db import for_writes

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
# Renewals per lease: two may be missed (a slow store) before the lease lapses.
BEATS_PER_LEASE = 4
TAKEN_OVER = "another run took it over"


@dataclass(frozen=True)
class ClaimedAt:
    """The caller claimed every target, at ``at`` (the trigger)."""

    at: dt.datetime


@dataclass(frozen=True)
class ClaimEach:
    """Claim each target as its turn comes (the command line)."""

    started_by: StartedBy
    force: bool = False  # also a client that succeeded less than RUN_INTERVAL ago


# None: the caller recorded the runs (``start_runs``) and holds them whatever happens.
Claiming = ClaimedAt | ClaimEach | None


class RunClaims:
    """The clients one run holds, and the thread that keeps them alive
    (started and stopped by ``with``)."""

    def __init__(
        self,
        engine: Engine,
        claiming: Claiming,
        client_ids: Iterable[int],
        *,
        lease: dt.timedelta,
        clock: Clock,
    ) -> None:
        self.engine = engine
        self.claiming = claiming
        self.lease = lease
        self.clock = clock
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        # client id -> its claim's started_at (None: held whatever it is)
        self._held: dict[int, dt.datetime | None] = {}
        if not isinstance(claiming, ClaimEach):
            at = claiming.at if isinstance(claiming, ClaimedAt) else None
            self._held = dict.fromkeys(client_ids, at)

    def __enter__(self) -> RunClaims:
        self._thread = threading.Thread(target=self._beat, name="collection-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def take(self, client_id: int, snapshot_date: dt.date) -> str | None:
        """Hold the client; or why not, when another run has it."""
        if not isinstance(self.claiming, ClaimEach):
            return None
        now = self.clock()
        with Session(for_writes(self.engine)) as session, session.begin():
            claimed = claim_run(
                session,
                client_id,
                now=now,
                snapshot_date=snapshot_date,
                started_by=self.claiming.started_by,
                lease=self.lease,
                force=self.claiming.force,
            )
            if not claimed:
                return describe_claim(session, client_id, now=now, lease=self.lease)
        with self._lock:
            self._held[client_id] = now
        return None

    def finish(
        self,
        session: Session,
        client_id: int,
        *,
        error: str | None,
        storage_source: str | None = None,
        storage_note: str | None = None,
    ) -> bool:
        """Record the end of the client's run in ``session``; False when
        another run took the client over (nothing is recorded)."""
        with self._lock:
            started_at = self._held.get(client_id)
        finished = finish_run(
            session,
            client_id,
            now=self.clock(),
            error=error,
            started_at=started_at,
            storage_source=storage_source,
            storage_note=storage_note,
        )
        return finished or started_at is None

    def release(self, client_id: int) -> None:
        with self._lock:
            self._held.pop(client_id, None)

    def renew(self) -> None:
        """Renew the heartbeat of every client held (a failure is logged:
        the next beat tries again)."""
        with self._lock:
            held = dict(self._held)
        if not held:
            return
        by_claim: dict[dt.datetime | None, list[int]] = {}
        for client_id, started_at in held.items():
            by_claim.setdefault(started_at, []).append(client_id)
        try:
            with Session(for_writes(self.engine)) as session, session.begin():
                now = self.clock()
                for started_at, client_ids in by_claim.items():
                    renew_runs(session, client_ids, started_at=started_at, now=now)
        except SQLAlchemyError as exc:
            log.warning("could not renew the heartbeat of %d runs: %s", len(held), exc)

    def _beat(self) -> None:
        every = self.lease.total_seconds() / BEATS_PER_LEASE
        while not self._stopped.wait(every):
            self.renew()
