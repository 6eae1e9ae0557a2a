"""The Daily snapshot page's tables, built once a read of the day.

Every client's snapshot on one day, as the page shows it and as its CSV
download has it; shared by the page's runs (``st.cache_resource``) until the
data's time to live runs out or a collection clears it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ui.data import DATA_TTL_SECONDS, load_client_choices
from ui.format import human_bytes, local_time
from usage.access import Visible
from usage.daily import read_day
from usage.snapshots import SnapshotJSON
from usage.table import day_table, prefix_column_names
from usage.validation import DayParams

TOP_CLIENTS = 20
# Days kept built (by the viewer's rights and time zone): ~5 MB each at 10,000 clients.
DAY_VIEWS = 8


def day_frame(snapshots: list[SnapshotJSON], names: dict[str, str]) -> pd.DataFrame:
    """The API's CSV columns (``usage.table``) with each client's name."""
    return pd.DataFrame(day_table(snapshots, names))


def shown_table(
    frame: pd.DataFrame, snapshots: list[SnapshotJSON], zone: dt.tzinfo
) -> pd.DataFrame:
    """The table as read on the page: storage in units beside the records,
    the time in the viewer's ``zone`` (the CSV keeps bytes and UTC, and the
    storage of each prefix)."""
    shown = frame.drop(columns=["storage bytes", "computed at", *prefix_column_names(snapshots)])
    shown.insert(3, "storage", [human_bytes(int(n)) for n in frame["storage bytes"]])
    shown.insert(4, "objects", shown.pop("objects"))
    shown["computed at"] = [
        local_time(dt.datetime.fromisoformat(value), zone) for value in frame["computed at"]
    ]
    return shown


@dataclass(frozen=True)
class DayView:
    """One day's snapshots as the page shows them: the CSV's table with each
    client's name (``frame``), the page's (``shown``), the largest clients
    (``top``) and the buckets with a snapshot."""

    frame: pd.DataFrame
    shown: pd.DataFrame
    top: pd.DataFrame
    have: frozenset[str]


# Shared, not copied (see ``ui.data``), and built once a read rather than once
# a run: at 10,000 clients a run spent 120 ms unpickling the day's snapshots
# and 350 ms building its tables. Read only. The JSON download reads the
# snapshots again when asked for.
@st.cache_resource(ttl=DATA_TTL_SECONDS, max_entries=DAY_VIEWS, show_spinner=False)
def load_day_view(_engine: Engine, visible: Visible, day: dt.date, zone: str) -> DayView | None:
    """The day's view for a viewer who sees ``visible``, in their time zone
    (``zone_name``); None when no client has a snapshot that day."""
    with Session(_engine) as session:
        snapshots = read_day(session, DayParams(snapshot_date=day), only=visible)
    if not snapshots:
        return None
    choices = load_client_choices(_engine, visible)
    frame = day_frame(snapshots, {choice.bucket_id: choice.display_name for choice in choices})
    return DayView(
        frame=frame,
        shown=shown_table(frame, snapshots, ZoneInfo(zone)),
        top=frame.nlargest(TOP_CLIENTS, "total records"),
        have=frozenset(frame["bucket"]),
    )
