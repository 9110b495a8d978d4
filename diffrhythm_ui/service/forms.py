"""What the UI and the API send to the job service: one dataclass per kind of job, checked in one place."""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diffrhythm_ui.engine.pipeline import MAX_BATCH, GenerationRequest

SONG_FORMATS = ("wav", "mp3", "flac")
MAX_SEED = 2**31 - 1
MAX_TEXT_FIELD = 200
MAX_LOOP_SECONDS = 4 * 3600.0


def _text(value: str | None, name: str) -> str:
    value = " ".join((value or "").split())
    if len(value) > MAX_TEXT_FIELD:
        raise ValueError(f"{name} is {len(value)} characters; keep it under {MAX_TEXT_FIELD}")
    if any(ord(c) < 32 for c in value):
        raise ValueError(f"{name} contains control characters")
    return value


@dataclass(frozen=True)
class SongForm:
    """The Generate tab: lyrics, style, model settings and the tags to write into the files."""

    lyrics: str = ""
    style_prompt: str = ""
    style_audio: Path | None = None
    duration: float = 95.0
    steps: int = 32
    cfg_strength: float = 4.0
    seed: int | None = None  # None: a random seed, stored with the job
    variants: int = 1
    format: str = "wav"
    instrumental: bool = False
    title: str = ""
    artist: str = ""
    album: str = ""
    genre: str = ""
    mood: str = ""
    language: str = "en"
    edit_audio: Path | None = None  # edit mode: the song whose segments are regenerated
    edit_segments: tuple[tuple[float, float], ...] = ()

    def checked(self) -> SongForm:
        """A copy with text fields cleaned and every value range-checked; ValueError says what is wrong."""
        if self.format not in SONG_FORMATS:
            raise ValueError(f"format must be one of {', '.join(SONG_FORMATS)}; got {self.format!r}")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be 0-{MAX_SEED}; got {self.seed}")
        if not 1 <= self.variants <= MAX_BATCH:
            raise ValueError(f"variants must be 1-{MAX_BATCH}; got {self.variants}")
        for number in (self.duration, self.cfg_strength):
            if not math.isfinite(number):
                raise ValueError("numbers must be finite")
        fields = {name: _text(getattr(self, name), name) for name in ("title", "artist", "album", "genre", "mood")}
        if any(not (c.isprintable() or c in "\n\t") for c in self.style_prompt):
            raise ValueError("the style prompt contains control characters")
        return SongForm(**{**self.__dict__, **fields, "language": _text(self.language, "language") or "en"})

    def to_request(self, seed: int | None = None) -> GenerationRequest:
        prompt = " ".join(self.style_prompt.split())
        return GenerationRequest(
            lyrics="" if self.instrumental else self.lyrics,
            style_prompt=None if self.style_audio is not None else prompt,
            style_audio=self.style_audio,
            duration=float(self.duration),
            steps=int(self.steps),
            cfg_strength=float(self.cfg_strength),
            seed=seed if seed is not None else (self.seed if self.seed is not None else secrets.randbelow(MAX_SEED)),
            batch=int(self.variants),
            edit_audio=self.edit_audio,
            edit_segments=tuple(self.edit_segments),
        )

    def to_payload(self) -> dict[str, Any]:
        """The form as JSON, stored with its job for whichever worker runs it."""
        payload = dict(self.__dict__)
        for name in ("style_audio", "edit_audio"):
            payload[name] = str(payload[name]) if payload[name] is not None else None
        payload["edit_segments"] = [list(segment) for segment in self.edit_segments]
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any], resolve: Callable[[str], Path]) -> SongForm:
        """The form back from ``to_payload``; ``resolve`` turns stored file paths into this machine's paths."""
        values = dict(payload)
        for name in ("style_audio", "edit_audio"):
            values[name] = resolve(values[name]) if values.get(name) else None
        values["edit_segments"] = tuple(tuple(segment) for segment in values.get("edit_segments", ()))
        return cls(**values)

    def tags(self) -> dict[str, str]:
        return {"title": self.title, "artist": self.artist, "album": self.album, "genre": self.genre}

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {k: v for k, v in self.tags().items() if v}
        meta.update(mood=self.mood or None, language=self.language, format=self.format, instrumental=self.instrumental)
        if self.edit_segments:
            meta["edited_segments"] = [list(segment) for segment in self.edit_segments]
        return {k: v for k, v in meta.items() if v is not None}


@dataclass(frozen=True)
class LoopForm:
    """The Loops tab: a track from the library or an uploaded file, and the loop to render."""

    duration: float
    track_id: str | None = None
    upload: Path | None = None
    fade_in: float = 0.0
    fade_out: float = 0.0
    format: str = "wav"

    def checked(self) -> LoopForm:
        if (self.track_id is None) == (self.upload is None):
            raise ValueError("choose a track from the library or upload a file (one of them)")
        if self.format not in SONG_FORMATS:
            raise ValueError(f"format must be one of {', '.join(SONG_FORMATS)}; got {self.format!r}")
        for name in ("duration", "fade_in", "fade_out"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number")
        if not 0 < self.duration <= MAX_LOOP_SECONDS:
            raise ValueError(f"duration must be more than 0 and at most {MAX_LOOP_SECONDS:.0f} s; got {self.duration}")
        return self

    def to_payload(self) -> dict[str, Any]:
        """The loop's settings as JSON (the track must already be in the library: uploads are stored first)."""
        if self.track_id is None:
            raise ValueError("store the upload as a library track before queueing the loop")
        return {k: v for k, v in self.__dict__.items() if k != "upload"}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> LoopForm:
        return cls(**payload)
