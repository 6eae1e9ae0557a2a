"""Backtest of ``usage.forecast`` on the benchmark portfolio, against a naive
baseline, and its time per client.

    python -m bench.forecast [--clients 300] [--days 1095] [--seed 6]

The series are the benchmark portfolio's (``bench.generate``'s per-client
function, in memory: no database): weekly rhythm, compounding growth or
decline, a bulk import or a purge in one client of ten, collections that
appear part way. Each is cut at several days; the forecast made from the
history up to the cut is compared with what happened 30 and 90 days later,
for total records and storage bytes. The same is done on a copy with missing
days (5 % of the days at random and one 14-day outage per series), and on a
rough copy (``roughened``: a random walk and growth that shifts, which the
generator leaves out) with missing days too.

Reported per method and horizon: the median absolute percentage error
(MdAPE), its 90th percentile, the MdAPE of the cuts with a step in the 120
days before them, and the band's coverage (the share of outcomes inside the
band, nominally 90 %). The baseline is the last value plus the average daily
growth of the whole history, with a random-walk band
(± z · sd(daily change) · √h).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import orjson
from scipy import stats

from bench._common import load, percentile, save_results, summarize
from bench.generate import _client_rows, day_strings
from usage.anomalies import find_anomalies
from usage.forecast import (
    DEFAULT_SETTINGS,
    ForecastSettings,
    Scale,
    forecast_client,
    forecast_series,
    metric_points,
)
from usage.series import STORAGE_BYTES, TOTAL_RECORDS
from usage.snapshots import SnapshotJSON

HORIZONS = (30, 90)
METRICS = (TOTAL_RECORDS, STORAGE_BYTES)
# Cuts, as days of history before them (the last leaves 90 days to compare).
CUTS = (120, 365, 545, 730, 910, 1005)
STEP_LOOKBACK_DAYS = 120
MISSING_SHARE = 0.05
OUTAGE_DAYS = 14
END_DAY = dt.date(2026, 6, 30)
WANDER = 0.002
GROWTH_SHIFT = 0.2
SHIFT_EVERY_DAYS = 120
VARIANTS = ("as generated", "missing days", "rough, missing days")

Series = list[tuple[dt.date, float]]
# A method: history -> (expected, lower, upper) at each horizon, or None.
Method = Callable[[Series], dict[int, tuple[float, float, float]] | None]


def client_snapshots(client_id: int, days: list[str], seed: int) -> list[SnapshotJSON]:
    """One client's snapshots as the API returns them, from the generator's rows."""
    rows = _client_rows(client_id, days, seed, ".000000")
    return [orjson.loads(b"{" + body + b"}") for _, _, body in rows.bodies]


def with_missing_days(series: Series, rng: np.random.Generator) -> Series:
    """``series`` without 5 % of its days and one 14-day outage."""
    keep = rng.random(len(series)) >= MISSING_SHARE
    outage = int(rng.integers(len(series) - OUTAGE_DAYS))
    keep[outage : outage + OUTAGE_DAYS] = False
    keep[-1] = True
    return [point for point, kept in zip(series, keep, strict=True) if kept]


def roughened(series: Series, rng: np.random.Generator) -> Series:
    """``series`` with what the generator leaves out: a random walk of
    ``WANDER`` a day, and a growth rate that shifts by ``GROWTH_SHIFT`` a
    year every ``SHIFT_EVERY_DAYS`` days on average."""
    n = len(series)
    segment = np.cumsum(rng.random(n) < 1 / SHIFT_EVERY_DAYS)
    shifts = rng.normal(0, GROWTH_SHIFT / 365, segment[-1] + 1)[segment]
    drift = np.cumsum(rng.normal(0, WANDER, n) + shifts)
    return [(day, value * float(np.exp(d))) for (day, value), d in zip(series, drift, strict=True)]


def product_method(settings: ForecastSettings) -> Method:
    def run(history: Series) -> dict[int, tuple[float, float, float]] | None:
        forecast = forecast_series(history, settings)
        if forecast is None:
            return None
        return {h: forecast.on(forecast.last_day + dt.timedelta(days=h)) for h in HORIZONS}

    return run


def naive_baseline(history: Series) -> dict[int, tuple[float, float, float]] | None:
    """Last value plus the average daily growth of the whole history."""
    days = np.array([day.toordinal() for day, _ in history], dtype=np.float64)
    values = np.array([value for _, value in history])
    if len(days) < 2:
        return None
    growth = (values[-1] - values[0]) / (days[-1] - days[0])
    per_day = np.diff(values) / np.diff(days)
    spread = float(np.std(per_day - growth)) * float(stats.norm.ppf(0.95))
    result = {}
    for h in HORIZONS:
        expected = values[-1] + growth * h
        half = spread * np.sqrt(h)
        result[h] = (float(expected), float(max(expected - half, 0.0)), float(expected + half))
    return result


METHODS: dict[str, Method] = {
    "theil-sen, 120 days, band x1.5 (chosen)": product_method(DEFAULT_SETTINGS),
    "same, always log": product_method(ForecastSettings(scale=Scale.LOG)),
    "same, always linear": product_method(ForecastSettings(scale=Scale.LINEAR)),
    "same, 60-day window": product_method(ForecastSettings(window_days=60)),
    "same, 240-day window": product_method(ForecastSettings(window_days=240)),
    "same, band x1.0": product_method(ForecastSettings(band_scale=1.0)),
    "naive baseline": naive_baseline,
}


@dataclass
class Tally:
    errors: list[float]
    step_errors: list[float]
    inside: int = 0
    count: int = 0

    def add(self, predicted: tuple[float, float, float], actual: float, stepped: bool) -> None:
        expected, lower, upper = predicted
        error = abs(expected - actual) / actual * 100
        self.errors.append(error)
        if stepped:
            self.step_errors.append(error)
        self.inside += lower <= actual <= upper
        self.count += 1

    def report(self) -> dict[str, float | int]:
        return {
            "mdape_pct": round(float(np.median(self.errors)), 2),
            "p90_ape_pct": round(percentile(self.errors, 90), 2),
            "mdape_after_step_pct": round(float(np.median(self.step_errors)), 2)
            if self.step_errors
            else float("nan"),
            "coverage_pct": round(self.inside * 100 / self.count, 1),
            "cases": self.count,
        }


def _stepped(values: list[float], cut: int) -> bool:
    """A change of over 20 % from one day to the next in the lookback."""
    recent = np.array(values[max(cut - STEP_LOOKBACK_DAYS, 0) : cut])
    return bool(np.any(np.abs(np.diff(recent)) > 0.2 * recent[:-1]))


def backtest(clients: int, days: list[str], seed: int) -> dict[str, dict[str, object]]:
    tallies = {
        (variant, name, h): Tally([], [])
        for variant in VARIANTS
        for name in METHODS
        for h in HORIZONS
    }
    rng = np.random.default_rng(seed)
    for client_id in range(1, clients + 1):
        snapshots = client_snapshots(client_id, days, seed)
        for metric in METRICS:
            generated = metric_points(snapshots, metric)
            rough = roughened(generated, rng)
            truths = dict(zip(VARIANTS, (generated, generated, rough), strict=True))
            gappy = (with_missing_days(generated, rng), with_missing_days(rough, rng))
            observed = dict(zip(VARIANTS, (generated, *gappy), strict=True))
            for variant in VARIANTS:
                values = [value for _, value in truths[variant]]
                for cut in CUTS:
                    cut_day = generated[cut - 1][0]
                    history = [point for point in observed[variant] if point[0] <= cut_day]
                    stepped = _stepped(values, cut)
                    for name, method in METHODS.items():
                        predicted = method(history)
                        if predicted is None:
                            continue
                        for h in HORIZONS:
                            actual = values[cut - 1 + h]
                            if actual > 0:
                                tallies[(variant, name, h)].add(predicted[h], actual, stepped)
    table: dict[str, dict[str, object]] = {}
    for (variant, name, h), tally in tallies.items():
        table.setdefault(f"{variant} | {name}", {})[f"{h}d"] = tally.report()
    return table


def _best_of(call: Callable[[list[SnapshotJSON]], object], history: list[SnapshotJSON]) -> float:
    """The fastest of three calls, in milliseconds: the machine is shared,
    and its neighbours only ever add time."""
    spent = []
    for _ in range(3):
        before = time.perf_counter()
        call(history)
        spent.append((time.perf_counter() - before) * 1000)
    return min(spent)


def time_per_client(clients: int, days: list[str], seed: int) -> dict[str, dict[str, float]]:
    """Per client, the best of three calls: ``forecast_client`` (total records
    and storage bytes, a limit each) on the full history and on its newest
    120 days, and ``find_anomalies`` (totals, collections, prefixes) on 90."""
    histories = [client_snapshots(cid, days, seed) for cid in range(1, clients + 1)]
    limits = {TOTAL_RECORDS: 250_000.0, STORAGE_BYTES: 50e9}
    forecast_client(histories[0], limits)  # warm-up: imports, first calls
    calls: dict[str, Callable[[list[SnapshotJSON]], object]] = {
        f"forecast_client, {len(days)} days": lambda history: forecast_client(history, limits),
        "forecast_client, 120 days": lambda history: forecast_client(history[-120:], limits),
        "find_anomalies, 90 days": lambda history: find_anomalies(
            "bench", history[-90:], status="active", as_of=END_DAY
        ),
    }
    return {
        label: summarize([_best_of(call, history) for history in histories])
        for label, call in calls.items()
    }


def _print_table(table: dict[str, dict[str, object]]) -> None:
    print(f"{'series | method':66} {'h':>4} {'MdAPE':>7} {'P90 APE':>8} {'after step':>10}"
          f" {'coverage':>9} {'cases':>6}")  # fmt: skip
    for row, by_horizon in table.items():
        for horizon, cells in by_horizon.items():
            c = cells
            assert isinstance(c, dict)
            print(f"{row:66} {horizon:>4} {c['mdape_pct']:>6.2f}% {c['p90_ape_pct']:>7.2f}%"
                  f" {c['mdape_after_step_pct']:>9.2f}% {c['coverage_pct']:>8.1f}%"
                  f" {c['cases']:>6}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--days", type=int, default=3 * 365)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    days = day_strings(END_DAY, args.days)
    print(f"backtest: {args.clients} clients x {len(days)} days, cuts after {CUTS} days,"
          f" horizons {HORIZONS} ({load()})")  # fmt: skip
    started = time.perf_counter()
    table = backtest(args.clients, days, args.seed)
    print(f"  {time.perf_counter() - started:.1f} s")
    _print_table(table)
    timings = time_per_client(args.clients, days, args.seed)
    for label, timing in timings.items():
        print(f"per client, {label}: {timing} ({load()})")
    path = save_results(
        "forecast",
        {
            "clients": args.clients,
            "days": len(days),
            "seed": args.seed,
            "cuts": list(CUTS),
            "backtest": table,
            "time_per_client_ms": timings,
        },
    )
    print(f"saved {path}")


if __name__ == "__main__":
    main()
