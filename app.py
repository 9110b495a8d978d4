"""Start DiffRhythm Studio: ``python app.py [--host H] [--port P] [--share] [--auth USER:PASS] ...``.

Spaces runs this file with no arguments; every flag also has an environment variable (DESIGN.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from db import init_database
from diffrhythm_ui.config import Settings, add_app_arguments, settings_from_args
from diffrhythm_ui.engine.engine import EngineSettings
from diffrhythm_ui.engine.errors import ModelFilesMissing
from diffrhythm_ui.service import DataStore, JobService, LibraryService
from diffrhythm_ui.service.gpu import engine_for
from diffrhythm_ui.service.queue import QUEUE, RESEND_SECONDS, BrokerError, CeleryDispatcher, redacted
from diffrhythm_ui.ui.app import CSS, Services, create_app

logger = logging.getLogger("diffrhythm_ui.app")
MAX_UPLOAD = "200mb"
TINY_NOTICE = (
    "**Tiny engine.** This app runs the tiny random-weight model (for tests and offline demos): songs have the "
    "right length and format but sound like noise. Start it with `--engine real` for DiffRhythm."
)


def engine_notice(engine: EngineSettings) -> str:
    """What the Generate tab should say about the model before the first song."""
    if engine.kind == "tiny":
        return TINY_NOTICE
    try:
        engine_for(engine).check_files(local_only=True)
    except ModelFilesMissing as error:
        return (
            "**The DiffRhythm model is not downloaded yet.** The first song downloads it from the Hugging Face "
            "Hub (several GB), which needs internet access. Offline, download the files elsewhere and start the "
            f"app with `--model-dir DIR`, or use `--engine tiny`.\n\n<details><summary>Details</summary>{error}"
            "</details>"
        )
    return ""


def keep_a_core_for_the_web_server() -> None:
    """On a CPU-only machine, let generation use all cores but one, so pages and the API stay responsive
    (unless OMP_NUM_THREADS already says how many threads to use)."""
    import torch

    if not torch.cuda.is_available() and (os.cpu_count() or 1) > 1 and not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads((os.cpu_count() or 2) - 1)


def build(settings: Settings):  # noqa: ANN201 - a gr.Blocks
    """Open the database (creating or upgrading it), recover from a crash, and build the UI."""
    store = DataStore(settings.data_dir)
    engine = init_database(settings.database_url)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    engine_settings = EngineSettings(kind=settings.engine, model_dir=settings.model_dir)
    if settings.broker_url:
        dispatcher = CeleryDispatcher(settings.broker_url)
        dispatcher.check()
        jobs = JobService(sessions, engine_settings, store, dispatcher, concurrent=settings.queue_size)
        dispatcher.start_sweeper(lambda: jobs.requeue_stale(resend_waiting_after=RESEND_SECONDS))
        runs_on = f"on GPU workers (queue `{QUEUE}` at `{redacted(settings.broker_url)}`)"
    else:
        jobs = JobService(sessions, engine_settings, store)
        runs_on = Services.runs_on
    jobs.recover()
    services = Services(
        jobs=jobs,
        library=LibraryService(sessions, store),
        database=engine.dialect.name,
        engine_notice=engine_notice(engine_settings),
        runs_on=runs_on,
    )
    return create_app(services)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("jieba").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description="DiffRhythm Studio web app")
    add_app_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    try:
        demo = build(settings)
    except OperationalError as error:
        logger.error("Cannot open the database %s: %s", settings.database_url.split("@")[-1], error.orig)
        return 3
    except BrokerError as error:
        logger.error("Cannot start with workers: %s", error)
        return 5
    except OSError as error:
        logger.error("Cannot use the data folder %s: %s", settings.data_dir, error)
        return 4
    if not settings.broker_url:
        keep_a_core_for_the_web_server()
    demo.queue(default_concurrency_limit=1, max_size=settings.queue_size)
    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        share=settings.share,
        auth=settings.auth,
        allowed_paths=[str(settings.data_dir)],
        max_file_size=MAX_UPLOAD,
        css=CSS,
        app_kwargs={"openapi_url": None},  # FastAPI's own schema would skip --auth; Gradio's guarded one stays
        max_threads=max(40, 2 * settings.queue_size + 8),  # with workers, each waiting request holds a thread
        prevent_thread_lock=True,
    )
    if settings.share and not demo.share_url:
        logger.error(
            "No public share link could be made (the machine cannot reach Gradio's share servers); "
            "the app is still available at %s",
            demo.local_url,
        )
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
