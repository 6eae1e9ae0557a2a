"""The Alerts page and the Portfolio's "Needs attention" under AppTest, on
every backend: the events of the viewer's clients only, in order, each a
link to its days on the Client page; filters in the URL; times in the
viewer's zone. The events are stored as ``usage.alerts`` stores them."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from tests.factories import add_days, new_client
from tests.shown_tables import shown_tables
from tests.signin_support import add_people, signed_in, use_sign_in
from tests.test_alert_events import NOW, add_event
from tests.test_pages import PROJECT_ROOT, open_page, open_prepared, texts, url_params
from ui.alerts import NEEDS_ATTENTION, client_params, client_url
from ui.format import local_time
from ui.html_table import MOST_HEIGHT
from usage.alert_events import EventFilters, list_alert_events
from usage.models import Role
from usage.validation import AlertStatus

KOLKATA = ZoneInfo("Asia/Kolkata")
HOUR = dt.timedelta(hours=1)
ANN = "ann@example.com"
DROP_DAY = dt.date(2026, 11, 12)
DROP_SUMMARY = "`documents/` fell from 3.4 GB to 0.9 GB on 12 Nov 2026 (-74%)"
DROP = DROP_SUMMARY.replace("`", "")  # as the table shows it
LIMIT = "Total records: reaches 250,000 around 14 Mar 2027"


def open_as(user: dict[str, Any] | None, page: str, **params: str) -> AppTest:
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
    return open_prepared(use_sign_in(at, user), page, params)


@pytest.fixture
def events(database_url: str, use_database: Any, engine: Engine, today: dt.date) -> dict[str, int]:
    """acme-corp: a high drop, a medium limit, a resolved drop; globex: a
    high stopped collection and low growth; initech: nothing."""
    with Session(engine) as session, session.begin():
        acme, globex, initech = (new_client(session, name) for name in
                                 ("acme-corp", "globex", "initech"))  # fmt: skip
        for client in (acme, globex, initech):
            add_days(session, client, [today - dt.timedelta(days=1), today])
        found = {
            "acme_drop": add_event(
                session, acme, "drop", "high", opened=NOW - HOUR, day=DROP_DAY,
                summary=DROP_SUMMARY,
                details={"previous_day": "2026-11-11"}),
            "acme_limit": add_event(
                session, acme, "limit", "medium", opened=NOW,
                summary=LIMIT,
                details={"last_day": "2026-11-19"}),
            "acme_old": add_event(session, acme, "drop", "high", opened=NOW - 50 * HOUR,
                                  resolved=NOW - 30 * HOUR, summary="an old drop"),
            "globex_stopped": add_event(session, globex, "stopped", "high",
                                        opened=NOW - 2 * HOUR, summary="globex stopped"),
            "globex_growth": add_event(session, globex, "growth", "low", opened=NOW,
                                       summary="globex grew"),
        }  # fmt: skip
    use_database(database_url)
    return found


def attention_links(at: AppTest) -> list[tuple[str, str, dict[str, str]]]:
    """The page links in the page's main part: (page, label, query)."""
    return [
        (link.proto.page, link.proto.label, dict(parse_qsl(link.proto.query_string)))
        for link in at.main.get("page_link")
    ]


def test_needs_attention_lists_open_events_by_severity_with_links(
    events: dict[str, int],
    engine: Engine,
    today: dt.date,
) -> None:
    at = open_page("portfolio")
    with Session(engine) as session:
        rows = {e.id: e for e in list_alert_events(session, EventFilters(), None, 100).events}
    links = attention_links(at)
    # High first (the data loss before the stopped collection), then medium, then low.
    order = ["acme_drop", "globex_stopped", "acme_limit", "globex_growth"]
    assert [query for _, _, query in links[:4]] == [
        client_params(rows[events[name]], today) for name in order
    ]
    assert links[0][1] == f"**Acme Corp**: {DROP_SUMMARY}"
    assert links[0][2] == {"bucket": "acme-corp", "start": "2026-10-12", "end": "2026-11-26",
                           "granularity": "day"}  # fmt: skip
    assert links[4][1] == "Open and resolved alerts"
    assert "an old drop" not in "".join(label for _, label, _ in links)
    markdown = texts(at.markdown)
    assert "High · Possible data loss" in " ".join(markdown)
    assert "Low · Fast growth" in " ".join(markdown)


def test_needs_attention_counts_what_it_does_not_list(
    database_url: str,
    use_database: Any,
    engine: Engine,
    today: dt.date,
) -> None:
    with Session(engine) as session, session.begin():
        acme = new_client(session, "acme-corp")
        add_days(session, acme, [today])
        for n in range(NEEDS_ATTENTION + 3):
            add_event(session, acme, "growth", "low", opened=NOW - n * HOUR, summary=f"g{n}")
    use_database(database_url)
    at = open_page("portfolio")
    links = attention_links(at)
    assert [label.rsplit(": ", 1)[1] for _, label, _ in links[:NEEDS_ATTENTION]] == [
        f"g{n}" for n in range(NEEDS_ATTENTION)
    ]
    assert links[NEEDS_ATTENTION][1] == "All 13 open alerts"
    assert f"The {NEEDS_ATTENTION} most severe of 13 open alerts." in texts(at.caption)


def test_nothing_to_attend_to_is_one_quiet_line(
    database_url: str,
    use_database: Any,
    engine: Engine,
    today: dt.date,
) -> None:
    with Session(engine) as session, session.begin():
        acme = new_client(session, "acme-corp")
        add_days(session, acme, [today])
        add_event(session, acme, "drop", "high", resolved=NOW)
    use_database(database_url)
    at = open_page("portfolio")
    assert not attention_links(at)
    assert ":material/check_circle: Nothing needs attention: no open alert." in texts(at.caption)


def test_alerts_page_shows_the_filtered_events_in_the_viewers_zone(
    events: dict[str, int],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    today: dt.date,
) -> None:
    monkeypatch.setattr("ui.format.viewer_zone", lambda: KOLKATA)
    at = open_page("alerts", status="all", kind="drop", bucket="acme-corp")
    assert at.selectbox(key="alerts_status").value == "all"
    assert at.selectbox(key="alerts_kind").value == "drop"
    assert at.selectbox(key="alerts_bucket").value == "acme-corp"
    with Session(engine) as session:
        found = list_alert_events(
            session, EventFilters(AlertStatus.ALL, "drop", bucket_id="acme-corp"), None, 100
        ).events
    assert [e.id for e in found] == [events["acme_drop"], events["acme_old"]]
    table = shown_tables(at)["alerts"]
    assert table.most_height == MOST_HEIGHT  # a page of 100 events scrolls inside the table
    frame = table.frame()
    assert frame["What happened"].tolist() == [DROP, "an old drop"]
    assert frame["Severity"].tolist() == ["High", "High"]
    assert frame["Kind"].tolist() == ["Possible data loss", "Possible data loss"]
    assert frame["Opened"].tolist() == [local_time(e.opened_at, KOLKATA) for e in found]
    assert frame["Opened"].iloc[0].endswith(" IST")
    assert frame["Resolved"].tolist() == ["—", local_time(NOW - 30 * HOUR, KOLKATA)]
    assert table.column("Resolved")[0].grey  # still open
    assert frame["Bucket"].tolist() == ["acme-corp", "acme-corp"]
    links = [cell.href for cell in table.column("Bucket")]
    assert links == [client_url(e, today) for e in found]
    assert links[0] == "client?bucket=acme-corp&start=2026-10-12&end=2026-11-26&granularity=day"


def _happened(at: AppTest) -> list[str]:
    happened: list[str] = shown_tables(at)["alerts"].frame()["What happened"].tolist()
    return happened


def test_alerts_page_defaults_to_open_events_and_writes_filters_to_the_url(
    events: dict[str, int],
) -> None:
    at = open_page("alerts")
    shown = set(_happened(at))
    assert shown == {DROP, LIMIT, "globex stopped", "globex grew"}
    assert at.number_input(key="alerts_page").label == "Page (of 1)"
    assert "status" not in url_params(at)
    at.selectbox(key="alerts_severity").set_value("high").run()
    assert url_params(at) == {"severity": "high"}
    assert set(_happened(at)) == {DROP, "globex stopped"}
    at.selectbox(key="alerts_status").set_value("resolved").run()
    assert url_params(at) == {"severity": "high", "status": "resolved"}
    assert _happened(at) == ["an old drop"]
    at.selectbox(key="alerts_kind").set_value("growth").run()
    assert "alerts" not in shown_tables(at)
    assert texts(at.info) == ["No alert matches these filters."]


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("status", "closed", "Status (status=closed) must be one of: open, resolved, all"),
        ("kind", "loss",
         "Kind (kind=loss) must be one of: limit, drop, disappeared, stopped, growth"),
        ("severity", "huge", "Severity (severity=huge) must be one of: low, medium, high"),
        ("bucket", "nobody", "Client (bucket=nobody) is not a known client"),
        ("page", "0", "Page (page=0) must be an integer from 1 to 1000"),
    ],
)  # fmt: skip
def test_alerts_page_bad_url_values_give_a_message_and_the_default(
    events: dict[str, int], param: str, value: str, message: str
) -> None:
    at = open_page("alerts", **{param: value})
    (warning,) = texts(at.warning)
    assert warning.startswith(message)
    assert param not in url_params(at)
    assert len(shown_tables(at)["alerts"].rows) == 4  # the open events of every client


def test_a_manager_sees_only_the_events_of_their_book(
    events: dict[str, int], engine: Engine
) -> None:
    add_people(engine, {ANN: (Role.MANAGER, ["globex"])})
    portfolio = open_as(signed_in(ANN), "portfolio")
    labels = [label for _, label, _ in attention_links(portfolio)]
    assert labels == ["**Globex**: globex stopped", "**Globex**: globex grew",
                      "Open and resolved alerts"]  # fmt: skip
    alerts = open_as(signed_in(ANN), "alerts", status="all", bucket="acme-corp")
    # Another book's client is not a choice: every client of the book instead.
    assert texts(alerts.warning) == [
        "Client (bucket=acme-corp) is not a known client; showing every client."]  # fmt: skip
    assert alerts.selectbox(key="alerts_bucket").options == ["Every client", "Globex"]
    assert shown_tables(alerts)["alerts"].frame()["Client"].tolist() == ["Globex", "Globex"]


def test_signed_out_the_alerts_page_is_the_door(events: dict[str, int]) -> None:
    at = open_as(None, "alerts", status="all")
    assert [title.value for title in at.title] == ["Usage analytics"]
    assert not at.dataframe
    assert not at.get("html")
    assert not at.get("page_link")
