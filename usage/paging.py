"""Opaque, signed cursors for keyset paging.

A cursor carries the sort key of the last item of a page, signed with a
per-database secret (made by the first migration), so that every server
process accepts the others' cursors and a tampered one is refused. The
signature is keyed BLAKE2b (a MAC by design, RFC 7693): a third of
HMAC-SHA256's cost, on every history page that has a next one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from usage.errors import InvalidParams
from usage.models import Setting

CURSOR_SECRET_SETTING = "cursor_secret"
_SIGNATURE_BYTES = 12


def cursor_secret(reader: Session | Connection) -> bytes:
    value = reader.scalar(select(Setting.value).where(Setting.name == CURSOR_SECRET_SETTING))
    if value is None:  # a database made without the migrations
        raise RuntimeError("the cursor secret is missing: run `python -m usage db upgrade`")
    return value.encode()


_MAX_KEY_BYTES = 64  # BLAKE2b's longest key


def _sign(secret: bytes, payload: bytes) -> bytes:
    if len(secret) > _MAX_KEY_BYTES:  # the migrations make 64: only a hand-made one
        secret = hashlib.sha256(secret).digest()
    return hashlib.blake2b(payload, key=secret, digest_size=_SIGNATURE_BYTES).digest()


def encode_cursor(secret: bytes, key: str) -> str:
    return _encode(secret, key.encode())


def _encode(secret: bytes, payload: bytes) -> str:
    return base64.urlsafe_b64encode(_sign(secret, payload) + payload).rstrip(b"=").decode()


def _not_a_cursor(name: str) -> InvalidParams:
    return InvalidParams(f"{name} must be the cursor returned by the previous page, unchanged")


def decode_cursor(secret: bytes, raw: str, name: str = "cursor") -> str:
    try:
        blob = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise _not_a_cursor(name) from None
    signature, payload = blob[:_SIGNATURE_BYTES], blob[_SIGNATURE_BYTES:]
    if not payload or not hmac.compare_digest(signature, _sign(secret, payload)):
        raise _not_a_cursor(name)
    try:
        return payload.decode()
    except UnicodeDecodeError:
        raise _not_a_cursor(name) from None


def encode_scoped_cursor(secret: bytes, key: str, scope: str) -> str:
    """A cursor that continues after ``key`` (a bucket id: no ``|`` in it)
    in the listing ``scope`` names (the clients of a status, say)."""
    return encode_cursor(secret, f"{key}|{scope}")


def decode_scoped_cursor(secret: bytes, raw: str, scope: str, name: str = "cursor") -> str:
    """The key of an ``encode_scoped_cursor`` cursor; ``InvalidParams`` for
    one made for another listing (another endpoint, date or filter) or
    tampered."""
    key, _, made_for = decode_cursor(secret, raw, name).partition("|")
    if not key or made_for != scope:
        raise _not_a_cursor(name)
    return key


def encode_date_cursor(secret: bytes, day: dt.date, scope: str) -> str:
    """A cursor that continues before ``day`` in the listing ``scope`` names
    (one client's history at one granularity, say)."""
    return encode_scoped_cursor(secret, day.isoformat(), scope)


def decode_date_cursor(secret: bytes, raw: str, scope: str, name: str = "cursor") -> dt.date:
    """The day of an ``encode_date_cursor`` cursor; ``InvalidParams`` for one
    made for another listing (another client or granularity) or tampered."""
    day = decode_scoped_cursor(secret, raw, scope, name)
    try:
        return dt.date.fromisoformat(day)
    except ValueError:
        raise _not_a_cursor(name) from None
