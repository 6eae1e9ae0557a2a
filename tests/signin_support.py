"""Sign-in for AppTest: an [auth] section and the st.user of a signed-in person."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from usage.audit import Actor
from usage.models import Role
from usage.people import add_person

ORIGIN = "http://localhost:8501"
AUTH_SECRETS: dict[str, Any] = {
    "auth": {
        "redirect_uri": f"{ORIGIN}/oauth2callback",
        "cookie_secret": "test-cookie-secret-of-enough-length",
        "client_id": "usage-dashboard",
        "client_secret": "test-client-secret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    }
}
TEST_ACTOR = Actor("test")


def signed_in(email: str, **claims: Any) -> dict[str, Any]:
    """``st.user`` of a person just signed in with a verified email."""
    user = {
        "is_logged_in": True,
        "email": email,
        "email_verified": True,
        "name": email.split("@")[0].title(),
        "sub": email,
        "iat": int(time.time()),
        "provider": "default",
    }
    user.update(claims)
    return user


def use_sign_in(at: AppTest, user: dict[str, Any] | None, **access: Any) -> AppTest:
    """Configure [auth] (and [access]) for ``at``; ``user`` None: signed out."""
    at.secrets = {**AUTH_SECRETS, **({"access": access} if access else {})}
    at.user = user if user is not None else {"is_logged_in": False}
    return at


def add_people(engine: Engine, people: dict[str, tuple[Role, list[str]]]) -> None:
    """People by email: their role and book."""
    with Session(engine) as session, session.begin():
        for email, (role, book) in people.items():
            add_person(session, email, role, book, actor=TEST_ACTOR)
