"""Session cookies made as Streamlit makes them after ``st.login()``.

Streamlit signs ``json.dumps`` of the ID token's claims plus
``is_logged_in``, ``origin`` and ``provider`` with
``URLSafeTimedSerializer(cookie_secret, salt=COOKIE_NAME)``; a value too big
for one cookie is split: the main cookie then holds ``chunks-N`` and the
parts go in ``_streamlit_user_1`` .. ``_streamlit_user_N``, each signed with
its own name as the salt.
"""

from __future__ import annotations

import json
import time
from typing import Any

from itsdangerous import URLSafeTimedSerializer

from usage.signin import COOKIE_NAME

ORIGIN = "http://testserver"  # where tests.api_client's requests go
COOKIE_SECRET = "api-test-cookie-secret-of-enough-length"
AUTH_SECTION: dict[str, Any] = {
    "redirect_uri": f"{ORIGIN}/oauth2callback",
    "cookie_secret": COOKIE_SECRET,
    "client_id": "usage-dashboard",
    "client_secret": "test-client-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def id_token_claims(email: str, /, **claims: Any) -> dict[str, Any]:
    """An ID token's claims of a person just signed in with a verified email
    (``claims`` overrides or adds; a value of None drops that claim)."""
    now = int(time.time())
    made: dict[str, Any] = {
        "iss": "http://127.0.0.1:9",
        "aud": "usage-dashboard",
        "sub": f"sub-{email}",
        "email": email,
        "email_verified": True,
        "name": email.split("@")[0].title(),
        "iat": now,
        "exp": now + 3600,
    }
    made.update(claims)
    return {name: value for name, value in made.items() if value is not None}


def sign(value: str, name: str = COOKIE_NAME, secret: str = COOKIE_SECRET) -> str:
    return URLSafeTimedSerializer(secret, salt=name).dumps(value)


def cookie_value(claims: dict[str, Any], origin: str = ORIGIN) -> str:
    """What Streamlit signs: the claims and its own three keys, as JSON."""
    return json.dumps({**claims, "is_logged_in": True, "origin": origin, "provider": "default"})


def session_cookies(
    claims: dict[str, Any],
    *,
    secret: str = COOKIE_SECRET,
    origin: str = ORIGIN,
    chunks: int = 1,
) -> dict[str, str]:
    """The cookies of a browser signed in with ``claims``, by name: one, or
    the main cookie and ``chunks`` parts."""
    value = cookie_value(claims, origin)
    if chunks == 1:
        return {COOKIE_NAME: sign(value, secret=secret)}
    size = -(-len(value) // chunks)
    parts = [value[i * size : (i + 1) * size] for i in range(chunks)]
    cookies = {COOKIE_NAME: sign(f"chunks-{chunks}", secret=secret)}
    for number, part in enumerate(parts, start=1):
        name = f"{COOKIE_NAME}_{number}"
        cookies[name] = sign(part, name, secret)
    return cookies


def cookie_header(cookies: dict[str, str]) -> str:
    """The ``Cookie`` header a browser sends with ``cookies``."""
    return "; ".join(f"{name}={value}" for name, value in cookies.items())
