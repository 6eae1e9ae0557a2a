"""The dashboard's pages, the frame around them and the sidebar links.

Two traps of the ``pages/`` folder beside the entry script (Streamlit 1.67):

- it brings back Streamlit's file-name sidebar: ``client.showSidebarNavigation``
  is off and the sidebar is drawn here, titled links that carry the query
  parameters their page showed last;
- until ``st.navigation`` has run once in the process (and on every AppTest
  run), Streamlit's legacy mode runs ``pages/client.py`` for ``/client``
  directly, without the entry script. ``run_app`` is therefore both the entry
  script's body and what a page does when it finds itself run alone: either
  way the page runs inside the same frame (page config, navigation, sidebar).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from ui.access import (
    PRODUCT,
    draw_exposure_notice,
    draw_identity,
    load_sign_in_settings,
    reset_viewer,
    resolve_viewer,
    set_viewer,
)
from ui.engine import shown_errors
from ui.heap import freeze_heap_once
from ui.params import link_params, url_at_start
from usage.access import Principal
from usage.preload import dashboard_preload


@dataclass(frozen=True)
class PageSpec:
    name: str
    script: str  # relative to the project root
    title: str
    url_path: str
    icon: str
    admin_only: bool = False
    # The kinds of element whose front-end code the page asks for with its
    # HTML (``usage.preload``): the chart pages', whose charts and tables
    # reach the browser late in the script. A page of widgets alone lists
    # none: measured, preloading made the People page slower. Kept by hand;
    # tests/test_preload.py fails when a chart page draws a kind not listed.
    preloaded: tuple[str, ...] = ()


# Streamlit's names for the front-end code of the elements the pages draw.
_CHART_PAGE = ("PlotlyChart", "Metric", "Selectbox", "TextInput", "PageLink", "DownloadButton")


PAGES: tuple[PageSpec, ...] = (
    PageSpec("portfolio", "pages/portfolio.py", "Portfolio", "", ":material/dashboard:",
             preloaded=(*_CHART_PAGE, "Html", "NumberInput", "Radio")),
    PageSpec("client", "pages/client.py", "Client", "client", ":material/monitoring:",
             preloaded=(*_CHART_PAGE, "DateInput", "Radio", "Checkbox", "Button", "Progress")),
    PageSpec("compare", "pages/compare.py", "Compare", "compare", ":material/compare_arrows:",
             preloaded=(*_CHART_PAGE, "Html", "DateInput")),
    PageSpec("snapshots", "pages/snapshots.py", "Daily snapshot", "snapshots",
             ":material/calendar_today:",
             preloaded=(*_CHART_PAGE, "Html", "DateInput", "NumberInput")),
    PageSpec("alerts", "pages/alerts.py", "Alerts", "alerts", ":material/notifications:"),
    PageSpec("collection", "pages/collection.py", "Collection", "collection",
             ":material/sync:"),
    PageSpec("people", "pages/people.py", "People", "people", ":material/group:",
             admin_only=True),
    PageSpec("audit", "pages/audit.py", "Audit", "audit", ":material/history:",
             admin_only=True),
)  # fmt: skip


PROJECT_ROOT = Path(__file__).resolve().parent.parent
FAVICON = Path(__file__).resolve().parent / "favicon.png"
_inside_app: ContextVar[bool] = ContextVar("inside_app", default=False)


def build_pages(root: Path, principal: Principal) -> dict[str, StreamlitPage]:
    """The pages ``principal`` may open, by name: an admin's pages are not
    even routes for anyone else (their URL opens the portfolio)."""
    pages: dict[str, StreamlitPage] = {}
    for spec in PAGES:
        if spec.admin_only and not principal.is_admin:
            continue
        pages[spec.name] = st.Page(
            str(root / spec.script),
            title=spec.title,
            url_path=spec.url_path,
            icon=spec.icon,
            default=spec.url_path == "",
        )
    return pages


_URL_PATHS = {spec.name: spec.url_path for spec in PAGES}


def page_href(name: str, params: Mapping[str, str]) -> str:
    """A plain link to the page ``name`` with ``params`` (an HTML table's
    cell), relative to the dashboard's pages: the server may sit under a path."""
    return f"{_URL_PATHS[name]}?{urlencode(params)}"


# Each page's preloaded kinds by its URL path: looked up on every page request.
_PRELOADED = {spec.url_path: spec.preloaded for spec in PAGES}


def page_preload(page_part: str) -> bytes:
    """The ``<link rel="modulepreload">`` tags for the page at ``page_part``
    of the server's path (``""`` or ``"/"``: the portfolio), for
    ``usage.deep_links.BaseUrlHint``; none for a path that is no page."""
    kinds = _PRELOADED.get(page_part.strip("/"))
    return dashboard_preload(kinds) if kinds else b""


def draw_links(pages: dict[str, StreamlitPage]) -> None:
    for name, page in pages.items():
        st.page_link(page, query_params=link_params(name) or None, width="stretch")


def inside_app() -> bool:
    """True while ``run_app`` runs the current page."""
    return _inside_app.get()


@contextmanager
def _app_frame() -> Iterator[None]:
    token = _inside_app.set(True)
    try:
        yield
    finally:
        _inside_app.reset(token)


def run_app(root: Path = PROJECT_ROOT) -> None:
    """Set the page up, let the viewer in (or show the door), pick the page
    from the URL, run it, draw the sidebar (after the page, so that the
    links carry what it has just shown)."""
    # A file of our own: a material icon here is fetched from Google's fonts,
    # a request that leaves the server's origin.
    st.set_page_config(page_title=PRODUCT, page_icon=str(FAVICON), layout="wide")
    principal = None
    with shown_errors():
        settings = load_sign_in_settings()
        principal = resolve_viewer(settings)
    if principal is None:
        return
    pages = build_pages(root, principal)
    navigation = st.navigation(list(pages.values()), position="hidden")
    links = st.sidebar.container()
    draw_exposure_notice(settings)
    from ui.data import show_demo_notice  # here: ui.data imports this module

    show_demo_notice()
    token = set_viewer(principal)
    try:
        with _app_frame(), url_at_start():
            navigation.run()
    finally:
        reset_viewer(token)
        with links:
            st.markdown(f"**{PRODUCT}**")
            draw_links(pages)
            st.divider()
            draw_identity(principal, settings)
        # After the first run everything a page imports is loaded: out of
        # the way of the collection Streamlit forces after each run.
        freeze_heap_once()
