"""Scale-out: the app hands jobs to Celery workers through a broker (``BROKER_URL``) instead of running them.

A message carries only the kind and the row id; the row holds the request (``payload``), so a message can be
sent twice without harm: of two deliveries, one worker claims the row and the other finds it taken (``lease``).
Messages are acknowledged only after the job (``acks_late``), one at a time per worker process, so a worker that
dies loses nothing: the broker hands its message out again (Redis's ``visibility_timeout``; at once with
``task_reject_on_worker_lost`` when a ``--concurrency`` child dies), and, sooner, the sweeper below re-sends any
row whose worker stopped sending heartbeats.
"""

from __future__ import annotations

import logging
import os
import threading
import time
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
# A job still queued after this long is sent again, in case its message was lost (a broker restarted without
# its data, a send that failed); a duplicate only finds the row taken.
RESEND_SECONDS = float(os.environ.get("DIFFRHYTHM_RESEND_SECONDS", "600"))
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
            raise BrokerError(f"The job queue is unreachable ({error}).") from error

    def start_sweeper(self, requeue_stale: Callable[[], list[tuple[str, str]]]) -> None:
        """Every few seconds, hand rows whose worker stopped (no heartbeat), or whose message may be lost, to the
        workers again. A row that cannot be sent now is sent again a ``RESEND_SECONDS`` period later."""

        def sweep() -> None:
            while True:
                time.sleep(SWEEP_SECONDS)
                try:
                    rows = requeue_stale()
                except Exception:  # the database is down for a moment: the next sweep tries again
                    logger.warning("Looking for stale jobs failed", exc_info=True)
                    continue
                for kind, row_id in rows:
                    logger.warning("Sending %s %s to the workers again", kind, row_id)
                    try:
                        self.send(kind, row_id)
                    except BrokerError:
                        logger.warning("Could not send %s %s; it is sent again later", kind, row_id, exc_info=True)

        threading.Thread(target=sweep, name="stale-job-sweeper", daemon=True).start()


def redacted(url: str) -> str:
    """A broker URL without its password, for logs and messages."""
    return maybe_sanitize_url(url)
