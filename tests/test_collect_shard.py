"""``collect --shard K/N`` and the command line's claims: machines given
overlapping work split it, each client stored once and whole."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.collect_processes import Machine, finish, progress_lines
from tests.collect_support import BUCKETS, expected_usage, make_records_database, write_config_file
from tests.conftest import Cli, new_database_url
from tests.factories import new_client
from tests.s3_server import PROJECT_ROOT, Buckets, ObjectGroup, S3Server, running_s3
from usage.collect.runs import list_runs
from usage.collect.shards import Shard, parse_shard, shard_index
from usage.errors import InvalidParams
from usage.history import read_history
from usage.models import STANDARD_COLLECTIONS

SHOP: Buckets = {
    "globex": BUCKETS["globex"],
    "empty-co": [],
    "slow-co": BUCKETS["slow-co"],  # a listing that takes a while: the runs overlap
    "initech": [ObjectGroup("docs/", 40, 50), ObjectGroup("", 2, 5)],
    "umbrella": [ObjectGroup("images/", 25, 300)],
    "hooli": [ObjectGroup("a/b/", 10, 1)],
    "stark-co": [ObjectGroup("x/", 5, 7)],
    # missing-co has no bucket: it fails
}
RECORDS = {
    "globex": {"person": 7, "donation": 3},
    "empty-co": {},
    "slow-co": {"booking": 1},
    "initech": {"person": 4},
    "umbrella": {"event": 2},
    "hooli": {},
    "stark-co": {"payment": 5},
    "missing-co": {},
}
# Worked out once from the documented hash (SHA-256, first 8 bytes, big-endian).
SHARD_OF_2 = {
    "empty-co": 2, "globex": 2, "hooli": 2, "initech": 2,
    "slow-co": 1, "stark-co": 1, "umbrella": 1,
}  # fmt: skip
SHARD_OF_3 = {
    "empty-co": 1, "globex": 2, "hooli": 3, "initech": 2,
    "slow-co": 2, "stark-co": 3, "umbrella": 3,
}  # fmt: skip


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3(SHOP) as server:
        yield server


@pytest.fixture
def config_file(s3: S3Server, request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Path:
    records_url = new_database_url(request, backend, tmp_path)
    make_records_database(records_url, RECORDS)
    return write_config_file(tmp_path / "usage.toml", s3.endpoint_url, records_url)


@pytest.fixture
def store(engine: Engine) -> Engine:
    with Session(engine) as session, session.begin():
        for bucket_id in SHOP:
            new_client(session, bucket_id, "trial" if bucket_id == "hooli" else "active")
        new_client(session, "wayne-co", "inactive")  # never collected by default
    return engine


@pytest.fixture
def cli(cli: Cli, s3: S3Server, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name, value in {**s3.env, "USAGE_CONFIG": str(config_file)}.items():
        monkeypatch.setenv(name, value)
    return cli


def history(engine: Engine, bucket_id: str) -> list[dict[str, object]]:
    with Session(engine) as session:
        return [
            dict(snapshot)
            for snapshot in read_history(session, bucket_id, None, None, None, visible=None)
        ]


def assert_whole(engine: Engine, bucket_id: str, today: dt.date) -> None:
    """One snapshot of today, exactly the sources' figures."""
    (stored,) = history(engine, bucket_id)
    records = {**dict.fromkeys(STANDARD_COLLECTIONS, 0), **RECORDS[bucket_id]}
    usage = expected_usage(SHOP[bucket_id])
    assert stored["snapshot_date"] == today.isoformat()
    assert stored["records"] == {**records, "total": sum(records.values())}
    assert stored["storage"] == {
        "object_count": sum(count for count, _ in usage.values()),
        "total_bytes": sum(size for _, size in usage.values()),
        "by_prefix": {p: {"count": c, "bytes": b} for p, (c, b) in usage.items()},
    }


@pytest.mark.parametrize(
    ("raw", "shard"),
    [(None, None), ("1/1", Shard(1, 1)), ("2/4", Shard(2, 4)), (" 3 / 3 ", Shard(3, 3)),
     ("10000/10000", Shard(10000, 10000))],
)  # fmt: skip
def test_shard_accepted(raw: str | None, shard: Shard | None) -> None:
    assert parse_shard(raw) == shard


@pytest.mark.parametrize("raw", ["", "0/4", "5/4", "1/0", "-1/2", "4", "a/b", "1/2/3", "1/10001"])
def test_shard_refused_naming_the_option(raw: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_shard(raw)
    assert caught.value.message == (
        "--shard must be K/N, whole numbers with 1 <= K <= N <= 10000"
        f" (e.g. --shard 2/4), not {raw!r}"
    )


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_each_client_is_in_exactly_one_shard(count: int) -> None:
    names = [f"client-{i:04d}" for i in range(500)]
    shards = [Shard(number, count) for number in range(1, count + 1)]
    homes = [[shard for shard in shards if shard.holds(name)] for name in names]
    assert all(len(home) == 1 for home in homes)
    sizes = [sum(home == [shard] for home in homes) for shard in shards]
    assert min(sizes) > 500 / count * 0.7  # a hash, not a split by name or length


def test_the_shards_are_the_same_in_every_process() -> None:
    """Not Python's hash(), which changes with PYTHONHASHSEED."""
    script = (
        "import json, sys\n"
        "from usage.collect.shards import shard_index\n"
        "print(json.dumps({name: [shard_index(name, 2) + 1, shard_index(name, 3) + 1]"
        " for name in sys.argv[1:]}))\n"
    )
    seen = []
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", script, *SHARD_OF_2],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        seen.append(json.loads(done.stdout))
    expected = {name: [SHARD_OF_2[name], SHARD_OF_3[name]] for name in SHARD_OF_2}
    assert seen == [expected, expected]
    assert {name: shard_index(name, 2) + 1 for name in SHARD_OF_2} == SHARD_OF_2


def test_a_shard_of_the_named_clients(cli: Cli, store: Engine, utc_today: dt.date) -> None:
    code, out, err = cli("collect", "--shard", "2/2", "--bucket", "globex", "--bucket", "slow-co")
    assert code == 0
    assert out.startswith(
        f"collected {utc_today.isoformat()} (shard 2/2): 1 processed, 0 failed, in "
    )
    assert progress_lines(err) == {"globex": "ok"}  # slow-co is in shard 1
    assert history(store, "slow-co") == []


def test_a_shard_of_every_active_and_trial_client(
    cli: Cli, store: Engine, utc_today: dt.date
) -> None:
    code, _, err = cli("collect", "--shard", "3/3")
    assert code == 0
    assert set(progress_lines(err)) == {"hooli", "stark-co", "umbrella"}
    for bucket_id in ("hooli", "stark-co", "umbrella"):
        assert_whole(store, bucket_id, utc_today)


@pytest.mark.parametrize("raw", ["0/3", "4/3", "three"])
def test_a_bad_shard_is_one_line_exit_2(cli: Cli, store: Engine, raw: str) -> None:
    code, out, err = cli("collect", "--shard", raw)
    assert (code, out) == (2, "")
    assert err == (
        "error: --shard must be K/N, whole numbers with 1 <= K <= N <= 10000"
        f" (e.g. --shard 2/4), not {raw!r}\n"
    )


def test_a_client_just_collected_is_skipped_unless_forced(
    cli: Cli, store: Engine, utc_today: dt.date
) -> None:
    assert cli("collect", "--bucket", "globex")[0] == 0
    code, out, err = cli("collect", "--bucket", "globex", "--bucket", "initech")
    assert code == 0
    assert ": 1 processed, 0 failed, 1 skipped, in " in out
    assert progress_lines(err) == {
        "globex": "skipped: collected less than 5 minutes ago (--force collects it again)",
        "initech": "ok",
    }
    assert "skipped: globex: collected less than 5 minutes ago" in err
    first = history(store, "globex")
    code, out, err = cli("collect", "--bucket", "globex", "--force")
    assert (code, progress_lines(err)) == (0, {"globex": "ok"})
    assert str(history(store, "globex")[0]["computed_at"]) >= str(first[0]["computed_at"])
    # Another day (a backfill) is another piece of work.
    yesterday = (utc_today - dt.timedelta(days=1)).isoformat()
    code, out, err = cli("collect", "--bucket", "globex", "--date", yesterday)
    assert (code, progress_lines(err)) == (0, {"globex": "ok"})


def test_a_failed_client_is_tried_again_at_once(cli: Cli, store: Engine) -> None:
    """Only a success counts: a retry (a Kubernetes Job's, say) redoes the failures."""
    with Session(store) as session, session.begin():
        new_client(session, "missing-co")
    for _ in range(2):
        code, _, err = cli("collect", "--bucket", "missing-co", "--bucket", "globex")
        results = progress_lines(err)
        assert code == 1
        assert results["missing-co"] == "FAILED: bucket 'missing-co' does not exist"
    assert results["globex"].startswith("skipped: collected less than 5 minutes ago")


def test_machines_given_overlapping_work_store_each_client_once(
    store: Engine, database_url: str, s3: S3Server, config_file: Path, utc_today: dt.date
) -> None:
    """Four processes at once: the two halves, everything, and a list that
    overlaps both halves. Whoever claims a client first collects it; the
    others skip it, while it runs or once it is stored."""
    machine = Machine(database_url, s3, config_file)
    processes = {
        "half 1": machine.start("--shard", "1/2"),
        "half 2": machine.start("--shard", "2/2"),
        "all": machine.start(),
        "list": machine.start("--bucket", "slow-co", "--bucket", "globex", "--bucket", "hooli"),
    }
    results = {name: finish(process) for name, process in processes.items()}
    assert {name: code for name, (code, _, _) in results.items()} == dict.fromkeys(processes, 0)
    lines = {name: progress_lines(err) for name, (_, _, err) in results.items()}
    assert set(lines["half 1"]) == {name for name, shard in SHARD_OF_2.items() if shard == 1}
    assert set(lines["half 2"]) == {name for name, shard in SHARD_OF_2.items() if shard == 2}
    assert set(lines["all"]) == set(SHOP)
    for bucket_id in SHOP:
        outcomes = [lines[name][bucket_id] for name in lines if bucket_id in lines[name]]
        assert outcomes.count("ok") == 1, (bucket_id, outcomes)
        assert all(
            outcome == "ok"
            or outcome.startswith("skipped: another run is collecting it (heartbeat ")
            or outcome.startswith("skipped: collected less than 5 minutes ago")
            for outcome in outcomes
        ), outcomes
        assert_whole(store, bucket_id, utc_today)
    summaries = [out.split(": ", 1)[1] for _, out, _ in results.values()]
    assert sum(int(summary.split(" processed")[0]) for summary in summaries) == len(SHOP)
    with Session(store) as session:
        runs = {run["bucket_id"]: run for run in list_runs(session, visible=None)}
    assert {runs[name]["run_status"] for name in SHOP} == {"succeeded"}
    assert runs["wayne-co"]["run_status"] == "never"
