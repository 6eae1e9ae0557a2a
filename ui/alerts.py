"""The alerts on the pages: their loaders, words and links, and the
Portfolio's "Needs attention" (``draw_needs_attention``)."""

from __future__ import annotations

import datetime as dt

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ui.access import viewer
from ui.data import DATA_TTL_SECONDS
from ui.engine import get_engine
from ui.format import md_text
from ui.nav import page_href
from usage.access import Visible
from usage.alert_events import (
    AlertEventRow,
    EventFilters,
    EventList,
    list_alert_events,
    read_needs_attention,
    zoom_range,
)
from usage.validation import AlertStatus, parse_severity

CLIENT_PAGE = "pages/client.py"
ALERTS_PAGE = "pages/alerts.py"
NEEDS_ATTENTION = 10  # events listed on the Portfolio; the rest on the Alerts page

KIND_LABELS = {
    "limit": "Limit near",
    "drop": "Possible data loss",
    "disappeared": "Gone",
    "stopped": "Collection stopped",
    "growth": "Fast growth",
}
SEVERITY_LABELS = {"high": "High", "medium": "Medium", "low": "Low"}
_SEVERITY_COLOURS = {"high": "red", "medium": "orange", "low": "gray"}


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_needs_attention(_engine: Engine, visible: Visible, limit: int) -> EventList:
    with Session(_engine) as session:
        return read_needs_attention(session, visible, limit)


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_alert_events(
    _engine: Engine,
    visible: Visible,
    status: str,
    kind: str | None,
    severity: str | None,
    bucket_id: str | None,
    limit: int,
    offset: int,
) -> EventList:
    filters = EventFilters(AlertStatus(status), kind, parse_severity(severity), bucket_id)
    with Session(_engine) as session:
        return list_alert_events(session, filters, visible, limit, offset)


def badge(event: AlertEventRow) -> str:
    """The event's severity and kind, as a coloured markdown badge."""
    colour = _SEVERITY_COLOURS.get(event.severity, "gray")
    what = KIND_LABELS.get(event.kind, event.kind)
    return f":{colour}-badge[{SEVERITY_LABELS.get(event.severity, event.severity)} · {what}]"


def client_params(event: AlertEventRow, today: dt.date) -> dict[str, str]:
    """The Client page's query parameters that show the event's days."""
    start, end = zoom_range(event, today)
    return {
        "bucket": event.bucket_id,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "granularity": "day",
    }


def client_url(event: AlertEventRow, today: dt.date) -> str:
    """The event's days on the Client page, as a plain link."""
    return page_href("client", client_params(event, today))


def draw_needs_attention() -> None:
    """The open events of the viewer's clients to act on first, each a link
    to its days on the Client page: one cached query."""
    found = load_needs_attention(get_engine(), viewer().visible, NEEDS_ATTENTION)
    if not found.events:
        st.caption(":material/check_circle: Nothing needs attention: no open alert.")
        return
    today = dt.date.today()
    with st.container(border=True, key="needs_attention"):
        st.markdown("**Needs attention**")
        for event in found.events:
            left, right = st.columns([1, 4], vertical_alignment="center")
            left.markdown(badge(event))
            right.page_link(
                CLIENT_PAGE,
                label=f"**{md_text(event.display_name)}**: {event.summary}",
                query_params=client_params(event, today),
            )
        rest = found.total - len(found.events)
        if rest:
            st.caption(f"The {len(found.events)} most severe of {found.total:,} open alerts.")
        st.page_link(
            ALERTS_PAGE,
            label=f"All {found.total:,} open alerts" if rest else "Open and resolved alerts",
            icon=":material/notifications:",
        )
