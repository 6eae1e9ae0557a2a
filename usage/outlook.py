"""A client's outlook: its usage against its plan, and its forecasts as the
API's forecast endpoint and the Client page show them.

``read_client_forecast`` is the one way to a client's forecasts from the
store: the plan's limits and the newest ``window_days`` of snapshots, into
``usage.forecast.forecast_client``. The endpoint encodes what it returns
(``forecast_json``); the page draws the same ``Outlook`` objects.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from usage.access import Visible, check_visible
from usage.forecast import DEFAULT_SETTINGS, ForecastSettings, Outlook, forecast_client
from usage.history import find_client_id
from usage.models import Client, Snapshot
from usage.plans import Plan, read_plans
from usage.series import STORAGE_BYTES, TOTAL_RECORDS
from usage.snapshots import SnapshotJSON, format_day, read_client_snapshots

# The API's shares of a limit and projected values: enough digits to tell
# 0.01 % and a hundredth of a record or byte apart, no float noise.
SHARE_DIGITS = 4
VALUE_DIGITS = 2


def metric_value(snapshot: SnapshotJSON, metric: str) -> int:
    """``TOTAL_RECORDS``, ``STORAGE_BYTES`` or a collection's records (0 in a
    snapshot without it), as ``usage.forecast.metric_points`` reads them."""
    if metric == TOTAL_RECORDS:
        return int(snapshot["records"]["total"])
    if metric == STORAGE_BYTES:
        return int(snapshot["storage"]["total_bytes"])
    return int(snapshot["records"].get(metric, 0))


@dataclass(frozen=True)
class LimitUse:
    """One limit of a plan and a snapshot's value against it."""

    metric: str  # TOTAL_RECORDS, STORAGE_BYTES or a collection's name
    limit: int
    value: int

    @property
    def share(self) -> float:
        """The value as a fraction of the limit: 0.85 is 85 %, over 1 over it."""
        return self.value / self.limit


def plan_uses(plan: Plan, snapshot: SnapshotJSON) -> list[LimitUse]:
    """Each limit of ``plan`` against ``snapshot``: total records, storage,
    then the collections by name."""
    return [
        LimitUse(metric, int(limit), metric_value(snapshot, metric))
        for metric, limit in _ordered_limits(plan)
    ]


def _ordered_limits(plan: Plan) -> list[tuple[str, int]]:
    limits = [] if plan.records is None else [(TOTAL_RECORDS, plan.records)]
    if plan.storage_bytes is not None:
        limits.append((STORAGE_BYTES, plan.storage_bytes))
    return [*limits, *plan.collections]


def plan_json(plan: Plan | None, snapshot: SnapshotJSON | None) -> dict[str, Any] | None:
    """The client detail's ``plan``: its limits (``Plan.as_json``) and
    ``used``, each limited value of ``snapshot`` as a fraction of its limit
    (null for a metric without a limit, and for all before the first
    snapshot); None without a plan."""
    if plan is None:
        return None
    shares: dict[str, float | None] = {}
    if snapshot is not None:
        shares = {use.metric: round(use.share, SHARE_DIGITS) for use in plan_uses(plan, snapshot)}
    return {
        **plan.as_json(),
        "used": {
            "records": shares.get(TOTAL_RECORDS),
            "storage_bytes": shares.get(STORAGE_BYTES),
            "collections": {name: shares.get(name) for name, _ in plan.collections},
        },
    }


def read_bucket_plans(session: Session, bucket_ids: Iterable[str]) -> dict[str, Plan]:
    """The plans of the clients ``bucket_ids`` names, by bucket id (the
    clients without one are left out)."""
    wanted = sorted(set(bucket_ids))
    if not wanted:
        return {}
    rows = session.execute(select(Client.id, Client.bucket_id).where(Client.bucket_id.in_(wanted)))
    ids: dict[int, str] = dict(rows.all())
    return {ids[client_id]: plan for client_id, plan in read_plans(session, list(ids)).items()}


@dataclass(frozen=True)
class ClientForecast:
    """A client's outlooks (``forecast_client``'s) and what they came from."""

    bucket_id: str
    plan: Plan | None
    last_day: dt.date | None  # the newest snapshot; the forecasts start the day after
    observations: int  # snapshots in the window fitted
    outlooks: list[Outlook]
    settings: ForecastSettings

    def outlook(self, metric: str) -> Outlook | None:
        return next((item for item in self.outlooks if item.metric == metric), None)


def read_client_forecast(
    session: Session,
    bucket_id: str,
    *,
    visible: Visible,
    settings: ForecastSettings = DEFAULT_SETTINGS,
) -> ClientForecast:
    """The forecasts of total records and storage bytes, and of each
    collection the client's plan limits, from the newest ``window_days`` of
    its snapshots; a client outside ``visible`` is an unknown one
    (``NotFound``)."""
    check_visible(visible, bucket_id)
    client_id = find_client_id(session, bucket_id)
    plan = read_plans(session, [client_id]).get(client_id)
    last_day = session.scalar(
        select(func.max(Snapshot.snapshot_date)).where(Snapshot.client_id == client_id)
    )
    snapshots: list[SnapshotJSON] = []
    if last_day is not None:
        first = last_day - dt.timedelta(days=settings.window_days - 1)
        snapshots = read_client_snapshots(session, bucket_id, first, last_day, None)
    outlooks = forecast_client(snapshots, plan.limits() if plan else None, settings)
    return ClientForecast(bucket_id, plan, last_day, len(snapshots), outlooks, settings)


def no_forecast_reason(forecast: ClientForecast, outlook: Outlook) -> str | None:
    """Why ``outlook`` has no projection; None when it has one."""
    if outlook.forecast is not None:
        return None
    settings = forecast.settings
    if forecast.last_day is None:
        return "no snapshot yet: nothing to project from"
    if forecast.observations < settings.min_points:
        return (
            f"too little history to project: {forecast.observations} of the"
            f" {settings.min_points} snapshots needed in the newest {settings.window_days} days"
        )
    return (
        f"too little history to project: {_subject(outlook.metric)} appeared, or rose from"
        f" zero, less than {settings.min_points} snapshots ago"
    )


def _subject(metric: str) -> str:
    return metric if metric in (TOTAL_RECORDS, STORAGE_BYTES) else f"collection {metric!r}"


def _scope(metric: str) -> str:
    return "total" if metric in (TOTAL_RECORDS, STORAGE_BYTES) else "collection"


def forecast_json(forecast: ClientForecast) -> dict[str, Any]:
    """The forecast endpoint's answer (see ``usage.openapi``'s
    ``ClientForecast``): one item per outlook, its daily projection rounded
    to ``VALUE_DIGITS``."""
    return {
        "bucket_id": forecast.bucket_id,
        "last_day": format_day(forecast.last_day),
        "horizon_days": forecast.settings.horizon_days,
        "window_days": forecast.settings.window_days,
        "observations": forecast.observations,
        "metrics": [_outlook_json(forecast, outlook) for outlook in forecast.outlooks],
    }


def _outlook_json(forecast: ClientForecast, outlook: Outlook) -> dict[str, Any]:
    projection = outlook.forecast
    reach = outlook.reach
    return {
        "metric": outlook.metric,
        "scope": _scope(outlook.metric),
        "unit": "bytes" if outlook.metric == STORAGE_BYTES else "records",
        "last_value": None if projection is None else projection.last_value,
        "limit": None if outlook.limit is None else int(outlook.limit),
        "forecast": None if projection is None else {
            "fit_start": projection.fit_start.isoformat(),
            "steps": [day.isoformat() for day in projection.steps],
            "scale": projection.scale.value,
            "slope_per_day": round(projection.slope_per_day, VALUE_DIGITS),
            "daily": _daily(projection.days, projection.expected, projection.lower,
                            projection.upper),
        },
        "reach": None if reach is None else {
            "reached": reach.reached,
            "likely": format_day(reach.likely),
            "earliest": format_day(reach.earliest),
            "latest": format_day(reach.latest),
        },
        "summary": outlook.summary,
        "note": no_forecast_reason(forecast, outlook),
    }  # fmt: skip


def _daily(
    days: Sequence[dt.date],
    expected: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
) -> list[dict[str, Any]]:
    return [
        {"date": day.isoformat(), "expected": round(value, VALUE_DIGITS),
         "lower": round(low, VALUE_DIGITS), "upper": round(high, VALUE_DIGITS)}
        for day, value, low, high in zip(days, expected, lower, upper, strict=True)
    ]  # fmt: skip
