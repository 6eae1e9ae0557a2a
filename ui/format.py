"""Numbers and times in the units a person reads, and data made safe as text."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from usage import units

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=])")
NOTHING = "—"


def human_bytes(size: int | float | None) -> str:
    """Decimal units, as storage is billed (``usage.units``); ``—`` for none."""
    return NOTHING if size is None else units.human_bytes(size)


def human_count(count: int | None) -> str:
    return NOTHING if count is None else f"{count:,}"


def signed_count(count: int | None) -> str:
    return NOTHING if count is None else f"{count:+,}"


def signed_pct(pct: float | None) -> str:
    return NOTHING if pct is None else f"{pct:+.1f}%"


def human_age(moment: dt.datetime | None, now: dt.datetime) -> str:
    """How long ago ``moment`` was: ``5 min ago``, ``3 h ago``, ``2 days ago``."""
    if moment is None:
        return NOTHING
    if moment.tzinfo is None:  # SQLite drops the zone; the store holds UTC
        moment = moment.replace(tzinfo=dt.UTC)
    seconds = max((now - moment).total_seconds(), 0)
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} days ago"


def viewer_zone() -> dt.tzinfo:
    """The viewer's time zone, as their browser reports it; UTC when it does
    not (a browser that has not said yet, a test run, an unknown name)."""
    name = st.context.timezone
    if not isinstance(name, str):  # None before the browser says; a mock under AppTest
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def zone_name(zone: dt.tzinfo) -> str:
    """How a time zone is named to the viewer: ``Europe/Paris``, ``UTC``."""
    return str(getattr(zone, "key", None) or zone)


def local_time(moment: dt.datetime | None, zone: dt.tzinfo) -> str:
    """``moment`` in ``zone`` to the minute, with the zone's abbreviation:
    ``2026-11-24 03:12 CET``."""
    if moment is None:
        return NOTHING
    if moment.tzinfo is None:  # SQLite drops the zone; the store holds UTC
        moment = moment.replace(tzinfo=dt.UTC)
    shown = moment.astimezone(zone)
    return f"{shown:%Y-%m-%d %H:%M} {shown.tzname() or ''}".rstrip()


def first_of(items: Sequence[str], most: int, separator: str = ", ") -> str:
    """``items`` joined, or past ``most`` of them their first ``most`` and
    how many more: ``acme, globex … and 38 more``."""
    shown = separator.join(items[:most])
    return shown if len(items) <= most else f"{shown} … and {len(items) - most:,} more"


def days_phrase(count: int) -> str:
    return "1 day" if count == 1 else f"{count:,} days"


def md_text(text: str) -> str:
    """``text`` as literal text inside Streamlit markdown (names, ids, values)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def md_message(text: str) -> str:
    """An error's message as markdown: literal text, but its commands quoted
    in backticks (`` `python -m usage db upgrade` ``) shown as code, as
    they read on the command line. Unpaired backticks stay literal."""
    parts = text.split("`")
    if len(parts) % 2 == 0 or not all(parts[1::2]):
        return md_text(text)
    return "".join(f"`{part}`" if index % 2 else md_text(part) for index, part in enumerate(parts))


def plot_text(text: str) -> str:
    """``text`` as literal text inside a plotly label (plotly reads some HTML)."""
    return html.escape(text, quote=False)
