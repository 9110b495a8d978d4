"""Settings of the app: environment variables, overridden by command-line flags (DESIGN.md "Configuration")."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from db.session import get_database_url

ENGINES = ("real", "tiny")


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    engine: str = "real"
    model_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    auth: tuple[str, str] | None = None
    queue_size: int = 64  # jobs waiting at most; more are refused with "queue full"
    broker_url: str | None = None  # set: jobs run on Celery workers (README "Running on several GPUs")

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {self.engine!r}")
        if self.queue_size < 1:
            raise ValueError(f"queue size must be at least 1; got {self.queue_size}")


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``USER:PASS`` -> (user, pass); the password may itself contain colons."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must look like USER:PASS, both non-empty")
    return user, password


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags the app and its workers share: where the library is and which model makes the songs."""
    parser.add_argument("--db-url", help="database URL (default: DATABASE_URL, else SQLite at DB_PATH)")
    parser.add_argument("--data-dir", help="where audio files are kept (default: DATA_DIR or ./data)")
    parser.add_argument("--engine", choices=ENGINES, help="model engine (default: DIFFRHYTHM_ENGINE or real)")
    parser.add_argument("--model-dir", help="local DiffRhythm checkpoints (default: DIFFRHYTHM_MODEL_DIR)")


def job_settings(args: argparse.Namespace) -> dict[str, Any]:
    """``add_job_arguments``'s values, each falling back to its environment variable."""
    model_dir = args.model_dir or os.environ.get("DIFFRHYTHM_MODEL_DIR")
    return {
        "database_url": args.db_url or get_database_url(),
        "data_dir": Path(args.data_dir or os.environ.get("DATA_DIR", "./data")).expanduser().resolve(),
        "engine": args.engine or os.environ.get("DIFFRHYTHM_ENGINE", "real"),
        "model_dir": Path(model_dir).expanduser().resolve() if model_dir else None,
    }


def add_app_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``python app.py``; each defaults to its environment variable."""
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also serve through a public Gradio share link")
    parser.add_argument("--auth", metavar="USER:PASS", default=os.environ.get("DIFFRHYTHM_AUTH"))
    add_job_arguments(parser)
    parser.add_argument(
        "--queue-size",
        type=int,
        default=int(os.environ.get("DIFFRHYTHM_QUEUE_SIZE", "64")),
        help="jobs that may wait in the queue; more are refused with 'queue full' (default 64)",
    )
    parser.add_argument(
        "--broker-url",
        default=os.environ.get("BROKER_URL") or None,
        help="run jobs on Celery workers through this broker, e.g. redis://127.0.0.1:6379/0 (default: BROKER_URL;"
        " unset: jobs run in the app)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings(
        **job_settings(args),
        host=args.host,
        port=args.port,
        share=args.share,
        auth=parse_auth(args.auth),
        queue_size=args.queue_size,
        broker_url=args.broker_url,
    )
