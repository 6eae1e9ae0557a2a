"""The client picker: every client while they are few, a search box and its
first matches when they are many (``ui.picker``)."""

from __future__ import annotations

import pytest

from tests.test_pages import open_page
from ui import picker
from usage.portfolio import ClientChoice


def choice(bucket_id: str, name: str) -> ClientChoice:
    return ClientChoice(bucket_id=bucket_id, display_name=name, status="active")


CHOICES = [choice("acme-corp", "Acme Corporation"), choice("globex", "Globex Corporation"),
           choice("initech", "Initech"), choice("umbrella", "Umbrella Corp")]  # fmt: skip


def test_matching_looks_in_names_and_buckets_and_keeps_the_current_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(picker, "MATCHES_SHOWN", 2)
    assert picker.matching(CHOICES, " CORP ", "globex") == (["acme-corp", "globex"], 3)
    # The current client first when it is not among the first matches.
    assert picker.matching(CHOICES, "corp", "umbrella") == (["umbrella", "acme-corp", "globex"], 3)
    assert picker.matching(CHOICES, "", "initech") == (["initech", "acme-corp", "globex"], 4)
    assert picker.matching(CHOICES, "tech", None) == (["initech"], 1)
    assert picker.matching(CHOICES, "nobody", "globex") == (["globex"], 0)
    assert picker.matching(CHOICES, "nobody", None) == (["acme-corp"], 0)  # never empty


def test_few_clients_are_all_offered_without_a_search(demo: str) -> None:
    at = open_page("client", bucket="globex")
    assert not at.exception
    assert len(at.selectbox(key="client_bucket").options) == 14
    assert not [box for box in at.text_input if box.key == "client_bucket_search"]


@pytest.mark.parametrize("page", ["client", "compare"])
def test_many_clients_are_searched(demo: str, page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(picker, "ALL_SHOWN", 5)
    monkeypatch.setattr(picker, "MATCHES_SHOWN", 3)
    key = f"{page}_bucket"
    at = open_page(page, bucket="globex")
    assert not at.exception
    box = at.selectbox(key=key)
    assert box.value == "globex"
    assert len(box.options) == 4  # the current client and the first 3 by name
    captions = [caption.value for caption in at.caption]
    assert "The first 3 clients by name: search for the others." in captions
    at.text_input(key=f"{key}_search").input("corp").run()
    assert "The first 3 of 4 matches, by name." in [caption.value for caption in at.caption]
    at.text_input(key=f"{key}_search").input("VANDELAY").run()
    box = at.selectbox(key=key)
    assert box.options == ["Globex Corporation (globex)", "Vandelay Imports (vandelay-imports)"]
    box.set_value("vandelay-imports").run()
    assert not at.exception
    assert at.selectbox(key=key).value == "vandelay-imports"
    assert at.query_params["bucket"] == "vandelay-imports"


def test_bucket_ids_are_read_from_lines_commas_and_spaces_once_each() -> None:
    text = " acme-corp, globex\n\nglobex;initech  umbrella\t\n"
    assert picker.parse_buckets(text) == ["acme-corp", "globex", "initech", "umbrella"]
    assert picker.parse_buckets(" \n, ") == []
