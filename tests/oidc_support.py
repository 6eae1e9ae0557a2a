"""A real OpenID Connect provider for the browser tests, and the secrets file
that points the server under test at it.

The provider is ``oidc-provider-mock`` (Flask on Authlib), run as a process
of its own: on a thread of the test process, Authlib's deprecation warnings
(raised as the provider signs an ID token) became errors under the test
run's ``filterwarnings = error`` and the token endpoint answered 500."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.live_server import free_port, stop_process, wait_until_healthy

COOKIE_SECRET = "browser-test-cookie-secret-0123456789"
CLIENT_ID = "usage-dashboard"
CLIENT_SECRET = "usage-dashboard-secret"


@contextmanager
def oidc_provider(users: Mapping[str, str], log: Path, timeout: float = 30.0) -> Iterator[str]:
    """Serve the provider on a free port with ``users`` (email -> name)
    predefined: one button each on its authorize page, named by the email,
    which is also the ``sub``; their email is verified. Anyone else signs in
    by typing a ``sub`` (their email claim is that ``sub``). Any client id
    is accepted. Yields the provider's base URL; its output goes to ``log``."""
    port = free_port()
    claims = [
        json.dumps({"sub": email, "email": email, "email_verified": True, "name": name})
        for email, name in users.items()
    ]
    args = [sys.executable, "-m", "oidc_provider_mock", "--port", str(port), "--host", "127.0.0.1"]
    for user in claims:
        args += ["--user-claims", user]
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(process, base, timeout, "/.well-known/openid-configuration")
            yield base
        finally:
            stop_process(process)


def write_secrets(path: Path, app_origin: str, provider: str) -> Path:
    """A secrets.toml with the one ``[auth]`` provider; the server reads it
    with ``--secrets.files``, never the developer's own."""
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "{app_origin}/oauth2callback"\n'
        f'cookie_secret = "{COOKIE_SECRET}"\n'
        f'client_id = "{CLIENT_ID}"\n'
        f'client_secret = "{CLIENT_SECRET}"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    return path
