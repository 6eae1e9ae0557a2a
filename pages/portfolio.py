"""Portfolio (``/``): every client's latest numbers, recent change and trend.

URL: ``/?status=active&q=corp&sort=-records&page=2``.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import streamlit as st

from ui import charts
from ui.access import viewer
from ui.alerts import draw_needs_attention
from ui.data import (
    load_latest_date,
    load_movers,
    load_portfolio_page,
    load_portfolio_summary,
    load_portfolio_totals,
    load_sparklines,
    run_page,
    show_empty_database,
)
from ui.downloads import csv_download
from ui.engine import get_engine
from ui.format import (
    NOTHING,
    human_age,
    human_bytes,
    human_count,
    md_text,
    signed_count,
    signed_pct,
)
from ui.html_table import Column, Link, html_table
from ui.nav import page_href
from ui.outlook import load_plans
from ui.params import arriving, publish, read_param, warn_past_last_page
from ui.rows import page_choice
from usage.models import ClientStatus
from usage.plans import Plan
from usage.portfolio import DEFAULT_SORT, SORT_CHOICES, ClientSummary
from usage.totals import CHANGE_DAYS
from usage.validation import (
    MAX_SEARCH,
    parse_choice,
    parse_page,
    parse_search,
    parse_status,
)

PAGE = "portfolio"
PAGE_SIZE = 25
SPARKLINE_DAYS = 90
MOVERS = 5
ALL_STATUSES = "all"
TOTALS_WINDOWS = {"90": "Last 90 days", "365": "Last 12 months"}
SPARKLINE_COLUMN = f"Trend, {SPARKLINE_DAYS} d"
CHANGE_COLUMN = f"Change {CHANGE_DAYS} d"
CHANGE_HELP = (
    f"Records in the client's latest snapshot against its last one {CHANGE_DAYS} days "
    "before. **new**: no snapshot that far back (a client added since). **no data since** "
    "a date: the client has no snapshot on the newest collection day (stale), so it has no "
    "current change (**—** in Change %)."
)
SPARKLINE_HELP = (
    f"Records over the last {SPARKLINE_DAYS} days, days without a snapshot left out. Green: "
    "the last point is at or above the first; red: below it."
)
RECORDS_PLAN_COLUMN = "Records % of plan"
STORAGE_PLAN_COLUMN = "Storage % of plan"
PLAN_HELP = (
    "The latest snapshot's {what} as a share of the client's plan limit. Empty: the client "
    "has no plan, or its plan does not limit {what}."
)
# The one definition of a day's portfolio total (usage.portfolio), said once.
TOTALS_DEFINITION = (
    "A day's total is the sum over clients of their latest snapshot on or before that day; "
    "a client without a snapshot that day (stale) counts with its last one."
)

SORT_LABELS = {
    "name": "Name, A to Z", "-name": "Name, Z to A",
    "-records": "Most records", "records": "Fewest records",
    "-storage": "Most storage", "storage": "Least storage",
    "-change": "Largest growth", "change": "Largest fall",
    "-change_pct": "Largest growth %", "change_pct": "Largest fall %",
    "freshness": "Stalest first", "-freshness": "Freshest first",
    "bucket": "Bucket id, A to Z", "-bucket": "Bucket id, Z to A",
    "status": "Status, A to Z", "-status": "Status, Z to A",
}  # fmt: skip
assert set(SORT_LABELS) == set(SORT_CHOICES)


# The table is HTML, not the data grid (``ui.html_table``: 25 rows need
# none of the grid's code, which cost this page 0.7-0.8 s in the browser).
COLUMNS = {
    "Bucket": Column("link", help="Open the client's page"),
    "Records": Column("number"),
    CHANGE_COLUMN: Column(help=CHANGE_HELP, align="right"),
    "Change %": Column(help=CHANGE_HELP, align="right"),
    SPARKLINE_COLUMN: Column("trend", help=SPARKLINE_HELP),
    RECORDS_PLAN_COLUMN: Column("share", help=PLAN_HELP.format(what="records")),
    STORAGE_PLAN_COLUMN: Column("share", help=PLAN_HELP.format(what="storage")),
}

KEYS = ("portfolio_status", "portfolio_q", "portfolio_sort", "portfolio_page")


def _stale_phrase(stale: int, as_of: dt.date) -> str:
    if not stale:
        return f"Every client has a snapshot on {as_of.isoformat()}."
    are = "client is" if stale == 1 else "clients are"
    return f"{stale:,} {are} stale: no snapshot on {as_of.isoformat()}, so their latest counts."


def _load_from_url() -> None:
    status = read_param("status", parse_status, None, "all statuses", "Status")
    st.session_state.portfolio_status = ALL_STATUSES if status is None else status.value
    st.session_state.portfolio_q = read_param(
        "q", parse_search, "", "no search", "Search by name or bucket id"
    )
    st.session_state.portfolio_sort = read_param(
        "sort",
        lambda raw: parse_choice(raw, SORT_CHOICES, "sort"),
        DEFAULT_SORT,
        SORT_LABELS[DEFAULT_SORT].lower(),
        "Sort",
    )
    st.session_state.portfolio_page = read_param("page", parse_page, 1, "the first page", "Page")


def _first_page() -> None:
    st.session_state.portfolio_page = 1


def _stale_since(row: ClientSummary, as_of: dt.date) -> dt.date | None:
    """The latest snapshot's date of a client without one on ``as_of``."""
    if row.latest_date is not None and row.latest_date < as_of:
        return row.latest_date
    return None


def _change(row: ClientSummary, as_of: dt.date) -> str:
    since = _stale_since(row, as_of)
    if since is not None:  # its change would not be today's
        return f"no data since {since.isoformat()}"
    if row.latest_date is not None and row.baseline_records is None:
        return "new"
    return signed_count(row.change)


def _change_pct(row: ClientSummary, as_of: dt.date) -> str:
    if _stale_since(row, as_of) is not None:
        return NOTHING  # said once, in the change column
    if row.latest_date is not None and row.baseline_records is None:
        return "new"
    return signed_pct(row.change_pct)  # a baseline of 0 records has no percentage


def _share(value: int | None, limit: int | None) -> float | None:
    """``value`` in % of ``limit``; None without either."""
    return None if value is None or limit is None else value * 100.0 / limit


def _table(
    rows: list[ClientSummary],
    sparklines: dict[str, list[int | None]],
    as_of: dt.date,
    plans: dict[str, Plan],
) -> pd.DataFrame:
    now = dt.datetime.now(dt.UTC)
    return pd.DataFrame(
        {
            "Client": [row.display_name for row in rows],
            "Bucket": [
                Link(row.bucket_id, page_href("client", {"bucket": row.bucket_id})) for row in rows
            ],
            "Status": [row.status for row in rows],
            "Records": [row.total_records for row in rows],
            "Storage": [human_bytes(row.total_bytes) for row in rows],
            CHANGE_COLUMN: [_change(row, as_of) for row in rows],
            "Change %": [_change_pct(row, as_of) for row in rows],
            # The trend of the days with a snapshot: a missing day is left
            # out, not drawn as zero. The change and the trend beside the
            # figures, in the table's first screen; the plans' shares after.
            SPARKLINE_COLUMN: [
                [value for value in sparklines.get(row.bucket_id, []) if value is not None]
                for row in rows
            ],
            RECORDS_PLAN_COLUMN: [
                _share(row.total_records, plans[row.bucket_id].records)
                if row.bucket_id in plans
                else None
                for row in rows
            ],
            STORAGE_PLAN_COLUMN: [
                _share(row.total_bytes, plans[row.bucket_id].storage_bytes)
                if row.bucket_id in plans
                else None
                for row in rows
            ],
            "Latest snapshot": [
                NOTHING
                if row.latest_date is None
                else f"{row.latest_date.isoformat()} ({human_age(row.computed_at, now)})"
                for row in rows
            ],
        }
    )


def render() -> None:
    st.title("Portfolio")
    engine = get_engine()
    if arriving(PAGE, KEYS):
        _load_from_url()
    as_of = load_latest_date(engine, viewer().visible)
    summary = load_portfolio_summary(engine, viewer().visible, as_of or dt.date.today())
    if summary.clients == 0:
        show_empty_database()
        publish(PAGE, {})
        return
    if as_of is None:
        st.info("No client has a snapshot yet: the numbers appear after the first collection.")
        as_of = dt.date.today()
    stale = summary.reporting - summary.up_to_date
    st.caption(
        f"As of {as_of.isoformat()}, the newest snapshot. {TOTALS_DEFINITION} "
        f"{_stale_phrase(stale, as_of)} The records' change is the total against the total "
        f"{CHANGE_DAYS} days before; a client's change in the table is its latest snapshot "
        f"against its last one {CHANGE_DAYS} days before."
    )

    draw_needs_attention()
    kpis = st.columns(4)
    kpis[0].metric("Clients", human_count(summary.clients))
    kpis[1].metric(
        "Records",
        human_count(summary.total_records),
        f"{signed_count(summary.change)} in {CHANGE_DAYS} days",
        help=TOTALS_DEFINITION,
    )
    kpis[2].metric("Storage", human_bytes(summary.total_bytes))
    # The count alone as the value ("10,000 of 10,000" was cut off in a
    # quarter of the page), out of how many below it, grey, with no arrow.
    kpis[3].metric(
        f"Snapshot on {as_of.isoformat()}",
        human_count(summary.up_to_date),
        f"of {summary.clients:,} clients",
        delta_color="off",
        delta_arrow="off",
        help="Clients whose latest snapshot is from the newest collection day.",
    )

    _movers(as_of)

    st.subheader("Clients")
    filters = st.columns([2, 1], vertical_alignment="bottom")
    statuses = [ALL_STATUSES, *(status.value for status in ClientStatus)]
    # The status and the order sit in a popover whose button says what they
    # are: the browser builds their select boxes only when it is opened.
    chosen = filters[1].popover(
        _status_and_sort_label(
            st.session_state.get("portfolio_status", ALL_STATUSES),
            st.session_state.get("portfolio_sort", DEFAULT_SORT),
        ),
        icon=":material/filter_list:",
        width="stretch",
        help="Filter by status and choose the order.",
        key="portfolio_filters_box",
    )
    status = chosen.selectbox(
        "Status",
        statuses,
        key="portfolio_status",
        format_func=_status_label,
        on_change=_first_page,
    )
    search = filters[0].text_input(
        "Search by name or bucket id",
        key="portfolio_q",
        max_chars=MAX_SEARCH,
        on_change=_first_page,
    )
    sort = chosen.selectbox(
        "Sort",
        list(SORT_LABELS),
        key="portfolio_sort",
        format_func=SORT_LABELS.__getitem__,
        on_change=_first_page,
    )
    status_filter = None if status == ALL_STATUSES else status
    search_filter = search.strip() or None
    requested = int(st.session_state.portfolio_page)
    offset = (requested - 1) * PAGE_SIZE
    rows, matching = load_portfolio_page(
        engine, viewer().visible, as_of, status_filter, search_filter, sort, PAGE_SIZE, offset
    )
    pages = max(1, math.ceil(matching / PAGE_SIZE))
    if requested > pages:
        warn_past_last_page(requested, pages, "clients")
        st.session_state.portfolio_page = pages
        rows, matching = load_portfolio_page(
            engine,
            viewer().visible,
            as_of,
            status_filter,
            search_filter,
            sort,
            PAGE_SIZE,
            (pages - 1) * PAGE_SIZE,
        )
    pager, counter = st.columns([1, 5], vertical_alignment="bottom")
    page = page_choice(pager, pages, "portfolio_page")
    first = (int(page) - 1) * PAGE_SIZE
    publish(
        PAGE,
        {
            "status": status_filter,
            "q": search_filter,
            "sort": None if sort == DEFAULT_SORT else sort,
            "page": None if page == 1 else str(page),
        },
    )
    if not rows:
        st.info("No client matches these filters.")
    else:
        counter.caption(f"Clients {first + 1:,} to {first + len(rows):,} of {matching:,}.")
        start = as_of - dt.timedelta(days=SPARKLINE_DAYS - 1)
        sparklines = load_sparklines(
            engine, viewer().visible, tuple(row.bucket_id for row in rows), start, as_of
        )
        plans = load_plans(engine, viewer().visible, tuple(row.bucket_id for row in rows))
        html_table("portfolio", _table(rows, sparklines, as_of, plans), COLUMNS)
    _totals(as_of)


def _status_label(status: str) -> str:
    return "All statuses" if status == ALL_STATUSES else status


def _status_and_sort_label(status: str, sort: str) -> str:
    """The popover's button: "All statuses · Name, A to Z"."""
    return f"{_status_label(status).capitalize()} · {SORT_LABELS[sort]}"


def _movers(as_of: dt.date) -> None:
    movers = load_movers(get_engine(), viewer().visible, as_of, MOVERS)
    if not movers.growers and not movers.drops:
        return
    chart, links = st.columns([3, 2])
    chart.plotly_chart(charts.movers_figure(movers.growers, movers.drops), key="portfolio_movers")
    with links:
        for heading, rows, nobody in (
            ("Fastest growers", movers.growers, "No client grew"),
            ("Sharpest drops", movers.drops, "No client fell"),
        ):
            st.markdown(f"**{heading}, last {CHANGE_DAYS} days**")
            if not rows:
                st.caption(f"{nobody} in the last {CHANGE_DAYS} days.")
            for row in rows:
                st.page_link(
                    "pages/client.py",
                    label=(
                        f"{md_text(row.display_name)}: {signed_pct(row.change_pct)} "
                        f"({signed_count(row.change)} records)"
                    ),
                    query_params={"bucket": row.bucket_id},
                )


def _totals(as_of: dt.date) -> None:
    st.subheader("Portfolio totals over time")
    window = st.radio(
        "Window",
        list(TOTALS_WINDOWS),
        format_func=TOTALS_WINDOWS.__getitem__,
        horizontal=True,
        key="portfolio_totals_window",
        label_visibility="collapsed",
    )
    start = as_of - dt.timedelta(days=int(window) - 1)
    days = load_portfolio_totals(get_engine(), viewer().visible, start, as_of)
    if not days:
        st.info("No snapshots in this window.")
        return
    left, right = st.columns(2)
    left.plotly_chart(charts.totals_figure(days, in_bytes=False), key="portfolio_records")
    right.plotly_chart(charts.totals_figure(days, in_bytes=True), key="portfolio_storage")
    st.caption(f"{TOTALS_DEFINITION} Hover a day to see how many clients were stale then.")
    csv_download(
        "Download CSV",
        lambda: pd.DataFrame(
            {
                "date": [day.snapshot_date.isoformat() for day in days],
                "total records": [day.total_records for day in days],
                "storage bytes": [day.total_bytes for day in days],
                "clients counted": [day.clients for day in days],
                "stale clients": [day.stale for day in days],
            }
        ),
        f"portfolio_totals_{start.isoformat()}_{as_of.isoformat()}.csv",
        "portfolio_totals_csv",
    )


run_page(render)
