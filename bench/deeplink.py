"""Each dashboard page's time to drawn, in headless chromium, beside its floor.

    python -m bench.deeplink [--runs 5] [--database-url URL] [--tag NAME]

The product (``streamlit run app.py``) and the **floor** (``streamlit run
bench/floor_page.py``: a bare Streamlit page drawing the same number of
plotly charts, with the same trace types and the same number of points, and
a title) run side by side on free ports. For each link, a first open finds
the page's charts (and warms Streamlit's data cache, as for the second
viewer of the day); then the product page and its floor are opened in turn,
each in a new browser context (a new session, nothing in the browser's
cache), and timed from navigation until the script has finished and every
chart has drawn its SVG, by one polling function that notes, on the page's
own clock, when it first saw the title and the script's end (one wait: the
three waits used before session 22, the title's selector and then two
functions, cost the product's opens more than the floor's; see
``bench.harness`` and ``docs/benchmarks.md``). Reported: the medians and
their ratio, against the issue's targets (1.2 for the Portfolio page and a
Client deep link with range All by day, 1.3 for the rest); beside it, the
spread of the ratio of each product open to the floor's open that follows it
(its quartiles: how far one run can be trusted), and the ratio of the
renderer's main-thread time up to the page drawn (Chromium's
``TaskDuration``, which moves less with the machine's load than the time on
the clock does).

Without ``--database-url`` a new SQLite file is filled with the demo
portfolio (3 years of daily snapshots).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import enum
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench._common import load, save_results
from tests.live_server import free_port, running_server, stop_process, wait_until_healthy
from usage.db import PROJECT_ROOT, make_engine, upgrade_schema
from usage.demo import HISTORY_DAYS, load_demo
from usage.models import Client, LatestSnapshot

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
# The script has run to its end and each of the page's charts has drawn.
# On the way it notes in ``window.__benchSeen`` when it first saw the title
# and the script's end (every element on the page, drawn or not), in
# milliseconds since navigation started: the page's progress from the one
# function polled, nothing else run in the page while it draws.
DRAWN = """(charts) => {
    const seen = window.__benchSeen || (window.__benchSeen = {});
    const app = document.querySelector("[data-testid='stApp']");
    const titled = document.querySelector("h1") !== null;
    if (titled && seen.title === undefined) seen.title = performance.now();
    const drawn = document.querySelectorAll("[data-testid='stPlotlyChart']");
    const done = titled && app !== null && drawn.length >= charts
        && app.getAttribute("data-test-script-state") === "notRunning";
    if (done && seen.script === undefined) seen.script = performance.now();
    return done && [...drawn].every((chart) => chart.querySelector(".main-svg"));
}"""
# The script has run to its end (the three waits' second, ``Waits.THREE``).
SCRIPT_DONE = """(charts) => {
    const app = document.querySelector("[data-testid='stApp']");
    return app && app.getAttribute("data-test-script-state") === "notRunning"
        && document.querySelector("h1")
        && document.querySelectorAll("[data-testid='stPlotlyChart']").length >= charts;
}"""
# Each chart's traces: type and number of points.
CHART_SPECS = """() => [...document.querySelectorAll(
        "[data-testid='stPlotlyChart'] .js-plotly-plot")].map((gd) => ({
    barmode: (gd.layout || {}).barmode || null,
    traces: (gd.data || []).map((t) => ({
        type: t.type || "scatter", mode: t.mode || null, orientation: t.orientation || null,
        points: Math.max((t.x || []).length, (t.y || []).length, (t.values || []).length),
    })),
}))"""
SETTLE_SECONDS = 3.0
TARGETS = {"portfolio": 1.2, "client, all by day": 1.2}
OTHER_TARGET = 1.3


def links(today: dt.date, bucket: str, other: str) -> list[tuple[str, str, int]]:
    """(label, path, the plotly charts the page draws)."""
    half_year = (today - dt.timedelta(days=182)).isoformat()
    a, b = (today - dt.timedelta(days=90)).isoformat(), (today - dt.timedelta(days=1)).isoformat()
    return [
        ("portfolio", "/", 3),
        ("client, all by day", f"/client?bucket={bucket}&preset=all&granularity=day", 6),
        ("client, default (90 days)", f"/client?bucket={bucket}", 6),
        ("client, 6 months by week",
         f"/client?bucket={bucket}&start={half_year}&end={today.isoformat()}&granularity=week",
         6),
        ("client, all by month", f"/client?bucket={other}&preset=all&granularity=month", 6),
        ("daily snapshot", f"/snapshots?date={b}", 1),
        ("compare", f"/compare?bucket={bucket}&a={a}&b={b}", 1),
        ("collection", "/collection", 0),
        ("people", "/people", 0),
        ("audit", "/audit", 0),
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


def _pick_clients(url: str) -> tuple[str, str, dt.date]:
    """Two clients with a snapshot on the newest day, and that day."""
    engine = make_engine(url)
    with Session(engine) as session:
        newest = session.scalar(select(LatestSnapshot.snapshot_date).order_by(
            LatestSnapshot.snapshot_date.desc()).limit(1))  # fmt: skip
        buckets = session.scalars(
            select(Client.bucket_id)
            .join(LatestSnapshot, LatestSnapshot.client_id == Client.id)
            .where(LatestSnapshot.snapshot_date == newest)
            .order_by(Client.id)
            .limit(2)
        ).all()
    engine.dispose()
    assert newest is not None, "the store has no snapshot"
    assert len(buckets) == 2, "the store needs two clients with a snapshot on the newest day"
    return buckets[0], buckets[1], newest


@contextlib.contextmanager
def page_server(script: str, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """``streamlit run script`` (a bare page of ``bench/``) from the project's
    root, with its configuration; yields the base URL."""
    port = free_port()
    args = [sys.executable, "-m", "streamlit", "run", script,
            "--server.port", str(port), "--server.address", "127.0.0.1",
            "--server.headless", "true", "--server.fileWatcherType", "none"]  # fmt: skip
    process = subprocess.Popen(args, cwd=PROJECT_ROOT, env={**os.environ, **(env or {})},
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base, 60)
        yield base
    finally:
        stop_process(process)


def floor_server(specs: Path) -> contextlib.AbstractContextManager[str]:
    return page_server("bench/floor_page.py", {"USAGE_FLOOR_SPECS": str(specs)})


def _new_page(browser: Browser) -> Page:
    return browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()


def _discover(browser: Browser, url: str, charts: int) -> list[dict[str, Any]]:
    """The page's charts (their traces and points), after a first open that
    warms the server's cache."""
    page = _new_page(browser)
    page.goto(url)
    page.wait_for_function(DRAWN, arg=charts, timeout=180_000)
    time.sleep(SETTLE_SECONDS)  # nothing more comes
    page.wait_for_function(DRAWN, arg=charts, timeout=180_000)
    specs: list[dict[str, Any]] = page.evaluate(CHART_SPECS)
    page.context.close()
    if len(specs) != charts:
        raise RuntimeError(f"{url} drew {len(specs)} charts, not {charts}: is it working?")
    return specs


class Waits(enum.Enum):
    """How an open waits for its page: ``ONE`` function polled every 20 ms
    (``DRAWN``, noting the title and the script's end on the way), or the
    ``THREE`` waits used before session 22 (Playwright's wait for the
    title's selector, then ``SCRIPT_DONE``, then ``DRAWN``), kept to
    measure what they cost (``bench.harness``)."""

    ONE = "one"
    THREE = "three"


def open_timed(
    browser: Browser, url: str, charts: int, waits: Waits = Waits.ONE
) -> tuple[float, float, float, float]:
    """Seconds from navigation to the page's title, to the script's end (every
    element sent), and to the page drawn; and the seconds the renderer's main
    thread worked until then."""
    page = _new_page(browser)
    devtools = page.context.new_cdp_session(page)
    devtools.send("Performance.enable")
    started = time.perf_counter()
    page.goto(url)
    if waits is Waits.THREE:
        page.wait_for_selector("h1", timeout=180_000)
        title = time.perf_counter() - started
        page.wait_for_function(SCRIPT_DONE, arg=charts, timeout=180_000, polling=20)
        script = time.perf_counter() - started
    page.wait_for_function(DRAWN, arg=charts, timeout=180_000, polling=20)
    drawn = time.perf_counter() - started
    if waits is Waits.ONE:
        seen = page.evaluate("window.__benchSeen")  # the page's clock, in milliseconds
        title, script = seen["title"] / 1000, seen["script"] / 1000
    metrics = devtools.send("Performance.getMetrics")["metrics"]
    busy = next(metric["value"] for metric in metrics if metric["name"] == "TaskDuration")
    page.context.close()
    return title, script, drawn, busy


def _quartiles(values: list[float]) -> tuple[float, float]:
    """The first and third quartiles of ``values`` (both the value itself
    for one)."""
    if len(values) < 2:
        return values[0], values[0]
    first, _, third = statistics.quantiles(values, n=4)
    return first, third


@dataclass(frozen=True)
class Linked:
    """A link of ``links`` ready to time: the product's page and its floor's,
    both opened once, in ``browser``."""

    browser: Browser
    label: str
    path: str
    product: str  # the page's URL
    floor: str  # its floor's URL
    specs: list[dict[str, Any]]  # the page's charts (``CHART_SPECS``)


def linked_pages(database_url: str, folder: Path, only: str | None = None) -> Iterator[Linked]:
    """The links (those whose label holds ``only``), each with its floor,
    the product and floor servers and the browser up while they are
    timed."""
    from playwright.sync_api import sync_playwright

    bucket, other, newest = _pick_clients(database_url)
    specs_file = folder / "floor-specs.json"
    specs_file.write_text("{}")
    server_args = ["--server.fileWatcherType", "none"]
    with (
        running_server(database_url, extra_args=server_args, timeout=120) as product,
        floor_server(specs_file) as floor,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for label, link, charts in links(newest, bucket, other):
                if only is not None and only not in label:
                    continue
                specs = _discover(browser, product + link, charts)
                name = label.replace(" ", "_").replace(",", "")
                specs_file.write_text(
                    json.dumps({**json.loads(specs_file.read_text()), name: specs})
                )
                floor_link = f"{floor}/?spec={name}"
                open_timed(browser, floor_link, len(specs))  # the floor's first open
                yield Linked(browser, label, link, product + link, floor_link, specs)
        finally:
            browser.close()


def measure(
    database_url: str, runs: int, folder: Path, only: str | None = None
) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    for page in linked_pages(database_url, folder, only):
        browser, label, link, specs = page.browser, page.label, page.path, page.specs
        timed: dict[str, list[tuple[float, float, float, float]]] = {
            "product": [], "floor": []}  # fmt: skip
        for _ in range(runs):
            timed["product"].append(open_timed(browser, page.product, len(specs)))
            timed["floor"].append(open_timed(browser, page.floor, len(specs)))
        product_median = statistics.median(drawn for _, _, drawn, _ in timed["product"])
        floor_median = statistics.median(drawn for _, _, drawn, _ in timed["floor"])
        target = TARGETS.get(label, OTHER_TARGET)
        ratio = product_median / floor_median
        paired = zip(timed["product"], timed["floor"], strict=True)
        spread = _quartiles([product[2] / floor[2] for product, floor in paired])
        busy = statistics.median(b for *_, b in timed["product"]) / statistics.median(
            b for *_, b in timed["floor"])  # fmt: skip
        result = {
            "link": label,
            "path": link,
            "charts": len(specs),
            "points": sum(trace["points"] for chart in specs for trace in chart["traces"]),
            "product_median": round(product_median, 2),
            "product_title_median": round(
                statistics.median(title for title, *_ in timed["product"]), 2
            ),
            "product_script_median": round(
                statistics.median(script for _, script, *_ in timed["product"]), 2
            ),
            "floor_script_median": round(
                statistics.median(script for _, script, *_ in timed["floor"]), 2
            ),
            "floor_median": round(floor_median, 2),
            "ratio": round(ratio, 2),
            "round_ratio_quartiles": [round(spread[0], 2), round(spread[1], 2)],
            "main_thread_ratio": round(busy, 2),
            "target": target,
            "met": ratio <= target,
            "load": load(),
        }
        results.append(result)
        print(
            f"{label:26s} {result['charts']} charts, {result['points']:6,} points | "
            f"product {product_median:5.2f} s (title {result['product_title_median']:.2f}"
            f" s, script {result['product_script_median']:.2f} s) | floor "
            f"{floor_median:5.2f} s (script {result['floor_script_median']:.2f} s) | "
            f"x{ratio:.2f} (target {target}: "
            f"{'met' if result['met'] else 'MISSED'}; rounds {spread[0]:.2f}-"
            f"{spread[1]:.2f}; main thread x{busy:.2f}) | {result['load']}",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed opens of each page and floor")
    parser.add_argument("--database-url", help="an upgraded database (default: demo SQLite)")
    parser.add_argument("--tag", default="", help="suffix of the results file's name")
    parser.add_argument("--only", help="only the links whose label holds this text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        url = args.database_url or _demo_database(folder)
        results = measure(url, max(args.runs, 1), folder, args.only)
        save_results(f"deeplink{args.tag}", {"runs": args.runs, "links": results})


if __name__ == "__main__":
    main()
