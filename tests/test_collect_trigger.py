"""The admin trigger: its body, its answer, and its rate limit kept in the database."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.collect_support import BUCKETS
from tests.factories import new_client
from tests.s3_server import PROJECT_ROOT, S3Server, running_s3
from usage.access import LOCAL_ADMIN, Principal, Via
from usage.collect.config import CollectConfig
from usage.collect.runs import list_runs
from usage.collect.trigger import (
    CollectionUnavailableError,
    TriggerRequest,
    parse_trigger_body,
    run_trigger,
)
from usage.db import make_engine
from usage.errors import Forbidden, InvalidParams, NotFound, RateLimited
from usage.models import Role

NOW = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
READER = Principal("reporting", Role.ANALYST, frozenset(), Via.KEY)
CLIENTS = {"globex": "active", "empty-co": "trial", "missing-co": "inactive"}


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3({name: BUCKETS[name] for name in ("globex", "empty-co", "slow-co")}) as server:
        yield server


@pytest.fixture
def store(engine: Engine) -> Engine:
    with Session(engine) as session, session.begin():
        for bucket_id, status in CLIENTS.items():
            new_client(session, bucket_id, status)
    return engine


def trigger(
    engine: Engine, config: CollectConfig, body: Any = None, at: dt.datetime = NOW
) -> dict[str, Any]:
    raw = b"" if body is None else json.dumps(body).encode()
    return run_trigger(engine, raw, principal=LOCAL_ADMIN, now=at, config=config)


def minutes(n: float) -> dt.datetime:
    return NOW + dt.timedelta(minutes=n)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", TriggerRequest()),
        (b"  \n", TriggerRequest()),
        (b"{}", TriggerRequest()),
        (b'{"bucket_ids": null, "force": null}', TriggerRequest()),
        (b'{"bucket_ids": ["acme-corp", "globex", "acme-corp"]}',
         TriggerRequest(bucket_ids=("acme-corp", "globex"))),
        (b'{"force": true}', TriggerRequest(force=True)),
    ],
)  # fmt: skip
def test_body_accepted(raw: bytes, expected: TriggerRequest) -> None:
    assert parse_trigger_body(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[1]", 'the request body must be a JSON object such as {"bucket_ids": ["acme-corp"],'),
        (b"{bad json", "the request body must be a JSON object"),
        (b"\xff\xfe", "the request body must be a JSON object"),
        (b'{"bucket_id": ["a"]}',
         "unknown field 'bucket_id' in the request body; expected: bucket_ids, force"),
        (b'{"bucket_ids": "globex"}', "bucket_ids must be an array of 1 to 1000 bucket ids"),
        (b'{"bucket_ids": []}', "bucket_ids must be an array of 1 to 1000 bucket ids"),
        (b'{"bucket_ids": ["ok", "not/ok"]}',
         "bucket_ids[1] must be 1 to 64 characters of letters, digits, '-' or '_'"),
        (b'{"bucket_ids": [7]}', "bucket_ids[0] must be 1 to 64 characters"),
        (b'{"force": "yes"}', "force must be a boolean (true or false)"),
        (b'{"force": 1}', "force must be a boolean (true or false)"),
        # Nested past the JSON parser's recursion limit: a 400, not a 500.
        (b'{"a": ' * 2000 + b"1" + b"}" * 2000, "the request body must be a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "the request body must be a JSON object"),
    ],
)  # fmt: skip
def test_body_refused_naming_the_field(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_trigger_body(raw)
    assert caught.value.status == 400
    assert caught.value.message.startswith(message)


def test_only_an_admin_may_trigger(engine: Engine) -> None:
    with pytest.raises(Forbidden) as caught:
        run_trigger(engine, b"{not even json", principal=READER, now=NOW)
    assert (caught.value.status, caught.value.message) == (403, "collecting needs an admin key")


def test_the_answer_has_the_contracts_shape(store: Engine, config: CollectConfig) -> None:
    result = trigger(store, config, {"bucket_ids": ["globex", "missing-co"]})
    assert set(result) == {"buckets_processed", "buckets_failed", "duration_seconds", "failures"}
    assert (result["buckets_processed"], result["buckets_failed"]) == (2, 1)
    assert isinstance(result["duration_seconds"], float)
    assert result["failures"] == [
        {"bucket_id": "missing-co", "error": "bucket 'missing-co' does not exist"}
    ]


def test_without_bucket_ids_every_active_and_trial_client_runs(
    store: Engine, config: CollectConfig
) -> None:
    result = trigger(store, config)
    assert (result["buckets_processed"], result["buckets_failed"]) == (2, 0)
    with Session(store) as session:
        runs = {run["bucket_id"]: run for run in list_runs(session, visible=None)}
    assert {name: runs[name]["run_status"] for name in CLIENTS} == {
        "globex": "succeeded", "empty-co": "succeeded", "missing-co": "never"
    }  # fmt: skip
    assert runs["globex"]["snapshot_date"] == "2024-03-01"
    assert runs["globex"]["started_by"] == "trigger"


def test_an_unknown_bucket_is_not_found(store: Engine, config: CollectConfig) -> None:
    with pytest.raises(NotFound, match=r"^client 'nobody' not found$"):
        trigger(store, config, {"bucket_ids": ["globex", "nobody"]})
    with Session(store) as session:
        assert {run["run_status"] for run in list_runs(session, visible=None)} == {"never"}


def test_one_run_per_bucket_per_five_minutes_unless_forced(
    store: Engine, config: CollectConfig
) -> None:
    body = {"bucket_ids": ["globex"]}
    assert trigger(store, config, body)["buckets_processed"] == 1
    with pytest.raises(RateLimited) as caught:
        trigger(store, config, body, at=minutes(4))
    assert caught.value.retry_after == 60
    assert caught.value.message == (
        'globex ran less than 5 minutes ago: retry in 60 seconds or send "force": true'
    )
    with pytest.raises(RateLimited) as caught:
        trigger(store, config, body, at=minutes(0.5))
    assert caught.value.retry_after == 270
    assert trigger(store, config, {**body, "force": True}, at=minutes(4))["buckets_processed"] == 1
    # The forced run restarted the clock.
    with pytest.raises(RateLimited):
        trigger(store, config, body, at=minutes(8))
    assert trigger(store, config, body, at=minutes(9))["buckets_processed"] == 1


def test_a_limited_bucket_refuses_the_whole_request_and_claims_nothing(
    store: Engine, config: CollectConfig
) -> None:
    trigger(store, config, {"bucket_ids": ["globex"]})
    with pytest.raises(RateLimited):
        trigger(store, config, {"bucket_ids": ["empty-co", "globex"]}, at=minutes(1))
    # empty-co was not claimed by the refused request.
    result = trigger(store, config, {"bucket_ids": ["empty-co"]}, at=minutes(1))
    assert result["buckets_processed"] == 1


def test_the_limit_holds_across_engines_and_processes(
    store: Engine, config: CollectConfig, database_url: str, tmp_path: Path
) -> None:
    script = (
        "import datetime as dt, json, sys\n"
        "from usage.collect.config import load_config\n"
        "from usage.access import LOCAL_ADMIN\n"
        "from usage.collect.trigger import run_trigger\n"
        "from usage.db import make_engine\n"
        "engine = make_engine(sys.argv[1])\n"
        "now = dt.datetime.fromisoformat(sys.argv[2])\n"
        'result = run_trigger(engine, b\'{"bucket_ids": ["globex"]}\', principal=LOCAL_ADMIN,'
        " now=now, config=load_config())\n"
        "print(json.dumps(result))\n"
    )
    config_file = tmp_path / "usage.toml"
    config_file.write_text(
        f'[storage]\nendpoint_url = "{config.storage.endpoint_url}"\n'
        f'[records]\nurl = "{config.records.url}"\n'
    )
    done = subprocess.run(
        [sys.executable, "-c", script, database_url, NOW.isoformat()],
        cwd=PROJECT_ROOT,
        env={**os.environ, "USAGE_CONFIG": str(config_file)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout)["buckets_processed"] == 1
    other = make_engine(database_url)  # another server process, after a restart
    try:
        with pytest.raises(RateLimited):
            trigger(other, config, {"bucket_ids": ["globex"]}, at=minutes(2))
        with pytest.raises(RateLimited):
            trigger(store, config, {"bucket_ids": ["globex"]}, at=minutes(3))
    finally:
        other.dispose()


def _race(engines: list[Engine], config: CollectConfig, at: dt.datetime) -> list[str]:
    """Each engine triggers globex at the same moment; what each one got."""
    barrier = threading.Barrier(len(engines))
    answers: list[str] = []

    def one(engine: Engine) -> None:
        barrier.wait()
        try:
            trigger(engine, config, {"bucket_ids": ["globex"]}, at=at)
            answers.append("ran")
        except RateLimited:
            answers.append("limited")

    threads = [threading.Thread(target=one, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(answers)


def test_two_racing_triggers_run_the_bucket_once(
    store: Engine, config: CollectConfig, database_url: str
) -> None:
    engines = [store, make_engine(database_url)]  # as two server processes would
    try:
        for round_ in range(3):
            assert _race(engines, config, minutes(10 * round_)) == ["limited", "ran"]
    finally:
        engines[1].dispose()


def test_without_configuration_the_trigger_is_unavailable_naming_the_setting(
    store: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("USAGE_CONFIG", "USAGE_RECORDS_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CollectionUnavailableError) as caught:
        run_trigger(store, b"", principal=LOCAL_ADMIN, now=NOW)
    assert caught.value.status == 503
    assert caught.value.message.startswith(
        "collection is not configured: records.url is missing: set url in [records] of"
    )
