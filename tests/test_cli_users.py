from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from tests.conftest import Cli
from tests.factories import new_client
from usage.audit import Action, Actor, list_events, record
from usage.models import Assignment, AuditEvent, Person, Role
from usage.people import list_people, person_principal

OPERATOR = "cli:ops"  # the actor of every change made here (getpass says "ops")
ANN = "ann@example.com"
BUCKETS = ("acme-corp", "globex", "initech")


@pytest.fixture(autouse=True)
def _operator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("usage.audit.getpass.getuser", lambda: "ops")


@pytest.fixture
def store(engine: Engine) -> Engine:
    with Session(engine) as session, session.begin():
        for bucket in BUCKETS:
            new_client(session, bucket)
    return engine


def _people(engine: Engine) -> list[tuple[str, Role, tuple[str, ...]]]:
    with Session(engine) as session:
        return [(info.email, info.role, info.book) for info in list_people(session)]


def _events(engine: Engine) -> list[tuple[str, str, str, str]]:
    """(actor, action, target, detail), oldest first."""
    with Session(engine) as session:
        events = list_events(session, limit=None)
    return [(e["actor"], e["action"], e["target"], e["detail"]) for e in reversed(events)]


def _count(engine: Engine, table: type[Person | Assignment | AuditEvent]) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_users_add_stores_the_person_and_book(cli: Cli, store: Engine) -> None:
    argv = ["users", "add", "Ann@Example.com", "--role", "manager"]
    code, out, err = cli(*argv, "--bucket", "globex", "--bucket", "acme-corp")
    assert (code, out, err) == (0, f"person '{ANN}' added (manager; book: acme-corp, globex)\n", "")
    assert _people(store) == [(ANN, Role.MANAGER, ("acme-corp", "globex"))]
    with Session(store) as session:
        principal = person_principal(session, ANN)
    assert principal is not None
    assert principal.visible == frozenset({"acme-corp", "globex"})
    assert _events(store) == [
        (OPERATOR, "person_added", ANN, "role manager"),
        (OPERATOR, "book_assigned", ANN, "acme-corp globex"),
    ]


def test_users_add_without_a_book(cli: Cli, store: Engine) -> None:
    code, out, _ = cli("users", "add", "bob@example.com", "--role", "analyst")
    assert (code, out) == (0, "person 'bob@example.com' added (analyst; book: empty)\n")
    assert _people(store) == [("bob@example.com", Role.ANALYST, ())]
    assert _events(store) == [(OPERATOR, "person_added", "bob@example.com", "role analyst")]


def test_users_assign_and_unassign(cli: Cli, store: Engine) -> None:
    assert cli("users", "add", ANN, "--role", "manager", "--bucket", "acme-corp")[0] == 0
    steps = [
        (["assign", ANN, "--bucket", "initech", "--bucket", "acme-corp"],
         f"book of '{ANN}': added initech\n", ("acme-corp", "initech")),
        (["assign", ANN, "--bucket", "initech"],
         f"book of '{ANN}': nothing added, already assigned\n", ("acme-corp", "initech")),
        (["unassign", "ANN@example.com", "--bucket", "acme-corp", "--bucket", "globex"],
         f"book of '{ANN}': removed acme-corp\n", ("initech",)),
        (["unassign", ANN, "--bucket", "globex"],
         f"book of '{ANN}': nothing removed, not assigned\n", ("initech",)),
    ]  # fmt: skip
    for argv, expected_out, book in steps:
        assert cli("users", *argv) == (0, expected_out, "")
        assert _people(store) == [(ANN, Role.MANAGER, book)]
    assert _events(store)[2:] == [
        (OPERATOR, "book_assigned", ANN, "initech"),
        (OPERATOR, "book_unassigned", ANN, "acme-corp"),
    ]


def test_users_set_role(cli: Cli, store: Engine) -> None:
    assert cli("users", "add", ANN, "--role", "manager", "--bucket", "globex")[0] == 0
    assert cli("users", "set-role", ANN, "--role", "admin") == (
        0, f"role of '{ANN}' is admin\n", ""
    )  # fmt: skip
    assert _people(store) == [(ANN, Role.ADMIN, ("globex",))]
    with Session(store) as session:
        principal = person_principal(session, ANN)
    assert principal is not None
    assert principal.visible is None
    assert _events(store)[-1] == (OPERATOR, "role_changed", ANN, "manager -> admin")


def test_users_list(cli: Cli, store: Engine) -> None:
    assert cli("users", "list") == (0, "no people\n", "")
    cli("users", "add", "zed@example.com", "--role", "manager", "--bucket", "initech",
        "--bucket", "acme-corp")  # fmt: skip
    cli("users", "add", ANN, "--role", "analyst")
    code, out, err = cli("users", "list")
    today = dt.datetime.now(dt.UTC).date()
    # a test running across midnight UTC may see either day
    assert (code, err) == (0, "")
    lines = [line.rsplit("\t", 1) for line in out.splitlines()]
    assert [head for head, _ in lines] == [
        f"{ANN}\tanalyst\t-",
        "zed@example.com\tmanager\tacme-corp,initech",
    ]
    for _, created in lines:
        assert dt.date.fromisoformat(created) in (today, today - dt.timedelta(days=1))


def test_users_remove(cli: Cli, store: Engine) -> None:
    cli("users", "add", ANN, "--role", "manager", "--bucket", "acme-corp", "--bucket", "globex")
    cli("users", "add", "bob@example.com", "--role", "manager", "--bucket", "globex")
    assert cli("users", "remove", "ANN@example.com") == (0, f"person '{ANN}' removed\n", "")
    assert _people(store) == [("bob@example.com", Role.MANAGER, ("globex",))]
    assert _count(store, Assignment) == 1
    with Session(store) as session:
        assert person_principal(session, ANN) is None
    assert _events(store)[-1] == (OPERATOR, "person_removed", ANN, "role manager")


REQUIRED_BUCKET = "error: the following arguments are required: --bucket"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["users", "add", "ann.example.com", "--role", "manager"],
         "error: email must be an email address such as ann@example.com"),
        (["users", "remove", "ann@example@com"],
         "error: email must be an email address such as ann@example.com"),
        (["users", "add", "bob@example.com", "--role", "boss"],
         "error: --role must be one of: admin, analyst, manager"),
        (["users", "set-role", ANN, "--role", "Admin"],
         "error: --role must be one of: admin, analyst, manager"),
        (["users", "add", "bob@example.com"],
         "python -m usage users add: error: the following arguments are required: --role"),
        (["users", "add", "bob@example.com", "--role", "manager", "--bucket", "nope"],
         "error: bucket 'nope' is not a known client"),
        (["users", "add", "bob@example.com", "--role", "manager", "--bucket", "no/slash"],
         "error: bucket must be 1 to 64 characters of letters, digits, '-' or '_'"),
        (["users", "assign", ANN, "--bucket", "globex", "--bucket", "nope"],
         "error: bucket 'nope' is not a known client"),
        (["users", "unassign", ANN, "--bucket", "nope"],
         "error: bucket 'nope' is not a known client"),
        (["users", "assign", "bob@example.com", "--bucket", "globex"],
         "error: no person with email 'bob@example.com'"),
        (["users", "unassign", "bob@example.com", "--bucket", "globex"],
         "error: no person with email 'bob@example.com'"),
        (["users", "set-role", "bob@example.com", "--role", "admin"],
         "error: no person with email 'bob@example.com'"),
        (["users", "remove", "Bob@example.com"], "error: no person with email 'bob@example.com'"),
        (["users", "add", "ANN@example.com", "--role", "admin"],
         f"error: a person with email '{ANN}' exists already"),
        (["users", "assign", ANN], f"python -m usage users assign: {REQUIRED_BUCKET}"),
        (["users", "unassign", ANN], f"python -m usage users unassign: {REQUIRED_BUCKET}"),
        (["users", "promote", ANN], "python -m usage users: error: argument users_command: "
                                    "invalid choice: 'promote'"),
        (["audit", "--since", "2026-02-30"],
         "error: --since must be a real calendar date in YYYY-MM-DD format"),
        (["audit", "--until", "yesterday"], "error: --until must be a date in YYYY-MM-DD format"),
        (["audit", "--since", "2026-03-02", "--until", "2026-03-01"],
         "error: --since must be on or before --until"),
        (["audit", "--action", "login"],
         "error: --action must be one of: " + ", ".join(action.value for action in Action)),
        (["audit", "--limit", "0"], "error: --limit must be an integer from 1 to 1000"),
        (["audit", "--limit", "ten"], "error: --limit must be an integer from 1 to 1000"),
    ],
)  # fmt: skip
def test_bad_arguments_get_one_line_exit_2_and_change_nothing(
    cli: Cli, store: Engine, argv: list[str], message: str
) -> None:
    assert cli("users", "add", ANN, "--role", "manager", "--bucket", "acme-corp")[0] == 0
    before = (_people(store), _events(store))
    code, out, err = cli(*argv)
    assert (code, out) == (2, "")
    if err.startswith("python -m usage"):  # argparse's own message ends with its choices
        assert err.startswith(message)
        assert err.count("\n") == 1
    else:
        assert err == message + "\n"
    assert (_people(store), _events(store)) == before


def test_a_refused_users_add_stores_nothing(cli: Cli, store: Engine) -> None:
    argv = ["users", "add", ANN, "--role", "manager", "--bucket", "globex", "--bucket", "nope"]
    assert cli(*argv) == (2, "", "error: bucket 'nope' is not a known client\n")
    assert (_count(store, Person), _count(store, Assignment), _count(store, AuditEvent)) == (
        0,
        0,
        0,
    )


def test_a_database_failure_midway_leaves_nothing_half_written(
    cli: Cli, store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_record(session: Session, actor: Actor, action: Action, *args: str) -> None:
        if action is Action.BOOK_ASSIGNED:  # after the person and its first event are written
            raise SQLAlchemyError("disk full")
        record(session, actor, action, *args)

    monkeypatch.setattr("usage.people.record", failing_record)
    code, out, err = cli("users", "add", ANN, "--role", "manager", "--bucket", "globex")
    assert (code, out, err) == (1, "", "error: database error: disk full\n")
    assert (_count(store, Person), _count(store, Assignment), _count(store, AuditEvent)) == (
        0,
        0,
        0,
    )


def test_audit_prints_the_trail_newest_first(cli: Cli, store: Engine) -> None:
    assert cli("audit") == (0, "no events\n", "")
    with Session(store) as session, session.begin():
        session.execute(
            insert(AuditEvent),
            {"at": dt.datetime(2026, 3, 1, 8, 30, tzinfo=dt.UTC), "actor": "ann@example.com",
             "action": "sign_in_refused", "target": "ann@example.com",
             "detail": "not in the\tstore\nyet", "address": "203.0.113.9"},
        )  # fmt: skip
    cli("users", "add", ANN, "--role", "manager", "--bucket", "globex")
    code, out, err = cli("audit")
    assert (code, err) == (0, "")
    lines = [line.split("\t") for line in out.splitlines()]
    assert all(len(fields) == 6 for fields in lines)
    assert [fields[1:] for fields in lines] == [
        [OPERATOR, "book_assigned", ANN, "globex", "-"],
        [OPERATOR, "person_added", ANN, "role manager", "-"],
        # a tab or line break inside a field would break the line into columns
        ["ann@example.com", "sign_in_refused", ANN, "not in the store yet", "203.0.113.9"],
    ]
    assert lines[-1][0] == "2026-03-01T08:30:00Z"
    assert lines[0][0] >= lines[1][0] > "2026-03-01T08:30:00Z"


@pytest.mark.parametrize(
    ("options", "targets"),
    [
        ([], ["d", "c", "b", "a"]),
        (["--since", "2026-03-02"], ["d", "c", "b"]),
        (["--until", "2026-03-02"], ["c", "b", "a"]),
        (["--since", "2026-03-02", "--until", "2026-03-02"], ["c", "b"]),
        (["--action", "key_created"], ["d", "b"]),
        (["--action", "key_created", "--since", "2026-03-03"], ["d"]),
        (["--actor", "ANN"], ["c", "a"]),
        (["--limit", "1"], ["d"]),
        (["--since", "2026-04-01"], []),
    ],
)
def test_audit_filters(cli: Cli, store: Engine, options: list[str], targets: list[str]) -> None:
    rows = [
        ("a", dt.datetime(2026, 3, 1, 23, 59, 59, tzinfo=dt.UTC), "ann@example.com", "sign_in"),
        ("b", dt.datetime(2026, 3, 2, 0, 0, 0, tzinfo=dt.UTC), "cli:ops", "key_created"),
        ("c", dt.datetime(2026, 3, 2, 18, 0, 0, tzinfo=dt.UTC), "ann@example.com", "sign_in"),
        ("d", dt.datetime(2026, 3, 3, 0, 0, 1, tzinfo=dt.UTC), "cli:ops", "key_created"),
    ]
    with Session(store) as session, session.begin():
        session.execute(
            insert(AuditEvent),
            [{"at": at, "actor": actor, "action": action, "target": target, "detail": "",
              "address": ""} for target, at, actor, action in rows],
        )  # fmt: skip
    code, out, err = cli("audit", *options)
    assert (code, err) == (0, "")
    if not targets:
        assert out == "no events\n"
    else:
        assert [line.split("\t")[3] for line in out.splitlines()] == targets


def test_keys_create_and_revoke_are_in_the_audit_trail(cli: Cli, store: Engine) -> None:
    assert cli("keys", "create", "reporting", "--bucket", "globex", "--bucket", "acme-corp")[0] == 0
    assert cli("keys", "create", "ops", "--admin")[0] == 0
    assert cli("keys", "create", "ops", "--admin")[0] == 2  # refused: records nothing
    assert cli("keys", "revoke", "reporting")[0] == 0
    assert cli("keys", "revoke", "reporting")[0] == 0  # already revoked: nothing changes
    assert cli("keys", "revoke", "nobody")[0] == 2
    assert _events(store) == [
        (OPERATOR, "key_created", "reporting", "buckets acme-corp globex"),
        (OPERATOR, "key_created", "ops", "admin"),
        (OPERATOR, "key_revoked", "reporting", ""),
    ]
    code, out, _ = cli("audit", "--action", "key_revoked")
    assert code == 0
    assert out.split("\t")[1:] == [OPERATOR, "key_revoked", "reporting", "-", "-\n"]
