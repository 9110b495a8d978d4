"""Scale-out: the app hands jobs to Celery workers through a broker (``BROKER_URL``) instead of running them.

A message carries only the kind and the row id; the row holds the request (``payload``), so a message can be
sent twice without harm: of two deliveries, one worker claims the row and the other finds it taken (``lease``).
Messages are acknowledged only after the job (``acks_late``), one at a time per worker process, so a worker that
dies loses nothing: the broker hands its message out again (``task_reject_on_worker_lost``, and Redis's
``visibility_timeout``), and the sweeper below re-sends any row whose worker stopped sending heartbeats.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from celery import Celery
from kombu.exceptions import OperationalError as BrokerUnreachable
from kombu.utils.url import maybe_sanitize_url

logger = logging.getLogger(__name__)

TASK_NAME = "diffrhythm_ui.run"
QUEUE = os.environ.get("DIFFRHYTHM_QUEUE", "diffrhythm")
# Longer than the longest job, so that a busy worker's message is not handed out again while it works (a
# duplicate would only find the row taken). Workers that die are noticed by heartbeat long before this.
VISIBILITY_TIMEOUT = float(os.environ.get("DIFFRHYTHM_VISIBILITY_TIMEOUT", "3600"))
SWEEP_SECONDS = float(os.environ.get("DIFFRHYTHM_SWEEP_SECONDS", "5"))
CONNECT_SECONDS = 5.0


class BrokerError(RuntimeError):
    """The broker cannot be reached or refused the message; the message is meant for the operator."""


def make_celery(broker_url: str) -> Celery:
    """The Celery app shared by the web app (which sends) and the workers (which run)."""
    app = Celery("diffrhythm_ui", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # results live in the database
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a worker reserves no more than the job it runs
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        worker_hijack_root_logger=False,
    )
    return app


class CeleryDispatcher:
    """The app's side: send (kind, row id) to the workers' queue, and re-send rows whose worker died."""

    def __init__(self, broker_url: str) -> None:
        self.celery = make_celery(broker_url)
        self._stop = threading.Event()

    def check(self) -> None:
        """Fail now, with the reason, when the broker cannot be reached."""
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=CONNECT_SECONDS)
        except (BrokerUnreachable, OSError) as error:
            raise BrokerError(f"cannot reach the broker at {redacted(self.celery.conf.broker_url)}: {error}") from error

    def send(self, kind: str, row_id: str) -> None:
        try:
            self.celery.send_task(TASK_NAME, args=[kind, row_id], queue=QUEUE, retry=True)
        except (BrokerUnreachable, OSError) as error:
            raise BrokerError(f"The job queue is unreachable ({error}); the job waits until it is back.") from error

    def start_sweeper(self, requeue_stale: Callable[[], list[tuple[str, str]]]) -> threading.Thread:
        """Every few seconds, hand rows whose worker stopped (no heartbeat), or whose message may be lost, to the
        workers again."""

        def sweep() -> None:
            while not self._stop.wait(SWEEP_SECONDS):
                try:
                    for kind, row_id in requeue_stale():
                        logger.warning("Sending %s %s to the workers again", kind, row_id)
                        self.send(kind, row_id)
                except Exception:  # the database or broker is down for a moment: the next sweep tries again
                    logger.warning("Sweeping stale jobs failed", exc_info=True)

        thread = threading.Thread(target=sweep, name="stale-job-sweeper", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()


def redacted(url: str) -> str:
    """A broker URL without its password, for logs and messages."""
    return maybe_sanitize_url(url)
