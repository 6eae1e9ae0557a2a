"""``usage.deep_links.BaseUrlHint``: the page of a deep link says where the
server is (the browser test checks that Streamlit's front end then opens
every deep link without a failed request)."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from usage.deep_links import BaseUrlHint

PAGE = (
    b"<html><head><script>x</script>\n"
    b'<script type="module" src="./static/js/index.js"></script></head><div id="root"></div></html>'
)
HINT = b"BACKEND_BASE_URL"


def inner_app(
    body: bytes, content_type: bytes = b"text/html; charset=utf-8", **extra: bytes
) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                   (b"etag", b'"abc"'), *[(k.encode(), v) for k, v in extra.items()]]  # fmt: skip
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        half = len(body) // 2  # in two messages, as a server may send it
        await send({"type": "http.response.body", "body": body[:half], "more_body": True})
        await send({"type": "http.response.body", "body": body[half:]})

    return app


def get(
    app: Any, path: str, method: str = "GET", base: str = "", head: bytes = b""
) -> tuple[dict[bytes, bytes], bytes]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "headers": [], "query_string": b""}  # fmt: skip
    asyncio.run(BaseUrlHint(app, lambda: base, lambda _: head)(scope, receive, send))
    headers = dict(sent[0]["headers"])
    body = b"".join(message.get("body", b"") for message in sent[1:])
    assert int(headers[b"content-length"]) == len(body)
    return headers, body


def test_a_deep_link_page_gets_the_hint_before_streamlits_script() -> None:
    headers, body = get(inner_app(PAGE), "/client")
    hint = body.index(HINT)
    assert body.index(b's="/client"') < hint < body.index(b'<script type="module"')
    assert (
        body.replace(
            body[body.index(b"<script>(function") : body.index(b'<script type="module"')], b""
        )
        == PAGE
    )
    assert b"etag" not in headers  # other bytes than the file's


def test_a_gzipped_page_is_hinted_and_gzipped_again() -> None:
    headers, body = get(inner_app(gzip.compress(PAGE), **{"content-encoding": b"gzip"}), "/people")
    assert headers[b"content-encoding"] == b"gzip"
    assert HINT in gzip.decompress(body)


def test_the_root_other_answers_and_other_methods_pass_untouched() -> None:
    for app, path, method in (
        (inner_app(PAGE), "/", "GET"),  # the base URL itself: nothing to probe
        (inner_app(PAGE), "/client", "HEAD"),
        (inner_app(b'{"a": 1}', b"application/json"), "/client", "GET"),
        (inner_app(b"<html>no module script</html>"), "/client", "GET"),
    ):
        headers, body = get(app, path, method)
        assert HINT not in body, (path, method)
        assert headers[b"etag"] == b'"abc"'


def test_a_path_cannot_close_the_script() -> None:
    _, body = get(inner_app(PAGE), "/</script><script>alert(1)//")
    assert b"</script><script>alert" not in body
    assert b"\\u003c/script>" in body


def test_the_page_part_is_after_streamlits_base_url_path() -> None:
    _, body = get(inner_app(PAGE), "/usage/client", base="usage")
    assert b's="/client"' in body
    _, body = get(inner_app(PAGE), "/usage/", base="usage")
    assert HINT not in body


def test_a_path_of_more_parts_loads_the_scripts_from_the_servers_base() -> None:
    """From /client/x, Streamlit's relative script URLs fell under /client/
    (the page again: a blank page); a ``<base>`` first in the head takes them
    back to the server's base, however deep the path."""
    for path, base in (("/client/x", b"../"), ("/a/b/c", b"../../"), ("/client/", b"../")):
        _, body = get(inner_app(PAGE), path)
        assert body.startswith(b'<html><head><base href="' + base + b'">'), path
        assert body.count(b"<base") == 1
    for path in ("/client", "/people"):
        _, body = get(inner_app(PAGE), path)
        assert b"<base" not in body, path
    _, body = get(inner_app(PAGE), "/usage/client/x", base="usage")
    assert b'<base href="../">' in body
