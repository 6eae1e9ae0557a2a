"""Sign-in: the settings, who an ID token's claims say the person is, and the
session cookie a signed-in browser sends to the API.

The dashboard signs people in with Streamlit's ``st.login()`` against an
OpenID Connect provider (``[auth]`` in ``.streamlit/secrets.toml``). Streamlit
keeps the ID token's claims in the ``_streamlit_user`` cookie, signed with
``[auth] cookie_secret`` (itsdangerous, salted with the cookie's name). The
dashboard reads those claims from ``st.user``, the API from the cookie; both
turn them into a person here, by the same rules:

- the identity is one claim (``email`` unless ``[access] identity_claim``
  says otherwise), compared case-insensitively;
- a token that says ``email_verified: false`` is refused;
- a sign-in lasts ``[access] session_hours`` from the token's ``iat`` (the
  provider's ``exp``, often an hour, is the token's own life, not the
  session's: people would otherwise sign in again every hour);
- a person must be in the store, or have a verified email of one of
  ``[access] allowed_domains``, who is then added with ``default_role``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from usage.access import Principal
from usage.audit import Action, Actor, record
from usage.errors import ConfigError, InvalidParams, UsageError
from usage.models import Person, Role
from usage.people import person_principal
from usage.validation import parse_email, parse_role

COOKIE_NAME = "_streamlit_user"
# Streamlit's own limit on the cookie (30 days, and a day's grace).
COOKIE_MAX_AGE_SECONDS = 31 * 24 * 3600
DEFAULT_SESSION_HOURS = 12.0
DEFAULT_IDENTITY_CLAIM = "email"
_CHUNKS = re.compile(r"chunks-([0-9]{1,3})")
_DOMAIN = re.compile(r"[a-z0-9.-]{1,253}")


class SignInRefused(UsageError):
    """The provider signed the person in, but this dashboard does not let
    them in; the message says why, in words for that person."""

    status = 401


@dataclass(frozen=True)
class SignInSettings:
    enabled: bool  # an [auth] section is configured
    cookie_secret: str = ""
    origin: str = ""  # scheme://host[:port] of [auth] redirect_uri
    providers: tuple[str, ...] = ()  # named providers ([auth.NAME]); () for the one default
    identity_claim: str = DEFAULT_IDENTITY_CLAIM
    allowed_domains: frozenset[str] = frozenset()
    default_role: Role = Role.MANAGER
    session_hours: float = DEFAULT_SESSION_HOURS


SIGN_IN_OFF = SignInSettings(enabled=False)


def parse_settings(secrets: Mapping[str, Any]) -> SignInSettings:
    """The settings from the secrets' ``[auth]`` and ``[access]`` sections;
    ``ConfigError`` naming the setting that is wrong."""
    auth = secrets.get("auth")
    if auth is None:
        return SIGN_IN_OFF
    if not isinstance(auth, Mapping):
        raise ConfigError("[auth] in secrets.toml must be a table")
    for name in ("redirect_uri", "cookie_secret"):
        if not isinstance(auth.get(name), str) or not auth[name]:
            raise ConfigError(f"[auth] {name} must be set in secrets.toml")
    redirect = urlsplit(auth["redirect_uri"])
    if redirect.scheme not in ("http", "https") or not redirect.netloc:
        raise ConfigError("[auth] redirect_uri must be an http(s) URL ending in /oauth2callback")
    providers = tuple(sorted(name for name, value in auth.items() if isinstance(value, Mapping)))
    if not providers and "client_id" not in auth:
        raise ConfigError("[auth] needs client_id (one provider) or [auth.NAME] sections")
    access = secrets.get("access") or {}
    if not isinstance(access, Mapping):
        raise ConfigError("[access] in secrets.toml must be a table")
    return SignInSettings(
        enabled=True,
        cookie_secret=auth["cookie_secret"],
        origin=f"{redirect.scheme}://{redirect.netloc}",
        providers=providers,
        identity_claim=_claim_setting(access.get("identity_claim", DEFAULT_IDENTITY_CLAIM)),
        allowed_domains=_domains_setting(access.get("allowed_domains", [])),
        default_role=_role_setting(access.get("default_role", Role.MANAGER.value)),
        session_hours=_hours_setting(access.get("session_hours", DEFAULT_SESSION_HOURS)),
    )


def _claim_setting(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", value):
        raise ConfigError("[access] identity_claim must be the name of an ID token claim")
    return value


def _domains_setting(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(
        isinstance(item, str) and _DOMAIN.fullmatch(item.lower().lstrip("@")) for item in value
    ):
        raise ConfigError('[access] allowed_domains must be a list of domains like ["example.com"]')
    return frozenset(item.lower().lstrip("@") for item in value)


def _role_setting(value: Any) -> Role:
    try:
        role = parse_role(value if isinstance(value, str) else None, "default_role")
    except InvalidParams as error:
        raise ConfigError(f"[access] {error.message}") from None
    if role is Role.ADMIN:
        raise ConfigError("[access] default_role may be analyst or manager, not admin")
    return role


def _hours_setting(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 24 * 30:
        raise ConfigError("[access] session_hours must be a number of hours from 0 to 720")
    return float(value)


def _is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def identify(claims: Mapping[str, Any], settings: SignInSettings, now: dt.datetime) -> str:
    """The person the claims name, lower-cased; ``SignInRefused`` saying why not."""
    if not claims.get("is_logged_in"):
        raise SignInRefused("not signed in")
    if _is_false(claims.get("email_verified")):
        raise SignInRefused("your identity provider says your email address is not verified")
    issued = claims.get("iat")
    if isinstance(issued, bool) or not isinstance(issued, int | float):
        raise SignInRefused("the sign-in has no issue time (iat); sign in again")
    expires = dt.datetime.fromtimestamp(issued, dt.UTC) + dt.timedelta(hours=settings.session_hours)
    if expires <= now:
        raise SignInRefused("your sign-in has expired; sign in again")
    value = claims.get(settings.identity_claim)
    try:
        return parse_email(value if isinstance(value, str) else None, settings.identity_claim)
    except InvalidParams:
        raise SignInRefused(
            f"the sign-in did not give an email address in its {settings.identity_claim!r} claim"
        ) from None


def admit(
    session: Session,
    identity: str,
    claims: Mapping[str, Any],
    settings: SignInSettings,
    address: str = "",
) -> Principal | None:
    """The person's principal; someone not in the store is added with the
    default role when their verified email is of an allowed domain, and is
    otherwise not let in (None)."""
    principal = person_principal(session, identity)
    if principal is not None:
        return principal
    domain = identity.rpartition("@")[2]
    if domain not in settings.allowed_domains or not _is_true(claims.get("email_verified")):
        return None
    session.add(Person(email=identity, role=settings.default_role.value))
    session.flush()
    record(
        session,
        Actor(identity, address),
        Action.PERSON_ADDED,
        identity,
        f"role {settings.default_role.value}, by sign-in from the allowed domain {domain}",
    )
    return person_principal(session, identity)


def read_cookie_claims(cookies: Mapping[str, str], settings: SignInSettings) -> dict[str, Any]:
    """The claims in a browser's session cookie (Streamlit's format, chunks
    included); ``SignInRefused`` for a missing, tampered, foreign (another
    secret or another origin) or too old cookie."""
    raw = cookies.get(COOKIE_NAME)
    if not settings.enabled or raw is None:
        raise SignInRefused("missing session cookie")
    value = _unsign(settings.cookie_secret, COOKIE_NAME, raw)
    chunks = _CHUNKS.fullmatch(value)
    if chunks is not None:
        parts = []
        for number in range(1, int(chunks.group(1)) + 1):
            name = f"{COOKIE_NAME}_{number}"
            part = cookies.get(name)
            if part is None:
                raise SignInRefused("invalid session cookie")
            parts.append(_unsign(settings.cookie_secret, name, part))
        value = "".join(parts)
    try:
        claims = orjson.loads(value)
    except orjson.JSONDecodeError:
        raise SignInRefused("invalid session cookie") from None
    if not isinstance(claims, dict) or claims.get("origin") != settings.origin:
        raise SignInRefused("invalid session cookie")
    return claims


def _unsign(secret: str, name: str, value: str) -> str:
    try:
        loaded = URLSafeTimedSerializer(secret, salt=name).loads(
            value, max_age=COOKIE_MAX_AGE_SECONDS
        )
    except BadData:
        raise SignInRefused("invalid session cookie") from None
    if not isinstance(loaded, str):
        raise SignInRefused("invalid session cookie")
    return loaded
