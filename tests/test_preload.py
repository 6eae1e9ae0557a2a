"""``usage.preload``: the modules of the dashboard's elements listed in the
page's head (the browser test checks that each of them is served: any 404
fails it)."""

from __future__ import annotations

from pathlib import Path

import pytest

import ui.rows
from tests.test_deep_links import PAGE, get, inner_app
from tests.test_pages import elements, open_page
from ui.nav import PAGES, page_preload
from usage.preload import module_files, preload_links, streamlit_static_js

INDEX = (
    b'<script type="module" crossorigin src="./static/js/index.AAA.js"></script>'
    b'<link rel="modulepreload" crossorigin href="./static/js/react.BBB.js">'
)


def build(folder: Path) -> Path:
    files = {
        "index.AAA.js": 'import{a}from"./react.BBB.js";import("./Lazy.CCC.js")',
        "react.BBB.js": "export const a=1",
        "DataFrame.DDD.js": 'import{a}from"./react.BBB.js";import{b}from"./arrow.EEE.js";'
        'import"./side.FFF.js";const l=()=>import("./Lazy.CCC.js")',
        "arrow.EEE.js": 'import{c}from"./moment.GGG.js";export const b=2',
        "moment.GGG.js": 'import{b}from"./arrow.EEE.js";export const c=3',  # a cycle
        "side.FFF.js": "window.x=1",
        "Lazy.CCC.js": "export default 4",
        "Metric.HHH.js": 'import{c}from"./moment.GGG.js"',
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_a_kinds_modules_and_their_static_imports_less_what_the_page_loads(
    tmp_path: Path,
) -> None:
    js = build(tmp_path)
    found = module_files(js, ["DataFrame", "Metric", "NoSuchKind"], INDEX)
    # react is loaded by the page; Lazy is only imported on demand; each once.
    assert found == ["DataFrame.DDD.js", "Metric.HHH.js", "arrow.EEE.js", "side.FFF.js",
                     "moment.GGG.js"]  # fmt: skip


def test_the_links_are_relative_as_streamlits_own() -> None:
    links = preload_links(["DataFrame.DDD.js"])
    assert links.strip() == (
        b'<link rel="modulepreload" crossorigin href="./static/js/DataFrame.DDD.js">'
    )


def test_the_installed_streamlit_has_the_kinds_the_pages_preload() -> None:
    """Every kind a page lists (``ui.nav.PAGES``) is a file of this build,
    and so is every module its links name: a Streamlit upgrade that renames
    one fails here, not silently."""
    js = streamlit_static_js()
    for spec in PAGES:
        for kind in spec.preloaded:
            assert list(js.glob(f"{kind}.*.js")), (spec.name, kind)
        links = page_preload(spec.url_path)
        names = [line.split(b"./static/js/")[1].split(b'"')[0].decode()
                 for line in links.split(b"\n") if line.strip()]  # fmt: skip
        assert len(names) >= len(spec.preloaded)
        for name in names:
            assert (js / name).is_file(), name


def test_the_chart_pages_preload_and_the_others_do_not() -> None:
    portfolio = page_preload("")
    assert b"PlotlyChart." in portfolio
    assert b"Html." in portfolio
    assert b"DataFrame." not in portfolio  # its table is HTML: no grid to load
    assert page_preload("/") == portfolio
    client = page_preload("/client")
    assert b"DateInput." in client
    assert b"PlotlyChart." in client
    snapshots = page_preload("/snapshots")
    assert b"Html." in snapshots
    # No page draws the grid (its tables are HTML): none loads its code.
    assert all(b"DataFrame." not in page_preload(f"/{spec.url_path}") for spec in PAGES)
    assert page_preload("/client/") == client
    assert page_preload("/people") == b""  # widgets alone: measured slower
    assert page_preload("/no-such-page") == b""


def test_every_page_gets_the_head_the_base_url_included() -> None:
    head = b'<link rel="modulepreload" href="./static/js/X.js">'

    def with_head(path: str) -> bytes:
        return get(inner_app(PAGE), path, head=head)[1]

    root = with_head("/")
    assert root.replace(head, b"") == PAGE  # no base-URL hint at the root
    deep = with_head("/client")
    assert deep.index(head) < deep.index(b"BACKEND_BASE_URL") < deep.index(b'<script type="module"')


# The front-end module of each kind of element a page draws, by AppTest's
# element type, and the types whose code is in Streamlit's main bundle.
FRONT_END = {
    "plotly_chart": "PlotlyChart", "dataframe": "DataFrame", "metric": "Metric",
    "selectbox": "Selectbox", "text_input": "TextInput", "number_input": "NumberInput",
    "date_input": "DateInput", "radio": "Radio", "toggle": "Checkbox", "checkbox": "Checkbox",
    "button": "Button", "download_button": "DownloadButton", "page_link": "PageLink",
    "progress": "Progress", "html": "Html",
}  # fmt: skip
IN_MAIN_BUNDLE = {"main", "sidebar", "flex_container", "column", "expander", "popover", "title",
                  "header", "subheader", "markdown", "caption", "divider", "alert", "info",
                  "warning", "error", "success"}  # fmt: skip


@pytest.mark.parametrize(
    ("page", "params", "left_out"),
    [
        ("portfolio", {}, set()),
        ("client", {"bucket": "acme-corp"}, set()),  # a client with a plan: its bars
        # The snapshots' table is folded until asked for: its code is not preloaded.
        ("client", {"bucket": "acme-corp", "preset": "all", "table": "on"},
         {"Html", "NumberInput"}),
        ("compare", {"bucket": "acme-corp"}, set()),
        ("snapshots", {}, set()),
    ],
)  # fmt: skip
def test_a_chart_page_preloads_the_code_of_every_kind_it_draws(
    demo: str, monkeypatch: pytest.MonkeyPatch, page: str, params: dict[str, str],
    left_out: set[str],
) -> None:  # fmt: skip
    """The lists in ``ui.nav.PAGES`` are kept by hand: a kind drawn and not
    listed is fetched only when it reaches the browser, after the script's
    end (the Daily snapshot's page number was, at 5.5 s of a deep link)."""
    monkeypatch.setattr(ui.rows, "ROWS_SHOWN", 3)  # the long tables' windows drawn too
    at = open_page(page, **params)
    types = {node.type for tree in (at.main, at.sidebar) for node in elements(tree)}
    assert types - FRONT_END.keys() - IN_MAIN_BUNDLE == set(), "a kind to classify"
    drawn = {FRONT_END[kind] for kind in types & FRONT_END.keys()}
    (spec,) = [spec for spec in PAGES if spec.name == page]
    assert drawn - set(spec.preloaded) == left_out
