"""Download payloads: the JSON ones are the API's answers, byte for byte in
content (the same objects, in the same order).

Every payload is made only when its button is clicked (Streamlit's deferred
download: ``data`` is a callable, run on the click): a page pays nothing for
the downloads nobody asks for."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

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


def csv_download(
    label: str, frame: Callable[[], pd.DataFrame], file_name: str, key: str, where: object = st
) -> None:
    """A button that downloads ``frame()`` as CSV, made when clicked; the
    click does not rerun the page."""
    button = where.download_button  # type: ignore[attr-defined]
    button(label, lambda: frame().to_csv(index=False), file_name=file_name, mime="text/csv",
           key=key, on_click="ignore")  # fmt: skip


def download_buttons(
    frame: Callable[[], pd.DataFrame],
    json_text: Callable[[], str],
    stem: str,
    key: str,
    csv_stem: str | None = None,
) -> None:
    """The table as CSV and the API's JSON, side by side (keys ``{key}_csv``
    and ``{key}_json``), named ``{stem}.json`` and ``{csv_stem or stem}.csv``,
    each made when its button is clicked."""
    left, right, _ = st.columns([1, 1, 4])
    csv_download("Download CSV", frame, f"{csv_stem or stem}.csv", f"{key}_csv", left)
    right.download_button(
        "Download JSON",
        json_text,
        file_name=f"{stem}.json",
        mime="application/json",
        key=f"{key}_json",
        on_click="ignore",
    )
