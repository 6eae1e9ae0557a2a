"""The server: the dashboard pages and the Usage API v1 on one port.

``streamlit run app.py`` or ``uvicorn app:app`` serve both: the pages are
``dashboard.py``'s navigation; the API, everything under ``/api``, is served
by the outermost middleware (``usage.api.ApiLane``), ahead of Streamlit's own.
"""

from __future__ import annotations

import streamlit as st

from usage.api import api_middleware
from usage.runtime import server_engine
from usage.serving import server_lifespan

app = st.App(
    "dashboard.py",
    middleware=api_middleware(server_engine),
    lifespan=server_lifespan(),
)
