"""A real S3 API for the tests and the benchmark: moto's server, in a process of its own.

``running_s3(buckets)`` starts ``python -m tests.s3_server SPEC`` on a free
port and yields its endpoint. The child fills the buckets in process before it
serves (uploading thousands of objects over HTTP takes minutes on two cores),
then serves moto's S3 API over HTTP exactly as ``moto_server`` does, with two
faults for the tests to meet:

- listing a bucket named ``broken-...`` fails with HTTP 500 InternalError from
  its second page on: a listing that fails midway;
- each listing page of a bucket named ``slow-...`` is held for
  ``SLOW_PAGE_SECONDS``: a collection that takes a while.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from tests.live_server import stop_process

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # moto accepts any credentials
SLOW_PAGE_SECONDS = 0.4


@dataclass(frozen=True)
class ObjectGroup:
    """``count`` objects named ``prefix`` + a number; object i has ``size + i % 17`` bytes."""

    prefix: str
    count: int
    size: int = 100

    def objects(self) -> Iterator[tuple[str, int]]:
        for i in range(self.count):
            yield f"{self.prefix}{i:06d}.bin", self.size + i % 17

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.objects())


Buckets = dict[str, list[ObjectGroup]]


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    @property
    def env(self) -> dict[str, str]:
        """The AWS environment a collection reads its credentials from."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        }


@contextmanager
def running_s3(buckets: Buckets) -> Iterator[S3Server]:
    with tempfile.TemporaryDirectory() as directory:
        spec = Path(directory) / "buckets.json"
        spec.write_text(
            json.dumps(
                {name: [asdict(group) for group in groups] for name, groups in buckets.items()}
            )
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.s3_server", str(spec)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # "port N" once the buckets are full
            if not line.startswith("port "):
                raise RuntimeError(f"the S3 server did not start (exit {process.poll()})")
            yield S3Server(f"http://127.0.0.1:{int(line.split()[1])}")
        finally:
            stop_process(process)


def _fill(buckets: dict[str, list[dict[str, Any]]]) -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for name, groups in buckets.items():
        backend.create_bucket(name, REGION)
        for group in groups:
            for key, size in ObjectGroup(**group).objects():
                backend.put_object(name, key, b"\0" * size)


class _Faults:
    """WSGI middleware: the faults of the module docstring, around moto's app."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        bucket = unquote(environ.get("PATH_INFO", "")).lstrip("/").split("/", 1)[0]
        query = parse_qs(environ.get("QUERY_STRING", ""))
        listing = environ.get("REQUEST_METHOD") == "GET" and "list-type" in query
        if listing and bucket.startswith("slow-"):
            time.sleep(SLOW_PAGE_SECONDS)
        if listing and bucket.startswith("broken-") and "continuation-token" in query:
            body = (
                b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
                b"<Message>We encountered an internal error. Please try again.</Message></Error>"
            )
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
            )
            return [body]
        result: Iterable[bytes] = self.app(environ, start_response)
        return result


def _serve(spec: Path) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    _fill(json.loads(spec.read_text()))
    app = _Faults(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"port {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    _serve(Path(sys.argv[1]))
