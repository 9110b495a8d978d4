"""The job service: runs generations and loop renders, reports progress, and records everything.

Every job is a row before any work starts and its status follows the work (queued, running, then completed,
failed or cancelled), so a page reload or another browser sees the same state. Files are written under the
job's own folder in ``DATA_DIR`` and appear only when complete. Run in the app, a crash leaves rows ``running``;
on the next start ``recover`` marks them ``interrupted`` and reports files and rows that do not match, deleting
nothing. Run on workers (``BROKER_URL``), a dead worker's rows go back to the queue instead (``lease``).
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from db import (
    ACTIVE_STATUSES,
    Job,
    JobRepository,
    Loop,
    LoopRepository,
    Track,
    TrackRepository,
    WorkRepository,
    new_id,
    session_scope,
    utcnow,
)
from diffrhythm_ui.audio import AudioError, read_audio
from diffrhythm_ui.audio.export import write_audio_file
from diffrhythm_ui.engine.engine import EngineSettings
from diffrhythm_ui.engine.errors import EngineError, GenerationCancelled
from diffrhythm_ui.engine.lyrics import LyricsError, validate_lrc
from diffrhythm_ui.engine.pipeline import GenerationRequest
from diffrhythm_ui.engine.songs import SongFile
from diffrhythm_ui.engine.style import check_prompt, file_sha256
from diffrhythm_ui.loops.api import make_loop_file, validate_request
from diffrhythm_ui.loops.exceptions import LoopCancelledError, LoopError
from diffrhythm_ui.service.forms import LoopForm, SongForm
from diffrhythm_ui.service.gpu import engine_for, generate_songs
from diffrhythm_ui.service.lease import MAX_ATTEMPTS, REPOSITORIES, Lease, stale_before, worker_name
from diffrhythm_ui.service.storage import INPUTS_FOLDER as INPUTS
from diffrhythm_ui.service.storage import DataStore, StorageError

logger = logging.getLogger(__name__)

OnProgress = Callable[[float, str], None]  # (fraction 0-1, description)
# Share of the progress bar each stage fills: (start %, end %).
GENERATION_STAGES = {
    "loading": (0, 5),
    "style": (5, 8),
    "sampling": (8, 88),
    "decoding": (88, 97),
    "writing": (97, 100),
}
LOOP_STAGES = {"load": (0, 5), "analyse": (5, 30), "render": (30, 95), "write": (95, 100)}
STAGE_NAMES = {
    "loading": "Loading the model",
    "style": "Reading the style",
    "sampling": "Transformer pass",
    "decoding": "Decoding audio chunk",
    "writing": "Writing file",
    "load": "Reading the track",
    "analyse": "Finding the beat and the loop",
    "render": "Rendering",
    "write": "Writing the loop",
}
ROW_UPDATE_SECONDS = 0.5
WAIT_POLL_SECONDS = 0.25  # how often the app reads a worker's progress: at most ~0.75 s behind the work
USER_ERRORS = (ValueError, EngineError, AudioError, LoopError, StorageError)
CANCELLED_MESSAGE = "Cancelled by the user."
KIND_NAMES = {"generate": "generation", "loop": "loop"}


class ServiceError(RuntimeError):
    """A job could not be done; the message is meant for the musician."""


class LostLease(RuntimeError):
    """Another worker took the job over while this one was out of touch; this run must record nothing."""


def gave_up_message(attempts: int, last_worker: str | None) -> str:
    return (
        f"Stopped after {attempts} attempts: each time, the worker running it stopped without finishing (a crash, "
        f"running out of memory, or being shut down). Last worker: {last_worker or 'unknown'}."
    )


@dataclass(frozen=True)
class TrackView:
    track_id: str
    path: Path
    duration: float
    seed: int | None
    title: str


@dataclass(frozen=True)
class GenerationView:
    job_id: str
    seed: int
    tracks: list[TrackView]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LoopView:
    loop_id: str
    track_id: str
    path: Path
    report: dict[str, Any]


@dataclass
class RecoveryReport:
    interrupted_jobs: list[str] = field(default_factory=list)
    interrupted_loops: list[str] = field(default_factory=list)
    files_without_rows: list[str] = field(default_factory=list)
    rows_without_files: list[str] = field(default_factory=list)
    partial_files_removed: list[str] = field(default_factory=list)  # temporary files of interrupted writes


class _Progress:
    """Turns stage callbacks into one percentage for the UI and throttled progress updates of a row."""

    def __init__(
        self, stages: dict[str, tuple[int, int]], save: Callable[[float, str], None], ui: OnProgress | None
    ) -> None:
        self.stages, self.save, self.ui = stages, save, ui
        self.last_saved = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        low, high = self.stages.get(stage, (0, 100))
        percent = low + (high - low) * (done / total if total else 1.0)
        note = f"{STAGE_NAMES.get(stage, stage)} {done}/{total}"
        if self.ui is not None:
            self.ui(percent / 100, note)
        now = time.monotonic()
        if now - self.last_saved >= ROW_UPDATE_SECONDS or percent >= high:
            self.last_saved = now
            self.save(min(percent, 99.0), note)


class Dispatcher(Protocol):
    """Hands a queued row to a worker in another process (``diffrhythm_ui.service.queue``); raises if it cannot."""

    def send(self, kind: str, row_id: str) -> None: ...


class JobService:
    """Runs songs and loops: in this process by default, or through a ``Dispatcher`` on GPU workers.

    Either way a request becomes a ``queued`` row holding everything needed to run it (``payload``), and
    ``run(kind, row_id)`` does the work under a ``Lease``; with a dispatcher the app only waits on the row,
    relaying its progress, while a worker process calls ``run``."""

    def __init__(
        self,
        session_factory: Callable[[], Session],
        engine: EngineSettings,
        store: DataStore,
        dispatcher: Dispatcher | None = None,
        worker: str | None = None,
        concurrent: int = 1,
    ) -> None:
        self._sessions = session_factory
        self.engine_settings = engine
        self.store = store
        self.dispatcher = dispatcher
        self.worker = worker or worker_name("app")
        # Requests that may run (here) or wait on workers at once; more wait in the UI's queue.
        self.concurrent = concurrent
        self._leases: dict[str, Lease] = {}
        self._lock = threading.Lock()

    # Rows

    def _repository(self, kind: str, session: Session) -> WorkRepository:
        return REPOSITORIES[kind](session)

    def _update_held(self, kind: str, row_id: str, **fields: Any) -> bool:
        """Change a row this worker holds; False (and nothing changed) once another worker took it over."""
        with self._sessions() as session:
            return self._repository(kind, session).update_held(row_id, self.worker, **fields)

    def cancel(self, row_id: str) -> bool:
        """Ask a queued or running job or loop to stop (between steps, in whichever process runs it)."""
        with self._lock:
            lease = self._leases.get(row_id)
        if lease is not None:
            lease.cancel()
        with self._sessions() as session:
            for kind in REPOSITORIES:
                outcome = self._repository(kind, session).request_cancel(row_id, CANCELLED_MESSAGE)
                if outcome == "cancelled":
                    self._drop_unstarted(kind, row_id)
                if outcome is not None:
                    return True
        return lease is not None

    def model_id(self, request: GenerationRequest) -> str:
        return engine_for(self.engine_settings).model_id(request)

    # Generation

    def validate_song(self, form: SongForm) -> tuple[SongForm, GenerationRequest]:
        """Check everything before a row or file exists: ValueError lists what is wrong."""
        form = form.checked()
        request = form.to_request()
        request.validate()
        if request.style_prompt is not None:  # the engine checks it too, but only after the job's row exists
            check_prompt(request.style_prompt)
        if not form.instrumental:
            if not form.lyrics.strip():
                raise ValueError("Write some lyrics, or tick Instrumental.")
            problems = validate_lrc(form.lyrics, request.duration)
            if problems:
                raise LyricsError(problems)
        return form, request

    def generate(
        self, form: SongForm, on_progress: OnProgress | None = None, job_id: str | None = None
    ) -> GenerationView:
        """Queue a song and wait for it; ``ServiceError`` with the reason when it fails or is cancelled."""
        form, request = self.validate_song(form)
        job_id = job_id or new_id()
        # The seed is fixed now, so a retry on another worker makes the same song.
        form = replace(form, seed=request.seed)
        payload = form.to_payload()
        payload.update(
            style_audio=self._input_file(job_id, form.style_audio, "style"),
            edit_audio=self._input_file(job_id, form.edit_audio, "edit"),
        )
        with self._sessions() as session:
            JobRepository(session).create(
                job_id=job_id,
                job_type="generate",
                status="queued",
                prompt=request.style_prompt,
                lyrics=request.lyrics,
                metadata=form.metadata(),
                model_id=self.model_id(request),
                seed=request.seed,
                steps=request.steps,
                cfg_strength=request.cfg_strength,
                duration=request.duration,
                style_audio_sha256=file_sha256(request.style_audio) if request.style_audio else None,
                payload=payload,
            )
        self._start("generate", job_id, on_progress)
        with self._sessions() as session:
            job = self._completed("generate", session, job_id)
            tracks = [
                TrackView(
                    t.track_id,
                    self.store.resolve(t.file_path_mp3 or t.metadata_.get("file_path_flac") or t.file_path_wav),
                    t.duration or 0.0,
                    t.seed,
                    t.metadata_.get("track_name") or "Untitled",
                )
                for t in job.tracks
            ]
        return GenerationView(job_id=job_id, seed=request.seed, tracks=tracks)

    def _input_file(self, job_id: str, path: Path | None, name: str) -> str | None:
        """A file a job reads, as a path every worker can open: a library file as it is, anything else copied
        into the job's ``inputs`` folder (removed when the job ends)."""
        if path is None:
            return None
        try:
            return self.store.relative(Path(path))
        except StorageError:
            target = self.store.job_dir(job_id) / INPUTS / f"{name}{Path(path).suffix.lower()}"
            return self.store.relative(self.store.write_with(target, lambda tmp: shutil.copyfile(path, tmp)))

    def _run_song(self, job_id: str, lease: Lease, on_progress: OnProgress | None) -> None:
        save = partial(self._save_progress, "generate", job_id)
        progress = _Progress(GENERATION_STAGES, save, on_progress)
        folder = self.store.job_dir(job_id)
        written: list[Path] = []
        try:
            with self._sessions() as session:
                job = self._claimed_row("generate", session, job_id)
                payload, attempt = dict(job.payload), job.attempts
            form = SongForm.from_payload(payload, self.store.resolve)
            request = form.to_request()
            folder.mkdir(parents=True, exist_ok=True)
            master, _ = generate_songs(
                self.engine_settings,
                request,
                folder / (file_stem(form.title, "song") + attempt_suffix(attempt)),
                "wav",
                form.tags(),
                progress,
                lease.cancelled,
            )
            written = [song.path for song in master]
            extra = self._extra_format(master, form)
            written += [path for path in extra if path is not None]
            self._record_tracks(job_id, form, master, extra)
        except LostLease:
            # Another worker holds the job now (this one was out of touch) or it was deleted: this attempt's
            # files, named for it alone, go; the other attempt's stay.
            for path in written:
                path.unlink(missing_ok=True)
            logger.warning("Job %s was taken over by another worker or deleted; this run's results are dropped", job_id)
        except GenerationCancelled:
            self._finish_failed(job_id, lease, "cancelled", CANCELLED_MESSAGE)
        except USER_ERRORS as error:
            self._finish_failed(job_id, lease, "failed", str(error))
        except OSError as error:  # disk full, read-only or vanished data folder
            self._finish_failed(job_id, lease, "failed", disk_message(error))
        except Exception as error:
            logger.exception("Generation %s failed", job_id)
            self._finish_failed(
                job_id, lease, "failed", f"Internal error ({type(error).__name__}); see the server log."
            )

    def _claimed_row(self, kind: str, session: Session, row_id: str) -> Any:
        """The row this worker just claimed, with the payload it runs from."""
        row = self._repository(kind, session).get_by_id(row_id)
        if row is None:
            raise LostLease(row_id)  # deleted since it was claimed
        if not row.payload:
            raise ValueError(
                f"This {KIND_NAMES[kind]} was queued by an older version of the app and cannot be run again."
            )
        return row

    def _save_progress(self, kind: str, row_id: str, percent: float, note: str) -> None:
        try:
            self._update_held(kind, row_id, progress=percent, progress_note=note[:200])
        except Exception:  # progress is best effort; the work goes on
            logger.warning("Could not save the progress of %s", row_id, exc_info=True)

    def _extra_format(self, master: list[SongFile], form: SongForm) -> list[Path | None]:
        """MP3 or FLAC copies of the WAV masters when that format was asked for."""
        if form.format == "wav":
            return [None] * len(master)
        copies = []
        for song in master:
            audio, sr = read_audio(song.path)
            copies.append(
                write_audio_file(song.path.with_suffix(f".{form.format}"), audio, sr, form.format, form.tags())
            )
        return copies

    def _record_tracks(self, job_id: str, form: SongForm, master: list[SongFile], extra: list[Path | None]) -> None:
        """Tracks and the completed status in one transaction, only while this worker still holds the job."""
        title = form.title or "Untitled"
        with self._sessions() as session, session_scope(session):
            tracks, jobs = TrackRepository(session), JobRepository(session)
            if not jobs.holds(job_id, self.worker):
                raise LostLease(job_id)
            manifest: dict[str, Any] = {"tracks": []}
            for i, (song, copy) in enumerate(zip(master, extra, strict=True), start=1):
                name = title if len(master) == 1 else f"{title} (variant {i})"
                meta = {"track_name": name, **{k: v for k, v in form.tags().items() if v and k != "title"}}
                if copy is not None and copy.suffix == ".flac":
                    meta["file_path_flac"] = self.store.relative(copy)
                track = tracks.create(
                    job_id=job_id,
                    duration=song.duration,
                    seed=song.seed,
                    file_path_wav=self.store.relative(song.path),
                    file_path_mp3=self.store.relative(copy) if copy is not None and copy.suffix == ".mp3" else None,
                    metadata=meta,
                )
                manifest["tracks"].append({"track_id": track.track_id, "wav": track.file_path_wav, "copy": meta})
            jobs.update(job_id, status="completed", progress=100, progress_note=None, file_manifest=manifest)
        self.store.delete_tree(self.store.job_dir(job_id) / INPUTS)

    def _finish_failed(self, job_id: str, lease: Lease, status: str, message: str) -> None:
        """Record a failed or cancelled job and remove its files, unless another worker holds it now."""
        try:
            recorded = lease.held() and self._update_held("generate", job_id, status=status, error=message)
        except Exception:  # the database may be what failed; the original error matters more
            logger.exception("Could not record %s of job %s", status, job_id)
            return
        if recorded:
            self.store.delete_tree(self.store.job_dir(job_id))

    # Running, here or on a worker

    def _start(self, kind: str, row_id: str, on_progress: OnProgress | None) -> None:
        """Run a queued row here, or hand it to a worker and relay its progress until it ends."""
        if self.dispatcher is None:
            try:
                self.run(kind, row_id, on_progress)
            except Exception as error:  # the database failed under the job; it is logged, the musician told
                logger.exception("%s %s could not be run", kind, row_id)
                raise ServiceError(
                    f"The {KIND_NAMES[kind]} failed because of an internal error; it is logged."
                ) from error
            return
        try:
            self.dispatcher.send(kind, row_id)
        except Exception as error:  # the broker is down: say so now rather than leave the job queued
            try:
                with self._sessions() as session:
                    ended = self._repository(kind, session).end_unheld(
                        row_id, stale_before(), status="failed", error=str(error)
                    )
                if ended:
                    self._drop_unstarted(kind, row_id)
            except SQLAlchemyError:
                logger.exception("Could not record that %s %s was not queued", kind, row_id)
            raise ServiceError(str(error)) from error
        try:
            self._wait(kind, row_id, on_progress)
        except SQLAlchemyError as error:
            logger.exception("Lost the database while waiting for %s %s", kind, row_id)
            raise ServiceError(
                f"Lost touch with the database while the {KIND_NAMES[kind]} runs on a worker; it goes on, and the "
                "Library shows it when it ends."
            ) from error

    def _completed(self, kind: str, session: Session, row_id: str) -> Any:
        """The finished row; ``ServiceError`` saying why when it did not complete."""
        row = self._repository(kind, session).get_by_id(row_id)
        name = KIND_NAMES[kind]
        if row is None:
            raise ServiceError(f"The {name} was deleted before it finished.")
        if row.status == "cancelled":
            raise ServiceError(f"{name.capitalize()} cancelled.")
        if row.status != "completed":
            raise ServiceError(row.error or f"The {name} ended {row.status}.")
        return row

    def _wait(self, kind: str, row_id: str, on_progress: OnProgress | None) -> None:
        """Poll the row until it ends, passing its progress on (a worker saves it every half second)."""
        last: tuple[Any, ...] | None = None
        while True:
            with self._sessions() as session:
                repository = self._repository(kind, session)
                row = repository.get_by_id(row_id)
                if row is None or row.status not in ACTIVE_STATUSES:
                    return
                if row.status == "queued":
                    ahead = repository.queued_before(row_id)
                    waiting = f"{ahead} ahead in the queue" if ahead else "next in the queue"
                    state: tuple[Any, ...] = (0.0, f"Waiting for a GPU worker ({waiting})")
                else:
                    state = (row.progress / 100, row.progress_note or "Starting")
            if on_progress is not None and state != last:
                on_progress(*state)
                last = state
            time.sleep(WAIT_POLL_SECONDS)

    def run(self, kind: str, row_id: str, on_progress: OnProgress | None = None) -> str:
        """Do a queued song (``kind`` "generate") or loop ("loop") if this worker can claim it; what became of it.

        "done" after this worker ran it (completed, failed or cancelled: see the row); "skipped" when it is
        finished or held by a live worker elsewhere; "gone" when deleted; "cancelled" or "gave up" when it was
        cancelled before it started, or its workers died ``MAX_ATTEMPTS`` times."""
        with self._sessions() as session:
            repository = self._repository(kind, session)
            if not repository.claim(row_id, self.worker, stale_before=stale_before(), max_attempts=MAX_ATTEMPTS):
                return self._not_claimed(repository, kind, row_id)
        lease = Lease(self._sessions, kind, row_id, self.worker)
        with self._lock:
            self._leases[row_id] = lease
        try:
            with lease:
                (self._run_song if kind == "generate" else self._run_loop)(row_id, lease, on_progress)
        finally:
            with self._lock:
                self._leases.pop(row_id, None)
        return "done"

    def _drop_unstarted(self, kind: str, row_id: str) -> None:
        """Remove what a song ended without a worker left behind: its job folder (its input copies, and the
        files of attempts whose workers died). A loop's folder belongs to its track and stays."""
        if kind == "generate":
            self.store.delete_tree(self.store.job_dir(row_id))

    def _not_claimed(self, repository: WorkRepository, kind: str, row_id: str) -> str:
        row = repository.get_by_id(row_id)
        if row is None:
            return "gone"
        if row.status not in ACTIVE_STATUSES:
            return "skipped"
        if row.cancel_requested:
            fields: dict[str, Any] = {"status": "cancelled", "error": CANCELLED_MESSAGE}
            outcome = "cancelled"
        elif row.attempts >= MAX_ATTEMPTS:
            fields = {"status": "failed", "error": gave_up_message(row.attempts, row.worker)}
            outcome = "gave up"
        else:
            return "skipped"  # a live worker holds it
        if not repository.end_unheld(row_id, stale_before(), **fields):
            return "skipped"
        self._drop_unstarted(kind, row_id)
        logger.warning("%s %s: %s", KIND_NAMES[kind], row_id, fields["error"])
        return outcome

    def requeue_stale(self, resend_waiting_after: float | None = None) -> list[tuple[str, str]]:
        """The (kind, id) pairs to hand to workers again: rows whose worker stopped sending heartbeats, put back
        in the queue (or ended, when cancelled or out of attempts), and, with ``resend_waiting_after`` seconds,
        rows queued that long, whose message the broker may have lost (a duplicate only finds the row taken).
        The app runs this every few seconds."""
        requeued = []
        with self._sessions() as session:
            for kind in REPOSITORIES:
                repository = self._repository(kind, session)
                for row_id in repository.stale_ids(stale_before()):
                    if repository.requeue(row_id, stale_before(), MAX_ATTEMPTS):
                        requeued.append((kind, row_id))
                    else:
                        self._not_claimed(repository, kind, row_id)
                if resend_waiting_after is not None:
                    since = utcnow() - timedelta(seconds=resend_waiting_after)
                    requeued += [
                        (kind, row_id)
                        for row_id in repository.waiting_ids(since)
                        if repository.touch_waiting(row_id, since)
                    ]
        return requeued

    # Loops

    def _track_source(self, form: LoopForm) -> str:
        """The track to loop: a library track, or an upload recorded as a track of an "upload" job."""
        if form.track_id is not None:
            with self._sessions() as session:
                track = TrackRepository(session).get_by_id(form.track_id)
                if track is None or not track.file_path_wav:
                    raise ValueError("That track is no longer in the library.")
                return track.track_id
        upload = Path(form.upload or "")
        audio, sr = read_audio(upload)  # refuses non-audio before anything is stored
        job_id = new_id()
        target = self.store.job_dir(job_id) / f"upload{upload.suffix.lower()}"
        self.store.write_with(target, lambda tmp: shutil.copyfile(upload, tmp))
        with self._sessions() as session:
            JobRepository(session).create(
                job_id=job_id,
                job_type="upload",
                status="completed",
                progress=100,
                prompt=None,
                metadata={"title": upload.stem[:MAX_TITLE]},
            )
            track = TrackRepository(session).create(
                job_id=job_id,
                duration=audio.shape[1] / sr,
                file_path_wav=self.store.relative(target),
                metadata={"track_name": upload.stem[:MAX_TITLE], "uploaded": True},
            )
            return track.track_id

    def make_loop(self, form: LoopForm, on_progress: OnProgress | None = None, loop_id: str | None = None) -> LoopView:
        """Queue a loop of a library track or an upload and wait for it; ``ServiceError`` when it fails."""
        form = form.checked()
        validate_request(form.duration, form.fade_in, form.fade_out)
        try:
            track_id = self._track_source(form)
        except USER_ERRORS as error:
            raise ServiceError(str(error)) from error
        loop_id = loop_id or new_id()
        form = replace(form, track_id=track_id, upload=None)
        with self._sessions() as session:
            LoopRepository(session).create(
                loop_id=loop_id,
                track_id=track_id,
                status="queued",
                duration=form.duration,
                fade_in_out=bool(form.fade_in or form.fade_out),
                format=form.format,
                payload=form.to_payload(),
            )
        self._start("loop", loop_id, on_progress)
        with self._sessions() as session:
            loop = self._completed("loop", session, loop_id)
            return LoopView(loop_id, track_id, self.store.resolve(loop.result_path), dict(loop.report))

    def _run_loop(self, loop_id: str, lease: Lease, on_progress: OnProgress | None) -> None:
        save = partial(self._save_progress, "loop", loop_id)
        output: Path | None = None
        try:
            with self._sessions() as session:
                loop = self._claimed_row("loop", session, loop_id)
                form = LoopForm.from_payload(dict(loop.payload))
                attempt = loop.attempts
                track = loop.track
                source = self.store.resolve(track.file_path_wav)
                tags = {k: track.metadata_.get(k) for k in ("artist", "album", "genre")}
                tags["title"] = f"{track.metadata_.get('track_name') or 'Loop'} (loop)"
                folder = self.store.job_dir(track.job_id) / "loops"
            stem = f"{file_stem(tags['title'], 'loop')}-{round(form.duration)}s-{loop_id[:8]}{attempt_suffix(attempt)}"
            output = folder / f"{stem}.{form.format}"
            output.parent.mkdir(parents=True, exist_ok=True)
            report = make_loop_file(
                source,
                output,
                form.duration,
                fade_in_s=form.fade_in,
                fade_out_s=form.fade_out,
                fmt=form.format,
                tags=tags,
                progress=_Progress(LOOP_STAGES, save, on_progress),
                cancel=lease.cancelled,
            ).to_dict()
            report["output"] = self.store.relative(output)
            if not self._update_held(
                "loop",
                loop_id,
                status="completed",
                progress=100,
                progress_note=None,
                result_path=report["output"],
                report=report,
            ):
                output.unlink(missing_ok=True)  # named for this attempt alone
                logger.warning("Loop %s was taken over by another worker; this run's result is dropped", loop_id)
            return
        except LostLease:
            logger.warning("Loop %s was deleted while it was being made", loop_id)
            return
        except LoopCancelledError:
            status, message = "cancelled", CANCELLED_MESSAGE
        except OSError as error:
            status, message = "failed", disk_message(error)
        except USER_ERRORS as error:
            status, message = "failed", str(error)
        except Exception as error:
            logger.exception("Loop %s failed", loop_id)
            status, message = "failed", f"Internal error ({type(error).__name__}); see the server log."
        try:
            if lease.held() and self._update_held("loop", loop_id, status=status, error=message) and output:
                output.unlink(missing_ok=True)
        except Exception:
            logger.exception("Could not record %s of loop %s", status, loop_id)

    # Deleting

    def delete_job(self, job_id: str) -> bool:
        """Delete a job, its tracks and loops, and exactly the files they recorded (all under DATA_DIR)."""
        with self._sessions() as session:
            job = JobRepository(session).get_by_id(job_id)
            if job is None:
                return False
            paths = [p for t in job.tracks for p in _track_files(t)]
            paths += [lp.result_path for t in job.tracks for lp in t.loops if lp.result_path]
            JobRepository(session).delete(job_id)
        self._delete_files(paths)
        folder = self.store.job_dir(job_id)
        self.store.delete_tree(folder / INPUTS)
        if folder.is_dir() and not any(p.is_file() for p in folder.rglob("*")):
            self.store.delete_tree(folder)
        return True

    def delete_track(self, track_id: str) -> bool:
        with self._sessions() as session:
            track = TrackRepository(session).get_by_id(track_id)
            if track is None:
                return False
            paths = _track_files(track) + [lp.result_path for lp in track.loops if lp.result_path]
            TrackRepository(session).delete(track_id)
        self._delete_files(paths)
        return True

    def delete_loop(self, loop_id: str) -> bool:
        with self._sessions() as session:
            loop = LoopRepository(session).get_by_id(loop_id)
            if loop is None:
                return False
            paths = [loop.result_path] if loop.result_path else []
            LoopRepository(session).delete(loop_id)
        self._delete_files(paths)
        return True

    def _delete_files(self, paths: list[str]) -> None:
        for path in paths:
            self.store.delete_file(path)

    # Start-up

    def recover(self) -> RecoveryReport:
        """Mark work left running by a crash as interrupted; report files and rows that do not match.

        Only the hidden temporary files of writes that never finished are removed; finished files without a row
        and rows without a file are reported, never deleted. With workers (a dispatcher) the queued and running
        rows and the files being written belong to them, so both are left alone (temporary files an hour old
        are removed)."""
        report = RecoveryReport()
        message = (
            f"Interrupted: the app stopped while this was running (noticed at start-up {utcnow():%Y-%m-%d %H:%M} UTC)."
        )
        local = self.dispatcher is None
        with self._sessions() as session:
            if local:
                for job in session.scalars(select(Job).where(Job.status.in_(ACTIVE_STATUSES))):
                    job.status, job.error = "interrupted", message
                    report.interrupted_jobs.append(job.job_id)
                for loop in session.scalars(select(Loop).where(Loop.status.in_(ACTIVE_STATUSES))):
                    loop.status, loop.error = "interrupted", message
                    report.interrupted_loops.append(loop.loop_id)
                session.commit()
            recorded: set[str] = set()
            for track in session.scalars(select(Track)):
                for path in _track_files(track):
                    recorded.add(path)
                    if self.store.existing_file(path) is None:
                        report.rows_without_files.append(f"track {track.track_id}: {path}")
            for loop in session.scalars(select(Loop).where(Loop.result_path.is_not(None))):
                recorded.add(loop.result_path)
                if self.store.existing_file(loop.result_path) is None:
                    report.rows_without_files.append(f"loop {loop.loop_id}: {loop.result_path}")
        report.files_without_rows = [
            self.store.relative(p) for p in self.store.audio_files() if self.store.relative(p) not in recorded
        ]
        # Workers may be writing files right now: only their temporary files an hour old are left-overs.
        partial = self.store.remove_partial_files(older_than_s=0.0 if local else 3600.0)
        report.partial_files_removed = [self.store.relative(p) for p in partial]
        for field_name, items in report.__dict__.items():
            if items:
                logger.warning("Start-up check, %s: %s", field_name.replace("_", " "), ", ".join(items[:20]))
        return report


MAX_TITLE = 120


def attempt_suffix(attempt: int) -> str:
    """Files of a retried job get their own names, so that a worker which lost the job (and cleans up after
    itself) can never remove or overwrite the files of the attempt that replaced it."""
    return f"-attempt{attempt}" if attempt > 1 else ""


def disk_message(error: OSError) -> str:
    """What a musician (and the operator) should read when the data folder cannot be written."""
    reason = error.strerror or str(error)
    return f"Could not write the audio files to the data folder: {reason}. Free some space or check the folder."


def file_stem(title: str | None, fallback: str) -> str:
    """A safe, readable file name from a title: letters and digits of any script, dashes, at most 60 chars."""
    stem = re.sub(r"[\W_]+", "-", (title or "").lower()).strip("-")[:60].strip("-")
    return stem or fallback


def _track_files(track: Track) -> list[str]:
    paths = [track.file_path_wav, track.file_path_mp3, track.metadata_.get("file_path_flac")]
    return [p for p in paths if p]
