"""The real server in Debian's chromium: a deep link, a preset change, the
sidebar a person sees, a page switch. Screenshots go to artifacts/screenshots/
(not tracked; docs/screenshots/ keeps examples of them)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.orm import Session

from tests.conftest import missing, new_database_url
from tests.live_server import running_server
from ui.counts import COUNTS_CLASS
from usage.db import make_engine
from usage.demo import DEMO_BUCKETS, load_demo

if TYPE_CHECKING:
    from playwright.sync_api import Browser

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = PROJECT_ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("USAGE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
CHART = "[data-testid='stPlotlyChart'] .main-svg"
EXCEPTION = "[data-testid='stException']"
SCRIPT_ENDED = """() => document.querySelector("[data-testid='stApp']")
    ?.getAttribute("data-test-script-state") === 'notRunning'"""
TITLES = ["Portfolio", "Client", "Compare", "Daily snapshot"]


@pytest.fixture
def demo_server(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = new_database_url(request, "sqlite", tmp_path)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        load_demo(session, dt.date.today())
    engine.dispose()
    return url


@contextlib.contextmanager
def chromium_on(database_url: str) -> Iterator[tuple[str, Browser]]:
    """The product served on ``database_url`` (its base URL) and Debian's
    chromium to open it; the screenshots' folder made."""
    if not Path(CHROMIUM).exists():
        missing(f"no chromium at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running_server(database_url) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield base, browser
        finally:
            browser.close()


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.mark.browser
def test_deep_link_preset_change_and_sidebar(demo_server: str) -> None:
    from playwright.sync_api import expect

    today = dt.date.today()
    start, end = today - dt.timedelta(days=180), today - dt.timedelta(days=30)
    deep_link = (f"/client?bucket=acme-corp&start={start.isoformat()}&end={end.isoformat()}"
                 "&granularity=week")  # fmt: skip
    with chromium_on(demo_server) as (base, browser):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(base + deep_link)
        page.wait_for_selector(CHART, timeout=60_000)
        expect(page.get_by_role("heading", name="Acme Corporation")).to_be_visible()
        assert _query(page.url) == {
            "bucket": ["acme-corp"], "start": [start.isoformat()],
            "end": [end.isoformat()], "granularity": ["week"]}  # fmt: skip

        # The sidebar: the pages by their titles, not Streamlit's file list.
        sidebar = page.get_by_test_id("stSidebar")
        # Drawn after the page (the links carry what it showed): wait for them.
        expect(sidebar.get_by_test_id("stPageLink")).to_have_count(8, timeout=30_000)
        links = sidebar.get_by_test_id("stPageLink").all_inner_texts()
        # The last line is the title (an icon is a ligature like "dashboard").
        assert [link.strip().splitlines()[-1] for link in links][:4] == TITLES
        assert page.get_by_test_id("stSidebarNav").count() == 0
        page.screenshot(path=str(SCREENSHOTS / "client-deep-link.png"))

        page.get_by_text("Last 30 days", exact=True).click()
        page.wait_for_url(re.compile(r"preset=30d"), timeout=30_000)
        page.wait_for_selector(CHART, timeout=60_000)
        first = today - dt.timedelta(days=29)
        # The dates sit in a popover (built when opened) whose button says them.
        dates = page.get_by_role("button", name=f"{first.isoformat()} to {today.isoformat()}")
        expect(dates).to_be_visible()
        assert page.get_by_role("group", name="From").count() == 0
        assert _query(page.url) == {
            "bucket": ["acme-corp"], "preset": ["30d"], "granularity": ["week"]}  # fmt: skip
        assert page.locator(EXCEPTION).count() == 0
        page.screenshot(path=str(SCREENSHOTS / "client-last-30-days.png"), full_page=True)

        # A day picked in From's calendar makes the range a custom one; the
        # popover stays open, its button showing the new range.
        dates.click()
        start_field = page.get_by_role("group", name="From")
        expect(start_field).to_have_text(
            re.compile(rf"{first.year}\D*{first.month:02d}\D*{first.day:02d}")
        )
        start_field.get_by_role("spinbutton").first.click()
        picked = first.replace(day=16 if first.day == 15 else 15)  # another day than From's
        calendar = page.get_by_test_id("stDateInputCalendar")
        calendar.get_by_text(str(picked.day), exact=True).first.click()
        page.wait_for_url(re.compile(rf"start={picked.isoformat()}"), timeout=30_000)
        assert _query(page.url) == {
            "bucket": ["acme-corp"], "start": [picked.isoformat()],
            "end": [today.isoformat()], "granularity": ["week"]}  # fmt: skip
        expect(page.get_by_role("button", name=f"{picked.isoformat()} to {today.isoformat()}")
               ).to_be_visible()  # fmt: skip
        expect(page.get_by_role("group", name="From")).to_be_visible()
        page.wait_for_selector(CHART, timeout=60_000)
        page.screenshot(path=str(SCREENSHOTS / "client-dates-popover.png"))
        page.keyboard.press("Escape")
        assert page.locator(EXCEPTION).count() == 0

        # Another page keeps the client.
        sidebar.get_by_text("Compare", exact=True).click()
        page.wait_for_url(re.compile(r"/compare\?"), timeout=30_000)
        page.wait_for_selector(CHART, timeout=60_000)
        assert _query(page.url)["bucket"] == ["acme-corp"]
        assert page.locator(EXCEPTION).count() == 0


@pytest.mark.browser
def test_the_portfolio_table_is_text_and_its_links_open_the_client(demo_server: str) -> None:
    """The Portfolio's table is HTML (``ui.html_table``): its words are on the
    page, its trends are drawn images, and a bucket opens its client's page."""
    from playwright.sync_api import expect

    with chromium_on(demo_server) as (base, browser):
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(base + "/")
        table = page.locator("table[data-table=portfolio]")
        expect(table).to_be_visible(timeout=60_000)
        page.wait_for_function(SCRIPT_ENDED, timeout=60_000)
        rows = table.locator("tbody tr")
        expect(rows).to_have_count(14)
        headers = table.locator("th").all_inner_texts()
        assert headers[:3] == ["Client", "Bucket", "Status"]
        assert "Acme Corporation" in table.inner_text()  # text, found by Ctrl+F
        trends = table.locator("img")
        assert trends.count() >= 10
        drawn = trends.evaluate_all("(images) => images.map((i) => i.naturalWidth)")
        assert set(drawn) == {100}
        assert page.get_by_test_id("stDataFrame").count() == 0  # no grid code asked for
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "portfolio-table.png"))

        table.get_by_role("link", name="acme-corp", exact=True).click()
        page.wait_for_url(re.compile(r"/client\?bucket=acme-corp$"), timeout=30_000)
        expect(page.get_by_role("heading", name="Acme Corporation")).to_be_visible(timeout=60_000)
        page.wait_for_selector(CHART, timeout=60_000)
        assert page.locator(EXCEPTION).count() == 0


def _elements_sent(frames: list[bytes | str]) -> list[str]:
    """The kinds of element in Streamlit's messages (``ForwardMsg``) received;
    ``ref_hash`` for an element sent again by its hash."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    kinds = []
    for frame in frames:
        if isinstance(frame, str):
            continue
        message = ForwardMsg()
        message.ParseFromString(frame)
        kind = message.WhichOneof("type")
        if kind == "delta" and message.delta.HasField("new_element"):
            kinds.append(str(message.delta.new_element.WhichOneof("type")))
        elif kind == "ref_hash":  # an element already sent, by its hash (10 KB and more)
            kinds.append("ref_hash")
    return kinds


@pytest.mark.browser
def test_the_client_table_unfolds_and_its_search_reruns_it_alone(demo_server: str) -> None:
    from playwright.sync_api import WebSocket, expect

    with chromium_on(demo_server) as (base, browser):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        frames: list[bytes | str] = []

        def on_socket(socket: WebSocket) -> None:
            socket.on("framereceived", lambda payload: frames.append(payload))

        page.on("websocket", on_socket)
        page.goto(base + "/client?bucket=acme-corp&preset=all")
        page.wait_for_selector(CHART, timeout=60_000)
        page.wait_for_function(SCRIPT_ENDED, timeout=60_000)  # every element is in
        box = page.get_by_test_id("stExpander")
        expect(box).to_contain_text("Table")
        rows = page.locator("table[data-table=client_snapshots]")
        assert rows.count() == 0  # folded, not sent
        assert "html" not in _elements_sent(frames)

        box.get_by_text("Table", exact=True).click()
        page.wait_for_url(re.compile(r"table=on"), timeout=30_000)
        expect(rows).to_be_visible(timeout=60_000)
        expect(page.get_by_text(re.compile(r"Days 1 to 200 of 1,\d{3}\."))).to_be_visible()
        expect(rows.locator("tbody tr")).to_have_count(200)
        assert page.get_by_test_id("stDataFrame").count() == 0  # no grid code asked for
        # 200 rows scroll inside a frame of 320 pixels, under a header that stays.
        scroller = page.locator("div.usage-table-frame:has(table[data-table=client_snapshots])")
        height = scroller.evaluate("(frame) => [frame.clientHeight, frame.scrollHeight]")
        assert height[0] <= 320 < height[1], height
        scroller.evaluate("(frame) => { frame.scrollTop = frame.scrollHeight; }")
        page.wait_for_timeout(200)
        head, frame_box = rows.locator("th").first.bounding_box(), scroller.bounding_box()
        assert head is not None
        assert frame_box is not None
        assert abs(head["y"] - frame_box["y"]) < 2, (head, frame_box)

        frames.clear()
        search = page.get_by_label("Find days")
        search.fill(f"{dt.date.today().year - 1}-01-1")  # ten days of last January
        search.press("Enter")
        expect(page.get_by_text(re.compile(r"Days 1 to \d+ of \d+ matching"))).to_be_visible(
            timeout=30_000
        )
        # The fragment wrote its search to the URL: the view can be shared.
        year = dt.date.today().year - 1
        page.wait_for_url(re.compile(rf"[?&]q={year}-01-1(&|$)"), timeout=30_000)
        page.wait_for_timeout(1000)
        sent = _elements_sent(frames)
        # The table's own elements came again; the six charts and the KPIs
        # did not, not even by their hash.
        assert "html" in sent, sent
        assert not {"plotly_chart", "ref_hash", "metric"} & set(sent), sent
        dates = rows.locator("tbody tr td:first-child")
        expect(dates.first).to_have_text(f"{year}-01-19")  # newest first, as listed

        # The Sort orders the rows, oldest first now, and is in the URL too.
        page.get_by_role("combobox", name="Sort by").click()
        page.get_by_role("option", name="date ↑", exact=True).click()
        page.wait_for_url(re.compile(r"[?&]sort=date(&|$)"), timeout=30_000)
        expect(dates.first).to_have_text(f"{year}-01-10", timeout=30_000)
        assert dates.all_inner_texts() == [f"{year}-01-{day}" for day in range(10, 20)]
        assert page.locator(CHART).count() >= 6
        assert page.locator(EXCEPTION).count() == 0
        page.screenshot(path=str(SCREENSHOTS / "client-table-search.png"))


DEEP_LINKS = (
    "/?sort=-records",
    "/client?bucket=acme-corp&preset=12m&granularity=month&mode=share",
    "/client?bucket=globex&preset=all&table=on",
    "/client?bucket=globex&preset=all&table=on&q=-01-&page=2",
    "/compare?bucket=globex&a=2025-01-01&b=2026-01-01",
    "/snapshots",
    "/alerts?status=all",
    "/collection",
    "/people",
    "/audit",
)


@pytest.mark.browser
def test_deep_links_stay_on_the_origin_and_log_no_error(demo_server: str) -> None:
    """No request leaves the server's origin (fonts and icons included), and
    the console shows no error or failed (4xx/5xx) request, on any deep link."""
    from playwright.sync_api import ConsoleMessage, Request, Response

    with chromium_on(demo_server) as (base, browser):
        seen: dict[str, list[str]] = {}

        def on_request(request: Request) -> None:
            if not request.url.startswith((base + "/", "data:", "blob:")):
                seen["elsewhere"].append(request.url)

        def on_response(response: Response) -> None:
            if response.status >= 400:
                seen["failed"].append(f"{response.status} {response.url}")

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                seen["errors"].append(message.text)

        for link in DEEP_LINKS:
            seen.update(elsewhere=[], failed=[], errors=[])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", on_request)
            page.on("response", on_response)
            page.on("console", on_console)
            page.goto(base + link)
            page.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1000)
            assert page.locator(EXCEPTION).count() == 0, link
            # Not even Streamlit's probe of the path as the server's base
            # URL (/client/_stcore/health, a 404): the page says where the
            # server is (usage.deep_links).
            assert (link, seen) == (link, {"elsewhere": [], "failed": [], "errors": []})
            page.close()


@pytest.mark.browser
def test_a_link_of_more_parts_opens_the_portfolio_not_a_blank_page(demo_server: str) -> None:
    """/client/x (a mistyped or cut link) used to stay blank: the page's
    scripts, loaded by relative URLs, came back as the page itself."""
    from playwright.sync_api import Response

    with chromium_on(demo_server) as (base, browser):
        failed: list[str] = []

        def on_response(response: Response) -> None:
            if response.status >= 400:
                failed.append(response.url)

        for link in ("/client/x", "/nowhere/at/all"):
            failed.clear()
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("response", on_response)
            page.goto(base + link)
            heading = page.locator("[data-testid='stMain'] h1").first
            heading.wait_for(timeout=60_000)
            assert (link, heading.inner_text(), failed) == (link, "Portfolio", [])
            assert page.url == base + "/"
            page.close()


@pytest.mark.browser
def test_the_forms_of_people_and_collection_open_when_asked(demo_server: str) -> None:
    """People's "Add a person" and Collection's "Collect now" are folded and
    draw their widgets once opened; an added person's form starts again empty
    in the browser (not only on the server), and a refused one keeps what
    was typed."""
    from playwright.sync_api import expect

    with chromium_on(demo_server) as (base, browser):
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(base + "/people")
        expect(page.get_by_role("heading", name="People")).to_be_visible(timeout=60_000)
        page.wait_for_function(SCRIPT_ENDED, timeout=60_000)
        email = page.get_by_label("Email")
        expect(email).to_be_visible()  # nobody listed yet: "Add a person" is open
        email.fill("Cat@Example.com")
        page.get_by_role("combobox", name="Role").click()
        page.get_by_role("option", name="analyst").click()
        page.get_by_role("button", name="Add").click()
        expect(page.get_by_text("cat@example.com added.")).to_be_visible(timeout=30_000)
        page.wait_for_function(SCRIPT_ENDED, timeout=60_000)
        expect(email).to_have_value("")
        expect(page.get_by_role("combobox", name="Role")).to_have_value("manager")
        email.fill("cat@example.com")
        page.get_by_role("button", name="Add").click()
        expect(page.get_by_text("exists already")).to_be_visible(timeout=30_000)
        expect(email).to_have_value("cat@example.com")
        assert page.locator(EXCEPTION).count() == 0
        page.screenshot(path=str(SCREENSHOTS / "people-add.png"))

        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(base + "/people")  # a new session, someone listed: folded
        expect(page.get_by_text("cat@example.com").first).to_be_visible(timeout=60_000)
        page.wait_for_function(SCRIPT_ENDED, timeout=60_000)
        email = page.get_by_label("Email")
        assert email.count() == 0
        page.get_by_text("Add a person", exact=True).click()
        expect(email).to_be_visible(timeout=30_000)

        page.goto(base + "/collection")
        expect(page.get_by_role("heading", name="Collection")).to_be_visible(timeout=60_000)
        page.wait_for_function(SCRIPT_ENDED, timeout=60_000)
        # The counts above the table (one HTML list, ui.counts) as drawn:
        # every client counted once, none yet collected.
        counts = page.locator(f"dl.{COUNTS_CLASS}")
        expect(counts).to_be_visible()
        terms = counts.locator("dt").all_inner_texts()
        numbers = [int(text.replace(",", "")) for text in counts.locator("dd").all_inner_texts()]
        assert terms == ["✓ succeeded", "✗ failed", "◔ running", "— never run",
                         "— no run (demo data)"]  # fmt: skip
        assert numbers[:3] == [0, 0, 0]
        assert sum(numbers) == len(DEMO_BUCKETS)
        force = page.get_by_text("Force: ignore the limit", exact=False)
        assert force.count() == 0
        page.get_by_text("Collect now", exact=True).click()
        expect(force).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="Collect now")).to_be_visible()
        assert page.locator(EXCEPTION).count() == 0
