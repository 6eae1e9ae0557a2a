"""One deep link, two or more trees of the product, and the floor, opened in
turn: what a change costs or saves, measured in the same minutes.

    python -m bench.deeplink_ab portfolio /tmp/before . [--runs 8] [--database-url URL]

Each tree (a checkout, e.g. ``git worktree add /tmp/before <commit>``) is
served by its own ``streamlit run app.py`` on the same database
(``tests.live_server.running_server`` from that checkout); the floor is
``bench.deeplink``'s, drawing the charts found on the first tree's page. After
a first open of each (the server's data cache warm), every round opens each
tree's page and then the floor, each in a new browser context, and times it
from navigation to the page drawn (``bench.deeplink``'s measure). Printed and
saved: each one's median, its ratio to the floor's, and every time; and the
ratio of the renderer's main-thread time up to the page drawn. A run of
``bench.deeplink`` measures one tree minutes apart from another; opened in
turn, the machine's drift (the floors here move by a third between runs)
falls on all of them alike.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
from pathlib import Path

from bench._common import load, save_results
from bench.deeplink import (
    CHROMIUM,
    CHROMIUM_ARGS,
    _discover,
    _pick_clients,
    floor_server,
    links,
    open_timed,
)
from tests.live_server import running_server

DEFAULT_DATABASE = "sqlite:////tmp/usage-bench/usage-10000.sqlite3"
SERVER_ARGS = ["--server.fileWatcherType", "none"]  # as bench.deeplink serves the product


def compare(label: str, trees: list[Path], database_url: str, runs: int) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    bucket, other, newest = _pick_clients(database_url)
    matching = [(name, link, charts) for name, link, charts in links(newest, bucket, other)
                if label in name]  # fmt: skip
    if not matching:
        raise SystemExit(f"no link's label holds {label!r}")
    name, link, charts = matching[0]
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        specs_file = Path(folder) / "floor-specs.json"
        specs_file.write_text("{}")
        bases = [stack.enter_context(running_server(database_url, extra_args=SERVER_ARGS,
                                                    timeout=120, root=tree))
                 for tree in trees]  # fmt: skip
        floor = stack.enter_context(floor_server(specs_file))
        browser = stack.enter_context(sync_playwright()).chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        specs = _discover(browser, bases[0] + link, charts)
        for base in bases[1:]:
            _discover(browser, base + link, len(specs))
        specs_file.write_text(json.dumps({"ab": specs}))
        floor_link = f"{floor}/?spec=ab"
        open_timed(browser, floor_link, len(specs))  # the floor's first open
        urls = {str(tree): base + link for tree, base in zip(trees, bases, strict=True)}
        urls["floor"] = floor_link
        times: dict[str, list[float]] = {who: [] for who in urls}
        busy: dict[str, list[float]] = {who: [] for who in urls}  # the main thread's seconds
        for _ in range(runs):
            for who, url in urls.items():
                *_, drawn, worked = open_timed(browser, url, len(specs))
                times[who].append(round(drawn, 2))
                busy[who].append(round(worked, 3))
        browser.close()
    floor_median = statistics.median(times["floor"])
    floor_busy = statistics.median(busy["floor"])
    result: dict[str, object] = {"link": name, "path": link, "runs": runs, "load": load()}
    for who, seconds in times.items():
        median = statistics.median(seconds)
        thread = statistics.median(busy[who]) / floor_busy
        result[who] = {"median": round(median, 2), "ratio": round(median / floor_median, 2),
                       "main_thread_ratio": round(thread, 2), "times": seconds,
                       "main_thread": busy[who]}  # fmt: skip
        print(f"{who:32s} median {median:5.2f} s  x floor {median / floor_median:.2f}  "
              f"(main thread x{thread:.2f})  {' '.join(f'{s:.2f}' for s in seconds)}",
              flush=True)  # fmt: skip
    print(result["load"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("link", help="a link of bench.deeplink, by part of its label")
    parser.add_argument("trees", nargs="+", type=Path, help="checkouts of the product")
    parser.add_argument("--runs", type=int, default=8, help="rounds of opens")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    parser.add_argument("--tag", default="", help="suffix of the results file's name")
    args = parser.parse_args()
    result = compare(args.link, [tree.resolve() for tree in args.trees], args.database_url,
                     max(args.runs, 1))  # fmt: skip
    save_results(f"deeplink-ab{args.tag}", result)


if __name__ == "__main__":
    main()
