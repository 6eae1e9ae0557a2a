"""The OpenAPI 3.1 document of the Usage API v1, built as data."""

from __future__ import annotations

from typing import Any

from usage.models import ROOT_PREFIX, STANDARD_COLLECTIONS, ClientStatus
from usage.series import Granularity
from usage.table import COMPUTED_AT, OBJECTS, STORAGE_BYTES, TOTAL_RECORDS, prefix_columns
from usage.validation import (
    ALERT_KINDS,
    ALERTS_DEFAULT_LIMIT,
    CLIENTS_DEFAULT_LIMIT,
    HISTORY_DEFAULT_LIMIT,
    MAX_LIMIT,
    SEVERITIES,
    SNAPSHOTS_DEFAULT_LIMIT,
    TOTALS_DEFAULT_DAYS,
    TOTALS_MAX_DAYS,
    AlertStatus,
    Format,
)

_INT = {"type": "integer", "minimum": 0}
_DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_SHARE = {"type": ["number", "null"], "minimum": 0}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _limit(default: int) -> dict[str, Any]:
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": f"How many items to return, 1 to {MAX_LIMIT} (default {default}).",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": default},
    }


_CURSOR = {
    "name": "cursor",
    "in": "query",
    "required": False,
    "description": "The `cursor` of the previous page, unchanged; omit it for the first page.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 512},
}


def _scoped_cursor(listing: str) -> dict[str, Any]:
    """``_CURSOR``, saying which listing a cursor is valid for."""
    description = f"{_CURSOR['description']} It is valid for {listing} only (a 400 otherwise)."
    return {**_CURSOR, "description": description}


_HISTORY_CURSOR = {
    **_CURSOR,
    "description": "The `next_cursor` of the previous page (also in its `Link` header),"
    " unchanged; omit it for the first page. A cursor holds the first day of the page's"
    " last item, and the next page is what lies before that day: a snapshot written"
    " between two pages is neither skipped nor repeated. It is valid for the same"
    " client and granularity only.",
}
_GRANULARITY = {
    "name": "granularity",
    "in": "query",
    "required": False,
    "description": "`day` (default): every snapshot. `week` (Monday to Sunday) or `month`:"
    " one item per period that has a snapshot, its last one in the range (the value on its"
    " last day with a snapshot), as the dashboard's week and month views; each item then"
    " has `period`. Without `start_date` the range starts on the client's first snapshot;"
    " without `end_date` it ends today (UTC). A period the range cuts (the first and the"
    " last, typically the current week or month) has `period.partial` true. `limit` counts"
    " periods; `next_cursor` continues with the periods before.",
    "schema": {"type": "string", "enum": [g.value for g in Granularity],
               "default": Granularity.DAY.value},
}  # fmt: skip
_PREFIX_OBJECTS, _PREFIX_BYTES = prefix_columns("<prefix>")
_FORMAT = {
    "name": "format",
    "in": "query",
    "required": False,
    "description": "`json` (default) or `csv`; without it, `Accept: text/csv` asks for CSV."
    " CSV: a header line, then one row per snapshot (per period at week or month"
    f" granularity): `{TOTAL_RECORDS}`, one column per collection (the six standard ones,"
    f" then the others by name), `{OBJECTS}`, `{STORAGE_BYTES}`, two columns per storage"
    f" prefix (`{_PREFIX_OBJECTS}`, `{_PREFIX_BYTES}`, prefixes by name), `{COMPUTED_AT}`"
    " (RFC 3339, UTC); the collections and prefixes are those of the page's rows (0 where"
    " a row has none); raw numbers. Before them, history by day has `date`; by week or"
    " month `period`, `from`, `to`, `partial`, `snapshot date`; snapshots on a date have"
    " `bucket`. The dashboard's CSV downloads have the same columns. The next page's"
    " cursor is in the `Link` header.",
    "schema": {"type": "string", "enum": [f.value for f in Format]},
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "The `ETag` of an earlier answer: 304 without a body while the answer is"
    " still the same bytes. Never a 304 for a client the caller may not see (a 404 as"
    " without the header).",
    "schema": {"type": "string"},
}
_BUCKET_ID = {
    "name": "bucket_id",
    "in": "path",
    "required": True,
    "description": "Client bucket identifier (letters, digits, hyphens, underscores).",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "example": "acme-corp"},
}

_COMMON_ERRORS = {
    "400": _error_response(
        "Invalid parameters (or one given twice); the message names the parameter."
    ),
    "401": _error_response(
        "Missing or invalid credentials: no valid API key, and no valid signed-in session"
        " (tampered, expired, of another deployment, or of a person no longer let in)."
    ),
    "404": _error_response("Unknown client or path (or a client the caller may not see)."),
    "405": _error_response("Method not allowed."),
    "503": {
        **_error_response(
            "The database is unreachable, or (PostgreSQL) busy: a read that took longer than"
            " 5 s, say behind a lock, was cancelled. Retry after `Retry-After` seconds."
        ),
        "headers": {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
    },
}

_FROM_LATEST = "From the latest snapshot (0 before any)."
_CLIENT_PROPERTIES: dict[str, Any] = {
    "bucket_id": {"type": "string"},
    "display_name": {"type": "string"},
    "status": {"type": "string", "enum": [status.value for status in ClientStatus]},
    "total_records": {**_INT, "description": _FROM_LATEST},
    "total_storage_bytes": {**_INT, "description": _FROM_LATEST},
    "trial_end_date": {"oneOf": [_DATE, {"type": "null"}]},
    "client_since": _DATE,
}
_CLIENT_FIELDS = tuple(_CLIENT_PROPERTIES)
_SCHEMAS: dict[str, Any] = {
    "Index": {
        "type": "object",
        "required": ["name", "version", "openapi", "endpoints"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "openapi": {"type": "string", "description": "This document's path."},
            "endpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["method", "path", "summary", "needs_key"],
                    "properties": {
                        "method": {"type": "string"},
                        "path": {"type": "string"},
                        "summary": {"type": "string"},
                        "needs_key": {"type": "boolean"},
                    },
                },
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["error", "request_id"],
        "properties": {
            "error": {"type": "string", "description": "What was wrong."},
            "request_id": {"type": "string", "description": "The X-Request-ID of the response."},
            "retry_after": {"type": "integer", "description": "Seconds to wait (429 only;"
                            " a 503 says it in its `Retry-After` header)."},
        },
    },
    "Records": {
        "type": "object",
        "description": "Record counts by collection: the six standard collections always, any"
        " other collection the client has as an extra property, and `total`, their sum.",
        "required": [*STANDARD_COLLECTIONS, "total"],
        "properties": dict.fromkeys((*STANDARD_COLLECTIONS, "total"), _INT),
        "additionalProperties": _INT,
    },
    "PrefixUsage": {
        "type": "object",
        "required": ["count", "bytes"],
        "properties": {"count": _INT, "bytes": _INT},
        "additionalProperties": False,
    },
    "Storage": {
        "type": "object",
        "description": "Object storage by top-level prefix. Every object is counted in exactly"
        f" one prefix; objects outside any prefix are under `{ROOT_PREFIX}`. The counts add"
        " up to `object_count` and the bytes to `total_bytes`.",
        "required": ["object_count", "total_bytes", "by_prefix"],
        "properties": {
            "object_count": _INT,
            "total_bytes": _INT,
            "by_prefix": {"type": "object", "additionalProperties": _ref("PrefixUsage")},
        },
        "additionalProperties": False,
    },
    "Snapshot": {
        "type": "object",
        "required": ["bucket_id", "snapshot_date", "records", "storage", "computed_at"],
        "properties": {
            "bucket_id": {"type": "string"},
            "snapshot_date": _DATE,
            "records": _ref("Records"),
            "storage": _ref("Storage"),
            "computed_at": {"type": "string", "format": "date-time",
                            "description": "RFC 3339, UTC."},
        },
        "additionalProperties": False,
    },
    "Client": {
        "type": "object",
        "required": list(_CLIENT_FIELDS),
        "properties": _CLIENT_PROPERTIES,
        "additionalProperties": False,
    },
    "ClientDetail": {
        "type": "object",
        "description": "A Client with its latest snapshot (null before the first).",
        "required": [*_CLIENT_FIELDS, "latest_snapshot", "plan"],
        "properties": {
            **_CLIENT_PROPERTIES,
            "latest_snapshot": {"oneOf": [_ref("Snapshot"), {"type": "null"}]},
            "plan": {"oneOf": [_ref("Plan"), {"type": "null"}],
                     "description": "The client's plan; null when it has none."},
        },
        "additionalProperties": False,
    },
    "Plan": {
        "type": "object",
        "description": "What the client may hold; a limit that is null (or a collection left"
        " out) is not limited. `used`: the latest snapshot's value as a fraction of each"
        " limit (0.85 is 85 %; over 1 when over the limit; 4 decimals), null for a metric"
        " without a limit and for all before the first snapshot.",
        "required": ["records", "storage_bytes", "collections", "used"],
        "properties": {
            "records": {"type": ["integer", "null"], "minimum": 1,
                        "description": "Total records limit."},
            "storage_bytes": {"type": ["integer", "null"], "minimum": 1,
                              "description": "Storage limit in bytes."},
            "collections": {"type": "object", "description": "Records limit by collection.",
                            "additionalProperties": {"type": "integer", "minimum": 1}},
            "used": {
                "type": "object",
                "required": ["records", "storage_bytes", "collections"],
                "properties": {
                    "records": _SHARE,
                    "storage_bytes": _SHARE,
                    "collections": {"type": "object", "additionalProperties": _SHARE},
                },
                "additionalProperties": False,
            },
        },
        "additionalProperties": False,
    },
    "ForecastDay": {
        "type": "object",
        "required": ["date", "expected", "lower", "upper"],
        "properties": {
            "date": _DATE,
            "expected": {"type": "number", "minimum": 0},
            "lower": {"type": "number", "minimum": 0, "description": "The band's lower edge."},
            "upper": {"type": "number", "minimum": 0, "description": "The band's upper edge."},
        },
        "additionalProperties": False,
    },
    "MetricForecast": {
        "type": "object",
        "description": "One metric's projection and, when it has a limit, when it reaches it.",
        "required": ["metric", "scope", "unit", "last_value", "limit", "forecast", "reach",
                     "summary", "note"],
        "properties": {
            "metric": {"type": "string", "description": "`total records`, `storage bytes` or"
                       " a collection's name."},
            "scope": {"type": "string", "enum": ["total", "collection"]},
            "unit": {"type": "string", "enum": ["records", "bytes"]},
            "last_value": {"type": ["number", "null"], "minimum": 0,
                           "description": "The value on `last_day`; null without a forecast."},
            "limit": {"type": ["integer", "null"], "minimum": 1,
                      "description": "The plan's limit; null when not limited."},
            "forecast": {
                "oneOf": [{"type": "null"}, {
                    "type": "object",
                    "required": ["fit_start", "steps", "scale", "slope_per_day", "daily"],
                    "properties": {
                        "fit_start": {**_DATE, "description": "The first day fitted (after"
                                      " the last step, or the window's first)."},
                        "steps": {"type": "array", "items": _DATE,
                                  "description": "Days with a step (an import, a purge)."},
                        "scale": {"type": "string", "enum": ["linear", "log"]},
                        "slope_per_day": {"type": "number",
                                          "description": "Growth per day at `last_day`."},
                        "daily": {"type": "array", "items": _ref("ForecastDay"),
                                  "description": "One item per day from the day after"
                                  " `last_day`, `horizon_days` of them."},
                    },
                    "additionalProperties": False,
                }],
                "description": "Null when the history is too short to project (`note` says"
                " why).",
            },
            "reach": {
                "oneOf": [{"type": "null"}, {
                    "type": "object",
                    "required": ["reached", "likely", "earliest", "latest"],
                    "properties": {
                        "reached": {"type": "boolean",
                                    "description": "Already at or over it on `last_day`."},
                        "likely": {"oneOf": [_DATE, {"type": "null"}], "description":
                                   "The first day the expected value reaches it; null: not"
                                   " within `horizon_days`."},
                        "earliest": {"oneOf": [_DATE, {"type": "null"}],
                                     "description": "The first day the upper edge does."},
                        "latest": {"oneOf": [_DATE, {"type": "null"}],
                                   "description": "The first day the lower edge does."},
                    },
                    "additionalProperties": False,
                }],
                "description": "Null without a limit or a forecast.",
            },
            "summary": {"type": ["string", "null"], "description": "The reach as a sentence"
                        " (`reaches 250,000 records around 14 Mar 2027, between 2 Feb and 30"
                        " Apr`, `not within 180 days`); null without a limit or a forecast."},
            "note": {"type": ["string", "null"],
                     "description": "Why there is no forecast; null when there is one."},
        },
        "additionalProperties": False,
    },
    "ClientForecast": {
        "type": "object",
        "required": ["bucket_id", "last_day", "horizon_days", "window_days", "observations",
                     "metrics"],
        "properties": {
            "bucket_id": {"type": "string"},
            "last_day": {"oneOf": [_DATE, {"type": "null"}], "description": "The client's"
                         " newest snapshot (the forecasts start the day after); null before"
                         " the first."},
            "horizon_days": {"type": "integer", "minimum": 1},
            "window_days": {"type": "integer", "minimum": 1,
                            "description": "The newest days of history fitted."},
            "observations": {**_INT, "description": "Snapshots in that window."},
            "metrics": {"type": "array", "items": _ref("MetricForecast"),
                        "description": "Total records, storage bytes, then each collection"
                        " the plan limits, by name."},
        },
        "additionalProperties": False,
    },
    "Period": {
        "type": "object",
        "description": "The period an item of a week or month history shows: its days in"
        " the range, and whether the range holds only part of it.",
        "required": ["start", "end", "partial"],
        "properties": {"start": _DATE, "end": _DATE, "partial": {"type": "boolean"}},
        "additionalProperties": False,
    },
    "HistoryItem": {
        "type": "object",
        "description": "A snapshot; at week or month granularity, its period's last one,"
        " with `period`.",
        "required": ["bucket_id", "snapshot_date", "records", "storage", "computed_at"],
        "properties": {
            "bucket_id": {"type": "string"},
            "snapshot_date": _DATE,
            "records": _ref("Records"),
            "storage": _ref("Storage"),
            "computed_at": {"type": "string", "format": "date-time",
                            "description": "RFC 3339, UTC."},
            "period": _ref("Period"),
        },
        "additionalProperties": False,
    },
    "History": {
        "type": "object",
        "required": ["snapshots", "count", "next_cursor"],
        "properties": {
            "snapshots": {"type": "array", "items": _ref("HistoryItem")},
            "count": {**_INT, "description": "Number of snapshots returned."},
            "next_cursor": {"type": ["string", "null"],
                            "description": "The next page's `cursor`; null on the last."},
        },
        "additionalProperties": False,
    },
    "ClientPage": {
        "type": "object",
        "required": ["clients", "count", "cursor"],
        "properties": {
            "clients": {"type": "array", "items": _ref("Client")},
            "count": _INT,
            "cursor": {"type": ["string", "null"], "description": "Next page; null on the last."},
        },
        "additionalProperties": False,
    },
    "SnapshotPage": {
        "type": "object",
        "required": ["snapshots", "count", "cursor"],
        "properties": {
            "snapshots": {"type": "array", "items": _ref("Snapshot")},
            "count": _INT,
            "cursor": {"type": ["string", "null"], "description": "Next page; null on the last."},
        },
        "additionalProperties": False,
    },
    "AlertEvent": {
        "type": "object",
        "description": "One event an alert rule found: open while it lasts (one event, not"
        " one a day), resolved when it is no longer true; a resolved event that comes back is"
        " a new one.",
        "required": ["id", "bucket_id", "kind", "scope", "metric", "day", "severity",
                     "summary", "details", "opened_at", "last_seen_at", "resolved_at"],
        "properties": {
            "id": _INT,
            "bucket_id": {"type": "string"},
            "kind": {"type": "string", "enum": list(ALERT_KINDS),
                     "description": "`limit`: a plan's limit reached, or soon by the forecast;"
                     " `drop`: a sharp fall (possible data loss); `disappeared`: a collection"
                     " or prefix gone; `stopped`: no snapshot for days while active;"
                     " `growth`: fast growth over 30 days."},
            "scope": {"type": "string", "enum": ["total", "collection", "prefix"]},
            "metric": {"type": "string", "description": "`total records`, `storage bytes`,"
                       " a collection's name or a storage prefix."},
            "day": {"oneOf": [_DATE, {"type": "null"}],
                    "description": "The day it happened; null for a limit or growth."},
            "severity": {"type": "string", "enum": list(SEVERITIES)},
            "summary": {"type": "string", "description": "What happened, with its numbers."},
            "details": {"type": "object", "description": "The rule's numbers (by kind)."},
            "opened_at": {"type": "string", "format": "date-time",
                          "description": "RFC 3339, UTC."},
            "last_seen_at": {"type": "string", "format": "date-time",
                             "description": "The last evaluation that found it (UTC)."},
            "resolved_at": {"type": ["string", "null"], "format": "date-time",
                            "description": "When it ended (UTC); null while open."},
        },
        "additionalProperties": False,
    },
    "AlertPage": {
        "type": "object",
        "required": ["alerts", "count", "next_cursor"],
        "properties": {
            "alerts": {"type": "array", "items": _ref("AlertEvent")},
            "count": _INT,
            "next_cursor": {"type": ["string", "null"],
                            "description": "The next page's `cursor`; null on the last."},
        },
        "additionalProperties": False,
    },
    "PortfolioDay": {
        "type": "object",
        "required": ["date", "total_records", "total_bytes", "clients", "stale_clients"],
        "properties": {
            "date": _DATE,
            "total_records": {**_INT, "description": "The sum over the clients counted of"
                              " their latest snapshot's records on or before the day."},
            "total_bytes": {**_INT, "description": "The same sum of their storage, bytes."},
            "clients": {**_INT, "description": "Clients counted: with a snapshot on or"
                        " before the day."},
            "stale_clients": {**_INT, "description": "Of those, the clients without a"
                              " snapshot on the day itself, counted with their last one."},
        },
        "additionalProperties": False,
    },
    "PortfolioTotals": {
        "type": "object",
        "required": ["start_date", "end_date", "newest_snapshot_date", "days", "count"],
        "properties": {
            "start_date": {"oneOf": [_DATE, {"type": "null"}],
                           "description": "The range's first day, as asked or by default;"
                           " null when the caller sees no snapshot."},
            "end_date": {"oneOf": [_DATE, {"type": "null"}],
                         "description": "The range's last day, as asked or by default."},
            "newest_snapshot_date": {"oneOf": [_DATE, {"type": "null"}],
                                     "description": "The newest day with a snapshot among"
                                     " the caller's clients: no day after it is listed."},
            "days": {"type": "array", "items": _ref("PortfolioDay"),
                     "description": "Oldest first."},
            "count": _INT,
        },
        "additionalProperties": False,
    },
    "TriggerRequest": {
        "type": "object",
        "properties": {
            "bucket_ids": {
                "type": ["array", "null"],
                "minItems": 1,
                "maxItems": 1000,
                "items": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "description": "Clients to collect; left out or null: every active and trial"
                " client.",
            },
            "force": {"type": ["boolean", "null"], "default": False,
                      "description": "Run even within 5 minutes of the last run"
                                     " (null: false)."},
        },
        "additionalProperties": False,
    },
    "TriggerResult": {
        "type": "object",
        "required": ["buckets_processed", "buckets_failed", "duration_seconds", "failures"],
        "properties": {
            "buckets_processed": _INT,
            "buckets_failed": _INT,
            "duration_seconds": {"type": "number", "minimum": 0},
            "failures": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["bucket_id", "error"],
                    "properties": {"bucket_id": {"type": "string"}, "error": {"type": "string"}},
                    "additionalProperties": False,
                },
            },
        },
        "additionalProperties": False,
    },
}  # fmt: skip


def _header(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _ok(schema: str, description: str, csv: bool = False, paged: bool = False) -> dict[str, Any]:
    """A data GET's answers: 200 (JSON, or CSV too) with its validators, the
    304 of a conditional request, the errors."""
    content: dict[str, Any] = {"application/json": {"schema": _ref(schema)}}
    if csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    validators = {"X-Request-ID": _header("RequestId"), "ETag": _header("ETag"),
                  "Cache-Control": _header("CacheControl")}  # fmt: skip
    link = {"Link": _header("Link")} if paged else {}
    return {
        "200": {"description": description, "headers": {**validators, **link},
                "content": content},
        "304": {"description": "Not modified: `If-None-Match` named the current `ETag`."
                               " No body.", "headers": validators},
        **_COMMON_ERRORS,
    }  # fmt: skip


def build_openapi() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Usage API",
            "version": "1.0.0",
            "description": "Per-client usage history of a multi-tenant CRM platform: record"
            " counts by collection and object storage by prefix, one snapshot per client per"
            " day. Every response is JSON and carries `X-Request-ID` (yours echoed when it is"
            " 1-128 characters of `A-Za-z0-9._-`, otherwise generated). Unknown query"
            " parameters are refused with a 400. A call is authenticated by an API key"
            " (`X-API-Key`, for scripts) or by the session cookie of a browser signed in to"
            " the dashboard on the same origin; a key wins over a cookie. Either way the"
            " caller sees only the clients it may see. Every answer to a GET carries a strong"
            " `ETag` and `Cache-Control: private, max-age=0, must-revalidate`: keep it, and"
            " send the tag back in `If-None-Match` to get a 304 without a body while it is"
            " the same. Paged lists give the next page's cursor in the body and in a"
            " `Link: <URL>; rel=\"next\"` header (RFC 8288). A 429 or 503 says in"
            " `Retry-After` how many seconds to wait before trying again.",
        },
        "servers": [{"url": "/"}],
        "security": [{"ApiKey": []}, {"SessionCookie": []}],
        "paths": {
            "/api/v1/clients/{bucket_id}/history": {
                "get": {
                    "operationId": "getClientHistory",
                    "summary": "Get client usage history",
                    "description": "Snapshots of one client, newest first. When more match,"
                    " the newest `limit` are returned, with `next_cursor` (and a `Link`"
                    " header) for the rest. A known client with nothing in the range answers"
                    " 200 with `count` 0.",
                    "parameters": [
                        _BUCKET_ID,
                        {"name": "start_date", "in": "query", "required": False,
                         "description": "Inclusive start (YYYY-MM-DD, a real date).",
                         "schema": _DATE},
                        {"name": "end_date", "in": "query", "required": False,
                         "description": "Inclusive end (YYYY-MM-DD); not before start_date.",
                         "schema": _DATE},
                        _limit(HISTORY_DEFAULT_LIMIT),
                        _HISTORY_CURSOR,
                        _GRANULARITY,
                        _FORMAT,
                        _IF_NONE_MATCH,
                    ],
                    "responses": _ok("History", "Historical snapshots, newest first.",
                                     csv=True, paged=True),
                }
            },
            "/api/v1/clients": {
                "get": {
                    "operationId": "listClients",
                    "summary": "List clients",
                    "description": "Clients in bucket_id order, a page at a time. Pages never"
                    " skip or repeat a client. A key limited to some buckets, or a signed-in"
                    " manager, sees only those clients.",
                    "parameters": [
                        {"name": "status", "in": "query", "required": False,
                         "schema": {"type": "string",
                                    "enum": [status.value for status in ClientStatus]}},
                        _limit(CLIENTS_DEFAULT_LIMIT),
                        _scoped_cursor("the same `status`"),
                        _IF_NONE_MATCH,
                    ],
                    "responses": _ok("ClientPage", "A page of clients.", paged=True),
                }
            },
            "/api/v1/clients/{bucket_id}": {
                "get": {
                    "operationId": "getClient",
                    "summary": "Get one client with its latest snapshot",
                    "parameters": [_BUCKET_ID, _IF_NONE_MATCH],
                    "responses": _ok("ClientDetail", "The client."),
                }
            },
            "/api/v1/clients/{bucket_id}/forecast": {
                "get": {
                    "operationId": "getClientForecast",
                    "summary": "Forecast a client's usage and when it reaches its plan",
                    "description": "A daily projection over the next `horizon_days` (180)"
                    " with a band (about 90 %), for total records and storage bytes always"
                    " and for each collection the client's plan limits, from the newest"
                    " `window_days` (120) of its snapshots; with a limit, the days it is"
                    " reached (`reach`) and the sentence the Client page shows (`summary`)."
                    " The method (a robust Theil-Sen trend after the last step, with the"
                    " weekly rhythm) is docs/insights.md's; the dashboard draws the same"
                    " numbers. Values are rounded to 2 decimals. A client with too little"
                    " history answers 200 with `forecast` null and a `note`. No parameters.",
                    "parameters": [_BUCKET_ID, _IF_NONE_MATCH],
                    "responses": _ok("ClientForecast", "The client's forecasts."),
                }
            },
            "/api/v1/snapshots/{date}": {
                "get": {
                    "operationId": "listSnapshotsOnDate",
                    "summary": "Every client's snapshot on one date",
                    "parameters": [
                        {"name": "date", "in": "path", "required": True,
                         "description": "The date (YYYY-MM-DD, a real date).",
                         "schema": _DATE},
                        _limit(SNAPSHOTS_DEFAULT_LIMIT),
                        _scoped_cursor("the same date"),
                        _FORMAT,
                        _IF_NONE_MATCH,
                    ],
                    "responses": _ok("SnapshotPage", "A page of snapshots, by bucket_id.",
                                     csv=True, paged=True),
                }
            },
            "/api/v1/alerts": {
                "get": {
                    "operationId": "listAlerts",
                    "summary": "Alert events: open, resolved or both",
                    "description": "The events the alert rules found (evaluated after every"
                    " collection, import and demo load), newest first (by when they opened),"
                    " a page at a time. Only the clients the caller may see; a `bucket_id`"
                    " it may not see (or unknown) gives an empty list.",
                    "parameters": [
                        {"name": "status", "in": "query", "required": False,
                         "description": "`open` (default): still true; `resolved`: ended;"
                         " `all`.",
                         "schema": {"type": "string", "enum": [s.value for s in AlertStatus],
                                    "default": AlertStatus.OPEN.value}},
                        {"name": "kind", "in": "query", "required": False,
                         "schema": {"type": "string", "enum": list(ALERT_KINDS)}},
                        {"name": "severity", "in": "query", "required": False,
                         "description": "The least severity listed: `medium` lists medium"
                         " and high.",
                         "schema": {"type": "string", "enum": list(SEVERITIES)}},
                        {"name": "bucket_id", "in": "query", "required": False,
                         "description": "One client's events.",
                         "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}},
                        _limit(ALERTS_DEFAULT_LIMIT),
                        {**_CURSOR, "description": "The `next_cursor` of the previous page"
                         " (also in its `Link` header), unchanged, with the same filters (a"
                         " cursor of other filters is a 400); omit it for the first page."},
                        _IF_NONE_MATCH,
                    ],
                    "responses": _ok("AlertPage", "A page of events, newest first.",
                                     paged=True),
                }
            },
            "/api/v1/portfolio/totals": {
                "get": {
                    "operationId": "getPortfolioTotals",
                    "summary": "The portfolio's total on each day",
                    "description": "A day's portfolio total is the sum over the caller's"
                    " clients of their latest snapshot on or before that day: a client"
                    " without a snapshot that day is stale and counts with its last one; a"
                    " client counts from its first snapshot on. The dashboard's Portfolio"
                    " page (KPIs, charts, CSV) uses the same definition, so the same day has"
                    " the same total whatever the range. Days run from `start_date` to"
                    " `end_date` and stop at the newest snapshot day; days before the first"
                    " snapshot are not listed.",
                    "parameters": [
                        {"name": "start_date", "in": "query", "required": False,
                         "description": "Inclusive start (YYYY-MM-DD, a real date); default:"
                         f" {TOTALS_DEFAULT_DAYS - 1} days before the end.",
                         "schema": _DATE},
                        {"name": "end_date", "in": "query", "required": False,
                         "description": "Inclusive end (YYYY-MM-DD); not before start_date;"
                         " default: the newest snapshot day. At most"
                         f" {TOTALS_MAX_DAYS:,} days in all.",
                         "schema": _DATE},
                        _IF_NONE_MATCH,
                    ],
                    "responses": _ok("PortfolioTotals", "The totals, oldest day first."),
                }
            },
            "/api/v1/collect/trigger": {
                "post": {
                    "operationId": "triggerCollection",
                    "summary": "Compute today's snapshots now (admin)",
                    "description": "Computes today's snapshot of the given clients (default:"
                    " every active and trial client) from the live sources. At most one run"
                    " per bucket per 5 minutes, across every server process, unless `force`"
                    " is true; two racing triggers for the same bucket run it once. A client"
                    " that fails keeps its previous snapshot and is listed in `failures`.",
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": _ref("TriggerRequest")}},
                    },
                    "responses": {
                        "200": {
                            "description": "The run's summary.",
                            "headers": {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}},
                            "content": {"application/json": {"schema": _ref("TriggerResult")}},
                        },
                        **_COMMON_ERRORS,
                        "400": _error_response(
                            "A bad parameter, or a body that is not one JSON object of UTF-8"
                            " with each field once, or sent as another type than"
                            " `application/json`, or compressed (a `Content-Encoding` other"
                            " than `identity`); the message names what is wrong."
                        ),
                        "413": _error_response("A body larger than 1 MiB, refused unread."),
                        "403": _error_response(
                            "A valid key or signed-in person without the admin right, or a"
                            " POST authenticated by the session cookie whose `Origin` (else"
                            " `Referer`) is not the dashboard's own origin."
                        ),
                        "429": {
                            "description": "A bucket ran less than 5 minutes ago; the body's"
                            " `retry_after` and the `Retry-After` header say when to retry.",
                            "headers": {
                                "Retry-After": _header("RetryAfter"),
                                "X-Request-ID": {"$ref": "#/components/headers/RequestId"},
                            },
                            "content": {"application/json": {"schema": _ref("Error")}},
                        },
                        "503": {
                            **_error_response(
                                "The database is unreachable (`Retry-After` 5), or collection"
                                " is not configured on this server (the message names the"
                                " setting; `Retry-After` 60: an operator must set it)."
                            ),
                            "headers": {"Retry-After": _header("RetryAfter")},
                        },
                    },
                }
            },
            "/api/v1/": {
                "get": {
                    "operationId": "getIndex",
                    "summary": "The API's index: its endpoints and this document's link",
                    "description": "Also answered at `/api`, `/api/` and `/api/v1`. No key"
                    " needed.",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The endpoints, as this document lists them.",
                            "content": {"application/json": {"schema": _ref("Index")}},
                        },
                        "400": _COMMON_ERRORS["400"],
                        "405": _COMMON_ERRORS["405"],
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI 3.1 document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "405": _COMMON_ERRORS["405"],
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "ApiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "Made by an operator: `python -m usage keys create NAME`.",
                },
                "SessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "_streamlit_user",
                    "description": "A signed-in dashboard session on the same origin: the"
                    " cookie the browser holds after signing in to the dashboard (with its"
                    " `_streamlit_user_N` parts when it is split). A POST authenticated by it"
                    " must be same-origin (`Origin`, else `Referer`, of the dashboard itself),"
                    " or it is refused with 403.",
                },
            },
            "headers": {
                "RequestId": {
                    "description": "The request's id, echoed or generated.",
                    "schema": {"type": "string"},
                },
                "ETag": {
                    "description": "A strong validator: a hash of the answer's bytes (another"
                    " for a gzipped body), so it changes whenever any byte would.",
                    "required": True,
                    "schema": {"type": "string"},
                },
                "CacheControl": {
                    "description": "`private, max-age=0, must-revalidate`: keep the answer,"
                    " and revalidate it (`If-None-Match`) before each use.",
                    "required": True,
                    "schema": {"type": "string"},
                },
                "Link": {
                    "description": "`<URL>; rel=\"next\"`: the next page (RFC 8288), when"
                    " there is one: this request with the next page's `cursor`.",
                    "schema": {"type": "string"},
                },
                "RetryAfter": {
                    "description": "Seconds to wait before trying again.",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                },
            },
            "schemas": _SCHEMAS,
        },
    }  # fmt: skip


OPENAPI_PATH = "/api/v1/openapi.json"


def build_index(document: dict[str, Any]) -> dict[str, Any]:
    """``GET /api/v1/``: what a newcomer needs to start, from the document."""
    endpoints = [
        {
            "method": method.upper(),
            "path": path,
            "summary": operation["summary"],
            "needs_key": operation.get("security") != [],
        }
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]
    return {
        "name": document["info"]["title"],
        "version": "v1",
        "openapi": OPENAPI_PATH,
        "endpoints": endpoints,
    }
