"""Who sees what on every page, under AppTest with ``at.user`` for each role,
on the demo portfolio in each backend: the door when signed out or refused,
a manager's book everywhere, the admin's own pages, and sign-in off."""

from __future__ import annotations

import datetime as dt
import html
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import streamlit as st
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import OperationalError
from streamlit.testing.v1 import AppTest

import ui.access
import usage.serving
from tests.conftest import BACKENDS, DemoByDay
from tests.shown_tables import shown_tables
from tests.signin_support import TEST_ACTOR, add_people, signed_in, use_sign_in
from tests.test_pages import PROJECT_ROOT, open_prepared, session_for, texts, unfold
from ui import picker
from ui.html_table import MOST_HEIGHT
from usage.audit import AUDIT_DEFAULT_LIMIT, Action, Actor, list_events, record
from usage.daily import read_day
from usage.db import make_engine
from usage.models import AuditEvent, Person, Role
from usage.people import add_person, list_people, remove_person, unassign
from usage.portfolio import latest_snapshot_date, list_client_choices, summarize_portfolio
from usage.validation import DayParams

ADMIN, ANN, BOB, ALI = "boss@example.com", "Ann@Example.com", "bob@example.com", "ali@example.com"
ANN_BOOK = ["acme-corp", "globex"]
BOB_BOOK = ["umbrella-health"]
PAGES = ("portfolio", "client", "compare", "snapshots", "collection")
NEW_YORK = ZoneInfo("America/New_York")
DEMO_NAMES = ("Acme Corporation", "Globex Corporation", "Umbrella Health", "Stark Industries")


def _add_the_people(url: str) -> None:
    engine = make_engine(url)
    add_people(engine, {
        ADMIN: (Role.ADMIN, []), ALI: (Role.ANALYST, []),
        ANN: (Role.MANAGER, ANN_BOOK), BOB: (Role.MANAGER, BOB_BOOK),
    })  # fmt: skip
    engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def people_by_day(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> DemoByDay:
    return DemoByDay(request, tmp_path_factory, _add_the_people)


@pytest.fixture
def people_url(people_by_day: DemoByDay, today: dt.date) -> str:
    """The demo portfolio with an admin, an analyst and two managers."""
    return people_by_day.url(today)


@pytest.fixture
def store(people_url: str, use_database: Any) -> str:
    return str(use_database(people_url))


def open_as(
    user: dict[str, Any] | None, page: str = "portfolio", access: dict[str, Any] | None = None,
    **params: str,
) -> AppTest:  # fmt: skip
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
    return open_prepared(use_sign_in(at, user, **(access or {})), page, params)


def shown_text(at: AppTest) -> str:
    """Everything a person reads on the page and in the sidebar."""
    parts = [
        *texts(at.title), *texts(at.markdown), *texts(at.caption), *texts(at.warning),
        *texts(at.info), *texts(at.error), *texts(at.subheader),
        *(str(metric.value) + str(metric.label) for metric in at.metric),
        *(str(link.proto.label) for link in at.get("page_link")),
    ]  # fmt: skip
    return "\n".join(parts)


def assert_nothing_leaks(at: AppTest) -> None:
    assert not at.get("page_link")
    assert not at.dataframe
    assert not at.get("html")  # the HTML tables (ui.html_table)
    assert not at.get("plotly_chart")
    assert not at.metric
    text = shown_text(at)
    assert not [name for name in DEMO_NAMES if name in text]


@pytest.mark.parametrize("page", PAGES)
def test_signed_out_every_page_is_the_door(store: str, page: str) -> None:
    at = open_as(None, page, bucket="acme-corp")
    assert [title.value for title in at.title] == ["Usage analytics"]
    assert [button.label for button in at.button] == ["Sign in"]
    assert_nothing_leaks(at)


def test_named_providers_get_a_button_each(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
    use_sign_in(at, None)
    auth = {**at.secrets["auth"]}
    del auth["client_id"]
    auth["google"] = {"client_id": "g", "client_secret": "s", "server_metadata_url": "http://x/"}
    auth["microsoft"] = {"client_id": "m", "client_secret": "s", "server_metadata_url": "http://y/"}
    at.secrets = {"auth": auth}
    at.run()
    assert [button.label for button in at.button] == [
        "Sign in with Google",
        "Sign in with Microsoft",
    ]
    assert_nothing_leaks(at)


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (signed_in("stranger@example.com"),
         "You are signed in as stranger@example.com, but this dashboard does not know you yet: "
         "ask an admin to add you."),
        (signed_in(ANN, email_verified=False),
         "Sign-in refused: your identity provider says your email address is not verified."),
        (signed_in(ANN, iat=int(time.time()) - 13 * 3600),
         "Sign-in refused: your sign-in has expired; sign in again."),
        ({**signed_in(ANN), "email": None},
         "Sign-in refused: the sign-in did not give an email address in its 'email' claim."),
    ],
)  # fmt: skip
def test_refused_people_see_why_and_nothing_else(
    store: str, user: dict[str, Any], message: str
) -> None:
    at = open_as(user, "client", bucket="acme-corp")
    assert texts(at.warning) == [message]
    assert [button.label for button in at.button] == ["Sign out"]
    assert_nothing_leaks(at)
    with session_for(store) as session:
        (refused, *_) = list_events(session, action="sign_in_refused")
    reason = message.removeprefix("Sign-in refused: ").removesuffix(".")
    if message.startswith("You are"):
        reason = "not a person of this dashboard"
    assert refused["detail"] == f"{reason}; iat {user['iat']}"
    assert refused["actor"] == (user["email"] or user["sub"]).lower()


def test_a_manager_sees_their_book_on_every_page(store: str) -> None:
    user = signed_in(ANN)
    at = open_as(user)
    with session_for(store) as session:
        as_of = latest_snapshot_date(session, visible=frozenset(ANN_BOOK))
        assert as_of is not None
        book = summarize_portfolio(session, as_of=as_of, visible=frozenset(ANN_BOOK))
        every = summarize_portfolio(session, as_of=as_of, visible=None)
    assert book.total_records < every.total_records
    assert sorted(cell.text for cell in shown_tables(at)["portfolio"].column("Bucket")) == ANN_BOOK
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Clients"] == "2"
    assert metrics["Records"] == f"{book.total_records:,}"
    # The sidebar: who is signed in, and no admin page.
    sidebar = "\n".join(texts(at.sidebar.markdown))
    assert "ann@example.com" in sidebar
    assert "manager" in sidebar
    labels = [link.proto.label for link in at.sidebar.get("page_link")]
    assert labels == ["Portfolio", "Client", "Compare", "Daily snapshot", "Alerts", "Collection"]

    # Another manager's client by deep link: exactly an unknown bucket's answer.
    other = open_as(user, "client", bucket="umbrella-health")
    unknown = open_as(user, "client", bucket="no-such-client")
    assert texts(other.warning) == [
        text.replace("no-such-client", "umbrella-health") for text in texts(unknown.warning)
    ]
    assert "Umbrella Health" not in shown_text(other)
    assert other.title[0].value == "Acme Corporation"
    compare = open_as(user, "compare", bucket="umbrella-health")
    assert "is not a known client" in texts(compare.warning)[0]
    assert "Umbrella Health" not in shown_text(compare)

    day = open_as(user, "snapshots")
    with session_for(store) as session:
        snapshots = read_day(session, DayParams(snapshot_date=as_of), only=frozenset(ANN_BOOK))
    day_buckets = shown_tables(day)["snapshots_table"].frame()["bucket"].tolist()
    assert day_buckets == [s["bucket_id"] for s in snapshots]
    assert set(day_buckets) <= set(ANN_BOOK)

    runs = open_as(user, "collection")
    assert sorted(shown_tables(runs)["collection_runs"].frame()["Bucket"]) == ANN_BOOK
    assert "collection_collect" not in [button.key for button in runs.button]


@pytest.mark.parametrize("page", ["people", "audit"])
def test_admin_pages_are_not_routes_for_others(store: str, page: str) -> None:
    for email in (ALI, ANN):
        at = open_as(signed_in(email), page)
        assert at.title[0].value not in ("People", "Audit")
    at = open_as(signed_in(ADMIN), page)
    assert at.title[0].value == page.title()


def test_an_analyst_reads_every_client_and_acts_on_nothing(store: str) -> None:
    at = open_as(signed_in(ALI))
    assert {metric.label: metric.value for metric in at.metric}["Clients"] == "14"
    runs = open_as(signed_in(ALI), "collection")
    assert len(shown_tables(runs)["collection_runs"].rows) == 14
    assert "collection_collect" not in [button.key for button in runs.button]


def test_an_admin_manages_people_and_the_audit_records_it(store: str) -> None:
    admin = signed_in(ADMIN)
    at = open_as(admin, "people")
    assert shown_tables(at)["people"].most_height == MOST_HEIGHT  # many people scroll inside
    table = shown_tables(at)["people"].frame()
    assert table.set_index("Email").loc["ann@example.com", "Book"] == ", ".join(ANN_BOOK)
    # The list first: the forms are drawn once asked for.
    assert not at.text_input
    assert not at.text_area
    assert [button.key for button in at.button] == ["sign_out"]
    assert [section.label for section in at.expander] == ["Add a person"]
    assert at.selectbox(key="people_chosen").value is None
    unfold(at, "people_add_open")
    at.text_input(key="people_add_email").input("Cat@Example.com")
    at.selectbox(key="people_add_role").set_value("manager")
    at.multiselect(key="people_add_book").select("stark-industries")
    at.button[0].click()  # the form's submit button
    at.run()
    assert not at.exception
    assert texts(at.success) == ["cat@example.com added."]
    assert "cat@example.com" in shown_tables(at)["people"].frame()["Email"].tolist()
    cat = open_as(signed_in("cat@example.com"))
    assert [cell.href for cell in shown_tables(cat)["portfolio"].column("Bucket")] == [
        "client?bucket=stark-industries"
    ]

    audit = open_as(admin, "audit", action="person_added", actor="boss")
    assert shown_tables(audit)["audit"].most_height == MOST_HEIGHT  # up to 1,000 events
    events = shown_tables(audit)["audit"].frame()
    assert events["Target"].tolist()[0] == "cat@example.com"
    assert set(events["Actor"]) == {ADMIN}
    with session_for(store) as session, session.begin():
        remove_person(session, "cat@example.com", actor=TEST_ACTOR)


def test_people_are_added_at_times_in_the_viewers_zone(store: str) -> None:
    """When each person was added, in the viewer's zone, UTC on hover; a
    book past 8 clients cut, all of it on hover."""
    with session_for(store) as session, session.begin():
        add_person(session, "big@example.com", Role.MANAGER,
                   [choice.bucket_id for choice in list_client_choices(session, visible=None)],
                   actor=TEST_ACTOR)  # fmt: skip
    at = use_sign_in(AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60),
                     signed_in(ADMIN))  # fmt: skip
    at.context = {"timezone": "America/New_York"}
    try:
        shown = shown_tables(open_prepared(at, "people", {}))["people"]
        with session_for(store) as session:
            listed = list_people(session)
    finally:
        with session_for(store) as session, session.begin():
            remove_person(session, "big@example.com", actor=TEST_ACTOR)
    assert "Added (UTC)" not in shown.headers  # on hover, not a column of its own
    moments = [person.created_at if person.created_at.tzinfo
               else person.created_at.replace(tzinfo=dt.UTC) for person in listed]  # fmt: skip
    added = shown.column("Added")
    assert [cell.text for cell in added] == [
        f"{moment.astimezone(NEW_YORK):%Y-%m-%d %H:%M %Z}" for moment in moments]  # fmt: skip
    assert [cell.title for cell in added] == [
        f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC" for moment in moments]  # fmt: skip
    books = dict(zip([cell.text for cell in shown.column("Email")], shown.column("Book"),
                     strict=True))  # fmt: skip
    book = listed[[person.email for person in listed].index("big@example.com")].book
    assert len(book) > 8
    assert books["big@example.com"].text == f"{', '.join(book[:8])} … and {len(book) - 8} more"
    assert books["big@example.com"].title == ", ".join(book)
    assert books["ann@example.com"].title is None  # short: whole, no tooltip


def test_the_audit_cuts_long_lists_of_clients_and_keeps_them_on_hover(store: str) -> None:
    """A book past 8 clients, a collection's past 3: the first ones and how
    many more, all on hover; other details, however long, as they are."""
    book = [f"client-{n:03d}" for n in range(12)]
    sentence = "role viewer, by sign-in from the allowed domain example.com today"
    actor = Actor("list-test")
    with session_for(store) as session, session.begin():
        record(session, actor, Action.BOOK_ASSIGNED, "ann@example.com", " ".join(book))
        record(session, actor, Action.COLLECTION_TRIGGERED, " ".join(book), "forced")
        record(session, actor, Action.PERSON_ADDED, "zed@example.com", sentence)
    try:
        shown = shown_tables(open_as(signed_in(ADMIN), "audit", actor=actor.name))["audit"]
    finally:  # the module's other tests read this store's trail
        with session_for(store) as session, session.begin():
            session.execute(delete(AuditEvent).where(AuditEvent.actor == actor.name))
    rows = {row[shown.headers.index("Action")].text: row for row in shown.rows}
    detail, target = shown.headers.index("Detail"), shown.headers.index("Target")
    booked, triggered = rows["Book assigned"], rows["Collection triggered"]
    assert booked[detail].text == " ".join(book[:8]) + " … and 4 more"
    assert booked[detail].title == " ".join(book)
    assert triggered[target].text == " ".join(book[:3]) + " … and 9 more"  # one line: 3
    assert triggered[target].title == " ".join(book)
    assert (triggered[detail].text, triggered[detail].title) == ("forced", None)
    assert (rows["Person added"][detail].text, rows["Person added"][detail].title) == (
        sentence, None)  # fmt: skip
    assert "Detail in full" not in shown.headers  # hover sources, not columns


def test_the_audit_shows_an_event_as_soon_as_it_is_recorded(store: str) -> None:
    """The page keeps what it read until the trail changes: an event
    recorded after a first open is on the next one, on top; one removed
    (as the tests here tidy up) is gone from it."""
    actor = Actor("fresh-test")
    before = shown_tables(open_as(signed_in(ADMIN), "audit"))["audit"].frame()
    with session_for(store) as session, session.begin():
        record(session, actor, Action.KEY_CREATED, "the newest event")
    try:
        after = shown_tables(open_as(signed_in(ADMIN), "audit"))["audit"].frame()
    finally:
        with session_for(store) as session, session.begin():
            session.execute(delete(AuditEvent).where(AuditEvent.actor == actor.name))
    assert len(before) < AUDIT_DEFAULT_LIMIT
    # On top of what was there (the reopen may have recorded a sign-in too).
    added = len(after) - len(before)
    assert after.iloc[added:].reset_index(drop=True).equals(before)
    newest = after.iloc[:added]
    assert (actor.name, "the newest event") in zip(newest["Actor"], newest["Target"], strict=True)
    again = shown_tables(open_as(signed_in(ADMIN), "audit"))["audit"].frame()
    assert actor.name not in again["Actor"].tolist()


def test_the_audit_reads_in_the_viewers_time_zone(store: str) -> None:
    """Times in the viewer's zone, UTC on hover; actions by their label."""
    at = use_sign_in(AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60),
                     signed_in(ADMIN))  # fmt: skip
    at.context = {"timezone": "America/New_York"}
    shown = shown_tables(open_prepared(at, "audit", {}))["audit"]
    table = shown.frame()
    today = dt.datetime.now(NEW_YORK).date()  # the last 30 days: New York's
    with session_for(store) as session:
        events = list_events(
            session, since=today - dt.timedelta(days=29), until=today, zone=NEW_YORK
        )
    assert events
    assert at.date_input(key="audit_since").label == "From"
    assert "in your time zone (America/New_York): From and To are its days" in texts(at.caption)[0]
    assert table.columns.tolist()[:3] == ["At", "Actor", "Action"]  # UTC: no column of its own
    moments = [dt.datetime.fromisoformat(event["at"]) for event in events]
    # UTC on hover written as People's and Collection's: to the minute, "UTC"
    assert [cell.title for cell in shown.column("At")] == [
        f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC" for moment in moments]  # fmt: skip
    new_york = [moment.astimezone(NEW_YORK) for moment in moments]
    assert table["At"].tolist() == [f"{moment:%Y-%m-%d %H:%M} {moment:%Z}" for moment in new_york]
    assert all(name in ("EST", "EDT") for name in table["At"].str.split().str[-1])
    labels = {action.value: action.value.replace("_", " ").capitalize() for action in Action}
    assert table["Action"].tolist() == [labels[event["action"]] for event in events]


@pytest.mark.parametrize(
    ("params", "warnings"),
    [
        # The README's example link: empty values are the defaults, unsaid.
        ({"since": "", "until": "", "actor": "", "action": ""}, []),
        # A bad value is named as the page labels its field.
        ({"since": "soon"}, ["From (since=soon) must be a date in YYYY-MM-DD format; showing "]),
        ({"until": "2026-02-30"}, ["To (until=2026-02-30) must be a real calendar date"]),
        ({"action": "dance"}, ["Action (action=dance) must be one of: "]),
        ({"since": "2026-03-05", "until": "2026-03-01"},
         ["From (since=2026-03-05) must be on or before To (until=2026-03-01); showing the last "
          "30 days instead."]),
        # Only the start: the end is the default, which the URL did not say.
        ({"since": "2100-01-01"},
         ["From (since=2100-01-01) must be on or before To (until); showing the last 30 days "
          "instead."]),
    ],
)  # fmt: skip
def test_the_audit_links_values(store: str, params: dict[str, str], warnings: list[str]) -> None:
    at = use_sign_in(AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60),
                     signed_in(ADMIN))  # fmt: skip
    open_prepared(at, "audit", params)
    shown = texts(at.warning)
    assert len(shown) == len(warnings)
    assert all(text.startswith(start) for text, start in zip(shown, warnings, strict=True))
    assert all(warning.icon == ":material/warning:" for warning in at.warning)  # as on every page


@pytest.mark.parametrize(
    ("timezone", "shown"),
    [("UTC", True), ("America/New_York", False), ("Asia/Tokyo", True)],
)
def test_the_audit_days_are_the_viewers(store: str, timezone: str, shown: bool) -> None:
    """An event at 03:00 UTC on 2 March is on 2 March in UTC and in Tokyo,
    on 1 March (22:00) in New York: the From and To days are the viewer's."""
    with session_for(store) as session, session.begin():
        session.execute(insert(AuditEvent), {
            "at": dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC), "actor": "zone-probe",
            "action": Action.SIGN_IN.value, "target": "", "detail": "", "address": "",
        })  # fmt: skip
    try:
        at = use_sign_in(AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60),
                         signed_in(ADMIN))  # fmt: skip
        at.context = {"timezone": timezone}
        open_prepared(at, "audit", {"since": "2026-03-02", "until": "2026-03-02",
                                    "actor": "zone-probe"})  # fmt: skip
        if shown:
            (at_local,) = shown_tables(at)["audit"].frame()["At"]
            assert at_local.startswith("2026-03-02 ")
        else:
            assert "audit" not in shown_tables(at)
            assert texts(at.info) == ["No event matches these filters."]
    finally:
        with session_for(store) as session, session.begin():
            session.execute(delete(AuditEvent).where(AuditEvent.actor == "zone-probe"))


def test_among_many_clients_a_book_is_written_as_bucket_ids(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(picker, "ALL_SHOWN", 5)  # the demo's 14 clients are "many"
    at = open_as(signed_in(ADMIN), "people")
    assert not at.multiselect  # no list of every client, in either form
    at.selectbox(key="people_chosen").set_value(ANN.lower()).run()
    assert at.text_area(key=f"people_book_{ANN.lower()}_text").value == "\n".join(ANN_BOOK)
    # An unknown bucket is refused, naming it, and nobody is added.
    unfold(at, "people_add_open")
    at.text_input(key="people_add_email").input("cat@example.com")
    at.text_area(key="people_add_book_text").input("stark-industries\nno-such-client")
    at.button[0].click().run()
    assert texts(at.error) == ["bucket 'no-such-client' is not a known client"]
    assert "cat@example.com" not in shown_tables(at)["people"].frame()["Email"].tolist()
    # What was typed is kept, to mend.
    assert at.text_input(key="people_add_email").value == "cat@example.com"
    assert at.text_area(key="people_add_book_text").value == "stark-industries\nno-such-client"
    at.text_area(key="people_add_book_text").input(" stark-industries, globex\n\nglobex ")
    at.button[0].click().run()
    assert texts(at.success) == ["cat@example.com added."]
    # Added: the form starts again empty.
    assert at.text_input(key="people_add_email").value == ""
    assert at.text_area(key="people_add_book_text").value == ""
    table = shown_tables(at)["people"].frame().set_index("Email")
    assert table.loc["cat@example.com", "Book"] == "globex, stark-industries"
    with session_for(store) as session, session.begin():
        remove_person(session, "cat@example.com", actor=TEST_ACTOR)


def test_a_sign_in_is_recorded_once_per_token(store: str) -> None:
    user = signed_in(BOB, iat=int(time.time()) - 60)
    open_as(user)
    open_as(user, "client")  # another tab, the same sign-in
    with session_for(store) as session:
        events = [e for e in list_events(session, action="sign_in") if e["actor"] == BOB]
    assert len(events) == 1
    assert f"iat {user['iat']}" in events[0]["detail"]


def test_a_removed_person_is_refused_on_their_next_run(store: str) -> None:
    with session_for(store) as session, session.begin():
        add_person(session, "dan@example.com", Role.ANALYST, [], actor=TEST_ACTOR)
    user = signed_in("dan@example.com")
    at = open_as(user)
    assert "portfolio" in shown_tables(at)
    with session_for(store) as session, session.begin():
        remove_person(session, "dan@example.com", actor=TEST_ACTOR)
    time.sleep(2.1)  # ui.access.PRINCIPAL_TTL_SECONDS
    at.run()
    assert "ask an admin to add you" in texts(at.warning)[0]
    assert_nothing_leaks(at)


def test_verified_emails_of_allowed_domains_come_in_with_the_default_role(store: str) -> None:
    access = {"allowed_domains": ["partner.example"], "default_role": "analyst"}
    refused = open_as(signed_in("eve@partner.example", email_verified=None), access=access)
    assert "ask an admin to add you" in texts(refused.warning)[0]
    at = open_as(signed_in("eve@partner.example"), access=access)
    assert {metric.label: metric.value for metric in at.metric}["Clients"] == "14"
    with session_for(store) as session, session.begin():
        person = session.scalar(select(Person).where(Person.email == "eve@partner.example"))
        assert person is not None
        assert person.role == "analyst"
        remove_person(session, "eve@partner.example", actor=TEST_ACTOR)


def test_sign_in_off_is_the_local_admin_and_says_so_when_exposed(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
    at.run()
    assert {metric.label: metric.value for metric in at.metric}["Clients"] == "14"
    assert "Sign-in is off: this server answers this machine only." in texts(at.sidebar.caption)
    assert not at.warning
    labels = [link.proto.label for link in at.sidebar.get("page_link")]
    assert labels[-2:] == ["People", "Audit"]
    monkeypatch.setattr(usage.serving, "_listening", ["0.0.0.0"])
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
    at.run()
    assert texts(at.warning)[0].startswith(
        "Sign-in is off: anyone who can reach this server sees every client"
    )


ALL_NAMES = {
    "acme-corp": "Acme Corporation", "globex": "Globex Corporation",
    "umbrella-health": "Umbrella Health", "stark-industries": "Stark Industries",
}  # fmt: skip


def everything_shown(at: AppTest) -> str:
    """The page's text, its tables and its figures, as one string."""
    frames = [frame.value.to_csv() for frame in at.dataframe]
    frames += [html.unescape(element.proto.body) for element in at.get("html")]  # ui.html_table
    figures = [str(chart.proto.spec) for chart in at.get("plotly_chart")]
    options = [str(box.options) for box in at.selectbox]
    return "\n".join([shown_text(at), *frames, *figures, *options])


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize(
    ("email", "book"), [(ADMIN, None), (ALI, None), (ANN, ANN_BOOK), (BOB, BOB_BOOK)]
)
def test_every_page_shows_each_role_its_clients_only(
    store: str, page: str, email: str, book: list[str] | None
) -> None:
    at = open_as(signed_in(email), page)
    shown = everything_shown(at)
    for bucket, name in ALL_NAMES.items():
        visible = book is None or bucket in book
        assert (name in shown) is visible or (visible and page in ("client", "compare")), (
            bucket,
            page,
        )


def test_a_manager_is_told_nothing_of_other_clients_dates(store: str, today: dt.date) -> None:
    """Soylent stopped in the spring: its manager is not told how far the
    clients outside their book go."""
    with session_for(store) as session, session.begin():
        add_person(session, "sol@example.com", Role.MANAGER, ["soylent"], actor=TEST_ACTOR)
    try:
        at = open_as(signed_in("sol@example.com"), "client", bucket="soylent")
        shown = everything_shown(at)
        assert f"snapshots up to {today.isoformat()}" not in shown
        assert "other clients" not in shown
        assert "Soylent Corp" in shown
    finally:
        with session_for(store) as session, session.begin():
            remove_person(session, "sol@example.com", actor=TEST_ACTOR)


def test_a_client_leaving_the_book_while_open_falls_back_with_a_warning(store: str) -> None:
    with session_for(store) as session, session.begin():
        add_person(session, "max@example.com", Role.MANAGER, ANN_BOOK, actor=TEST_ACTOR)
    try:
        at = open_as(signed_in("max@example.com"), "client", bucket="acme-corp")
        assert at.title[0].value == "Acme Corporation"
        with session_for(store) as session, session.begin():
            unassign(session, "max@example.com", ["acme-corp"], actor=TEST_ACTOR)
        st.cache_data.clear()  # as the page's watch finds the change and reruns
        at.run()
        assert not at.exception, [item.value for item in at.exception]
        assert at.title[0].value == "Globex Corporation"
        assert "is not a known client" in texts(at.warning)[0]
        assert "Acme Corporation" not in everything_shown(at)
    finally:
        with session_for(store) as session, session.begin():
            remove_person(session, "max@example.com", actor=TEST_ACTOR)


def test_a_manager_with_an_empty_book_is_told_to_ask_an_admin(store: str) -> None:
    with session_for(store) as session, session.begin():
        add_person(session, "new@example.com", Role.MANAGER, [], actor=TEST_ACTOR)
    try:
        for page in ("portfolio", "client", "compare", "snapshots", "collection"):
            at = open_as(signed_in("new@example.com"), page)
            assert texts(at.info) == [
                "No client is assigned to you yet: ask an admin to add clients to your book."
            ], page
    finally:
        with session_for(store) as session, session.begin():
            remove_person(session, "new@example.com", actor=TEST_ACTOR)


def test_the_sign_in_watch_says_a_database_gone_after_the_page(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch in the sidebar reads the person again once the page is
    drawn (and alone every 30 s): a database gone by then is the pages'
    message, not an error."""
    real = ui.access.load_person
    calls: list[str] = []

    def gone_after_the_first(engine: Any, identity: str) -> Any:
        calls.append(identity)
        if len(calls) > 1:
            raise OperationalError("SELECT", {}, Exception("server closed the connection"))
        return real(engine, identity)

    monkeypatch.setattr("ui.access.load_person", gone_after_the_first)
    at = open_as(signed_in(ANN))  # asserts no exception
    assert len(calls) == 2  # the viewer, then the watch
    assert "Acme Corporation" in everything_shown(at)
    (error,) = texts(at.sidebar.error)
    assert "The usage database cannot be reached" in error
