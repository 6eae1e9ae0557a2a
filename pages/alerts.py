"""Alerts (``/alerts``): the events the alert rules found among the viewer's
clients, open and resolved, each a link to its days on the Client page.

URL: ``/alerts?status=all&kind=drop&severity=medium&bucket=acme-corp&page=2``.
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import streamlit as st

from ui.access import viewer
from ui.alerts import KIND_LABELS, SEVERITY_LABELS, client_url, load_alert_events
from ui.data import load_client_choices, run_page, show_empty_database
from ui.engine import get_engine
from ui.format import local_time, viewer_zone
from ui.html_table import MOST_HEIGHT, Column, Link, html_table
from ui.params import (
    arriving,
    publish,
    read_param,
    warn_past_last_page,
    warn_unknown_client,
)
from ui.rows import page_choice
from usage.alert_events import AlertEventRow
from usage.validation import (
    ALERT_KINDS,
    SEVERITIES,
    AlertStatus,
    parse_alert_status,
    parse_bucket_id,
    parse_choice,
    parse_limit,
)

PAGE = "alerts"
KEYS = ("alerts_status", "alerts_kind", "alerts_severity", "alerts_bucket", "alerts_page")
PAGE_SIZE = 100
ANY = "any"
STATUS_LABELS = {
    AlertStatus.OPEN.value: "Open",
    AlertStatus.RESOLVED.value: "Resolved",
    AlertStatus.ALL.value: "Open and resolved",
}
KIND_CHOICES = {ANY: "Every kind", **{kind: KIND_LABELS[kind] for kind in ALERT_KINDS}}
SEVERITY_CHOICES = {ANY: "Any severity", **{label: f"{SEVERITY_LABELS[label]} or more"
                                             for label in SEVERITIES}}  # fmt: skip
HELP = (
    "An event is **open** while the rule that found it still holds at each evaluation "
    "(after every collection, import and demo load), and **resolved** from the first "
    "evaluation that no longer finds it; one that comes back is a new event."
)


def _load_from_url(known: set[str]) -> None:
    status = read_param("status", parse_alert_status, AlertStatus.OPEN, "open alerts", "Status")
    st.session_state.alerts_status = status.value
    st.session_state.alerts_kind = read_param(
        "kind", lambda raw: parse_choice(raw, ALERT_KINDS, "kind"), ANY, "every kind", "Kind"
    )
    st.session_state.alerts_severity = read_param(
        "severity",
        lambda raw: parse_choice(raw, SEVERITIES, "severity"),
        ANY,
        "any severity",
        "Severity",
    )
    bucket = read_param(
        "bucket",
        lambda raw: None if raw is None else parse_bucket_id(raw, "bucket"),
        ANY,
        "every client",
        "Client",
    )
    if bucket != ANY and bucket not in known:
        warn_unknown_client(bucket, "every client")
        bucket = ANY
    st.session_state.alerts_bucket = bucket
    st.session_state.alerts_page = read_param(
        "page", lambda raw: parse_limit(raw, 1, "page"), 1, "the first page", "Page"
    )


def _first_page() -> None:
    st.session_state.alerts_page = 1


def _chosen(value: str) -> str | None:
    return None if value == ANY else value


def _columns(zone: dt.tzinfo) -> dict[str, Column]:
    """HTML, not the data grid (``ui.html_table``): a page of events, newest
    first, needs none of the grid's code."""
    return {
        "Bucket": Column("link", help="The client's page, on the days around the event"),
        "What happened": Column(wrap=True),
        "Opened": Column(help=f"In your time zone ({zone})"),
        "Last seen": Column(help="The last evaluation that still found it, in your time zone"),
        "Resolved": Column(help="— while the event is open"),
    }


def _frame(events: list[AlertEventRow], zone: dt.tzinfo, today: dt.date) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Severity": [SEVERITY_LABELS.get(event.severity, event.severity) for event in events],
            "Kind": [KIND_LABELS.get(event.kind, event.kind) for event in events],
            "Client": [event.display_name for event in events],
            "Bucket": [Link(event.bucket_id, client_url(event, today)) for event in events],
            "What happened": [event.summary.replace("`", "") for event in events],
            "Opened": [local_time(event.opened_at, zone) for event in events],
            "Last seen": [local_time(event.last_seen_at, zone) for event in events],
            "Resolved": [local_time(event.resolved_at, zone) for event in events],
        }
    )


def render() -> None:
    st.title("Alerts")
    engine = get_engine()
    choices = load_client_choices(engine, viewer().visible)
    if not choices:
        show_empty_database()
        publish(PAGE, {})
        return
    names = {choice.bucket_id: choice.display_name for choice in choices}
    if arriving(PAGE, KEYS):
        _load_from_url(set(names))
    if st.session_state.alerts_bucket not in (ANY, *names):  # left the viewer's book
        st.session_state.alerts_bucket = ANY
    filters = st.columns(4)
    status = filters[0].selectbox(
        "Status",
        list(STATUS_LABELS),
        key="alerts_status",
        format_func=STATUS_LABELS.__getitem__,
        on_change=_first_page,
    )
    kind = filters[1].selectbox(
        "Kind",
        list(KIND_CHOICES),
        key="alerts_kind",
        format_func=KIND_CHOICES.__getitem__,
        on_change=_first_page,
    )
    severity = filters[2].selectbox(
        "Severity",
        list(SEVERITY_CHOICES),
        key="alerts_severity",
        format_func=SEVERITY_CHOICES.__getitem__,
        on_change=_first_page,
    )
    bucket = filters[3].selectbox(
        "Client", [ANY, *names], key="alerts_bucket", on_change=_first_page,
        format_func=lambda value: "Every client" if value == ANY else names[value],
    )  # fmt: skip
    requested = int(st.session_state.alerts_page)
    arguments = (engine, viewer().visible, status, _chosen(kind), _chosen(severity),
                 _chosen(bucket), PAGE_SIZE)  # fmt: skip
    found = load_alert_events(*arguments, (requested - 1) * PAGE_SIZE)
    pages = max(1, math.ceil(found.total / PAGE_SIZE))
    if requested > pages:
        warn_past_last_page(requested, pages, "events")
        st.session_state.alerts_page = pages
        found = load_alert_events(*arguments, (pages - 1) * PAGE_SIZE)
    pager, counter = st.columns([1, 5], vertical_alignment="bottom")
    page = page_choice(pager, pages, "alerts_page")
    publish(
        PAGE,
        {
            "status": None if status == AlertStatus.OPEN.value else status,
            "kind": _chosen(kind),
            "severity": _chosen(severity),
            "bucket": _chosen(bucket),
            "page": None if page == 1 else str(page),
        },
    )
    if not found.events:
        counter.caption(HELP)
        st.info("No alert matches these filters.", icon=":material/info:")
        return
    first = (int(page) - 1) * PAGE_SIZE
    counter.caption(
        f"Alerts {first + 1:,} to {first + len(found.events):,} of {found.total:,}, newest "
        f"first. {HELP}"
    )
    zone = viewer_zone()
    html_table(
        "alerts", _frame(found.events, zone, dt.date.today()), _columns(zone), height=MOST_HEIGHT
    )


run_page(render)
