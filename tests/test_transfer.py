"""Export and import as JSON Lines: the round trip, idempotence, and refusing bad lines."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from tests.conftest import BACKENDS, Cli, new_database_url
from tests.factories import add_days, api_history, day, new_client, replacing_in_turn, snapshot
from usage.db import make_engine
from usage.demo import DEMO_SETTING, is_demo, load_demo
from usage.errors import InvalidParams, NotFound
from usage.history import read_history
from usage.models import Client, Setting, Snapshot, SnapshotCollection, SnapshotPrefix
from usage.snapshots import replace_snapshot
from usage.transfer import export_snapshots, import_snapshots

DEMO_DAY = dt.date(2024, 6, 1)
DEMO_SPAN = dt.timedelta(days=200)


@pytest.fixture
def small(engine: Engine) -> Engine:
    """acme-corp on days 0..4 (with an extra collection), globex on days 2..3."""
    with Session(engine) as session, session.begin():
        acme = new_client(session, "acme-corp")
        add_days(session, acme, [day(i) for i in range(5)], extra={"event": 3})
        globex = new_client(session, "globex")
        add_days(session, globex, [day(2), day(3)], prefixes={"(root)": (1, 2), "médias/": (3, 4)})
    return engine


@pytest.fixture
def other_engine(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty store on the other backend."""
    other = next(name for name in BACKENDS if name != backend)
    engine = make_engine(new_database_url(request, other, tmp_path))
    yield engine
    engine.dispose()


def export_text(engine: Engine, **kwargs: Any) -> str:
    out = io.StringIO()
    with Session(engine) as session:
        export_snapshots(session, out, **kwargs)
    return out.getvalue()


def import_text(engine: Engine, text: str, create_clients: bool = True) -> int:
    with Session(engine) as session, session.begin():
        return import_snapshots(session, io.StringIO(text), create_clients=create_clients).snapshots


def histories(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with Session(engine) as session:
        names = session.scalars(select(Client.bucket_id).order_by(Client.bucket_id)).all()
        return {name: read_history(session, name, None, None, None, visible=None) for name in names}


def count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Snapshot)) or 0


def test_export_then_import_into_an_empty_database_gives_the_same_history(
    engine: Engine, other_engine: Engine
) -> None:
    """The demo portfolio's last 200 days (extra collections, objects outside
    any prefix, prefixes that appear, missing days, a recent trial), from
    each backend to the other."""
    with Session(engine) as session, session.begin():
        load_demo(session, DEMO_DAY)
        for table in (SnapshotCollection, SnapshotPrefix, Snapshot):
            session.execute(delete(table).where(table.snapshot_date < DEMO_DAY - DEMO_SPAN))
    exported = export_text(engine)
    lines = exported.splitlines()
    assert len(lines) == count(engine) > 1_500
    assert json.loads(lines[0])["bucket_id"] == "acme-corp"
    assert import_text(other_engine, exported) == len(lines)
    collected = {name: rows for name, rows in histories(engine).items() if rows}
    assert histories(other_engine) == collected
    for name, rows in collected.items():  # the API reads the bodies stored by the import
        assert api_history(other_engine, name) == rows
    again = export_text(other_engine)
    assert [json.loads(line) for line in again.splitlines()] == [json.loads(line) for line in lines]


def test_export_filters_by_client_and_dates(small: Engine) -> None:
    text = export_text(small, bucket_ids=["acme-corp"], start=day(1), end=day(3))
    got = [(s["bucket_id"], s["snapshot_date"]) for s in map(json.loads, text.splitlines())]
    assert got == [("acme-corp", day(i).isoformat()) for i in (1, 2, 3)]
    assert export_text(small, start=day(3)).count("\n") == 3
    with Session(small) as session, pytest.raises(NotFound):
        export_snapshots(session, io.StringIO(), bucket_ids=["nobody"])


def test_export_lines_are_the_apis_snapshots(small: Engine) -> None:
    first = json.loads(export_text(small).splitlines()[0])
    with Session(small) as session:
        assert first == read_history(session, "acme-corp", day(0), day(0), None, visible=None)[0]


def test_import_is_idempotent_and_replaces_days_whole(small: Engine) -> None:
    text = export_text(small)
    before = histories(small)
    assert import_text(small, text) == 7
    assert import_text(small, text) == 7
    assert histories(small) == before
    changed = json.loads(text.splitlines()[0])
    changed["records"] = {
        **changed["records"],
        "event": 0,
        "total": changed["records"]["total"] - 3,
    }
    import_text(small, json.dumps(changed) + "\n")
    after = histories(small)["acme-corp"][-1]
    assert after["records"]["event"] == 0
    assert count(small) == 7


def test_unknown_clients_are_refused_unless_asked_to_create_them(
    small: Engine, other_engine: Engine
) -> None:
    text = export_text(small)
    with pytest.raises(InvalidParams, match=r"^line 1: unknown client 'acme-corp': add it first"):
        import_text(other_engine, text, create_clients=False)
    import_text(other_engine, text)
    with Session(other_engine) as session:
        created = session.execute(
            select(
                Client.bucket_id, Client.display_name, Client.status, Client.client_since
            ).order_by(Client.bucket_id)
        ).all()
    assert [tuple(row) for row in created] == [
        ("acme-corp", "acme-corp", "active", day(0)),
        ("globex", "globex", "active", day(2)),
    ]


def _line(**changes: Any) -> str:
    snapshot: dict[str, Any] = {
        "bucket_id": "acme-corp",
        "snapshot_date": "2024-01-10",
        "records": {"person": 1, "organisation": 0, "member": 0, "payment": 0, "ticket": 0,
                    "booking": 0, "event": 2, "total": 3},
        "storage": {"object_count": 3, "total_bytes": 30,
                    "by_prefix": {"a/": {"count": 1, "bytes": 10},
                                  "(root)": {"count": 2, "bytes": 20}}},
        "computed_at": "2024-01-10T02:00:00Z",
    }  # fmt: skip
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = snapshot
        for parent in parents:
            target = target[parent]
        if value is _DROP:
            del target[leaf]
        else:
            target[leaf] = value
    return json.dumps(snapshot)


_DROP = object()
_DAY = dt.date(2024, 1, 10)  # _line's


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{oops", "line 2: not valid JSON (Expecting property name"),
        ('{"a": ' * 5000 + "1" + "}" * 5000, "line 2: not valid JSON (nested too deeply)"),
        ("[]", "line 2: the line must be a JSON object"),
        (_line(records=_DROP), "line 2: the line lacks the field 'records'"),
        (_line(extra=1), "line 2: the line has an unknown field 'extra'"),
        (_line(bucket_id="no/slash"), "line 2: bucket_id must be 1 to 64 characters"),
        (_line(bucket_id=5), "line 2: bucket_id must be a string"),
        (_line(snapshot_date="2024-02-30"), "line 2: snapshot_date must be a real calendar date"),
        (_line(records__person=-1), "line 2: records.person must be a whole number from 0 to"),
        (_line(records__person=1.5), "line 2: records.person must be a whole number"),
        (_line(records__person=True), "line 2: records.person must be a whole number"),
        (_line(records__ticket=_DROP), "line 2: records lacks 'ticket'"),
        (_line(records__total=4),
         "line 2: records.total must be the sum of the collections (3), not 4"),
        (_line(storage__object_count=4),
         "line 2: storage.object_count must be the sum of the by_prefix counts (3), not 4"),
        (_line(storage__total_bytes=31),
         "line 2: storage.total_bytes must be the sum of the by_prefix bytes (30), not 31"),
        (_line(storage__by_prefix__a_=1), "line 2: storage.by_prefix['a_'] must be a JSON object"),
        (_line(storage__by_prefix={"a/": {"count": 3}}),
         "line 2: storage.by_prefix['a/'] lacks the field 'bytes'"),
        (_line(computed_at="2024-01-10T02:00:00"),
         "line 2: computed_at must be an RFC 3339 date-time"),
        (_line(computed_at="yesterday"), "line 2: computed_at must be an RFC 3339 date-time"),
        (_line(snapshot_date="2024-01-01"),
         "line 2: a second snapshot of acme-corp on 2024-01-01 (the first is on line 1)"),
        (_line(bucket_id="nobody"), "line 2: unknown client 'nobody': add it first"),
        (_line()[:-1] + ', "bucket_id": "globex"}',
         "line 2: the key 'bucket_id' appears twice in one JSON object"),
        (_line().replace('"a/": {', '"a/": {"count": 9, '),
         "line 2: the key 'count' appears twice in one JSON object"),
        (_line(snapshot_date="2999-01-01"),
         "line 2: snapshot_date must not be after today ("),
        (_line(storage__by_prefix={"\ud800/": {"count": 3, "bytes": 30}}),
         "line 2: storage.by_prefix: prefixes must have no control character, lone surrogate"
         " or space at their end (got '\\ud800/')"),
        (_line(storage__by_prefix={"a\u0000/": {"count": 3, "bytes": 30}}),
         "line 2: storage.by_prefix: prefixes must have no control character"),
        (_line(storage__by_prefix={"a\u0085/": {"count": 3, "bytes": 30}}),
         "line 2: storage.by_prefix: prefixes must have no control character"),
        (_line(storage__by_prefix={"a/\u007f": {"count": 3, "bytes": 30}}),
         "line 2: storage.by_prefix: prefixes must have no control character"),
        (_line(storage__by_prefix={"a/ ": {"count": 3, "bytes": 30}}),
         "line 2: storage.by_prefix: prefixes must have no control character"),
        (_line(records__event=_DROP, **{"records__total ": 2}),
         "line 2: records: collection names must have no control character, lone surrogate"
         " or space at either end (got 'total ')"),
        (_line(records__event=_DROP, **{"records__ event": 2}),
         "line 2: records: collection names must have no control character"),
        (_line(records__event=_DROP, **{"records__ev\tent": 2}),
         "line 2: records: collection names must have no control character"),
        (_line(records__event=_DROP, **{"records__\udfff": 2}),
         "line 2: records: collection names must have no control character"),
    ],
)  # fmt: skip
def test_a_bad_line_is_reported_by_number_and_nothing_is_imported(
    small: Engine, line: str, message: str
) -> None:
    good = _line(snapshot_date="2024-01-01")
    before = histories(small)
    with pytest.raises(InvalidParams) as caught:
        import_text(small, f"{good}\n{line}\n{_line(snapshot_date='2024-01-20')}\n", False)
    assert caught.value.message.startswith(message), caught.value.message
    assert histories(small) == before


@pytest.mark.parametrize(
    ("prefix", "collection"),
    [
        (" leading space/", "my collection"),  # S3 keys may start with a space
        ("médias/", "émission"),
        ("\U0001f600 \u00e9t\u00e9/", "\U0001f600"),  # a surrogate pair is one character
        ("a=b;c,\"d'/", "x=y;z"),
    ],
)
def test_names_as_s3_and_the_records_database_give_them_are_imported(
    small: Engine, prefix: str, collection: str
) -> None:
    line = _line(storage__by_prefix={prefix: {"count": 3, "bytes": 30}},
                 records__event=_DROP, **{f"records__{collection}": 2})  # fmt: skip
    assert import_text(small, line + "\n") == 1
    with Session(small) as session:
        [stored] = read_history(session, "acme-corp", _DAY, _DAY, None, visible=None)
    assert stored["storage"]["by_prefix"] == {prefix: {"count": 3, "bytes": 30}}
    assert stored["records"][collection] == 2


def test_a_snapshot_of_today_is_imported_and_of_tomorrow_refused(small: Engine) -> None:
    today = dt.date(2024, 1, 10)
    with Session(small) as session, session.begin():
        imported = import_snapshots(session, [_line(snapshot_date="2024-01-10")], today=today)
    assert imported.snapshots == 1
    with Session(small) as session, session.begin(), pytest.raises(InvalidParams) as caught:
        import_snapshots(session, ["", _line(snapshot_date="2024-01-11")], today=today)
    assert caught.value.message == "line 2: snapshot_date must not be after today (2024-01-10)"


def _demo_flag(engine: Engine) -> bool:
    with Session(engine) as session:
        return is_demo(session)


def test_an_import_ends_the_demo_unless_it_imports_nothing(small: Engine) -> None:
    """The demo flag goes with the transaction that stores the snapshots: a
    bad line (nothing imported) or an empty file leaves it."""
    with Session(small) as session, session.begin():
        session.add(Setting(name=DEMO_SETTING, value="2024-01-01"))
    good = _line(snapshot_date="2024-01-01")
    with pytest.raises(InvalidParams):
        import_text(small, f"{good}\n{_line(bucket_id='nobody')}\n", False)
    assert _demo_flag(small)
    assert import_text(small, "\n") == 0
    assert _demo_flag(small)
    assert import_text(small, f"{good}\n") == 1
    assert not _demo_flag(small)


def test_cli_export_and_import_round_trip(cli: Cli, small: Engine, tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    code, out, err = cli("export", "-o", str(path), "--bucket", "globex")
    assert (code, out, err) == (0, "", f"exported 2 snapshots to {path}\n")
    code, out, err = cli("export", "--start", "2024-01-06")
    assert (code, out.count("\n"), err) == (0, 0, "exported 0 snapshots to standard output\n")
    code, out, _ = cli("export")
    assert (code, out.count("\n")) == (0, 7)
    code, out, err = cli("import", str(path))
    assert (code, out, err) == (0, f"imported 2 snapshots from {path}\n", "")


def test_cli_import_creates_clients_only_when_asked(
    cli: Cli, small: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_engine: Engine
) -> None:
    path = tmp_path / "all.jsonl"
    assert cli("export", "-o", str(path))[0] == 0
    monkeypatch.setenv("USAGE_DATABASE_URL", other_engine.url.render_as_string(hide_password=False))
    code, out, err = cli("import", str(path))
    assert code == 2
    assert err == (
        f"error: {path}: line 1: unknown client 'acme-corp': add it first"
        " (python -m usage clients add) or import with --create-clients; nothing was imported\n"
    )
    code, out, err = cli("import", str(path), "--create-clients")
    assert (code, err) == (0, "")
    assert out == f"imported 7 snapshots from {path}; created 2 clients: acme-corp, globex\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "--start", "2024-1-01"], "error: --start must be a date in YYYY-MM-DD format"),
        (["export", "--start", "2024-02-02", "--end", "2024-02-01"],
         "error: --start must be on or before --end"),
        (["export", "--bucket", "nobody"], "error: client 'nobody' not found"),
        (["export", "--bucket", "a b"], "error: --bucket must be 1 to 64 characters"),
        (["import", "/nonexistent/file.jsonl"],
         "error: /nonexistent/file.jsonl: cannot read /nonexistent/file.jsonl: No such file"),
        (["import"], "python -m usage import: error: the following arguments are required: file"),
    ],
)  # fmt: skip
def test_cli_bad_arguments_are_one_line_exit_2(
    cli: Cli, small: Engine, argv: list[str], message: str
) -> None:
    code, out, err = cli(*argv)
    assert code == 2
    assert out == ""
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_cli_reports_a_file_that_is_not_utf8(cli: Cli, small: Engine, tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(_line(snapshot_date="2024-01-01").encode() + b"\n\xe9t\xe9\n")
    code, _, err = cli("import", str(path))
    assert (code, err) == (2, f"error: {path}: line 2: not UTF-8 text; nothing was imported\n")


def test_cli_refuses_a_line_that_names_a_key_twice(cli: Cli, small: Engine, tmp_path: Path) -> None:
    """The last of two keys would win: acme-corp's line would replace globex's day."""
    path = tmp_path / "twice.jsonl"
    acme = _line(snapshot_date=day(2).isoformat())
    path.write_text(acme[:-1] + ', "bucket_id": "globex"}\n')
    before = histories(small)
    code, out, err = cli("import", str(path))
    assert (code, out) == (2, "")
    assert err == (
        f"error: {path}: line 1: the key 'bucket_id' appears twice in one JSON object;"
        " nothing was imported\n"
    )
    assert histories(small) == before


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (_line(snapshot_date="2999-01-01"), "line 1: snapshot_date must not be after today ("),
        (_line(storage__by_prefix={"\ud800/": {"count": 3, "bytes": 30}}),
         "line 1: storage.by_prefix: prefixes must have no control character"),
    ],
)  # fmt: skip
def test_cli_refuses_a_future_day_or_a_bad_name_in_one_line(
    cli: Cli, small: Engine, tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    code, out, err = cli("import", str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {path}: {message}")
    assert err.endswith("; nothing was imported\n")
    assert err.count("\n") == 1


@pytest.mark.parametrize("content", ["", "\n  \n\n"])
def test_cli_says_a_file_without_snapshots_holds_none(
    cli: Cli, small: Engine, tmp_path: Path, content: str
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(content)
    assert cli("import", str(path)) == (
        0,
        f"{path} holds no snapshots (it is empty or has only blank lines): nothing imported\n",
        "",
    )


@pytest.mark.parametrize("output", ["/nonexistent/dir/x.jsonl", "{out}", "{out}/file/x.jsonl"])
def test_cli_export_to_a_path_it_cannot_write_is_one_line(
    cli: Cli, small: Engine, tmp_path: Path, output: str
) -> None:
    """No such folder, a folder, a file where a folder should be."""
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "file").write_text("")
    path = output.format(out=tmp_path / "out")
    code, out, err = cli("export", "-o", path)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: cannot write {path}: ")
    assert err.count("\n") == 1
    assert not list(tmp_path.rglob(".*"))  # no temporary file left


def test_an_export_during_collections_never_tears_a_snapshot(cli: Cli, small: Engine) -> None:
    """globex's day 2 is replaced by one version then the other as fast as
    can be while exports run: every exported line is one version whole."""
    with Session(small) as session:
        client_id = session.scalars(select(Client.id).where(Client.bucket_id == "globex")).one()
    versions = [
        snapshot(day(2), scale=1, extra={"a": 1}, prefixes={"a/": (1, 10), "b/": (2, 20)}),
        snapshot(day(2), scale=2, extra={"b": 2}, prefixes={"c/": (3, 30)}),
    ]
    expected = []
    for version in versions:
        with Session(small) as session, session.begin():
            replace_snapshot(session, client_id, version)
        expected.append(export_text(small, bucket_ids=["globex"], start=day(2), end=day(2)))
    with replacing_in_turn(small, client_id, versions):
        exports = [cli("export", "--bucket", "globex", "--start", day(2).isoformat(),
                       "--end", day(2).isoformat())[1] for _ in range(15)]  # fmt: skip
    assert all(text in expected for text in exports)
