"""``python -m diffrhythm_ui worker``: a GPU worker for the app's queue (README "Running on several GPUs").

It shares the app's database and data folder, loads the model once, and runs one job at a time per process:
``--concurrency 1`` (the default) runs jobs in the worker process itself, loading the model at start; more
starts that many processes, each pinned to one of ``--gpus`` in turn and loading the model at its first job.
``SIGTERM`` lets the running job finish first; a worker killed mid-job loses nothing
(``diffrhythm_ui.service.queue``).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
from pathlib import Path

from celery.signals import worker_process_init
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import sessionmaker

from db import create_db_engine, init_database
from diffrhythm_ui.config import add_job_arguments, job_settings
from diffrhythm_ui.engine.engine import EngineSettings
from diffrhythm_ui.service.gpu import engine_for
from diffrhythm_ui.service.jobs import JobService
from diffrhythm_ui.service.lease import worker_name
from diffrhythm_ui.service.queue import QUEUE, TASK_NAME, make_celery, redacted
from diffrhythm_ui.service.storage import DataStore

logger = logging.getLogger(__name__)

DATABASE_RETRIES = 5  # a job whose database calls fail is tried again this often, waiting longer each time


class WorkerContext:
    """What one worker process needs, built on first use (after the fork, for ``--concurrency`` above 1)."""

    def __init__(self, database_url: str, data_dir: Path, engine: EngineSettings, gpus: list[str]) -> None:
        self.database_url, self.data_dir, self.engine, self.gpus = database_url, data_dir, engine, gpus
        self._jobs: JobService | None = None

    def pin_gpu(self, index: int) -> None:
        """Show this process only its GPU (before anything touches CUDA)."""
        if self.gpus:
            os.environ["CUDA_VISIBLE_DEVICES"] = self.gpus[index % len(self.gpus)]

    def preload(self) -> None:
        engine_for(self.engine).preload()

    def check_database(self) -> None:
        """Open the database once (bringing its schema to head, as the app does) and close it again, so that
        no connection is inherited by the job processes."""
        init_database(self.database_url).dispose()

    def jobs(self) -> JobService:
        if self._jobs is None:
            sessions = sessionmaker(bind=create_db_engine(self.database_url), expire_on_commit=False)
            self._jobs = JobService(sessions, self.engine, DataStore(self.data_dir), worker=worker_name())
        return self._jobs


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker-url", help="Celery broker, e.g. redis://127.0.0.1:6379/0 (default: BROKER_URL)")
    add_job_arguments(parser)  # the same database, data folder and model as the app's
    parser.add_argument("--concurrency", type=int, default=1, help="jobs at once, one process each (default 1)")
    parser.add_argument("--gpus", default="", help="comma-separated GPU indices for the processes, e.g. 0,1")
    parser.add_argument("--loglevel", default="INFO", help="Celery log level (default INFO)")


def run_worker(args: argparse.Namespace) -> int:
    broker = args.broker_url or os.environ.get("BROKER_URL", "").strip()
    if not broker:
        raise SystemExit("worker: set BROKER_URL (or --broker-url), the same broker the app uses")
    if args.concurrency < 1:
        raise SystemExit(f"worker: --concurrency must be at least 1; got {args.concurrency}")
    shared = job_settings(args)
    context = WorkerContext(
        database_url=shared["database_url"],
        data_dir=shared["data_dir"],
        engine=EngineSettings(kind=shared["engine"], model_dir=shared["model_dir"]),
        gpus=[g.strip() for g in args.gpus.split(",") if g.strip()],
    )
    celery = make_celery(broker)

    @celery.task(
        name=TASK_NAME,
        autoretry_for=(DBAPIError, PoolTimeout),
        max_retries=DATABASE_RETRIES,
        retry_backoff=True,
        retry_backoff_max=60,
    )
    def run(kind: str, row_id: str) -> str:
        outcome = context.jobs().run(kind, row_id)
        logger.info("%s %s: %s", kind, row_id, outcome)
        return outcome

    try:
        context.check_database()
    except OperationalError as error:
        logger.error("Cannot open the database %s: %s", context.database_url.split("@")[-1], error.orig)
        return 3
    solo = args.concurrency == 1
    if solo:
        context.pin_gpu(0)
        context.preload()
    else:
        # Each process loads the model at its first job: Celery kills a process that takes more than a few
        # seconds to start (worker_proc_alive_timeout), far less than loading DiffRhythm takes.
        @worker_process_init.connect(weak=False)
        def start_process(**_: object) -> None:
            from billiard.process import current_process

            context.pin_gpu(current_process().index)

    logger.info(
        "Worker for queue %r on %s: %s engine, %d process(es), data in %s",
        QUEUE,
        redacted(broker),
        context.engine.kind,
        args.concurrency,
        context.data_dir,
    )
    worker = celery.Worker(
        pool_cls="solo" if solo else "prefork",
        concurrency=args.concurrency,
        queues=[QUEUE],
        loglevel=args.loglevel,
        hostname=f"diffrhythm-{os.getpid()}@{socket.gethostname()}",
        without_gossip=True,
        without_mingle=True,
        optimization="fair",
    )
    worker.start()
    return worker.exitcode or 0
