"""The code of the dashboard's elements, asked for with the page.

Streamlit's front end fetches the code of each kind of element (a chart, a
table, a date input) the first time one is drawn: when the script's first
element of that kind reaches the browser, seconds after the page opened,
and then that module's own imports, one wave after another. Listed in the
page's head as ``<link rel="modulepreload">``, the browser fetches and
compiles them while the server runs the script instead.

The modules are found in Streamlit's own build: a kind's file is
``static/js/<Kind>.<hash>.js``, and its imports are the ``./<file>.js`` it
names (each file read once, when the first page that lists it is served). What the page already
loads (its entry script and the modules it preloads itself) is left out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import Path

_IMPORTED = re.compile(rb"""(?:from|import)\s*["']\./([\w.\-]+\.js)["']""")
_ALREADY_LOADED = re.compile(rb"""(?:src|href)="\./static/js/([\w.\-]+\.js)\"""")


def streamlit_static_js() -> Path:
    """Streamlit's built front end: the directory of its JavaScript modules."""
    import streamlit

    return Path(streamlit.__file__).parent / "static" / "static" / "js"


def module_files(js_dir: Path, kinds: Iterable[str], index_html: bytes) -> list[str]:
    """The files of ``kinds`` (``"DataFrame"``, ``"PlotlyChart"``) and of
    every module they import, in the order found, less those
    ``index_html`` loads or preloads; a kind this build does not have is
    skipped."""
    loaded = set(_ALREADY_LOADED.findall(index_html))
    found: list[str] = []
    seen: set[bytes] = set()
    pending: list[bytes] = []
    for kind in kinds:
        pending += sorted(path.name.encode() for path in js_dir.glob(f"{kind}.*.js"))
    while pending:
        name = pending.pop(0)
        if name in seen:
            continue
        seen.add(name)
        path = js_dir / name.decode()
        if not path.is_file():
            continue
        if name not in loaded:
            found.append(name.decode())
        pending += _imports(path)
    return found


@functools.cache
def _imports(path: Path) -> list[bytes]:
    """The modules ``path`` imports statically, read once per file (the
    pages share most of theirs, PlotlyChart's 4.7 MB among them)."""
    return _IMPORTED.findall(path.read_bytes())


def preload_links(files: Iterable[str]) -> bytes:
    """The ``<link>`` tags, relative as Streamlit's own are (they resolve
    under a base URL path too)."""
    return b"".join(
        b'<link rel="modulepreload" crossorigin href="./static/js/%s">\n    ' % name.encode()
        for name in files
    )


@functools.cache
def dashboard_preload(kinds: tuple[str, ...]) -> bytes:
    """``preload_links`` for ``kinds`` in the installed Streamlit, made once."""
    js_dir = streamlit_static_js()
    index_html = (js_dir.parent.parent / "index.html").read_bytes()
    return preload_links(module_files(js_dir, kinds, index_html))
