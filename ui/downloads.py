"""Download payloads: the JSON ones are the API's answers, byte for byte in
content (the same objects, in the same order)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from usage.snapshots import SnapshotJSON


def history_json(snapshots: Sequence[SnapshotJSON]) -> str:
    """``GET /api/v1/clients/{bucket_id}/history`` for the same range: newest
    first."""
    return json.dumps({"snapshots": list(snapshots), "count": len(snapshots)}, indent=2)


def day_json(snapshots: Sequence[SnapshotJSON]) -> str:
    """``GET /api/v1/snapshots/{date}`` as one page holding every client."""
    body = {"snapshots": list(snapshots), "count": len(snapshots), "cursor": None}
    return json.dumps(body, indent=2)
