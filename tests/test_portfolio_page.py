"""What the pages say in words and units (issue 11): Portfolio's change for a
new or a stale client, sparklines coloured by direction, Compare's columns
and warnings named as on screen, units and the viewer's time zone on the
Daily snapshot, and the demo notice on every page while the store holds the
demo portfolio. AppTest on both backends."""

from __future__ import annotations

import datetime as dt
import io
import json
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.factories import new_client, store
from tests.factories import snapshot_of_total as snapshot
from tests.shown_tables import shown_tables, svg_of
from tests.test_pages import open_page, session_for, texts
from ui.data import DEMO_NOTICE
from ui.format import (
    human_bytes,
    human_count,
    local_time,
    signed_count,
    signed_pct,
    viewer_zone,
)
from ui.html_table import FALLING, RISING
from usage.daily import read_day
from usage.models import Setting
from usage.portfolio import (
    latest_snapshot_date,
    read_portfolio_totals,
    read_sparklines,
    summarize_clients,
)
from usage.transfer import import_snapshots
from usage.validation import DayParams

KOLKATA = ZoneInfo("Asia/Kolkata")
EVERY_PAGE = ("portfolio", "client", "compare", "snapshots", "collection", "people", "audit")


# --- Portfolio


def test_portfolio_change_says_new_and_stale_instead_of_none_or_zero(demo: str) -> None:
    at = open_page("portfolio")
    with session_for(demo) as session:
        as_of = latest_snapshot_date(session, visible=None)
        assert as_of is not None
        rows = {row.bucket_id: row for row in summarize_clients(session, as_of=as_of, limit=25,
                                                                 visible=None)}  # fmt: skip
    portfolio = shown_tables(at)["portfolio"]
    shown_table = portfolio.frame().set_index("Client")
    # Wonka Events started 18 days ago: nothing 30 days back to compare with.
    assert rows["wonka-events"].baseline_records is None
    assert shown_table.loc["Wonka Events", ["Change 30 d", "Change %"]].tolist() == ["new", "new"]
    # Oscorp and Soylent stopped long ago: no "0 / +0.0%", the day their data ends.
    for bucket, name in (("oscorp", "Oscorp"), ("soylent", "Soylent Corp")):
        latest = rows[bucket].latest_date
        assert latest is not None
        assert latest < as_of
        said = f"no data since {latest.isoformat()}"
        assert shown_table.loc[name, ["Change 30 d", "Change %"]].tolist() == [said, "—"]
    acme = rows["acme-corp"]
    assert acme.latest_date == as_of
    assert shown_table.loc["Acme Corporation", ["Change 30 d", "Change %"]].tolist() == [
        signed_count(acme.change), signed_pct(acme.change_pct)]  # fmt: skip
    shown = shown_table[["Change 30 d", "Change %"]].to_numpy().ravel().tolist()
    assert not any(value is None or value in ("None", "nan") for value in shown)
    # The demo has no sharp drop: said in words, not "None."
    assert "No client fell in the last 30 days." in texts(at.caption)
    assert "None." not in texts(at.caption)
    assert "new: no snapshot that far back" in portfolio.helps["Change 30 d"]
    assert "no data since a date" in portfolio.helps["Change %"]


def test_portfolio_kpis_charts_and_csv_give_one_total(
    demo: str, downloads: dict[str, bytes]
) -> None:
    """The Records tile, its change and the totals' CSV (the charts' data)
    are the same numbers: each day's total as ``read_portfolio_totals`` gives it."""
    at = open_page("portfolio")
    with session_for(demo) as session:
        as_of = latest_snapshot_date(session, visible=None)
        assert as_of is not None
        start = as_of - dt.timedelta(days=89)
        days = read_portfolio_totals(session, start, as_of, visible=None)
    (name,) = [name for name in downloads if name.startswith("portfolio_totals_")]
    assert name == f"portfolio_totals_{start.isoformat()}_{as_of.isoformat()}.csv"
    shown = pd.read_csv(io.BytesIO(downloads[name]))
    assert shown.to_dict("list") == {
        "date": [day.snapshot_date.isoformat() for day in days],
        "total records": [day.total_records for day in days],
        "storage bytes": [day.total_bytes for day in days],
        "clients counted": [day.clients for day in days],
        "stale clients": [day.stale for day in days],
    }
    records = next(metric for metric in at.metric if metric.label == "Records")
    change = days[-1].total_records - days[-31].total_records
    assert records.value == human_count(days[-1].total_records)
    assert records.delta == f"{signed_count(change)} in 30 days"
    # Clients with a snapshot on the newest day: their count, out of how many
    # below it (the two in one value were cut off at portfolio scale).
    (fresh,) = [metric for metric in at.metric if metric.label == f"Snapshot on {as_of}"]
    assert (fresh.value, fresh.delta) == (
        human_count(days[-1].clients - days[-1].stale),
        f"of {days[-1].clients:,} clients",
    )
    assert (fresh.proto.color, fresh.proto.direction) == (
        fresh.proto.MetricColor.GRAY, fresh.proto.MetricDirection.NONE)  # fmt: skip


def test_portfolio_sparklines_are_coloured_by_direction(demo: str) -> None:
    """Each client's last 90 days, days without a snapshot left out: green
    where the last point is at or above the first, red below."""
    at = open_page("portfolio")
    portfolio = shown_tables(at)["portfolio"]
    buckets = [cell.text for cell in portfolio.column("Bucket")]
    with session_for(demo) as session:
        as_of = latest_snapshot_date(session, visible=None)
        assert as_of is not None
        start = as_of - dt.timedelta(days=89)
        lines = read_sparklines(session, tuple(buckets), start, as_of, visible=None)
    colours = set()
    for bucket, cell in zip(buckets, portfolio.column("Trend, 90 d"), strict=True):
        days = [value for value in lines.get(bucket, []) if value is not None]
        if len(days) < 2:
            assert (cell.text, cell.grey) == ("—", True)
            continue
        svg = svg_of(cell)
        colour = RISING if days[-1] >= days[0] else FALLING
        colours.add(colour)
        assert f'stroke="{colour}"' in svg
        assert svg.count(",") == len(days)  # a point a day with a snapshot
        assert cell.alt == f"from {days[0]:,} to {days[-1]:,}"
    assert colours  # drawn (the demo's clients all grew: red is tested in test_html_table)
    assert "Green" in portfolio.helps["Trend, 90 d"]


def test_portfolio_table_reads_figures_then_change_and_trend_then_plans(demo: str) -> None:
    """The change and the trend sit beside the figures, in the table's first
    screen; the plans' shares (most clients have none) come after them."""
    table = shown_tables(open_page("portfolio"))["portfolio"]
    assert table.headers == [
        "Client", "Bucket", "Status", "Records", "Storage", "Change 30 d", "Change %",
        "Trend, 90 d", "Records % of plan", "Storage % of plan", "Latest snapshot",
    ]  # fmt: skip


def test_portfolio_client_without_snapshots_shows_a_dash(
    database_url: str, use_database: Any, engine: Engine
) -> None:
    with Session(engine) as session, session.begin():
        new_client(session, "fresh-co")
    store(engine, "old-co", [snapshot(dt.date(2024, 1, 1), 100)])
    use_database(database_url)
    at = open_page("portfolio")
    portfolio = shown_tables(at)["portfolio"]
    (fresh,) = [row for row in portfolio.rows if row[0].text == "Fresh Co"]
    shown = dict(zip(portfolio.headers, fresh, strict=True))
    assert shown["Change 30 d"].text == "—"
    # No snapshot: the grey placeholder, not "None", "nan" or 0.
    for header in ("Records", "Storage", "Trend, 90 d", "Latest snapshot"):
        assert (shown[header].text, shown[header].grey) == ("—", True), header
    assert not shown["Client"].grey


# --- Compare


@pytest.fixture
def acme(database_url: str, use_database: Any, engine: Engine) -> str:
    """Two snapshots: tickets purged, events and exports/ new, images/ gone."""
    store(engine, "acme", [
        snapshot(dt.date(2024, 1, 10), 1500, extra={"ticket": 600},
                 prefixes={"documents/": (100, 10_000), "images/": (20, 4_000)}),
        snapshot(dt.date(2024, 2, 10), 1450, extra={"ticket": 50, "event": 400},
                 prefixes={"documents/": (130, 13_000), "exports/": (2, 900_000)}),
    ])  # fmt: skip
    return str(use_database(database_url))


def test_compare_names_columns_by_date_and_says_new_and_gone(acme: str) -> None:
    at = open_page("compare", bucket="acme", a="2024-01-10", b="2024-02-10")
    shown = shown_tables(at)
    collections = shown["compare_collections"].frame().set_index("Collection")
    assert collections.columns.tolist() == ["2024-01-10", "2024-02-10", "Change", "Change %"]
    assert collections.loc["event"].tolist() == ["—", "400", "+400", "new"]
    assert collections.loc["ticket", "Change %"] == signed_pct(-550 * 100 / 600)
    objects = shown["compare_objects"].frame().set_index("Prefix")
    assert objects.loc["exports/", "Change %"] == "new"
    assert objects.loc["images/", "Change %"] == "gone"
    storage = shown["compare_bytes"].frame().set_index("Prefix")
    assert storage.loc["images/"].tolist() == [human_bytes(4_000), "—", "−4.0 kB", "gone"]
    help_text = shown["compare_collections"].helps["Change %"]
    assert "new: " in help_text
    assert "gone: " in help_text
    # Figures on the right, the missing one grey.
    (event,) = [row for row in shown["compare_collections"].rows if row[0].text == "event"]
    assert [cell.classes for cell in event] == [(), ("right", "none"), ("right",), ("right",),
                                                ("right",)]  # fmt: skip
    deltas = "\n".join(str(metric.delta) for metric in at.metric)
    assert "None" not in deltas
    assert "(—)" not in deltas  # no percentage where there is none


def test_compare_same_snapshot_on_both_dates_keeps_the_columns_apart(acme: str) -> None:
    at = open_page("compare", bucket="acme", a="2024-01-20", b="2024-01-30")
    frame = shown_tables(at)["compare_collections"].frame()
    assert frame.columns.tolist()[1:3] == ["2024-01-10 (A)", "2024-01-10 (B)"]


def test_compare_dates_the_wrong_way_round_are_named_as_labelled(acme: str) -> None:
    at = open_page("compare", bucket="acme", a="2024-02-10", b="2024-01-10")
    assert texts(at.warning) == [
        "Date A (a=2024-02-10) must be on or before Date B (b=2024-01-10); "
        "showing the dates the other way round."
    ]


# --- Daily snapshot


def test_daily_snapshot_table_shows_units_and_the_viewers_time(
    demo: str,
    monkeypatch: pytest.MonkeyPatch,
    today: dt.date,
) -> None:
    downloads: list[pd.DataFrame] = []
    monkeypatch.setattr("ui.format.viewer_zone", lambda: KOLKATA)
    monkeypatch.setattr(
        "ui.downloads.download_buttons", lambda frame, *args, **kwargs: downloads.append(frame())
    )
    day = today - dt.timedelta(days=3)
    at = open_page("snapshots", date=day.isoformat())
    with session_for(demo) as session:
        snapshots = read_day(session, DayParams(snapshot_date=day))
    frame = shown_tables(at)["snapshots_table"].frame()
    assert "storage bytes" not in frame.columns
    # Storage by prefix stays in the CSV: on the page every number is in units.
    assert not [column for column in frame.columns if column.endswith((" bytes", " objects"))]
    assert frame["storage"].tolist() == [
        human_bytes(snapshot["storage"]["total_bytes"]) for snapshot in snapshots]  # fmt: skip
    assert frame["computed at"].tolist() == [
        local_time(dt.datetime.fromisoformat(snapshot["computed_at"]), KOLKATA)
        for snapshot in snapshots
    ]
    assert frame["computed at"].iloc[0].endswith(" IST")
    # The CSV keeps the raw values: bytes and UTC.
    (csv,) = downloads
    assert csv["storage bytes"].tolist() == [s["storage"]["total_bytes"] for s in snapshots]
    assert csv["computed at"].tolist() == [s["computed_at"] for s in snapshots]
    prefixes = [s["storage"]["by_prefix"].get("documents/", {"bytes": 0}) for s in snapshots]
    assert csv["documents/ bytes"].tolist() == [prefix["bytes"] for prefix in prefixes]


@pytest.mark.parametrize(
    ("zone", "expected"),
    [("Europe/Paris", ZoneInfo("Europe/Paris")), (None, dt.UTC), ("Mars/Olympus", dt.UTC),
     (SimpleNamespace(), dt.UTC)],
)  # fmt: skip
def test_viewer_zone_falls_back_to_utc(
    monkeypatch: pytest.MonkeyPatch, zone: Any, expected: dt.tzinfo
) -> None:
    monkeypatch.setattr("ui.format.st.context", SimpleNamespace(timezone=zone))
    assert viewer_zone() == expected


@pytest.mark.parametrize(
    ("zone", "shown"),
    [(dt.UTC, "2026-11-24 02:12 UTC"), (ZoneInfo("Europe/Paris"), "2026-11-24 03:12 CET"),
     (ZoneInfo("America/New_York"), "2026-11-23 21:12 EST")],
)  # fmt: skip
def test_local_time(zone: dt.tzinfo, shown: str) -> None:
    moment = dt.datetime(2026, 11, 24, 2, 12, 7, tzinfo=dt.UTC)
    assert local_time(moment, zone) == shown
    assert local_time(moment.replace(tzinfo=None), zone) == shown  # SQLite's naive UTC
    assert local_time(None, zone) == "—"


# --- The demo notice


@pytest.mark.parametrize("page", EVERY_PAGE)
def test_every_page_says_it_shows_demo_data(demo: str, page: str) -> None:
    at = open_page(page)
    assert [str(item.value) for item in at.markdown].count(DEMO_NOTICE) == 1


@pytest.mark.parametrize("page", ["portfolio", "snapshots"])
def test_no_demo_notice_for_a_store_without_the_demo(
    database_url: str, use_database: Any, engine: Engine, page: str
) -> None:
    store(engine, "acme", [snapshot(dt.date(2024, 1, 10), 1500)])
    use_database(database_url)
    at = open_page(page)
    assert DEMO_NOTICE not in [str(item.value) for item in at.markdown]


def test_the_demo_notice_goes_once_snapshots_are_imported(
    database_url: str, use_database: Any, engine: Engine
) -> None:
    store(engine, "acme", [snapshot(dt.date(2024, 1, 10), 1500)])
    with Session(engine) as session, session.begin():
        session.add(Setting(name="demo_data", value="2024-01-10"))
    use_database(database_url)
    assert DEMO_NOTICE in [str(item.value) for item in open_page("portfolio").markdown]
    line = {
        "bucket_id": "acme", "snapshot_date": "2024-01-11",
        "records": {"person": 1, "organisation": 0, "member": 0, "payment": 0, "ticket": 0,
                    "booking": 0, "total": 1},
        "storage": {"object_count": 0, "total_bytes": 0, "by_prefix": {}},
        "computed_at": "2024-01-11T02:00:00Z",
    }  # fmt: skip
    with Session(engine) as session, session.begin():
        import_snapshots(session, io.StringIO(json.dumps(line) + "\n"))
    st.cache_data.clear()  # a later visit, once the notice's short cache has expired
    assert DEMO_NOTICE not in [str(item.value) for item in open_page("portfolio").markdown]
