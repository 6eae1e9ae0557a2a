"""Plans: limits read as people write them, stored per client, imported
from CSV all or nothing; and the migration that holds them."""

from __future__ import annotations

import io

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.factories import new_client
from usage.audit import Actor
from usage.errors import InvalidParams, NotFound
from usage.models import Base, ClientPlan, CollectionLimit
from usage.plans import (
    Plan,
    clear_plan,
    import_plans,
    make_plan,
    parse_collection_limit,
    parse_plan,
    parse_records_limit,
    parse_size,
    read_plan,
    read_plans,
    set_plan,
)
from usage.series import STORAGE_BYTES, TOTAL_RECORDS

ACTOR = Actor("test")
PLAN_TABLES = {"client_plans", "plan_collection_limits", "alert_events", "alert_deliveries"}


@pytest.mark.parametrize(
    ("raw", "size"),
    [
        ("50GB", 50_000_000_000),
        ("1.5 TB", 1_500_000_000_000),
        ("500MB", 500_000_000),
        ("750 kB", 750_000),
        ("2pb", 2_000_000_000_000_000),
        ("0.5 GB", 500_000_000),
        ("1.2345678 kB", 1235),  # to the nearest byte
        ("12345", 12345),
        ("12345 B", 12345),
        (" 7 GB ", 7_000_000_000),
    ],
)
def test_sizes_are_read_in_decimal_units(raw: str, size: int) -> None:
    assert parse_size(raw, "--storage") == size


@pytest.mark.parametrize(
    "raw",
    ["-5GB", "0", "0 GB", "", "fifty GB", "5 XB", "5 GiB", "1.5", "1,5 GB", "2000 PB", "GB"],
)
def test_a_size_that_is_not_one_is_refused_naming_the_setting(raw: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_size(raw, "--storage")
    assert caught.value.message == (
        "--storage must be a size from 1 B to 1000 PB such as 50GB, 1.5 TB, 500MB"
        f" or a number of bytes (got {raw!r})"
    )


@pytest.mark.parametrize(
    ("raw", "count"),
    [("250000", 250_000), ("1", 1), (" 42 ", 42), ("0" * 40 + "7", 7),
     ("1000000000000000000", 10**18)],
)  # fmt: skip
def test_records_limits_are_whole_numbers(raw: str, count: int) -> None:
    assert parse_records_limit(raw, "--records") == count


@pytest.mark.parametrize(
    "raw", ["-5", "0", "1.5", "250,000", "1e6", "", "10000000000000000001", "9" * 5000, "0" * 5000]
)
def test_a_records_limit_that_is_not_one_is_refused(raw: str) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_records_limit(raw, "--records")
    assert caught.value.message == (
        f"--records must be a whole number of records from 1 to 10^18 (got {raw!r})"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("person", "--collection must be COLLECTION=RECORDS such as person=100000 (got 'person')"),
        ("person=-1", "--collection must be a whole number of records from 1 to 10^18"),
        ("=5", "--collection must be a collection's name: 1 to 64 characters"),
        ("total=5", "--collection must be a collection's name"),
        ("my person=5", "--collection must be a collection's name"),
        (
            "a\x00b=5",
            "--collection must be a collection's name: 1 to 64 characters, no space,"
            " control character, '=', ';', ',' or quote, not 'total' (got 'a\\x00b')",
        ),
        ("a\x9fb=5", "--collection must be a collection's name"),
        ("\ud800=5", "--collection must be a collection's name"),
    ],
)
def test_a_collection_limit_is_a_name_and_a_count(raw: str, message: str) -> None:
    assert parse_collection_limit("custom_field=5000") == ("custom_field", 5000)
    with pytest.raises(InvalidParams) as caught:
        parse_collection_limit(raw)
    assert caught.value.message.startswith(message)


def test_a_plan_gives_the_forecasts_limits_by_metric() -> None:
    plan = parse_plan(
        records="250000", storage="50GB", collections=["person=100000", "member=5000"]
    )
    assert plan.limits() == {
        TOTAL_RECORDS: 250_000,
        STORAGE_BYTES: 50_000_000_000,
        "person": 100_000,
        "member": 5_000,
    }
    assert plan.describe() == (
        "250,000 records, 50.0 GB, 5,000 member records, 100,000 person records"
    )
    assert Plan(storage_bytes=10).limits() == {STORAGE_BYTES: 10}
    assert plan.as_json() == {
        "records": 250_000,
        "storage_bytes": 50_000_000_000,
        "collections": {"member": 5_000, "person": 100_000},
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"records": None, "storage": None, "collections": []},
         "a plan needs --records, --storage or --collection (or --clear)"),
        ({"records": None, "storage": None, "collections": ["person=1", "person=2"]},
         "collection 'person' is limited twice"),
    ],
)  # fmt: skip
def test_a_plan_needs_a_limit_and_one_per_collection(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse_plan(**kwargs)  # type: ignore[arg-type]
    assert caught.value.message == message


@pytest.fixture
def clients(engine: Engine) -> Engine:
    with Session(engine) as session, session.begin():
        for bucket in ("acme-corp", "globex", "initech"):
            new_client(session, bucket)
    return engine


def test_a_plan_is_set_replaced_read_and_cleared(clients: Engine) -> None:
    first = make_plan(250_000, 50_000_000_000, [("person", 100_000), ("member", 5_000)])
    second = make_plan(None, 10_000_000_000, [("member", 8_000)])
    with Session(clients) as session, session.begin():
        set_plan(session, "acme-corp", first, actor=ACTOR)
        set_plan(session, "globex", Plan(records=1_000), actor=ACTOR)
    with Session(clients) as session:
        assert read_plan(session, "acme-corp") == first
        assert read_plan(session, "initech") is None
    with Session(clients) as session, session.begin():
        set_plan(session, "acme-corp", second, actor=ACTOR)  # whole: person's limit goes
    with Session(clients) as session, session.begin():
        assert read_plan(session, "acme-corp") == second
        assert set(read_plans(session).values()) == {second, Plan(records=1_000)}
        assert clear_plan(session, "acme-corp", actor=ACTOR) is True
        assert clear_plan(session, "acme-corp", actor=ACTOR) is False
        assert read_plan(session, "acme-corp") is None
        assert session.scalar(select(func.count()).select_from(CollectionLimit)) == 0


def test_a_plan_of_an_unknown_client_is_not_found(clients: Engine) -> None:
    with Session(clients) as session, pytest.raises(NotFound) as caught:
        set_plan(session, "nobody", Plan(records=5), actor=ACTOR)
    assert caught.value.message == "client 'nobody' not found"


def _import(engine: Engine, text: str) -> tuple[int, int]:
    with Session(engine) as session, session.begin():
        result = import_plans(session, io.StringIO(text), actor=ACTOR)
    return result.set, result.cleared


def test_a_csv_sets_the_plans_it_names(clients: Engine) -> None:
    with Session(clients) as session, session.begin():
        set_plan(session, "initech", Plan(records=7), actor=ACTOR)  # not in the file: kept
        set_plan(session, "globex", Plan(records=9), actor=ACTOR)  # an empty line: cleared
    text = (
        "Bucket_ID, records ,storage,person,member\r\n"
        "acme-corp,250000,50GB,100000,\r\n"
        "\r\n"
        '"globex",,,,\r\n'
    )
    assert _import(clients, text) == (1, 1)
    with Session(clients) as session:
        assert read_plans(session).keys() == {
            session.scalar(select(ClientPlan.client_id).where(ClientPlan.records_limit == 7)),
            session.scalar(select(ClientPlan.client_id).where(ClientPlan.records_limit == 250_000)),
        }
        assert read_plan(session, "acme-corp") == make_plan(
            250_000, 50_000_000_000, [("person", 100_000)]
        )
        assert read_plan(session, "globex") is None
        assert read_plan(session, "initech") == Plan(records=7)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty: its first line must be a header such as"
             " bucket_id,records,storage,person"),
        ("records,storage\n", "line 1: the header must have a bucket_id column"),
        ("bucket_id\nacme-corp\n", "line 1: the header must have a records, storage or"
                                   " collection column"),
        ("bucket_id,records,records\n", "line 1: column 'records' appears twice"),
        ("bucket_id,my collection\n", "line 1, column 'my collection' must be a collection's name"),
        ("bucket_id,records\nacme-corp,100\nglobex,-5\n",
         "line 3, column records must be a whole number of records from 1 to 10^18 (got '-5')"),
        ("bucket_id,storage\nacme-corp,50 XB\n",
         "line 2, column storage must be a size from 1 B to 1000 PB"),
        ("bucket_id,records,person\nacme-corp,10,lots\n",
         "line 2, column person must be a whole number of records"),
        ("bucket_id,records\nacme-corp,10,20\n", "line 2: 3 fields where the header has 2"),
        ("bucket_id,records\nacme/corp,10\n",
         "line 2, column bucket_id must be 1 to 64 characters of letters, digits"),
        ("bucket_id,records\nacme-corp,10\nnobody,10\n",
         "line 3, column bucket_id: unknown client 'nobody'"),
        ("bucket_id,records\nacme-corp,10\n\nacme-corp,20\n",
         "line 4, column bucket_id: 'acme-corp' is on line 2 already"),
        ('bucket_id,records\n"acme-corp,10\n', "line 2: not CSV: unexpected end of data"),
        ('bucket_id,records\nacme-corp,"10"x\n', "line 2: not CSV: ',' expected after '\"'"),
    ],
)  # fmt: skip
def test_a_bad_csv_names_the_line_and_column_and_imports_nothing(
    clients: Engine, text: str, message: str
) -> None:
    with Session(clients) as session, session.begin():
        set_plan(session, "acme-corp", Plan(records=3), actor=ACTOR)
    with pytest.raises(InvalidParams) as caught:
        _import(clients, text)
    assert caught.value.message.startswith(message)
    with Session(clients) as session:
        assert list(read_plans(session).values()) == [Plan(records=3)]


def test_the_migration_builds_the_tables_the_models_describe(engine: Engine) -> None:
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    ours = [diff for diff in differences if _table_of(diff) in PLAN_TABLES]
    assert ours == []


def _table_of(diff: object) -> str | None:
    """The table an autogenerate difference is about."""
    item = diff[0] if isinstance(diff, list) else diff
    assert isinstance(item, tuple)
    for part in item[1:]:
        table = getattr(part, "table", part)
        name = getattr(table, "name", None) or (part if isinstance(part, str) else None)
        if name in PLAN_TABLES:
            return str(name)
    return None
