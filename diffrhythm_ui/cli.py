"""``python -m diffrhythm_ui``: the app's services from a shell.

``loop`` turns a track into a seamless loop of any duration (JSON report with ``--json``).
``generate`` makes songs from an LRC file and a style, with a progress bar and an optional JSON report.
``worker`` runs queued jobs for an app started with ``BROKER_URL`` (README "Running on several GPUs").
``db upgrade`` brings the schema to head, ``db current`` prints the database's revision and the head,
``db check`` exits 1 when the database is behind or differs from the models.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from db import (
    create_db_engine,
    current_revision,
    get_database_url,
    head_revision,
    init_db,
    schema_differences,
)


def _db_command(args: argparse.Namespace) -> int:
    url = args.db_url or get_database_url()
    engine = create_db_engine(url)
    try:
        if args.action == "upgrade":
            init_db(engine)
        current, head = current_revision(engine), head_revision()
        report: dict[str, object] = {"database": engine.url.render_as_string(hide_password=True)}
        report.update(current=current, head=head)
        status = 0
        if args.action == "check":
            with engine.connect() as connection:
                differences = [str(d) for d in schema_differences(connection)] if current else []
            report["differences"] = differences
            report["ok"] = current == head and not differences
            status = 0 if report["ok"] else 1
        print(json.dumps(report, indent=2))  # noqa: T201 - the command's output
        return status
    finally:
        engine.dispose()


def _generate_command(args: argparse.Namespace) -> int:
    from diffrhythm_ui.engine.command import run_generate

    return run_generate(args)


def _loop_command(args: argparse.Namespace) -> int:
    from diffrhythm_ui.loops.command import run_loop

    return run_loop(args)


def _worker_command(args: argparse.Namespace) -> int:
    from diffrhythm_ui.service.worker import run_worker

    return run_worker(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m diffrhythm_ui", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    db = commands.add_parser("db", help="database schema: upgrade, current, check")
    db.add_argument("action", choices=("upgrade", "current", "check"))
    db.add_argument("--db-url", help="database URL (default: DATABASE_URL, else SQLite at DB_PATH)")
    db.set_defaults(handler=_db_command)
    generate = commands.add_parser("generate", help="generate songs from timed lyrics and a style")
    from diffrhythm_ui.engine.command import add_generate_arguments

    add_generate_arguments(generate)
    generate.set_defaults(handler=_generate_command)
    loop = commands.add_parser("loop", help="make a seamless loop of a track at any duration")
    from diffrhythm_ui.loops.command import add_loop_arguments

    add_loop_arguments(loop)
    loop.set_defaults(handler=_loop_command)
    worker = commands.add_parser("worker", help="run queued songs and loops for an app started with BROKER_URL")
    from diffrhythm_ui.service.worker import add_worker_arguments

    add_worker_arguments(worker)
    worker.set_defaults(handler=_worker_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("jieba").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except Exception as error:  # one clear line for the operator, not a traceback
        logging.getLogger("diffrhythm_ui").error("%s: %s", type(error).__name__, error)
        return 2
