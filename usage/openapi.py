"""The OpenAPI 3.1 document of the Usage API v1, built as data."""

from __future__ import annotations

from typing import Any

from usage.models import ROOT_PREFIX, STANDARD_COLLECTIONS, ClientStatus
from usage.validation import (
    CLIENTS_DEFAULT_LIMIT,
    HISTORY_DEFAULT_LIMIT,
    MAX_LIMIT,
    SNAPSHOTS_DEFAULT_LIMIT,
)

_INT = {"type": "integer", "minimum": 0}
_DATE = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}


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
_BUCKET_ID = {
    "name": "bucket_id",
    "in": "path",
    "required": True,
    "description": "Client bucket identifier (letters, digits, hyphens, underscores).",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "example": "acme-corp"},
}

_COMMON_ERRORS = {
    "400": _error_response("Invalid parameters; the message names the parameter."),
    "401": _error_response(
        "Missing or invalid credentials: no valid API key, and no valid signed-in session"
        " (tampered, expired, of another deployment, or of a person no longer let in)."
    ),
    "404": _error_response("Unknown client or path (or a client the caller may not see)."),
    "405": _error_response("Method not allowed."),
    "503": _error_response("The database is unreachable; retry later."),
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
            "retry_after": {"type": "integer", "description": "Seconds to wait (429 only)."},
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
        "required": [*_CLIENT_FIELDS, "latest_snapshot"],
        "properties": {
            **_CLIENT_PROPERTIES,
            "latest_snapshot": {"oneOf": [_ref("Snapshot"), {"type": "null"}]},
        },
        "additionalProperties": False,
    },
    "History": {
        "type": "object",
        "required": ["snapshots", "count"],
        "properties": {
            "snapshots": {"type": "array", "items": _ref("Snapshot")},
            "count": {**_INT, "description": "Number of snapshots returned."},
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


def _ok(schema: str, description: str) -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "headers": {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}},
            "content": {"application/json": {"schema": _ref(schema)}},
        },
        **_COMMON_ERRORS,
    }


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
            " caller sees only the clients it may see.",
        },
        "servers": [{"url": "/"}],
        "security": [{"ApiKey": []}, {"SessionCookie": []}],
        "paths": {
            "/api/v1/clients/{bucket_id}/history": {
                "get": {
                    "operationId": "getClientHistory",
                    "summary": "Get client usage history",
                    "description": "Snapshots of one client, newest first. When more match,"
                    " the newest `limit` are returned. A known client with nothing in the"
                    " range answers 200 with `count` 0.",
                    "parameters": [
                        _BUCKET_ID,
                        {"name": "start_date", "in": "query", "required": False,
                         "description": "Inclusive start (YYYY-MM-DD, a real date).",
                         "schema": _DATE},
                        {"name": "end_date", "in": "query", "required": False,
                         "description": "Inclusive end (YYYY-MM-DD); not before start_date.",
                         "schema": _DATE},
                        _limit(HISTORY_DEFAULT_LIMIT),
                    ],
                    "responses": _ok("History", "Historical snapshots, newest first."),
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
                        _CURSOR,
                    ],
                    "responses": _ok("ClientPage", "A page of clients."),
                }
            },
            "/api/v1/clients/{bucket_id}": {
                "get": {
                    "operationId": "getClient",
                    "summary": "Get one client with its latest snapshot",
                    "parameters": [_BUCKET_ID],
                    "responses": _ok("ClientDetail", "The client."),
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
                        _CURSOR,
                    ],
                    "responses": _ok("SnapshotPage", "A page of snapshots, by bucket_id."),
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
                        "403": _error_response(
                            "A valid key or signed-in person without the admin right, or a"
                            " POST authenticated by the session cookie whose `Origin` (else"
                            " `Referer`) is not the dashboard's own origin."
                        ),
                        "429": {
                            "description": "A bucket ran less than 5 minutes ago; the body's"
                            " `retry_after` and the `Retry-After` header say when to retry.",
                            "headers": {
                                "Retry-After": {"schema": {"type": "integer", "minimum": 1}},
                                "X-Request-ID": {"$ref": "#/components/headers/RequestId"},
                            },
                            "content": {"application/json": {"schema": _ref("Error")}},
                        },
                        "503": _error_response(
                            "The database is unreachable, or collection is not configured"
                            " on this server (the message names the setting)."
                        ),
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
                }
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
