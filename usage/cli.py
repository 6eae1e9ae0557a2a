"""The operator's command line: ``python -m usage ...``.

Bad arguments get one line on stderr and exit code 2; a command that fails
runs in one transaction, so it leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from usage import audit, clients, demo, keys, partitions, people, plans
from usage.alerts import run_alerts
from usage.audit import AUDIT_DEFAULT_LIMIT, Action, cli_actor
from usage.commands import add_commands
from usage.db import for_writes, make_engine, open_engine, schema_is_current, upgrade_schema
from usage.errors import ConfigError, InvalidParams, UsageError
from usage.models import Role, utcnow
from usage.validation import (
    check_date_range,
    parse_bucket_id,
    parse_choice,
    parse_date,
    parse_email,
    parse_limit,
    parse_new_client,
    parse_role,
)

EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _cmd_db_upgrade(engine: Engine, _args: argparse.Namespace) -> int:
    upgrade_schema(engine)
    print("database schema is up to date")
    return 0


def _cmd_db_partition_snapshots(engine: Engine, args: argparse.Namespace) -> int:
    if engine.dialect.name == "postgresql" and not schema_is_current(engine):
        raise ConfigError("the database schema is not up to date: run `python -m usage db upgrade`")
    first = parse_date(args.first, "--from")
    with Session(engine) as session, session.begin():
        done = partitions.partition_snapshots(
            session,
            partitions.Period(args.by),
            today=utcnow().date(),
            ahead=args.ahead,
            first=first,
        )
    tables = ", ".join(partitions.TABLES)
    if done.converted:
        print(f"partitioned by {args.by}: {tables}")
    print(f"partitions added: {', '.join(done.added)}" if done.added else "no partition to add")
    if done.moved:
        print(f"snapshots moved out of the default partition: {done.moved}")
    print(f"partitions: {', '.join(done.periods)} and a default")
    return 0


def _cmd_demo(engine: Engine, _args: argparse.Namespace) -> int:
    with Session(for_writes(engine)) as session, session.begin():
        added = demo.load_demo(session, dt.date.today())
        changed = demo.demo_client_ids(session) if added else []
    run_alerts(engine, client_ids=changed)  # never raises: a failure is logged, the demo stands
    print(f"demo data loaded: {added} snapshots added")
    return 0


def _cmd_keys_create(engine: Engine, args: argparse.Namespace) -> int:
    with Session(engine) as session, session.begin():
        keys.check_key_buckets(session, args.bucket)
        key = keys.create_key(
            session, args.name, admin=args.admin, buckets=args.bucket, actor=cli_actor()
        )
    scope = "admin" if args.admin else "buckets: " + ", ".join(sorted(set(args.bucket)))
    print(f"key {args.name!r} created ({scope}); it is shown only this once:")
    print(key)
    return 0


def _cmd_keys_list(engine: Engine, _args: argparse.Namespace) -> int:
    with Session(engine) as session:
        rows = keys.list_keys(session)
    if not rows:
        print("no keys")
    for info in rows:
        scope = "admin" if info.is_admin else ",".join(sorted(info.buckets))
        state = "revoked" if info.revoked else "active"
        print(f"{info.name}\t{scope}\t{state}\t{info.created_at:%Y-%m-%d}")
    return 0


def _cmd_keys_revoke(engine: Engine, args: argparse.Namespace) -> int:
    with Session(engine) as session, session.begin():
        keys.revoke_key(session, args.name, actor=cli_actor())
    print(f"key {args.name!r} revoked")
    return 0


def _cmd_clients_add(engine: Engine, args: argparse.Namespace) -> int:
    with Session(engine) as session, session.begin():
        clients.add_client(
            session,
            parse_new_client(
                bucket_id=args.bucket_id,
                display_name=args.name,
                status=args.status,
                client_since=args.since,
                trial_end_date=args.trial_end,
            ),
        )
    print(f"client {args.bucket_id!r} added")
    return 0


def _cmd_clients_list(engine: Engine, _args: argparse.Namespace) -> int:
    with Session(engine) as session:
        page = clients.list_clients(session, status=None, limit=None, after=None)
    for client in page:
        print(f"{client['bucket_id']}\t{client['status']}\t{client['display_name']}")
    return 0


def _cmd_clients_set_plan(engine: Engine, args: argparse.Namespace) -> int:
    bucket_id = parse_bucket_id(args.bucket_id, "bucket")
    if args.clear:
        if args.records is not None or args.storage is not None or args.collection:
            raise InvalidParams("--clear takes no limits: give --clear alone, or the limits")
        with Session(engine) as session, session.begin():
            had = plans.clear_plan(session, bucket_id, actor=cli_actor())
        print(f"plan of {bucket_id!r} cleared" if had else f"{bucket_id!r} had no plan")
        return 0
    plan = plans.parse_plan(records=args.records, storage=args.storage, collections=args.collection)
    with Session(engine) as session, session.begin():
        plans.set_plan(session, bucket_id, plan, actor=cli_actor())
    print(f"plan of {bucket_id!r}: {plan.describe()}")
    return 0


def _cmd_clients_import_plans(engine: Engine, args: argparse.Namespace) -> int:
    try:
        with _csv_lines(args.file) as lines, Session(engine) as session, session.begin():
            result = plans.import_plans(session, lines, actor=cli_actor(), source=args.file)
    except InvalidParams as exc:
        raise InvalidParams(f"{args.file}: {exc.message}; nothing was imported") from None
    except UnicodeDecodeError:
        raise InvalidParams(f"{args.file}: not UTF-8 text; nothing was imported") from None
    print(f"plans imported from {args.file}: {result.set} set, {result.cleared} cleared")
    return 0


@contextmanager
def _csv_lines(path: str) -> Iterator[Iterable[str]]:
    """The lines of a CSV file (a spreadsheet's byte order mark dropped),
    or of standard input for ``-``."""
    if path == "-":
        yield sys.stdin
        return
    try:
        file = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InvalidParams(f"cannot read {path}: {exc.strerror}") from None
    with file:
        yield file


def _cmd_users_add(engine: Engine, args: argparse.Namespace) -> int:
    email = parse_email(args.email)
    role = parse_role(args.role, "--role")
    with Session(engine) as session, session.begin():
        people.add_person(session, email, role, args.bucket, actor=cli_actor())
    book = ", ".join(sorted(set(args.bucket))) or "empty"
    print(f"person {email!r} added ({role.value}; book: {book})")
    return 0


def _cmd_users_assign(engine: Engine, args: argparse.Namespace) -> int:
    email = parse_email(args.email)
    with Session(engine) as session, session.begin():
        added = people.assign(session, email, args.bucket, actor=cli_actor())
    changed = f"added {', '.join(added)}" if added else "nothing added, already assigned"
    print(f"book of {email!r}: {changed}")
    return 0


def _cmd_users_unassign(engine: Engine, args: argparse.Namespace) -> int:
    email = parse_email(args.email)
    with Session(engine) as session, session.begin():
        removed = people.unassign(session, email, args.bucket, actor=cli_actor())
    changed = f"removed {', '.join(removed)}" if removed else "nothing removed, not assigned"
    print(f"book of {email!r}: {changed}")
    return 0


def _cmd_users_set_role(engine: Engine, args: argparse.Namespace) -> int:
    email = parse_email(args.email)
    role = parse_role(args.role, "--role")
    with Session(engine) as session, session.begin():
        people.set_role(session, email, role, actor=cli_actor())
    print(f"role of {email!r} is {role.value}")
    return 0


def _cmd_users_list(engine: Engine, _args: argparse.Namespace) -> int:
    with Session(engine) as session:
        rows = people.list_people(session)
    if not rows:
        print("no people")
    for info in rows:
        book = ",".join(info.book) or "-"
        print(f"{info.email}\t{info.role.value}\t{book}\t{info.created_at:%Y-%m-%d}")
    return 0


def _cmd_users_remove(engine: Engine, args: argparse.Namespace) -> int:
    email = parse_email(args.email)
    with Session(engine) as session, session.begin():
        people.remove_person(session, email, actor=cli_actor())
    print(f"person {email!r} removed")
    return 0


def _one_line(text: str) -> str:
    """A field of a tab-separated line: no tab or line break inside."""
    return " ".join(text.split())


def _cmd_audit(engine: Engine, args: argparse.Namespace) -> int:
    since = parse_date(args.since, "--since")
    until = parse_date(args.until, "--until")
    check_date_range(since, until, "--since", "--until")
    action = parse_choice(args.action, [action.value for action in Action], "--action")
    limit = parse_limit(args.limit, AUDIT_DEFAULT_LIMIT, "--limit")
    with Session(engine) as session:
        events = audit.list_events(
            session, since=since, until=until, actor=args.actor, action=action, limit=limit
        )
    if not events:
        print("no events")
    for event in events:
        fields = ("at", "actor", "action", "target", "detail", "address")
        print("\t".join(_one_line(event[field]) or "-" for field in fields))
    return 0


Command = Callable[[Engine, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m usage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    db = commands.add_parser("db", help="manage the schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="create or upgrade the schema").set_defaults(
        run=_cmd_db_upgrade
    )
    partition = db_commands.add_parser(
        "partition-snapshots",
        help="PostgreSQL: partition the snapshots by date range, or add the partitions ahead"
        " (docs/scaling.md)",
    )
    partition.add_argument(
        "--by", choices=[period.value for period in partitions.Period], default="year"
    )
    partition.add_argument(
        "--ahead", type=int, default=1, help="periods after today's to have (default 1)"
    )
    partition.add_argument(
        "--from", dest="first", help="the first period's day (default: the oldest snapshot)"
    )
    partition.set_defaults(run=_cmd_db_partition_snapshots)

    commands.add_parser("demo", help="load the demo portfolio (idempotent)").set_defaults(
        run=_cmd_demo
    )

    key = commands.add_parser("keys", help="manage API keys")
    key_commands = key.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="make a key and print it once")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="may call everything")
    create.add_argument("--bucket", action="append", default=[], help="a bucket the key may read")
    create.set_defaults(run=_cmd_keys_create)
    key_commands.add_parser("list", help="list keys").set_defaults(run=_cmd_keys_list)
    revoke = key_commands.add_parser("revoke", help="revoke a key")
    revoke.add_argument("name")
    revoke.set_defaults(run=_cmd_keys_revoke)

    client = commands.add_parser("clients", help="manage clients")
    client_commands = client.add_subparsers(dest="clients_command", required=True)
    add = client_commands.add_parser("add", help="add a client")
    add.add_argument("bucket_id")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--status", default="active")
    add.add_argument("--since", help="client since (YYYY-MM-DD, default today)")
    add.add_argument("--trial-end", help="trial end date (YYYY-MM-DD)")
    add.set_defaults(run=_cmd_clients_add)
    client_commands.add_parser("list", help="list clients").set_defaults(run=_cmd_clients_list)
    _add_plan_commands(client_commands)
    _add_users_commands(commands)
    _add_audit_command(commands)
    add_commands(commands)  # collect, export, import
    return parser


def _add_plan_commands(client_commands: Any) -> None:
    plan = client_commands.add_parser(
        "set-plan", help="set a client's plan (its limits), replacing the one it had"
    )
    plan.add_argument("bucket_id")
    plan.add_argument("--records", help="the total records it may hold, e.g. 250000")
    plan.add_argument("--storage", help="the storage it may use, e.g. 50GB, 1.5TB, 500MB")
    plan.add_argument(
        "--collection",
        action="append",
        default=[],
        metavar="NAME=RECORDS",
        help="a collection's limit, e.g. person=100000 (repeatable)",
    )
    plan.add_argument("--clear", action="store_true", help="remove the client's plan")
    plan.set_defaults(run=_cmd_clients_set_plan)

    load = client_commands.add_parser(
        "import-plans", help="set plans from a CSV file, all or nothing (docs/insights.md)"
    )
    load.add_argument("file", help="bucket_id,records,storage,<collection>... ('-': stdin)")
    load.set_defaults(run=_cmd_clients_import_plans)


def _add_users_commands(commands: Any) -> None:
    user = commands.add_parser("users", help="manage the people who sign in, and their books")
    user_commands = user.add_subparsers(dest="users_command", required=True)
    roles = "/".join(role.value for role in Role)

    add = user_commands.add_parser("add", help="add a person")
    add.add_argument("email")
    add.add_argument("--role", required=True, help=roles)
    add.add_argument("--bucket", action="append", default=[], help="a client of their book")
    add.set_defaults(run=_cmd_users_add)

    assign = user_commands.add_parser("assign", help="add clients to a person's book")
    assign.add_argument("email")
    assign.add_argument("--bucket", action="append", required=True, help="a client")
    assign.set_defaults(run=_cmd_users_assign)

    unassign = user_commands.add_parser("unassign", help="take clients out of a person's book")
    unassign.add_argument("email")
    unassign.add_argument("--bucket", action="append", required=True, help="a client")
    unassign.set_defaults(run=_cmd_users_unassign)

    set_role = user_commands.add_parser("set-role", help="change a person's role")
    set_role.add_argument("email")
    set_role.add_argument("--role", required=True, help=roles)
    set_role.set_defaults(run=_cmd_users_set_role)

    user_commands.add_parser("list", help="list people").set_defaults(run=_cmd_users_list)

    remove = user_commands.add_parser("remove", help="remove a person and their book")
    remove.add_argument("email")
    remove.set_defaults(run=_cmd_users_remove)


def _add_audit_command(commands: Any) -> None:
    events = commands.add_parser("audit", help="show the audit trail, newest first")
    events.add_argument("--since", help="first day (YYYY-MM-DD, UTC)")
    events.add_argument("--until", help="last day (YYYY-MM-DD, UTC)")
    events.add_argument("--actor", help="text the actor contains (case-insensitive)")
    events.add_argument("--action", help=", ".join(action.value for action in Action))
    events.add_argument("--limit", help=f"at most this many events (default {AUDIT_DEFAULT_LIMIT})")
    events.set_defaults(run=_cmd_audit)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Command = args.run
    engine: Engine | None = None
    try:
        # `db upgrade` must reach a database whose schema is not current yet.
        engine = make_engine() if args.command == "db" else open_engine()
        return run(engine, args)
    except UsageError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if exc.status in (400, 404) else EXIT_FAILED
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OperationalError as exc:
        print(f"error: database unreachable: {exc.orig}".splitlines()[0], file=sys.stderr)
        return EXIT_FAILED
    except SQLAlchemyError as exc:
        print(f"error: database error: {exc}".splitlines()[0], file=sys.stderr)
        return EXIT_FAILED
    finally:
        if engine is not None:
            engine.dispose()
