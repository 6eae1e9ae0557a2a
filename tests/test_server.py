"""The real server: `streamlit run app.py` and `uvicorn app:app` serve the
pages and the API on one port; schemathesis fuzzes the served contract."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.collect_support import BUCKETS, make_records_database
from tests.conftest import new_database_url
from tests.factories import add_days, day, new_client
from tests.live_server import running_server
from tests.s3_server import S3Server, running_s3
from usage.audit import cli_actor
from usage.demo import load_demo
from usage.keys import create_key


def prepare(engine: Engine, demo: bool = False) -> str:
    with Session(engine) as session, session.begin():
        if demo:
            load_demo(session, day(400))
        else:
            add_days(session, new_client(session, "acme-corp"), [day(i) for i in range(5)])
        return create_key(session, "admin", admin=True, actor=cli_actor())


def test_streamlit_run_serves_pages_and_api_on_one_port(engine: Engine, database_url: str) -> None:
    key = prepare(engine)
    with running_server(database_url) as base, httpx.Client(base_url=base) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        history = http.get(
            "/api/v1/clients/acme-corp/history",
            params={"limit": "2"},
            headers={"X-API-Key": key, "X-Request-ID": "live-1"},
        )
        assert history.status_code == 200
        assert history.headers["x-request-id"] == "live-1"
        assert [s["snapshot_date"] for s in history.json()["snapshots"]] == [
            "2024-01-05",
            "2024-01-04",
        ]
        for path, status in [
            ("/api/v1/no-such-thing", 404),
            ("/api/..%2F..%2Fetc/passwd", 400),
            ("/api/v1/clients/..%2Fx/history", 400),
            ("/API/v1/clients", 404),  # the API's, in any case: not the dashboard's page
        ]:
            response = http.get(path, headers={"X-API-Key": key})
            assert response.status_code == status, path
            assert response.headers["content-type"] == "application/json"
            assert set(response.json()) == {"error", "request_id"}
        wrong = http.post("/api/v1/clients", headers={"X-API-Key": key})
        assert wrong.status_code == 405
        assert wrong.json()["request_id"] == wrong.headers["x-request-id"]
        assert http.get("/api/v1/clients").status_code == 401


def test_uvicorn_with_two_workers_serves_the_api(engine: Engine, database_url: str) -> None:
    key = prepare(engine)
    with (
        running_server(database_url, command="uvicorn", workers=2) as base,
        httpx.Client(base_url=base, headers={"X-API-Key": key}) as http,
    ):
        for _ in range(20):
            response = http.get("/api/v1/clients/acme-corp")
            assert response.status_code == 200
            assert response.json()["latest_snapshot"]["snapshot_date"] == "2024-01-05"
        assert http.get("/api/v1/openapi.json").json()["openapi"] == "3.1.0"


@pytest.mark.parametrize("logged", [True, False])
def test_uvicorn_logs_requests_unless_told_not_to(
    engine: Engine, database_url: str, tmp_path: Path, logged: bool
) -> None:
    """Streamlit's start gives uvicorn's access logger a handler of its own;
    ``--no-access-log`` must still mean no line per request."""
    key = prepare(engine)
    log = tmp_path / "server.log"
    flags = () if logged else ("--no-access-log",)
    with running_server(database_url, command="uvicorn", extra_args=flags, log=log) as base:
        response = httpx.get(f"{base}/api/v1/clients/acme-corp/history", headers={"X-API-Key": key})
        assert response.status_code == 200
        time.sleep(0.5)  # the log line is written after the response
    assert ("GET /api/v1/clients/acme-corp/history" in log.read_text()) is logged


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3({"acme-corp": BUCKETS["acme-corp"], "globex": BUCKETS["globex"]}) as server:
        yield server


def test_schemathesis_finds_no_violation(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    s3: S3Server,
    request: pytest.FixtureRequest,
    backend: str,
) -> None:
    key = prepare(engine, demo=True)
    records_url = new_database_url(request, backend, tmp_path)
    make_records_database(records_url)
    # Collection configured, so that the trigger answers 200 and 429 (a
    # server without it answers the trigger with 503, a server error).
    env = {
        **s3.env,
        "USAGE_RECORDS_URL": records_url,
        "USAGE_STORAGE_ENDPOINT_URL": s3.endpoint_url,
        "USAGE_STORAGE_BUCKET_TEMPLATE": "{bucket_id}",
        "USAGE_STORAGE_MAX_ATTEMPTS": "1",
    }
    with running_server(database_url, env=env) as base:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{base}/api/v1/openapi.json",
                "--header",
                f"X-API-Key: {key}",
                "--checks",
                "all",
                # Schema-valid but refused by design: start_date after
                # end_date, and cursors not made by the server (the contract
                # makes both a 400; JSON Schema cannot say so).
                "--exclude-checks",
                "positive_data_acceptance",
                "--max-examples",
                "40",
                "--seed",
                "20261125",
                # One worker: CPython 3.11.7 can fail ast.parse in concurrent
                # threads ("AST constructor recursion depth mismatch").
                "--workers",
                "1",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=600,
        )
    if result.returncode != 0:
        pytest.fail(f"schemathesis failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
    assert "passed" in result.stdout or "No issues found" in result.stdout
