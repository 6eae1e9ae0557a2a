"""The floor of a dashboard page: a bare Streamlit page (``streamlit run
bench/floor_page.py``) drawing the same plotly charts, by number, trace
type and points, as a page of the product, with nothing else but a title.

``bench/deeplink.py`` writes the charts it found on each product page to the
JSON file named by ``USAGE_FLOOR_SPECS`` and opens ``/?spec=<name>``; a spec
is a list of charts, each ``{"barmode": ..., "traces": [{"type", "mode",
"points", "orientation"}, ...]}``. The values are made up (the drawing cost
depends on their number, not on what they are).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st

FIRST_DAY = dt.date(2024, 1, 1)


def _trace(spec: dict[str, Any], index: int) -> Any:
    points = int(spec["points"])
    days = [FIRST_DAY + dt.timedelta(days=n) for n in range(points)]
    values = [1000 + (n * 37 + index * 101) % 500 for n in range(points)]
    kind = spec.get("type") or "scatter"
    if kind == "bar" and spec.get("orientation") == "h":
        return go.Bar(x=values, y=[f"item {n}" for n in range(points)], orientation="h")
    if kind == "bar":
        return go.Bar(x=days, y=values, name=f"trace {index}")
    if kind == "pie":
        return go.Pie(values=values, labels=[f"item {n}" for n in range(points)])
    return go.Scatter(x=days, y=values, mode=spec.get("mode") or "lines", name=f"trace {index}")


def render() -> None:
    st.title("Floor")
    name = st.query_params.get("spec", "")
    specs = json.loads(Path(os.environ["USAGE_FLOOR_SPECS"]).read_text())
    for number, chart in enumerate(specs.get(name, [])):
        figure = go.Figure([_trace(trace, i) for i, trace in enumerate(chart["traces"])])
        if chart.get("barmode"):
            figure.update_layout(barmode=chart["barmode"])
        st.plotly_chart(figure, key=f"floor_{number}")


render()
