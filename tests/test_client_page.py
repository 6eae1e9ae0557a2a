"""The Client page under AppTest on a small exact store (both backends):
missing days at the range's edges, an empty range, periods, units and times.

March 2024: ``acme`` has snapshots on the 2nd to the 9th but the 5th;
``other`` on the 1st to the 10th (the store's newest day); ``gone``
(inactive) only early in January; ``newco`` none at all.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

import ui.rows
from tests.factories import api_history, days, store
from tests.factories import snapshot_of_total as snapshot
from tests.shown_tables import shown_tables
from tests.test_pages import (
    PROJECT_ROOT,
    figure,
    popovers,
    sidebar_links,
    texts,
    url_params,
    values,
)
from ui.format import human_bytes
from usage.models import Client
from usage.series import Granularity, missing_days, rollup

D = dt.date
MARCH = D(2024, 3, 1)


@pytest.fixture
def shop(engine: Engine, database_url: str, use_database: Any) -> Engine:
    def prefixes(day: dt.date) -> dict[str, tuple[int, int]]:
        return {"documents/": (day.day, 1_500_000 * day.day), "a-rather-long-prefix-name/": (1, 10)}

    store(engine, "acme", [snapshot(day, 1000 + day.day, prefixes=prefixes(day))
                           for day in days(D(2024, 3, 2), 8, skip=(3,))])  # fmt: skip
    store(engine, "other", [snapshot(day, 500 + day.day) for day in days(MARCH, 10)])
    store(engine, "gone", [snapshot(day, 70 + day.day) for day in days(D(2024, 1, 1), 5)],
          name="Gone Corp", status="inactive")  # fmt: skip
    store(engine, "newco", [], name="Newco", status="trial")
    use_database(database_url)
    return engine


def days_shown(at: AppTest) -> Any:
    """The snapshots' table as shown: each cell's text, by header."""
    return shown_tables(at)["client_snapshots"].frame()


def open_client(*, timezone: str | None = None, **params: str) -> AppTest:
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
    at.switch_page("pages/client.py")
    if timezone is not None:
        at.context = {"timezone": timezone}
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [item.value for item in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, tuple[str, str | None]]:
    return {metric.label: (metric.value, metric.delta) for metric in at.metric}


def _csv(saved: dict[str, bytes], name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(saved[name]), dtype=str, keep_default_na=False)


# --- The controls


def test_the_client_search_and_the_dates_sit_in_popovers_that_say_what_is_shown(
    shop: Engine,
) -> None:
    """The browser builds the search, the client's select box and the two
    date inputs only when their popover is opened: each button says what
    the page shows."""
    at = open_client(bucket="acme", start="2024-03-02", end="2024-03-09")
    assert popovers(at) == {
        "Change client": {"client_bucket"},
        "2024-03-02 to 2024-03-09": {"client_start", "client_end"},
    }
    at.date_input(key="client_start").set_value(D(2024, 3, 4)).run()
    assert not at.exception
    assert "2024-03-04 to 2024-03-09" in popovers(at)
    assert url_params(at)["start"] == "2024-03-04"
    # The wrong way round: the button shows the range the page draws.
    at.date_input(key="client_start").set_value(D(2024, 3, 12)).run()
    assert texts(at.warning)[0] == "From is after To; showing the dates the other way round."
    assert "2024-03-09 to 2024-03-12" in popovers(at)
    # A preset's dates are on the button from the first run ("All": from the
    # client's first snapshot to today); one day alone.
    every_day = popovers(open_client(bucket="other", preset="all"))
    assert f"2024-03-01 to {dt.date.today().isoformat()}" in every_day
    assert "2024-03-09" in popovers(open_client(bucket="acme", start="2024-03-09",
                                                end="2024-03-09"))  # fmt: skip


# --- Item 2: missing days at the range's edges


def test_missing_days_at_both_edges_are_counted_up_to_the_newest_collected_day(
    shop: Engine,
) -> None:
    at = open_client(bucket="acme", start="2024-03-01", end="2024-03-12")
    (freshness, gaps) = texts(at.warning)
    # The 1st (the range's first day), the 5th and the 10th (the store's newest
    # day, which acme lacks); the 11th and 12th are not collected yet.
    assert gaps == (
        "3 days without a snapshot in this range up to 2024-03-10 (the newest day collected): "
        "2024-03-01, 2024-03-05, 2024-03-10. They are gaps in the charts, not zeros."
    )
    assert freshness.startswith("No snapshot on 2024-03-10 yet: collection may have failed.")
    # The KPIs say the day they show and the day their change starts from.
    assert metrics(at)["Total records as of 2024-03-09"] == ("1,009", "+7 (+0.7%) since 2024-03-02")
    assert "Storage as of 2024-03-09" in metrics(at)
    assert (
        "Changes are from 2024-03-02, the range's first day with a snapshot (2024-03-01 has none)."
    ) in texts(at.caption)


def test_no_day_before_the_client_since_date_is_missing(shop: Engine) -> None:
    """acme became a client on 4 March: the 1st, before it, was due no
    snapshot; the 5th and the 10th were."""
    with Session(shop) as session, session.begin():
        session.execute(
            update(Client).where(Client.bucket_id == "acme").values(client_since=D(2024, 3, 4))
        )
    at = open_client(bucket="acme", start="2024-03-01", end="2024-03-12")
    assert texts(at.warning)[-1] == (
        "2 days without a snapshot in this range from 2024-03-04 (a client since then) up to "
        "2024-03-10 (the newest day collected): 2024-03-05, 2024-03-10. They are gaps in the "
        "charts, not zeros."
    )
    # A range after the date says nothing of it.
    at = open_client(bucket="acme", start="2024-03-05", end="2024-03-12")
    assert texts(at.warning)[-1].startswith(
        "2 days without a snapshot in this range up to 2024-03-10 (the newest day collected): "
    )


@pytest.mark.parametrize(
    ("since", "granularity", "first_drawn"),
    [
        (D(2003, 1, 1), "day", "2004-02-01"),  # a client before From: every day, gaps counted
        (D(2024, 3, 4), "day", "2024-03-02"),  # acme's first snapshot, before that date
        (D(2024, 3, 1), "day", "2024-03-01"),
        # By week: from the first day of the week of acme's first snapshot
        # (Saturday 2 March), a week the range holds whole (not one cut at
        # that day, hatched as partial).
        (D(2024, 3, 6), "week", "2024-02-26"),
    ],
)
def test_the_charts_start_when_the_client_became_one(
    shop: Engine, since: dt.date, granularity: str, first_drawn: str
) -> None:
    """Days before ``client_since`` were due no snapshot: the charts start
    on it (or on an earlier snapshot), not on a From years before."""
    with Session(shop) as session, session.begin():
        session.execute(update(Client).where(Client.bucket_id == "acme")
                        .values(client_since=since))  # fmt: skip
    st.cache_resource.clear()  # the clients' dates, as a new day's cache would read them
    at = open_client(bucket="acme", start="2004-02-01", end="2024-03-17", forecast="off",
                     granularity=granularity, table="on")  # fmt: skip
    (trace, *_) = figure(at, "client_records")["data"]
    if granularity == "day":
        assert trace["x0"] == first_drawn
    else:
        assert min(trace["x"]) == first_drawn
        assert days_shown(at)["partial"].tolist()[-1] == ""  # the oldest week: whole


def test_missing_days_start_on_the_client_since_date() -> None:
    present = [{"snapshot_date": day.isoformat()} for day in days(D(2024, 3, 3), 3)]
    newest = D(2024, 3, 8)
    assert missing_days(present, D(2024, 3, 1), newest, newest, D(2024, 3, 2)) == [
        D(2024, 3, 2), D(2024, 3, 6), D(2024, 3, 7), D(2024, 3, 8),
    ]  # fmt: skip
    assert missing_days(present, D(2024, 3, 1), newest, newest, None)[:2] == [
        D(2024, 3, 1), D(2024, 3, 2),
    ]  # fmt: skip


def test_the_days_before_the_first_snapshot_are_named(shop: Engine) -> None:
    """acme's first snapshot is on 2 March: a range from 28 February has
    three days before it without one (2024 is a leap year)."""
    at = open_client(bucket="acme", start="2024-02-28", end="2024-03-09")
    assert (
        "Changes are from 2024-03-02, the range's first day with a snapshot"
        " (2024-02-28 to 2024-03-01 have none)."
    ) in texts(at.caption)


def test_a_range_cannot_end_after_today(shop: Engine) -> None:
    """A later day has no snapshot yet: a link to 2100 would draw 75 years
    of empty days (seconds of the browser's time), so To stops today."""
    today = dt.date.today()
    at = open_client(bucket="acme", start="2024-03-01", end="2100-12-31")
    assert (
        f"To (end=2100-12-31) must be from 2000-01-01 to {today.isoformat()} (today); showing "
        "today instead."
    ) in texts(at.warning)
    assert at.date_input(key="client_end").value == today
    assert url_params(at)["end"] == today.isoformat()
    assert at.date_input(key="client_end").max == today


def test_a_parameter_given_twice_in_a_link_is_said_and_the_last_read(shop: Engine) -> None:
    """The API refuses it (which was meant?); a page reads the last one
    and says so, as it says of every value of a link it does not follow."""
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
    at.switch_page("pages/client.py")
    at.query_params["bucket"] = ["acme", "other"]
    at.run()
    assert not at.exception
    assert texts(at.warning)[0] == (
        "Client (bucket) is given more than once in the link; reading the last one, "
        "Client (bucket=other)."
    )
    assert at.title[0].value == "Other"  # its name
    assert url_params(at)["bucket"] == "other"  # the link written again, once


def test_a_range_with_every_day_says_so(shop: Engine) -> None:
    at = open_client(bucket="other", start="2024-03-01", end="2024-03-10")
    assert not at.warning
    assert "No day without a snapshot in this range." in texts(at.caption)
    assert not [text for text in texts(at.caption) if text.startswith("Changes are from")]
    assert metrics(at)["Objects as of 2024-03-10"][0] == "51"


def test_missing_days_list_runs_of_days(shop: Engine) -> None:
    at = open_client(bucket="acme", start="2024-02-25", end="2024-03-10")
    gaps = texts(at.warning)[-1]
    assert gaps.startswith("8 days without a snapshot in this range: 2024-02-25 to 2024-03-01, ")


def test_an_inactive_clients_last_day_is_not_called_a_failure(shop: Engine) -> None:
    at = open_client(bucket="gone", start="2024-01-01", end="2024-01-05")
    assert not at.warning
    assert (
        "No snapshot since 2024-01-05 (the client is inactive); the clients you see have "
        "snapshots up to 2024-03-10."
    ) in texts(at.caption)


# --- Item 3: a client with nothing in the range


def test_an_empty_range_shows_the_latest_figures_and_a_way_to_all(shop: Engine) -> None:
    at = open_client(bucket="gone", start="2024-03-01", end="2024-03-10", mode="lines")
    (info,) = texts(at.info)
    assert info == (
        "Gone Corp has no snapshot from 2024-03-01 to 2024-03-10: this range is empty. "
        "Below are its latest figures, from 2024-01-05."
    )
    assert metrics(at) == {
        "Total records as of 2024-01-05": ("75", ""),
        "Storage as of 2024-01-05": (human_bytes(7500), ""),
        "Objects as of 2024-01-05": ("7", ""),
    }
    assert {chart.key for chart in at.get("plotly_chart")} == {
        "client_latest_collections", "client_latest_prefixes"}  # fmt: skip
    assert url_params(at)["mode"] == "lines"  # kept, though no records chart is drawn

    at.button(key="client_show_all").click().run()
    assert not at.exception
    assert url_params(at) == {"bucket": "gone", "preset": "all", "granularity": "day",
                              "mode": "lines"}  # fmt: skip
    assert at.date_input(key="client_start").value == D(2024, 1, 1)
    assert not at.info
    assert at.radio(key="client_mode").value == "lines"
    person = figure(at, "client_records")["data"][0]
    assert values(person["y"])[:5] == [71, 72, 73, 74, 75]


def test_a_client_without_any_snapshot(shop: Engine) -> None:
    at = open_client(bucket="newco", preset="30d")
    assert texts(at.info) == ["Newco has no snapshot at all yet."]
    assert not at.metric
    assert not at.get("plotly_chart")


# --- Item 4: weeks and months


def _bars(spec: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """A bar trace's bars by their period's first day."""
    (trace,) = [trace for trace in spec["data"] if trace["name"] == name]
    shapes = trace["marker"]["pattern"]["shape"]
    rows = zip(trace["x"], values(trace["y"]), trace["offset"], trace["width"], shapes,
               strict=True)  # fmt: skip
    return {x: {"y": y, "offset": offset, "width": width, "hatched": shape == "/"}
            for x, y, offset, width, shape in rows}  # fmt: skip


def test_week_bars_span_their_periods_and_partial_ones_are_marked(shop: Engine) -> None:
    # Friday 1 March to Tuesday 12 March: three weeks, the first and last cut.
    at = open_client(bucket="acme", start="2024-03-01", end="2024-03-12", granularity="week")
    spec = figure(at, "client_records")
    bars = _bars(spec, "person")
    day = 86_400_000
    assert list(bars) == ["2024-03-04", "2024-02-26", "2024-03-11"]  # partial ones last
    assert [bars[x]["y"] for x in ("2024-02-26", "2024-03-04", "2024-03-11")] == [1003, 1009, None]
    assert [bars[x]["hatched"] for x in ("2024-02-26", "2024-03-04")] == [True, False]
    # Each bar lies within its period's days in the range, filling most of them.
    for first, start, length in [("2024-02-26", 4, 3), ("2024-03-04", 0, 7), ("2024-03-11", 0, 2)]:
        bar = bars[first]
        assert start * day <= bar["offset"]
        assert bar["offset"] + bar["width"] <= (start + length) * day
        assert bar["width"] >= 0.5 * length * day
    trace = spec["data"][0]
    assert trace["xhoverformat"] == "week of %-d %b %Y"
    assert "partial" in trace["customdata"][list(bars).index("2024-02-26")][1]
    assert spec["layout"]["xaxis"]["ticktext"] == [
        "week of<br>26 Feb 2024", "week of<br>4 Mar 2024", "week of<br>11 Mar 2024"]  # fmt: skip


def test_month_periods_are_named_as_months(shop: Engine) -> None:
    at = open_client(bucket="other", start="2024-02-15", end="2024-03-10", granularity="month",
                     forecast="off")  # fmt: skip
    storage = figure(at, "client_storage")
    (trace,) = storage["data"]
    assert trace["x"] == ["2024-02-01", "2024-03-01"]
    assert (trace["xperiod"], trace["xperiodalignment"]) == ("M1", "middle")
    assert trace["xhoverformat"] == "%b %Y"
    assert storage["layout"]["xaxis"]["ticktext"] == ["Feb 2024", "Mar 2024"]


TIME_CHARTS = ("client_records", "client_storage", "client_objects", "client_prefixes")


def x_ranges(at: AppTest) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """Each time chart's x axis range, by its key."""
    shown = {}
    for key in TIME_CHARTS:
        low, high = figure(at, key)["layout"]["xaxis"]["range"]
        shown[key] = (dt.datetime.fromisoformat(low), dt.datetime.fromisoformat(high))
    return shown


@pytest.mark.parametrize("mode", ["stacked", "lines"])
def test_every_time_chart_spans_the_whole_range_by_day(shop: Engine, mode: str) -> None:
    # acme has no snapshot on the range's first day (1 March) nor its last
    # three: each chart shows them all, as empty days, from the middle of the
    # night before the first to that after the last.
    at = open_client(bucket="acme", start="2024-03-01", end="2024-03-12", mode=mode,
                     forecast="off")  # fmt: skip
    expected = (dt.datetime(2024, 2, 29, 12), dt.datetime(2024, 3, 12, 12))
    assert x_ranges(at) == dict.fromkeys(TIME_CHARTS, expected)


@pytest.mark.parametrize(
    ("granularity", "expected"),
    [("week", (dt.datetime(2024, 2, 26), dt.datetime(2024, 3, 18))),
     ("month", (dt.datetime(2024, 2, 1), dt.datetime(2024, 4, 1)))],
)  # fmt: skip
def test_every_time_chart_spans_the_calendar_periods_of_the_range(
    shop: Engine, granularity: str, expected: tuple[dt.datetime, dt.datetime]
) -> None:
    # 28 February to 12 March: acme's first and last snapshot days (2 and 9
    # March) lie inside; the charts span the first period's first calendar
    # day to the day after the last period's last, as the records' bars.
    at = open_client(bucket="acme", start="2024-02-28", end="2024-03-12",
                     granularity=granularity, forecast="off")  # fmt: skip
    assert x_ranges(at) == dict.fromkeys(TIME_CHARTS, expected)


def test_the_table_and_csv_follow_the_granularity(
    shop: Engine, downloads: dict[str, bytes]
) -> None:
    at = open_client(bucket="acme", start="2024-03-01", end="2024-03-12", granularity="week",
                     table="on")  # fmt: skip
    table = days_shown(at)
    assert table["period"].tolist() == [
        "week of 4 Mar 2024", "week of 26 Feb 2024 (partial: 1 Mar to 3 Mar 2024)"]  # fmt: skip
    assert table["partial"].tolist() == ["", "yes"]
    assert table["snapshot date"].tolist() == ["2024-03-09", "2024-03-03"]
    assert table["total records"].tolist() == ["1,009", "1,003"]
    assert any("each shows the week's last snapshot" in text for text in texts(at.caption))
    csv = _csv(downloads, "acme_2024-03-01_2024-03-12_by_week.csv")
    assert csv[["period", "from", "to", "partial", "snapshot date", "total records"]].to_dict(
        "records"
    ) == [
        {"period": "week of 4 Mar 2024", "from": "2024-03-04", "to": "2024-03-10",
         "partial": "False", "snapshot date": "2024-03-09", "total records": "1009"},
        {"period": "week of 26 Feb 2024", "from": "2024-03-01", "to": "2024-03-03",
         "partial": "True", "snapshot date": "2024-03-03", "total records": "1003"},
    ]  # fmt: skip
    assert csv["storage bytes"].tolist() == [str(1_500_000 * 9 + 10), str(1_500_000 * 3 + 10)]


def test_many_days_show_a_window_of_the_newest_and_a_search_by_date(
    shop: Engine, downloads: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 3)
    at = open_client(bucket="other", start="2024-03-01", end="2024-03-10", table="on")
    assert days_shown(at)["date"].tolist() == ["2024-03-10", "2024-03-09", "2024-03-08"]
    assert "Days 1 to 3 of 10." in " ".join(texts(at.caption))
    at.text_input(key="client_rows_search").input("2024-03-0").run()
    assert days_shown(at)["date"].tolist() == ["2024-03-09", "2024-03-08", "2024-03-07"]
    at.number_input(key="client_rows_page").set_value(3).run()
    assert days_shown(at)["date"].tolist() == ["2024-03-03", "2024-03-02", "2024-03-01"]
    csv = _csv(downloads, "other_2024-03-01_2024-03-10.csv")
    assert len(csv) == 10  # every day in the download


def test_the_readers_own_search_goes_quietly_when_the_table_becomes_short(
    shop: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a link's search is said when the table is shown whole; the one
    the reader typed, on a table that then became short, goes quietly."""
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 3)
    at = open_client(bucket="other", start="2024-03-01", end="2024-03-10", table="on")
    at.text_input(key="client_rows_search").input("2024-03").run()
    at.radio(key="client_granularity").set_value("week").run()  # 2 weeks: shown whole
    assert len(days_shown(at)) == 2
    assert not [text for text in texts(at.warning) if "all shown" in text]


def test_a_link_opens_the_same_window_of_days(
    shop: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 3)
    params = {"bucket": "other", "start": "2024-03-01", "end": "2024-03-10", "table": "on",
              "granularity": "day"}  # fmt: skip
    at = open_client(**params, q="2024-03-0", page="3")
    assert days_shown(at)["date"].tolist() == ["2024-03-03", "2024-03-02", "2024-03-01"]
    assert url_params(at) == {**params, "q": "2024-03-0", "page": "3"}
    at.number_input(key="client_rows_page").set_value(1).run()
    assert url_params(at) == {**params, "q": "2024-03-0"}
    # Kept across the page's own changes while the table is drawn,
    at.date_input(key="client_start").set_value(D(2024, 3, 2)).run()
    assert url_params(at) == {**params, "start": "2024-03-02", "q": "2024-03-0"}
    # and gone with the table: a folded table has no window.
    at.session_state["client_table"] = False
    at.run()
    assert "client_snapshots" not in shown_tables(at)
    assert url_params(at) == {key: value for key, value in params.items() if key != "table"} | {
        "start": "2024-03-02"
    }


def test_periods_sort_by_their_days_and_a_sort_gone_with_the_granularity_goes_quietly(
    shop: Engine,
) -> None:
    """By week, "period" sorts by the weeks' first days, not their labels'
    text ("week of 12 Feb" before "week of 5 Feb"); by day there is no
    period column: the rows as listed, and no warning about a URL nobody
    typed."""
    mondays = [D(2024, 2, 5), D(2024, 2, 12), D(2024, 2, 26)]
    store(shop, "span", [snapshot(day, 100 + day.day) for day in mondays])
    at = open_client(bucket="span", start="2024-02-05", end="2024-03-03", granularity="week",
                     table="on")  # fmt: skip
    at.selectbox(key="client_rows_sort").set_value("period").run()
    assert days_shown(at)["snapshot date"].tolist() == ["2024-02-05", "2024-02-12", "2024-02-26"]
    at.selectbox(key="client_rows_sort").set_value("-period").run()
    assert days_shown(at)["snapshot date"].tolist() == ["2024-02-26", "2024-02-12", "2024-02-05"]
    assert url_params(at)["sort"] == "-period"
    at.radio(key="client_granularity").set_value("day").run()
    assert not [text for text in texts(at.warning) if "sort" in text]  # the range's own stay
    assert at.selectbox(key="client_rows_sort").value == ""
    assert days_shown(at)["date"].tolist() == ["2024-02-26", "2024-02-12", "2024-02-05"]
    assert "sort" not in url_params(at)


def test_the_table_is_folded_until_asked_for(shop: Engine, downloads: dict[str, bytes]) -> None:
    at = open_client(bucket="other", start="2024-03-01", end="2024-03-10")
    (box,) = at.expander
    assert box.label == "Table"
    assert "client_snapshots" not in shown_tables(at)  # folded: not sent
    assert "table" not in url_params(at)
    assert "10 rows, one per day with a snapshot, newest first." in " ".join(texts(at.caption))
    assert len(_csv(downloads, "other_2024-03-01_2024-03-10.csv")) == 10  # downloads as before


def test_unfolding_the_table_is_kept_in_the_url_and_across_ranges(shop: Engine) -> None:
    at = open_client(bucket="other", start="2024-03-01", end="2024-03-10")
    at.session_state["client_table"] = True  # the viewer unfolds it
    at.run()
    assert days_shown(at)["date"].tolist()[:2] == ["2024-03-10", "2024-03-09"]
    assert url_params(at)["table"] == "on"
    at.date_input(key="client_start").set_value(D(2024, 3, 5)).run()
    assert len(days_shown(at)) == 6
    at.session_state["client_table"] = False  # and folds it again
    at.run()
    assert "client_snapshots" not in shown_tables(at)
    assert "table" not in url_params(at)


def test_a_bad_table_value_says_so_and_folds_it(shop: Engine) -> None:
    at = open_client(bucket="other", start="2024-03-01", end="2024-03-10", table="open")
    (warning,) = texts(at.warning)
    assert warning.startswith("Table (table=open) must be one of")
    assert warning.endswith("showing the table folded instead.")
    assert "client_snapshots" not in shown_tables(at)
    assert "table" not in url_params(at)


def test_an_empty_range_keeps_the_table_unfolded_for_the_next(shop: Engine) -> None:
    at = open_client(bucket="gone", start="2024-01-01", end="2024-01-05")
    at.session_state["client_table"] = True
    at.run()
    assert len(days_shown(at)) == 5
    at.date_input(key="client_start").set_value(D(2024, 3, 1))
    at.date_input(key="client_end").set_value(D(2024, 3, 10)).run()
    assert "client_snapshots" not in shown_tables(at)  # no table for an empty range,
    # but the choice is kept
    assert url_params(at)["table"] == "on"
    at.button(key="client_show_all").click().run()
    assert days_shown(at)["date"].tolist()[0] == "2024-01-05"


def test_by_day_the_table_and_csv_are_the_apis_history(
    shop: Engine, downloads: dict[str, bytes]
) -> None:
    start, end = D(2024, 3, 1), D(2024, 3, 12)
    at = open_client(bucket="acme", start=start.isoformat(), end=end.isoformat(), table="on")
    history = api_history(shop, "acme", start_date=start, end_date=end)
    table = days_shown(at)
    csv = _csv(downloads, "acme_2024-03-01_2024-03-12.csv")
    assert table["date"].tolist() == csv["date"].tolist() == [s["snapshot_date"] for s in history]
    for name in [*history[0]["records"]]:
        column = "total records" if name == "total" else name
        expected = [s["records"][name] for s in history]
        assert table[column].tolist() == [f"{value:,}" for value in expected]
        assert csv[column].astype(int).tolist() == expected
    assert table["objects"].tolist() == [f"{s['storage']['object_count']:,}" for s in history]
    sizes = [s["storage"]["total_bytes"] for s in history]
    assert table["storage"].tolist() == [human_bytes(size) for size in sizes]
    assert "storage bytes" not in table
    assert csv["storage bytes"].astype(int).tolist() == sizes
    assert csv["computed at"].tolist() == [s["computed_at"] for s in history]
    # The periods the page draws are the same days.
    periods = rollup(history, start, end, Granularity.DAY)
    assert [p.snapshot for p in reversed(periods) if p.snapshot] == history


# --- Item 6: units, times, labels, the chart mode in the URL


@pytest.mark.parametrize(
    ("timezone", "column", "shown"),
    [
        ("America/New_York", "computed at (America/New_York)", "2024-03-08 21:00 EST"),
        ("Europe/Paris", "computed at (Europe/Paris)", "2024-03-09 03:00 CET"),
        (None, "computed at (UTC)", "2024-03-09 02:00 UTC"),
        ("Not/AZone", "computed at (UTC)", "2024-03-09 02:00 UTC"),
    ],
)
def test_times_are_in_the_viewers_zone_and_utc_in_the_csv(
    shop: Engine,
    downloads: dict[str, bytes],
    timezone: str | None,
    column: str,
    shown: str,
) -> None:
    at = open_client(bucket="acme", start="2024-03-06", end="2024-03-09", timezone=timezone,
                     table="on")  # fmt: skip
    assert days_shown(at)[column].tolist()[0] == shown
    assert any(f"computed {shown}" in text for text in texts(at.caption))
    csv = _csv(downloads, "acme_2024-03-06_2024-03-09.csv")
    assert csv["computed at"].tolist()[0].startswith("2024-03-09T02:00:00")


def test_latest_day_bars_carry_their_values_in_units(shop: Engine) -> None:
    at = open_client(bucket="acme", start="2024-03-01", end="2024-03-09")
    (prefixes,) = figure(at, "client_latest_prefixes")["data"]
    assert prefixes["y"] == ["documents/", "a-rather-long-prefix-name/"]  # largest on top
    assert prefixes["text"] == [human_bytes(13_500_000), "10 B"]
    assert prefixes["textposition"] == "outside"
    layout = figure(at, "client_latest_prefixes")["layout"]
    assert layout["yaxis"]["automargin"] is True
    assert layout["xaxis"]["range"][1] > 13_500_000  # room for the value after the bar
    (collections,) = figure(at, "client_latest_collections")["data"]
    assert collections["text"][0] == "1,009"


def test_daily_snapshot_bars_carry_their_values(shop: Engine) -> None:
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
    at.switch_page("pages/snapshots.py")
    at.query_params["date"] = "2024-03-09"
    at.run()
    (bars,) = figure(at, "snapshots_top")["data"]
    assert bars["y"] == ["Acme", "Other"]
    assert bars["text"] == ["1,009", "509"]
    assert bars["textposition"] == "outside"


@pytest.mark.parametrize(
    ("mode", "types", "barnorm"),
    [("stacked", {"bar"}, None), ("share", {"bar"}, "percent"), ("lines", {"scatter"}, None)],
)
def test_the_chart_mode_is_in_the_url(
    shop: Engine, mode: str, types: set[str], barnorm: str | None
) -> None:
    at = open_client(bucket="acme", start="2024-03-01", end="2024-03-09", mode=mode,
                     forecast="off")  # the data's traces alone  # fmt: skip
    assert at.radio(key="client_mode").value == mode
    spec = figure(at, "client_records")
    assert {trace["type"] for trace in spec["data"]} == types
    assert spec["layout"].get("barnorm") == barnorm
    assert url_params(at).get("mode") == (None if mode == "stacked" else mode)


def test_a_mode_change_rewrites_the_url_and_survives_an_empty_range(shop: Engine) -> None:
    at = open_client(bucket="acme", start="2024-03-01", end="2024-03-09")
    at.radio(key="client_mode").set_value("share").run()
    assert url_params(at)["mode"] == "share"
    at.selectbox(key="client_bucket").set_value("gone").run()  # an empty range: no radio
    at.selectbox(key="client_bucket").set_value("acme").run()
    assert at.radio(key="client_mode").value == "share"
    assert url_params(at)["mode"] == "share"


def test_the_mode_comes_back_through_the_sidebar_link(shop: Engine) -> None:
    at = open_client(bucket="acme", start="2024-03-01", end="2024-03-09", mode="lines")
    at.query_params.clear()
    at.query_params.update(sidebar_links(at)["Compare"])
    at.switch_page("pages/compare.py").run()
    back = sidebar_links(at)["Client"]
    assert back["mode"] == "lines"
    at.query_params.clear()
    at.query_params.update(back)
    at.switch_page("pages/client.py").run()
    assert at.radio(key="client_mode").value == "lines"


def test_a_bad_mode_is_named_and_replaced(shop: Engine) -> None:
    at = open_client(bucket="acme", start="2024-03-01", end="2024-03-09", mode="pie")
    assert texts(at.warning)[0] == (
        "Records chart (mode=pie) must be one of: stacked, lines, share; showing stacked bars"
        " instead."
    )
    assert at.radio(key="client_mode").value == "stacked"


def test_choosing_all_starts_at_the_clients_first_snapshot(shop: Engine) -> None:
    # The preset's callback runs before the page knows its viewer: the run
    # sets the dates (choosing All used to end in "no viewer").
    at = open_client(bucket="acme", start="2024-03-05", end="2024-03-09")
    at.radio(key="client_preset").set_value("all").run()
    assert not at.exception
    assert at.date_input(key="client_start").value == D(2024, 3, 2)
    at.selectbox(key="client_bucket").set_value("gone").run()
    assert not at.exception
    assert at.date_input(key="client_start").value == D(2024, 1, 1)
    assert url_params(at)["preset"] == "all"
