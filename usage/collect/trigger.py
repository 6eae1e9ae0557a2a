"""The admin trigger: compute today's snapshots now, at most once per bucket per 5 minutes.

The domain of ``POST /api/v1/collect/trigger`` and of the dashboard's
"Collect now" button. The limit lives in ``collection_runs``: the runs are
claimed all or nothing in one transaction by conditional upserts, so it holds
across server processes and restarts, and of two triggers racing for the same
bucket exactly one runs it (the other gets ``RateLimited``). A bucket whose
run is still at work (its heartbeat renewed within the lease) is refused
however long ago it started; one whose run died is free once its lease
lapses. ``force`` claims regardless, taking over a run at work (which then
stores nothing: ``usage.collect.claims``).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from usage.access import Principal, require_admin
from usage.audit import Action, Actor, record
from usage.collect.claims import ClaimedAt
from usage.collect.config import CollectConfig, load_config
from usage.collect.runner import Clock, Target, collect, select_targets
from usage.collect.runs import (
    RUN_INTERVAL,
    StartedBy,
    any_running,
    claim_runs,
    seconds_until_free,
    start_runs,
)
from usage.db import for_writes
from usage.errors import ConfigError, InvalidParams, RateLimited, UsageError
from usage.models import utcnow
from usage.snapshots import as_utc
from usage.validation import first_repeated, parse_bucket_id

TRIGGER_INTERVAL = RUN_INTERVAL
MAX_BUCKET_IDS = 1000
_FIELDS = ("bucket_ids", "force")
_BODY_EXAMPLE = '{"bucket_ids": ["acme-corp"], "force": false}'


class CollectionUnavailableError(UsageError):
    """Collection is not configured on this server (the message names the setting)."""

    status = 503


@dataclass(frozen=True)
class TriggerRequest:
    bucket_ids: tuple[str, ...] | None = None  # None: every active and trial client
    force: bool = False


def parse_trigger_body(raw: bytes) -> TriggerRequest:
    """The request body (empty, or a JSON object), or ``InvalidParams`` naming the field."""
    if not raw.strip():
        return TriggerRequest()
    try:
        # UTF-8 only (RFC 8259): json.loads would take UTF-16 or UTF-32 bytes too.
        body = json.loads(raw.decode("utf-8"), object_pairs_hook=_object_once)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        body = None
    if not isinstance(body, dict):
        raise InvalidParams(f"the request body must be a JSON object such as {_BODY_EXAMPLE}")
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise InvalidParams(
            f"unknown field {unknown[0]!r} in the request body; expected: {', '.join(_FIELDS)}"
        )
    return TriggerRequest(
        bucket_ids=_parse_bucket_ids(body.get("bucket_ids")),
        force=_parse_force(body.get("force")),
    )


def _object_once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose every name is given once: which of two values was
    meant is not guessed (json.loads would keep the last)."""
    twice = first_repeated(name for name, _ in pairs)
    if twice is not None:
        raise InvalidParams(f"field {twice!r} is given more than once in the request body")
    return dict(pairs)


def _parse_bucket_ids(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_BUCKET_IDS:
        raise InvalidParams(
            f"bucket_ids must be an array of 1 to {MAX_BUCKET_IDS} bucket ids"
            " (leave it out for every active and trial client)"
        )
    checked: list[str] = []
    for index, item in enumerate(raw):
        name = f"bucket_ids[{index}]"
        checked.append(parse_bucket_id(item if isinstance(item, str) else None, name))
    return tuple(dict.fromkeys(checked))


def _parse_force(raw: Any) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, bool):
        raise InvalidParams("force must be a boolean (true or false)")
    return raw


def run_trigger(
    engine: Engine,
    raw_body: bytes,
    *,
    principal: Principal,
    address: str = "",
    now: dt.datetime | None = None,
    config: CollectConfig | None = None,
) -> dict[str, Any]:
    """The whole trigger for ``principal`` calling from ``address``:
    ``Forbidden`` unless admin, ``InvalidParams`` for a
    bad body, ``NotFound`` for an unknown bucket, ``RateLimited`` within the
    interval, ``CollectionUnavailableError`` when not configured; else the
    contract's result (``buckets_processed``, ``buckets_failed``,
    ``duration_seconds``, ``failures``)."""
    require_admin(principal, "collecting")
    actor = Actor(principal.actor, address)
    return trigger_collection(engine, parse_trigger_body(raw_body), actor, now=now, config=config)


def trigger_collection(
    engine: Engine,
    request: TriggerRequest,
    actor: Actor,
    *,
    now: dt.datetime | None = None,
    config: CollectConfig | None = None,
    clock: Clock = utcnow,
) -> dict[str, Any]:
    """Claim the runs, record who triggered them, then collect today's
    snapshots (see ``run_trigger``)."""
    now = as_utc(now or clock())
    # An unknown client is the request's own mistake, said before the
    # server's (as a bad body is): a 404, then the 503 of no configuration.
    with Session(engine) as session:
        targets = select_targets(session, request.bucket_ids)
    if config is None:
        try:
            config = load_config()
        except ConfigError as exc:
            raise CollectionUnavailableError(f"collection is not configured: {exc}") from None
    today = now.date()
    lease = dt.timedelta(seconds=config.lease_seconds)
    client_ids = [target.client_id for target in targets]
    # The claim's first statement writes: a SQLite transaction that read first
    # could not take the write lock after a racing claim commits. On
    # PostgreSQL, READ COMMITTED lets a claim that waited on a racing one see
    # its row and refuse, where REPEATABLE READ would fail to serialise.
    with Session(for_writes(engine)) as session, session.begin():
        if request.force:
            start_runs(
                session, client_ids, now=now, snapshot_date=today, started_by=StartedBy.TRIGGER
            )
        else:
            blocked = claim_runs(
                session,
                client_ids,
                now=now,
                snapshot_date=today,
                interval=TRIGGER_INTERVAL,
                lease=lease,
            )
            if blocked:
                _refuse(session, targets, blocked, now, lease)
        record(
            session,
            actor,
            Action.COLLECTION_TRIGGERED,
            " ".join(request.bucket_ids) if request.bucket_ids else "every active and trial client",
            "forced" if request.force else "",
        )
    summary = collect(engine, config, targets, today, claiming=ClaimedAt(now), clock=clock)
    return summary.as_json()


def _refuse(
    session: Session,
    targets: list[Target],
    blocked: list[int],
    now: dt.datetime,
    lease: dt.timedelta,
) -> None:
    """Raise ``RateLimited``; leaving the transaction rolls back every claim."""
    wait = seconds_until_free(session, blocked, now=now, interval=TRIGGER_INTERVAL, lease=lease)
    names = [target.bucket_id for target in targets if target.client_id in set(blocked)]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    minutes = int(TRIGGER_INTERVAL.total_seconds() // 60)
    why = f"ran less than {minutes} minutes ago"
    if any_running(session, blocked):
        why = f"{why} or {'are' if len(names) > 1 else 'is'} being collected by another run"
    raise RateLimited(
        f'{shown} {why}: retry in {wait} seconds or send "force": true', retry_after=wait
    )
