"""What the benchmark's own waiting costs: each page of ``bench.deeplink``
and its floor, timed with one wait and with the three used before session 22.

    python -m bench.harness --database-url URL [--runs 12] [--only TEXT] [--tag NAME]

Every round opens the product's page and its floor with ``Waits.ONE`` (one
function polled every 20 ms, as ``bench.deeplink`` times them now) and then
with ``Waits.THREE`` (Playwright's wait for the title's selector, then two
functions), each in a new browser context. Printed and saved, for each way:
the medians and their ratio. A harness that costs one page more than
another moves the ratio it reports; the way that moves it least is the one
to trust.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench._common import load, save_results
from bench.deeplink import Waits, linked_pages, open_timed


def measure(
    database_url: str, runs: int, folder: Path, only: str | None
) -> list[dict[str, object]]:
    results: list[dict[str, object]] = []
    for page in linked_pages(database_url, folder, only):
        urls = {"product": page.product, "floor": page.floor}
        drawn: dict[tuple[Waits, str], list[float]] = {
            (waits, who): [] for waits in Waits for who in urls
        }
        for _ in range(runs):
            for waits in Waits:
                for who, url in urls.items():
                    seconds = open_timed(page.browser, url, len(page.specs), waits)[2]
                    drawn[waits, who].append(round(seconds, 3))
        result: dict[str, object] = {"link": page.label, "path": page.path, "load": load()}
        line = [f"{page.label:26s}"]
        for waits in Waits:
            product_median = statistics.median(drawn[waits, "product"])
            floor_median = statistics.median(drawn[waits, "floor"])
            result[waits.value] = {
                "product_median": round(product_median, 2),
                "floor_median": round(floor_median, 2),
                "ratio": round(product_median / floor_median, 2),
                "product": drawn[waits, "product"],
                "floor": drawn[waits, "floor"],
            }
            line.append(
                f"{waits.value} wait(s): product {product_median:5.2f} s, floor "
                f"{floor_median:5.2f} s, x{product_median / floor_median:.2f}"
            )
        results.append(result)
        print(" | ".join([*line, str(result["load"])]), flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12, help="rounds of the four opens")
    parser.add_argument("--database-url", required=True, help="an upgraded database")
    parser.add_argument("--only", help="only the links whose label holds this text")
    parser.add_argument("--tag", default="", help="suffix of the results file's name")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        results = measure(args.database_url, max(args.runs, 1), Path(name), args.only)
    save_results(f"harness{args.tag}", {"runs": args.runs, "links": results})


if __name__ == "__main__":
    main()
