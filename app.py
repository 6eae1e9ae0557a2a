"""The server: the dashboard pages and the Usage API v1 on one port.

``streamlit run app.py`` or ``uvicorn app:app`` serve both; the pages are
``dashboard.py``'s navigation, the API is mounted under ``/api``.
"""

from __future__ import annotations

import streamlit as st

from usage.api import api_middleware, api_routes
from usage.nodelay import nodelay_lifespan
from usage.runtime import server_engine

app = st.App(
    "dashboard.py",
    routes=api_routes(server_engine),
    middleware=api_middleware(),
    lifespan=nodelay_lifespan,
)
