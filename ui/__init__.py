"""Helpers of the dashboard pages: the Streamlit edge over ``usage``."""
