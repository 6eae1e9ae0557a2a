"""The Collection page under AppTest: last runs of the visible clients, and
"Collect now" for signed-in admins only (and the one person at the machine
when sign-in is off)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

import ui.rows
import usage.runtime
from tests.collect_support import BUCKETS, make_records_database, write_config_file
from tests.conftest import new_database_url
from tests.factories import new_client, snapshot
from tests.s3_server import PROJECT_ROOT, S3Server, running_s3
from tests.shown_tables import shown_counts, shown_tables
from tests.signin_support import add_people, signed_in, use_sign_in
from tests.test_pages import open_prepared, texts, unfold, url_params
from ui import picker
from ui.data import DEMO_NOTICE
from ui.format import md_text
from usage.access import LOCAL_ADMIN
from usage.audit import list_events
from usage.collect.runs import list_runs
from usage.collect.trigger import run_trigger
from usage.demo import DEMO_SETTING
from usage.history import read_history
from usage.models import Client, CollectionRun, Role, Setting
from usage.snapshots import replace_snapshot

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3({name: BUCKETS[name] for name in ("globex", "empty-co")}) as server:
        yield server


ADMIN, MANAGER, ANALYST = "ops@example.com", "ann@example.com", "ali@example.com"


@pytest.fixture
def store(
    engine: Engine,
    database_url: str,
    s3: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
) -> Iterator[None]:
    """Three clients, missing-co's last run failed, three people; the page
    on this database."""
    records_url = new_database_url(request, backend, tmp_path)
    make_records_database(records_url)
    config = write_config_file(tmp_path / "collect.toml", s3.endpoint_url, records_url)
    for name, value in {**s3.env, "USAGE_CONFIG": str(config)}.items():
        monkeypatch.setenv(name, value)
    with Session(engine) as session, session.begin():
        new_client(session, "globex")
        new_client(session, "empty-co", "trial")
        new_client(session, "missing-co")
    add_people(engine, {
        ADMIN: (Role.ADMIN, []), MANAGER: (Role.MANAGER, ["globex"]), ANALYST: (Role.ANALYST, []),
    })  # fmt: skip
    run_trigger(engine, b'{"bucket_ids": ["missing-co"]}', principal=LOCAL_ADMIN)
    monkeypatch.setenv("USAGE_DATABASE_URL", database_url)
    monkeypatch.setattr("usage.runtime._engine", None)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    if usage.runtime._engine is not None:
        usage.runtime._engine.dispose()
    st.cache_data.clear()
    st.cache_resource.clear()


def runs_shown(at: AppTest) -> Any:
    """The runs' table as shown: each cell's text, by header."""
    return shown_tables(at)["collection_runs"].frame()


def open_page(email: str | None = ADMIN) -> AppTest:
    """The page signed in as ``email``; None: sign-in off (the local admin)."""
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
    if email is not None:
        use_sign_in(at, signed_in(email))
    at.switch_page("pages/collection.py")
    at.run()
    assert not at.exception, [item.value for item in at.exception]
    return at


@pytest.mark.parametrize("email", [ADMIN, None])
def test_the_page_shows_each_clients_last_run(
    engine: Engine, store: None, email: str | None
) -> None:
    at = open_page(email)
    assert at.title[0].value == "Collection"
    with Session(engine) as session:
        runs = list_runs(session, visible=None)
    table = runs_shown(at)
    assert table["Bucket"].tolist() == [run["bucket_id"] for run in runs]
    assert table["Last run"].tolist() == ["— never run", "— never run", "✗ failed"]
    assert table["Error"].tolist() == ["", "", "bucket 'missing-co' does not exist"]
    assert [error.value for error in at.error] == [
        "**missing\\-co**: bucket 'missing\\-co' does not exist"
    ]
    # "Collect now" is closed: its widgets are drawn once it is opened.
    assert [button.key for button in at.button] == ["sign_out"][: 0 if email is None else 1]
    assert [section.label for section in at.expander] == ["Collect now"]
    assert not at.multiselect
    assert not at.checkbox
    unfold(at, "collection_collect_open")
    assert [button.key for button in at.button] == ["collection_collect", "sign_out"][
        : 1 if email is None else 2
    ]
    assert [box.key for box in at.multiselect] == ["collection_buckets"]
    assert not at.text_input  # no key field: admins are who signed in as one


@pytest.mark.parametrize(
    ("email", "buckets"),
    [(MANAGER, ["globex"]), (ANALYST, ["empty-co", "globex", "missing-co"])],
)
def test_collect_now_is_for_admins_only(store: None, email: str, buckets: list[str]) -> None:
    at = open_page(email)
    assert runs_shown(at)["Bucket"].tolist() == buckets
    assert "collection_collect" not in [button.key for button in at.button]
    assert not at.multiselect
    assert not at.expander  # not even the closed section


def test_an_admin_collects_now_and_sees_the_runs(engine: Engine, store: None) -> None:
    at = open_page()
    unfold(at, "collection_collect_open")
    at.multiselect(key="collection_buckets").select("globex").run()
    at.button(key="collection_collect").click().run()
    assert not at.exception
    assert [item.value for item in at.success] == [
        "Collected 1 clients in " + _took(at) + ", 0 failed."
    ]
    table = runs_shown(at)
    assert table.set_index("Bucket")["Last run"].to_dict() == {
        "empty-co": "— never run", "globex": "✓ succeeded", "missing-co": "✗ failed"
    }  # fmt: skip
    # The counts above the table follow: one more succeeded, one fewer never run.
    assert shown_counts(at) == [
        ("✓ succeeded", "1"), ("✗ failed", "1"), ("◔ running", "0"), ("— never run", "1"),
    ]  # fmt: skip
    with Session(engine) as session:
        assert len(read_history(session, "globex", None, None, None, visible=None)) == 1
        (event,) = list_events(session, action="collection_triggered", actor=ADMIN)
    assert (event["target"], event["detail"]) == ("globex", "")
    # Again within 5 minutes: refused, unless forced.
    at.button(key="collection_collect").click().run()
    assert at.warning[0].value.startswith(md_text("globex ran less than 5 minutes ago: retry in "))
    at.checkbox(key="collection_force").check().run()
    at.button(key="collection_collect").click().run()
    assert at.success[0].value.startswith("Collected 1 clients in ")


def _took(at: AppTest) -> str:
    text = str(at.success[0].value)
    return text.split(" in ", 1)[1].split(",", 1)[0]


def test_without_configuration_the_button_says_what_is_missing(
    store: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("USAGE_CONFIG")
    monkeypatch.chdir(tmp_path)
    at = open_page()
    unfold(at, "collection_collect_open")
    at.button(key="collection_collect").click().run()
    assert at.error[-1].value == md_text(
        "collection is not configured: records.url is missing: set url in [records] of"
        " usage.toml or the environment variable USAGE_RECORDS_URL"
    )


def test_before_any_click_the_page_says_collection_is_configured(
    store: None, tmp_path: Path
) -> None:
    at = open_page()
    assert (
        f"Collection is configured (settings from {md_text(str(tmp_path / 'collect.toml'))})."
        in [caption.value for caption in at.caption]
    )
    assert not at.warning


@pytest.mark.parametrize(
    ("email", "detail"),
    [
        (ADMIN, ": records.url is missing: set url in [records] of usage.toml or the"
                " environment variable USAGE_RECORDS_URL"),
        (MANAGER, ""),  # a value in the message could be a secret: admins only
    ],
)  # fmt: skip
def test_before_any_click_the_page_says_which_setting_is_missing(
    store: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, email: str, detail: str
) -> None:
    monkeypatch.delenv("USAGE_CONFIG")
    monkeypatch.chdir(tmp_path)
    at = open_page(email)
    (warning,) = texts(at.warning)
    assert warning.startswith(f"Collection is not configured on this server{detail}. Until")
    assert '"Collect now" and `POST /api/v1/collect/trigger` cannot run' in warning


def test_a_run_from_elsewhere_is_on_the_next_open(engine: Engine, store: None) -> None:
    """The runs are kept between opens until they change: a run triggered
    through the API (or the command line), not by this page's button, is
    on the page's next open all the same."""
    assert runs_shown(open_page()).set_index("Bucket").loc["globex", "Last run"] == "— never run"
    run_trigger(engine, b'{"bucket_ids": ["globex"]}', principal=LOCAL_ADMIN)
    table = runs_shown(open_page()).set_index("Bucket")
    assert table.loc["globex", "Last run"] == "✓ succeeded"
    assert table.loc["missing-co", "Last run"] == "✗ failed"


def test_took_is_a_dash_with_help_until_a_run_ends(engine: Engine, store: None) -> None:
    at = open_page()
    shown = shown_tables(at)["collection_runs"]
    buckets = [cell.text for cell in shown.column("Bucket")]
    took = dict(zip(buckets, shown.column("Took (s)"), strict=True))
    assert {bucket: cell.grey for bucket, cell in took.items()} == {
        "empty-co": True, "globex": True, "missing-co": False}  # fmt: skip
    assert took["empty-co"].text == "—"  # the grey placeholder, not "None" or "nan"
    assert re.fullmatch(r"\d+\.\d\d", took["missing-co"].text)  # seconds, two decimals
    # Never started: the same placeholder in every column of the run, not a
    # dash of text in one (which read black beside the others' grey).
    started = [cell.grey for cell in shown.column("Started")]
    assert started == [True, True, False]
    # UTC on hover once started (no tooltip on the dash), not a column of its own.
    assert [cell.title is None for cell in shown.column("Started")] == started
    assert "Started at (UTC)" not in shown.headers
    sorts = at.selectbox(key="collection_rows_sort").options  # by what is drawn only
    assert "Started ↑" in sorts
    assert not [option for option in sorts if "UTC" in option]
    assert "still running, or never run" in shown.helps["Took (s)"]
    assert "**" not in shown.helps["Took (s)"]  # a tooltip is plain text
    table = shown.frame().set_index("Bucket")
    started_text = str(table.loc["missing-co", "Started"])
    assert started_text.endswith(" UTC (0 min ago)")  # AppTest has no browser zone: UTC
    utc = dict(zip(buckets, shown.column("Started"), strict=True))["missing-co"].title
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", str(utc))  # as People's and Audit's
    assert started_text.startswith(str(utc))


def test_a_refused_inventory_report_is_said_with_its_reason(
    engine: Engine, store: None, downloads: dict[str, bytes]
) -> None:
    """A run that listed the bucket because its inventory report was refused
    says so in Source, gives the reason in Source note and the download,
    and below the table."""
    reason = "inventory report s3://inv/missing-co/2026-11-30T01-00Z/ is 72 hours old"
    with Session(engine) as session, session.begin():
        run = session.scalars(select(CollectionRun).join(Client).where(
            Client.bucket_id == "missing-co")).one()  # fmt: skip
        run.status, run.error = "succeeded", None
        run.storage_source, run.storage_note = "listing", reason
    at = open_page()
    table = runs_shown(at).set_index("Bucket")
    assert table.loc["missing-co", "Source"] == "listing (inventory refused)"
    assert table.loc["missing-co", "Source note"] == reason
    assert table.loc["globex", "Source note"] == ""
    assert texts(at.warning)[-1] == (
        f"**missing-co**: inventory report refused, the bucket was listed instead: {reason}"
    )
    rows = {row["Bucket"]: row for row in csv.DictReader(
        io.StringIO(downloads["collection_runs.csv"].decode()))}  # fmt: skip
    assert (rows["missing-co"]["Source"], rows["missing-co"]["Source note"]) == (
        "listing (inventory refused)", reason)  # fmt: skip
    assert rows["globex"]["Source note"] == ""


def test_snapshots_without_a_run_say_where_they_came_from(engine: Engine, store: None) -> None:
    """Demo clients' snapshots (while the store is the demo) and imported ones
    are not "never run" without a word."""
    with Session(engine) as session, session.begin():
        session.add(Setting(name=DEMO_SETTING, value="2024-01-01"))
        demo_client = new_client(session, "acme-corp")  # a demo client's bucket
        replace_snapshot(session, demo_client, snapshot(dt.date(2024, 1, 1)))
        own_client = new_client(session, "own-co")
        replace_snapshot(session, own_client, snapshot(dt.date(2024, 1, 2)))
    at = open_page()
    table = runs_shown(at).set_index("Bucket")
    assert table["Last run"].to_dict() == {
        "acme-corp": "— no run (demo data)", "empty-co": "— never run",
        "globex": "— never run", "missing-co": "✗ failed", "own-co": "— no run (imported)",
    }  # fmt: skip
    assert table.loc["own-co", "Latest snapshot"] == "2024-01-02"
    assert (
        'No run, yet snapshots: "demo data" came from the demo portfolio (`python -m usage demo`)'
        ' and "imported" from a file (`python -m usage import`).'
    ) in texts(at.caption)
    assert shown_counts(at) == [
        ("✓ succeeded", "0"), ("✗ failed", "1"), ("◔ running", "0"), ("— never run", "2"),
        ("— no run (demo data)", "1"), ("— no run (imported)", "1"),
    ]  # fmt: skip


def test_a_collection_ends_the_demo_notice(engine: Engine, store: None) -> None:
    with Session(engine) as session, session.begin():
        session.add(Setting(name=DEMO_SETTING, value="2024-01-01"))
    at = open_page()
    unfold(at, "collection_collect_open")
    assert DEMO_NOTICE in [item.value for item in at.markdown]
    at.multiselect(key="collection_buckets").select("globex").run()
    at.button(key="collection_collect").click().run()
    assert at.success
    assert DEMO_NOTICE not in [item.value for item in at.markdown]


def test_past_twenty_failures_the_rest_are_counted(engine: Engine, store: None) -> None:
    """Every failure's error is spelt out below the table up to 20; the rest
    are counted, their errors in the table and the download."""
    names = [f"gone-{number:02d}" for number in range(22)]
    with Session(engine) as session, session.begin():
        for name in names:
            new_client(session, name)
    run_trigger(engine, json.dumps({"bucket_ids": names}).encode(), principal=LOCAL_ADMIN)
    at = open_page()
    errors = texts(at.error)
    assert len(errors) == 20
    assert all(error.endswith("does not exist") for error in errors)
    assert (
        "And 3 more failed runs: their errors are in the table's Error column and in the download."
    ) in texts(at.caption)
    assert runs_shown(at)["Error"].str.endswith("does not exist").sum() == 23


def test_many_runs_show_a_window_filtered_by_last_run(
    store: None, downloads: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 2)
    at = open_page()
    assert runs_shown(at)["Bucket"].tolist() == ["empty-co", "globex"]
    assert "Clients 1 to 2 of 3." in " ".join(texts(at.caption))
    at.selectbox(key="collection_rows_filter").set_value("✗ failed").run()
    assert runs_shown(at)["Bucket"].tolist() == ["missing-co"]
    # Failures are spelt out below the table too, whatever its window.
    assert texts(at.error) == ["**missing-co**: bucket 'missing-co' does not exist"]
    csv = downloads["collection_runs.csv"].decode().splitlines()
    assert [line.split(",")[0] for line in csv[1:]] == ["empty-co", "globex", "missing-co"]


def open_link(**params: str) -> AppTest:
    """The page opened by a link with ``params``, by an admin."""
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
    use_sign_in(at, signed_in(ADMIN))
    at.switch_page("pages/collection.py")
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


def test_the_window_of_runs_is_in_the_url(store: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The filter is in the URL by its word (``failed`` for "✗ failed")."""
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 2)
    at = open_page()
    at.selectbox(key="collection_rows_filter").set_value("✗ failed").run()
    assert url_params(at) == {"filter": "failed"}
    at.text_input(key="collection_rows_search").input("MISSING").run()
    assert url_params(at) == {"filter": "failed", "q": "MISSING"}
    # The link opens the same rows.
    link = open_link(filter="failed", q="MISSING")
    assert link.selectbox(key="collection_rows_filter").value == "✗ failed"
    assert runs_shown(link)["Bucket"].tolist() == ["missing-co"]
    assert not link.warning


def test_an_unknown_filter_in_the_url_shows_every_run(
    store: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 2)
    at = open_link(filter="broken")
    assert texts(at.warning) == [
        "Last run (filter=broken) must be one of: never run, failed; showing every one instead."
    ]
    assert at.selectbox(key="collection_rows_filter").value == "Every one"
    assert runs_shown(at)["Bucket"].tolist() == ["empty-co", "globex"]
    assert "filter" not in url_params(at)


def test_a_link_to_a_short_table_says_its_search_and_filter_are_not_applied(
    store: None,
) -> None:
    """Below a window's length the table is whole, without a search or a
    filter: a link asking for them says so rather than seem to list the
    failed runs alone."""
    at = open_link(filter="failed", q="MISSING")
    assert texts(at.warning)[-1] == (
        "Find clients (q=MISSING) and Last run (filter=failed): the table's 3 clients are all "
        "shown, without a search or a filter."
    )
    assert len(runs_shown(at)) == 3
    assert not {"q", "filter"} & set(url_params(at))
    at.run()  # said once, for the link
    assert not [text for text in texts(at.warning) if "all shown" in text]


def test_a_search_not_applied_to_a_short_table_is_not_applied_once_it_grows(
    store: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a short table says it did not apply, and took out of the URL,
    is not applied later either when the table grows long in the same
    session: its window opens on every row, as its URL says."""
    at = open_link(filter="failed", q="MISSING", page="2")
    assert "all shown, without a search or a filter" in texts(at.warning)[-1]
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 2)  # the table is now past a window
    at.run()
    assert not at.exception
    assert at.text_input(key="collection_rows_search").value == ""
    assert at.selectbox(key="collection_rows_filter").value == "Every one"
    assert at.number_input(key="collection_rows_page").value == 1
    assert len(runs_shown(at)) == 2  # the first window of the 3 runs
    assert not {"q", "filter", "page"} & set(url_params(at))
    assert not [text for text in texts(at.warning) if "page" in text.lower()]


def test_a_link_to_a_table_of_one_row_says_its_search_and_filter_are_not_applied(
    store: None,
) -> None:
    """A manager's book of one client: a table of one row, shown as it is;
    the link's search and filter are said and leave the URL."""
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
    use_sign_in(at, signed_in(MANAGER))
    at.switch_page("pages/collection.py")
    at.query_params.update({"q": "acme", "filter": "failed", "sort": "Client ↓", "page": "3"})
    at.run()
    assert texts(at.warning)[-1] == (
        "Find clients (q=acme) and Last run (filter=failed): the table's only row is shown, "
        "without a search or a filter."
    )
    assert runs_shown(at)["Bucket"].tolist() == ["globex"]
    assert not {"q", "filter", "sort", "page"} & set(url_params(at))
    at.run()  # said once, for the link
    assert not [text for text in texts(at.warning) if "shown, without" in text]


def test_a_filter_value_gone_from_the_table_goes_quietly(
    engine: Engine, store: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader chose "failed"; its last failed run is gone: every run
    again, and no warning about a URL nobody typed."""
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 2)
    at = open_page()
    at.selectbox(key="collection_rows_filter").set_value("✗ failed").run()
    assert runs_shown(at)["Bucket"].tolist() == ["missing-co"]
    with Session(engine) as session, session.begin():
        session.execute(delete(CollectionRun))
        new_client(session, "newco")  # four clients: still a window of two
    st.cache_resource.clear()  # the runs are read again (a 5-second cache)
    at.run()
    assert not at.warning
    assert at.selectbox(key="collection_rows_filter").value == "Every one"
    assert runs_shown(at)["Bucket"].tolist() == ["empty-co", "globex"]
    assert "filter" not in url_params(at)


def test_the_sort_orders_every_run_before_the_window_and_is_in_the_url(
    store: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grid's click sorted the rows shown alone; the Sort orders them all."""
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 2)
    at = open_page()
    at.selectbox(key="collection_rows_sort").set_value("-Bucket").run()
    assert runs_shown(at)["Bucket"].tolist() == ["missing-co", "globex"]  # not b, a
    assert url_params(at) == {"sort": "-Bucket"}
    # The only run that took a time comes first, the two without one after.
    at.selectbox(key="collection_rows_sort").set_value("Took (s)").run()
    assert runs_shown(at)["Bucket"].tolist() == ["missing-co", "empty-co"]
    at.number_input(key="collection_rows_page").set_value(2).run()
    assert runs_shown(at)["Bucket"].tolist() == ["globex"]
    assert url_params(at) == {"sort": "Took (s)", "page": "2"}
    # The link opens the same rows.
    link = open_link(sort="Took (s)", page="2")
    assert link.selectbox(key="collection_rows_sort").value == "Took (s)"
    assert runs_shown(link)["Bucket"].tolist() == ["globex"]
    assert not link.warning


def test_a_short_table_has_the_sort_alone(store: None) -> None:
    at = open_page()  # three runs: no window
    assert not at.number_input
    at.selectbox(key="collection_rows_sort").set_value("-Client").run()
    assert runs_shown(at)["Bucket"].tolist() == ["missing-co", "globex", "empty-co"]
    at.selectbox(key="collection_rows_sort").set_value("-Last run").run()
    assert runs_shown(at)["Last run"].tolist() == ["✗ failed", "— never run", "— never run"]
    assert url_params(at) == {"sort": "-Last run"}


def test_a_table_grown_short_drops_its_windows_search_from_the_url(
    store: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 2)
    at = open_page()
    at.text_input(key="collection_rows_search").input("co").run()
    assert url_params(at) == {"q": "co"}
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 200)  # the same rows, now no window
    at.run()
    assert runs_shown(at)["Bucket"].tolist() == ["empty-co", "globex", "missing-co"]
    assert url_params(at) == {}  # no search shown, none in the URL


def test_an_unknown_sort_in_the_url_shows_the_rows_as_listed(store: None) -> None:
    at = open_link(sort="-Size")
    (warning,) = texts(at.warning)
    assert warning.startswith(
        "Sort by (sort=-Size) must be a column of the table (Bucket, Client, "
    )
    assert warning.endswith(
        "with a leading '-' to sort it in descending order; showing the rows as listed instead."
    )
    assert at.selectbox(key="collection_rows_sort").value == ""
    assert runs_shown(at)["Bucket"].tolist() == ["empty-co", "globex", "missing-co"]
    assert "sort" not in url_params(at)


def test_collect_now_among_many_clients_searches_and_keeps_the_chosen(
    engine: Engine, store: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(picker, "ALL_SHOWN", 2)
    monkeypatch.setattr(picker, "MATCHES_SHOWN", 1)
    at = open_page()
    unfold(at, "collection_collect_open")
    box = at.multiselect(key="collection_buckets")
    assert len(box.options) == 1  # the first match alone, not every client
    at.text_input(key="collection_buckets_search").input("GLOB").run()
    at.multiselect(key="collection_buckets").select("globex").run()
    at.text_input(key="collection_buckets_search").input("empty").run()
    box = at.multiselect(key="collection_buckets")
    assert box.value == ["globex"]  # still chosen, though the search moved on
    assert box.options == ["Globex (globex)", "Empty Co (empty-co)"]  # chosen, then found
    at.button(key="collection_collect").click().run()
    assert not at.exception
    assert texts(at.success)[0].startswith("Collected 1 clients in ")
    with Session(engine) as session:
        assert len(read_history(session, "globex", None, None, None, visible=None)) == 1


def test_collect_now_refreshes_the_clients_offered(engine: Engine, store: None) -> None:
    at = open_page()
    unfold(at, "collection_collect_open")
    with Session(engine) as session, session.begin():
        new_client(session, "newco")  # added meanwhile (the CLI, an import)
    at.multiselect(key="collection_buckets").select("globex").run()
    at.button(key="collection_collect").click().run()
    assert not at.exception
    assert "Newco (newco)" in at.multiselect(key="collection_buckets").options
    assert "newco" in runs_shown(at)["Bucket"].tolist()


def test_collect_now_shows_on_the_daily_snapshot_at_once(
    engine: Engine, store: None, utc_today: dt.date
) -> None:
    """The Daily snapshot keeps its day's tables built (``ui.day_view``) for
    minutes; a collection from this page clears them, as it does the reads."""

    def open_day() -> AppTest:
        at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
        return open_prepared(use_sign_in(at, signed_in(ADMIN)), "snapshots",
                             {"date": utc_today.isoformat()})  # fmt: skip

    before = open_day()
    assert not shown_tables(before)  # nobody yet: only missing-co ran, and failed
    assert f"No client has a snapshot on {utc_today.isoformat()}" in texts(before.info)[0]
    at = open_page()
    unfold(at, "collection_collect_open")
    at.multiselect(key="collection_buckets").select("globex").run()
    at.button(key="collection_collect").click().run()
    assert at.success
    after = open_day()
    assert shown_tables(after)["snapshots_table"].frame()["bucket"].tolist() == ["globex"]
