"""Sending alerts: signed webhooks (a generic JSON payload and a Slack one)
and a daily e-mail digest per recipient, each delivery logged in
``alert_deliveries``.

A new event (``usage.alerts.evaluate``) gets one delivery per receiver:
every configured webhook and Slack webhook, and by e-mail the client's
account managers (the people whose book holds it), else the configured
default recipient. ``deliver`` then sends what is due, in this process and
synchronously: each attempt is bounded by ``timeout_seconds``, a failure is
tried again ``attempts`` times with a doubling wait, and what still fails is
marked ``failed`` with why, and tried again on the next run while its event
is open. Once a receiver (a webhook; for e-mail, the SMTP server) has
failed a run's last attempt with a timeout, a refused connection or a 5xx,
its other deliveries of that run are not tried: a dead receiver costs one
series of timeouts per run, not one per event. Nothing here raises for a
receiver.

An e-mail recipient gets at most one digest a day (UTC): the events queued
for them after it wait for the next day's first run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import enum
import hashlib
import hmac
import logging
import smtplib
import ssl
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from email.message import EmailMessage
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, and_, insert, or_, select, update
from sqlalchemy.orm import Session

from usage.collect.config import AlertConfig, SmtpSecurity
from usage.db import for_writes
from usage.models import AlertDelivery, AlertEvent, Assignment, Client, Person
from usage.series import day_label
from usage.snapshots import as_utc, format_datetime

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Usage-Signature"  # sha256=<hex HMAC-SHA256 of the body>
DELIVERY_HEADER = "X-Usage-Delivery"  # the delivery's id: the same on a retry
EVENT_TYPE = "alert.opened"
USER_AGENT = "usage-alerts/1"
# A delivery claimed by a run that did not finish it (the process died) is
# due again after this.
CLAIM_TIMEOUT = dt.timedelta(minutes=10)
MAX_WAIT_SECONDS = 60.0  # between two attempts, whatever the doubling gives
_BATCH = 500  # ids per IN (...)

# What each kind of event means to the person reading it.
KIND_LABELS = {
    "limit": "near its plan's limit",
    "drop": "possible data loss",
    "disappeared": "collection or storage prefix gone",
    "stopped": "collection stopped",
    "growth": "fast growth",
}
_SLACK_ICONS = {
    "high": ":red_circle:",
    "medium": ":large_orange_circle:",
    "low": ":large_blue_circle:",
}
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


# An event and its client, as the deliveries, the pages and the API show it
# (a query joins ``Client`` on the event's client).
EVENT_COLUMNS = (
    AlertEvent.id,
    Client.bucket_id,
    Client.display_name,
    AlertEvent.kind,
    AlertEvent.scope,
    AlertEvent.metric,
    AlertEvent.day,
    AlertEvent.severity,
    AlertEvent.summary,
    AlertEvent.details,
    AlertEvent.opened_at,
)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    return (ids[start : start + _BATCH] for start in range(0, len(ids), _BATCH))


class Channel(enum.StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    EMAIL = "email"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # not tried yet (or waiting for the day's digest)
    SENDING = "sending"  # claimed by a run
    SENT = "sent"
    FAILED = "failed"  # the last run's attempts failed: tried again next run
    SKIPPED = "skipped"  # the event resolved before it was sent


def webhook_label(url: str) -> str:
    """How a webhook is named in the log: its origin and a digest of the
    whole URL, not its path (a Slack webhook's path is its secret)."""
    parts = urllib.parse.urlsplit(url)
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/… ({digest})"


def receivers(config: AlertConfig, managers: Sequence[str]) -> list[tuple[Channel, str]]:
    """Who gets a new event of a client whose account managers are ``managers``."""
    found = [(Channel.WEBHOOK, webhook_label(url)) for url in config.webhooks]
    found.extend((Channel.SLACK, webhook_label(url)) for url in config.slack_webhooks)
    if config.sends_mail:
        recipients = managers or ([config.email_to] if config.email_to else [])
        found.extend((Channel.EMAIL, address) for address in sorted(set(recipients)))
    return list(dict.fromkeys(found))


def queue_deliveries(session: Session, config: AlertConfig, event_ids: Sequence[int]) -> int:
    """A pending delivery of each new event to each of its receivers."""
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(event_ids):
        events = session.execute(
            select(AlertEvent.id, AlertEvent.client_id).where(AlertEvent.id.in_(chunk))
        ).all()
        managers = _managers(session, {client_id for _, client_id in events})
        rows.extend(
            {
                "event_id": event_id,
                "channel": channel.value,
                "target": target,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
            }
            for event_id, client_id in events
            for channel, target in receivers(config, managers.get(client_id, []))
        )
    if rows:
        session.execute(insert(AlertDelivery), rows)
    return len(rows)


def _managers(session: Session, client_ids: Iterable[int]) -> dict[int, list[str]]:
    """The e-mail addresses of each client's account managers (its people)."""
    rows = session.execute(
        select(Assignment.client_id, Person.email)
        .join(Person, Person.id == Assignment.person_id)
        .where(Assignment.client_id.in_(sorted(client_ids)))
        .order_by(Person.email)
    )
    managers: dict[int, list[str]] = {}
    for client_id, address in rows:
        managers.setdefault(client_id, []).append(address)
    return managers


def skip_deliveries(session: Session, event_ids: Sequence[int]) -> None:
    """The resolved events' deliveries not tried yet will not be."""
    for chunk in _chunks(event_ids):
        session.execute(
            update(AlertDelivery)
            .where(
                AlertDelivery.event_id.in_(chunk),
                AlertDelivery.status == DeliveryStatus.PENDING.value,
            )
            .values(
                status=DeliveryStatus.SKIPPED.value,
                error="the event resolved before it was tried",
            )
        )


@dataclasses.dataclass(frozen=True)
class Notice:
    """One event as it is sent."""

    event_id: int
    bucket_id: str
    client_name: str
    kind: str
    scope: str
    metric: str
    day: dt.date | None
    severity: str
    summary: str
    details: dict[str, Any]
    opened_at: dt.datetime

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


def alert_payload(notice: Notice, delivery_id: int, sent_at: dt.datetime) -> dict[str, Any]:
    """The generic webhook's JSON (docs/insights.md shows one)."""
    return {
        "type": EVENT_TYPE,
        "delivery_id": delivery_id,
        "sent_at": format_datetime(sent_at),
        "alert": {
            "id": notice.event_id,
            "kind": notice.kind,
            "label": notice.label,
            "severity": notice.severity,
            "bucket_id": notice.bucket_id,
            "client": notice.client_name,
            "scope": notice.scope,
            "metric": notice.metric,
            "day": None if notice.day is None else notice.day.isoformat(),
            "summary": notice.summary,
            "details": notice.details,
            "opened_at": format_datetime(notice.opened_at),
        },
    }


def _slack_text(text: str) -> str:
    """Text for Slack's mrkdwn: its three control characters escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(notice: Notice) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` for notifications, blocks to read."""
    icon = _SLACK_ICONS.get(notice.severity, "")
    client = _slack_text(notice.client_name)
    summary = _slack_text(notice.summary)
    headline = f"{icon} *{notice.label.capitalize()}* ({notice.severity}): *{client}*"
    return {
        "text": f"{notice.label.capitalize()}: {client} ({notice.bucket_id}): {summary}",
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{headline} (`{notice.bucket_id}`)\n{summary}"},
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"alert {notice.event_id} · opened"
                        f" {format_datetime(notice.opened_at)}",
                    }
                ],
            },
        ],
    }


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the HMAC-SHA256 of the
    body under the secret, in hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def digest_message(
    config: AlertConfig, recipient: str, notices: Sequence[Notice], now: dt.datetime
) -> EmailMessage:
    """One recipient's digest: the new events, most severe first."""
    assert config.smtp_from is not None  # checked with the settings
    ordered = sorted(
        notices, key=lambda n: (_SEVERITY_ORDER.get(n.severity, 3), n.client_name, n.event_id)
    )
    today = day_label(as_utc(now).date())
    count = f"{len(notices)} new alert" + ("" if len(notices) == 1 else "s")
    lines = [f"{count} on the clients you look after, {today}:", ""]
    for notice in ordered:
        lines.append(
            f"[{notice.severity}] {notice.client_name} ({notice.bucket_id}): {notice.label}"
        )
        lines.append(f"    {notice.summary}")
        lines.append("")
    lines.append("-- ")
    lines.append("Usage analytics: each client's page in the dashboard shows its history.")
    message = EmailMessage()
    message["From"] = config.smtp_from
    message["To"] = recipient
    message["Subject"] = f"Usage alerts, {today}: {count}"
    message["Date"] = email.utils.format_datetime(as_utc(now))
    message["Message-ID"] = email.utils.make_msgid(domain=config.smtp_from.rpartition("@")[2])
    message.set_content("\n".join(lines))
    return message


class DeliveryError(Exception):
    """One attempt failed; ``retry``: another attempt may succeed."""

    def __init__(self, why: str, *, retry: bool) -> None:
        super().__init__(why)
        self.why = why
        self.retry = retry


def post_webhook(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> None:
    """POST ``body``; any answer but a 2xx is a ``DeliveryError``."""
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        timeout = client.timeout.read
        raise DeliveryError(f"no answer within {timeout:g} s (timed out)", retry=True) from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"could not connect: {exc or type(exc).__name__}", retry=True) from None
    if not response.is_success:
        status = response.status_code
        retry = status >= 500 or status in (408, 429)
        raise DeliveryError(f"answered {status} {response.reason_phrase}".strip(), retry=retry)


def send_mail(config: AlertConfig, message: EmailMessage) -> None:
    """Hand ``message`` to the SMTP server; a failure is a ``DeliveryError``."""
    assert config.smtp_host is not None
    timeout = config.timeout_seconds
    try:
        smtp: smtplib.SMTP
        if config.smtp_security is SmtpSecurity.TLS:
            context = ssl.create_default_context()
            smtp = smtplib.SMTP_SSL(
                config.smtp_host, config.smtp_port, timeout=timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=timeout)
        with smtp:
            if config.smtp_security is SmtpSecurity.STARTTLS:
                smtp.starttls(context=ssl.create_default_context())
            if config.smtp_username is not None and config.smtp_password is not None:
                smtp.login(config.smtp_username, config.smtp_password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(f"{address} ({code})" for address, (code, _) in exc.recipients.items())
        raise DeliveryError(f"the SMTP server refused {refused}", retry=False) from None
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        raise DeliveryError(
            f"the SMTP server answered {exc.smtp_code} {text}".strip(), retry=exc.smtp_code < 500
        ) from None
    except TimeoutError:
        raise DeliveryError(
            f"the SMTP server gave no answer within {timeout:g} s", retry=True
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP: {exc or type(exc).__name__}", retry=True) from None


Sleep = Callable[[float], None]


def attempt(
    send: Callable[[], None], config: AlertConfig, sleep: Sleep
) -> tuple[int, DeliveryError | None]:
    """Call ``send`` until it succeeds, up to ``config.attempts`` times,
    waiting ``backoff_seconds``, then twice that, and so on, in between;
    the attempts made and the last error (None: sent)."""
    for number in range(1, config.attempts + 1):
        try:
            send()
        except DeliveryError as exc:
            if not exc.retry or number == config.attempts:
                return number, exc
            sleep(min(config.backoff_seconds * 2 ** (number - 1), MAX_WAIT_SECONDS))
        else:
            return number, None
    raise AssertionError("unreachable: attempts >= 1")


@dataclasses.dataclass(frozen=True)
class _Job:
    """What one send carries: one event to a webhook, or a digest of
    several to one mailbox (one delivery each)."""

    channel: Channel
    target: str
    delivery_ids: tuple[int, ...]
    notices: tuple[Notice, ...]


@dataclasses.dataclass(frozen=True)
class DeliverySummary:
    sent: int = 0  # deliveries (an e-mail digest counts each event it carries)
    failed: int = 0


def deliver(
    engine: Engine, config: AlertConfig, now: dt.datetime, *, sleep: Sleep
) -> DeliverySummary:
    """Send every due delivery; each outcome is recorded as soon as it is
    known, in a transaction of its own (no transaction waits on a receiver)."""
    now = as_utc(now)
    with Session(for_writes(engine)) as session, session.begin():
        jobs = _claim(session, config, now)
    if not jobs:
        return DeliverySummary()
    urls = {webhook_label(url): url for url in (*config.webhooks, *config.slack_webhooks)}
    broken: dict[str, str] = {}  # receiver -> why its last attempt of this run failed
    sent = failed = 0
    with httpx.Client(timeout=config.timeout_seconds, headers={"User-Agent": USER_AGENT}) as client:
        for job in jobs:
            attempts, error = _try(job, config, client, urls, now, sleep, broken)
            if error is None:
                sent += len(job.delivery_ids)
            else:
                failed += len(job.delivery_ids)
                log.warning("alert delivery to %s %s failed: %s", job.channel, job.target, error)
            with Session(for_writes(engine)) as session, session.begin():
                _finish(session, job.delivery_ids, attempts, error, now)
    return DeliverySummary(sent, failed)


def _try(
    job: _Job,
    config: AlertConfig,
    client: httpx.Client,
    urls: dict[str, str],
    now: dt.datetime,
    sleep: Sleep,
    broken: dict[str, str],
) -> tuple[int, str | None]:
    """The attempts made at ``job`` and why the last failed (None: sent);
    a receiver in ``broken`` is not tried, and goes there when it fails."""
    # Every digest goes through the one SMTP server: when it is down, it is
    # down for every recipient.
    receiver = "smtp" if job.channel is Channel.EMAIL else job.target
    if receiver in broken:
        return 0, f"not tried: it failed just before in this run ({broken[receiver]})"

    def send() -> None:
        try:
            _send(job, config, client, urls, now)
        except DeliveryError:
            raise
        except Exception as exc:  # whatever it is, one delivery must not stop the others
            log.exception("alert delivery to %s %s broke", job.channel, job.target)
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retry=False) from exc

    attempts, failure = attempt(send, config, sleep)
    if failure is None:
        return attempts, None
    if failure.retry:
        broken[receiver] = failure.why
    return attempts, failure.why


def _send(
    job: _Job, config: AlertConfig, client: httpx.Client, urls: dict[str, str], now: dt.datetime
) -> None:
    if job.channel is Channel.EMAIL:
        if not config.sends_mail:
            raise DeliveryError("no SMTP server is configured (alerts.smtp_host)", retry=False)
        send_mail(config, digest_message(config, job.target, job.notices, now))
        return
    url = urls.get(job.target)
    if url is None:
        raise DeliveryError("this webhook is no longer configured", retry=False)
    if config.secret is None:
        raise DeliveryError(
            "alerts.secret is not set: webhooks are never sent unsigned", retry=False
        )
    notice, delivery_id = job.notices[0], job.delivery_ids[0]
    if job.channel is Channel.SLACK:
        payload = slack_payload(notice)
    else:
        payload = alert_payload(notice, delivery_id, now)
    body = orjson.dumps(payload)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(config.secret, body),
        DELIVERY_HEADER: str(delivery_id),
    }
    post_webhook(client, url, body, headers)


def _claim(session: Session, config: AlertConfig, now: dt.datetime) -> list[_Job]:
    """Mark the due deliveries of open events as this run's, and group them
    into jobs: an e-mail recipient who had a digest today waits for tomorrow."""
    due = or_(
        AlertDelivery.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value]),
        and_(
            AlertDelivery.status == DeliveryStatus.SENDING.value,
            AlertDelivery.last_attempt_at < now - CLAIM_TIMEOUT,
        ),
    )
    midnight = dt.datetime.combine(now.date(), dt.time(), tzinfo=dt.UTC)
    digested = set(
        session.scalars(
            select(AlertDelivery.target)
            .where(
                AlertDelivery.channel == Channel.EMAIL.value,
                AlertDelivery.status == DeliveryStatus.SENT.value,
                AlertDelivery.sent_at >= midnight,
            )
            .distinct()
        )
    )
    rows = session.execute(
        select(AlertDelivery.id, AlertDelivery.channel, AlertDelivery.target, *EVENT_COLUMNS)
        .join(AlertEvent, AlertEvent.id == AlertDelivery.event_id)
        .join(Client, Client.id == AlertEvent.client_id)
        .where(due, AlertEvent.resolved_at.is_(None))
        .order_by(AlertDelivery.id)
    ).all()
    wanted = [row for row in rows if row[1] != Channel.EMAIL.value or row[2] not in digested]
    claimed: set[int] = set()
    for chunk in _chunks([row[0] for row in wanted]):
        claimed.update(
            session.scalars(
                update(AlertDelivery)
                .where(AlertDelivery.id.in_(chunk), due)
                .values(status=DeliveryStatus.SENDING.value, last_attempt_at=now)
                .returning(AlertDelivery.id)
            )
        )
    jobs: list[_Job] = []
    digests: dict[str, list[tuple[int, Notice]]] = {}
    for row in wanted:
        if row[0] not in claimed:
            continue  # another run took it a moment ago
        notice = Notice(
            event_id=row[3],
            bucket_id=row[4],
            client_name=row[5],
            kind=row[6],
            scope=row[7],
            metric=row[8],
            day=row[9],
            severity=row[10],
            summary=row[11],
            details=row[12],
            opened_at=as_utc(row[13]),
        )
        if row[1] == Channel.EMAIL.value:
            digests.setdefault(row[2], []).append((row[0], notice))
        else:
            jobs.append(_Job(Channel(row[1]), row[2], (row[0],), (notice,)))
    for recipient, items in sorted(digests.items()):
        ids = tuple(delivery_id for delivery_id, _ in items)
        jobs.append(_Job(Channel.EMAIL, recipient, ids, tuple(notice for _, notice in items)))
    return jobs


def _finish(
    session: Session,
    delivery_ids: Sequence[int],
    attempts: int,
    error: str | None,
    now: dt.datetime,
) -> None:
    status = DeliveryStatus.SENT if error is None else DeliveryStatus.FAILED
    session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id.in_(delivery_ids))
        .values(
            status=status.value,
            attempts=AlertDelivery.attempts + attempts,
            error=error,
            last_attempt_at=now,
            sent_at=now if error is None else None,
        )
    )
