"""The dashboard process's long-lived objects, out of the collector's way.

After every script run Streamlit forces a full garbage collection
(``gc.collect(2)``, its ``runner.postScriptGC`` option), which walks every
object the process tracks: here the modules of pandas, plotly, SQLAlchemy,
Streamlit and the pages, about 150-190 ms a run, holding the GIL between
the script's end and the browser's last message (measured with Debian's
chromium: a third of a chart-less page's time). ``freeze_heap_once`` moves
what is alive after the process's first run into the permanent generation
(``gc.freeze``), which no collection walks; whatever later runs make is
collected as before, the forced collection included.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_frozen = False


def freeze_heap_once() -> bool:
    """Collect, then freeze the heap, the first time in the process (True);
    later calls do nothing (False). The first page's viewer pays for one
    full collection more, once."""
    global _frozen
    if _frozen:
        return False
    with _lock:
        if _frozen:
            return False
        gc.collect()  # the start-up's garbage is freed, not frozen for good
        gc.freeze()
        _frozen = True
        return True
