"""Counting records in a real records database, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.collect_support import RECORDS, expected_records, make_records_database
from tests.conftest import new_database_url
from usage.collect.config import RecordsConfig
from usage.collect.records import (
    RecordsError,
    count_records,
    make_records_engine,
    records_query,
)
from usage.models import STANDARD_COLLECTIONS


@pytest.fixture
def records_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    url = new_database_url(request, backend, tmp_path)
    make_records_database(url)
    return url


@pytest.fixture
def records_engine(records_url: str) -> Iterator[Engine]:
    engine = make_records_engine(RecordsConfig(url=records_url), pool_size=2)
    yield engine
    engine.dispose()


def count(engine: Engine, config: RecordsConfig, bucket_id: str) -> dict[str, int]:
    with engine.connect() as connection:
        return count_records(connection, records_query(config), bucket_id)


@pytest.mark.parametrize("bucket_id", sorted(RECORDS))
def test_default_query_counts_by_collection(
    records_engine: Engine, records_url: str, bucket_id: str
) -> None:
    counts = count(records_engine, RecordsConfig(url=records_url), bucket_id)
    assert counts == expected_records(bucket_id)


def test_the_six_come_first_and_the_others_are_kept(
    records_engine: Engine, records_url: str
) -> None:
    counts = count(records_engine, RecordsConfig(url=records_url), "globex")
    assert list(counts) == [*STANDARD_COLLECTIONS, "donation"]
    assert counts["donation"] == 3


def test_an_unknown_client_has_zero_of_everything(records_engine: Engine, records_url: str) -> None:
    counts = count(records_engine, RecordsConfig(url=records_url), "nobody")
    assert counts == dict.fromkeys(STANDARD_COLLECTIONS, 0)


def test_table_and_columns_are_configurable(records_engine: Engine, records_url: str) -> None:
    with records_engine.begin() as connection:
        connection.execute(text("CREATE TABLE crm_items (tenant VARCHAR(64), kind VARCHAR(64))"))
        connection.execute(
            text("INSERT INTO crm_items VALUES ('acme-corp', 'person'), ('acme-corp', 'person')")
        )
    config = RecordsConfig(
        url=records_url, table="crm_items", bucket_column="tenant", collection_column="kind"
    )
    assert count(records_engine, config, "acme-corp")["person"] == 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # A custom query: only payments over 0, and a sum (a Decimal on PostgreSQL).
        ("SELECT collection, COUNT(*) FROM records WHERE bucket_id = :bucket_id"
         " AND collection <> 'event' GROUP BY collection",
         {"person": 120, "organisation": 15, "payment": 300}),
        ("SELECT 'person', SUM(1) FROM records WHERE bucket_id = :bucket_id",
         {"person": 477}),
    ],
)  # fmt: skip
def test_a_configured_query_replaces_the_default(
    records_engine: Engine, records_url: str, query: str, expected: dict[str, int]
) -> None:
    counts = count(records_engine, RecordsConfig(url=records_url, query=query), "acme-corp")
    assert counts == {**dict.fromkeys(STANDARD_COLLECTIONS, 0), **expected}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT collection FROM records WHERE bucket_id = :bucket_id",
         "the records query must return 2 columns (collection, count), not 1"),
        ("SELECT 'person', 1 FROM records WHERE bucket_id = :bucket_id",
         "the records query returned collection 'person' twice"),
        ("SELECT 'total', 1 FROM records WHERE bucket_id = :bucket_id",
         "a collection may not be named 'total' (reserved)"),
        ("SELECT NULL, 1 FROM records WHERE bucket_id = :bucket_id",
         "collection names must be 1 to 64 characters, got None"),
        # As import refuses them: what is collected must import back.
        ("SELECT 'person ', 1 FROM records WHERE bucket_id = :bucket_id",
         "collection names must have no control character, lone surrogate or space at either"
         " end, got 'person '"),
        ("SELECT ' person', 1 FROM records WHERE bucket_id = :bucket_id",
         "collection names must have no control character, lone surrogate or space at either"
         " end, got ' person'"),
        ("SELECT 'person', -1 FROM records WHERE bucket_id = :bucket_id",
         "collection 'person' has a count that is not a whole number: -1"),
    ],
)  # fmt: skip
def test_rows_that_are_not_counts_are_refused(
    records_engine: Engine, records_url: str, query: str, message: str
) -> None:
    with pytest.raises(RecordsError) as caught:
        count(records_engine, RecordsConfig(url=records_url, query=query), "acme-corp")
    assert str(caught.value) == message
