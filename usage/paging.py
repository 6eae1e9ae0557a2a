"""Opaque, signed cursors for keyset paging.

A cursor carries the sort key of the last item of a page, signed with a
per-database secret (made by the first migration), so that every server
process accepts the others' cursors and a tampered one is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from sqlalchemy.orm import Session

from usage.errors import InvalidParams
from usage.models import Setting

CURSOR_SECRET_SETTING = "cursor_secret"
_SIGNATURE_BYTES = 12


def cursor_secret(session: Session) -> bytes:
    setting = session.get(Setting, CURSOR_SECRET_SETTING)
    if setting is None:  # a database made without the migrations
        raise RuntimeError("the cursor secret is missing: run `python -m usage db upgrade`")
    return setting.value.encode()


def _sign(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def encode_cursor(secret: bytes, key: str) -> str:
    payload = key.encode()
    return base64.urlsafe_b64encode(_sign(secret, payload) + payload).decode().rstrip("=")


def decode_cursor(secret: bytes, raw: str, name: str = "cursor") -> str:
    message = f"{name} must be the cursor returned by the previous page, unchanged"
    try:
        blob = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        raise InvalidParams(message) from None
    signature, payload = blob[:_SIGNATURE_BYTES], blob[_SIGNATURE_BYTES:]
    if not payload or not hmac.compare_digest(signature, _sign(secret, payload)):
        raise InvalidParams(message)
    try:
        return payload.decode()
    except UnicodeDecodeError:
        raise InvalidParams(message) from None
