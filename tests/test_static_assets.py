"""Streamlit's front-end files answered from memory, ahead of its stack, as
its own handler answers them; everything else goes on to the app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import Message, Receive, Scope, Send
from streamlit.web.server.starlette.starlette_static_routes import (
    create_streamlit_static_handler,
)

from tests.api_client import ApiClient
from tests.conftest import new_database_url
from tests.live_server import running_server
from usage.api import ApiLane
from usage.static_assets import StaticAssets, streamlit_static_dir

MODULE = b"export const answer = 42;\n"


class Recorder:
    """The app behind the lane: Streamlit's own handler of its files over the
    same folder (its cache headers, its index.html fallback), counting what
    reaches it."""

    def __init__(self, folder: Path) -> None:
        handler = create_streamlit_static_handler(str(folder), base_url=None)
        self.files = ExceptionMiddleware(handler)
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.paths.append(scope["path"])
        await self.files(scope, receive, send)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "static" / "js").mkdir(parents=True)
    (tmp_path / "static" / "css").mkdir()
    (tmp_path / "static" / "js" / "main.abc123.js").write_bytes(MODULE)
    (tmp_path / "static" / "css" / "index.def456.css").write_text("body{margin:0}")
    (tmp_path / "static" / "media").mkdir()
    (tmp_path / "static" / "media" / "data.3f2a.unknownkind").write_bytes(b"\x00\x01")
    (tmp_path / "static" / "media" / "help.html").write_text("<p>help</p>")
    (tmp_path / "index.html").write_text("<html></html>")
    return tmp_path


Lane = Callable[..., tuple[ApiClient, Recorder]]


def make_assets(folder: Path, base: str = "", development: bool = False) -> StaticAssets:
    """``StaticAssets`` over the folder, with a ``Recorder`` behind it."""
    return StaticAssets(
        Recorder(folder),
        directory=lambda: folder / "static",
        base_path=lambda: base,
        development_mode=lambda: development,
    )


@pytest.fixture
def lane(folder: Path) -> Iterator[Lane]:
    """``StaticAssets`` over the folder, at the root or under ``base``."""
    clients: list[ApiClient] = []

    def make(base: str = "", development: bool = False) -> tuple[ApiClient, Recorder]:
        assets = make_assets(folder, base, development)
        behind = assets.app
        assert isinstance(behind, Recorder)
        clients.append(ApiClient(assets))
        return clients[-1], behind

    yield make
    for client in clients:
        client.close()


@pytest.mark.parametrize(
    "path",
    [
        "/static/js/main.abc123.js",
        "/static/css/index.def456.css",
        "/static/media/data.3f2a.unknownkind",
    ],
)
def test_a_file_is_answered_with_the_headers_of_streamlits_own_answer(
    lane: Lane, folder: Path, path: str
) -> None:
    client, behind = lane()
    mine = client.get(path)
    assert behind.paths == []
    theirs = client.get(path, headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert behind.paths == [path]  # a conditional request is Streamlit's to answer
    assert mine.status_code == theirs.status_code == 200
    assert mine.content == theirs.content == (folder / path.lstrip("/")).read_bytes()
    assert mine.headers.multi_items() == theirs.headers.multi_items()
    assert mine.headers["cache-control"] == "public, immutable, max-age=31536000"


def test_head_gets_the_headers_and_no_body(lane: Lane, folder: Path) -> None:
    client, behind = lane()
    head = client.request("HEAD", "/static/js/main.abc123.js")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(MODULE))
    assert behind.paths == []


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/static/js/missing.js", {}),  # no such file: Streamlit's index.html
        ("GET", "/index.html", {}),  # outside /static: the app's own
        ("GET", "/static/media/help.html", {}),  # Streamlit's "no-cache"
        ("POST", "/static/js/main.abc123.js", {}),
        ("GET", "/static/js/main.abc123.js", {"Range": "bytes=0-5"}),
        ("GET", "/static/js/main.abc123.js", {"If-None-Match": '"x"'}),
    ],
)
def test_anything_else_goes_on_to_the_app(
    lane: Lane, folder: Path, method: str, path: str, headers: dict[str, str]
) -> None:
    client, behind = lane()
    client.request(method, path, headers=headers)
    assert len(behind.paths) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/static/js/../js/main.abc123.js",
        "//static/js/main.abc123.js",
        "/static/js/./main.abc123.js",
        "/STATIC/js/main.abc123.js",
        "/static/js\\main.abc123.js",
        "/static/js/main.abc123.js\x00",
    ],
)
def test_a_path_that_is_not_a_files_exact_name_goes_on_to_the_app(folder: Path, path: str) -> None:
    """Streamlit refuses, tidies or falls back on these its own way; httpx
    would have tidied the path, so the scope is made here."""
    assert call(make_assets(folder), path) == [path]


def call(app: StaticAssets, path: str, root_path: str = "") -> list[str]:
    """Send one GET of ``path`` to ``app``; the paths that reached the app behind."""

    async def receive() -> Message:
        await asyncio.Event().wait()  # no disconnect while the answer is sent
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        pass

    scope: Scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
                    "query_string": b"", "headers": [], "root_path": root_path}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    behind = app.app
    assert isinstance(behind, Recorder)
    return behind.paths


def test_below_an_asgi_root_path_the_files_are_answered(folder: Path) -> None:
    assets = make_assets(folder)
    assert call(assets, "/proxy/static/js/main.abc123.js", root_path="/proxy") == []
    # Not below it (only "/proxy" as a whole part counts): as Starlette's router reads it
    assert call(assets, "/proxyx/static/js/main.abc123.js", root_path="/proxy") == [
        "/proxyx/static/js/main.abc123.js"
    ]


def test_in_streamlits_development_mode_nothing_is_answered(lane: Lane) -> None:
    client, behind = lane(development=True)
    client.get("/static/js/main.abc123.js")
    assert behind.paths == ["/static/js/main.abc123.js"]


def test_a_file_gone_since_the_listing_goes_on_to_the_app(lane: Lane, folder: Path) -> None:
    client, behind = lane()
    assert client.get("/static/css/index.def456.css").status_code == 200  # the folder listed
    (folder / "static" / "js" / "main.abc123.js").unlink()
    gone = client.get("/static/js/main.abc123.js")
    assert behind.paths == ["/static/js/main.abc123.js"]
    assert gone.status_code == 200  # Streamlit's fallback: its index.html
    assert gone.text == "<html></html>"


def test_the_server_wraps_streamlits_app_in_the_lane() -> None:
    import app

    assert isinstance(app.app, ApiLane)
    assert isinstance(app.app.app, StaticAssets)


def test_a_range_gets_the_apps_partial_answer(lane: Lane, folder: Path) -> None:
    client, _ = lane()
    part = client.get("/static/js/main.abc123.js", headers={"Range": "bytes=0-5"})
    assert part.status_code == 206
    assert part.content == MODULE[:6]


def test_under_a_base_url_path_only_its_own_paths_are_answered(lane: Lane, folder: Path) -> None:
    client, behind = lane(base="usage")
    served = client.get("/usage/static/js/main.abc123.js")
    assert served.status_code == 200
    assert served.content == MODULE
    assert behind.paths == []
    client.get("/static/js/main.abc123.js")  # outside the base: the app's
    client.get("/usagestatic/js/main.abc123.js")
    assert behind.paths == ["/static/js/main.abc123.js", "/usagestatic/js/main.abc123.js"]


def test_each_file_is_read_once(lane: Lane, folder: Path) -> None:
    client, _ = lane()
    assert client.get("/static/js/main.abc123.js").content == MODULE
    (folder / "static" / "js" / "main.abc123.js").write_bytes(b"changed")
    assert client.get("/static/js/main.abc123.js").content == MODULE


def test_streamlits_own_files_are_answered_under_a_base_url_path(folder: Path) -> None:
    """The installed Streamlit's folder, as ``app.py`` serves it, with
    ``server.baseUrlPath`` "a/b": its entry module comes from the lane."""
    root = streamlit_static_dir()
    entry = next(root.glob("js/index.*.js"))
    assets = StaticAssets(Recorder(folder), base_path=lambda: "a/b", development_mode=lambda: False)
    client = ApiClient(assets)
    try:
        answer = client.get("/a/b/static/" + entry.relative_to(root).as_posix())
    finally:
        client.close()
    assert answer.status_code == 200
    assert answer.content == entry.read_bytes()
    behind = assets.app
    assert isinstance(behind, Recorder)
    assert behind.paths == []


@pytest.fixture(scope="module")
def modules() -> list[str]:
    """Some of the installed Streamlit's files, by their URL paths: its entry
    module, its CSS, a font."""
    root = streamlit_static_dir()
    found = [
        next(root.glob(pattern)) for pattern in ("js/index.*.js", "css/*.css", "media/*.woff2")
    ]
    return ["/static/" + file.relative_to(root).as_posix() for file in found]


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The dashboard by ``command``, at the root or under a base URL path
    (the files are the same whatever the database: SQLite alone)."""
    command, base_path = request.param
    url = new_database_url(request, "sqlite", tmp_path)
    with running_server(url, command=command, base_path=base_path) as base:
        yield base


@pytest.mark.parametrize(
    "served",
    [("streamlit", ""), ("streamlit", "/usage/"), ("uvicorn", ""), ("streamlit", "a/b")],
    indirect=True,
)
def test_the_server_answers_streamlits_files_as_streamlit_does(
    served: str, modules: list[str]
) -> None:
    with httpx.Client(base_url=served) as http:
        for path in modules:
            mine = http.get(path)
            theirs = http.get(path, headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
            assert mine.status_code == theirs.status_code == 200, path
            assert (
                mine.content
                == (streamlit_static_dir() / path.removeprefix("/static/")).read_bytes()
            )
            assert mine.content == theirs.content
            assert [item for item in mine.headers.multi_items() if item[0] != "date"] == [
                item for item in theirs.headers.multi_items() if item[0] != "date"
            ]
        page = http.get("/")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
