"""The dashboard process's heap is frozen after its first run, out of the way
of the full collection Streamlit forces after every run (``ui.heap``)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from tests.test_pages import open_page
from ui import heap


@pytest.fixture
def fresh_heap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A process whose heap was never frozen, as a server's at start."""
    gc.unfreeze()
    monkeypatch.setattr(heap, "_frozen", False)
    yield
    gc.unfreeze()


def test_the_first_run_freezes_the_heap_and_later_runs_do_not(fresh_heap: None, demo: str) -> None:
    at = open_page("portfolio")
    assert not at.exception
    frozen = gc.get_freeze_count()
    # The libraries' and the pages' objects: what a forced collection no
    # longer walks is many times what it still does.
    assert frozen > 100_000
    assert len(gc.get_objects()) < frozen / 4
    at.run()
    assert not at.exception
    # Frozen once per process: the count only shrinks, as frozen objects die.
    assert gc.get_freeze_count() <= frozen


def test_freezing_collects_first_and_happens_once(fresh_heap: None) -> None:
    class Cycle:
        def __init__(self) -> None:
            self.me = self

    gc.disable()  # only the freeze may collect the cycle
    try:
        garbage = Cycle()
        alive = weakref.ref(garbage)
        del garbage
        assert alive() is not None  # a cycle: only a collection frees it
        assert heap.freeze_heap_once() is True
        assert alive() is None  # collected, not frozen for good
    finally:
        gc.enable()
    assert gc.get_freeze_count() > 0
    assert heap.freeze_heap_once() is False
