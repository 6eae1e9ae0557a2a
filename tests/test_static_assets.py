"""Streamlit's front-end files answered from memory, ahead of its stack, as
its own handler answers them; everything else goes on to the app."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from tests.api_client import ApiClient
from tests.conftest import new_database_url
from tests.live_server import running_server
from usage.static_assets import CACHE_CONTROL, StaticAssets, streamlit_static_dir

MODULE = b"export const answer = 42;\n"


class Recorder:
    """The app behind the lane: Starlette's ``StaticFiles`` over the same
    folder (what Streamlit's handler is made of), counting what reaches it."""

    def __init__(self, folder: Path) -> None:
        self.files = ExceptionMiddleware(StaticFiles(directory=folder))
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
    (tmp_path / "index.html").write_text("<html></html>")
    return tmp_path


Lane = Callable[..., tuple[ApiClient, Recorder]]


@pytest.fixture
def lane(folder: Path) -> Iterator[Lane]:
    """``StaticAssets`` over the folder, at the root or under ``base``."""
    clients: list[ApiClient] = []

    def make(base: str = "") -> tuple[ApiClient, Recorder]:
        behind = Recorder(folder)
        assets = StaticAssets(behind, directory=lambda: folder / "static", base_path=lambda: base)
        clients.append(ApiClient(assets))
        return clients[-1], behind

    yield make
    for client in clients:
        client.close()


def without_cache_control(headers: httpx.Headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name != "cache-control"}


@pytest.mark.parametrize("path", ["/static/js/main.abc123.js", "/static/css/index.def456.css"])
def test_a_file_is_answered_with_the_headers_of_starlettes_own_answer(
    lane: Lane, folder: Path, path: str
) -> None:
    client, behind = lane()
    mine = client.get(path)
    assert behind.paths == []
    theirs = client.get(path, headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert behind.paths == [path]  # a conditional request is Streamlit's to answer
    assert mine.status_code == theirs.status_code == 200
    assert mine.content == theirs.content == (folder / path.lstrip("/")).read_bytes()
    assert without_cache_control(mine.headers) == without_cache_control(theirs.headers)
    assert mine.headers["cache-control"] == CACHE_CONTROL.decode()


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
        ("GET", "/static/js/missing.js", {}),  # no such file: the app's 404
        ("GET", "/index.html", {}),  # outside /static: the app's own
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


def test_a_path_that_is_not_a_files_exact_name_goes_on_to_the_app(folder: Path) -> None:
    """Streamlit's path checks answer these (its 400); httpx would have
    tidied the path, so the scope is made here."""
    behind = Recorder(folder)
    assets = StaticAssets(behind, directory=lambda: folder / "static", base_path=lambda: "")
    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.Event().wait()  # no disconnect while the answer is sent
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    for path in ("/static/js/../js/main.abc123.js", "//static/js/main.abc123.js",
                 "/static/js/./main.abc123.js", "/STATIC/js/main.abc123.js"):  # fmt: skip
        scope: Scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "headers": [], "root_path": ""}  # fmt: skip
        asyncio.run(assets(scope, receive, send))
    assert len(behind.paths) == 4


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


@pytest.fixture(scope="module")
def a_module() -> str:
    """One of the installed Streamlit's modules, by its URL path."""
    root = streamlit_static_dir()
    return "/static/" + next(root.glob("js/index.*.js")).relative_to(root).as_posix()


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The dashboard at the root or under a base URL path (the files are the
    same whatever the database: SQLite alone)."""
    url = new_database_url(request, "sqlite", tmp_path)
    with running_server(url, base_path=request.param) as base:
        yield base


@pytest.mark.parametrize("served", ["", "usage"], indirect=True)
def test_the_server_answers_streamlits_modules_as_streamlit_does(
    served: str, a_module: str
) -> None:
    with httpx.Client(base_url=served) as http:
        mine = http.get(a_module)
        theirs = http.get(a_module, headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
        assert mine.status_code == theirs.status_code == 200
        assert mine.content == theirs.content
        assert (
            mine.content
            == (streamlit_static_dir() / a_module.removeprefix("/static/")).read_bytes()
        )
        drop = {"date"}
        assert {k: v for k, v in mine.headers.items() if k not in drop} == {
            k: v for k, v in theirs.headers.items() if k not in drop
        }
        page = http.get("/")
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
