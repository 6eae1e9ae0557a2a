"""Sign-in in Debian's chromium, against a real OpenID Connect provider
(``oidc-provider-mock``, started here): the door, two managers with different
books and an admin, each in a browser context of their own; a stranger
refused; a person removed while their page is open; sign-out. The server
under test reads a secrets file written here, never the developer's own.
Screenshots go to artifacts/screenshots/ (docs/screenshots/ keeps examples)."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.orm import Session

from tests.conftest import missing, new_database_url
from tests.live_server import free_port, running_server
from tests.oidc_support import oidc_provider, write_secrets
from tests.test_browser import CHART, CHROMIUM, CHROMIUM_ARGS, EXCEPTION, SCREENSHOTS
from usage.audit import Actor
from usage.db import make_engine
from usage.demo import load_demo
from usage.models import Role
from usage.people import add_person, list_people, remove_person
from usage.portfolio import latest_snapshot_date, list_client_choices, summarize_portfolio

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ACTOR = Actor("test")
ADMIN = "ada@example.com"
ANN = "ann@example.com"
BOB = "bob@example.com"
STRANGER = "stranger@example.com"
PEOPLE: dict[str, tuple[str, Role, tuple[str, ...]]] = {
    ADMIN: ("Ada", Role.ADMIN, ()),
    ANN: ("Ann", Role.MANAGER, ("acme-corp",)),
    BOB: ("Bob", Role.MANAGER, ("globex", "initech")),
}
UNKNOWN_BUCKET = "no-such-client"
REFUSAL = "ask an admin to add you"
PRODUCT = "Usage analytics"
ADMIN_PAGES = ("People", "Audit")
REMOVAL_SECONDS = 5.0  # the promise for the API
PAGE_REMOVAL_SECONDS = 6.0  # the same, plus a watch interval's share
WAIT_MS = 60_000


@dataclass(frozen=True)
class SignInServer:
    base: str  # http://localhost:PORT: the origin of [auth] redirect_uri
    provider: str
    database_url: str
    names: dict[str, str]  # bucket id -> display name, every demo client


@pytest.fixture(scope="module")
def signin_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SignInServer]:
    directory = tmp_path_factory.mktemp("signin")
    url = new_database_url(request, "sqlite", directory)
    engine = make_engine(url)
    with Session(engine) as session, session.begin():
        load_demo(session, dt.date.today())
        names = {
            choice.bucket_id: choice.display_name
            for choice in list_client_choices(session, visible=None)
        }
    engine.dispose()
    port = free_port()
    base = f"http://localhost:{port}"
    users = {email: name for email, (name, _, _) in PEOPLE.items()}
    with oidc_provider(users, directory / "provider.log") as provider:
        secrets = write_secrets(directory / "secrets.toml", base, provider)
        flags = ["--secrets.files", str(secrets)]
        with running_server(url, port=port, extra_args=flags, log=directory / "server.log"):
            yield SignInServer(base, provider, url, names)


@pytest.fixture
def people(signin_server: SignInServer) -> None:
    """The three people, as PEOPLE has them (a test may have removed one)."""
    engine = make_engine(signin_server.database_url)
    with Session(engine) as session, session.begin():
        present = {person.email for person in list_people(session)}
        for email, (_, role, book) in PEOPLE.items():
            if email not in present:
                add_person(session, email, role, book, actor=ACTOR)
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        missing(f"no chromium at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a browser context of its own: no cookie from another test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


# --- what the browser does -------------------------------------------------


def _sign_in(page: Page, server: SignInServer, email: str) -> None:
    """From the door, through the provider's authorize page, back to the
    app: a predefined user by their button, anyone else by typing ``sub``."""
    from playwright.sync_api import expect

    page.goto(server.base + "/")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.provider}/oauth2/authorize?**", timeout=WAIT_MS)
    if email in PEOPLE:
        page.get_by_role("button", name=email, exact=True).click()
    else:
        page.locator("input[name=sub]").fill(email)
        page.get_by_role("button", name="Authorize", exact=True).click()
    page.wait_for_url(f"{server.base}/**", timeout=WAIT_MS)
    expect(page.get_by_test_id("stApp")).to_be_visible(timeout=WAIT_MS)


def _api(page: Page, path: str) -> tuple[int, Any]:
    """``fetch`` from the page, with the browser's own session cookie."""
    status, body = page.evaluate(
        """async (path) => {
            const response = await fetch(path, {credentials: "same-origin"});
            return [response.status, await response.text()];
        }""",
        path,
    )
    return int(status), json.loads(body)


def _metric(page: Page, label: str) -> str:
    metric = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    )
    return metric.get_by_test_id("stMetricValue").inner_text().strip()


def _text(page: Page) -> str:
    return page.locator("body").inner_text()


def _sidebar_links(page: Page) -> list[str]:
    links = page.get_by_test_id("stSidebar").get_by_test_id("stPageLink").all_inner_texts()
    # The last line is the title (an icon is a ligature like "dashboard").
    return [link.strip().splitlines()[-1] for link in links]


def _table_buckets(page: Page, rows: int) -> set[str]:
    """The bucket ids of the portfolio table's rows, each a link to its
    client's page."""
    from playwright.sync_api import expect

    links = page.locator("table[data-table=portfolio] tbody tr td:nth-child(2) a")
    expect(links).to_have_count(rows, timeout=WAIT_MS)
    buckets = {text.strip() for text in links.all_inner_texts()}
    hrefs = {link.get_attribute("href") for link in links.all()}
    assert hrefs == {f"client?bucket={bucket}" for bucket in buckets}
    return buckets


def _leaked_names(text: str, server: SignInServer, visible: set[str]) -> list[str]:
    return sorted(
        name for bucket, name in server.names.items() if bucket not in visible and name in text
    )


def _expected_totals(server: SignInServer, visible: frozenset[str] | None) -> tuple[int, int]:
    """The number of clients and the records of ``visible``, by the domain."""
    engine = make_engine(server.database_url)
    with Session(engine) as session:
        as_of = latest_snapshot_date(session, visible=visible)
        assert as_of is not None
        summary = summarize_portfolio(session, as_of=as_of, visible=visible)
    engine.dispose()
    return summary.clients, summary.total_records


def _open_portfolio(page: Page) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stMetric").first).to_be_visible(timeout=WAIT_MS)
    page.wait_for_selector(CHART, timeout=WAIT_MS)


def _warning(page: Page) -> str:
    alert = page.get_by_test_id("stAlert").filter(has_text="is not a known client")
    alert.wait_for(timeout=WAIT_MS)
    return alert.inner_text().strip()


def _sign_out(page: Page, server: SignInServer) -> None:
    """Streamlit sends the browser to the provider's end-session page, which
    asks for a click and comes back to the app without the cookie."""
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server.provider}/oauth2/end_session?**", timeout=WAIT_MS)
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{server.base}/**", timeout=WAIT_MS)


def _check_door(page: Page, server: SignInServer) -> None:
    """Signed out: the product's name and the way in, nothing else."""
    from playwright.sync_api import expect

    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_role("heading", name=PRODUCT)).to_be_visible()
    text = _text(page)
    assert _leaked_names(text, server, set()) == []
    assert page.get_by_test_id("stPageLink").count() == 0
    assert page.get_by_test_id("stMetric").count() == 0
    assert page.get_by_test_id("stDataFrame").count() == 0
    assert page.locator("table").count() == 0
    assert page.locator(EXCEPTION).count() == 0
    assert "Sign out" not in text
    status, body = _api(page, "/api/v1/clients")
    assert status == 401, body


# --- the tests ---------------------------------------------------------------


@pytest.mark.browser
def test_signed_out_page_shows_only_the_way_in(
    signin_server: SignInServer, people: None, page: Page
) -> None:
    for path in ("/", "/client?bucket=acme-corp", "/people"):
        page.goto(signin_server.base + path)
        _check_door(page, signin_server)
    page.screenshot(path=str(SCREENSHOTS / "signin-door.png"))


@pytest.mark.browser
@pytest.mark.parametrize(("email", "other"), [(ANN, BOB), (BOB, ANN)])
def test_a_manager_sees_only_their_book(
    signin_server: SignInServer, people: None, page: Page, email: str, other: str
) -> None:
    from playwright.sync_api import expect

    book = set(PEOPLE[email][2])
    other_bucket = PEOPLE[other][2][0]
    _sign_in(page, signin_server, email)
    _open_portfolio(page)
    name = email.split("@")[0]

    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text(email)).to_be_visible()
    expect(sidebar.get_by_role("button", name="Sign out")).to_be_visible()
    links = _sidebar_links(page)
    assert links[0] == "Portfolio"
    assert not set(ADMIN_PAGES) & set(links)

    # The portfolio's numbers are the book's.
    clients, records = _expected_totals(signin_server, frozenset(book))
    assert clients == len(book)
    assert _metric(page, "Clients") == f"{clients:,}"
    assert _metric(page, "Records") == f"{records:,}"
    expect(page.get_by_text(f"Clients 1 to {clients} of {clients}.")).to_be_visible()
    assert _table_buckets(page, clients) == book
    assert _leaked_names(_text(page), signin_server, book) == []
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(SCREENSHOTS / f"signin-{name}-portfolio.png"), full_page=True)

    # The API, with the browser's cookie: the same book.
    status, body = _api(page, "/api/v1/clients")
    assert status == 200, body
    assert sorted(client["bucket_id"] for client in body["clients"]) == sorted(book)
    assert sum(client["total_records"] for client in body["clients"]) == records
    own = sorted(book)[0]
    assert _api(page, f"/api/v1/clients/{own}/history")[0] == 200
    status, body = _api(page, f"/api/v1/clients/{other_bucket}/history")
    unknown_status, unknown = _api(page, f"/api/v1/clients/{UNKNOWN_BUCKET}/history")
    assert (status, unknown_status) == (404, 404)
    assert body["error"] == unknown["error"].replace(UNKNOWN_BUCKET, other_bucket)

    # A deep link to the other's client says what an unknown bucket says.
    page.goto(f"{signin_server.base}/client?bucket={UNKNOWN_BUCKET}")
    unknown_warning = _warning(page)
    page.goto(f"{signin_server.base}/client?bucket={other_bucket}")
    warning = _warning(page)
    page.wait_for_selector(CHART, timeout=WAIT_MS)
    assert warning == unknown_warning.replace(UNKNOWN_BUCKET, other_bucket)
    assert _leaked_names(_text(page), signin_server, book) == []
    assert page.locator(EXCEPTION).count() == 0
    page.screenshot(path=str(SCREENSHOTS / f"signin-{name}-deep-link.png"), full_page=True)

    _sign_out(page, signin_server)
    _check_door(page, signin_server)


@pytest.mark.browser
def test_an_admin_sees_every_client_and_the_admin_pages(
    signin_server: SignInServer, people: None, page: Page
) -> None:
    from playwright.sync_api import expect

    _sign_in(page, signin_server, ADMIN)
    _open_portfolio(page)
    expect(page.get_by_test_id("stSidebar").get_by_text(ADMIN)).to_be_visible()
    assert set(ADMIN_PAGES) <= set(_sidebar_links(page))
    clients, records = _expected_totals(signin_server, None)
    assert clients == len(signin_server.names)
    assert _metric(page, "Clients") == f"{clients:,}"
    assert _metric(page, "Records") == f"{records:,}"
    assert _table_buckets(page, clients) == set(signin_server.names)
    status, body = _api(page, "/api/v1/clients")
    assert status == 200, body
    assert sorted(client["bucket_id"] for client in body["clients"]) == sorted(signin_server.names)
    page.screenshot(path=str(SCREENSHOTS / "signin-admin-portfolio.png"), full_page=True)

    for title in ADMIN_PAGES:
        page.get_by_test_id("stSidebar").get_by_text(title, exact=True).click()
        page.wait_for_url(re.compile(rf"/{title.lower()}"), timeout=WAIT_MS)
        expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=WAIT_MS)
        table = page.locator(f"table[data-table={title.lower()}]")
        expect(table).to_be_visible(timeout=WAIT_MS)
        assert page.locator(EXCEPTION).count() == 0


@pytest.mark.browser
def test_a_person_not_in_the_store_is_refused(
    signin_server: SignInServer, people: None, page: Page
) -> None:
    from playwright.sync_api import expect

    _sign_in(page, signin_server, STRANGER)
    expect(page.get_by_text(REFUSAL)).to_be_visible(timeout=WAIT_MS)
    text = _text(page)
    assert STRANGER in text
    assert _leaked_names(text, signin_server, set()) == []
    assert page.get_by_test_id("stPageLink").count() == 0
    assert page.get_by_test_id("stMetric").count() == 0
    assert page.locator(EXCEPTION).count() == 0
    status, body = _api(page, "/api/v1/clients")
    assert status == 401, body
    page.screenshot(path=str(SCREENSHOTS / "signin-refused.png"))


@pytest.mark.browser
def test_a_person_removed_while_signed_in_loses_access(
    signin_server: SignInServer, people: None, page: Page
) -> None:
    _sign_in(page, signin_server, ANN)
    _open_portfolio(page)
    # The API has just accepted her cookie (and keeps it for its few seconds).
    assert _api(page, "/api/v1/clients")[0] == 200

    engine = make_engine(signin_server.database_url)
    with Session(engine) as session, session.begin():
        remove_person(session, ANN, actor=ACTOR)
    engine.dispose()
    removed = time.monotonic()

    # Without a reload: the page's watch and the API both notice. The API's
    # promise is that no request made 5 s after the removal is served: the
    # last request it served began before then (polling adds no slack).
    last_served = page_after = None
    refused = False
    while time.monotonic() - removed < PAGE_REMOVAL_SECONDS + 2:
        started = time.monotonic() - removed
        if not refused:
            status = _api(page, "/api/v1/clients")[0]
            if status == 200:
                last_served = started
            else:
                assert status == 401
                refused = True
        if page_after is None and REFUSAL in _text(page):
            page_after = time.monotonic() - removed
        if refused and page_after is not None:
            break
        time.sleep(0.1)
    assert refused
    assert last_served is None or last_served <= REMOVAL_SECONDS, last_served
    assert page_after is not None
    assert page_after <= PAGE_REMOVAL_SECONDS, page_after
    text = _text(page)
    assert ANN in text
    assert _leaked_names(text, signin_server, set()) == []
    assert page.get_by_test_id("stMetric").count() == 0
    assert page.get_by_test_id("stPageLink").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "signin-removed.png"))
