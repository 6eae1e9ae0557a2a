"""Deep links that open without a failed request: the page tells Streamlit's
front end where its server is.

Opened at ``/client``, Streamlit's front end does not know whether ``/client``
is a page or the server's base URL (a dashboard served under a prefix), so
it tries the path first: ``/client/_stcore/health`` and
``/client/_stcore/host-config`` answer 404, two errors in the browser's
console on every deep link, and a round trip before the page starts. The
front end reads a setting for this, ``window.__streamlit.BACKEND_BASE_URL``;
``BaseUrlHint`` writes it into the HTML page Streamlit serves for every page
path (its ``index.html``), worked out in the browser: the address bar's path
less the page's own part (the path the server saw, less
``server.baseUrlPath``). A proxy that serves the dashboard under a prefix of
its own therefore keeps working, and a path that does not end as the server
saw it gets no hint (the front end then probes as before).

A path of more than one part (``/client/x``, a mistyped or truncated link)
gets a ``<base>`` too: Streamlit's page loads its scripts by relative URLs
(``./static/...``), which from ``/client/x`` fall under ``/client/`` and
answer the page again, so the browser stayed on a blank page with a module
error per script. With ``<base href="../">`` they load from the server's
base, and the front end opens the Portfolio as for any unknown page.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_MODULE_SCRIPT = b'<script type="module"'
_HEAD = b"<head>"
# The hint's script: ``%s`` is the page's own part of the path, as JSON.
_SCRIPT = (
    b"<script>(function(){var p=location.pathname,s=%s,w=window.__streamlit;"
    b"if(p.length>=s.length&&p.slice(p.length-s.length)===s&&!(w&&w.BACKEND_BASE_URL))"
    b"{window.__streamlit=Object.assign({},w,"
    b"{BACKEND_BASE_URL:location.origin+p.slice(0,p.length-s.length)+'/'});}})()</script>\n    "
)

BasePath = Callable[[], str]
Head = Callable[[str], bytes]  # more of the head of the page at this part of the path


def streamlit_base_path() -> str:
    """Streamlit's ``server.baseUrlPath``, without its slashes ("" at the root)."""
    from streamlit import config

    return str(config.get_option("server.baseUrlPath") or "").strip("/")


class BaseUrlHint:
    """Adds the hint to Streamlit's HTML page for a deep link (any path
    other than the base URL itself), and ``head(page part)`` (more of the
    page's head: ``ui.nav.page_preload``) to every HTML page, the base URL's
    included; every other answer passes untouched."""

    def __init__(
        self, app: ASGIApp, base_path: BasePath = streamlit_base_path, head: Head = lambda _: b""
    ) -> None:
        self.app = app
        self._base_path = base_path
        self._head = head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = _page_part(scope, self._base_path()) if scope["type"] == "http" else None
        head = self._head(page) if page is not None else b""
        if page is None or (page == "" and not head):
            await self.app(scope, receive, send)
            return
        held: Message | None = None  # an HTML answer's start, until its body is whole
        chunks: list[bytes] = []

        async def hinting(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and _is_html(message):
                held = message
            elif held is None:
                await send(message)
            else:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await _send_hinted(send, held, b"".join(chunks), page, head)

        await self.app(scope, receive, hinting)


def _page_part(scope: Scope, base_path: str) -> str | None:
    """The part of a GET's path after the server's base URL, as the browser
    sent it (percent-encoded, as ``location.pathname`` has it): "" for the
    base URL itself, None for other methods and paths outside it."""
    if scope["method"] != "GET":
        return None
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    prefix = "/" + base_path if base_path else ""
    if prefix:
        if not path.startswith(prefix + "/"):
            return None
        path = path[len(prefix) :]
    return "" if path in ("", "/") else path


def _is_html(start: Message) -> bool:
    if start.get("status") != 200:
        return False
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-type":
            return bool(value.startswith(b"text/html"))
    return False


async def _send_hinted(send: Send, start: Message, body: bytes, page: str, head: bytes) -> None:
    headers = list(start.get("headers", ()))
    encoding = next((value for name, value in headers if name.lower() == b"content-encoding"), None)
    zipped = encoding == b"gzip"
    text = gzip.decompress(body) if zipped else body
    if encoding in (None, b"gzip", b"identity") and _MODULE_SCRIPT in text:
        # "<" escaped: a path cannot close the script.
        hint = _SCRIPT % orjson.dumps(page).replace(b"<", b"\\u003c") if page else b""
        text = text.replace(_MODULE_SCRIPT, head + hint + _MODULE_SCRIPT, 1)
        depth = page.count("/") - 1  # "/client/x": its relative URLs start one part up
        if depth > 0:
            text = text.replace(_HEAD, _HEAD + b'<base href="%s">' % (b"../" * depth), 1)
        body = gzip.compress(text, compresslevel=5) if zipped else text
        # Other bytes: the file's validator no longer names them.
        headers = [(name, value) for name, value in headers if name.lower() != b"etag"]
    headers = [(name, value) for name, value in headers if name.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})
