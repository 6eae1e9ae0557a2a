"""The Daily snapshot page's tables, built once a read of the day.

Every client's snapshot on one day, as the page shows it and as its CSV and
JSON downloads have it, from one read; shared by the page's runs
(``st.cache_resource``) until the data's time to live runs out or a
collection clears it.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import orjson
import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ui.data import DATA_TTL_SECONDS
from ui.downloads import day_json
from ui.format import human_bytes, local_time
from usage.access import Visible
from usage.daily import read_day
from usage.portfolio import list_client_choices
from usage.snapshots import SnapshotJSON
from usage.table import day_table, prefix_column_names
from usage.validation import DayParams

TOP_CLIENTS = 20
# Days kept built (by the viewer's rights and time zone): ~6 MB each at 10,000 clients
# (the tables 5 MB, the packed snapshots 1 MB: 40 ms to pack, 75 ms to unpack).
DAY_VIEWS = 8
PACKING = 1  # zlib's fastest level: a day's snapshots are mostly the same keys again


def _day_frame(snapshots: list[SnapshotJSON], names: dict[str, str]) -> pd.DataFrame:
    """The API's CSV columns (``usage.table``) with each client's name."""
    return pd.DataFrame(day_table(snapshots, names))


def _shown_table(
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
    (``top``), the buckets with a snapshot and the snapshots for the JSON
    download, all from one read. The snapshots are kept packed (compressed
    JSON): as Python objects they took several times the tables' memory."""

    frame: pd.DataFrame
    shown: pd.DataFrame
    top: pd.DataFrame
    have: frozenset[str]
    packed: bytes  # the snapshots, compact JSON compressed: for the JSON download

    def json_text(self) -> str:
        """The JSON download (``ui.downloads.day_json``): the same snapshots
        as the table and its CSV."""
        return day_json(orjson.loads(zlib.decompress(self.packed)))


# Shared, not copied (see ``ui.data``), and built once a read rather than once
# a run: at 10,000 clients a run spent 120 ms unpickling the day's snapshots
# and 350 ms building its tables. Read only.
@st.cache_resource(ttl=DATA_TTL_SECONDS, max_entries=DAY_VIEWS, show_spinner=False)
def load_day_view(_engine: Engine, visible: Visible, day: dt.date, zone: str) -> DayView | None:
    """The day's view for a viewer who sees ``visible``, in their time zone
    (``zone_name``); None when no client has a snapshot that day."""
    with Session(_engine) as session:
        snapshots = read_day(session, DayParams(snapshot_date=day), only=visible)
        if not snapshots:
            return None
        choices = list_client_choices(session, visible=visible)
    frame = _day_frame(snapshots, {choice.bucket_id: choice.display_name for choice in choices})
    return DayView(
        frame=frame,
        shown=_shown_table(frame, snapshots, ZoneInfo(zone)),
        top=frame.nlargest(TOP_CLIENTS, "total records"),
        have=frozenset(frame["bucket"]),
        packed=zlib.compress(orjson.dumps(snapshots), PACKING),
    )
