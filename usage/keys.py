"""API keys: made by an operator, shown once, stored as a hash.

A key reads ``usk_<lookup>_<secret>``. The lookup part finds the row; the
secret part is compared with the stored SHA-256 digest in constant time. The
secret has 256 bits of entropy, so a fast hash is enough.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from usage.access import Principal, Via, client_not_found
from usage.audit import Action, Actor, record
from usage.errors import InvalidParams, NotFound, Unauthorized
from usage.models import ApiKey, Client, Role, utcnow
from usage.validation import parse_bucket_id

KEY_PREFIX = "usk"


@dataclass(frozen=True)
class KeyInfo:
    """A key as ``keys list`` shows it."""

    name: str
    is_admin: bool
    buckets: frozenset[str]  # for a key that is not admin, all it may read
    created_at: dt.datetime
    revoked: bool


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        name=row.name,
        is_admin=row.is_admin,
        buckets=frozenset(row.buckets.split()),
        created_at=row.created_at,
        revoked=row.revoked_at is not None,
    )


def create_key(
    session: Session,
    name: str,
    *,
    admin: bool = False,
    buckets: list[str] | None = None,
    actor: Actor,
) -> str:
    """Store a new key and return it; this is the only time it is seen.
    Recorded in the audit trail as made by ``actor``."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise InvalidParams("name must be 1 to 100 characters")
    checked = sorted({parse_bucket_id(bucket, "bucket") for bucket in buckets or []})
    if not admin and not checked:
        raise InvalidParams("a key needs --admin or at least one --bucket")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise InvalidParams(f"a key named {name!r} exists already")
    lookup = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            name=name,
            lookup=lookup,
            secret_hash=_digest(secret),
            is_admin=admin,
            buckets=" ".join(checked),
        )
    )
    try:
        session.flush()
    except IntegrityError:
        raise InvalidParams(f"a key named {name!r} exists already") from None
    scope = "admin" if admin else "buckets " + " ".join(checked)
    record(session, actor, Action.KEY_CREATED, name, scope)
    return f"{KEY_PREFIX}_{lookup}_{secret}"


def check_key_buckets(session: Session, buckets: Iterable[str]) -> None:
    """``NotFound``, word for word an unknown client's, when one of a new
    key's ``buckets`` is no client. Not in ``create_key``: the tests' keys
    may name clients they add afterwards."""
    wanted = sorted({parse_bucket_id(bucket, "bucket") for bucket in buckets})
    known = set(session.scalars(select(Client.bucket_id).where(Client.bucket_id.in_(wanted))))
    for bucket in wanted:
        if bucket not in known:
            raise client_not_found(bucket)


def list_keys(session: Session) -> list[KeyInfo]:
    return [_info(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.name))]


def revoke_key(session: Session, name: str, *, actor: Actor) -> None:
    """Revoke a key (again: no change, and no new audit event)."""
    row = session.scalar(select(ApiKey).where(ApiKey.name == name))
    if row is None:
        raise NotFound(f"no key named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record(session, actor, Action.KEY_REVOKED, name)


def key_principal(row: ApiKey) -> Principal:
    """An admin key acts as an admin; a key for some buckets reads them alone,
    as a manager reads their book."""
    role = Role.ADMIN if row.is_admin else Role.MANAGER
    return Principal(row.name, role, frozenset(row.buckets.split()), Via.KEY)


def authenticate(session: Session, raw_key: str | None) -> Principal:
    """The key's principal, or ``Unauthorized`` (missing, malformed, unknown or
    revoked keys are told apart only by the message)."""
    if not raw_key:
        raise Unauthorized("missing API key: send it in the X-API-Key header")
    prefix, _, rest = raw_key.partition("_")
    lookup, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not lookup or not secret:
        raise Unauthorized("invalid API key")
    row = session.scalar(select(ApiKey).where(ApiKey.lookup == lookup, ApiKey.revoked_at.is_(None)))
    # Compare against a digest even when no row matched, so that timing
    # does not tell a known lookup from an unknown one.
    expected = row.secret_hash if row is not None else _digest("")
    if not hmac.compare_digest(expected, _digest(secret)) or row is None:
        raise Unauthorized("invalid API key")
    return key_principal(row)
