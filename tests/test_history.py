from __future__ import annotations

import datetime as dt

import orjson
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.factories import add_days, day, new_client, snapshot
from usage.errors import NotFound
from usage.history import fetch_history, fetch_history_json
from usage.snapshots import SnapshotJSON, insert_snapshots, replace_snapshot
from usage.validation import HistoryParams


@pytest.fixture
def ten_days(engine: Engine) -> Engine:
    """acme-corp with snapshots on days 0..9 except day 4; globex with day 0."""
    with Session(engine) as session, session.begin():
        acme = new_client(session, "acme-corp")
        add_days(session, acme, [day(i) for i in range(10) if i != 4])
        globex = new_client(session, "globex")
        add_days(session, globex, [day(0)])
        new_client(session, "empty-co")
    return engine


def read(engine: Engine, params: HistoryParams) -> list[SnapshotJSON]:
    """The history by both paths, the pages' (built from the columns) and
    the API's (the stored bodies): they must be the same bytes."""
    with Session(engine) as session:
        snapshots = fetch_history(session, params)
    with engine.connect() as connection:
        body = fetch_history_json(connection, params)
    assert body == orjson.dumps({"snapshots": snapshots, "count": len(snapshots)})
    return snapshots


def dates(engine: Engine, params: HistoryParams) -> list[str]:
    return [s["snapshot_date"] for s in read(engine, params)]


def iso(*offsets: int) -> list[str]:
    return [day(i).isoformat() for i in offsets]


@pytest.mark.parametrize(
    ("start", "end", "limit", "expected"),
    [
        (None, None, 30, iso(9, 8, 7, 6, 5, 3, 2, 1, 0)),
        (None, None, 3, iso(9, 8, 7)),
        (day(2), day(5), 30, iso(5, 3, 2)),
        (day(2), day(5), 2, iso(5, 3)),
        (day(3), day(3), 30, iso(3)),
        (day(4), day(4), 30, []),
        (day(8), None, 30, iso(9, 8)),
        (None, day(1), 30, iso(1, 0)),
        (day(20), day(30), 30, []),
        (None, None, 1, iso(9)),
    ],
)
def test_range_limit_and_order(
    ten_days: Engine, start: dt.date | None, end: dt.date | None, limit: int, expected: list[str]
) -> None:
    assert dates(ten_days, HistoryParams("acme-corp", start, end, limit)) == expected


def test_unknown_client_differs_from_known_client_without_data(ten_days: Engine) -> None:
    assert dates(ten_days, HistoryParams("empty-co")) == []
    with pytest.raises(NotFound, match="client 'nobody' not found"):
        dates(ten_days, HistoryParams("nobody"))
    with ten_days.connect() as connection, pytest.raises(NotFound, match="'nobody' not found"):
        fetch_history_json(connection, HistoryParams("nobody"))


def test_other_clients_never_leak_in(ten_days: Engine) -> None:
    snapshots = read(ten_days, HistoryParams("globex"))
    assert [(s["bucket_id"], s["snapshot_date"]) for s in snapshots] == [("globex", "2024-01-01")]


def test_snapshot_shape_totals_and_extra_collections(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        client_id = new_client(session, "acme-corp")
        data = snapshot(day(0), extra={"event": 7, "donation": 3},
                        prefixes={"documents/": (6, 600), "(root)": (1, 5)})  # fmt: skip
        insert_snapshots(session, [(client_id, data)])
    (result,) = read(engine, HistoryParams("acme-corp"))
    assert result == {
        "bucket_id": "acme-corp",
        "snapshot_date": "2024-01-01",
        "records": {"person": 100, "organisation": 10, "member": 50, "payment": 300,
                    "ticket": 20, "booking": 5, "donation": 3, "event": 7, "total": 495},
        "storage": {
            "object_count": 7,
            "total_bytes": 605,
            "by_prefix": {"(root)": {"count": 1, "bytes": 5},
                          "documents/": {"count": 6, "bytes": 600}},
        },
        "computed_at": "2024-01-01T02:00:00Z",
    }  # fmt: skip


def test_extra_collections_stay_with_their_own_day(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        client_id = new_client(session, "acme-corp")
        insert_snapshots(session, [
            (client_id, snapshot(day(0), extra={"event": 1})),
            (client_id, snapshot(day(1))),
            (client_id, snapshot(day(2), extra={"event": 3, "donation": 9})),
        ])  # fmt: skip
    snapshots = read(engine, HistoryParams("acme-corp"))
    extras = [{k: v for k, v in s["records"].items() if k in ("event", "donation")}
              for s in snapshots]  # fmt: skip
    assert extras == [{"donation": 9, "event": 3}, {}, {"event": 1}]


def test_bucket_id_of_64_characters(engine: Engine) -> None:
    bucket = "b" * 63 + "Z"
    with Session(engine) as session, session.begin():
        add_days(session, new_client(session, bucket), [day(0), day(1)])
    assert dates(engine, HistoryParams(bucket)) == iso(1, 0)


def test_newest_kept_when_more_than_limit(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        add_days(session, new_client(session, "acme-corp"), [day(i) for i in range(1200)])
    result = dates(engine, HistoryParams("acme-corp", limit=1000))
    assert len(result) == 1000
    assert result[0] == day(1199).isoformat()
    assert result[-1] == day(200).isoformat()


def test_replace_snapshot_replaces_the_day_whole(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        client_id = new_client(session, "acme-corp")
        insert_snapshots(session, [(client_id, snapshot(day(0), extra={"event": 1},
                                                         prefixes={"old/": (1, 1)}))])  # fmt: skip
    with Session(engine) as session, session.begin():
        replace_snapshot(session, client_id, snapshot(day(0), scale=2))
    (result,) = read(engine, HistoryParams("acme-corp"))
    assert "event" not in result["records"]
    assert result["records"]["person"] == 200
    assert set(result["storage"]["by_prefix"]) == {"documents/", "images/"}
