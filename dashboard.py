"""The dashboard's entry script, run by Streamlit on every rerun: the frame
(page config, ``st.navigation``, sidebar links) around the chosen page."""

from __future__ import annotations

from ui.nav import run_app

run_app()
