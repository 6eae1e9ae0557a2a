"""Audit (``/audit``, admins only): sign-ins, refused sign-ins, changes to
people and books, keys made and revoked, collection triggers.

URL: ``/audit?since=2026-11-01&until=2026-11-30&actor=ann&action=sign_in``; the
days are the viewer's (their browser's time zone), as the times shown are.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ui.access import viewer
from ui.data import DATA_TTL_SECONDS, run_page
from ui.downloads import csv_download
from ui.engine import get_engine
from ui.format import first_of, local_time, viewer_zone, zone_name
from ui.html_table import MOST_HEIGHT, Column, table_html
from ui.params import arriving, publish, read_param, url_field_name, warn_param
from usage.audit import AUDIT_DEFAULT_LIMIT, Action, list_events, trail_stamp
from usage.errors import InvalidParams
from usage.validation import check_date_range, parse_choice, parse_date

PAGE = "audit"
KEYS = ("audit_since", "audit_until", "audit_actor", "audit_action")
DEFAULT_DAYS = 30
ALL_ACTIONS = "all"
MAX_ACTOR = 200
AUDIT_VIEWS = 16  # the filters' latest combinations kept
ACTION_LABELS = {
    ALL_ACTIONS: "All actions",
    **{action.value: action.value.replace("_", " ").capitalize() for action in Action},
}


def _parse_actor(raw: str | None) -> str | None:
    if raw is not None and len(raw) > MAX_ACTOR:
        raise InvalidParams(f"actor must be at most {MAX_ACTOR} characters")
    return raw


def _load_from_url(today: dt.date) -> None:
    default_since = today - dt.timedelta(days=DEFAULT_DAYS - 1)
    since = read_param(
        "since",
        lambda raw: parse_date(raw, "since"),
        default_since,
        default_since.isoformat(),
        "From",
    )
    until = read_param(
        "until", lambda raw: parse_date(raw, "until"), today, today.isoformat(), "To"
    )
    try:
        check_date_range(
            since, until, url_field_name("From", "since"), url_field_name("To", "until")
        )
    except InvalidParams as error:
        warn_param(f"{error.message}; showing the last {DEFAULT_DAYS} days instead.")
        since, until = default_since, today
    st.session_state.audit_since, st.session_state.audit_until = since, until
    st.session_state.audit_actor = read_param(
        "actor", _parse_actor, "", "every actor", "Actor contains"
    )
    st.session_state.audit_action = read_param(
        "action",
        lambda raw: parse_choice(raw, [action.value for action in Action], "action"),
        ALL_ACTIONS,
        "all actions",
        "Action",
    )


_DAYS_HELP = "A day in your browser's time zone, as the times below are."
# HTML, not the data grid (``ui.html_table``): the events read as a log,
# newest first, and the page needs none of the grid's code. Up to 1,000 of
# them scroll inside the table (``MOST_HEIGHT``), under a header that stays.
# It fits the page's width: the UTC time on hover, and a list of clients (a
# book, the clients a collection was asked for) cut to its first ones, all of
# them on hover.
LISTS = {  # the events whose target or detail lists bucket ids, one word each
    Action.BOOK_ASSIGNED: "Detail",
    Action.BOOK_UNASSIGNED: "Detail",
    Action.COLLECTION_TRIGGERED: "Target",
}
# The first clients shown: the Detail wraps, the Target keeps to one line.
LISTED_SHOWN = {"Target": 3, "Detail": 8}
_LIST_HELP = "A list of clients shows its first {}: all of them on hover."
COLUMNS = {
    "At": Column(help="In your browser's time zone; UTC on hover.", hover="At (UTC)"),
    "Action": Column(help="As the Action filter names it."),
    "Target": Column(hover="Target in full", help=_LIST_HELP.format(LISTED_SHOWN["Target"])),
    "Detail": Column(
        wrap=True, hover="Detail in full", help=_LIST_HELP.format(LISTED_SHOWN["Detail"])
    ),
}


def _cut_lists(table: pd.DataFrame, actions: pd.Series) -> None:
    """Each list of ``LISTS`` in ``table`` cut to its first clients
    (``LISTED_SHOWN``), the whole list in the column's ``in full`` twin (none
    where nothing was cut)."""
    for column, most in LISTED_SHOWN.items():
        whole, cut = [], []
        for text, action in zip(table[column], actions, strict=True):
            items = str(text).split() if LISTS.get(action) == column else []
            long = len(items) > most
            whole.append(text if long else None)
            cut.append(first_of(items, most, " ") if long else text)
        table[column] = cut
        table[f"{column} in full"] = whole


def _table(frame: pd.DataFrame, zone: dt.tzinfo) -> pd.DataFrame:
    """The events as read on screen: the time in the viewer's ``zone``
    first (UTC on hover), the action by its label, long lists cut; the
    download keeps the rows as stored."""
    moments = [dt.datetime.fromisoformat(at) for at in frame["at"]]
    table = frame.rename(columns=str.capitalize).drop(columns="At")
    table.insert(0, "At", [local_time(moment, zone) for moment in moments])
    table.insert(1, "At (UTC)", [local_time(moment, dt.UTC) for moment in moments])
    _cut_lists(table, frame["action"])
    table["Action"] = [ACTION_LABELS.get(action, action) for action in frame["action"]]
    return table


@dataclass(frozen=True)
class AuditView:
    """The events a set of filters finds: ``frame`` as downloaded (as
    stored, UTC), ``html`` the table as drawn. Read only (shared)."""

    frame: pd.DataFrame
    html: str


# Keyed by the trail's stamp (``trail_stamp``): read again as soon as an
# event is added, never otherwise (1,000 events took 40 ms to read and 70
# ms to lay out, on every run of the page).
@st.cache_resource(ttl=DATA_TTL_SECONDS, max_entries=AUDIT_VIEWS, show_spinner=False)
def load_audit_view(
    _engine: Engine,
    stamp: tuple[Any, ...],
    since: dt.date,
    until: dt.date,
    actor: str | None,
    action: str | None,
    zone: str,
) -> AuditView | None:
    """The events from ``since`` to ``until`` (days in ``zone``, a
    ``zone_name``) by ``actor`` of ``action``; None when none matches."""
    tz = ZoneInfo(zone)
    with Session(_engine) as session:
        events = list_events(session, since=since, until=until, actor=actor, action=action, zone=tz)
    if not events:
        return None
    frame = pd.DataFrame(events)
    return AuditView(frame, table_html("audit", _table(frame, tz), COLUMNS, height=MOST_HEIGHT))


def render() -> None:
    st.title("Audit")
    if not viewer().is_admin:  # not a route for others; refused here all the same
        publish(PAGE, {})
        st.error("The audit trail needs an admin.", icon=":material/lock:")
        return
    zone = viewer_zone()
    today = dt.datetime.now(zone).date()
    if arriving(PAGE, KEYS):
        _load_from_url(today)
    top = st.columns([1, 1, 2, 2])
    since = top[0].date_input("From", key="audit_since", help=_DAYS_HELP)
    until = top[1].date_input("To", key="audit_until", help=_DAYS_HELP)
    actor = top[2].text_input("Actor contains", key="audit_actor", max_chars=MAX_ACTOR)
    action = top[3].selectbox(
        "Action", list(ACTION_LABELS), key="audit_action", format_func=ACTION_LABELS.__getitem__
    )
    if since > until:
        st.warning(
            "From is after To; showing the dates the other way round.", icon=":material/warning:"
        )
        since, until = until, since
    publish(
        PAGE,
        {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "actor": actor.strip() or None,
            "action": None if action == ALL_ACTIONS else action,
        },
    )
    engine = get_engine()
    with Session(engine) as session:
        stamp = trail_stamp(session)
    view = load_audit_view(
        engine,
        stamp,
        since,
        until,
        actor.strip() or None,
        None if action == ALL_ACTIONS else action,
        zone_name(zone),
    )
    if view is None:
        st.info("No event matches these filters.", icon=":material/info:")
        return
    events = len(view.frame)
    shown = f"the newest {AUDIT_DEFAULT_LIMIT:,}" if events == AUDIT_DEFAULT_LIMIT else "all"
    st.caption(
        f"{events:,} events ({shown}), newest first, in your time zone "
        f"({zone_name(zone)}): From and To are its days, the times its own, with UTC on "
        "hover and in the download."
    )
    st.html(view.html)
    name = f"audit_{since.isoformat()}_{until.isoformat()}.csv"
    csv_download("Download CSV", lambda: view.frame, name, "audit_csv")


run_page(render)
