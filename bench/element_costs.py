"""What each kind of element of a widget page costs the browser, against a
bare title.

``bench/elements_page.py`` draws, on a bare Streamlit page, each kind of
element the Collection page draws (its sidebar links, warning, metrics,
inputs, captions, 200-row table, download button and "Collect now"
section), one kind per link and then all of them; with ``--database-url``
the product's own widget pages (Collection, People, Audit, Alerts) are
opened in the same rounds. Every link is opened in turn, ``--runs`` rounds,
each time in a new browser context of Debian's chromium, and timed from
navigation to the script's end with the title drawn (as ``bench.deeplink``
times a page without charts). Printed and saved: each link's median and
its ratio to the bare page measured in the same rounds.

    python -m bench.element_costs --runs 10 [--database-url URL] [--tag=-x]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from collections.abc import Iterator

from bench._common import load, save_results
from bench.deeplink import CHROMIUM, CHROMIUM_ARGS, open_timed, page_server
from bench.elements_page import PARTS
from tests.live_server import running_server
from usage.db import PROJECT_ROOT

WIDGET_PAGES = ("collection", "people", "audit", "alerts")
WARM = "warm"  # opened first in each round, not reported: the first open of a round is slower


@contextlib.contextmanager
def _product(database_url: str | None) -> Iterator[str | None]:
    if database_url is None:
        yield None
        return
    with running_server(database_url, extra_args=["--server.fileWatcherType", "none"],
                        timeout=120) as base:  # fmt: skip
        yield base


def links(elements: str, product: str | None) -> list[tuple[str, str]]:
    """(label, URL): the bare page, each part alone, every part, and the
    product's widget pages."""
    chosen = [(WARM, f"{elements}/?parts="), ("bare title", f"{elements}/?parts=")]
    chosen += [(part, f"{elements}/?parts={part}") for part in PARTS]
    chosen.append(("every part", f"{elements}/?parts={','.join(PARTS)}"))
    if product is not None:
        chosen += [(f"product /{page}", f"{product}/{page}") for page in WIDGET_PAGES]
    return chosen


def measure(runs: int, database_url: str | None) -> list[dict[str, object]]:
    from playwright.sync_api import sync_playwright

    with (
        page_server("bench/elements_page.py", {"PYTHONPATH": str(PROJECT_ROOT)}) as elements,
        _product(database_url) as product,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            chosen = links(elements, product)
            for _, url in chosen:  # each server's caches warm
                open_timed(browser, url, 0)
            timed: dict[str, list[float]] = {label: [] for label, _ in chosen}
            for _ in range(runs):
                for label, url in chosen:
                    timed[label].append(open_timed(browser, url, 0)[2])
        finally:
            browser.close()
    bare = statistics.median(timed["bare title"])
    results: list[dict[str, object]] = []
    for label, _ in chosen[1:]:
        median = statistics.median(timed[label])
        results.append({"label": label, "median": round(median, 3),
                        "ratio": round(median / bare, 2), "load": load()})  # fmt: skip
        print(f"{label:22s} {median:6.3f} s  x{median / bare:.2f}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="rounds over every link")
    parser.add_argument("--database-url", help="an upgraded database: time the product's pages too")
    parser.add_argument("--tag", default="", help="suffix of the results file's name")
    args = parser.parse_args()
    results = measure(max(args.runs, 1), args.database_url)
    save_results(f"element-costs{args.tag}", {"runs": args.runs, "links": results})


if __name__ == "__main__":
    main()
