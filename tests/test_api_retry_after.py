"""Every 429 and 503 says in ``Retry-After`` when to try again (the 429 of the
trigger is in test_api_trigger.py, the outage's 503 in test_api_outage.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.api_client import ApiClient
from tests.test_api import is_error
from usage.api import RETRY_AFTER_MISCONFIGURED, RETRY_AFTER_UNAVAILABLE, create_api_app
from usage.audit import cli_actor
from usage.db import make_engine
from usage.errors import ConfigError
from usage.keys import create_key
from usage.signin import SignInSettings


def test_a_database_that_cannot_be_opened_is_503_with_a_short_wait(tmp_path: Path) -> None:
    (tmp_path / "usage.sqlite3").mkdir()  # a directory where the file should be
    engine = make_engine(f"sqlite:///{tmp_path / 'usage.sqlite3'}")
    api = ApiClient(create_api_app(lambda: engine), {"X-API-Key": "usk_a_b"})
    try:
        for url in (
            "/api/v1/clients/acme-corp/history",
            "/api/v1/clients",
            "/api/v1/snapshots/2024-01-01",
        ):
            response = api.get(url)
            is_error(response, 503, "database unavailable; try again shortly")
            assert response.headers["retry-after"] == str(RETRY_AFTER_UNAVAILABLE) == "5"
    finally:
        api.close()
        engine.dispose()


def test_collection_not_configured_is_503_with_a_long_wait(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no usage.toml
    for name in ("USAGE_CONFIG", "USAGE_RECORDS_URL", "USAGE_STORAGE_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with Session(engine) as session, session.begin():
        key = create_key(session, "admin", admin=True, actor=cli_actor())
    api = ApiClient(create_api_app(lambda: engine), {"X-API-Key": key})
    try:
        response = api.request("POST", "/api/v1/collect/trigger")
    finally:
        api.close()
    body = is_error(response, 503)
    assert body["error"].startswith("collection is not configured: ")
    assert response.headers["retry-after"] == str(RETRY_AFTER_MISCONFIGURED) == "60"


def test_wrong_sign_in_settings_are_503_with_a_long_wait(engine: Engine) -> None:
    def broken() -> SignInSettings:
        raise ConfigError("[auth] cookie_secret must be set in secrets.toml")

    api = ApiClient(create_api_app(lambda: engine, broken), {"Cookie": "_streamlit_user=x"})
    try:
        response = api.get("/api/v1/clients")
    finally:
        api.close()
    is_error(response, 503)
    assert response.headers["retry-after"] == "60"
