"""``python -m usage collect``: progress, summary, exit codes and bad settings."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.collect_support import BUCKETS, make_records_database, write_config_file
from tests.conftest import Cli, new_database_url
from tests.factories import new_client
from tests.s3_server import PROJECT_ROOT, S3Server, running_s3
from usage.collect.progress import ProgressBar
from usage.collect.runner import Outcome
from usage.collect.runs import list_runs
from usage.history import read_history


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3({name: BUCKETS[name] for name in ("globex", "empty-co")}) as server:
        yield server


@pytest.fixture
def cli(
    cli: Cli,
    s3: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
) -> Cli:
    """The command line (conftest's) with collection configured by a usage.toml file."""
    records_url = new_database_url(request, backend, tmp_path)
    make_records_database(records_url)
    config = write_config_file(tmp_path / "usage.toml", s3.endpoint_url, records_url)
    for name, value in {**s3.env, "USAGE_CONFIG": str(config)}.items():
        monkeypatch.setenv(name, value)
    return cli


@pytest.fixture
def clients(engine: Engine) -> Engine:
    with Session(engine) as session, session.begin():
        new_client(session, "globex")
        new_client(session, "empty-co", "trial")
        new_client(session, "missing-co", "suspended")
    return engine


def dates(engine: Engine, bucket_id: str) -> list[str]:
    with Session(engine) as session:
        return [
            s["snapshot_date"]
            for s in read_history(session, bucket_id, None, None, None, visible=None)
        ]


def test_collect_every_active_and_trial_client_for_today(
    cli: Cli, clients: Engine, utc_today: dt.date
) -> None:
    code, out, err = cli("collect")
    assert code == 0
    assert out.startswith(f"collected {utc_today.isoformat()}: 2 processed, 0 failed, in ")
    lines = err.splitlines()  # not a terminal: a line per client, in finishing order
    assert [line.split()[0] for line in lines] == ["[1/2]", "[2/2]"]
    assert sorted(line.split(" ", 1)[1] for line in lines) == ["empty-co ok", "globex ok"]
    assert dates(clients, "globex") == [utc_today.isoformat()]
    assert dates(clients, "missing-co") == []


def test_a_failed_client_makes_the_exit_code_1(cli: Cli, clients: Engine) -> None:
    code, out, err = cli("collect", "--bucket", "missing-co", "--bucket", "globex")
    assert code == 1
    assert ": 2 processed, 1 failed, in " in out
    assert "failed: missing-co: bucket 'missing-co' does not exist\n" in err
    assert "FAILED: bucket 'missing-co' does not exist" in err  # the progress line
    with Session(clients) as session:
        runs = {run["bucket_id"]: run["run_status"] for run in list_runs(session, visible=None)}
    assert runs == {"empty-co": "never", "globex": "succeeded", "missing-co": "failed"}


def test_a_date_backfills_that_day(cli: Cli, clients: Engine) -> None:
    assert cli("collect", "--bucket", "globex", "--date", "2024-02-29")[0] == 0
    assert dates(clients, "globex") == ["2024-02-29"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["collect", "--date", "2024-02-30"],
         "error: --date must be a real calendar date in YYYY-MM-DD format"),
        (["collect", "--date", "2999-01-01"], "error: --date must not be after today"),
        (["collect", "--bucket", "no/slash"], "error: --bucket must be 1 to 64 characters"),
        (["collect", "--bucket", "nobody"], "error: client 'nobody' not found"),
        (["collect", "--workers", "3"], "python -m usage: error: unrecognized arguments"),
    ],
)  # fmt: skip
def test_bad_arguments_are_one_line_exit_2(
    cli: Cli, clients: Engine, argv: list[str], message: str
) -> None:
    code, out, err = cli(*argv)
    assert (code, out) == (2, "")
    assert err.startswith(message)
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("USAGE_RECORDS_URL", "nonsense",
         "error: records.url must be a SQLAlchemy database URL (got 'nonsense' from"
         " USAGE_RECORDS_URL)\n"),
        ("USAGE_STORAGE_LAYOUT", "shared-bucket", "error: storage.bucket is missing: "),
        ("USAGE_CONFIG", "/nonexistent/usage.toml",
         "error: USAGE_CONFIG names no readable file: /nonexistent/usage.toml\n"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_one_line_at_start_and_nothing_runs(
    cli: Cli,
    clients: Engine,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, out, err = cli("collect")
    assert (code, out) == (1, "")
    assert err.startswith(message)
    assert err.count("\n") == 1
    with Session(clients) as session:
        assert {run["run_status"] for run in list_runs(session, visible=None)} == {"never"}


def test_the_module_entry_point_reports_a_missing_setting(
    tmp_path: Path, database_url: str
) -> None:
    environ = {"PATH": "/usr/bin:/bin", "USAGE_DATABASE_URL": database_url, "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "usage", "collect"],
        cwd=tmp_path,
        env={**environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: records.url is missing: set url in [records] of ")
    assert done.stderr.count("\n") == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_progress_bar_is_redrawn_in_place() -> None:
    stream = _Terminal()
    bar = ProgressBar(2, stream)
    bar.advance(Outcome("globex", None))
    bar.advance(Outcome("acme-corp", "bucket 'acme-corp' does not exist"))
    bar.close()
    frames = stream.getvalue().split("\r")[1:]
    assert [frame.split()[1:3] for frame in frames] == [
        ["[------------------------------]", "0/2"],
        ["[###############---------------]", "1/2"],
        ["[##############################]", "2/2,"],
    ]
    assert "1 failed" in frames[-1]
    assert stream.getvalue().endswith("\n")
