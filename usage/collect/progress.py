"""The command line's progress bar: redrawn in place on a terminal, a line per
client otherwise (a log keeps every outcome)."""

from __future__ import annotations

import time
from typing import TextIO

from usage.collect.runner import Outcome

BAR_WIDTH = 30


class ProgressBar:
    def __init__(self, total: int, stream: TextIO, label: str = "collecting") -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.stream = stream
        self.label = label
        self.started = time.monotonic()
        self.interactive = stream.isatty()
        if self.interactive:
            self._draw("")

    def advance(self, outcome: Outcome) -> None:
        self.done += 1
        if outcome.error is not None:
            self.failed += 1
        if self.interactive:
            self._draw(outcome.bucket_id)
        else:
            result = "ok" if outcome.error is None else f"FAILED: {outcome.error}"
            if outcome.skipped is not None:
                result = f"skipped: {outcome.skipped}"
            self.stream.write(f"[{self.done}/{self.total}] {outcome.bucket_id} {result}\n")
            self.stream.flush()

    def _draw(self, last: str) -> None:
        filled = BAR_WIDTH * self.done // self.total if self.total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        elapsed = time.monotonic() - self.started
        failed = f", {self.failed} failed" if self.failed else ""
        line = f"{self.label} [{bar}] {self.done}/{self.total}{failed} {elapsed:.0f}s {last}"
        self.stream.write("\r" + line[:119].ljust(119))
        self.stream.flush()

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
