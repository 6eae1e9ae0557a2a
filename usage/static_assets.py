"""Streamlit's front-end files, served from memory ahead of its stack.

Every page open fetches 60 to 110 of Streamlit's built modules
(``/static/js/*.js``, its CSS and fonts): files with a hash in their names,
served for a year, immutable. Through ``st.App`` each one passes a dozen
layers (proxy headers, Starlette's error layer, the path checks, the session
cookie, gzip's bypass, the router, ``StaticFiles`` with a worker thread to
open the file), about 1 ms of the server's CPU a file: 110 ms a Collection
open, measured with py-spy, on the 2 cores the browser needs to draw that
page. ``StaticAssets``, around ``st.App``, answers a plain ``GET`` or
``HEAD`` of one of those files itself, with the headers Streamlit's handler
gives it (type, length, ETag, Last-Modified, the year's cache), each file
read once, when first asked for. Anything else goes on to the app as
before: another path or method, a conditional or ranged request (Streamlit
answers those its own way), a path Streamlit's checks refuse (it never
names a file exactly, so it is never found here).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from usage.deep_links import BasePath, streamlit_base_path
from usage.preload import streamlit_static_js

# As Streamlit's handler: hashed names, so the files never change under them.
CACHE_CONTROL = b"public, immutable, max-age=31536000"
# Request headers that Streamlit answers its own way (304s, partial content).
_PASSED_ON = frozenset((b"range", b"if-none-match", b"if-modified-since", b"if-range"))

Headers = list[tuple[bytes, bytes]]


def streamlit_static_dir() -> Path:
    """The folder Streamlit serves as ``/static``: its JS, CSS and media."""
    return streamlit_static_js().parent


class StaticAssets:
    """``app`` with Streamlit's ``/static/...`` files answered in front of it."""

    def __init__(
        self,
        app: ASGIApp,
        directory: Callable[[], Path] = streamlit_static_dir,
        base_path: BasePath = streamlit_base_path,
    ) -> None:
        self.app = app
        self._directory = directory
        self._base_path = base_path
        self._names: dict[str, Path] | None = None  # "/static/js/x.js" -> its file
        self._answers: dict[str, tuple[Headers, bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._answer(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        headers, body = found
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": body if scope["method"] == "GET" else b""}
        )

    def _answer(self, scope: Scope) -> tuple[Headers, bytes] | None:
        if scope["method"] not in ("GET", "HEAD"):
            return None
        path: str = scope["path"]
        base = self._base_path()
        if base:
            if not path.startswith(f"/{base}/"):
                return None
            path = path[len(base) + 1 :]
        if not path.startswith("/static/"):
            return None
        found = self._answers.get(path)
        if found is None:
            file = self._files().get(path)
            if file is None:
                return None
            found = self._answers[path] = _read(file)
        return None if any(name in _PASSED_ON for name, _ in scope["headers"]) else found

    def _files(self) -> dict[str, Path]:
        """Every file under the folder by its URL path, listed on first use."""
        if self._names is None:
            root = self._directory()
            self._names = {
                "/static/" + file.relative_to(root).as_posix(): file
                for file in sorted(root.rglob("*"))
                if file.is_file()
            }
        return self._names


def _read(file: Path) -> tuple[Headers, bytes]:
    """The file's body and headers, as Starlette's ``FileResponse`` makes
    them (type by ``mimetypes``, as Streamlit has set it up), with
    Streamlit's cache header."""
    body = file.read_bytes()
    stat = os.stat(file)
    content_type = mimetypes.guess_type(file.name)[0] or "text/plain"
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    tag = hashlib.md5(f"{stat.st_mtime}-{stat.st_size}".encode(), usedforsecurity=False)
    headers = [
        (b"content-type", content_type.encode()),
        (b"accept-ranges", b"bytes"),
        (b"content-length", str(len(body)).encode()),
        (b"last-modified", formatdate(stat.st_mtime, usegmt=True).encode()),
        (b"etag", f'"{tag.hexdigest()}"'.encode()),
        (b"cache-control", CACHE_CONTROL),
    ]
    return headers, body
