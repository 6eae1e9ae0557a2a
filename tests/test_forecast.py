from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from usage.forecast import (
    Forecast,
    ForecastSettings,
    LimitReach,
    Scale,
    describe_reach,
    forecast_client,
    forecast_metric,
    forecast_series,
    reach_limit,
)
from usage.series import STORAGE_BYTES, TOTAL_RECORDS

D = dt.date
START = D(2026, 1, 5)  # a Monday
LINEAR = ForecastSettings(scale=Scale.LINEAR)


def _series(values: list[float], start: dt.date = START) -> list[tuple[dt.date, float]]:
    return [(start + dt.timedelta(days=n), value) for n, value in enumerate(values)]


def _line(days: int, first: float = 1000.0, per_day: float = 10.0) -> list[float]:
    return [first + per_day * n for n in range(days)]


def _forecast(points: list[tuple[dt.date, float]], settings: ForecastSettings) -> Forecast:
    forecast = forecast_series(points, settings)
    assert forecast is not None
    return forecast


def test_flat_line_projects_flat_and_reaches_nothing() -> None:
    forecast = _forecast(_series([5000.0] * 60), ForecastSettings())
    assert forecast.expected == pytest.approx([5000.0] * 180)
    assert forecast.lower == pytest.approx([5000.0] * 180)
    assert forecast.upper == pytest.approx([5000.0] * 180)
    assert forecast.slope_per_day == pytest.approx(0.0)
    reach = reach_limit(forecast, 5001)
    assert (reach.earliest, reach.likely, reach.latest) == (None, None, None)
    assert describe_reach(reach, TOTAL_RECORDS) == "not within 180 days"


def test_straight_line_continues_and_reaches_its_limit_on_the_day() -> None:
    forecast = _forecast(_series(_line(90)), LINEAR)
    last = 1000.0 + 10 * 89
    assert forecast.last_day == START + dt.timedelta(days=89)
    assert forecast.expected[0] == pytest.approx(last + 10)
    assert forecast.expected[-1] == pytest.approx(last + 1800)
    assert forecast.slope_per_day == pytest.approx(10.0)
    reach = reach_limit(forecast, last + 500)  # 50 days of growth
    assert reach.likely == forecast.last_day + dt.timedelta(days=50)
    # An exact line has no noise and a certain slope: a band of no width.
    assert reach.earliest == reach.latest == reach.likely


@pytest.mark.parametrize("rate", [1.003, 0.997])  # growth and decay that compound
def test_compounding_change_is_fitted_on_the_logarithm(rate: float) -> None:
    values = [2000.0 * rate**n for n in range(120)]
    forecast = _forecast(_series(values), ForecastSettings())
    assert forecast.scale is Scale.LOG
    assert forecast.expected[89] == pytest.approx(2000.0 * rate ** (119 + 90))
    assert forecast.slope_per_day == pytest.approx(values[-1] * math.log(rate))


def test_a_steady_line_is_not_taken_for_compounding_growth() -> None:
    # The level triples over the window, the growth per day does not.
    values = _line(120, first=3000.0, per_day=80.0)
    forecast = _forecast(_series(values), ForecastSettings())
    assert forecast.scale is Scale.LINEAR
    assert forecast.expected[-1] == pytest.approx(values[-1] + 80 * 180)


@pytest.mark.parametrize(
    ("step_at", "fit_start_at"),
    [
        (50, 50),  # 40 days after the import: the fit starts there
        (80, 0),  # 10 days after it: too few alone, spliced to the history before
    ],
)
def test_bulk_import_step_keeps_the_slope_and_takes_the_new_level(
    step_at: int, fit_start_at: int
) -> None:
    values = [value + (20_000.0 if n >= step_at else 0.0) for n, value in enumerate(_line(90))]
    forecast = _forecast(_series(values), LINEAR)
    assert forecast.steps == (START + dt.timedelta(days=step_at),)
    assert forecast.fit_start == START + dt.timedelta(days=fit_start_at)
    assert forecast.slope_per_day == pytest.approx(10.0)
    assert forecast.expected[29] == pytest.approx(values[-1] + 300)


def test_purge_starts_a_new_regime_with_its_own_growth() -> None:
    before = _line(60, first=40_000.0, per_day=50.0)
    after = _line(40, first=10_000.0, per_day=5.0)  # purged, then slower
    forecast = _forecast(_series(before + after), ForecastSettings())
    assert forecast.steps == (START + dt.timedelta(days=60),)
    assert forecast.fit_start == START + dt.timedelta(days=60)
    assert forecast.expected[99] == pytest.approx(after[-1] + 500, rel=0.01)
    assert forecast.expected[99] < before[-1]


def test_missing_days_change_nothing_on_a_line() -> None:
    complete = _series(_line(120))
    # Every ninth day missing, and a 20-day outage.
    gappy = [point for n, point in enumerate(complete) if n % 9 != 4 and not 40 <= n < 60]
    full = _forecast(complete, LINEAR)
    holed = _forecast(gappy, LINEAR)
    assert holed.last_day == full.last_day
    assert holed.expected == pytest.approx(full.expected)


def test_a_gap_at_the_end_projects_from_the_last_snapshot() -> None:
    points = _series(_line(60))[:50]
    forecast = _forecast(points, LINEAR)
    assert forecast.last_day == START + dt.timedelta(days=49)
    assert forecast.days[0] == START + dt.timedelta(days=50)
    assert forecast.expected[0] == pytest.approx(1000.0 + 10 * 50)


# Records land on weekdays: a rhythm around the trend, Monday first.
WEEK = (-30.0, -10.0, 0.0, 10.0, 30.0, 10.0, -10.0)


def test_weekly_rhythm_is_carried_into_the_projection() -> None:
    values = [1000.0 + 10 * n + WEEK[n % 7] for n in range(84)]  # 12 weeks from a Monday
    forecast = _forecast(_series(values), LINEAR)
    assert forecast.slope_per_day == pytest.approx(10.0)
    for offset in range(14):
        day = forecast.days[offset]
        n = (day - START).days
        assert forecast.expected[offset] == pytest.approx(1000.0 + 10 * n + WEEK[day.weekday()])


def test_a_one_day_dip_does_not_bend_the_projection() -> None:
    values = _line(90)
    values[85] = values[85] / 3  # a failed count, back the next day
    forecast = _forecast(_series(values), LINEAR)
    assert forecast.slope_per_day == pytest.approx(10.0)
    assert forecast.expected[0] == pytest.approx(values[-1] + 10)


def test_a_collection_that_appeared_is_fitted_from_its_first_day() -> None:
    values = [0.0] * 70 + _line(20, first=500.0, per_day=20.0)
    forecast = _forecast(_series(values), LINEAR)
    assert forecast.fit_start == START + dt.timedelta(days=70)
    assert forecast.slope_per_day == pytest.approx(20.0)


def test_noise_makes_a_band_that_widens_with_the_horizon() -> None:
    wobble = (0.0, 40.0, -25.0, 15.0, -40.0, 30.0, -10.0, 5.0, -20.0, 35.0, -5.0)
    values = [value + wobble[n % 11] for n, value in enumerate(_line(120))]
    forecast = _forecast(_series(values), ForecastSettings())
    widths = [up - low for low, up in zip(forecast.lower, forecast.upper, strict=True)]
    assert all(width > 0 for width in widths)
    assert widths[-1] > widths[29] > widths[0]
    assert all(
        low <= mid <= up
        for low, mid, up in zip(forecast.lower, forecast.expected, forecast.upper, strict=True)
    )
    reach = reach_limit(forecast, values[-1] + 600)
    assert reach.earliest is not None
    assert reach.likely is not None
    assert reach.earliest < reach.likely
    assert reach.latest is None or reach.likely < reach.latest


def test_decline_stops_at_zero() -> None:
    forecast = _forecast(_series(_line(60, first=3000.0, per_day=-40.0)), LINEAR)
    assert forecast.expected[0] == pytest.approx(600.0)
    assert forecast.expected[16] == 0.0  # 640 - 17 x 40 would be 40 below
    assert min(forecast.lower + forecast.expected + forecast.upper) == 0.0


@pytest.mark.parametrize("count", [0, 1, 6])
def test_too_short_a_history_has_no_forecast(count: int) -> None:
    assert forecast_series(_series(_line(count))) is None


@pytest.mark.parametrize("days_since", [1, 2, 6])
def test_a_collection_that_has_just_appeared_has_no_forecast(days_since: int) -> None:
    values = [0.0] * 60 + _line(days_since, first=500.0, per_day=20.0)
    assert forecast_series(_series(values)) is None


def test_only_the_window_is_fitted() -> None:
    # Fast growth long ago, then a slow steady line: the old part is ignored.
    values = _line(200, per_day=100.0) + _line(120, first=21_000.0, per_day=2.0)
    forecast = _forecast(_series(values), LINEAR)
    assert forecast.slope_per_day == pytest.approx(2.0)


def test_a_limit_already_reached() -> None:
    forecast = _forecast(_series(_line(30)), LINEAR)
    reach = reach_limit(forecast, 1200)
    assert reach.reached
    assert reach.likely == forecast.last_day
    assert describe_reach(reach, TOTAL_RECORDS) == "already at 1,290 records, over 1,200 records"


def _reach(
    earliest: dt.date | None, likely: dt.date | None, latest: dt.date | None, limit: float
) -> LimitReach:
    return LimitReach(limit, 180, D(2026, 12, 1), 1.0, earliest, likely, latest)


@pytest.mark.parametrize(
    ("reach", "metric", "expected"),
    [
        (
            _reach(D(2027, 2, 2), D(2027, 3, 14), D(2027, 4, 30), 250_000),
            TOTAL_RECORDS,
            "reaches 250,000 records around 14 Mar 2027, between 2 Feb and 30 Apr",
        ),
        (
            _reach(D(2026, 12, 20), D(2027, 1, 9), D(2027, 2, 1), 50e9),
            STORAGE_BYTES,
            "reaches 50.0 GB around 9 Jan 2027, between 20 Dec 2026 and 1 Feb",
        ),
        (
            _reach(D(2027, 2, 2), D(2027, 3, 14), None, 100_000),
            "person",
            "reaches 100,000 person records around 14 Mar 2027, from 2 Feb on,"
            " possibly not within 180 days",
        ),
        (
            _reach(D(2027, 3, 1), D(2027, 3, 1), D(2027, 3, 1), 1000),
            TOTAL_RECORDS,
            "reaches 1,000 records around 1 Mar 2027",
        ),
        (
            _reach(D(2027, 5, 2), None, None, 250_000),
            TOTAL_RECORDS,
            "likely not within 180 days; 250,000 records at the earliest 2 May 2027",
        ),
        (_reach(None, None, None, 250_000), TOTAL_RECORDS, "not within 180 days"),
    ],
)
def test_describe_reach(reach: LimitReach, metric: str, expected: str) -> None:
    assert describe_reach(reach, metric) == expected


def _snapshot(day: dt.date, person: int, size: int) -> dict[str, Any]:
    return {
        "snapshot_date": day.isoformat(),
        "records": {
            "person": person,
            "organisation": 0,
            "member": 0,
            "payment": 0,
            "ticket": 0,
            "booking": 0,
            "total": person,
        },
        "storage": {
            "object_count": 1,
            "total_bytes": size,
            "by_prefix": {"documents/": {"count": 1, "bytes": size}},
        },
        "computed_at": f"{day.isoformat()}T02:00:00Z",
    }


def test_forecast_client_projects_the_totals_and_each_limited_collection() -> None:
    snapshots = [
        _snapshot(START + dt.timedelta(days=n), 10_000 + 100 * n, 1_000_000_000 + 10_000_000 * n)
        for n in range(60)
    ][::-1]  # newest first, as read_history returns them
    limits = {TOTAL_RECORDS: 25_000.0, "person": 12_000.0}
    outlooks = forecast_client(snapshots, limits, LINEAR)
    assert [outlook.metric for outlook in outlooks] == [TOTAL_RECORDS, STORAGE_BYTES, "person"]
    total, storage, person = outlooks
    assert total.forecast is not None
    assert total.reach is not None
    assert total.reach.likely == total.forecast.last_day + dt.timedelta(days=91)
    assert total.summary == "reaches 25,000 records around 4 Jun 2026"
    assert storage.reach is None  # no limit
    assert storage.forecast is not None
    assert storage.forecast.expected[0] == pytest.approx(1_600_000_000)
    assert person.summary == "already at 15,900 person records, over 12,000 person records"
    assert forecast_metric(snapshots[:3], TOTAL_RECORDS) is None


def test_forecast_client_reads_only_the_window_of_a_long_history() -> None:
    # 200 days of fast growth, then 150 of slow: only the newest 120 count.
    counts = [1000 + 500 * n for n in range(200)] + [101_000 + 20 * n for n in range(150)]
    snapshots = [_snapshot(START + dt.timedelta(days=n), c, 10**9) for n, c in enumerate(counts)]
    [total, _] = forecast_client(snapshots, settings=LINEAR)
    assert total.forecast == forecast_metric(snapshots, TOTAL_RECORDS, LINEAR)
    assert total.forecast is not None
    assert total.forecast.slope_per_day == pytest.approx(20.0)
    assert total.forecast.fit_start == START + dt.timedelta(days=350 - 120)


def test_forecast_on_a_day_outside_raises() -> None:
    forecast = _forecast(_series(_line(30)), LINEAR)
    assert forecast.on(forecast.last_day + dt.timedelta(days=180))[0] == forecast.expected[-1]
    with pytest.raises(ValueError, match="outside the forecast"):
        forecast.on(forecast.last_day)


@pytest.mark.parametrize("kwargs", [{"horizon_days": 0}, {"min_points": 2}, {"confidence": 1.0}])
def test_settings_refuse_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each names its own field
        ForecastSettings(**kwargs)
