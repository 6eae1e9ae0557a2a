"""``python -m usage clients set-plan`` and ``clients import-plans``."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.conftest import Cli
from tests.factories import new_client
from usage.plans import Plan, make_plan, read_plan, read_plans


@pytest.fixture
def clients(engine: Engine) -> Engine:
    with Session(engine) as session, session.begin():
        new_client(session, "acme-corp")
        new_client(session, "globex")
    return engine


def plan_of(engine: Engine, bucket_id: str) -> Plan | None:
    with Session(engine) as session:
        return read_plan(session, bucket_id)


def test_set_plan_stores_the_limits_and_says_them(cli: Cli, clients: Engine) -> None:
    code, out, err = cli(
        "clients", "set-plan", "acme-corp", "--records", "250000", "--storage", "50GB",
        "--collection", "person=100000", "--collection", "member=5000",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out == (
        "plan of 'acme-corp': 250,000 records, 50.0 GB, 5,000 member records,"
        " 100,000 person records\n"
    )
    assert plan_of(clients, "acme-corp") == make_plan(
        250_000, 50_000_000_000, [("person", 100_000), ("member", 5_000)]
    )
    assert cli("clients", "set-plan", "acme-corp", "--storage", "1.5 TB")[0] == 0
    assert plan_of(clients, "acme-corp") == Plan(storage_bytes=1_500_000_000_000)


def test_clear_removes_the_plan(cli: Cli, clients: Engine) -> None:
    assert cli("clients", "set-plan", "acme-corp", "--records", "10")[0] == 0
    assert cli("clients", "set-plan", "acme-corp", "--clear") == (
        0,
        "plan of 'acme-corp' cleared\n",
        "",
    )
    assert plan_of(clients, "acme-corp") is None
    assert cli("clients", "set-plan", "acme-corp", "--clear") == (
        0,
        "'acme-corp' had no plan\n",
        "",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--records", "-5"],
         "error: --records must be a whole number of records from 1 to 10^18 (got '-5')"),
        (["--records", "lots"],
         "error: --records must be a whole number of records from 1 to 10^18 (got 'lots')"),
        (["--storage", "50 XB"], "error: --storage must be a size from 1 B to 1000 PB such as"
                                 " 50GB, 1.5 TB, 500MB or a number of bytes (got '50 XB')"),
        (["--storage=-1GB"], "error: --storage must be a size from 1 B to 1000 PB"),
        (["--collection", "person"],
         "error: --collection must be COLLECTION=RECORDS such as person=100000 (got 'person')"),
        (["--collection", "person=0"],
         "error: --collection must be a whole number of records from 1 to 10^18 (got '0')"),
        (["--records", "9" * 5000],
         "error: --records must be a whole number of records from 1 to 10^18"
         f" (got '{'9' * 5000}')"),
        (["--collection", "person=" + "9" * 5000],
         "error: --collection must be a whole number of records from 1 to 10^18 (got '999"),
        (["--collection", "a\x01=5"], "error: --collection must be a collection's name"),
        (["--collection", "\udcff=5"], "error: --collection must be a collection's name"),
        ([], "error: a plan needs --records, --storage or --collection (or --clear)"),
        (["--clear", "--records", "5"],
         "error: --clear takes no limits: give --clear alone, or the limits"),
    ],
)  # fmt: skip
def test_a_bad_limit_is_one_line_exit_2_and_changes_nothing(
    cli: Cli, clients: Engine, argv: list[str], message: str
) -> None:
    assert cli("clients", "set-plan", "acme-corp", "--records", "7")[0] == 0
    code, out, err = cli("clients", "set-plan", "acme-corp", *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith(message)
    assert plan_of(clients, "acme-corp") == Plan(records=7)


def test_a_plan_of_an_unknown_client_is_refused(cli: Cli, clients: Engine) -> None:
    assert cli("clients", "set-plan", "nobody", "--records", "5") == (
        2,
        "",
        "error: client 'nobody' not found\n",
    )
    code, _, err = cli("clients", "set-plan", "no/body", "--records", "5")
    assert (code, err) == (2, "error: bucket must be 1 to 64 characters of letters, digits,"
                              " '-' or '_'\n")  # fmt: skip


def test_import_plans_sets_them_all(cli: Cli, clients: Engine, tmp_path: Path) -> None:
    path = tmp_path / "plans.csv"
    # As a spreadsheet saves it: a byte order mark, CRLF line ends.
    path.write_bytes(
        "\ufeffbucket_id,records,storage,person\r\n"
        "acme-corp,250000,50GB,100000\r\n"
        "globex,,1.5 TB,\r\n".encode()
    )
    code, out, err = cli("clients", "import-plans", str(path))
    assert (code, err) == (0, "")
    assert out == f"plans imported from {path}: 2 set, 0 cleared\n"
    assert plan_of(clients, "acme-corp") == make_plan(
        250_000, 50_000_000_000, [("person", 100_000)]
    )
    assert plan_of(clients, "globex") == Plan(storage_bytes=1_500_000_000_000)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"bucket_id,records\nacme-corp,100\nglobex,-5\n",
         "line 3, column records must be a whole number of records from 1 to 10^18 (got '-5');"
         " nothing was imported"),
        (b"bucket_id,storage\nacme-corp,lots\n", "line 2, column storage must be a size"),
        (b"bucket_id,records\nacme-corp,100\nnobody,5\n",
         "line 3, column bucket_id: unknown client 'nobody'; nothing was imported"),
        (b"bucket_id,records\nacme-corp,\xff\xfe\n", "not UTF-8 text; nothing was imported"),
        (b"bucket_id,records\nacme-corp," + b"9" * 5000 + b"\n",
         "line 2, column records must be a whole number of records from 1 to 10^18 (got '999"),
        (b"bucket_id,person\nacme-corp,1\nglobex," + b"9" * 5000 + b"\n",
         "line 3, column person must be a whole number of records from 1 to 10^18 (got '999"),
        (b"bucket_id,a\x7fb\nacme-corp,1\n",
         "line 1, column 'a\\x7fb' must be a collection's name"),
    ],
)  # fmt: skip
def test_a_bad_csv_imports_nothing_and_names_the_line(
    cli: Cli, clients: Engine, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "plans.csv"
    path.write_bytes(content)
    code, out, err = cli("clients", "import-plans", str(path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith(f"error: {path}: {message}")
    with Session(clients) as session:
        assert read_plans(session) == {}


def test_import_plans_of_a_missing_file(cli: Cli, clients: Engine, tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    code, _, err = cli("clients", "import-plans", str(missing))
    assert (code, err) == (2, f"error: {missing}: cannot read {missing}: No such file or directory;"
                              " nothing was imported\n")  # fmt: skip


# Plan changes are admin changes: in the audit trail, by the operator.


def audit_lines(cli: Cli, *options: str) -> list[list[str]]:
    """``python -m usage audit``'s lines, oldest first, without the time:
    actor, action, target, detail, address."""
    code, out, err = cli("audit", *options)
    assert (code, err) == (0, "")
    return [line.split("\t")[1:] for line in reversed(out.splitlines())]


def test_plan_changes_are_audited_as_the_operator(
    cli: Cli, clients: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("usage.audit.getpass.getuser", lambda: "ops")
    path = tmp_path / "plans.csv"
    path.write_text("bucket_id,records,person\nacme-corp,250000,100000\nglobex,,\n")
    assert cli("clients", "set-plan", "globex", "--storage", "50GB")[0] == 0
    assert cli("clients", "set-plan", "acme-corp", "--records", "10")[0] == 0
    assert cli("clients", "set-plan", "acme-corp", "--clear")[0] == 0
    assert cli("clients", "set-plan", "acme-corp", "--clear")[0] == 0  # no plan: nothing done
    assert cli("clients", "import-plans", str(path))[0] == 0

    assert audit_lines(cli) == [
        ["cli:ops", "plan_set", "globex", "50.0 GB", "-"],
        ["cli:ops", "plan_set", "acme-corp", "10 records", "-"],
        ["cli:ops", "plan_cleared", "acme-corp", "-", "-"],
        ["cli:ops", "plans_imported", str(path), "1 set, 1 cleared: acme-corp, globex", "-"],
    ]
    assert audit_lines(cli, "--action", "plan_cleared") == [
        ["cli:ops", "plan_cleared", "acme-corp", "-", "-"]
    ]


def test_a_refused_plan_change_leaves_no_audit_event(
    cli: Cli, clients: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "plans.csv"
    path.write_text("bucket_id,records\nacme-corp,100\nglobex,-5\n")
    assert cli("clients", "import-plans", str(path))[0] == 2
    assert cli("clients", "set-plan", "nobody", "--records", "5")[0] == 2
    assert cli("clients", "set-plan", "acme-corp", "--records", "lots")[0] == 2
    assert cli("audit") == (0, "no events\n", "")
