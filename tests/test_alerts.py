"""Alerts: the rules on constructed histories, their settings, and the whole
path on every backend with real receivers on loopback (a drop stored ->
``run_alerts`` -> a signed webhook and a mail to the account manager)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from tests.alert_receivers import (
    SECRET,
    SmtpServer,
    WebhookServer,
    running_smtp,
    running_webhooks,
)
from tests.collect_support import BUCKETS
from tests.conftest import Cli
from tests.factories import new_client, snapshot_json, store
from tests.live_server import free_port
from tests.s3_server import S3Server, running_s3
from usage.alerts import (
    DROP_DAYS,
    AlertKind,
    AlertRules,
    Finding,
    current_events,
    drop_settings,
    find_current,
    record_events,
    run_alerts,
)
from usage.anomalies import Scope, Severity, find_drops
from usage.audit import Actor
from usage.collect.config import ALERT_SETTINGS, AlertConfig, CollectConfig, load_alert_config
from usage.collect.runner import collect, select_targets
from usage.collect.runs import StartedBy, start_runs
from usage.delivery import DeliveryStatus, webhook_label
from usage.errors import ConfigError
from usage.history import find_client_id
from usage.models import STANDARD_COLLECTIONS, AlertDelivery, AlertEvent, Client, Role
from usage.people import add_person
from usage.plans import Plan, clear_plan, set_plan
from usage.series import STORAGE_BYTES, TOTAL_RECORDS
from usage.snapshots import SnapshotData, as_utc, insert_snapshots

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 11, 12)  # the day of the drop
GB = 1_000_000_000
NOW = dt.datetime(2026, 11, 13, 6, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
ANN = "ann@example.com"
OPS = "ops@example.com"
SENDER = "usage@example.com"
ACTOR = Actor("test")


# The rules, on constructed histories.


snap = functools.partial(snapshot_json, bucket_id="acme-corp")


RECORDS = {"person": 8_000, "member": 2_000}
PREFIXES = {"documents/": 3_400_000_000, "images/": GB}


def flat(last: dt.date, days: int = 40) -> list[dict[str, Any]]:
    """``days`` daily snapshots up to ``last``, the same every day."""
    return [snap(last - dt.timedelta(days=n), RECORDS, PREFIXES) for n in range(days)][::-1]


def kinds(findings: list[Finding]) -> set[tuple[AlertKind, Scope, str]]:
    return {(finding.kind, finding.scope, finding.metric) for finding in findings}


def test_a_sharp_drop_is_an_event_until_it_recovers() -> None:
    history = flat(DAY - dt.timedelta(days=1))
    dropped = snap(DAY, {"person": 2_400, "member": 2_000}, PREFIXES)
    found = current_events("acme-corp", "active", [*history, dropped], None, DAY)
    assert kinds(found) == {
        (AlertKind.DROP, Scope.TOTAL, TOTAL_RECORDS),
        (AlertKind.DROP, Scope.COLLECTION, "person"),
    }
    [person] = [finding for finding in found if finding.metric == "person"]
    assert person.summary == "`person` fell from 8,000 to 2,400 records on 12 Nov 2026 (-70%)"
    assert person.severity is Severity.HIGH
    assert person.day == DAY
    assert person.details["before"] == 8_000
    recovered = snap(DAY + dt.timedelta(days=1), RECORDS, PREFIXES)
    later = DAY + dt.timedelta(days=1)
    assert current_events("acme-corp", "active", [*history, dropped, recovered], None, later) == []


def test_a_drop_older_than_the_lookback_is_history() -> None:
    history = flat(DAY - dt.timedelta(days=1))
    low = [
        snap(DAY + dt.timedelta(days=n), {"person": 2_400, "member": 2_000}, PREFIXES)
        for n in range(DROP_DAYS + 1)
    ]
    still = low[:DROP_DAYS]  # the drop's day is the 14th newest
    assert kinds(current_events("acme-corp", "active", [*history, *still], None, DAY)) == {
        (AlertKind.DROP, Scope.TOTAL, TOTAL_RECORDS),
        (AlertKind.DROP, Scope.COLLECTION, "person"),
    }
    assert current_events("acme-corp", "active", [*history, *low], None, DAY) == []


def test_a_prefix_that_disappears_is_an_event() -> None:
    history = flat(DAY - dt.timedelta(days=1))
    gone = snap(DAY, RECORDS, {"images/": GB})
    found = current_events("acme-corp", "active", [*history, gone], None, DAY)
    by_kind = {finding.kind: finding for finding in found}
    assert by_kind[AlertKind.DISAPPEARED].summary == (
        "`documents/` is gone on 12 Nov 2026: it held 3.4 GB on 11 Nov 2026"
    )
    assert kinds(found) == {
        (AlertKind.DISAPPEARED, Scope.PREFIX, "documents/"),
        (AlertKind.DROP, Scope.TOTAL, STORAGE_BYTES),
    }


def test_a_jump_alone_is_no_alert() -> None:
    history = flat(DAY - dt.timedelta(days=1), days=10)
    jumped = snap(DAY, {"person": 30_000, "member": 2_000}, PREFIXES)
    assert current_events("acme-corp", "active", [*history, jumped], None, DAY) == []


def growing(last: dt.date, per_day: int, days: int = 40) -> list[dict[str, Any]]:
    """Records growing by ``per_day`` a day up to ``last``; storage flat."""
    start = last - dt.timedelta(days=days - 1)
    return [
        snap(start + dt.timedelta(days=n), {"person": 10_000 + per_day * n}, PREFIXES)
        for n in range(days)
    ]


def test_growth_over_the_threshold_in_30_days_is_an_event() -> None:
    history = growing(DAY, per_day=100)  # 10,900 -> 13,900 in 30 days: +28%
    [found] = current_events("acme-corp", "active", history, None, DAY)
    assert (found.kind, found.metric, found.severity) == (
        AlertKind.GROWTH,
        TOTAL_RECORDS,
        Severity.LOW,
    )
    assert found.summary == (
        "Total records grew from 10,900 to 13,900 records in 30 days, 13 Oct to 12 Nov 2026 (+28%)"
    )
    assert (
        current_events("acme-corp", "active", history, None, DAY, AlertRules(growth_share=0.3))
        == []
    )
    assert current_events("acme-corp", "active", history[-25:], None, DAY) == []  # < 30 days


@pytest.mark.parametrize(
    ("status", "silent_days", "expected"),
    [("active", 3, Severity.MEDIUM), ("trial", 8, Severity.HIGH), ("active", 2, None),
     ("inactive", 9, None)],
)  # fmt: skip
def test_a_stopped_collection_is_an_event_while_active(
    status: str, silent_days: int, expected: Severity | None
) -> None:
    history = flat(DAY)
    found = current_events("acme-corp", status, history, None, DAY + dt.timedelta(days=silent_days))
    if expected is None:
        assert found == []
        return
    [stopped] = found
    assert (stopped.kind, stopped.severity, stopped.day) == (
        AlertKind.STOPPED,
        expected,
        DAY + dt.timedelta(days=1),
    )
    assert stopped.summary.startswith(f"No snapshot for {silent_days} days up to ")


def linear(last: dt.date, days: int = 60) -> list[dict[str, Any]]:
    """Person records from 100,000 growing by 1,000 a day, up to 159,000 on ``last``."""
    start = last - dt.timedelta(days=days - 1)
    return [
        snap(start + dt.timedelta(days=n), {"person": 100_000 + 1_000 * n}, PREFIXES)
        for n in range(days)
    ]


@pytest.mark.parametrize(
    ("plan", "rules", "expected"),
    [
        (Plan(records=170_000), AlertRules(), (Severity.MEDIUM, TOTAL_RECORDS,
         "Total records: reaches 170,000 records around 23 Nov 2026 (the plan's limit)")),
        (Plan(records=150_000), AlertRules(), (Severity.HIGH, TOTAL_RECORDS,
         "Total records: 159,000 records, over the plan's limit of 150,000 records")),
        (Plan(storage_bytes=4 * GB), AlertRules(), (Severity.HIGH, STORAGE_BYTES,
         "Storage: 4.4 GB, over the plan's limit of 4.0 GB")),
        (Plan(collections=(("person", 165_000),)), AlertRules(), (Severity.MEDIUM, "person",
         "`person`: reaches 165,000 person records around 18 Nov 2026 (the plan's limit)")),
        (Plan(records=400_000), AlertRules(), None),  # in about 241 days
        (Plan(records=170_000), AlertRules(limit_days=10), None),  # in 11 days
    ],
)  # fmt: skip
def test_a_limit_reached_within_the_days_is_an_event(
    plan: Plan, rules: AlertRules, expected: tuple[Severity, str, str] | None
) -> None:
    found = current_events("acme-corp", "active", linear(DAY), plan, DAY, rules)
    limits = [finding for finding in found if finding.kind is AlertKind.LIMIT]
    if expected is None:
        assert limits == []
        return
    [limit] = limits
    assert (limit.severity, limit.metric, limit.summary) == expected
    assert limit.details["last_day"] == DAY.isoformat()


def test_an_event_keeps_its_key_from_run_to_run() -> None:
    history = flat(DAY - dt.timedelta(days=1))
    dropped = snap(DAY, {"person": 2_400, "member": 2_000}, PREFIXES)
    first = current_events("acme-corp", "active", [*history, dropped], None, DAY)
    later = [snap(DAY + dt.timedelta(days=1), {"person": 2_500, "member": 2_000}, PREFIXES)]
    again = current_events("acme-corp", "active", [*history, dropped, *later], None, DAY)
    assert {f.key for f in first} == {f.key for f in again}
    assert len({f.key for f in first}) == 2


def test_the_thresholds_come_from_the_settings() -> None:
    rules = AlertRules.from_config(AlertConfig(drop_percent=80, growth_percent=50, limit_days=9))
    assert rules == AlertRules(limit_days=9, drop_share=0.8, stopped_days=3, growth_share=0.5)
    history = flat(DAY - dt.timedelta(days=1))
    dropped = snap(DAY, {"person": 2_400, "member": 2_000}, PREFIXES)  # -70 %
    assert current_events("acme-corp", "active", [*history, dropped], None, DAY, rules) == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {TOTAL_RECORDS, "person"}),  # -56% and -70%
        ({"USAGE_ALERTS_DROP_PERCENT": "65"}, {"person"}),
        ({"USAGE_ALERTS_DROP_PERCENT": "80"}, set()),
        # Wrong settings: the page keeps the defaults (the alerts log and stop).
        ({"USAGE_ALERTS_DROP_PERCENT": "0"}, {TOTAL_RECORDS, "person"}),
    ],
)
def test_the_client_page_marks_the_drops_the_alerts_see(
    environ: dict[str, str],
    expected: set[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no settings file
    monkeypatch.delenv("USAGE_CONFIG", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    dropped = snap(DAY, {"person": 2_400, "member": 2_000}, PREFIXES)
    history = [*flat(DAY - dt.timedelta(days=1)), dropped]

    marked = {drop.metric for drop in find_drops(history, drop_settings())}

    assert marked == expected
    if environ.get("USAGE_ALERTS_DROP_PERCENT") != "0":
        rules = AlertRules.from_config(load_alert_config())
        found = current_events("acme-corp", "active", history, None, DAY, rules)
        assert {finding.metric for finding in found} == marked


# The [alerts] settings.


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "usage.toml"
    path.write_text(body)
    return path


def test_without_settings_nothing_is_sent(tmp_path: Path) -> None:
    config = load_alert_config(environ={}, cwd=tmp_path)
    assert config == AlertConfig()
    assert (config.webhooks, config.slack_webhooks, config.sends_mail) == ((), (), False)


def test_the_example_file_holds_valid_alert_settings(tmp_path: Path) -> None:
    shutil.copy(PROJECT_ROOT / "usage.example.toml", tmp_path / "usage.toml")
    config = load_alert_config(environ={}, cwd=tmp_path)
    assert config.origin == str(tmp_path / "usage.toml")
    assert (config.limit_days, config.drop_percent, config.stopped_days) == (30, 20.0, 3)


def test_every_alert_setting_is_documented_and_in_the_example() -> None:
    documented = (PROJECT_ROOT / "docs" / "insights.md").read_text()
    example = (PROJECT_ROOT / "usage.example.toml").read_text()
    for setting in ALERT_SETTINGS:
        assert f"`{setting.name}`" in documented
        assert setting.env in documented
        assert f"{setting.key} =" in example


def test_settings_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        '[alerts]\nwebhooks = ["https://hooks.example.com/usage"]\nsecret = "s3cret"\n'
        'smtp_host = "mail.example.com"\nsmtp_port = 587\nsmtp_security = "starttls"\n'
        'smtp_from = "usage@example.com"\ndrop_percent = 35.5\n',
    )
    environ = {
        "USAGE_CONFIG": str(path),
        "USAGE_ALERTS_SLACK_WEBHOOKS": "https://hooks.slack.com/services/T/B/X, http://b.example",
        "USAGE_ALERTS_ATTEMPTS": "5",
    }
    config = load_alert_config(environ=environ)
    assert config.webhooks == ("https://hooks.example.com/usage",)
    assert config.slack_webhooks == ("https://hooks.slack.com/services/T/B/X", "http://b.example")
    assert (config.smtp_port, config.smtp_security.value, config.drop_percent) == (
        587,
        "starttls",
        35.5,
    )
    assert config.attempts == 5
    # Secrets stay out of the repr, so out of any log line.
    for secret in ("s3cret", "services/T/B/X", "hooks.example.com/usage"):
        assert secret not in repr(config)


@pytest.mark.parametrize(
    ("environ", "body", "message"),
    [
        ({}, '[alerts]\nwebhooks = ["ftp://hooks.example.com/x"]\nsecret = "s"\n',
         "alerts.webhooks must be http:// or https:// URLs, and 'ftp://hooks.example.com/x'"
         " is not one (got ['ftp://hooks.example.com/x'] from "),
        ({"USAGE_ALERTS_SLACK_WEBHOOKS": "https://ok.example/x hooks.slack.com/x",
          "USAGE_ALERTS_SECRET": "s"}, "",
         "alerts.slack_webhooks must be http:// or https:// URLs, and 'hooks.slack.com/x' is not"
         " one (got 'https://ok.example/x hooks.slack.com/x' from USAGE_ALERTS_SLACK_WEBHOOKS)"),
        ({}, "[alerts]\nwebhooks = 'https://a.example/x'\n", "alerts.secret is missing: webhooks"
                                                             " are signed with it"),
        ({}, "[alerts]\nwebhooks = [5]\nsecret = 's'\n",
         "alerts.webhooks must be http:// or https:// URLs, and 5 is not one"),
        ({}, "[alerts]\nsmtp_host = 'mail.example.com'\n", "alerts.smtp_from is missing"),
        ({}, "[alerts]\nsmtp_from = 'usage'\n",
         "alerts.smtp_from must be an email address such as ops@example.com"),
        ({}, "[alerts]\nsmtp_username = 'usage'\n",
         "alerts.smtp_username and alerts.smtp_password go together"),
        ({}, "[alerts]\ndrop_percent = 0\n",
         "alerts.drop_percent must be a number of percent from 1 to 100 (got 0 from "),
        ({"USAGE_ALERTS_TIMEOUT_SECONDS": "soon"}, "",
         "alerts.timeout_seconds must be a number of seconds from 0.1 to 60 (got 'soon' from"
         " USAGE_ALERTS_TIMEOUT_SECONDS)"),
        ({}, "[alerts]\nsmtp_security = 'ssl'\n",
         "alerts.smtp_security must be one of: none, starttls, tls"),
        ({}, "[alerts]\nwebhook = 'https://a.example'\n", "unknown setting alerts.webhook;"),
    ],
)  # fmt: skip
def test_a_wrong_alert_setting_is_one_line_naming_it(
    tmp_path: Path, environ: dict[str, str], body: str, message: str
) -> None:
    write_config(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_alert_config(environ=environ, cwd=tmp_path)
    assert str(caught.value).startswith(message) or f": {message}" in str(caught.value)
    assert "\n" not in str(caught.value)


# The whole path, on every backend, with real receivers.


@pytest.fixture
def webhooks() -> Iterator[WebhookServer]:
    with running_webhooks() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp() as server:
        yield server


def settings(webhooks: WebhookServer, smtp: SmtpServer, *urls: str) -> AlertConfig:
    """Receivers on loopback, and short timeouts and waits."""
    return AlertConfig(
        webhooks=tuple(webhooks.url(url) for url in urls or ("/ok/generic",)),
        slack_webhooks=(webhooks.url("/slack/channel"),) if not urls else (),
        secret=SECRET,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_from=SENDER,
        email_to=OPS,
        timeout_seconds=0.5,
        attempts=2,
        backoff_seconds=0.01,
    )


def as_toml(config: AlertConfig) -> str:
    def listed(urls: tuple[str, ...]) -> str:
        return "[" + ", ".join(f'"{url}"' for url in urls) + "]"

    return (
        f"[alerts]\nwebhooks = {listed(config.webhooks)}\n"
        f"slack_webhooks = {listed(config.slack_webhooks)}\nsecret = {config.secret!r}\n"
        f'smtp_host = "{config.smtp_host}"\nsmtp_port = {config.smtp_port}\n'
        f'smtp_from = "{config.smtp_from}"\nemail_to = "{config.email_to}"\n'
        "timeout_seconds = 0.5\nattempts = 2\nbackoff_seconds = 0.01\n"
    )


def data(day: dt.date, person: int = 8_000) -> SnapshotData:
    return SnapshotData(
        snapshot_date=day,
        records={**dict.fromkeys(STANDARD_COLLECTIONS, 0), "person": person, "member": 2_000},
        by_prefix={"documents/": (1_000, 3_400_000_000), "images/": (100, GB)},
        computed_at=dt.datetime.combine(day, dt.time(2, 0), tzinfo=dt.UTC),
    )


def import_line(day: dt.date, person: int) -> str:
    records = {**dict.fromkeys(STANDARD_COLLECTIONS, 0), "person": person, "member": 2_000}
    line = {
        "bucket_id": "acme-corp",
        "snapshot_date": day.isoformat(),
        "records": {**records, "total": sum(records.values())},
        "storage": {
            "object_count": 1_100,
            "total_bytes": 4_400_000_000,
            "by_prefix": {
                "documents/": {"count": 1_000, "bytes": 3_400_000_000},
                "images/": {"count": 100, "bytes": GB},
            },
        },
        "computed_at": f"{day.isoformat()}T02:00:00Z",
    }
    return orjson.dumps(line).decode() + "\n"


@pytest.fixture
def history(engine: Engine) -> Engine:
    """acme-corp, managed by Ann, and globex, managed by nobody: 40 quiet days
    up to the day before DAY."""
    days = [DAY - dt.timedelta(days=n) for n in range(40, 0, -1)]
    store(engine, "acme-corp", [data(day) for day in days], name="Acme Corporation")
    store(engine, "globex", [data(day) for day in days])
    with Session(engine) as session, session.begin():
        add_person(session, ANN, Role.MANAGER, ["acme-corp"], actor=Actor("test"))
    return engine


def ids(engine: Engine, *bucket_ids: str) -> list[int]:
    """The clients' ids: what a run passes ``run_alerts`` for the clients it stored."""
    with Session(engine) as session:
        return [find_client_id(session, bucket_id) for bucket_id in bucket_ids]


def events(engine: Engine) -> list[AlertEvent]:
    with Session(engine) as session:
        return list(session.scalars(select(AlertEvent).order_by(AlertEvent.id)))


def deliveries(engine: Engine) -> list[AlertDelivery]:
    with Session(engine) as session:
        return list(session.scalars(select(AlertDelivery).order_by(AlertDelivery.id)))


def test_a_drop_reaches_the_manager_by_webhook_and_mail_once(
    cli: Cli,
    history: Engine,
    webhooks: WebhookServer,
    smtp: SmtpServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = settings(webhooks, smtp)
    monkeypatch.setenv("USAGE_CONFIG", str(write_config(tmp_path, as_toml(config))))
    drop = tmp_path / "drop.jsonl"
    drop.write_text(import_line(DAY, person=2_400))  # 70 % of person gone

    assert cli("import", str(drop))[0] == 0  # the import runs the alerts

    generic = webhooks.at("/ok/")
    assert len(generic) == 2  # the total and person
    assert all(hook.signed for hook in generic)
    assert {hook.json["alert"]["metric"] for hook in generic} == {TOTAL_RECORDS, "person"}
    person = next(hook.json for hook in generic if hook.json["alert"]["metric"] == "person")
    assert person["type"] == "alert.opened"
    assert person["alert"] | {"id": 0, "opened_at": ""} == {
        "id": 0,
        "kind": "drop",
        "label": "possible data loss",
        "severity": "high",
        "bucket_id": "acme-corp",
        "client": "Acme Corporation",
        "scope": "collection",
        "metric": "person",
        "day": "2026-11-12",
        "summary": "`person` fell from 8,000 to 2,400 records on 12 Nov 2026 (-70%)",
        "details": {
            "before": 8_000,
            "after": 2_400,
            "previous_day": "2026-11-11",
            "change_pct": -70.0,
            "now": 2_400,
        },
        "opened_at": "",
    }
    assert {hook.headers["X-Usage-Delivery"] for hook in generic} == {
        str(person["delivery_id"]),
        str(next(h.json["delivery_id"] for h in generic if h.json != person)),
    }
    slack = webhooks.at("/slack/")
    assert len(slack) == 2
    assert all(hook.signed for hook in slack)
    assert any("`person` fell from 8,000 to 2,400 records" in hook.json["text"] for hook in slack)
    assert all(block["type"] in ("section", "context") for h in slack for block in h.json["blocks"])

    [mail] = smtp.mails
    assert (mail.sender, mail.recipients, mail.message["To"]) == (SENDER, [ANN], ANN)
    assert mail.message["Subject"].endswith(": 2 new alerts")
    assert "[high] Acme Corporation (acme-corp): possible data loss" in mail.text
    assert "`person` fell from 8,000 to 2,400 records on 12 Nov 2026 (-70%)" in mail.text
    assert {d.status for d in deliveries(history)} == {DeliveryStatus.SENT.value}
    assert {d.target for d in deliveries(history) if d.channel == "email"} == {ANN}

    # Running again while the drop lasts alerts no one.
    again = run_alerts(history, config, client_ids=ids(history, "acme-corp"))
    assert again is not None
    assert (again.evaluation.opened, again.evaluation.still_open) == ((), 2)
    assert (len(webhooks.received), len(smtp.mails)) == (4, 1)

    # The numbers come back: the events are resolved, and nothing is sent.
    recovery = tmp_path / "recovery.jsonl"
    recovery.write_text(import_line(DAY + dt.timedelta(days=1), person=8_000))
    assert cli("import", str(recovery))[0] == 0
    assert all(event.resolved_at is not None for event in events(history))
    assert (len(webhooks.received), len(smtp.mails)) == (4, 1)


def test_an_event_that_resolved_can_alert_again(
    history: Engine, webhooks: WebhookServer, smtp: SmtpServer
) -> None:
    config = settings(webhooks, smtp, "/ok/limits")
    with Session(history) as session, session.begin():
        set_plan(session, "globex", Plan(records=9_000), actor=ACTOR)  # it holds 10,000
    run_alerts(history, config, client_ids=ids(history, "globex"), now=NOW)
    [limit] = events(history)
    assert (limit.kind, limit.severity, limit.resolved_at) == ("limit", "high", None)
    assert limit.summary == "Total records: 10,000 records, over the plan's limit of 9,000 records"
    assert len(webhooks.at("/ok/limits")) == 1
    assert [mail.recipients for mail in smtp.mails] == [[OPS]]  # globex has no manager

    with Session(history) as session, session.begin():
        clear_plan(session, "globex", actor=ACTOR)
    run_alerts(history, config, client_ids=ids(history, "globex"), now=NOW + dt.timedelta(hours=1))
    assert events(history)[0].resolved_at is not None

    with Session(history) as session, session.begin():
        set_plan(session, "globex", Plan(records=9_500), actor=ACTOR)
    run_alerts(history, config, client_ids=ids(history, "globex"), now=NOW + dt.timedelta(days=1))
    first, second = events(history)
    assert (first.key, second.resolved_at) == (second.key, None)  # a new occurrence
    assert len(webhooks.at("/ok/limits")) == 2
    assert len(smtp.mails) == 2  # the next day's digest


def test_a_recipient_gets_one_digest_a_day(
    history: Engine, webhooks: WebhookServer, smtp: SmtpServer
) -> None:
    config = settings(webhooks, smtp, "/ok/digest")
    with Session(history) as session, session.begin():
        set_plan(session, "acme-corp", Plan(records=9_000), actor=ACTOR)
    run_alerts(history, config, client_ids=ids(history, "acme-corp"), now=NOW)
    assert len(smtp.mails) == 1
    with Session(history) as session, session.begin():
        set_plan(
            session, "acme-corp", Plan(records=9_000, collections=(("person", 7_000),)), actor=ACTOR
        )
    run_alerts(
        history, config, client_ids=ids(history, "acme-corp"), now=NOW + dt.timedelta(hours=2)
    )
    assert len(webhooks.at("/ok/digest")) == 2  # webhooks do not wait
    assert len(smtp.mails) == 1  # the mail waits for tomorrow
    [waiting] = [d for d in deliveries(history) if d.status == DeliveryStatus.PENDING.value]
    assert (waiting.channel, waiting.target) == ("email", ANN)

    run_alerts(
        history, config, client_ids=ids(history, "acme-corp"), now=NOW + dt.timedelta(days=1)
    )
    [_, digest] = smtp.mails
    assert digest.recipients == [ANN]
    assert "`person`: 8,000 person records, over the plan's limit of 7,000" in digest.text
    assert "Total records" not in digest.text  # sent yesterday


def test_failing_receivers_are_logged_and_the_others_still_get_theirs(
    history: Engine, webhooks: WebhookServer, smtp: SmtpServer
) -> None:
    config = settings(webhooks, smtp, "/hang/a", "/fail/b", "/ok/c")
    store_drop(history)

    run = run_alerts(history, config, client_ids=ids(history, "acme-corp"), now=NOW)  # no raise

    assert run is not None
    assert (run.deliveries.sent, run.deliveries.failed) == (4, 4)  # 2 events: ok and mail
    assert len(webhooks.at("/ok/c")) == 2
    assert len(smtp.mails) == 1
    # Each failing receiver had its two attempts at the first event; the
    # second was not tried after that in the same run.
    assert len(webhooks.at("/fail/b")) == 2
    assert len(webhooks.at("/hang/a")) == 2
    failed = {
        (d.target, d.attempts, d.error)
        for d in deliveries(history)
        if d.status == DeliveryStatus.FAILED.value
    }
    hang, fail = webhook_label(webhooks.url("/hang/a")), webhook_label(webhooks.url("/fail/b"))
    timed_out = "no answer within 0.5 s (timed out)"
    answered = "answered 500 Internal Server Error"
    assert failed == {
        (hang, 2, timed_out),
        (hang, 0, f"not tried: it failed just before in this run ({timed_out})"),
        (fail, 2, answered),
        (fail, 0, f"not tried: it failed just before in this run ({answered})"),
    }

    # The next run tries the failed ones again, and only them.
    run_alerts(
        history, config, client_ids=ids(history, "acme-corp"), now=NOW + dt.timedelta(hours=1)
    )
    assert len(webhooks.at("/fail/b")) == 4
    assert len(webhooks.at("/ok/c")) == 2
    assert len(smtp.mails) == 1
    # Two more attempts at the first; the second waits behind it again.
    attempts = [d.attempts for d in deliveries(history) if d.target == fail]
    assert attempts == [4, 0]


def store_drop(engine: Engine) -> None:
    """acme-corp's person records fall by 70 % on DAY."""
    with Session(engine) as session, session.begin():
        insert_snapshots(session, [(find_client_id(session, "acme-corp"), data(DAY, 2_400))])


def test_an_alerts_failure_never_fails_the_import(
    cli: Cli,
    history: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = '[alerts]\nwebhooks = ["ftp://hooks.example.com/x"]\nsecret = "s"\n'
    monkeypatch.setenv("USAGE_CONFIG", str(write_config(tmp_path, bad)))
    drop = tmp_path / "drop.jsonl"
    drop.write_text(import_line(DAY, person=2_400))
    with caplog.at_level(logging.ERROR, logger="usage.alerts"):
        assert cli("import", str(drop)) == (0, f"imported 1 snapshots from {drop}\n", "")
    assert events(history) == []
    [record] = [r for r in caplog.records if r.name == "usage.alerts"]
    # One line naming the setting: a wrong setting is no crash to trace.
    assert record.getMessage() == (
        "alerts were not evaluated or sent: alerts.webhooks must be http:// or https:// URLs,"
        " and 'ftp://hooks.example.com/x' is not one"
        f" (got ['ftp://hooks.example.com/x'] from {tmp_path / 'usage.toml'} [alerts])"
    )
    assert record.exc_info is None


def test_the_demo_command_runs_the_alerts(
    cli: Cli, engine: Engine, webhooks: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USAGE_ALERTS_WEBHOOKS", webhooks.url("/ok/demo"))
    monkeypatch.setenv("USAGE_ALERTS_SECRET", SECRET)
    assert cli("demo")[0] == 0
    opened = events(engine)
    assert opened
    received = webhooks.at("/ok/demo")
    assert sorted(hook.json["alert"]["id"] for hook in received) == [e.id for e in opened]
    assert all(hook.signed for hook in received)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3({"globex": BUCKETS["globex"]}) as server:
        yield server


def test_a_collection_run_ends_with_the_alerts(
    engine: Engine,
    config: CollectConfig,
    webhooks: WebhookServer,
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # globex held 10,000 records; the records database counts 10 now.
    days = [DAY - dt.timedelta(days=n) for n in range(30, 0, -1)]
    store(engine, "globex", [data(day) for day in days], status="trial", name="Globex")
    # initech has two open events, and has recovered since, but this run
    # does not collect it: they are not this run's to resolve.
    store(engine, "initech", [data(day) for day in days[:-2]])
    store_days(engine, "initech", [days[-2]], person=2_400)
    run_alerts(engine, AlertConfig(), client_ids=ids(engine, "initech"), now=NOW - HOUR)
    store_days(engine, "initech", [days[-1]])
    with Session(engine) as session, session.begin():
        add_person(session, "bob@example.com", Role.MANAGER, ["globex"], actor=ACTOR)
    # A receiver that hangs beside the one that answers, and mail.
    hooks = f"{webhooks.url('/hang/collect')},{webhooks.url('/ok/collect')}"
    for name, value in {
        "WEBHOOKS": hooks, "SECRET": SECRET, "SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port),
        "SMTP_FROM": SENDER, "EMAIL_TO": OPS, "TIMEOUT_SECONDS": "0.5", "ATTEMPTS": "1",
    }.items():  # fmt: skip
        monkeypatch.setenv(f"USAGE_ALERTS_{name}", value)
    with Session(engine) as session, session.begin():
        targets = select_targets(session, ["globex"])
        start_runs(session, [targets[0].client_id], now=NOW, snapshot_date=DAY,
                   started_by=StartedBy.CLI)  # fmt: skip

    summary = collect(engine, config, targets, DAY, clock=lambda: NOW)

    assert summary.failed == 0  # the hanging receiver failed no one
    received = webhooks.at("/ok/collect")
    assert {(h.json["alert"]["kind"], h.json["alert"]["metric"]) for h in received} >= {
        ("drop", TOTAL_RECORDS),
        ("drop", "person"),
        ("disappeared", "member"),
    }
    assert all(hook.signed and hook.json["alert"]["bucket_id"] == "globex" for hook in received)
    [mail] = smtp.mails
    assert mail.recipients == ["bob@example.com"]
    assert "[high] Globex (globex): possible data loss" in mail.text
    assert "`person` fell from 8,000 to 7 records on 12 Nov 2026 (-100%)" in mail.text
    assert "`member` is empty on 12 Nov 2026: it held 2,000 records on 11 Nov 2026" in mail.text
    # The hanging receiver's delivery is logged as failed, to be tried again.
    hang = webhook_label(webhooks.url("/hang/collect"))
    assert {(d.status, d.error) for d in deliveries(engine) if d.target == hang} >= {
        (DeliveryStatus.FAILED.value, "no answer within 0.5 s (timed out)")
    }
    assert {kind for kind, _, _ in open_events(engine, "initech")} == {"drop"}
    assert len(open_events(engine, "initech")) == 2


def test_new_client_without_history_has_no_events(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        new_client(session, "fresh-co")
    run = run_alerts(engine, AlertConfig(), client_ids=ids(engine, "fresh-co"), now=NOW)
    assert run is not None
    assert run.evaluation.opened == ()


def test_a_run_does_not_resolve_what_another_opened_after_it_looked(history: Engine) -> None:
    config = AlertConfig()
    with Session(history) as session:
        stale = find_current(session, config, ids(history, "acme-corp"))  # before the drop
    store_drop(history)
    # Another run opens the drop.
    assert run_alerts(history, config, client_ids=ids(history, "acme-corp"), now=NOW) is not None
    assert len(events(history)) == 2
    with Session(history) as session, session.begin():
        late = record_events(session, config, stale, NOW)
    assert (late.opened, late.resolved) == ((), ())
    assert all(event.resolved_at is None for event in events(history))


# A run evaluates the clients whose snapshots changed, and only them; a
# stopped collection is looked for in every client.


def store_days(engine: Engine, bucket_id: str, days: list[dt.date], person: int = 8_000) -> None:
    with Session(engine) as session, session.begin():
        client_id = find_client_id(session, bucket_id)
        insert_snapshots(session, [(client_id, data(day, person)) for day in days])


def open_events(engine: Engine, bucket_id: str) -> list[tuple[str, str, dt.datetime]]:
    """The client's open events: (kind, metric, last seen)."""
    [client_id] = ids(engine, bucket_id)
    return [
        (event.kind, event.metric, as_utc(event.last_seen_at))
        for event in events(engine)
        if event.client_id == client_id and event.resolved_at is None
    ]


def test_a_run_over_one_client_leaves_the_others_events_as_they_are(history: Engine) -> None:
    config = AlertConfig()
    for bucket_id in ("acme-corp", "globex"):
        store_days(history, bucket_id, [DAY], person=2_400)
    run_alerts(history, config, client_ids=None, now=NOW)  # every client
    globex = open_events(history, "globex")
    assert {(kind, metric) for kind, metric, _ in globex} == {
        ("drop", TOTAL_RECORDS),
        ("drop", "person"),
    }
    # globex recovers, but the next run stored only acme-corp's snapshot.
    store_days(history, "globex", [DAY + dt.timedelta(days=1)])
    store_days(history, "acme-corp", [DAY + dt.timedelta(days=1)], person=2_500)

    run = run_alerts(history, config, client_ids=ids(history, "acme-corp"), now=NOW + HOUR)

    assert run is not None
    assert (run.evaluation.opened, run.evaluation.resolved, run.evaluation.still_open) == (
        (),
        (),
        2,
    )
    assert open_events(history, "globex") == globex  # neither resolved nor refreshed
    assert {seen for _, _, seen in open_events(history, "acme-corp")} == {NOW + HOUR}

    # The run that stores globex's snapshot resolves them.
    run = run_alerts(history, config, client_ids=ids(history, "globex"), now=NOW + 2 * HOUR)
    assert run is not None
    assert len(run.evaluation.resolved) == 2
    assert open_events(history, "globex") == []
    assert len(open_events(history, "acme-corp")) == 2


def test_a_stopped_collection_is_found_in_a_client_no_run_collected(history: Engine) -> None:
    config = AlertConfig()
    # acme-corp is collected four more days; globex is not.
    days = [DAY + dt.timedelta(days=n) for n in range(4)]
    store_days(history, "acme-corp", days)

    with counted_history_reads(history) as reads:
        run = run_alerts(history, config, client_ids=ids(history, "acme-corp"), now=NOW)

    assert reads == ["acme-corp"]  # globex's history was not read
    assert run is not None
    [stopped] = [event for event in events(history) if event.kind == "stopped"]
    assert stopped.client_id == ids(history, "globex")[0]
    assert stopped.summary == (
        "No snapshot for 4 days up to 15 Nov 2026: the last is from 11 Nov 2026"
        " (10,000 records, 4.4 GB)"
    )
    assert (stopped.severity, stopped.day) == ("medium", DAY)
    assert stopped.details == {"last_day": "2026-11-11", "silent_days": 4, "as_of": "2026-11-15"}

    # globex comes back: any run resolves it, whichever clients it stored.
    store_days(history, "globex", [days[-1]])
    run = run_alerts(history, config, client_ids=ids(history, "acme-corp"), now=NOW + HOUR)
    assert run is not None
    assert run.evaluation.resolved == (stopped.id,)


@contextmanager
def counted_history_reads(engine: Engine) -> Iterator[list[str]]:
    """The clients whose history is read while inside: every statement sent
    on a new connection of ``engine`` is seen at the driver (the history is
    read through the driver's cursor, not SQLAlchemy's execute), and each
    read of the ``snapshots`` table is one client's history."""
    statements: list[str] = []

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        if engine.dialect.name == "sqlite":
            dbapi_connection.set_trace_callback(statements.append)
            return
        base = dbapi_connection.cursor_factory

        class Counting(base):  # type: ignore[misc, valid-type]
            def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
                statements.append(str(query) if params is None else f"{query} {params}")
                return super().execute(query, params, **kwargs)

        dbapi_connection.cursor_factory = Counting

    engine.dispose()  # the connections made from here on are counted
    event.listen(engine, "connect", on_connect)
    reads: list[str] = []
    try:
        yield reads
    finally:
        event.remove(engine, "connect", on_connect)
        engine.dispose()
        with Session(engine) as session:
            names = list(session.scalars(select(Client.bucket_id)))
        for statement in statements:
            if _READS_SNAPSHOTS.search(statement):
                reads.extend(name for name in names if f"'{name}'" in statement)


_READS_SNAPSHOTS = re.compile(r"\bFROM snapshots\b", re.IGNORECASE)


def test_a_run_reads_the_history_of_the_clients_it_evaluates_only(history: Engine) -> None:
    days = [DAY - dt.timedelta(days=n) for n in range(40, 0, -1)]
    for n in range(6):
        store(history, f"client-{n}", [data(day) for day in days])
    with Session(history) as session, session.begin():
        set_plan(session, "client-0", Plan(records=20_000), actor=ACTOR)  # a forecast too

    for client_ids, expected in [
        (ids(history, "client-0"), ["client-0"]),
        ([], []),
        (None, ["acme-corp", "globex", *(f"client-{n}" for n in range(6))]),
    ]:
        with counted_history_reads(history) as reads:
            assert run_alerts(history, AlertConfig(), client_ids=client_ids, now=NOW) is not None
        assert sorted(reads) == sorted(expected)


def test_a_mail_server_that_is_down_costs_the_mail_one_run(
    history: Engine, webhooks: WebhookServer, smtp: SmtpServer
) -> None:
    with Session(history) as session, session.begin():
        add_person(session, "bob@example.com", Role.MANAGER, ["acme-corp"], actor=Actor("test"))
    config = settings(webhooks, smtp, "/ok/mailless")
    down = dataclasses.replace(config, smtp_port=free_port())  # nothing listens there
    store_drop(history)

    run = run_alerts(history, down, client_ids=ids(history, "acme-corp"), now=NOW)

    assert run is not None
    assert len(webhooks.at("/ok/mailless")) == 2
    mail = [d for d in deliveries(history) if d.channel == "email"]
    assert {(d.target, d.status) for d in mail} == {
        (ANN, "failed"),
        ("bob@example.com", "failed"),
    }
    # The first recipient's digest had its attempts; the server was down for
    # the second as well, so it was not tried again.
    tried = [d for d in mail if d.attempts]
    assert {d.attempts for d in tried} == {2}
    assert all(d.error and d.error.startswith("SMTP: ") for d in tried)
    assert all(
        d.error and d.error.startswith("not tried: it failed just before in this run (SMTP: ")
        for d in mail
        if not d.attempts
    )

    # The server is back.
    run_alerts(
        history, config, client_ids=ids(history, "acme-corp"), now=NOW + dt.timedelta(hours=1)
    )
    assert sorted(recipient for m in smtp.mails for recipient in m.recipients) == [
        ANN,
        "bob@example.com",
    ]
    assert len(webhooks.at("/ok/mailless")) == 2


def test_a_mail_still_waiting_when_its_event_resolves_is_skipped(
    history: Engine, webhooks: WebhookServer, smtp: SmtpServer
) -> None:
    config = settings(webhooks, smtp, "/ok/skip")
    with Session(history) as session, session.begin():
        set_plan(session, "acme-corp", Plan(records=9_000), actor=ACTOR)
    run_alerts(history, config, client_ids=ids(history, "acme-corp"), now=NOW)
    with Session(history) as session, session.begin():
        set_plan(
            session, "acme-corp", Plan(records=9_000, collections=(("person", 7_000),)), actor=ACTOR
        )
    # Its mail waits.
    run_alerts(
        history, config, client_ids=ids(history, "acme-corp"), now=NOW + dt.timedelta(hours=2)
    )
    with Session(history) as session, session.begin():
        set_plan(session, "acme-corp", Plan(records=9_000), actor=ACTOR)  # the person limit goes
    run_alerts(
        history, config, client_ids=ids(history, "acme-corp"), now=NOW + dt.timedelta(hours=3)
    )

    [skipped] = [d for d in deliveries(history) if d.status == DeliveryStatus.SKIPPED.value]
    assert (skipped.channel, skipped.target, skipped.attempts, skipped.error) == (
        "email",
        ANN,
        0,
        "the event resolved before it was tried",
    )
    run_alerts(
        history, config, client_ids=ids(history, "acme-corp"), now=NOW + dt.timedelta(days=1)
    )
    assert len(smtp.mails) == 1
