"""The pages' one way to the store: the engine, cached reads, database errors.

Every read is cached for ``DATA_TTL_SECONDS`` and depends only on its
arguments (the engine is passed as ``_engine``, which Streamlit does not hash:
a process has one engine). ``st.cache_data`` hands each run a copy (pickled
and unpickled); the list of clients, which every page with a picker reads on
every run, is kept with ``st.cache_resource`` instead and handed out as the
same object: 10,000 clients took 25 ms a run to unpickle. Callers only read
it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ui.access import viewer
from ui.engine import get_engine, shown_errors
from ui.nav import inside_app, run_app
from usage import portfolio
from usage.access import Visible
from usage.compare import read_snapshot_at
from usage.demo import is_demo
from usage.errors import ConfigError, NotFound
from usage.history import read_history
from usage.snapshots import SnapshotJSON

DATA_TTL_SECONDS = 300
# The demo notice goes soon after a collection or an import ends the demo.
DEMO_TTL_SECONDS = 10
# Markdown, not a callout: the pages' own info boxes and warnings stay theirs.
DEMO_NOTICE = (
    ":orange-badge[:material/science: Demo data] These clients and their numbers are the "
    "demo portfolio (`python -m usage demo`), not real usage. This notice goes once real "
    "snapshots are collected or imported."
)


@st.cache_resource(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_client_choices(_engine: Engine, visible: Visible) -> list[portfolio.ClientChoice]:
    with Session(_engine) as session:
        return portfolio.list_client_choices(session, visible=visible)


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_latest_date(_engine: Engine, visible: Visible) -> dt.date | None:
    with Session(_engine) as session:
        return portfolio.latest_snapshot_date(session, visible=visible)


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_portfolio_page(
    _engine: Engine,
    visible: Visible,
    as_of: dt.date,
    status: str | None,
    search: str | None,
    sort: str,
    limit: int,
    offset: int,
) -> tuple[list[portfolio.ClientSummary], int]:
    """One page of the portfolio table and how many clients match in all."""
    with Session(_engine) as session:
        rows = portfolio.summarize_clients(
            session,
            as_of=as_of,
            visible=visible,
            status=status,
            search=search,
            sort=sort,
            limit=limit,
            offset=offset,
        )
        count = portfolio.count_clients(session, visible=visible, status=status, search=search)
        return rows, count


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_portfolio_summary(
    _engine: Engine, visible: Visible, as_of: dt.date
) -> portfolio.PortfolioSummary:
    with Session(_engine) as session:
        return portfolio.summarize_portfolio(session, as_of=as_of, visible=visible)


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_sparklines(
    _engine: Engine, visible: Visible, bucket_ids: tuple[str, ...], start: dt.date, end: dt.date
) -> dict[str, list[int | None]]:
    with Session(_engine) as session:
        return portfolio.read_sparklines(session, bucket_ids, start, end, visible=visible)


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_movers(_engine: Engine, visible: Visible, as_of: dt.date, limit: int) -> portfolio.Movers:
    with Session(_engine) as session:
        return portfolio.find_movers(session, as_of=as_of, limit=limit, visible=visible)


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_portfolio_totals(
    _engine: Engine, visible: Visible, start: dt.date, end: dt.date
) -> list[portfolio.PortfolioDay]:
    with Session(_engine) as session:
        return portfolio.read_portfolio_totals(session, start, end, visible=visible)


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_history(
    _engine: Engine, visible: Visible, bucket_id: str, start: dt.date | None, end: dt.date | None
) -> list[SnapshotJSON] | None:
    """Every snapshot in the range, newest first; None for an unknown client
    (or one outside ``visible``)."""
    with Session(_engine) as session:
        try:
            return read_history(session, bucket_id, start, end, None, visible=visible)
        except NotFound:
            return None


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_snapshot_at(
    _engine: Engine, visible: Visible, bucket_id: str, day: dt.date
) -> SnapshotJSON | None:
    with Session(_engine) as session:
        try:
            return read_snapshot_at(session, bucket_id, day, visible=visible)
        except NotFound:
            return None


@st.cache_data(ttl=DEMO_TTL_SECONDS, show_spinner=False)
def load_is_demo(_engine: Engine) -> bool:
    with Session(_engine) as session:
        return is_demo(session)


def show_demo_notice() -> None:
    """Every page's notice while the store holds only the demo portfolio."""
    try:
        demo = load_is_demo(get_engine())
    except (ConfigError, SQLAlchemyError):  # the page says what is wrong with the store
        return
    if demo:
        st.markdown(DEMO_NOTICE)


def run_page(render: Callable[[], None]) -> None:
    """Run a page inside the app's frame; a database that cannot be reached
    or a wrong setting becomes a clear message instead of a traceback."""
    if not inside_app():  # run alone by Streamlit's legacy pages/ mode
        run_app()
        return
    with shown_errors():
        render()


def show_empty_database() -> None:
    """No client to show: an empty store, or (for a manager) an empty book."""
    if viewer().visible is not None:
        st.info(
            "No client is assigned to you yet: ask an admin to add clients to your book.",
            icon=":material/info:",
        )
        return
    st.info(
        "The database has no clients yet. Add one with `python -m usage clients add` "
        "or load the demo portfolio with `python -m usage demo`.",
        icon=":material/info:",
    )
