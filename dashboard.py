"""The dashboard's entry script: page navigation (run by Streamlit each rerun)."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Usage analytics", layout="wide")
navigation = st.navigation(
    [st.Page("pages/portfolio.py", title="Portfolio", url_path="", default=True)]
)
navigation.run()
