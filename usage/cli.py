"""The operator's command line: ``python -m usage ...``.

Bad arguments get one line on stderr and exit code 2; a command that fails
runs in one transaction, so it leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from usage import clients, demo, keys
from usage.commands import add_commands
from usage.db import make_engine, open_engine, upgrade_schema
from usage.errors import ConfigError, UsageError
from usage.validation import parse_new_client

EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _cmd_db_upgrade(engine: Engine, _args: argparse.Namespace) -> int:
    upgrade_schema(engine)
    print("database schema is up to date")
    return 0


def _cmd_demo(engine: Engine, _args: argparse.Namespace) -> int:
    with Session(engine) as session, session.begin():
        added = demo.load_demo(session, dt.date.today())
    print(f"demo data loaded: {added} snapshots added")
    return 0


def _cmd_keys_create(engine: Engine, args: argparse.Namespace) -> int:
    with Session(engine) as session, session.begin():
        key = keys.create_key(session, args.name, admin=args.admin, buckets=args.bucket)
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
        keys.revoke_key(session, args.name)
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


Command = Callable[[Engine, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m usage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    db = commands.add_parser("db", help="manage the schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="create or upgrade the schema").set_defaults(
        run=_cmd_db_upgrade
    )

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
    add_commands(commands)  # collect, export, import
    return parser


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
