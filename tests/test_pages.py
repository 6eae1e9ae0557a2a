"""Every page under AppTest, on the demo portfolio loaded into each backend.

Figures are checked against the domain's own answers on the same database:
the chart shows exactly what the query returns.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import pytest
from sqlalchemy.orm import Session
from streamlit.runtime.state.query_params import QueryParams
from streamlit.testing.v1 import AppTest

import ui.rows
from tests.factories import snapshot_json
from tests.shown_tables import shown_tables
from ui.charts import DROP_TRACE, records_figure, storage_figure, totals_figure
from ui.downloads import history_json
from ui.format import human_age, human_bytes, md_message, md_text, plot_text
from usage.compare import compare_snapshots, read_snapshot_at
from usage.daily import read_day
from usage.db import make_engine
from usage.history import read_history
from usage.portfolio import (
    PortfolioDay,
    find_movers,
    latest_snapshot_date,
    list_client_choices,
    read_portfolio_totals,
    summarize_clients,
)
from usage.series import Granularity, build_series, missing_days
from usage.validation import DayParams

PROJECT_ROOT = Path(__file__).resolve().parent.parent
UNREACHABLE_URL = "postgresql+psycopg://usage@127.0.0.1:9/usage"
PAGES = ("portfolio", "client", "compare", "snapshots")
TITLES = ["Portfolio", "Client", "Compare", "Daily snapshot"]


def open_page(page: str, /, **params: str) -> AppTest:
    """The page as a deep link ``/<page>?<params>`` opens it."""
    return open_prepared(
        AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60), page, params
    )


def open_prepared(at: AppTest, page: str, params: Mapping[str, str]) -> AppTest:
    """``open_page`` for a test app already set up (secrets, the user)."""
    if page != "portfolio":
        at.switch_page(f"pages/{page}.py")
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [item.value for item in at.exception]
    return at


@contextmanager
def session_for(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def figure(at: AppTest, key: str) -> dict[str, Any]:
    (element,) = [item for item in at.get("plotly_chart") if item.key == key]
    spec: dict[str, Any] = json.loads(element.proto.spec)
    return spec


def values(array: Any) -> list[Any]:
    """A plotly array as a list (numbers may come as a typed-array blob)."""
    if isinstance(array, dict):
        raw = base64.b64decode(array["bdata"])
        return list(np.frombuffer(raw, dtype=np.dtype(array["dtype"])).tolist())
    return list(array)


DAY_MS = 86_400_000


def xs(trace: Mapping[str, Any]) -> list[Any]:
    """A trace's x values as plotly places them: its ``x``, or a point a
    step ``dx`` (in ms on a date axis: whole days here) from ``x0`` on."""
    if trace.get("x") is not None:
        return values(trace["x"])
    first, step = dt.date.fromisoformat(trace["x0"]), trace["dx"]
    assert step % DAY_MS == 0, step
    days = len(values(trace["y"]))
    return [(first + dt.timedelta(days=n * step // DAY_MS)).isoformat() for n in range(days)]


def traces(spec: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    return {trace["name"]: {"x": xs(trace), "y": values(trace["y"])} for trace in spec["data"]}


def url_params(at: AppTest) -> dict[str, str]:
    """The URL's query parameters after the run, one value each."""
    return {
        name: value[-1] if isinstance(value, list) else str(value)
        for name, value in at.query_params.items()
    }


def unfold(at: AppTest, key: str) -> AppTest:
    """Open the folded section ``key`` (``ui.folded``), as a click on it does."""
    at.session_state[key] = True
    return at.run()


def texts(elements: Any) -> list[str]:
    """The elements' text as a person reads it (markdown escapes removed)."""
    return [re.sub(r"\\(.)", r"\1", str(element.value)) for element in elements]


def popovers(at: AppTest) -> dict[str, set[str]]:
    """Each popover's button label, with the keys of the widgets inside it."""
    return {
        box.proto.popover.label: {
            node.key
            for child in box.children.values()
            for node in elements(child)
            if getattr(node, "key", None)
        }
        for box in at.get("popover")
    }


def elements(node: Any) -> Iterator[Any]:
    """``node`` of AppTest's tree and every element and block below it."""
    yield node
    for child in getattr(node, "children", {}).values():
        yield from elements(child)


def sidebar_links(at: AppTest) -> dict[str, dict[str, str]]:
    return {
        link.proto.label: dict(parse_qsl(link.proto.query_string))
        for link in at.sidebar.get("page_link")
    }


# --- Portfolio


def test_portfolio_shows_the_query_results(demo: str) -> None:
    at = open_page("portfolio")
    with session_for(demo) as session:
        as_of = latest_snapshot_date(session, visible=None)
        assert as_of is not None
        rows = summarize_clients(session, as_of=as_of, limit=25, visible=None)
        totals = read_portfolio_totals(session, as_of - dt.timedelta(days=89), as_of, visible=None)
        movers = find_movers(session, as_of=as_of, limit=5, visible=None)
    portfolio = shown_tables(at)["portfolio"]
    table = portfolio.frame()
    assert table["Client"].tolist() == [row.display_name for row in rows]
    assert table["Records"].tolist() == [f"{row.total_records:,}" for row in rows]
    assert table["Storage"].tolist() == [human_bytes(row.total_bytes) for row in rows]
    assert table["Bucket"].tolist() == [row.bucket_id for row in rows]
    # Each bucket links to its client's page, beside this one.
    assert [cell.href for cell in portfolio.column("Bucket")] == [
        f"client?bucket={row.bucket_id}" for row in rows
    ]
    records = traces(figure(at, "portfolio_records"))["records"]
    assert records["x"] == [day.snapshot_date.isoformat() for day in totals]
    assert records["y"] == [day.total_records for day in totals]
    storage = traces(figure(at, "portfolio_storage"))["storage bytes"]
    assert storage["y"] == [day.total_bytes for day in totals]
    change = traces(figure(at, "portfolio_movers"))["change %"]
    shown = [*reversed(movers.growers), *movers.drops]
    assert change["y"] == [plot_text(row.display_name) for row in shown]
    assert change["x"] == pytest.approx([row.change_pct for row in shown])
    assert list(sidebar_links(at))[:4] == TITLES


@pytest.mark.parametrize(
    ("key", "value", "param", "names"),
    [
        ("portfolio_status", "trial", ("status", "trial"), ["Vandelay Imports", "Wonka Events"]),
        ("portfolio_q", "CORP", ("q", "CORP"), ["Acme Corporation", "Globex Corporation",
                                                 "Oscorp", "Soylent Corp"]),
        ("portfolio_sort", "-records", ("sort", "-records"), None),
    ],
)  # fmt: skip
def test_portfolio_widgets_update_the_url(
    demo: str, key: str, value: str, param: tuple[str, str], names: list[str] | None
) -> None:
    at = open_page("portfolio")
    widget = at.text_input(key=key) if key == "portfolio_q" else at.selectbox(key=key)
    widget.set_value(value).run()
    assert not at.exception
    assert url_params(at)[param[0]] == param[1]
    table = shown_tables(at)["portfolio"].frame()
    if names is not None:
        assert table["Client"].tolist() == names
    else:
        records = [int(shown.replace(",", "")) for shown in table["Records"]]
        assert records == sorted(records, reverse=True)


def test_portfolio_deep_link(demo: str) -> None:
    at = open_page("portfolio", status="active", q="o", sort="-storage")
    assert at.selectbox(key="portfolio_status").value == "active"
    assert at.text_input(key="portfolio_q").value == "o"
    assert at.selectbox(key="portfolio_sort").value == "-storage"
    assert set(shown_tables(at)["portfolio"].frame()["Status"]) == {"active"}
    assert not at.warning


def test_portfolio_status_and_sort_sit_in_a_popover_that_says_them(demo: str) -> None:
    """The two select boxes are built by the browser only when opened: the
    button names the status and the order shown; the search stays out."""
    at = open_page("portfolio")
    assert popovers(at) == {
        "All statuses · Name, A to Z": {"portfolio_status", "portfolio_sort"}}  # fmt: skip
    at.selectbox(key="portfolio_status").set_value("trial").run()
    at.selectbox(key="portfolio_sort").set_value("-storage").run()
    assert not at.exception
    assert list(popovers(at)) == ["Trial · Most storage"]
    assert at.text_input(key="portfolio_q").label == "Search by name or bucket id"
    # A deep link's choices are on the button from the first run.
    assert list(popovers(open_page("portfolio", status="active", sort="-records"))) == [
        "Active · Most records"]  # fmt: skip


def test_portfolio_empty_url_values_are_the_defaults(demo: str) -> None:
    """As the README's example link has them: ``/?status=&q=&sort=``."""
    at = open_page("portfolio", status="", q="", sort="", page="")
    assert texts(at.warning) == []
    assert len(shown_tables(at)["portfolio"].rows) == 14
    # The page's input says how many pages there are, as the long tables' do.
    assert at.number_input(key="portfolio_page").label == "Page (of 1)"


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        # Named as the page labels the field, with what the URL said.
        ("status", "gone", "Status (status=gone) must be one of: active, inactive, suspended,"),
        ("sort", "size", "Sort (sort=size) must be one of"),
        ("page", "0", "Page (page=0) must be an integer from 1 to 1000"),
        ("page", "x", "Page (page=x) must be an integer"),
        ("q", "x" * 101, f"Search by name or bucket id (q={'x' * 40}…) must be at most 100"),
        ("page", "99", "Page (page=99) is past the last page of these clients; showing page 1."),
    ],
)
def test_portfolio_bad_url_values_give_a_message_and_the_default(
    demo: str, param: str, value: str, message: str
) -> None:
    at = open_page("portfolio", **{param: value})
    (warning,) = texts(at.warning)
    assert warning.startswith(message)
    assert param not in url_params(at)
    assert len(shown_tables(at)["portfolio"].rows) == 14


# --- Client


def _client_history(url: str, bucket: str, start: dt.date, end: dt.date) -> list[Any]:
    with session_for(url) as session:
        return read_history(session, bucket, start, end, None, visible=None)


def test_client_deep_link_opens_exactly_that_view(demo: str, today: dt.date) -> None:
    start, end = today - dt.timedelta(days=200), today - dt.timedelta(days=20)
    at = open_page(
        "client", bucket="acme-corp", start=start.isoformat(), end=end.isoformat(),
        granularity="week", table="on",
    )  # fmt: skip
    assert at.selectbox(key="client_bucket").value == "acme-corp"
    assert at.radio(key="client_preset").value == "custom"
    assert at.radio(key="client_granularity").value == "week"
    assert (at.date_input(key="client_start").value, at.date_input(key="client_end").value) == (
        start, end)  # fmt: skip
    assert at.title[0].value == "Acme Corporation"
    assert url_params(at) == {
        "bucket": "acme-corp", "start": start.isoformat(), "end": end.isoformat(),
        "granularity": "week", "table": "on"}  # fmt: skip
    history = _client_history(demo, "acme-corp", start, end)
    series = build_series(history, start, end, Granularity.WEEK)
    firsts = [period.first.isoformat() for period in series.periods]
    records = traces(figure(at, "client_records"))
    assert list(records) == list(series.records)  # the collections, in order
    for name, values_ in series.records.items():
        # A bar per period, at its first day (partial ones drawn last).
        drawn = records[name]
        assert dict(zip(drawn["x"], drawn["y"], strict=True)) == dict(
            zip(firsts, values_, strict=True)
        )
    assert traces(figure(at, "client_storage"))["storage"] == {
        "x": firsts, "y": series.total_bytes}  # fmt: skip
    assert traces(figure(at, "client_objects"))["objects"]["y"] == series.object_count
    prefixes = traces(figure(at, "client_prefixes"))
    assert {name: trace["y"] for name, trace in prefixes.items()} == series.prefix_bytes
    (total, storage, objects) = at.metric
    assert total.label == f"Total records as of {history[0]['snapshot_date']}"
    assert total.value == f"{history[0]['records']['total']:,}"
    assert storage.value == human_bytes(history[0]["storage"]["total_bytes"])
    assert objects.value == f"{history[0]['storage']['object_count']:,}"
    # One row per week with a snapshot.
    assert len(shown_tables(at)["client_snapshots"].rows) == sum(
        1 for p in series.periods if p.snapshot
    )
    # Freshness is the client's latest snapshot, after the range here.
    with session_for(demo) as session:
        latest = read_snapshot_at(session, "acme-corp", today, visible=None)
    assert latest is not None
    assert any(f"latest snapshot {latest['snapshot_date']}, computed " in text
               for text in texts(at.caption))  # fmt: skip


@pytest.mark.parametrize(
    ("preset", "days"),
    [("30d", 30), ("90d", 90), ("12m", 365), ("ytd", None)],  # None: this year's days
)
def test_client_preset_updates_the_dates_and_the_url(
    demo: str, preset: str, days: int | None, today: dt.date
) -> None:
    at = open_page("client", bucket="globex", start="2024-01-01", end="2024-02-01")
    at.radio(key="client_preset").set_value(preset).run()
    assert not at.exception
    assert url_params(at) == {"bucket": "globex", "preset": preset, "granularity": "day"}
    start = today - dt.timedelta(days=(days or today.timetuple().tm_yday) - 1)
    assert at.date_input(key="client_start").value == start
    assert at.date_input(key="client_end").value == today
    history = _client_history(demo, "globex", start, today)
    totals = build_series(history, start, today, Granularity.DAY).records["person"]
    assert traces(figure(at, "client_records"))["person"]["y"] == totals


def test_client_date_and_granularity_changes_update_the_url(demo: str, today: dt.date) -> None:
    at = open_page("client", bucket="globex", preset="30d")
    start = today - dt.timedelta(days=45)
    at.date_input(key="client_start").set_value(start).run()
    at.radio(key="client_granularity").set_value("month").run()
    assert not at.exception
    assert at.radio(key="client_preset").value == "custom"
    assert url_params(at) == {
        "bucket": "globex", "start": start.isoformat(), "end": today.isoformat(),
        "granularity": "month"}  # fmt: skip


@pytest.mark.parametrize(("mode", "barnorm"), [("stacked", None), ("share", "percent")])
def test_client_records_chart_modes(demo: str, mode: str, barnorm: str | None) -> None:
    at = open_page("client", bucket="acme-corp", preset="30d", forecast="off")  # bars alone
    at.radio(key="client_mode").set_value(mode).run()
    spec = figure(at, "client_records")
    assert spec["layout"].get("barnorm") == barnorm
    assert {trace["type"] for trace in spec["data"]} == {"bar"}


def test_client_lines_mode(demo: str) -> None:
    at = open_page("client", bucket="acme-corp", preset="30d")
    at.radio(key="client_mode").set_value("lines").run()
    assert {trace["type"] for trace in figure(at, "client_records")["data"]} == {"scatter"}


@pytest.mark.parametrize(
    ("page", "params"),
    [("portfolio", {}), ("client", {"bucket": "acme-corp", "preset": "all"}),
     ("compare", {"bucket": "acme-corp"}), ("snapshots", {})],
)  # fmt: skip
def test_every_chart_writes_its_figures_with_thousands_separators(
    demo: str, page: str, params: dict[str, str]
) -> None:
    """An axis writes 3,000 as the tables and KPIs do: plotly's default
    writes 3000 below 10,000."""
    at = open_page(page, **params)
    charts = at.get("plotly_chart")
    assert charts
    for chart in charts:
        layout = json.loads(chart.proto.spec)["layout"]
        for axis in ("xaxis", "yaxis"):
            assert layout[axis].get("separatethousands") is True, (chart.key, axis)


def test_client_missing_days_are_gaps_and_counted(demo: str, today: dt.date) -> None:
    at = open_page("client", bucket="cyberdyne", preset="all")
    history = _client_history(demo, "cyberdyne", today - dt.timedelta(days=5000), today)
    start = dt.date.fromisoformat(history[-1]["snapshot_date"])
    with session_for(demo) as session:
        collected = latest_snapshot_date(session, visible=None)
    missing = missing_days(history, start, today, collected)
    assert missing  # the demo leaves about one day in 30 out
    (warning,) = texts(at.warning)
    assert warning.startswith(f"{len(missing):,} days without a snapshot in this range")
    person = traces(figure(at, "client_records"))["person"]
    by_day = dict(zip(person["x"], person["y"], strict=True))
    assert all(by_day[day.isoformat()] is None for day in missing)
    assert all(value is not None for day, value in by_day.items()
               if dt.date.fromisoformat(day) not in missing)  # fmt: skip


@pytest.mark.parametrize(
    ("days", "granularity", "dots"),
    [
        # 3 Nov stands between two days without a snapshot; 1 Nov at the start.
        ((1, 3, 5, 6, 7), Granularity.DAY, {"2026-11-01": 6, "2026-11-03": 6}),
        ((2, 3, 5, 6, 7), Granularity.DAY, {}),  # each day beside another: lines only
        # Weeks from Monday 2 Nov: that of the 9th has none, so the 2nd's stands
        # alone; the last, cut at the 28th, is partial (an open circle, as always).
        ((3, 17, 28), Granularity.WEEK, {"2026-11-02": 6, "2026-11-23": 8}),
    ],
)
def test_a_lone_value_is_drawn_as_a_dot(
    days: tuple[int, ...], granularity: Granularity, dots: dict[str, int]
) -> None:
    """A broken line draws nothing of a value it joins to no other: that
    day's snapshot would not be seen at all."""
    history = [snapshot_json(dt.date(2026, 11, day), {"person": day}, {"docs/": day * 1_000},
                             bucket_id="acme-corp") for day in days]  # fmt: skip
    end = dt.date(2026, 11, 7) if granularity is Granularity.DAY else dt.date(2026, 11, 28)
    series = build_series(history, dt.date(2026, 11, 1) if granularity is Granularity.DAY
                          else dt.date(2026, 11, 2), end, granularity)  # fmt: skip
    lines = [*storage_figure(series).data, *records_figure(series, "lines", []).data]
    for trace in lines:
        x = xs(trace.to_plotly_json())
        sizes = dict(zip(x, trace.marker.size or [0] * len(x), strict=True))
        shown = {day: size for day, size in sizes.items() if size}
        assert shown == dots, trace.name
        by_day = granularity is Granularity.DAY
        assert trace.mode == ("lines" if by_day and not dots else "lines+markers")


def test_a_chart_by_day_sends_no_dates_unless_a_day_is_missing() -> None:
    """Days that follow each other go as the first and a step (plotly places
    them, no date to send or parse); a missing day puts each day back."""
    first = dt.date(2026, 11, 1)
    days = [PortfolioDay(first + dt.timedelta(days=n), 10 + n, 1000 * n, 2, 0) for n in range(4)]
    (steady,) = totals_figure(days, in_bytes=False).data
    assert (steady.x, steady.x0, steady.dx) == (None, "2026-11-01", DAY_MS)
    assert xs(steady.to_plotly_json()) == [day.snapshot_date.isoformat() for day in days]
    gap = [*days[:2], *days[3:]]
    (broken,) = totals_figure(gap, in_bytes=False).data
    assert (broken.x, broken.x0) == (("2026-11-01", "2026-11-02", "2026-11-04"), None)


def test_client_sharp_drop_is_marked(demo: str) -> None:
    at = open_page("client", bucket="initech", preset="all")
    losses = [text for text in texts(at.error) if text.startswith("Possible data loss")]
    assert losses
    assert DROP_TRACE in traces(figure(at, "client_records"))


@pytest.mark.parametrize(
    ("params", "messages"),
    [
        ({"bucket": "nope"}, ["Client (bucket=nope) is not a known client; showing "]),
        ({"bucket": "bad id!"}, ["Client (bucket=bad id!) must be 1 to 64 characters"]),
        ({"bucket": "globex", "granularity": "year"},
         ["Granularity (granularity=year) must be one of: day, week"]),
        ({"bucket": "globex", "preset": "forever"}, ["Range (preset=forever) must be one of"]),
        ({"bucket": "globex", "mode": "pie"}, ["Records chart (mode=pie) must be one of"]),
        ({"bucket": "globex", "table": "yes"}, ["Table (table=yes) must be one of: on, off"]),
        ({"bucket": "globex", "start": "2024-13-01"},
         ["From (start=2024-13-01) must be a real calendar date in YYYY-MM-DD format; showing "
          "the 90 days up to To instead."]),
        ({"bucket": "globex", "end": "yesterday"},
         ["To (end=yesterday) must be a date in YYYY-MM-DD format"]),
        ({"bucket": "globex", "start": "2024-05-01", "end": "2024-01-01"},
         ["From (start=2024-05-01) must be on or before To (end=2024-01-01); showing the last "
          "90 days instead."]),
        ({"bucket": "globex", "start": "1900-01-01"},
         ["From (start=1900-01-01) must be from 2000"]),
        # An empty value is no value: the default, without a word.
        ({"bucket": "globex", "start": "", "end": "", "preset": "", "mode": ""}, []),
    ],
)  # fmt: skip
def test_client_bad_url_values_give_a_message_and_the_default(
    demo: str, params: dict[str, str], messages: list[str]
) -> None:
    at = open_page("client", **params)
    warnings = texts(at.warning)
    assert [text for text in warnings if "without a snapshot" not in text] == [
        next(text for text in warnings if text.startswith(message)) for message in messages
    ]
    assert at.radio(key="client_granularity").value in {"day", "week", "month"}
    assert at.get("plotly_chart")  # the default view is drawn


def test_client_with_nothing_in_the_range(demo: str) -> None:
    at = open_page("client", bucket="oscorp", preset="30d")
    (info,) = texts(at.info)
    assert info.startswith("Oscorp has no snapshot from")
    assert "this range is empty. Below are its latest figures" in info
    assert len(at.metric) == 3  # the latest figures, dated
    assert "client_records" not in {chart.key for chart in at.get("plotly_chart")}


def test_client_json_download_is_the_api_answer(
    demo: str, downloads: dict[str, bytes], today: dt.date
) -> None:
    open_page("client", bucket="wayne-foundation", preset="30d")
    start = today - dt.timedelta(days=29)
    history = _client_history(demo, "wayne-foundation", start, today)
    expected = history_json(history)
    assert json.loads(expected) == {"snapshots": history, "count": len(history)}
    name = f"wayne-foundation_{start.isoformat()}_{today.isoformat()}.json"
    assert downloads[name] == expected.encode()


def test_switching_pages_keeps_the_client_and_range(demo: str) -> None:
    at = open_page("client", bucket="globex", preset="12m", granularity="month")
    links = sidebar_links(at)
    assert links["Client"] == {"bucket": "globex", "preset": "12m", "granularity": "month"}
    assert links["Compare"] == {"bucket": "globex"}
    # Follow the Compare link, then the Client link back.
    at.query_params.clear()
    at.query_params.update(links["Compare"])
    at.switch_page("pages/compare.py").run()
    assert at.selectbox(key="compare_bucket").value == "globex"
    back = sidebar_links(at)["Client"]
    at.query_params.clear()
    at.query_params.update(back)
    at.switch_page("pages/client.py").run()
    assert at.selectbox(key="client_bucket").value == "globex"
    assert at.radio(key="client_preset").value == "12m"
    assert at.radio(key="client_granularity").value == "month"


# --- Compare


def test_compare_shows_both_dates(demo: str, today: dt.date) -> None:
    a, b = today - dt.timedelta(days=200), today - dt.timedelta(days=10)
    at = open_page("compare", bucket="initech", a=a.isoformat(), b=b.isoformat())
    with session_for(demo) as session:
        before = read_snapshot_at(session, "initech", a, visible=None)
        after = read_snapshot_at(session, "initech", b, visible=None)
    assert before is not None
    assert after is not None
    comparison = compare_snapshots(before, after)
    bars = traces(figure(at, "compare_collections"))
    names = [move.name for move in comparison.collections]
    assert bars[before["snapshot_date"]] == {
        "x": names, "y": [move.before for move in comparison.collections]}  # fmt: skip
    assert bars[after["snapshot_date"]] == {
        "x": names, "y": [move.after for move in comparison.collections]}  # fmt: skip
    table = shown_tables(at)["compare_collections"].frame()
    days = [before["snapshot_date"], after["snapshot_date"]]
    assert table.columns.tolist() == ["Collection", *days, "Change", "Change %"]
    assert table["Collection"].tolist() == names
    at.date_input(key="compare_b").set_value(today).run()
    assert url_params(at)["b"] == today.isoformat()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"bucket": "initech", "a": "soon"}, "Date A (a=soon) must be a date in YYYY-MM-DD format"),
        (
            {"bucket": "initech", "b": "2024-02-30"},
            "Date B (b=2024-02-30) must be a real calendar date",
        ),
        (
            {"bucket": "initech", "a": "1999-12-31"},
            "Date A (a=1999-12-31) must be from 2000-01-01 to 2100-12-31",
        ),
        ({"bucket": "nope"}, "Client (bucket=nope) is not a known client"),
    ],
)
def test_compare_bad_url_values_give_a_message_and_the_default(
    demo: str, params: dict[str, str], message: str
) -> None:
    at = open_page("compare", **params)
    assert any(text.startswith(message) for text in texts(at.warning))
    assert at.get("plotly_chart")


def test_compare_before_the_first_snapshot(demo: str) -> None:
    at = open_page("compare", bucket="acme-corp", a="2001-01-01")
    (info,) = texts(at.info)
    assert info.startswith("Acme Corporation has no snapshot on or before 2001-01-01")


# --- Daily snapshot


def day_rows(at: AppTest) -> Any:
    """The Daily snapshot's table as shown: each cell's text, by header."""
    return shown_tables(at)["snapshots_table"].frame()


def test_daily_snapshot_shows_every_client_on_the_date(demo: str, today: dt.date) -> None:
    day = today - dt.timedelta(days=3)
    at = open_page("snapshots", date=day.isoformat())
    with session_for(demo) as session:
        snapshots = read_day(session, DayParams(snapshot_date=day))
    table = day_rows(at)
    assert table["bucket"].tolist() == [snapshot["bucket_id"] for snapshot in snapshots]
    largest = sorted(snapshots, key=lambda snapshot: -snapshot["records"]["total"])[:20]
    bars = traces(figure(at, "snapshots_top"))["records"]
    assert bars["x"] == [snapshot["records"]["total"] for snapshot in largest]
    at.date_input(key="snapshots_date").set_value(day - dt.timedelta(days=1)).run()
    assert url_params(at)["date"] == (day - dt.timedelta(days=1)).isoformat()


def test_daily_snapshot_shows_many_clients_a_window_at_a_time(
    demo: str,
    downloads: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    today: dt.date,
) -> None:
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 5)
    day = today - dt.timedelta(days=3)
    at = open_page("snapshots", date=day.isoformat())
    with session_for(demo) as session:
        buckets = [snapshot["bucket_id"] for snapshot in read_day(session, DayParams(day))]
    count = len(buckets)
    assert 10 < count <= 15
    assert day_rows(at)["bucket"].tolist() == buckets[:5]
    assert f"Clients 1 to 5 of {count}." in " ".join(texts(at.caption))
    # Every client in the download, whatever the window.
    csv = downloads[f"snapshots_{day.isoformat()}.csv"].decode()
    assert [line.split(",")[0] for line in csv.splitlines()[1:]] == buckets
    at.number_input(key="snapshots_rows_page").set_value(3).run()
    assert day_rows(at)["bucket"].tolist() == buckets[10:]
    assert f"Clients 11 to {count} of {count}." in " ".join(texts(at.caption))
    # A search narrows the rows (names and buckets, any case) and starts again at
    # page 1, though its matches fill more than one page.
    rows = [line.split(",")[:2] for line in csv.splitlines()[1:]]
    matches = [bucket for bucket, name in rows if "o" in f"{bucket} {name}".lower()]
    assert 5 < len(matches) < count
    at.number_input(key="snapshots_rows_page").set_value(2).run()
    at.text_input(key="snapshots_rows_search").input("O").run()
    assert at.number_input(key="snapshots_rows_page").value == 1
    assert day_rows(at)["bucket"].tolist() == matches[:5]
    assert f"Clients 1 to 5 of {len(matches)} matching, of {count}." in " ".join(texts(at.caption))
    at.text_input(key="snapshots_rows_search").input("nobody-like-this").run()
    assert "snapshots_table" not in shown_tables(at)  # no rows: no table
    assert f"None of the {count} clients matches." in texts(at.caption)
    assert not at.exception


def test_daily_snapshot_sorts_every_client_by_storage_in_bytes(
    demo: str, monkeypatch: pytest.MonkeyPatch, today: dt.date
) -> None:
    """Storage is shown in units and sorted by its bytes, over every client,
    not the window's alone."""
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 5)
    day = today - dt.timedelta(days=3)
    at = open_page("snapshots", date=day.isoformat())
    at.selectbox(key="snapshots_rows_sort").set_value("-storage").run()
    with session_for(demo) as session:
        snapshots = read_day(session, DayParams(day))
    largest = sorted(snapshots, key=lambda snapshot: -snapshot["storage"]["total_bytes"])
    table = day_rows(at)
    assert table["bucket"].tolist() == [snapshot["bucket_id"] for snapshot in largest[:5]]
    assert table["storage"].tolist() == [
        human_bytes(snapshot["storage"]["total_bytes"]) for snapshot in largest[:5]]  # fmt: skip
    assert table["total records"].tolist() == [
        f"{snapshot['records']['total']:,}" for snapshot in largest[:5]]  # fmt: skip
    assert url_params(at) == {"date": day.isoformat(), "sort": "-storage"}
    at.selectbox(key="snapshots_rows_sort").set_value("total records").run()
    smallest = sorted(snapshots, key=lambda snapshot: snapshot["records"]["total"])
    assert day_rows(at)["bucket"].tolist() == [s["bucket_id"] for s in smallest[:5]]
    assert not at.exception


def test_daily_snapshot_window_is_in_the_url(
    demo: str, monkeypatch: pytest.MonkeyPatch, today: dt.date
) -> None:
    """A search and a page of a long table are shared by their link."""
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 3)
    day = (today - dt.timedelta(days=3)).isoformat()
    with session_for(demo) as session:
        names = {c.bucket_id: c.display_name for c in list_client_choices(session, visible=None)}
        buckets = [snapshot["bucket_id"] for snapshot in read_day(session, DayParams(
            dt.date.fromisoformat(day)))]  # fmt: skip
    matches = [bucket for bucket in buckets if "o" in f"{bucket} {names[bucket]}".lower()]
    assert len(matches) > 3
    at = open_page("snapshots", date=day, q="O", page="2")
    assert at.text_input(key="snapshots_rows_search").value == "O"
    assert at.number_input(key="snapshots_rows_page").value == 2
    assert day_rows(at)["bucket"].tolist() == matches[3:6]
    assert url_params(at) == {"date": day, "q": "O", "page": "2"}
    # Another search: its first page, and the URL says so.
    at.text_input(key="snapshots_rows_search").input("corp").run()
    assert url_params(at) == {"date": day, "q": "corp"}
    at.text_input(key="snapshots_rows_search").input("").run()
    assert url_params(at) == {"date": day}
    at.number_input(key="snapshots_rows_page").set_value(4).run()
    assert url_params(at) == {"date": day, "page": "4"}


def day_pairs(url: str, today: dt.date) -> dict[bool, dt.date]:
    """A recent day (from three days ago back) whose day before has as many
    snapshots (True), and one whose day before has another number (False):
    the demo's missing days move with the date the tests run on."""
    found: dict[bool, dt.date] = {}
    with session_for(url) as session:
        later = len(read_day(session, DayParams(today - dt.timedelta(days=3))))
        for back in range(4, 120):  # each day read once: the day before the last
            count = len(read_day(session, DayParams(today - dt.timedelta(days=back))))
            found.setdefault(count == later, today - dt.timedelta(days=back - 1))
            if len(found) == 2:
                return found
            later = count
    raise AssertionError("the demo has no such days")


@pytest.mark.parametrize("same_rows", [True, False], ids=["as-many-rows", "other-rows"])
def test_a_whole_run_writes_the_url_once(
    demo: str, monkeypatch: pytest.MonkeyPatch, today: dt.date, same_rows: bool
) -> None:
    """The page's parameters and its table's window reach the browser as one
    URL: not the page's alone first (the window dropped), then the window.
    Another day with as many rows keeps the page; one with another number
    of rows is another table, back at its page 1."""
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 3)
    day = day_pairs(demo, today)[same_rows]
    at = open_page("snapshots", date=day.isoformat(), q="O", page="2")
    written: list[dict[str, Any]] = []
    from_dict = QueryParams.from_dict

    def spy(self: QueryParams, params: Any) -> None:
        written.append(dict(params))
        from_dict(self, params)

    monkeypatch.setattr(QueryParams, "from_dict", spy)
    before = (day - dt.timedelta(days=1)).isoformat()
    at.date_input(key="snapshots_date").set_value(day - dt.timedelta(days=1)).run()
    expected = {"date": before, "q": "O", **({"page": "2"} if same_rows else {})}
    assert written == [expected]
    assert url_params(at) == expected
    assert at.number_input(key="snapshots_rows_page").value == (2 if same_rows else 1)


def test_a_link_to_the_page_with_another_window_opens_it(
    demo: str, monkeypatch: pytest.MonkeyPatch, today: dt.date
) -> None:
    """A link to the page it is on, with another search, shows that search
    (not the one its box held)."""
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 3)
    day = (today - dt.timedelta(days=3)).isoformat()
    at = open_page("snapshots", date=day, q="O", page="2")
    at.query_params["q"] = "corp"
    del at.query_params["page"]
    at.run()
    assert at.text_input(key="snapshots_rows_search").value == "corp"
    assert at.number_input(key="snapshots_rows_page").value == 1
    assert url_params(at) == {"date": day, "q": "corp"}
    # And a link without one shows every row.
    del at.query_params["q"]
    at.run()
    assert at.text_input(key="snapshots_rows_search").value == ""
    assert url_params(at) == {"date": day}


@pytest.mark.parametrize(
    ("params", "warning", "page"),
    [
        ({"page": "999"}, "Page (page=999) is past the last page of these rows; showing page "
                          "{last}.", 0),
        ({"page": "two"}, "Page (page=two) must be an integer from 1 to 1000; showing the first "
                          "page instead.", 1),
        ({"q": "x" * 101}, f"Find clients (q={'x' * 40}…) must be at most 100 characters; "
                           "showing no search instead.", 1),
    ],
)  # fmt: skip
def test_daily_snapshot_bad_window_in_the_url(
    demo: str, monkeypatch: pytest.MonkeyPatch, today: dt.date,
    params: dict[str, str], warning: str, page: int,
) -> None:  # fmt: skip
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 3)
    day = (today - dt.timedelta(days=3)).isoformat()
    with session_for(demo) as session:
        last = -(-len(read_day(session, DayParams(dt.date.fromisoformat(day)))) // 3)
    at = open_page("snapshots", date=day, **params)
    assert texts(at.warning) == [warning.format(last=last)]
    assert at.number_input(key="snapshots_rows_page").value == (page or last)
    assert at.text_input(key="snapshots_rows_search").value == ""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-02-30", "Date (date=2024-02-30) must be a real calendar date"),
        ("today", "Date (date=today) must be a date"),
    ],
)
def test_daily_snapshot_bad_date(demo: str, value: str, message: str, today: dt.date) -> None:
    at = open_page("snapshots", date=value)
    (warning,) = texts(at.warning)
    assert warning.startswith(message)
    assert at.date_input(key="snapshots_date").value == today


def test_daily_snapshot_on_a_date_without_snapshots(demo: str) -> None:
    at = open_page("snapshots", date="2001-01-01")
    (info,) = texts(at.info)
    assert info.startswith("No client has a snapshot on 2001-01-01")


# --- Every page: an empty database, an unreachable one


@pytest.mark.parametrize("page", PAGES)
def test_an_empty_database_gives_a_clear_message(
    database_url: str, use_database: Any, page: str
) -> None:
    use_database(database_url)
    at = open_page(page)
    (info,) = texts(at.info)
    assert "no clients yet" in info
    assert list(sidebar_links(at))[:4] == TITLES


@pytest.mark.parametrize("page", PAGES)
def test_an_unreachable_database_gives_a_clear_message(use_database: Any, page: str) -> None:
    use_database(UNREACHABLE_URL)
    at = open_page(page)
    (error,) = texts(at.error)
    assert "cannot be reached" in error
    assert list(sidebar_links(at))[:4] == TITLES


@pytest.mark.parametrize("page", PAGES)
def test_a_database_not_upgraded_names_the_command(
    use_database: Any, tmp_path: Path, page: str
) -> None:
    use_database(f"sqlite:///{tmp_path / 'old.sqlite3'}")  # no schema at all
    at = open_page(page)
    (error,) = at.error
    # The command as code, to copy: not escaped backticks around it.
    assert error.proto.body.endswith("not up to date\\: run `python -m usage db upgrade`")
    assert list(sidebar_links(at))[:4] == TITLES


def test_an_unexpected_error_shows_no_traceback_nor_its_text(
    demo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug is a generic message in the browser: its text (which may hold a
    client's data) and its traceback go to the server's log only."""

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the figures of acme-corp")

    monkeypatch.setattr("ui.data.load_latest_date", broken)
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60).run()
    (error,) = at.exception
    assert "acme-corp" not in error.message
    assert "redacted" in error.message
    assert list(error.stack_trace) == []
    assert error.proto.type == ""


# --- Text from the data stays text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Acme", "Acme"),
        ("<img src=x onerror=alert(1)>", "\\<img src\\=x onerror\\=alert\\(1\\)\\>"),
        ("**bold** [link](http://x)", "\\*\\*bold\\*\\* \\[link\\]\\(http\\://x\\)"),
        (":red[x]", "\\:red\\[x\\]"),
    ],
)
def test_names_are_escaped_for_markdown(text: str, shown: str) -> None:
    assert md_text(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("run `python -m usage db upgrade`", "run `python -m usage db upgrade`"),
        ("a `b*c` and `[d](e)`.", "a `b*c` and `[d](e)`\\."),
        ("one ` alone: **x**", "one \\` alone\\: \\*\\*x\\*\\*"),
        ("empty `` pair", "empty \\`\\` pair"),
        ("<img src=x>", "\\<img src\\=x\\>"),
    ],
)
def test_messages_show_their_commands_as_code(text: str, shown: str) -> None:
    assert md_message(text) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [("documents/", "documents/"), ("<b>x</b> & y", "&lt;b&gt;x&lt;/b&gt; &amp; y")],
)
def test_names_are_escaped_for_plotly(text: str, shown: str) -> None:
    assert plot_text(text) == shown


@pytest.mark.parametrize(
    ("size", "shown"),
    [(None, "—"), (0, "0 B"), (999, "999 B"), (1_000, "1.0 kB"), (1_536_000, "1.5 MB"),
     (122_353_648_668, "122.4 GB"), (3 * 10**15, "3.0 PB"), (5 * 10**18, "5,000.0 PB")],
)  # fmt: skip
def test_human_bytes(size: int | None, shown: str) -> None:
    assert human_bytes(size) == shown


@pytest.mark.parametrize(
    ("ago", "shown"),
    [(dt.timedelta(minutes=5), "5 min ago"), (dt.timedelta(hours=30), "30 h ago"),
     (dt.timedelta(days=3), "3 days ago")],
)  # fmt: skip
def test_human_age(ago: dt.timedelta, shown: str) -> None:
    now = dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)
    assert human_age(now - ago, now) == shown
    assert human_age((now - ago).replace(tzinfo=None), now) == shown  # SQLite's naive UTC
