"""The server: the dashboard pages and the Usage API v1 on one port.

``streamlit run app.py`` or ``uvicorn app:app`` serve both: the pages are
``dashboard.py``'s navigation; the API, everything under ``/api``, is served
by a lane around the ``st.App`` itself (``usage.api.ApiLane``), ahead of its
Starlette stack and Streamlit's middleware; the app's own middleware
(``usage.deep_links.BaseUrlHint``) tells the page of a deep link where the
server is, so that Streamlit's front end does not probe for it. The pages
and the API both read the sign-in settings (``[auth]``, ``[access]``) from
Streamlit's secrets, on first use. Streamlit's own front-end files
(``/static/...``) are answered from memory around the ``st.App``, inside the
API's lane (``usage.static_assets.StaticAssets``).
"""

from __future__ import annotations

import logging

import streamlit as st
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from ui.access import load_sign_in_settings
from ui.nav import page_preload
from usage.api import with_api_lane
from usage.deep_links import BaseUrlHint
from usage.errors import ConfigError
from usage.runtime import server_engine
from usage.serving import server_lifespan
from usage.static_assets import StaticAssets


def _sign_in_enabled() -> bool:
    try:
        return load_sign_in_settings().enabled
    except ConfigError as error:  # each page and API call says so too
        logging.getLogger("app").error("sign-in settings: %s", error)
        return True


# ``streamlit run`` finds the app by this assignment (it reads the file for
# an ``app = st.App(...)``) and serves the module's ``app`` with uvicorn, as
# ``uvicorn app:app`` does: the name is then bound to the lane around it.
app: ASGIApp = st.App(
    "dashboard.py",
    middleware=[Middleware(BaseUrlHint, head=page_preload)],
    lifespan=server_lifespan(_sign_in_enabled),
)
app = with_api_lane(StaticAssets(app), server_engine, load_sign_in_settings)
