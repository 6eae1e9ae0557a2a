"""Collect many clients: compute each snapshot and store it, in a bounded pool.

Each client is its own unit of work: its snapshot replaces the day's whole,
with its run record, in one transaction of its own, so a failure leaves its
previous snapshot untouched and never stops the other clients. A client held
by another run is skipped (``usage.collect.claims``). This is the
orchestrator of the package, so it takes the ``Engine`` and owns those
transactions.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from usage.access import client_not_found
from usage.alerts import run_alerts
from usage.collect.claims import TAKEN_OVER, Claiming, RunClaims
from usage.collect.config import CollectConfig
from usage.collect.records import RecordsError
from usage.collect.sources import Computed, Sources
from usage.collect.storage import StorageError
from usage.db import for_writes
from usage.demo import clear_demo
from usage.models import Client, ClientStatus, utcnow
from usage.snapshots import replace_snapshot

log = logging.getLogger(__name__)

# The clients collected when none are named.
COLLECTED_STATUSES = (ClientStatus.ACTIVE.value, ClientStatus.TRIAL.value)

Compute = Callable[[str, dt.date, dt.datetime], Computed]
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class Target:
    client_id: int
    bucket_id: str


@dataclass(frozen=True)
class Outcome:
    bucket_id: str
    error: str | None  # None when the snapshot was stored, or skipped
    skipped: str | None = None  # why another run has the client


@dataclass(frozen=True)
class RunSummary:
    processed: int  # the clients stored or failed (not the skipped)
    failures: tuple[Outcome, ...]  # by bucket_id
    duration_seconds: float
    skipped: tuple[Outcome, ...] = ()  # by bucket_id

    @property
    def failed(self) -> int:
        return len(self.failures)

    def as_json(self) -> dict[str, Any]:
        """The trigger's answer, as the API contract words it."""
        return {
            "buckets_processed": self.processed,
            "buckets_failed": self.failed,
            "duration_seconds": round(self.duration_seconds, 3),
            "failures": [
                {"bucket_id": outcome.bucket_id, "error": outcome.error}
                for outcome in self.failures
            ],
        }


def select_targets(session: Session, bucket_ids: Sequence[str] | None) -> list[Target]:
    """The named clients (``NotFound`` for an unknown one), else every active
    and trial client; in bucket_id order."""
    stmt = select(Client.id, Client.bucket_id).order_by(Client.bucket_id)
    if bucket_ids is None:
        stmt = stmt.where(Client.status.in_(COLLECTED_STATUSES))
    else:
        stmt = stmt.where(Client.bucket_id.in_(sorted(set(bucket_ids))))
    targets = [Target(row[0], row[1]) for row in session.execute(stmt)]
    if bucket_ids is not None:
        found = {target.bucket_id for target in targets}
        for bucket_id in bucket_ids:
            if bucket_id not in found:
                raise client_not_found(bucket_id)
    return targets


def describe_error(exc: BaseException) -> str:
    """One line for the run record, the summary and the API's failures."""
    if isinstance(exc, StorageError | RecordsError):
        message = str(exc)
    elif isinstance(exc, SQLAlchemyError):
        message = f"usage database: {getattr(exc, 'orig', None) or exc}"
    else:
        message = f"{type(exc).__name__}: {exc}"
    lines = message.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def collect(
    engine: Engine,
    config: CollectConfig,
    targets: Sequence[Target],
    snapshot_date: dt.date,
    *,
    claiming: Claiming = None,
    on_done: Callable[[Outcome], None] | None = None,
    clock: Clock = utcnow,
) -> RunSummary:
    """Collect ``targets`` from the configured sources, holding them as
    ``claiming`` says (None: their runs were recorded as started by the
    caller); a failure to open the sources fails them all.
    Then the alerts run (``usage.alerts.run_alerts``) for the clients whose
    snapshot was stored, in this process; a failure of theirs is logged,
    never the run's."""
    lease = dt.timedelta(seconds=config.lease_seconds)
    with RunClaims(
        engine, claiming, [target.client_id for target in targets], lease=lease, clock=clock
    ) as claims:
        summary = _collect(engine, config, targets, snapshot_date, claims, on_done, clock)
    not_stored = {outcome.bucket_id for outcome in (*summary.failures, *summary.skipped)}
    stored = [target.client_id for target in targets if target.bucket_id not in not_stored]
    run_alerts(engine, client_ids=stored, now=clock())
    return summary


def _collect(
    engine: Engine,
    config: CollectConfig,
    targets: Sequence[Target],
    snapshot_date: dt.date,
    claims: RunClaims,
    on_done: Callable[[Outcome], None] | None,
    clock: Clock,
) -> RunSummary:
    started = time.monotonic()
    try:
        sources = Sources(config)
    except Exception as exc:  # whatever boto3 or the driver raise: report it per client
        error = f"cannot open the sources: {describe_error(exc)}"
        outcomes = [
            _fail_unopened(engine, claims, target, snapshot_date, error) for target in targets
        ]
        for outcome in outcomes:
            if on_done is not None:
                on_done(outcome)
        return _summarise(outcomes, time.monotonic() - started)
    try:
        return collect_snapshots(
            engine,
            sources.compute,
            targets,
            snapshot_date,
            workers=config.workers,
            claims=claims,
            on_done=on_done,
            clock=clock,
        )
    finally:
        sources.close()


def _fail_unopened(
    engine: Engine, claims: RunClaims, target: Target, snapshot_date: dt.date, error: str
) -> Outcome:
    skipped = claims.take(target.client_id, snapshot_date)
    if skipped is not None:
        return Outcome(target.bucket_id, None, skipped)
    try:
        return _record_failure(engine, claims, target, error)
    finally:
        claims.release(target.client_id)


def collect_snapshots(
    engine: Engine,
    compute: Compute,
    targets: Sequence[Target],
    snapshot_date: dt.date,
    *,
    workers: int,
    claims: RunClaims,
    on_done: Callable[[Outcome], None] | None = None,
    clock: Clock = utcnow,
) -> RunSummary:
    """Compute and store each target's snapshot, ``workers`` at a time."""
    started = time.monotonic()
    outcomes: list[Outcome] = []
    if targets:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets)))) as pool:
            futures = [
                pool.submit(_collect_one, engine, compute, target, snapshot_date, claims, clock)
                for target in targets
            ]
            for future in as_completed(futures):
                outcome = future.result()
                outcomes.append(outcome)
                if on_done is not None:
                    on_done(outcome)
    return _summarise(outcomes, time.monotonic() - started)


def _summarise(outcomes: list[Outcome], seconds: float) -> RunSummary:
    def sort(kept: Callable[[Outcome], bool]) -> tuple[Outcome, ...]:
        return tuple(sorted(filter(kept, outcomes), key=lambda outcome: outcome.bucket_id))

    skipped = sort(lambda outcome: outcome.skipped is not None)
    return RunSummary(
        processed=len(outcomes) - len(skipped),
        failures=sort(lambda outcome: outcome.error is not None),
        duration_seconds=seconds,
        skipped=skipped,
    )


class _TakenOverError(Exception):
    """Another run took the client while this one computed it."""


def _collect_one(
    engine: Engine,
    compute: Compute,
    target: Target,
    snapshot_date: dt.date,
    claims: RunClaims,
    clock: Clock,
) -> Outcome:
    try:
        skipped = claims.take(target.client_id, snapshot_date)
    except SQLAlchemyError as exc:
        log.warning("claiming %s failed: %s", target.bucket_id, exc)
        return Outcome(target.bucket_id, describe_error(exc))
    if skipped is not None:
        return Outcome(target.bucket_id, None, skipped)
    try:
        # Whole seconds: what the API shows is then exactly what is stored.
        computed = compute(target.bucket_id, snapshot_date, clock().replace(microsecond=0))
        with Session(for_writes(engine)) as session, session.begin():
            # First: the claim's row stays locked until the snapshot is stored.
            if not claims.finish(
                session,
                target.client_id,
                error=None,
                storage_source=computed.storage_source.value,
                storage_note=computed.storage_note,
            ):
                raise _TakenOverError
            clear_demo(session)  # a collected snapshot: the store is not only the demo now
            replace_snapshot(session, target.client_id, computed.snapshot)
    except _TakenOverError:
        return Outcome(target.bucket_id, None, TAKEN_OVER)
    except Exception as exc:  # one client's failure, whatever it is, is its own
        expected = isinstance(exc, StorageError | RecordsError)  # no traceback needed
        log.warning("collecting %s failed: %s", target.bucket_id, exc, exc_info=not expected)
        return _record_failure(engine, claims, target, describe_error(exc))
    finally:
        claims.release(target.client_id)
    return Outcome(target.bucket_id, None)


def _record_failure(engine: Engine, claims: RunClaims, target: Target, error: str) -> Outcome:
    try:
        with Session(for_writes(engine)) as session, session.begin():
            claims.finish(session, target.client_id, error=error)
    except SQLAlchemyError:
        log.exception("could not record the failed run of %s", target.bucket_id)
    return Outcome(target.bucket_id, error)
