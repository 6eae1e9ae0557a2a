"""The pages' cached reads of plans and forecasts (``usage.outlook``), as
``ui.data``'s: each depends only on its arguments, for ``DATA_TTL_SECONDS``."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ui.data import DATA_TTL_SECONDS
from usage.access import Visible, may_read
from usage.errors import NotFound
from usage.outlook import ClientForecast, read_bucket_plans, read_client_forecast
from usage.plans import Plan


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_forecast(_engine: Engine, visible: Visible, bucket_id: str) -> ClientForecast | None:
    """The client's plan and forecasts, as the API's forecast endpoint has
    them; None for an unknown client (or one outside ``visible``)."""
    with Session(_engine) as session:
        try:
            return read_client_forecast(session, bucket_id, visible=visible)
        except NotFound:
            return None


@st.cache_data(ttl=DATA_TTL_SECONDS, show_spinner=False)
def load_plans(_engine: Engine, visible: Visible, bucket_ids: tuple[str, ...]) -> dict[str, Plan]:
    """The plans of the clients among ``bucket_ids`` that ``visible`` holds."""
    shown = [bucket_id for bucket_id in bucket_ids if may_read(visible, bucket_id)]
    with Session(_engine) as session:
        return read_bucket_plans(session, shown)
