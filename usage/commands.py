"""The command line's ``collect``, ``export`` and ``import`` (registered by usage.cli).

``collect`` exits 1 when any client failed; the others, like every command,
exit 2 on a bad argument or line and leave nothing half-written.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from usage.alerts import run_alerts
from usage.collect.claims import ClaimEach
from usage.collect.config import load_config
from usage.collect.progress import ProgressBar
from usage.collect.runner import collect, select_targets
from usage.collect.runs import StartedBy
from usage.collect.shards import parse_shard
from usage.db import for_writes
from usage.errors import InvalidParams
from usage.models import utcnow
from usage.transfer import export_snapshots, import_snapshots
from usage.validation import check_date_range, parse_bucket_id, parse_date

EXIT_FAILED = 1


def add_commands(commands: Any) -> None:
    """Add the three commands to the ``python -m usage`` subparsers."""
    run = commands.add_parser("collect", help="compute and store snapshots from S3 and records")
    run.add_argument(
        "--bucket", action="append", help="a client to collect (default: active and trial ones)"
    )
    run.add_argument("--date", help="the snapshot date (YYYY-MM-DD, default today in UTC)")
    run.add_argument(
        "--shard",
        metavar="K/N",
        help="only the clients of shard K of N, by a hash of their bucket_id (K from 1)",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="also the clients collected for that date less than 5 minutes ago",
    )
    run.set_defaults(run=cmd_collect)

    export = commands.add_parser("export", help="write snapshots as JSON Lines")
    export.add_argument("--bucket", action="append", help="a client to export (default: all)")
    export.add_argument("--start", help="first date (YYYY-MM-DD)")
    export.add_argument("--end", help="last date (YYYY-MM-DD)")
    export.add_argument("-o", "--output", help="the file to write (default: standard output)")
    export.set_defaults(run=cmd_export)

    load = commands.add_parser("import", help="load snapshots from JSON Lines, all or nothing")
    load.add_argument("file", help="a file written by export ('-' for standard input)")
    load.add_argument(
        "--create-clients",
        action="store_true",
        help="create a client the database does not know (else: refused)",
    )
    load.set_defaults(run=cmd_import)


def _bucket_ids(raw: list[str] | None) -> list[str] | None:
    return None if raw is None else [parse_bucket_id(value, "--bucket") for value in raw]


def cmd_collect(engine: Engine, args: argparse.Namespace) -> int:
    config = load_config()  # first: a wrong setting stops us before any work
    now = utcnow()
    day = parse_date(args.date, "--date") or now.date()
    if day > now.date():
        raise InvalidParams(f"--date must not be after today ({now.date().isoformat()})")
    shard = parse_shard(args.shard)
    with Session(engine) as session:
        targets = select_targets(session, _bucket_ids(args.bucket))
    if shard is not None:  # of the named clients, those of the shard
        targets = [target for target in targets if shard.holds(target.bucket_id)]
    # Each client is claimed as its turn comes: one that another run holds
    # (another machine, an overlapping shard) is skipped, not collected twice.
    claiming = ClaimEach(StartedBy.CLI, force=args.force)
    progress = ProgressBar(len(targets), sys.stderr)
    try:
        summary = collect(engine, config, targets, day, claiming=claiming, on_done=progress.advance)
    finally:
        progress.close()
    for failure in summary.failures:
        print(f"failed: {failure.bucket_id}: {failure.error}", file=sys.stderr)
    for skip in summary.skipped:
        print(f"skipped: {skip.bucket_id}: {skip.skipped}", file=sys.stderr)
    skipped = f" {len(summary.skipped)} skipped," if summary.skipped else ""
    of_shard = f" (shard {shard})" if shard is not None else ""
    print(
        f"collected {day.isoformat()}{of_shard}: {summary.processed} processed,"
        f" {summary.failed} failed,{skipped} in {summary.duration_seconds:.1f} s"
    )
    return EXIT_FAILED if summary.failed else 0


def cmd_export(engine: Engine, args: argparse.Namespace) -> int:
    start = parse_date(args.start, "--start")
    end = parse_date(args.end, "--end")
    check_date_range(start, end, "--start", "--end")
    bucket_ids = _bucket_ids(args.bucket)
    with Session(_consistent(engine)) as session, session.begin(), _output(args.output) as out:
        written = export_snapshots(session, out, bucket_ids=bucket_ids, start=start, end=end)
    where = args.output or "standard output"
    print(f"exported {written} snapshots to {where}", file=sys.stderr)
    return 0


def _consistent(engine: Engine) -> Engine:
    """One snapshot of the whole store for the export's many reads: SQLite's
    read transaction is one already; PostgreSQL needs REPEATABLE READ (under
    READ COMMITTED each statement sees the latest commit, so a collection
    running meanwhile could tear a snapshot in two)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ")
    return engine


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    """Standard output, or a file that appears whole or not at all; a file
    that cannot be written (no such folder, a folder, a full disk) is an
    ``InvalidParams`` naming it."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            yield out
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise _cannot_write(path, exc) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _cannot_write(path: str, error: OSError) -> InvalidParams:
    return InvalidParams(f"cannot write {path}: {error.strerror}")


def cmd_import(engine: Engine, args: argparse.Namespace) -> int:
    try:
        with (
            _input(args.file) as binary,
            Session(for_writes(engine)) as session,
            session.begin(),
        ):
            summary = import_snapshots(
                session, _utf8_lines(binary), create_clients=args.create_clients
            )
    except InvalidParams as exc:
        raise InvalidParams(f"{args.file}: {exc.message}; nothing was imported") from None
    # Never raises: an alert failure is logged, the import stands.
    run_alerts(engine, client_ids=summary.client_ids)
    if not summary.snapshots:  # not an error: an export of an empty store is an empty file
        none = "holds no snapshots (it is empty or has only blank lines)"
        print(f"{args.file} {none}: nothing imported")
        return 0
    created = ""
    if summary.created_clients:
        created = f"; created {len(summary.created_clients)} clients: " + ", ".join(
            summary.created_clients
        )
    print(f"imported {summary.snapshots} snapshots from {args.file}{created}")
    return 0


@contextmanager
def _input(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        file = open(path, "rb")  # noqa: SIM115 - closed below, errors inside are not ours
    except OSError as exc:
        raise InvalidParams(f"cannot read {path}: {exc.strerror}") from None
    with file:
        yield file


def _utf8_lines(binary: BinaryIO) -> Iterator[str]:
    for number, line in enumerate(binary, start=1):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidParams(f"line {number}: not UTF-8 text") from None
