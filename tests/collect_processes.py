"""``python -m usage collect`` in processes of its own, as several machines
would run it: against one store, one S3 server and one records database."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.s3_server import PROJECT_ROOT, S3Server
from usage.models import Client, CollectionRun

WAIT_SECONDS = 120  # for a condition that a loaded machine takes long to meet


@dataclass(frozen=True)
class Machine:
    """What a collecting process needs: the store, the S3 server, the settings file."""

    database_url: str
    s3: S3Server
    config_file: Path

    def start(self, *args: str, **settings: str) -> subprocess.Popen[str]:
        """``python -m usage collect ARGS``, with ``settings`` as environment
        variables (e.g. USAGE_COLLECT_LEASE_SECONDS="2")."""
        env = {
            **os.environ,
            **self.s3.env,
            **settings,
            "USAGE_DATABASE_URL": self.database_url,
            "USAGE_CONFIG": str(self.config_file),
            "PYTHONPATH": str(PROJECT_ROOT),
        }
        return subprocess.Popen(
            [sys.executable, "-m", "usage", "collect", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=WAIT_SECONDS)
    return process.returncode, out, err


def kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL, as a machine that dies: no cleanup runs in it."""
    process.kill()
    process.communicate()


def progress_lines(err: str) -> dict[str, str]:
    """bucket_id -> its progress line's result ("ok", "FAILED: ...", "skipped: ...")."""
    results = {}
    for line in err.splitlines():
        if line.startswith("["):
            _, bucket_id, result = line.split(" ", 2)
            results[bucket_id] = result
    return results


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_SECONDS} s for {what}")
        time.sleep(0.05)


def run_row(engine: Engine, bucket_id: str) -> CollectionRun | None:
    with Session(engine) as session:
        return session.scalars(
            select(CollectionRun).join(Client).where(Client.bucket_id == bucket_id)
        ).first()


def as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
