"""A dashboard deep link's time to charts drawn, in headless chromium.

    python -m bench.deeplink [--runs 5] [--database-url URL]

Without ``--database-url`` a new SQLite file is filled with the demo
portfolio (3 years of daily snapshots). The real server (``streamlit run
app.py``) is started on a free port; each run opens the link in a new
browser context (a new Streamlit session, nothing in the browser's cache)
and times from navigation until every plotly chart of the page has drawn
its SVG. The first run of a link is cold (no cached query), the others warm
(Streamlit's cache_data). Then the link is opened again in a new tab of the
last context, as a returning user would (the front-end's scripts in the
browser's cache); each open also records when the page's title appeared
(the script's first element).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import BrowserContext
from sqlalchemy.orm import Session

from bench._common import load, save_results
from tests.live_server import running_server
from usage.db import make_engine, upgrade_schema
from usage.demo import HISTORY_DAYS, load_demo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
# Every chart on the page has drawn (the client page has six).
ALL_CHARTS_DRAWN = """(count) => {
    const charts = document.querySelectorAll("[data-testid='stPlotlyChart']");
    return charts.length >= count
        && [...charts].every((chart) => chart.querySelector(".main-svg"));
}"""


def _links(today: dt.date) -> list[tuple[str, str, int]]:
    half_year = (today - dt.timedelta(days=182)).isoformat()
    return [
        ("client, 6 months by week",
         f"/client?bucket=acme-corp&start={half_year}&end={today.isoformat()}&granularity=week",
         6),
        ("client, 3 years by day", "/client?bucket=acme-corp&preset=all&granularity=day", 6),
        ("client, 3 years by month", "/client?bucket=globex&preset=all&granularity=month", 6),
        ("portfolio", "/", 3),
        ("daily snapshot", f"/snapshots?date={(today - dt.timedelta(days=1)).isoformat()}", 1),
    ]  # fmt: skip


def _demo_database(folder: Path) -> str:
    url = f"sqlite:///{folder / 'deeplink.sqlite3'}"
    engine = make_engine(url)
    upgrade_schema(engine)
    with Session(engine) as session, session.begin():
        added = load_demo(session, dt.date.today())
    engine.dispose()
    print(f"demo portfolio: {added:,} snapshots over {HISTORY_DAYS} days")
    return url


def _open(context: BrowserContext, url: str, charts: int) -> tuple[float, float]:
    """Seconds from navigation to the page's title, and to every chart drawn."""
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("h1", timeout=120_000)
    title = time.perf_counter() - started
    page.wait_for_function(ALL_CHARTS_DRAWN, arg=charts, timeout=120_000)
    drawn = time.perf_counter() - started
    page.close()
    return title, drawn


def measure(database_url: str, runs: int) -> list[dict[str, object]]:
    from playwright.sync_api import sync_playwright

    results: list[dict[str, object]] = []
    with running_server(database_url) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for label, link, charts in _links(dt.date.today()):
                fresh: list[tuple[float, float]] = []
                for _ in range(runs):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    fresh.append(_open(context, base + link, charts))
                    if len(fresh) < runs:
                        context.close()
                cached = [_open(context, base + link, charts) for _ in range(runs)]
                context.close()
                warm = [drawn for _, drawn in fresh[1:]] or [fresh[0][1]]
                result = {
                    "link": label,
                    "cold": round(fresh[0][1], 2),
                    "warm_median": round(statistics.median(warm), 2),
                    "title_median": round(statistics.median(t for t, _ in fresh), 2),
                    "cached_median": round(statistics.median(d for _, d in cached), 2),
                    "cached_title_median": round(statistics.median(t for t, _ in cached), 2),
                    "load": load(),
                }
                results.append(result)
                print(
                    f"{label:28s} new context: cold {fresh[0][1]:5.2f} s, warm median "
                    f"{result['warm_median']:5.2f} s (title {result['title_median']:.2f} s)"
                    f" | new tab, scripts cached: {result['cached_median']:5.2f} s"
                    f" (title {result['cached_title_median']:.2f} s) | {result['load']}",
                    flush=True,
                )
        finally:
            browser.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="opens of each link (first: cold)")
    parser.add_argument("--database-url", help="an upgraded database (default: demo SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or _demo_database(Path(folder))
        save_results("deeplink", {"runs": args.runs, "links": measure(url, max(args.runs, 1))})


if __name__ == "__main__":
    main()
