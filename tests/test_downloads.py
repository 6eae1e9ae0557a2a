"""Downloads are made when asked (issue 11): every download button on the
pages is Streamlit's deferred kind, its file made on the click, so a page
that nobody downloads from pays nothing for its CSV and JSON. (What a click
gets is checked where each page's downloads are, through the ``downloads``
fixture, which makes each deferred file as a click would.)"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from tests.test_pages import open_page


def _yesterday(today: dt.date) -> dict[str, str]:
    return {"date": (today - dt.timedelta(days=1)).isoformat()}


@pytest.mark.parametrize(
    ("page", "params", "buttons"),
    [
        ("portfolio", lambda today: {}, 1),
        ("client", lambda today: {"client": "acme-corp"}, 2),
        ("snapshots", _yesterday, 2),
    ],
)
def test_downloads_are_made_only_when_clicked(
    demo: str, today: dt.date, page: str, params: Callable[[dt.date], dict[str, str]], buttons: int
) -> None:
    at = open_page(page, **params(today))
    found = at.get("download_button")
    assert len(found) == buttons
    for button in found:
        assert button.proto.deferred_file_id, button.proto.label  # made on the click
        assert button.proto.url == ""  # nothing stored before it
