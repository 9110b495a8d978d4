"""A worker's hold on one job or loop row while it runs it, in this process or any other.

The row is the lock: ``claim`` is one conditional update, so of two workers handed the same job (a broker
redelivering it, the app re-queueing it) exactly one runs it. While it runs, a thread refreshes the row's
heartbeat every ``HEARTBEAT_SECONDS`` and picks up cancel requests made by any process; a row whose heartbeat is
older than ``STALE_SECONDS`` belongs to a worker that died, and may be claimed again, ``MAX_ATTEMPTS`` times in all.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy.orm import Session

from db import JobRepository, LoopRepository, WorkRepository, utcnow

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = float(os.environ.get("DIFFRHYTHM_HEARTBEAT_SECONDS", "2"))
STALE_SECONDS = float(os.environ.get("DIFFRHYTHM_STALE_SECONDS", "30"))
MAX_ATTEMPTS = int(os.environ.get("DIFFRHYTHM_MAX_ATTEMPTS", "3"))
REPOSITORIES: dict[str, type[WorkRepository]] = {"generate": JobRepository, "loop": LoopRepository}


def worker_name(role: str = "worker") -> str:
    """``role@host:pid``: who holds a row, as shown in the database and the logs."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}"


def stale_before() -> datetime:
    """Heartbeats older than this belong to workers that stopped."""
    return utcnow() - timedelta(seconds=STALE_SECONDS)


class Lease:
    """Holds a claimed row: heartbeats in a thread, ``cancelled()`` once anyone asked to stop or the row was lost.

    Used as a context manager around the work; ``held()`` is False once another worker took the row over (after
    this one missed heartbeats), and then nothing of this run may be recorded."""

    def __init__(self, sessions: Callable[[], Session], kind: str, row_id: str, worker: str) -> None:
        self._sessions, self.repository = sessions, REPOSITORIES[kind]
        self.row_id, self.worker = row_id, worker
        self._stop_requested = threading.Event()  # cancel asked for, here or elsewhere
        self._lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{row_id[:8]}", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._done.set()
        self._thread.join(timeout=HEARTBEAT_SECONDS + 5)

    def cancel(self) -> None:
        self._stop_requested.set()

    def cancelled(self) -> bool:
        return self._stop_requested.is_set() or self._lost.is_set()

    def held(self) -> bool:
        return not self._lost.is_set()

    def _beat(self) -> None:
        while not self._done.wait(HEARTBEAT_SECONDS):
            try:
                with self._sessions() as session:
                    cancel_requested = self.repository(session).heartbeat(self.row_id, self.worker)
            except Exception:  # a database hiccup: try again at the next beat; staleness is the real test
                logger.warning("Heartbeat of %s failed", self.row_id, exc_info=True)
                continue
            if cancel_requested is None:  # finished, deleted, or taken over by another worker
                logger.info("%s no longer holds %s", self.worker, self.row_id)
                self._lost.set()
                return
            if cancel_requested:
                self._stop_requested.set()
