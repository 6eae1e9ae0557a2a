from __future__ import annotations

import datetime as dt

import pytest

from usage.errors import InvalidParams
from usage.models import ClientStatus
from usage.validation import (
    MAX_SEARCH,
    HistoryParams,
    name_is_text,
    parse_bucket_id,
    parse_clients_params,
    parse_date,
    parse_day_params,
    parse_history_params,
    parse_limit,
    parse_new_client,
    parse_search,
    parse_sort,
    parse_status,
)


@pytest.mark.parametrize(
    "raw",
    ["acme-corp", "a", "A_b-9", "x" * 64, "UPPER", "0", "-", "_"],
)
def test_bucket_id_accepted(raw: str) -> None:
    assert parse_bucket_id(raw) == raw


@pytest.mark.parametrize(
    "raw",
    ["", "x" * 65, "acme corp", "acme.corp", "acme/corp", "é", "acme%2F", "a\n", None],
)
def test_bucket_id_rejected(raw: str | None) -> None:
    with pytest.raises(InvalidParams, match=r"^bucket_id must be 1 to 64 characters"):
        parse_bucket_id(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-15", dt.date(2024, 1, 15)),
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("0001-01-01", dt.date(1, 1, 1)),
        ("9999-12-31", dt.date(9999, 12, 31)),
        (None, None),
    ],
)
def test_date_accepted(raw: str | None, expected: dt.date | None) -> None:
    assert parse_date(raw, "start_date") == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("2024-02-30", "start_date must be a real calendar date in YYYY-MM-DD format"),
        ("2023-02-29", "start_date must be a real calendar date in YYYY-MM-DD format"),
        ("2024-13-01", "start_date must be a real calendar date in YYYY-MM-DD format"),
        ("2024-00-10", "start_date must be a real calendar date in YYYY-MM-DD format"),
        ("0000-01-01", "start_date must be a real calendar date in YYYY-MM-DD format"),
        ("2024-1-5", "start_date must be a date in YYYY-MM-DD format"),
        ("20240115", "start_date must be a date in YYYY-MM-DD format"),
        ("2024-01-15T00:00:00", "start_date must be a date in YYYY-MM-DD format"),
        ("2024/01/15", "start_date must be a date in YYYY-MM-DD format"),
        ("", "start_date must be a date in YYYY-MM-DD format"),
        (" 2024-01-15", "start_date must be a date in YYYY-MM-DD format"),
        ("２０２４-01-15", "start_date must be a date in YYYY-MM-DD format"),
        ("yesterday", "start_date must be a date in YYYY-MM-DD format"),
    ],
)
def test_date_rejected(raw: str, message: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_date(raw, "start_date")
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 30), ("1", 1), ("30", 30), ("1000", 1000), ("007", 7), ("+5", 5)],
)
def test_limit_accepted(raw: str | None, expected: int) -> None:
    assert parse_limit(raw, 30) == expected


@pytest.mark.parametrize(
    "raw", ["0", "-1", "1001", "1e3", "1.0", "", "ten", " 5", "99999999999999", "١٢"]
)
def test_limit_rejected(raw: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_limit(raw, 30)
    assert caught.value.message == "limit must be an integer from 1 to 1000"


@pytest.mark.parametrize("raw", [status.value for status in ClientStatus])
def test_status_accepted(raw: str) -> None:
    assert parse_status(raw) == ClientStatus(raw)


@pytest.mark.parametrize("raw", ["Active", "deleted", "", "trial "])
def test_status_rejected(raw: str) -> None:
    with pytest.raises(InvalidParams, match=r"^status must be one of: active, inactive"):
        parse_status(raw)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, HistoryParams("acme-corp")),
        (
            {"start_date": "2024-01-01", "end_date": "2024-12-31", "limit": "5"},
            HistoryParams("acme-corp", dt.date(2024, 1, 1), dt.date(2024, 12, 31), 5),
        ),
        (
            {"start_date": "2024-01-01", "end_date": "2024-01-01"},
            HistoryParams("acme-corp", dt.date(2024, 1, 1), dt.date(2024, 1, 1)),
        ),
        ({"end_date": "2024-01-01"}, HistoryParams("acme-corp", None, dt.date(2024, 1, 1))),
    ],
)
def test_history_params_accepted(query: dict[str, str], expected: HistoryParams) -> None:
    assert parse_history_params("acme-corp", query) == expected


@pytest.mark.parametrize(
    ("bucket", "query", "message"),
    [
        ("acme-corp", {"start_date": "2024-02-01", "end_date": "2024-01-31"},
         "start_date must be on or before end_date"),
        ("acme-corp", {"limit": "0"}, "limit must be an integer from 1 to 1000"),
        ("acme-corp", {"end_date": "2024-02-30"},
         "end_date must be a real calendar date in YYYY-MM-DD format"),
        ("acme-corp", {"start": "2024-01-01"}, "unknown query parameter 'start'; expected:"
                                               " cursor, end_date, format, granularity, limit,"
                                               " start_date"),
        ("bad bucket", {}, "bucket_id must be 1 to 64 characters of letters, digits, '-' or '_'"),
    ],
)  # fmt: skip
def test_history_params_rejected(bucket: str, query: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_history_params(bucket, query)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "1001"}, "limit must be an integer from 1 to 1000"),
        ({"status": "gone"}, "status must be one of: active, inactive, suspended, trial"),
        ({"cursor": ""}, "cursor must be the cursor returned by the previous page"),
        ({"page": "2"}, "unknown query parameter 'page'; expected: cursor, limit, status"),
    ],
)
def test_clients_params_rejected(query: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_clients_params(query)
    assert caught.value.message == message


def test_clients_params_defaults() -> None:
    params = parse_clients_params({})
    assert (params.status, params.limit, params.cursor) == (None, 50, None)


@pytest.mark.parametrize(
    ("raw_date", "query", "message"),
    [
        ("2024-02-30", {}, "date must be a real calendar date in YYYY-MM-DD format"),
        ("today", {}, "date must be a date in YYYY-MM-DD format"),
        ("2024-01-01", {"limit": "x"}, "limit must be an integer from 1 to 1000"),
    ],
)
def test_day_params_rejected(raw_date: str, query: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_day_params(raw_date, query)
    assert caught.value.message == message


def test_day_params_default_limit() -> None:
    assert parse_day_params("2024-01-01", {}).limit == 100


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"bucket_id": "no spaces"}, "bucket_id must be 1 to 64 characters"),
        ({"display_name": "  "}, "name must be 1 to 200 characters"),
        ({"status": "gone"}, "status must be one of"),
        ({"client_since": "2024-02-30"}, "since must be a real calendar date"),
        ({"trial_end_date": "soon"}, "trial_end must be a date in YYYY-MM-DD format"),
    ],
)
def test_new_client_rejected(fields: dict[str, str], message: str) -> None:
    base = {
        "bucket_id": "acme-corp",
        "display_name": "Acme",
        "status": "active",
        "client_since": None,
        "trial_end_date": None,
    }
    with pytest.raises(InvalidParams, match=f"^{message}"):
        parse_new_client(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", [None, "", "acme", "x" * MAX_SEARCH])
def test_search_accepted(raw: str | None) -> None:
    assert parse_search(raw) == raw


def test_search_rejected_names_its_parameter() -> None:
    with pytest.raises(InvalidParams, match=r"^q must be at most 100 characters$"):
        parse_search("x" * (MAX_SEARCH + 1))


def test_a_sort_from_outside_names_a_column() -> None:
    assert parse_sort("-Took (s)", ["Bucket", "Took (s)"]) == "-Took (s)"
    assert parse_sort(None, ["Bucket"]) is None
    with pytest.raises(InvalidParams) as error:
        parse_sort("--Bucket", ["Bucket", "Took (s)"])
    assert error.value.message == (
        "sort must be a column of the table (Bucket, Took (s)), with a leading '-' to sort it "
        "in descending order"
    )


@pytest.mark.parametrize(
    ("name", "leading_space", "text"),
    [
        ("person", False, True),
        ("donor gift", False, True),  # a space inside is a name's own
        ("café 🎁", False, True),
        ("total ", False, False),
        (" person", False, False),
        (" docs/", True, True),  # an S3 key, so a prefix, may start with a space
        ("docs/ ", True, False),
        ("a\x00b/", True, False),
        ("a\x7fb", False, False),
        ("a\x85b", False, False),  # C1
        ("\ud800/", True, False),  # a lone surrogate: not storable as UTF-8
    ],
)
def test_a_name_is_text_the_store_keeps(name: str, leading_space: bool, text: bool) -> None:
    assert name_is_text(name, leading_space=leading_space) is text
