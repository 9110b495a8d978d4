"""Start DiffRhythm Studio: ``python app.py [--host H] [--port P] [--share] [--auth USER:PASS] ...``.

Spaces runs this file with no arguments; every flag also has an environment variable (DESIGN.md).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from db import init_database
from diffrhythm_ui.config import Settings, add_app_arguments, settings_from_args
from diffrhythm_ui.service import LibraryService
from diffrhythm_ui.ui import create_app

logger = logging.getLogger("diffrhythm_ui.app")


def build(settings: Settings):  # noqa: ANN201 - gr.Blocks, imported lazily by the UI package
    """Open the database (creating or upgrading it) and build the UI over the services."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = init_database(settings.database_url)
    library = LibraryService(sessionmaker(bind=engine, expire_on_commit=False))
    return create_app(library, database=engine.dialect.name)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
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
    demo.queue(default_concurrency_limit=1, max_size=64)
    demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        share=settings.share,
        auth=settings.auth,
        allowed_paths=[str(settings.data_dir)],
        max_file_size="200mb",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
