"""Where a client's numbers are heading: a daily projection with a band, and
when a limit is reached.

The method, measured against a naive baseline by ``bench/forecast.py`` and
explained in ``docs/insights.md``:

1. Keep the last ``window_days`` of the history (missing days are simply
   absent: every step below works on the days there are).
2. Find steps: a change from one snapshot to the next that stands out from
   the usual daily change (bulk imports, purges, a collection appearing).
   Fit on the regime after the last one when it is long enough; otherwise
   splice the steps out, so the slope comes from the longer history and the
   level from the newest days.
3. Fit a robust trend: Theil–Sen (``scipy.stats.theilslopes``), the median
   of the slopes between every pair of days, which a few odd days cannot
   pull; on the logarithm of the values when the growth compounds (the
   newer half of the window grows faster per day, in step with its level),
   else on the values themselves.
4. The weekly rhythm: the median residual of each weekday around a first
   slope taken from days a week apart, removed before the fit and put back
   into the projection.
5. The level: the median of the newest week around the trend, so the
   projection starts where the client is now, not where the fit's centre is.
6. The band, times ``band_scale``: the noise around the trend, the slope's
   confidence interval, the way the growth rate moves from month to month
   (both widen with the horizon), and how far the series wanders by itself
   from week to week (a random walk: with the square root of the horizon).

Everything is a pure function of its input; no database, no clock.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from usage.series import STORAGE_BYTES, TOTAL_RECORDS, day_label
from usage.snapshots import SnapshotJSON
from usage.units import human_bytes, human_records

Floats = npt.NDArray[np.float64]
Point = tuple[dt.date, float]
# Fewer pairs of days a week apart: the first slope comes from Theil–Sen.
MIN_WEEKLY_PAIRS = 5
# The growth rate's own variation is measured between blocks of this many days.
GROWTH_BLOCK_DAYS = 28


class Scale(enum.StrEnum):
    LINEAR = "linear"
    LOG = "log"  # growth as a rate (compounding): needs every fitted value positive


@dataclass(frozen=True)
class ForecastSettings:
    """How a forecast is made; the defaults are the ones the backtest chose."""

    horizon_days: int = 180
    # Only the newest days are fitted: older growth says little about today's.
    window_days: int = 120
    # Fewer observations than this: no forecast at all.
    min_points: int = 7
    # A regime after the last step shorter than this is spliced to the
    # history before it instead of fitted alone.
    min_regime_points: int = 21
    # A step is a change beyond ``step_spread`` times the usual spread of
    # daily changes, and beyond ``step_share`` of the level.
    step_spread: float = 8.0
    step_share: float = 0.05
    # The scale fitted; None: the logarithm where the growth compounds, else
    # a line (``_choose_scale``).
    scale: Scale | None = None
    # The newest days the level is read from (a whole week: no weekday bias).
    anchor_days: int = 7
    # The band's nominal confidence, and a factor the backtest calibrates.
    confidence: float = 0.9
    band_scale: float = 1.5

    def __post_init__(self) -> None:
        if self.horizon_days < 1 or self.window_days < 2 or self.min_points < 3:
            raise ValueError("horizon_days, window_days and min_points are too small")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be between 0 and 1")


DEFAULT_SETTINGS = ForecastSettings()


@dataclass(frozen=True)
class Forecast:
    """A daily projection from the day after ``last_day``, ``horizon`` days
    long: ``expected[i]``, ``lower[i]`` and ``upper[i]`` are for
    ``last_day + i + 1`` days."""

    last_day: dt.date  # the newest observation
    last_value: float
    fit_start: dt.date  # the first day the fit used (after the last step)
    steps: tuple[dt.date, ...]  # days a step was found on, in the window
    scale: Scale
    slope_per_day: float  # growth at ``last_day``, in the value's units
    expected: tuple[float, ...]
    lower: tuple[float, ...]
    upper: tuple[float, ...]

    @property
    def horizon(self) -> int:
        return len(self.expected)

    @property
    def days(self) -> list[dt.date]:
        return [self.last_day + dt.timedelta(days=n) for n in range(1, self.horizon + 1)]

    @property
    def end_day(self) -> dt.date:
        return self.last_day + dt.timedelta(days=self.horizon)

    def on(self, day: dt.date) -> tuple[float, float, float]:
        """``(expected, lower, upper)`` on ``day``, inside the horizon."""
        index = (day - self.last_day).days - 1
        if not 0 <= index < self.horizon:
            raise ValueError(f"{day} is outside the forecast ({self.last_day} + {self.horizon})")
        return self.expected[index], self.lower[index], self.upper[index]


def metric_points(snapshots: Iterable[SnapshotJSON], metric: str) -> list[Point]:
    """One metric of a client's snapshots as ``(day, value)``: ``TOTAL_RECORDS``,
    ``STORAGE_BYTES`` or a collection's name (0 in a snapshot without it)."""
    points: list[Point] = []
    for snapshot in snapshots:
        day = dt.date.fromisoformat(snapshot["snapshot_date"])
        if metric == TOTAL_RECORDS:
            value = snapshot["records"]["total"]
        elif metric == STORAGE_BYTES:
            value = snapshot["storage"]["total_bytes"]
        else:
            value = snapshot["records"].get(metric, 0)
        points.append((day, float(value)))
    return points


def forecast_metric(
    snapshots: Iterable[SnapshotJSON], metric: str, settings: ForecastSettings = DEFAULT_SETTINGS
) -> Forecast | None:
    """``forecast_series`` of one metric of a client's snapshots."""
    return forecast_series(metric_points(snapshots, metric), settings)


def forecast_series(
    points: Iterable[Point], settings: ForecastSettings = DEFAULT_SETTINGS
) -> Forecast | None:
    """The projection of a ``(day, value)`` series (any order, gaps allowed;
    of two values for one day the later one counts); None when the window,
    or the part of it since the series rose from zero, holds fewer than
    ``settings.min_points`` observations."""
    x, y = _window(points, settings.window_days)
    if len(x) < settings.min_points:
        return None
    steps = _step_indexes(x, y, settings)
    start = _regime_start(steps, y, settings.min_regime_points)
    x_fit, y_fit = x[start:], y[start:]
    if len(x_fit) < settings.min_points:  # a collection that has just appeared
        return None
    spliced = steps[steps > start] - start
    scale = _choose_scale(x_fit, y_fit, spliced, settings.scale)
    z = _splice(x_fit, np.log(y_fit) if scale is Scale.LOG else y_fit, spliced)
    expected, lower, upper, level, slope = _project(x_fit, z, settings)
    if scale is Scale.LOG:
        expected, lower, upper = np.exp(expected), np.exp(lower), np.exp(upper)
        slope *= float(np.exp(level))  # d/dt exp(level + slope * t) at t = 0
    return Forecast(
        last_day=dt.date.fromordinal(int(x[-1])),
        last_value=float(y[-1]),
        fit_start=dt.date.fromordinal(int(x_fit[0])),
        steps=tuple(dt.date.fromordinal(int(x[i])) for i in steps),
        scale=scale,
        slope_per_day=slope,
        # Counts and sizes end at zero, however steep the decline.
        expected=tuple(np.maximum(expected, 0.0).tolist()),
        lower=tuple(np.maximum(lower, 0.0).tolist()),
        upper=tuple(np.maximum(upper, 0.0).tolist()),
    )


def _regime_start(steps: npt.NDArray[np.intp], y: Floats, min_regime_points: int) -> int:
    """The first index fitted: after the last step that starts a regime long
    enough to fit alone, or that starts from nothing (a collection that
    appeared: there is nothing before it to splice); 0 without one."""
    for step in steps[::-1]:
        if len(y) - step >= min_regime_points or y[step - 1] <= 0:
            return int(step)
    return 0


def _choose_scale(x: Floats, y: Floats, steps: npt.NDArray[np.intp], chosen: Scale | None) -> Scale:
    """``chosen``, or, when None, the logarithm if the series compounds: its
    growth (or decline) per day changes from the older half of the window
    to the newer one more nearly as its level does than not at all (a line
    keeps its change per day as the level moves; compounding growth and
    decay change it in proportion). Anything else is fitted as a line: a
    young series that grows by a fixed amount a day, projected as
    compounding, would soon be absurd."""
    if chosen is not None:
        return chosen if chosen is Scale.LINEAR or y.min() > 0 else Scale.LINEAR
    if y.min() <= 0:
        return Scale.LINEAR
    line = _splice(x, y, steps)
    rates, starts = _weekly_rates(x, line)
    middle = (x[0] + x[-1]) / 2
    older, newer = rates[starts + 3.5 < middle], rates[starts + 3.5 >= middle]
    if min(len(older), len(newer)) < MIN_WEEKLY_PAIRS:
        return Scale.LINEAR
    before, after = float(np.median(older)), float(np.median(newer))
    if before * after <= 0:  # growth turned to decline or back, or stood still
        return Scale.LINEAR
    growth = after / before
    level = float(np.median(line[x >= middle])) / float(np.median(line[x < middle]))
    # Compounding: the growth per day changed as the level did (log ratio
    # nearer the level's than 0); a line: it stayed as it was.
    compounds = abs(np.log(growth) - np.log(level)) < abs(np.log(growth))
    return Scale.LOG if compounds else Scale.LINEAR


def _window(points: Iterable[Point], window_days: int) -> tuple[Floats, Floats]:
    """Days as ordinals and values, oldest first, the newest ``window_days``."""
    by_day = {day.toordinal(): value for day, value in points}
    if not by_day:
        return np.empty(0), np.empty(0)
    first = max(by_day) - window_days + 1
    x = np.array(sorted(day for day in by_day if day >= first), dtype=np.float64)
    y = np.array([by_day[int(day)] for day in x], dtype=np.float64)
    return x, y


def _step_indexes(x: Floats, y: Floats, settings: ForecastSettings) -> npt.NDArray[np.intp]:
    """Indexes ``i`` where ``y[i - 1] -> y[i]`` is a step: far beyond the
    usual change per day (median and spread of all changes, a gap counting
    as its days), and at least ``step_share`` of the level."""
    gaps = np.diff(x)
    changes = np.diff(y)
    rates = changes / gaps
    usual = np.median(rates)
    spread = 1.4826 * np.median(np.abs(rates - usual))
    excess = np.abs(changes - usual * gaps)
    noisy = excess > settings.step_spread * spread * np.sqrt(gaps)
    large = excess > settings.step_share * np.maximum(np.abs(y[:-1]), 1.0)
    return np.flatnonzero(noisy & large) + 1


def _splice(x: Floats, z: Floats, steps: npt.NDArray[np.intp]) -> Floats:
    """``z`` with each step replaced by the usual change, the newest level
    kept: the days before a step are moved by what the step added."""
    if not steps.size:
        return z
    gaps = np.diff(x)
    changes = np.diff(z)
    regular = np.ones(len(changes), dtype=bool)
    regular[steps - 1] = False
    usual = float(np.median(changes[regular] / gaps[regular])) if regular.any() else 0.0
    changes = changes.copy()
    changes[steps - 1] = usual * gaps[steps - 1]
    rebuilt: Floats = np.concatenate(([0.0], np.cumsum(changes)))
    spliced: Floats = rebuilt - rebuilt[-1] + z[-1]
    return spliced


def _weekdays(x: Floats) -> npt.NDArray[np.intp]:
    # Ordinal 1 (1 Jan of year 1) was a Monday: weekday 0.
    return ((x.astype(np.intp) + 6) % 7).astype(np.intp)


def _weekly_profile(days: npt.NDArray[np.intp], residuals: Floats) -> Floats:
    """The median residual of each weekday, centred; zeros unless every
    weekday has two observations (too little to tell rhythm from noise)."""
    counts = np.bincount(days, minlength=7)
    if counts.min() < 2:
        return np.zeros(7)
    medians: Floats = np.array([np.median(residuals[days == day]) for day in range(7)])
    centred: Floats = medians - medians.mean()
    return centred


def _weekly_rates(x: Floats, z: Floats) -> tuple[Floats, Floats]:
    """The change per day between each pair of observations a week apart
    (each pair is one weekday, so the weekly rhythm cancels out), and the
    first day of each pair."""
    later = np.searchsorted(x, x + 7)
    paired = later < len(x)
    paired[paired] = x[later[paired]] == x[paired] + 7
    rates: Floats = (z[later[paired]] - z[paired]) / 7
    return rates, x[paired]


def _growth_shifts(rates: Floats, starts: Floats) -> float:
    """How much the growth rate moves from one 4-week block to the next:
    the standard deviation of the blocks' median weekly rates."""
    blocks = ((starts - starts[0]) // GROWTH_BLOCK_DAYS).astype(np.intp)
    medians = [
        np.median(rates[blocks == b]) for b in range(blocks[-1] + 1) if (blocks == b).sum() >= 4
    ]
    return float(np.std(medians, ddof=1)) if len(medians) >= 2 else 0.0


def _project(
    x: Floats, z: Floats, settings: ForecastSettings
) -> tuple[Floats, Floats, Floats, float, float]:
    """Expected, lower and upper on each day of the horizon, and the level
    and the slope at the last day, all in the scale of ``z``."""
    # scipy.stats takes 0.6 s to import: paid by the first forecast, not by
    # every process that imports this module (the API, the CLI) at start-up.
    from scipy import stats

    days = _weekdays(x)
    rates, starts = _weekly_rates(x, z)
    shifts = 0.0
    if len(rates) >= MIN_WEEKLY_PAIRS:
        # A first slope for the rhythm: the week-apart changes, free of it.
        slope = float(np.median(rates))
        intercept = float(np.median(z - slope * x))
        # Their spread: how far the series wanders by itself, day by day.
        wander = _spread(rates) * np.sqrt(7)
        shifts = _growth_shifts(rates, starts)
    else:
        slope, intercept = (float(v) for v in stats.theilslopes(z, x)[:2])
        wander = 0.0
    profile = _weekly_profile(days, z - (intercept + slope * x))
    flat = z - profile[days]
    fit = stats.theilslopes(flat, x, alpha=settings.confidence)
    slope = float(fit.slope)
    last = x[-1]
    newest = x > last - settings.anchor_days
    level = float(np.median(flat[newest] - slope * (x[newest] - last)))
    noise = _spread(flat - (level + slope * (x - last)))

    ahead = np.arange(1, settings.horizon_days + 1, dtype=np.float64)
    expected = level + slope * ahead + profile[_weekdays(last + ahead)]
    z_score = NormalDist().inv_cdf(0.5 + settings.confidence / 2)
    slope_error = np.hypot((float(fit.high_slope) - float(fit.low_slope)) / 2 / z_score, shifts)
    deviation = np.sqrt(noise**2 + (slope_error * ahead) ** 2 + wander**2 * ahead)
    half = settings.band_scale * z_score * deviation
    return expected, expected - half, expected + half, level, slope


def _spread(values: Floats) -> float:
    """A standard deviation that a few odd values cannot pull: 1.4826 MAD."""
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


@dataclass(frozen=True)
class LimitReach:
    """When a metric reaches ``limit`` within a forecast's horizon.

    ``likely`` is the first day the expected value reaches it, ``earliest``
    the first day the band's upper edge does, ``latest`` the first day its
    lower edge does; ``None`` where that is not within the horizon."""

    limit: float
    horizon_days: int
    last_day: dt.date
    last_value: float
    earliest: dt.date | None
    likely: dt.date | None
    latest: dt.date | None

    @property
    def reached(self) -> bool:
        """Already at or over the limit on the last observed day."""
        return self.last_value >= self.limit

    @property
    def within_horizon(self) -> bool:
        return self.reached or self.likely is not None

    @property
    def days_to_likely(self) -> int | None:
        return None if self.likely is None else (self.likely - self.last_day).days


def reach_limit(forecast: Forecast, limit: float) -> LimitReach:
    """The range of days on which ``forecast`` reaches ``limit``."""

    def first(values: tuple[float, ...]) -> dt.date | None:
        hits = np.flatnonzero(np.asarray(values) >= limit)
        return forecast.last_day + dt.timedelta(days=int(hits[0]) + 1) if hits.size else None

    reached = forecast.last_value >= limit
    return LimitReach(
        limit=limit,
        horizon_days=forecast.horizon,
        last_day=forecast.last_day,
        last_value=forecast.last_value,
        earliest=forecast.last_day if reached else first(forecast.upper),
        likely=forecast.last_day if reached else first(forecast.expected),
        latest=forecast.last_day if reached else first(forecast.lower),
    )


def quantity(metric: str, value: float) -> str:
    """A metric's value in human units: ``250,000 records``, ``50.0 GB``,
    ``100,000 person records``."""
    if metric == STORAGE_BYTES:
        return human_bytes(value)
    return human_records(value, None if metric == TOTAL_RECORDS else metric)


def _short_day(day: dt.date, reference: dt.date) -> str:
    """``2 Feb`` in the year of ``reference``, else ``2 Feb 2028``."""
    label = day_label(day)
    return label.rsplit(" ", 1)[0] if day.year == reference.year else label


def describe_reach(reach: LimitReach, metric: str) -> str:
    """The reach as a sentence: ``reaches 250,000 records around 14 Mar 2027,
    between 2 Feb and 30 Apr``, or ``not within 180 days``."""
    target = quantity(metric, reach.limit)
    horizon = f"{reach.horizon_days} days"
    if reach.reached:
        return f"already at {quantity(metric, reach.last_value)}, over {target}"
    if reach.likely is None:
        if reach.earliest is None:
            return f"not within {horizon}"
        return f"likely not within {horizon}; {target} at the earliest {day_label(reach.earliest)}"
    assert reach.earliest is not None  # the upper edge is never below the expected value
    around = f"reaches {target} around {day_label(reach.likely)}"
    earliest = _short_day(reach.earliest, reach.likely)
    if reach.latest is None:
        return f"{around}, from {earliest} on, possibly not within {horizon}"
    if reach.earliest == reach.latest:
        return around
    return f"{around}, between {earliest} and {_short_day(reach.latest, reach.likely)}"


@dataclass(frozen=True)
class Outlook:
    """One metric's forecast and, when it has a limit, when it reaches it;
    ``forecast`` is None when the history is too short to project."""

    metric: str
    forecast: Forecast | None
    limit: float | None = None
    reach: LimitReach | None = None

    @property
    def summary(self) -> str | None:
        """``describe_reach``, or None without a limit or a forecast."""
        return None if self.reach is None else describe_reach(self.reach, self.metric)


def forecast_client(
    snapshots: Sequence[SnapshotJSON],
    limits: Mapping[str, float] | None = None,
    settings: ForecastSettings = DEFAULT_SETTINGS,
) -> list[Outlook]:
    """The outlook of total records and storage bytes, always, then of each
    other metric ``limits`` names (a collection), each with its limit."""
    limits = limits or {}
    recent = _recent(snapshots, settings.window_days)
    metrics = [TOTAL_RECORDS, STORAGE_BYTES]
    metrics.extend(sorted(metric for metric in limits if metric not in metrics))
    outlooks: list[Outlook] = []
    for metric in metrics:
        forecast = forecast_metric(recent, metric, settings)
        limit = limits.get(metric)
        reach = None if forecast is None or limit is None else reach_limit(forecast, limit)
        outlooks.append(Outlook(metric, forecast, limit, reach))
    return outlooks


def _recent(snapshots: Sequence[SnapshotJSON], days: int) -> list[SnapshotJSON]:
    """The snapshots of the newest ``days`` days, found once for every metric
    (ISO dates compare as strings: no parsing of the older ones)."""
    if not snapshots:
        return []
    newest = max(snapshot["snapshot_date"] for snapshot in snapshots)
    first = (dt.date.fromisoformat(newest) - dt.timedelta(days=days - 1)).isoformat()
    return [snapshot for snapshot in snapshots if snapshot["snapshot_date"] >= first]
