"""Quantities in the units a person reads, for text made in ``usage/``
(anomaly explanations, forecast sentences); ``ui/`` formats the pages."""

from __future__ import annotations

_BYTE_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def human_bytes(size: int | float) -> str:
    """Decimal units, as storage is billed: ``1.5 GB`` is 1,500,000,000 bytes."""
    value = float(size)
    for unit in _BYTE_UNITS:
        if abs(value) < 1000 or unit == _BYTE_UNITS[-1]:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def human_records(count: int | float, collection: str | None = None) -> str:
    """``12,400 records``, or ``12,400 person records`` for one collection."""
    noun = "records" if collection is None else f"{collection} records"
    return f"{round(count):,} {noun}"
