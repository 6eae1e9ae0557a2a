"""Real receivers of alerts on loopback: an HTTP server that records each
webhook and checks its signature, and an SMTP server (aiosmtpd) that
records each mail."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from aiosmtpd.controller import Controller

from tests.live_server import free_port

SECRET = "a shared secret"


@dataclass(frozen=True)
class Webhook:
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool  # the signature header is the body's HMAC under SECRET

    @property
    def json(self) -> Any:
        return orjson.loads(self.body)


class WebhookServer:
    """Answers ``/ok/...`` and ``/slack/...`` with 204, ``/fail/...`` with 500,
    and ``/hang/...`` not at all (until the server stops); records every
    request it reads."""

    def __init__(self) -> None:
        self.received: list[Webhook] = []
        self.released = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                signature = self.headers.get("X-Usage-Signature", "")
                with server._lock:
                    server.received.append(
                        Webhook(
                            self.path,
                            dict(self.headers.items()),
                            body,
                            hmac.compare_digest(signature, expected),
                        )
                    )
                if self.path.startswith("/hang"):
                    server.released.wait(30)
                    return
                status = 500 if self.path.startswith("/fail") else 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def at(self, prefix: str) -> list[Webhook]:
        with self._lock:
            return [hook for hook in self.received if hook.path.startswith(prefix)]


@contextmanager
def running_webhooks() -> Iterator[WebhookServer]:
    server = WebhookServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.released.set()
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join()


@dataclass(frozen=True)
class Mail:
    sender: str
    recipients: list[str]
    message: Message

    @property
    def text(self) -> str:
        payload = self.message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode()


class _Recorder:
    def __init__(self) -> None:
        self.mails: list[Mail] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.mails.append(
            Mail(envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content))
        )
        return "250 Message accepted"


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    mails: list[Mail]


@contextmanager
def running_smtp() -> Iterator[SmtpServer]:
    recorder = _Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, recorder.mails)
    finally:
        controller.stop()
