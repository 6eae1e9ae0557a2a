"""The Client page's plan and forecast under AppTest (both backends): usage
as % of each limit, the forecast drawn on the records and storage charts
with its band and the limit, the sentence, the toggle kept in the URL, and
the Portfolio table's plan columns.

``grower`` has 150 days up to 29 May 2024 (the store's newest), growing by
500 records a day (100 of them ``member``) and 2 MB a day, with a plan;
``plain`` grows without a plan; ``young`` has 3 snapshots and a plan.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from tests.factories import api_history, days, store
from tests.factories import snapshot_of_total as snapshot
from tests.shown_tables import shown_tables
from tests.test_api_forecast import FIRST, LAST, PLAN, grower_snapshot
from tests.test_client_page import open_client
from tests.test_pages import PROJECT_ROOT, figure, texts, url_params, values
from usage.audit import cli_actor
from usage.forecast import forecast_client
from usage.plans import make_plan, set_plan

RANGE = {"bucket": "grower", "start": (LAST - dt.timedelta(days=59)).isoformat(),
         "end": LAST.isoformat()}  # fmt: skip


@pytest.fixture
def planned(engine: Engine, database_url: str, use_database: Any) -> Engine:
    store(engine, "grower", [grower_snapshot(day) for day in days(FIRST, 150)])
    store(engine, "plain", [snapshot(day, 1000 + 10 * i) for i, day in enumerate(days(FIRST, 150))])
    store(engine, "young", [snapshot(day, 5000) for day in days(LAST - dt.timedelta(days=2), 3)])
    with Session(engine) as session, session.begin():
        set_plan(session, "grower", PLAN, actor=cli_actor())
        set_plan(session, "young", make_plan(4000, None, []), actor=cli_actor())
    use_database(database_url)
    return engine


def names(spec: dict[str, Any]) -> list[str]:
    return [trace["name"] for trace in spec["data"]]


def trace(spec: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [item for item in spec["data"] if item["name"] == name]
    assert isinstance(found, dict)
    return found


def progress(at: AppTest) -> list[tuple[float, str]]:
    """Each bar's fill and its text as a person reads it."""
    return [(item.proto.value / 100, re.sub(r"\\(.)", r"\1", item.proto.text))
            for item in at.get("progress")]  # fmt: skip


def test_the_plan_is_shown_as_a_share_of_each_limit(planned: Engine) -> None:
    at = open_client(**RANGE)
    assert progress(at) == [
        (0.69, "**Records**: 69.8% of the plan (174,500 records of 250,000 records)"),
        (0.64, "**Storage**: 64.9% of the plan (1.3 GB of 2.0 GB)"),
        (0.58, "**member records**: 58.2% of the plan (34,900 member records of 60,000 member"
               " records)"),
    ]  # fmt: skip
    assert (
        "The plan (250,000 records, 2.0 GB, 60,000 member records) against the latest snapshot, "
        "2024-05-29."
    ) in texts(at.caption)


def test_the_forecast_continues_the_charts_with_its_band_and_the_limit(
    planned: Engine, engine: Engine
) -> None:
    at = open_client(**RANGE)
    window = api_history(engine, "grower", start_date=LAST - dt.timedelta(days=119))
    total, storage, _ = forecast_client(window, PLAN.limits())
    assert total.forecast is not None
    assert storage.forecast is not None
    records = figure(at, "client_records")
    forecast = trace(records, "records forecast")
    assert forecast["line"]["dash"] == "dash"
    # From the last day's value on: the API's numbers, unrounded.
    assert values(forecast["x"])[:2] == ["2024-05-29", "2024-05-30"]
    assert values(forecast["x"])[-1] == total.forecast.end_day.isoformat()
    assert values(forecast["y"]) == [174_500, *total.forecast.expected]
    band = [item for item in records["data"] if item["name"] == "records band"]
    assert [item.get("fill") for item in band] == [None, "tonexty"]
    assert values(band[0]["y"])[1:] == list(total.forecast.upper)
    assert values(band[1]["y"])[1:] == list(total.forecast.lower)
    limit = trace(records, "limit: 250,000 records")
    assert values(limit["y"]) == [250_000, 250_000]
    assert values(limit["x"]) == [RANGE["start"], total.forecast.end_day.isoformat()]
    storage_spec = figure(at, "client_storage")
    assert values(trace(storage_spec, "storage forecast")["y"])[1:] == list(
        storage.forecast.expected
    )
    assert values(trace(storage_spec, "limit: 2.0 GB")["y"]) == [2e9, 2e9]
    # The charts' range reaches the forecast's last day, not the range's.
    for spec, outlook in [(records, total), (storage_spec, storage)]:
        assert outlook.forecast is not None
        end = dt.datetime.fromisoformat(spec["layout"]["xaxis"]["range"][1])
        assert end == dt.datetime.combine(outlook.forecast.end_day, dt.time())
    captions = texts(at.caption)
    assert f"**Records**: {total.summary}." in captions
    assert f"**Storage**: {storage.summary}." in captions
    assert total.summary is not None
    assert total.summary.startswith("reaches 250,000 records around ")


def test_lines_show_the_limited_collections_forecasts_and_shares_none(planned: Engine) -> None:
    at = open_client(**RANGE, mode="lines")
    records = figure(at, "client_records")
    assert "member forecast" in names(records)
    assert "limit: 60,000 member records" in names(records)
    assert "records forecast" not in names(records)
    assert [text for text in texts(at.caption) if text.startswith("**member records**: ")]
    shares = figure(open_client(**RANGE, mode="share"), "client_records")
    assert not [name for name in names(shares) if "forecast" in name or "limit" in name]


def test_the_toggle_hides_the_forecast_and_the_url_keeps_it(planned: Engine) -> None:
    at = open_client(**RANGE, forecast="off")
    assert at.toggle(key="client_forecast").value is False
    assert url_params(at)["forecast"] == "off"
    assert "records forecast" not in names(figure(at, "client_records"))
    assert "storage forecast" not in names(figure(at, "client_storage"))
    assert len(progress(at)) == 3  # the plan's use is shown either way
    at.toggle(key="client_forecast").set_value(True).run()
    assert not at.exception
    assert "forecast" not in url_params(at)
    assert "records forecast" in names(figure(at, "client_records"))


def test_a_bad_forecast_value_in_the_url_is_reported(planned: Engine) -> None:
    at = open_client(**RANGE, forecast="maybe")
    assert (
        "Forecast (forecast=maybe) must be one of: on, off; showing the forecast instead."
    ) in texts(at.warning)
    assert "records forecast" in names(figure(at, "client_records"))


def test_a_past_range_shows_no_forecast(planned: Engine) -> None:
    at = open_client(bucket="grower", start="2024-03-01", end="2024-03-31")
    assert not [name for name in names(figure(at, "client_records")) if "forecast" in name]
    assert (
        "The forecast starts after the newest snapshot, 2024-05-29: it is drawn when the range "
        "ends there."
    ) in texts(at.caption)


def test_without_a_plan_the_forecast_has_no_limit(planned: Engine) -> None:
    at = open_client(bucket="plain", start="2024-05-01", end=LAST.isoformat())
    assert not progress(at)
    records = figure(at, "client_records")
    assert "records forecast" in names(records)
    assert not [name for name in names(records) if name.startswith("limit")]
    (sentence,) = [text for text in texts(at.caption) if text.startswith("**Records**: ")]
    # 2,490 records growing by 10 a day: 4,290 after 180 days, the band as thin as the noise.
    assert sentence == "**Records**: about 4,290 records on 25 Nov 2024; no limit in the plan."


def test_too_little_history_says_so_instead_of_a_forecast(planned: Engine) -> None:
    at = open_client(bucket="young", start="2024-05-01", end=LAST.isoformat())
    assert progress(at)[0][1] == (
        "**Records**: 125.0% of the plan (5,000 records of 4,000 records, over the limit)"
    )
    assert progress(at)[0][0] == 1.0
    records = figure(at, "client_records")
    assert "records forecast" not in names(records)
    assert "limit: 4,000 records" in names(records)  # the limit is drawn anyway
    assert (
        "**Records**: no forecast, too little history to project: 3 of the 7 snapshots needed in "
        "the newest 120 days."
    ) in texts(at.caption)


# --- The Portfolio table's plan columns


def test_the_portfolio_table_has_the_plan_use(planned: Engine) -> None:
    at = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=60)
    at.run()
    assert not at.exception
    portfolio = shown_tables(at)["portfolio"]
    by_client = portfolio.frame().set_index("Client")
    assert by_client.loc["Grower", "Records % of plan"] == "69.8%"
    assert by_client.loc["Grower", "Storage % of plan"] == "64.9%"
    assert by_client.loc["Young", "Records % of plan"] == "125.0%"  # over its limit
    assert by_client.loc["Young", "Storage % of plan"] == "—"  # no storage limit
    assert by_client.loc["Plain", "Records % of plan"] == "—"  # no plan
    shares = dict(zip(by_client.index, portfolio.column("Records % of plan"), strict=True))
    assert shares["Plain"].grey
    assert not shares["Grower"].grey
