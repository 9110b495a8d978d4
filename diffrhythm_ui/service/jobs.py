"""The job service: runs generations and loop renders, reports progress, and records everything.

Every job is a row before any work starts and its status follows the work (running, then completed,
failed or cancelled), so a page reload or another browser sees the same state. Files are written under the
job's own folder in ``DATA_DIR`` and appear only when complete. A crash leaves rows ``running``; on the next
start ``recover`` marks them ``interrupted`` and reports files and rows that do not match, deleting nothing.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import ACTIVE_STATUSES, Job, JobRepository, Loop, LoopRepository, Track, TrackRepository, new_id, utcnow
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
USER_ERRORS = (ValueError, EngineError, AudioError, LoopError, StorageError)


class ServiceError(RuntimeError):
    """A job could not be done; the message is meant for the musician."""


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

    def __init__(self, stages: dict[str, tuple[int, int]], save: Callable[[float], None], ui: OnProgress | None):
        self.stages, self.save, self.ui = stages, save, ui
        self.last_saved = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        low, high = self.stages.get(stage, (0, 100))
        percent = low + (high - low) * (done / total if total else 1.0)
        if self.ui is not None:
            self.ui(percent / 100, f"{STAGE_NAMES.get(stage, stage)} {done}/{total}")
        now = time.monotonic()
        if now - self.last_saved >= ROW_UPDATE_SECONDS or percent >= high:
            self.last_saved = now
            self.save(min(percent, 99.0))


class JobService:
    def __init__(self, session_factory: Callable[[], Session], engine: EngineSettings, store: DataStore) -> None:
        self._sessions = session_factory
        self.engine_settings = engine
        self.store = store
        self._cancels: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    # Rows

    def _update(self, repo: type[JobRepository] | type[LoopRepository], row_id: str, **fields: Any) -> None:
        with self._sessions() as session:
            repo(session).update(row_id, **fields)

    def _cancel_event(self, job_id: str) -> threading.Event:
        with self._lock:
            return self._cancels.setdefault(job_id, threading.Event())

    def cancel(self, job_id: str) -> bool:
        """Ask a running job or loop to stop between steps; False if it is not running here."""
        with self._lock:
            event = self._cancels.get(job_id)
        if event is None:
            return False
        event.set()
        return True

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
        form, request = self.validate_song(form)
        job_id = job_id or new_id()
        cancelled = self._cancel_event(job_id)
        with self._sessions() as session:
            JobRepository(session).create(
                job_id=job_id,
                job_type="generate",
                status="running",
                prompt=request.style_prompt,
                lyrics=request.lyrics,
                metadata=form.metadata(),
                model_id=self.model_id(request),
                seed=request.seed,
                steps=request.steps,
                cfg_strength=request.cfg_strength,
                duration=request.duration,
                style_audio_sha256=file_sha256(request.style_audio) if request.style_audio else None,
            )
        progress = _Progress(GENERATION_STAGES, lambda p: self._update(JobRepository, job_id, progress=p), on_progress)
        folder = self.store.job_dir(job_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            master, _ = generate_songs(
                self.engine_settings,
                request,
                folder / file_stem(form.title, "song"),
                "wav",
                form.tags(),
                progress,
                cancelled.is_set,
            )
            extra = self._extra_format(master, form)
            tracks = self._record_tracks(job_id, form, master, extra)
        except GenerationCancelled:
            self._finish_failed(job_id, folder, "cancelled", "Cancelled by the user.")
            raise ServiceError("Generation cancelled.") from None
        except USER_ERRORS as error:
            self._finish_failed(job_id, folder, "failed", str(error))
            raise ServiceError(str(error)) from error
        except OSError as error:  # disk full, read-only or vanished data folder
            message = disk_message(error)
            self._finish_failed(job_id, folder, "failed", message)
            raise ServiceError(message) from error
        except Exception as error:
            logger.exception("Generation %s failed", job_id)
            self._finish_failed(
                job_id, folder, "failed", f"Internal error ({type(error).__name__}); see the server log."
            )
            raise ServiceError("Generation failed because of an internal error; it is logged.") from error
        finally:
            with self._lock:
                self._cancels.pop(job_id, None)
        return GenerationView(job_id=job_id, seed=request.seed, tracks=tracks)

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

    def _record_tracks(
        self, job_id: str, form: SongForm, master: list[SongFile], extra: list[Path | None]
    ) -> list[TrackView]:
        views = []
        title = form.title or "Untitled"
        with self._sessions() as session:
            tracks, jobs = TrackRepository(session), JobRepository(session)
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
                views.append(TrackView(track.track_id, copy or song.path, song.duration, song.seed, name))
            jobs.update(job_id, status="completed", progress=100, file_manifest=manifest)
        return views

    def _finish_failed(self, job_id: str, folder: Path, status: str, message: str) -> None:
        self.store.delete_tree(folder)
        try:
            self._update(JobRepository, job_id, status=status, error=message)
        except Exception:  # the database may be what failed; the original error matters more
            logger.exception("Could not record %s of job %s", status, job_id)

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
        form = form.checked()
        validate_request(form.duration, form.fade_in, form.fade_out)
        try:
            track_id = self._track_source(form)
        except USER_ERRORS as error:
            raise ServiceError(str(error)) from error
        loop_id = loop_id or new_id()
        cancelled = self._cancel_event(loop_id)
        with self._sessions() as session:
            track = TrackRepository(session).get_by_id(track_id)
            source = self.store.resolve(track.file_path_wav)
            tags = {k: track.metadata_.get(k) for k in ("artist", "album", "genre")}
            tags["title"] = f"{track.metadata_.get('track_name') or 'Loop'} (loop)"
            LoopRepository(session).create(
                loop_id=loop_id,
                track_id=track_id,
                status="running",
                duration=form.duration,
                fade_in_out=bool(form.fade_in or form.fade_out),
                format=form.format,
            )
        stem = f"{file_stem(tags['title'], 'loop')}-{round(form.duration)}s-{loop_id[:8]}"
        output = self.store.job_dir(track.job_id) / "loops" / f"{stem}.{form.format}"
        output.parent.mkdir(parents=True, exist_ok=True)
        progress = _Progress(LOOP_STAGES, lambda p: self._update(LoopRepository, loop_id, progress=p), on_progress)
        try:
            report = make_loop_file(
                source,
                output,
                form.duration,
                fade_in_s=form.fade_in,
                fade_out_s=form.fade_out,
                fmt=form.format,
                tags=tags,
                progress=progress,
                cancel=cancelled.is_set,
            ).to_dict()
        except LoopCancelledError:
            self._update(LoopRepository, loop_id, status="cancelled", error="Cancelled by the user.")
            raise ServiceError("Loop cancelled.") from None
        except OSError as error:
            output.unlink(missing_ok=True)
            self._update(LoopRepository, loop_id, status="failed", error=disk_message(error))
            raise ServiceError(disk_message(error)) from error
        except USER_ERRORS as error:
            self._update(LoopRepository, loop_id, status="failed", error=str(error))
            raise ServiceError(str(error)) from error
        except Exception as error:
            logger.exception("Loop %s failed", loop_id)
            self._update(LoopRepository, loop_id, status="failed", error=f"Internal error ({type(error).__name__}).")
            raise ServiceError("The loop failed because of an internal error; it is logged.") from error
        finally:
            with self._lock:
                self._cancels.pop(loop_id, None)
        relative = self.store.relative(output)
        report["output"] = relative
        self._update(LoopRepository, loop_id, status="completed", progress=100, result_path=relative, report=report)
        return LoopView(loop_id=loop_id, track_id=track_id, path=output, report=report)

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
        and rows without a file are reported, never deleted."""
        report = RecoveryReport()
        message = (
            f"Interrupted: the app stopped while this was running (noticed at start-up {utcnow():%Y-%m-%d %H:%M} UTC)."
        )
        with self._sessions() as session:
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
        report.partial_files_removed = [self.store.relative(p) for p in self.store.remove_partial_files()]
        for field_name, items in report.__dict__.items():
            if items:
                logger.warning("Start-up check, %s: %s", field_name.replace("_", " "), ", ".join(items[:20]))
        return report


MAX_TITLE = 120


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
