"""Downloads are made when asked (issue 11): every download button on the
pages is Streamlit's deferred kind, its file made on the click, so a page
that nobody downloads from pays nothing for its CSV and JSON. (What a click
gets is checked where each page's downloads are, through the ``downloads``
fixture, which makes each deferred file as a click would.)"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.test_pages import open_page

TODAY = dt.date.today()


@pytest.mark.parametrize(
    ("page", "params", "buttons"),
    [
        ("portfolio", {}, 1),
        ("client", {"client": "acme-corp"}, 2),
        ("snapshots", {"date": (TODAY - dt.timedelta(days=1)).isoformat()}, 2),
    ],
)
def test_downloads_are_made_only_when_clicked(
    demo: str, page: str, params: dict[str, str], buttons: int
) -> None:
    at = open_page(page, **params)
    found = at.get("download_button")
    assert len(found) == buttons
    for button in found:
        assert button.proto.deferred_file_id, button.proto.label  # made on the click
        assert button.proto.url == ""  # nothing stored before it
