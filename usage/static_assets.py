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
gives it (type, length, ETag, Last-Modified, the year's cache). Anything
else goes on to the app as before: another path or method, a conditional
or ranged request (Streamlit answers those its own way), a path Streamlit's
checks refuse or tidy (it never names a file exactly, so it is never found
here), an HTML file (Streamlit's are not cached), a file gone since the
folder was listed, and every request in Streamlit's development mode (which
serves no files).

Each file is read once, when first asked for, on the event loop (the
largest, plotly's 4.7 MB, in a few milliseconds from the page cache), and
kept: at most the folder's 25 MB a process, about 8 MB once every page has
been opened. This is the server's own cache of Streamlit's files, not of
data: nothing in it changes while the server runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from starlette.responses import FileResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from usage.deep_links import BasePath, streamlit_base_path
from usage.preload import streamlit_static_js

# As Streamlit's handler: hashed names, so the files never change under them.
CACHE_CONTROL = "public, immutable, max-age=31536000"
# Request headers that Streamlit answers its own way (304s, partial content).
_PASSED_ON = frozenset((b"range", b"if-none-match", b"if-modified-since", b"if-range"))
# Files Streamlit's handler serves with "no-cache": left to it.
_NOT_CACHED = re.compile(r"(?:\.html$|^manifest\.json$)")

Headers = list[tuple[bytes, bytes]]


def streamlit_static_dir() -> Path:
    """The folder Streamlit serves as ``/static``: its JS, CSS and media."""
    return streamlit_static_js().parent


def streamlit_development_mode() -> bool:
    """Streamlit's ``global.developmentMode``: its server serves no files then."""
    from streamlit import config

    return bool(config.get_option("global.developmentMode"))


class StaticAssets:
    """``app`` with Streamlit's ``/static/...`` files answered in front of it."""

    def __init__(
        self,
        app: ASGIApp,
        directory: Callable[[], Path] = streamlit_static_dir,
        base_path: BasePath = streamlit_base_path,
        development_mode: Callable[[], bool] = streamlit_development_mode,
    ) -> None:
        self.app = app
        self._directory = directory
        self._base_path = base_path
        self._development_mode = development_mode
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
        path = _route_path(scope)
        base = self._base_path()
        if base:
            if not path.startswith(f"/{base}/"):
                return None
            path = path[len(base) + 1 :]
        if not path.startswith("/static/"):
            return None
        if any(name in _PASSED_ON for name, _ in scope["headers"]):
            return None
        found = self._answers.get(path)
        if found is None:
            file = self._files().get(path)
            if file is None:
                return None
            try:
                found = self._answers[path] = _read(file)
            except OSError:  # gone since the listing (Streamlit upgraded under the server)
                return None
        return found

    def _files(self) -> dict[str, Path]:
        """Every file under the folder by its URL path, listed on first use;
        none in Streamlit's development mode."""
        if self._names is None:
            root = self._directory()
            self._names = {} if self._development_mode() else {
                "/static/" + file.relative_to(root).as_posix(): file
                for file in sorted(root.rglob("*"))
                if file.is_file() and not _NOT_CACHED.search(file.name)
            }  # fmt: skip
        return self._names


def _route_path(scope: Scope) -> str:
    """The path below the ASGI ``root_path`` (``uvicorn --root-path``), as
    Starlette's router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root + "/") else path


def _read(file: Path) -> tuple[Headers, bytes]:
    """The file's body, and the headers Starlette's ``FileResponse`` makes
    for it (as Streamlit's handler does) with Streamlit's cache header."""
    response = FileResponse(file, stat_result=os.stat(file))
    response.headers["cache-control"] = CACHE_CONTROL
    return response.raw_headers, file.read_bytes()
