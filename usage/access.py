"""Who is asking, and what they may see: one principal for keys and people.

An API key and a signed-in person both become a ``Principal``: a name, a
role and a book of clients. Everything downstream (the API's endpoints, every
page, chart, total and download) asks the principal's ``visible`` set, which
is computed here alone, and never how the caller proved who they are. A
client outside the visible set is answered exactly as an unknown one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import ColumnElement

from usage.errors import Forbidden, NotFound
from usage.models import Client, Role

Visible = frozenset[str] | None  # the bucket ids a principal may read; None: every one


class Via(enum.StrEnum):
    """How the principal proved who they are (for the audit trail only)."""

    KEY = "key"
    SESSION = "session"  # a signed-in browser: the dashboard, or the API with its cookie
    LOCAL = "local"  # sign-in is off: the one person at the machine


@dataclass(frozen=True)
class Principal:
    name: str  # the key's name, or the person's email
    role: Role
    book: frozenset[str]  # the clients assigned (what a manager may read)
    via: Via

    @property
    def visible(self) -> Visible:
        """The buckets this principal may read; None for every bucket."""
        return None if self.role in (Role.ADMIN, Role.ANALYST) else self.book

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def actor(self) -> str:
        """How the audit trail names the principal."""
        return f"key:{self.name}" if self.via is Via.KEY else self.name

    def may_read(self, bucket_id: str) -> bool:
        return may_read(self.visible, bucket_id)


# Sign-in is off: the one person at the machine may do everything (the server
# then listens on loopback unless told otherwise; see usage.serving).
LOCAL_ADMIN = Principal("local", Role.ADMIN, frozenset(), Via.LOCAL)


def client_not_found(bucket_id: str) -> NotFound:
    """The one answer for a client that does not exist or may not be seen."""
    return NotFound(f"client {bucket_id!r} not found")


def may_read(visible: Visible, bucket_id: str) -> bool:
    return visible is None or bucket_id in visible


def check_visible(visible: Visible, bucket_id: str) -> None:
    """``NotFound``, word for word an unknown client's, for a bucket outside
    ``visible``."""
    if not may_read(visible, bucket_id):
        raise client_not_found(bucket_id)


def require_admin(principal: Principal, action: str) -> None:
    """``Forbidden`` naming ``action`` for anyone but an admin."""
    if not principal.is_admin:
        how = "an admin key" if principal.via is Via.KEY else "an admin"
        raise Forbidden(f"{action} needs {how}")


def visible_clients(visible: Visible) -> list[ColumnElement[bool]]:
    """The WHERE conditions that keep ``Client`` rows to ``visible``."""
    if visible is None:
        return []
    return [Client.bucket_id.in_(sorted(visible))]
