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

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from ui.params import link_params


@dataclass(frozen=True)
class PageSpec:
    name: str
    script: str  # relative to the project root
    title: str
    url_path: str
    icon: str


PAGES: tuple[PageSpec, ...] = (
    PageSpec("portfolio", "pages/portfolio.py", "Portfolio", "", ":material/dashboard:"),
    PageSpec("client", "pages/client.py", "Client", "client", ":material/monitoring:"),
    PageSpec("compare", "pages/compare.py", "Compare", "compare", ":material/compare_arrows:"),
    PageSpec("snapshots", "pages/snapshots.py", "Daily snapshot", "snapshots",
             ":material/calendar_today:"),
    # Written by the collection work; listed once its script exists.
    PageSpec("collection", "pages/collection.py", "Collection", "collection",
             ":material/sync:"),
)  # fmt: skip


PROJECT_ROOT = Path(__file__).resolve().parent.parent
_inside_app: ContextVar[bool] = ContextVar("inside_app", default=False)


def build_pages(root: Path) -> dict[str, StreamlitPage]:
    """The pages whose scripts exist under ``root``, by name."""
    pages: dict[str, StreamlitPage] = {}
    for spec in PAGES:
        if not (root / spec.script).exists():
            continue
        pages[spec.name] = st.Page(
            str(root / spec.script),
            title=spec.title,
            url_path=spec.url_path,
            icon=spec.icon,
            default=spec.url_path == "",
        )
    return pages


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
    """Set the page up, pick the page from the URL, run it, draw the sidebar
    (after the page, so that the links carry what it has just shown)."""
    st.set_page_config(
        page_title="Usage analytics", page_icon=":material/analytics:", layout="wide"
    )
    pages = build_pages(root)
    navigation = st.navigation(list(pages.values()), position="hidden")
    links = st.sidebar.container()
    try:
        with _app_frame():
            navigation.run()
    finally:
        with links:
            st.markdown("**Usage analytics**")
            draw_links(pages)
