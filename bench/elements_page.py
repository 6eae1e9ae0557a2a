"""A bare Streamlit page drawing the kinds of element a widget page of the
dashboard draws, chosen by ``?parts=`` (``bench/element_costs.py``).

``parts`` is a comma-separated list of ``PARTS``; each draws, with made-up
values, what the Collection page draws of that kind: ``sidebar`` its eight
links and the sign-in note, ``alert`` the configuration warning, ``metrics``
the five run counts, ``inputs`` the table's search, filter, sort and page,
``captions`` five lines of text, ``table`` a 200-row window of ten columns
(``ui.html_table``, as the page draws it), ``download`` the CSV button and
``collect`` the "Collect now" section. Nothing else but the title.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.html_table import MOST_HEIGHT, Column, html_table  # the project's root on PYTHONPATH

PARTS = ("sidebar", "alert", "metrics", "inputs", "captions", "table", "download", "collect")
ROWS, OPTIONS = 200, 100


def _sidebar() -> None:
    with st.sidebar:
        st.markdown("**Usage analytics**")
        for number in range(8):
            # An address, not a page: the same element as the dashboard's links.
            st.page_link(f"http://127.0.0.1/page-{number}", label=f"Page {number}",
                         icon=":material/dashboard:", width="stretch")  # fmt: skip
        st.divider()
        st.caption("Sign-in is off: this server answers this machine only.")


def _metrics() -> None:
    for column, number in zip(st.columns(5), range(5), strict=True):
        column.metric(f"status {number}", f"{number * 2_500:,}")


def _inputs() -> None:
    search, status, sort, page = st.columns([3, 2, 2, 1])
    search.text_input("Find clients", placeholder="Part of client or bucket")
    status.selectbox("Last run", ["Every one", "✓ succeeded", "✗ failed"])
    sort.selectbox("Sort by", ["As listed", "Client ↑", "Client ↓"], help="Sorts every row.")
    page.number_input("Page (of 50)", min_value=1, max_value=50, step=1)


def _table() -> None:
    columns = ["Bucket", "Client", "Client status", "Last run", "Started", "Started at (UTC)",
               "Took (s)", "Snapshot date", "Source", "Latest snapshot"]  # fmt: skip
    frame = pd.DataFrame(
        [[f"client-{row:05d}", f"Client {row}", "active", "— no run (imported)", None, None,
          row / 7, "2026-11-30", "inventory", "2026-12-01"] for row in range(ROWS)],
        columns=columns,
    )  # fmt: skip
    html_table("elements", frame, {"Took (s)": Column("number", digits=2)}, height=MOST_HEIGHT)


def _collect() -> None:
    st.subheader("Collect now")
    st.text_input("Find clients ", placeholder="Part of a name or bucket")
    st.caption(f"The first {OPTIONS} clients by name: search for the others.")
    st.multiselect("Clients", [f"Client {n} (client-{n:05d})" for n in range(OPTIONS)])
    st.checkbox("Force: ignore the limit of one run per client per 5 minutes")
    st.button("Collect now", type="primary")


def render() -> None:
    st.set_page_config(page_title="Elements", layout="wide")
    parts = set(st.query_params.get("parts", "").split(","))
    if "sidebar" in parts:
        _sidebar()
    st.title("Elements")
    if "alert" in parts:
        st.warning("Collection is not configured on this server.", icon=":material/settings:")
    if "metrics" in parts:
        _metrics()
    if "captions" in parts:
        for number in range(5):
            st.caption(f"Line {number}: what the page says about its **numbers**.")
    if "inputs" in parts:
        _inputs()
    if "table" in parts:
        _table()
    if "download" in parts:
        st.download_button("Download CSV", "a,b\n1,2\n", "elements.csv")
    if "collect" in parts:
        _collect()


if __name__ == "__main__":  # as ``streamlit run`` runs it; importing it draws nothing
    render()
