"""Start the real server (``streamlit run app.py``) on a free port for a test."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def wait_until_healthy(
    process: subprocess.Popen[Any], base: str, timeout: float, path: str = "/_stcore/health"
) -> None:
    """Return once the server at ``base`` answers 200 at ``path`` (its health
    check); raise if it exits first or does not answer within ``timeout``
    seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else b""
            text = output.decode() if isinstance(output, bytes) else output
            raise RuntimeError(f"the server exited early:\n{text}")
        try:
            if httpx.get(f"{base}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer on {base} in {timeout}s")
        time.sleep(0.3)


def stop_process(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Terminate, kill if it lingers, and close its output pipe."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    database_url: str,
    command: str = "streamlit",
    timeout: float = 60.0,
    workers: int = 1,
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
    log: Path | None = None,
    port: int | None = None,
    root: Path = PROJECT_ROOT,
    base_path: str = "",
) -> Iterator[str]:
    """Serve the app of the checkout at ``root`` on ``database_url``; yields
    the base URL.

    ``command`` is ``streamlit`` (``streamlit run app.py``) or ``uvicorn``
    (``uvicorn app:app --workers N``), with ``extra_args`` after; the
    server's output goes to ``log`` when given. ``port`` is a free port
    when not given (a test that must name it before the server starts, in a
    redirect URI, takes one from ``free_port``). With ``base_path``
    (``streamlit`` only: ``uvicorn app:app`` serves Streamlit's routes at
    the root whatever the setting) the server is under that
    ``server.baseUrlPath``, and the URL yielded ends with it.
    """
    port = free_port() if port is None else port
    env = {**os.environ, **(env or {}), "USAGE_DATABASE_URL": database_url}
    base_path = base_path.strip("/")
    if base_path and command != "streamlit":
        raise ValueError(f"a base URL path is for streamlit run, not {command}")
    if command == "streamlit":
        args = [sys.executable, "-m", "streamlit", "run", "app.py",
                "--server.port", str(port), "--server.address", "127.0.0.1",
                "--server.headless", "true"]  # fmt: skip
        if base_path:
            args += ["--server.baseUrlPath", base_path]
    else:
        args = [sys.executable, "-m", "uvicorn", "app:app", "--workers", str(workers),
                "--port", str(port), "--host", "127.0.0.1"]  # fmt: skip
    with contextlib.ExitStack() as files:
        output = files.enter_context(log.open("wb")) if log is not None else subprocess.PIPE
        process = subprocess.Popen(
            [*args, *extra_args], cwd=root, env=env, stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}" + (f"/{base_path}" if base_path else "")
        try:
            wait_until_healthy(process, base, timeout)
            yield base
        finally:
            stop_process(process)
