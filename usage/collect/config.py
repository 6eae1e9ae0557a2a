"""Collection and alert settings: one TOML file, each setting overridable from the environment.

The file is ``$USAGE_CONFIG``, else ``./usage.toml`` when it exists, else
there is none and every setting comes from the environment. Setting
``section.key`` is read from ``[section] key = ...`` in the file and from
``USAGE_SECTION_KEY`` in the environment, which wins. ``SETTINGS`` lists the
collection's, documented in docs/collection.md; ``ALERT_SETTINGS`` the
``[alerts]`` section's, documented in docs/insights.md; usage.example.toml
shows them all. ``load_config`` reads the first, ``load_alert_config`` the
second, so that a command that only alerts needs no records database.

A missing or wrong setting is a ``ConfigError`` whose one-line message names
the setting and where its value came from.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from usage.errors import ConfigError

CONFIG_PATH_ENV = "USAGE_CONFIG"
DEFAULT_CONFIG_FILE = "usage.toml"
MAX_WORKERS = 64
MAX_PAGE_SIZE = 1000  # S3 never returns more keys per page

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


class Layout(StrEnum):
    """Where a client's objects live."""

    BUCKET_PER_CLIENT = "bucket-per-client"  # s3://<bucket_template>/
    SHARED_BUCKET = "shared-bucket"  # s3://<bucket>/<prefix_template>


class AddressingStyle(StrEnum):
    AUTO = "auto"
    PATH = "path"
    VIRTUAL = "virtual"


class StorageSource(StrEnum):
    """Where a client's storage figures come from (``usage.collect.inventory``)."""

    LISTING = "listing"  # list every key (ListObjectsV2)
    INVENTORY = "inventory"  # the bucket's newest S3 Inventory report
    AUTO = "auto"  # the report when there is one, else the listing


class InventoryFallback(StrEnum):
    """What a bad or stale inventory report leads to."""

    LISTING = "listing"  # list the bucket instead
    FAIL = "fail"  # fail the client


@dataclass(frozen=True)
class Location:
    """Where one client's objects are: every key under ``prefix`` in ``bucket``."""

    bucket: str
    prefix: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class StorageConfig:
    layout: Layout = Layout.BUCKET_PER_CLIENT
    bucket_template: str = "{bucket_id}"
    bucket: str | None = None
    prefix_template: str = "{bucket_id}/"
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    addressing_style: AddressingStyle = AddressingStyle.AUTO
    page_size: int = MAX_PAGE_SIZE
    max_attempts: int = 5
    timeout_seconds: float = 60.0
    source: StorageSource = StorageSource.LISTING
    inventory_bucket: str | None = None
    # <destination prefix>/<source bucket>/<inventory configuration id>/
    inventory_prefix_template: str = "{bucket}/usage/"
    inventory_max_age_hours: int = 48
    inventory_fallback: InventoryFallback = InventoryFallback.LISTING

    def locate(self, bucket_id: str) -> Location:
        if self.layout is Layout.SHARED_BUCKET:
            assert self.bucket is not None  # checked when the config was read
            return Location(self.bucket, self.prefix_template.format(bucket_id=bucket_id))
        return Location(self.bucket_template.format(bucket_id=bucket_id), "")

    def locate_inventory(self, bucket_id: str) -> Location:
        """Where the inventory reports of the client's bucket are delivered:
        the folder that holds one ``YYYY-MM-DDTHH-MMZ/`` folder per report."""
        assert self.inventory_bucket is not None  # checked when the config was read
        prefix = self.inventory_prefix_template.format(
            bucket=self.locate(bucket_id).bucket, bucket_id=bucket_id
        )
        return Location(self.inventory_bucket, prefix)


@dataclass(frozen=True)
class RecordsConfig:
    url: str
    query: str | None = None
    table: str = "records"
    bucket_column: str = "bucket_id"
    collection_column: str = "collection"


@dataclass(frozen=True)
class CollectConfig:
    storage: StorageConfig
    records: RecordsConfig
    workers: int = 4
    # A run whose heartbeat is older than this died: another may take its clients.
    lease_seconds: float = 60.0
    # Where the settings came from, for messages: a file path or "environment".
    origin: str = "environment"


class SmtpSecurity(StrEnum):
    NONE = "none"  # plain SMTP (a relay on the local network)
    STARTTLS = "starttls"  # plain, then STARTTLS (port 587)
    TLS = "tls"  # TLS from the start (port 465)


@dataclass(frozen=True)
class AlertConfig:
    """Where alerts go, when they fire, how hard a delivery is tried
    (``usage.alerts``, ``usage.delivery``); the defaults send nothing."""

    # Secrets (a webhook's path often is one) stay out of the repr, so out of logs.
    webhooks: tuple[str, ...] = field(default=(), repr=False)  # receive the generic JSON
    slack_webhooks: tuple[str, ...] = field(default=(), repr=False)  # Slack incoming webhooks
    secret: str | None = field(default=None, repr=False)  # the webhooks' HMAC-SHA256 key
    smtp_host: str | None = None  # None: no e-mail
    smtp_port: int = 25
    smtp_security: SmtpSecurity = SmtpSecurity.NONE
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str | None = None
    email_to: str | None = None  # for clients without an account manager
    limit_days: int = 30
    drop_percent: float = 20.0
    stopped_days: int = 3
    growth_percent: float = 25.0
    timeout_seconds: float = 5.0
    attempts: int = 3
    backoff_seconds: float = 1.0
    origin: str = "environment"

    @property
    def sends_mail(self) -> bool:
        return self.smtp_host is not None


Parser = Callable[[Any, str], Any]  # (raw value, setting name) -> value


@dataclass(frozen=True)
class Setting:
    section: str
    key: str
    parse: Parser
    help: str
    required: bool = False

    @property
    def name(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def env(self) -> str:
        return f"USAGE_{self.section}_{self.key}".upper()


def _text(raw: Any, name: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("must be a non-empty string")
    return raw.strip()


def _integer(low: int, high: int) -> Parser:
    def parse(raw: Any, name: str) -> int:
        message = f"must be an integer from {low} to {high}"
        if isinstance(raw, bool):
            raise ValueError(message)
        if isinstance(raw, str):
            if not re.fullmatch(r"\s*[+-]?\d{1,9}\s*", raw):
                raise ValueError(message)
            raw = int(raw)
        if not isinstance(raw, int) or not low <= raw <= high:
            raise ValueError(message)
        return raw

    return parse


def _seconds(raw: Any, name: str) -> float:
    message = "must be a number of seconds from 1 to 3600"
    if isinstance(raw, bool):
        raise ValueError(message)
    if isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            raise ValueError(message) from None
    if not isinstance(raw, int | float) or not 1 <= raw <= 3600:
        raise ValueError(message)
    return float(raw)


def _choice(kind: type[StrEnum]) -> Parser:
    def parse(raw: Any, name: str) -> StrEnum:
        try:
            return kind(raw)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise ValueError(f"must be one of: {allowed}") from None

    return parse


def _template(*, trailing_slash: bool) -> Parser:
    def parse(raw: Any, name: str) -> str:
        value = _text(raw, name)
        try:
            fields = {field for _, field, _, _ in string.Formatter().parse(value) if field}
        except ValueError:
            raise ValueError("must be a template such as 'usage-{bucket_id}'") from None
        if fields != {"bucket_id"}:
            raise ValueError("must contain {bucket_id} and no other {field}")
        if trailing_slash and (not value.endswith("/") or value.startswith("/")):
            # Without the slash, the prefix of 'acme' would also take 'acme2/...'.
            raise ValueError(
                "must end with '/' and not start with '/', e.g. 'clients/{bucket_id}/'"
            )
        return value

    return parse


def _inventory_template(raw: Any, name: str) -> str:
    value = _text(raw, name)
    try:
        fields = {field for _, field, _, _ in string.Formatter().parse(value) if field}
    except ValueError:
        raise ValueError("must be a template such as '{bucket}/usage/'") from None
    if not fields <= {"bucket", "bucket_id"}:
        raise ValueError("may contain {bucket} and {bucket_id} and no other {field}")
    if not value.endswith("/") or value.startswith("/"):
        raise ValueError("must end with '/' and not start with '/', e.g. '{bucket}/usage/'")
    return value


def _bucket_name(raw: Any, name: str) -> str:
    value = _text(raw, name)
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
        raise ValueError("must be an S3 bucket name (3 to 63 of a-z, 0-9, '.', '-')")
    return value


def _database_url(raw: Any, name: str) -> str:
    value = _text(raw, name)
    try:
        make_url(value).get_dialect()
    except NoSuchModuleError as exc:  # an ArgumentError too: first
        raise ValueError(f"names an unknown database driver ({exc})") from None
    except ArgumentError:
        raise ValueError("must be a SQLAlchemy database URL") from None
    return value


def _records_query(raw: Any, name: str) -> str:
    value = _text(raw, name)
    if "bucket_id" not in text(value).compile().params:
        raise ValueError("must use the parameter :bucket_id")
    return value


def _table(raw: Any, name: str) -> str:
    value = _text(raw, name)
    if not _TABLE_NAME.fullmatch(value):
        raise ValueError("must be a table name, optionally schema-qualified (schema.table)")
    return value


def _column(raw: Any, name: str) -> str:
    value = _text(raw, name)
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError("must be a column name (letters, digits, '_')")
    return value


def _number(low: float, high: float, unit: str) -> Parser:
    def parse(raw: Any, name: str) -> float:
        message = f"must be a number of {unit} from {low:g} to {high:g}"
        if isinstance(raw, bool):
            raise ValueError(message)
        if isinstance(raw, str):
            try:
                raw = float(raw)
            except ValueError:
                raise ValueError(message) from None
        if not isinstance(raw, int | float) or not low <= raw <= high:
            raise ValueError(message)
        return float(raw)

    return parse


def _list(raw: Any) -> list[Any]:
    """A TOML list, or from the environment text separated by commas or spaces."""
    if isinstance(raw, str):
        return [item for item in re.split(r"[\s,]+", raw) if item]
    if not isinstance(raw, list):
        raise ValueError("must be a list of URLs")
    return raw


def _webhook_urls(raw: Any, name: str) -> tuple[str, ...]:
    urls: list[str] = []
    for item in _list(raw):
        parts = urllib.parse.urlsplit(item) if isinstance(item, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be http:// or https:// URLs, and {item!r} is not one")
        urls.append(item)
    return tuple(urls)


def _email(raw: Any, name: str) -> str:
    value = _text(raw, name)
    if not re.fullmatch(r"[^@\s]{1,200}@[^@\s]{1,200}", value):
        raise ValueError("must be an email address such as ops@example.com")
    return value


SETTINGS: tuple[Setting, ...] = (
    Setting("storage", "layout", _choice(Layout),
            "where a client's objects live: bucket-per-client or shared-bucket"),
    Setting("storage", "bucket_template", _template(trailing_slash=False),
            "bucket-per-client: the client's bucket, from {bucket_id}"),
    Setting("storage", "bucket", _bucket_name,
            "shared-bucket: the one bucket holding every client"),
    Setting("storage", "prefix_template", _template(trailing_slash=True),
            "shared-bucket: the client's prefix in it, from {bucket_id}, ending in '/'"),
    Setting("storage", "endpoint_url", _text,
            "an S3-compatible endpoint; default: boto3's (AWS_ENDPOINT_URL_S3, AWS)"),
    Setting("storage", "region", _text, "the region; default: boto3's (AWS_REGION, profile)"),
    Setting("storage", "profile", _text,
            "a profile of the AWS config files; default: boto3's (AWS_PROFILE)"),
    Setting("storage", "addressing_style", _choice(AddressingStyle),
            "auto, path (most S3-compatible servers) or virtual"),
    Setting("storage", "page_size", _integer(1, MAX_PAGE_SIZE), "keys per listing page"),
    Setting("storage", "max_attempts", _integer(1, 20),
            "attempts per S3 request, retries included"),
    Setting("storage", "timeout_seconds", _seconds, "connect and read timeout of S3 requests"),
    Setting("storage", "source", _choice(StorageSource),
            "listing, inventory (S3 Inventory reports) or auto (a report when there is one)"),
    Setting("storage", "inventory_bucket", _bucket_name,
            "inventory, auto: the bucket the inventory reports are delivered to"),
    Setting("storage", "inventory_prefix_template", _inventory_template,
            "inventory, auto: the reports' folder, from {bucket} and {bucket_id}, ending in '/'"),
    Setting("storage", "inventory_max_age_hours", _integer(1, 24 * 366),
            "inventory, auto: a report older than this is refused"),
    Setting("storage", "inventory_fallback", _choice(InventoryFallback),
            "inventory, auto: after a bad or stale report, listing or fail"),
    Setting("records", "url", _database_url,
            "SQLAlchemy URL of the platform's records database", required=True),
    Setting("records", "query", _records_query,
            "SQL giving (collection, count) rows for :bucket_id; replaces the table settings"),
    Setting("records", "table", _table, "the records table (default query)"),
    Setting("records", "bucket_column", _column, "its column holding the bucket_id"),
    Setting("records", "collection_column", _column, "its column holding the collection"),
    Setting("collect", "workers", _integer(1, MAX_WORKERS), "clients collected at once"),
    Setting("collect", "lease_seconds", _seconds,
            "a run not heard from for this long died: its clients may be taken"),
)  # fmt: skip

ALERT_SETTINGS: tuple[Setting, ...] = (
    Setting("alerts", "webhooks", _webhook_urls,
            "URLs that receive each alert as JSON (a POST, signed)"),
    Setting("alerts", "slack_webhooks", _webhook_urls,
            "Slack incoming-webhook URLs that receive each alert as a message"),
    Setting("alerts", "secret", _text,
            "the key of the webhooks' HMAC-SHA256 signature (required with a webhook)"),
    Setting("alerts", "smtp_host", _text, "the SMTP server of the e-mail digests; unset: no mail"),
    Setting("alerts", "smtp_port", _integer(1, 65535), "its port"),
    Setting("alerts", "smtp_security", _choice(SmtpSecurity), "none, starttls or tls"),
    Setting("alerts", "smtp_username", _text, "the SMTP login, if the server wants one"),
    Setting("alerts", "smtp_password", _text, "its password"),
    Setting("alerts", "smtp_from", _email, "the digests' sender (required with smtp_host)"),
    Setting("alerts", "email_to", _email,
            "who gets the alerts of a client without an account manager"),
    Setting("alerts", "limit_days", _integer(1, 180),
            "alert when the forecast reaches a plan's limit within this many days"),
    Setting("alerts", "drop_percent", _number(1, 100, "percent"),
            "alert when a value falls by more than this from one snapshot to the next"),
    Setting("alerts", "stopped_days", _integer(1, 365),
            "alert when an active client has had no snapshot for this many days"),
    Setting("alerts", "growth_percent", _number(1, 100_000, "percent"),
            "alert when total records or storage grew by more than this in 30 days"),
    Setting("alerts", "timeout_seconds", _number(0.1, 60, "seconds"),
            "connect and read timeout of one delivery attempt"),
    Setting("alerts", "attempts", _integer(1, 10), "attempts per delivery and run"),
    Setting("alerts", "backoff_seconds", _number(0, 60, "seconds"),
            "wait before the second attempt, doubled before each next one"),
)  # fmt: skip

_BY_SECTION: dict[str, dict[str, Setting]] = {}
for _setting in (*SETTINGS, *ALERT_SETTINGS):
    _BY_SECTION.setdefault(_setting.section, {})[_setting.key] = _setting


def find_config_file(
    environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Path | None:
    """``$USAGE_CONFIG`` (which must exist), else ``./usage.toml`` if present."""
    environ = os.environ if environ is None else environ
    explicit = environ.get(CONFIG_PATH_ENV, "").strip()
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"{CONFIG_PATH_ENV} names no readable file: {explicit}")
        return path
    default = (cwd or Path.cwd()) / DEFAULT_CONFIG_FILE
    return default if default.is_file() else None


def load_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> CollectConfig:
    """Read the collection settings (``path``, else the file found as the
    module says)."""
    values, origin = _read_settings(SETTINGS, path, environ, cwd)
    return _build(values, origin)


def load_alert_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> AlertConfig:
    """Read the ``[alerts]`` settings, as ``load_config`` the others."""
    values, origin = _read_settings(ALERT_SETTINGS, path, environ, cwd)
    return _build_alerts(values, origin)


def _read_settings(
    settings: Sequence[Setting],
    path: Path | None,
    environ: Mapping[str, str] | None,
    cwd: Path | None,
) -> tuple[dict[str, Any], str]:
    """The parsed value of each of ``settings`` that is set, by name, and
    where the file-set ones came from."""
    environ = os.environ if environ is None else environ
    if path is None:
        path = find_config_file(environ, cwd)
    raw = _read_file(path) if path is not None else {}
    origin = str(path) if path is not None else "environment"
    values: dict[str, Any] = {}
    for setting in settings:
        from_env = environ.get(setting.env, "").strip()
        if from_env:
            value, source = from_env, setting.env
        elif setting.key in raw.get(setting.section, {}):
            value, source = raw[setting.section][setting.key], f"{origin} [{setting.section}]"
        elif setting.required:
            raise ConfigError(
                f"{setting.name} is missing: set {setting.key} in [{setting.section}]"
                f" of {path or DEFAULT_CONFIG_FILE} or the environment variable {setting.env}"
            )
        else:
            continue
        try:
            values[setting.name] = setting.parse(value, setting.name)
        except ValueError as exc:
            raise ConfigError(f"{setting.name} {exc} (got {value!r} from {source})") from None
    return values, origin


def _read_file(path: Path) -> dict[str, dict[str, Any]]:
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8
        raise ConfigError(
            f"{path} is not valid TOML: not UTF-8 text (byte {exc.start + 1} cannot be read)"
        ) from None
    except RecursionError:
        raise ConfigError(f"{path} is not valid TOML: nested too deeply") from None
    for section, table in data.items():
        known = _BY_SECTION.get(section)
        if known is None:
            expected = ", ".join(f"[{name}]" for name in _BY_SECTION)
            raise ConfigError(f"{path}: unknown section {section!r}; expected: {expected}")
        if not isinstance(table, dict):
            raise ConfigError(
                f"{path}: {section} must be a section ([{section}] and its settings below it),"
                f" not a value"
            )
        for key in table:
            if key not in known:
                raise ConfigError(
                    f"{path}: unknown setting {section}.{key}; expected one of: {', '.join(known)}"
                )
    return data


def _build(values: dict[str, Any], origin: str) -> CollectConfig:
    def pick(section: str) -> dict[str, Any]:
        prefix = section + "."
        return {
            name[len(prefix) :]: value for name, value in values.items() if name.startswith(prefix)
        }

    storage = StorageConfig(**pick("storage"))
    if storage.layout is Layout.SHARED_BUCKET and storage.bucket is None:
        raise ConfigError(
            "storage.bucket is missing: the shared-bucket layout needs the bucket's name"
            " (set bucket in [storage] or USAGE_STORAGE_BUCKET)"
        )
    if storage.source is not StorageSource.LISTING and storage.inventory_bucket is None:
        raise ConfigError(
            f"storage.inventory_bucket is missing: storage.source = {storage.source.value}"
            " reads the inventory reports from it (set inventory_bucket in [storage]"
            " or USAGE_STORAGE_INVENTORY_BUCKET)"
        )
    return CollectConfig(
        storage=storage,
        records=RecordsConfig(**pick("records")),
        workers=values.get("collect.workers", CollectConfig.workers),
        lease_seconds=values.get("collect.lease_seconds", CollectConfig.lease_seconds),
        origin=origin,
    )


def _build_alerts(values: dict[str, Any], origin: str) -> AlertConfig:
    settings = {name.removeprefix("alerts."): value for name, value in values.items()}
    config = AlertConfig(**settings, origin=origin)
    if (config.webhooks or config.slack_webhooks) and config.secret is None:
        raise ConfigError(
            "alerts.secret is missing: webhooks are signed with it (set secret in [alerts]"
            " or USAGE_ALERTS_SECRET)"
        )
    if config.smtp_host is not None and config.smtp_from is None:
        raise ConfigError(
            "alerts.smtp_from is missing: the digests need a sender (set smtp_from in"
            " [alerts] or USAGE_ALERTS_SMTP_FROM)"
        )
    if (config.smtp_username is None) != (config.smtp_password is None):
        raise ConfigError("alerts.smtp_username and alerts.smtp_password go together: set both")
    return config
