"""A dashboard deep link's time to charts drawn, in headless chromium.

    python -m bench.deeplink [--runs 5] [--database-url URL]

Without ``--database-url`` a new SQLite file is filled with the demo
portfolio (3 years of daily snapshots). The real server (``streamlit run
app.py``) is started on a free port; each run opens the link in a new
browser context (a new Streamlit session) and times from navigation until
every plotly chart of the page has drawn its SVG. The first run of a link
is cold (no cached query), the others warm (Streamlit's cache_data).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy.orm import Session

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


def measure(database_url: str, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    with running_server(database_url) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for label, link, charts in _links(dt.date.today()):
                times = []
                for _ in range(runs):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    started = time.perf_counter()
                    page.goto(base + link)
                    page.wait_for_function(ALL_CHARTS_DRAWN, arg=charts, timeout=120_000)
                    times.append(time.perf_counter() - started)
                    context.close()
                warm = times[1:] or times
                print(
                    f"{label:28s} cold {times[0]:5.2f} s   warm median "
                    f"{statistics.median(warm):5.2f} s  (min {min(warm):.2f}, "
                    f"max {max(warm):.2f}, {len(warm)} runs)"
                )
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="opens of each link (first: cold)")
    parser.add_argument("--database-url", help="an upgraded database (default: demo SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or _demo_database(Path(folder))
        measure(url, max(args.runs, 1))


if __name__ == "__main__":
    main()
