"""Raw strings in, typed parameters out, or ``InvalidParams`` naming the field.

The API and the dashboard pages both validate through these functions, so a
value is accepted or refused the same way wherever it comes from.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from usage.anomalies import Severity
from usage.errors import InvalidParams
from usage.models import ClientStatus, Role
from usage.series import Granularity

BUCKET_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INTEGER_PATTERN = re.compile(r"[+-]?[0-9]{1,12}")

MAX_LIMIT = 1000
MAX_SEARCH = 100  # characters of a search in the dashboard's tables
HISTORY_DEFAULT_LIMIT = 30
CLIENTS_DEFAULT_LIMIT = 50
SNAPSHOTS_DEFAULT_LIMIT = 100
ALERTS_DEFAULT_LIMIT = 50
TOTALS_DEFAULT_DAYS = 90  # the Portfolio page's first window
TOTALS_MAX_DAYS = 3660  # ten years of days in one answer


class Format(enum.StrEnum):
    """What an answer is written in: JSON (the default) or CSV."""

    JSON = "json"
    CSV = "csv"


class HistoryParams(NamedTuple):
    """The history endpoint's parameters (a named tuple: made on every
    request, at half a frozen dataclass's cost)."""

    bucket_id: str
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    limit: int = HISTORY_DEFAULT_LIMIT
    granularity: Granularity = Granularity.DAY
    cursor: str | None = None
    format_: Format | None = None  # None: as the request's Accept header asks


def parse_bucket_id(raw: str | None, name: str = "bucket_id") -> str:
    if raw is None or not BUCKET_ID_PATTERN.fullmatch(raw):
        raise InvalidParams(f"{name} must be 1 to 64 characters of letters, digits, '-' or '_'")
    return raw


def parse_date(raw: str | None, name: str) -> dt.date | None:
    """A strict ``YYYY-MM-DD`` real calendar date; None when absent."""
    if raw is None:
        return None
    if not _DATE_PATTERN.fullmatch(raw):
        raise InvalidParams(f"{name} must be a date in YYYY-MM-DD format")
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidParams(f"{name} must be a real calendar date in YYYY-MM-DD format") from None


def parse_limit(raw: str | None, default: int, name: str = "limit") -> int:
    if raw is None:
        return default
    if _INTEGER_PATTERN.fullmatch(raw):
        value = int(raw)
        if 1 <= value <= MAX_LIMIT:
            return value
    raise InvalidParams(f"{name} must be an integer from 1 to {MAX_LIMIT}")


def parse_status(raw: str | None, name: str = "status") -> ClientStatus | None:
    if raw is None:
        return None
    try:
        return ClientStatus(raw)
    except ValueError:
        allowed = ", ".join(status.value for status in ClientStatus)
        raise InvalidParams(f"{name} must be one of: {allowed}") from None


def check_date_range(
    start: dt.date | None,
    end: dt.date | None,
    start_name: str = "start_date",
    end_name: str = "end_date",
) -> None:
    if start is not None and end is not None and start > end:
        raise InvalidParams(f"{start_name} must be on or before {end_name}")


def check_known_params(query: Mapping[str, str], allowed: set[str]) -> None:
    """Reject a parameter nobody reads: a typo should not pass silently."""
    if query.keys() <= allowed:  # every request but a mistaken one: no set made
        return
    unknown = min(set(query) - allowed)
    expected = ", ".join(sorted(allowed)) or "none"
    if not unknown:
        raise InvalidParams(f"a query parameter has no name ('=' first); expected: {expected}")
    raise InvalidParams(f"unknown query parameter {unknown!r}; expected: {expected}")


_GRANULARITIES = tuple(granularity.value for granularity in Granularity)
_FORMATS = tuple(format_.value for format_ in Format)


# C0 and C1 control characters and DEL break a CSV header or a terminal line;
# a lone surrogate (``"\ud800"`` in JSON) cannot be stored as UTF-8.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def first_repeated(names: Iterable[str]) -> str | None:
    """The first of ``names`` given a second time (None: each is given once):
    a query parameter or a JSON object's key, whose meant value is not guessed."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def name_is_text(name: str, *, leading_space: bool = False) -> bool:
    """A collection's or prefix's name as the store keeps it: no control
    character, no lone surrogate, no space at its end (nor at its start,
    unless ``leading_space``: an S3 key, so a prefix, may start with one).
    The same rule for what collection finds and what import reads, so that
    an export imports back."""
    if _UNPRINTABLE.search(name) or name != name.rstrip():
        return False
    return leading_space or name == name.lstrip()


def check_json_type(raw: str | None, name: str = "Content-Type") -> None:
    """A request body's type: JSON (``application/json``, or a ``+json``
    type), or not said; a form's or text's is refused, not read as JSON."""
    kind = (raw or "").partition(";")[0].strip().lower()
    if kind and kind != "application/json" and not kind.endswith("+json"):
        raise InvalidParams(f"{name} must be application/json for a request body, got {kind!r}")


def check_identity_encoding(raw: str | None, name: str = "Content-Encoding") -> None:
    """A request body sent as it is: a compressed one (gzip, br) is refused,
    not read as JSON."""
    coding = (raw or "").strip().lower()
    if coding and coding != "identity":
        raise InvalidParams(f"{name} must be identity (an uncompressed body), got {coding!r}")


def parse_granularity(raw: str | None, name: str = "granularity") -> Granularity:
    """``day`` (the default), ``week`` or ``month``."""
    if raw is None:  # the history's every request: no work
        return Granularity.DAY
    parse_choice(raw, _GRANULARITIES, name)
    return Granularity(raw)


def parse_format(raw: str | None, name: str = "format") -> Format | None:
    """``json`` or ``csv``; None when absent (the Accept header decides)."""
    if raw is None:
        return None
    parse_choice(raw, _FORMATS, name)
    return Format(raw)


_HISTORY_PARAMS = {"start_date", "end_date", "limit", "granularity", "cursor", "format"}


def parse_history_params(bucket_id: str, query: Mapping[str, str]) -> HistoryParams:
    check_known_params(query, _HISTORY_PARAMS)
    start = parse_date(query.get("start_date"), "start_date")
    end = parse_date(query.get("end_date"), "end_date")
    check_date_range(start, end)
    return HistoryParams(  # in the fields' order: by keyword costs a third more
        parse_bucket_id(bucket_id),
        start,
        end,
        parse_limit(query.get("limit"), HISTORY_DEFAULT_LIMIT),
        parse_granularity(query.get("granularity")),
        _parse_cursor(query.get("cursor")),
        parse_format(query.get("format")),
    )


@dataclass(frozen=True)
class ClientsParams:
    status: ClientStatus | None = None
    limit: int = CLIENTS_DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True)
class DayParams:
    snapshot_date: dt.date
    limit: int = SNAPSHOTS_DEFAULT_LIMIT
    cursor: str | None = None
    format_: Format | None = None  # None: as the request's Accept header asks


@dataclass(frozen=True)
class NewClient:
    bucket_id: str
    display_name: str
    status: ClientStatus
    client_since: dt.date
    trial_end_date: dt.date | None


def _parse_cursor(raw: str | None) -> str | None:
    if raw is not None and not 1 <= len(raw) <= 512:
        raise InvalidParams("cursor must be the cursor returned by the previous page")
    return raw


def parse_clients_params(query: Mapping[str, str]) -> ClientsParams:
    check_known_params(query, {"status", "limit", "cursor"})
    return ClientsParams(
        status=parse_status(query.get("status")),
        limit=parse_limit(query.get("limit"), CLIENTS_DEFAULT_LIMIT),
        cursor=_parse_cursor(query.get("cursor")),
    )


def parse_day_params(raw_date: str, query: Mapping[str, str]) -> DayParams:
    check_known_params(query, {"limit", "cursor", "format"})
    day = parse_date(raw_date, "date")
    assert day is not None
    return DayParams(
        snapshot_date=day,
        limit=parse_limit(query.get("limit"), SNAPSHOTS_DEFAULT_LIMIT),
        cursor=_parse_cursor(query.get("cursor")),
        format_=parse_format(query.get("format")),
    )


def parse_forecast_params(bucket_id: str, query: Mapping[str, str]) -> str:
    """The forecast endpoint's client; it takes no parameter (its horizon and
    window are the forecast's own, ``usage.forecast.ForecastSettings``)."""
    check_known_params(query, set())
    return parse_bucket_id(bucket_id)


class AlertStatus(enum.StrEnum):
    """Which alert events a list shows."""

    OPEN = "open"
    RESOLVED = "resolved"
    ALL = "all"


# usage.alerts.AlertKind's values (that module imports this one; a test
# keeps the two the same).
ALERT_KINDS = ("limit", "drop", "disappeared", "stopped", "growth")
SEVERITIES = tuple(severity.label for severity in Severity)


@dataclass(frozen=True)
class AlertsParams:
    status: AlertStatus = AlertStatus.OPEN
    kind: str | None = None
    severity: Severity | None = None  # the least severity listed
    bucket_id: str | None = None
    limit: int = ALERTS_DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True)
class TotalsParams:
    start_date: dt.date | None = None
    end_date: dt.date | None = None


def parse_totals_params(query: Mapping[str, str]) -> TotalsParams:
    check_known_params(query, {"start_date", "end_date"})
    start = parse_date(query.get("start_date"), "start_date")
    end = parse_date(query.get("end_date"), "end_date")
    check_date_range(start, end)
    return TotalsParams(start, end)


def check_span(start: dt.date, end: dt.date, most: int = TOTALS_MAX_DAYS) -> None:
    """At most ``most`` days from ``start`` to ``end``, both included."""
    days = (end - start).days + 1
    if days > most:
        raise InvalidParams(
            f"start_date to end_date is {days:,} days; at most {most:,} in one request"
        )


def parse_alert_status(raw: str | None, name: str = "status") -> AlertStatus:
    if raw is None:
        return AlertStatus.OPEN
    parse_choice(raw, [status.value for status in AlertStatus], name)
    return AlertStatus(raw)


def parse_severity(raw: str | None, name: str = "severity") -> Severity | None:
    if raw is None:
        return None
    parse_choice(raw, SEVERITIES, name)
    return Severity[raw.upper()]


def parse_alerts_params(query: Mapping[str, str]) -> AlertsParams:
    check_known_params(query, {"status", "kind", "severity", "bucket_id", "limit", "cursor"})
    bucket_id = query.get("bucket_id")
    return AlertsParams(
        status=parse_alert_status(query.get("status")),
        kind=parse_choice(query.get("kind"), ALERT_KINDS, "kind"),
        severity=parse_severity(query.get("severity")),
        bucket_id=None if bucket_id is None else parse_bucket_id(bucket_id),
        limit=parse_limit(query.get("limit"), ALERTS_DEFAULT_LIMIT),
        cursor=_parse_cursor(query.get("cursor")),
    )


def parse_new_client(
    *,
    bucket_id: str,
    display_name: str,
    status: str,
    client_since: str | None,
    trial_end_date: str | None,
    today: dt.date | None = None,
) -> NewClient:
    name = display_name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidParams("name must be 1 to 200 characters")
    parsed_status = parse_status(status)
    assert parsed_status is not None
    return NewClient(
        bucket_id=parse_bucket_id(bucket_id),
        display_name=name,
        status=parsed_status,
        client_since=parse_date(client_since, "since") or today or dt.date.today(),
        trial_end_date=parse_date(trial_end_date, "trial_end"),
    )


def parse_page(raw: str | None, name: str = "page") -> int:
    """A page number of a paged table, 1 to ``MAX_LIMIT``; 1 when absent."""
    return parse_limit(raw, 1, name)


def parse_search(raw: str | None, name: str = "q") -> str | None:
    """A search's text, at most ``MAX_SEARCH`` characters; None when absent."""
    if raw is not None and len(raw) > MAX_SEARCH:
        raise InvalidParams(f"{name} must be at most {MAX_SEARCH} characters")
    return raw


def parse_sort(raw: str | None, columns: Sequence[str], name: str = "sort") -> str | None:
    """A table's sort: one of ``columns``, ascending, or ``-`` and one of them,
    descending; None when absent."""
    if raw is None:
        return None
    if raw.removeprefix("-") not in columns:
        raise InvalidParams(
            f"{name} must be a column of the table ({', '.join(columns)}), with a leading '-' "
            "to sort it in descending order"
        )
    return raw


def parse_choice(raw: str | None, choices: Sequence[str], name: str) -> str | None:
    """One of ``choices`` exactly; None when absent."""
    if raw is None:
        return None
    if raw not in choices:
        raise InvalidParams(f"{name} must be one of: {', '.join(choices)}")
    return raw


# An identity as the dashboard stores it: an email address, lower-cased.
_EMAIL_PATTERN = re.compile(r"[^@\s]{1,200}@[^@\s]{1,200}")
MAX_EMAIL = 320


def parse_email(raw: str | None, name: str = "email") -> str:
    """An email address, compared case-insensitively: stored lower-cased."""
    value = (raw or "").strip().lower()
    if len(value) > MAX_EMAIL or not _EMAIL_PATTERN.fullmatch(value):
        raise InvalidParams(f"{name} must be an email address such as ann@example.com")
    return value


def parse_role(raw: str | None, name: str = "role") -> Role:
    try:
        return Role(raw or "")
    except ValueError:
        allowed = ", ".join(role.value for role in Role)
        raise InvalidParams(f"{name} must be one of: {allowed}") from None
