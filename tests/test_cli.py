from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from tests.conftest import Cli
from usage.cli import main
from usage.errors import Unauthorized
from usage.keys import authenticate
from usage.models import ApiKey, Client, Snapshot


def test_keys_create_prints_the_key_last_and_stores_only_a_hash(cli: Cli, engine: Engine) -> None:
    assert cli("clients", "add", "acme-corp", "--name", "Acme")[0] == 0
    code, out, err = cli("keys", "create", "reporting", "--bucket", "acme-corp")
    assert (code, err) == (0, "")
    key = out.strip().splitlines()[-1]
    assert key.startswith("usk_")
    assert " " not in key
    with Session(engine) as session:
        row = session.scalars(select(ApiKey)).one()
        assert key not in (row.secret_hash, row.lookup, row.buckets)
        assert key.split("_", 2)[2] not in row.secret_hash
        info = authenticate(session, key)
    assert (info.name, info.is_admin, info.visible) == (
        "reporting",
        False,
        frozenset({"acme-corp"}),
    )


def test_keys_list_and_revoke(cli: Cli, engine: Engine) -> None:
    _, out, _ = cli("keys", "create", "ops", "--admin")
    key = out.strip().splitlines()[-1]
    assert cli("keys", "revoke", "ops")[0] == 0
    code, out, _ = cli("keys", "list")
    assert code == 0
    assert out.split("\t")[:3] == ["ops", "admin", "revoked"]
    with Session(engine) as session, pytest.raises(Unauthorized):
        authenticate(session, key)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["keys", "create", "x"], "error: a key needs --admin or at least one --bucket"),
        (["keys", "create", "x", "--bucket", "no/slash"],
         "error: bucket must be 1 to 64 characters of letters, digits, '-' or '_'"),
        (["keys", "revoke", "nobody"], "error: no key named 'nobody'"),
        (["keys", "create"], "python -m usage keys create: error: the following arguments"
                             " are required: name"),
        (["nonsense"], "python -m usage: error: argument command: invalid choice: 'nonsense'"),
        (["clients", "add", "acme", "--name", "Acme", "--since", "2024-02-30"],
         "error: since must be a real calendar date in YYYY-MM-DD format"),
        (["clients", "add", "acme", "--name", "Acme", "--status", "gone"],
         "error: status must be one of: active, inactive, suspended, trial"),
    ],
)  # fmt: skip
def test_bad_arguments_get_one_line_and_exit_2(cli: Cli, argv: list[str], message: str) -> None:
    code, out, err = cli(*argv)
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(message)
    assert out == ""


def test_keys_create_refuses_a_bucket_that_is_no_client(cli: Cli, engine: Engine) -> None:
    """As every command that names a client: set-plan, collect, export."""
    assert cli("clients", "add", "acme-corp", "--name", "Acme")[0] == 0
    code, out, err = cli("keys", "create", "x", "--bucket", "acme-corp", "--bucket", "nope")
    assert (code, out, err) == (2, "", "error: client 'nope' not found\n")
    assert err == cli("clients", "set-plan", "nope", "--records", "5")[2]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 0


def test_a_refused_command_writes_nothing(cli: Cli, engine: Engine) -> None:
    assert cli("keys", "create", "twice", "--admin")[0] == 0
    code, _, err = cli("keys", "create", "twice", "--admin")
    assert (code, err) == (2, "error: a key named 'twice' exists already\n")
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 1


def test_clients_add_and_list(cli: Cli) -> None:
    assert cli("clients", "add", "acme-corp", "--name", "Acme", "--status", "trial")[0] == 0
    assert cli("clients", "add", "acme-corp", "--name", "Again")[0] == 2
    assert cli("clients", "list")[1] == "acme-corp\ttrial\tAcme\n"


def test_demo_command_is_idempotent(cli: Cli, engine: Engine) -> None:
    code, out, _ = cli("demo")
    assert code == 0
    assert out.startswith("demo data loaded: ")
    assert int(out.split(": ")[1].split()[0]) > 10_000
    code, out, _ = cli("demo")
    assert out == "demo data loaded: 0 snapshots added\n"
    with Session(engine) as session:
        assert (session.scalar(select(func.count()).select_from(Client)) or 0) >= 12


def test_unreachable_database_is_one_line_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("USAGE_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert main(["keys", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: database unreachable: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "error: USAGE_DATABASE_URL is not a database URL"),
        ("mysql://x@y/z", "error: USAGE_DATABASE_URL must be a sqlite:// or postgresql+psycopg://"),
    ],
)
def test_bad_database_url_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    monkeypatch.setenv("USAGE_DATABASE_URL", url)
    assert main(["keys", "list"]) == 1
    assert capsys.readouterr().err.startswith(message)


def test_configured_database_without_schema_asks_for_upgrade(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.setenv("USAGE_DATABASE_URL", f"sqlite:///{tmp_path}/fresh.sqlite3")
    assert main(["keys", "list"]) == 1
    assert "run `python -m usage db upgrade`" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    assert main(["keys", "list"]) == 0


def test_module_entry_point_exits_2_on_bad_arguments() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "usage", "keys", "frobnicate"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "invalid choice: 'frobnicate'" in result.stderr


def test_snapshot_day_is_unique_per_client(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    from tests.factories import add_days, day, new_client

    with Session(engine) as session, session.begin():
        client_id = new_client(session, "acme-corp")
        add_days(session, client_id, [day(0)])
    with pytest.raises(IntegrityError), Session(engine) as session, session.begin():
        add_days(session, client_id, [day(0)])
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Snapshot)) == 1
        assert session.execute(text("SELECT 1")).scalar() == 1
