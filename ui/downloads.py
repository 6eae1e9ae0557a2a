"""Download payloads: the JSON ones are the API's answers, byte for byte in
content (the same objects, in the same order)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd
import streamlit as st

from usage.snapshots import SnapshotJSON


def history_json(snapshots: Sequence[SnapshotJSON]) -> str:
    """``GET /api/v1/clients/{bucket_id}/history`` for the same range: newest
    first."""
    return json.dumps({"snapshots": list(snapshots), "count": len(snapshots)}, indent=2)


def day_json(snapshots: Sequence[SnapshotJSON]) -> str:
    """``GET /api/v1/snapshots/{date}`` as one page holding every client."""
    body = {"snapshots": list(snapshots), "count": len(snapshots), "cursor": None}
    return json.dumps(body, indent=2)


def download_buttons(
    frame: pd.DataFrame, json_text: str, stem: str, key: str, csv_stem: str | None = None
) -> None:
    """The table as CSV and the API's JSON, side by side (keys ``{key}_csv``
    and ``{key}_json``), named ``{stem}.json`` and ``{csv_stem or stem}.csv``."""
    left, right, _ = st.columns([1, 1, 4])
    left.download_button(
        "Download CSV",
        frame.to_csv(index=False),
        file_name=f"{csv_stem or stem}.csv",
        mime="text/csv",
        key=f"{key}_csv",
    )
    right.download_button(
        "Download JSON",
        json_text,
        file_name=f"{stem}.json",
        mime="application/json",
        key=f"{key}_json",
    )
