"""Metadata tags written into WAV (ID3 chunk), FLAC (Vorbis comments) and MP3 (ID3) files with mutagen.

Loop points use the LOOPSTART / LOOPLENGTH convention (in samples) that game engines and players read;
in ID3 they are TXXX frames, in FLAC plain comments.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from mutagen import File as MutagenFile
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TALB, TCON, TIT2, TPE1, TXXX
from mutagen.wave import WAVE

from diffrhythm_ui.audio.exceptions import AudioWriteError

TEXT_TAGS = {"title": TIT2, "artist": TPE1, "album": TALB, "genre": TCON}
CUSTOM_TAGS = ("loopstart", "looplength", "loopend")


def _write_id3(tags: ID3, values: Mapping[str, str]) -> None:
    for key, value in values.items():
        if key in TEXT_TAGS:
            tags.add(TEXT_TAGS[key](encoding=3, text=[value]))
        else:
            tags.add(TXXX(encoding=3, desc=key.upper(), text=[value]))


def write_tags(path: str | os.PathLike[str], fmt: str, values: Mapping[str, object]) -> None:
    """Write ``values`` (title, artist, album, genre, loopstart, looplength, ...) into the file at ``path``."""
    clean = {key.lower(): str(value) for key, value in values.items() if value is not None and str(value) != ""}
    unknown = set(clean) - set(TEXT_TAGS) - set(CUSTOM_TAGS)
    if unknown:
        raise AudioWriteError(f"unknown tag(s): {', '.join(sorted(unknown))}")
    path = Path(path)
    if fmt == "flac":
        flac = FLAC(path)
        for key, value in clean.items():
            flac[key.upper()] = value
        flac.save()
    elif fmt == "wav":
        wave = WAVE(path)
        if wave.tags is None:
            wave.add_tags()
        _write_id3(wave.tags, clean)
        wave.save()
    elif fmt == "mp3":
        try:
            id3 = ID3(path)
        except Exception:
            id3 = ID3()
        _write_id3(id3, clean)
        id3.save(path)
    else:
        raise AudioWriteError(f"cannot tag format {fmt!r}")


def read_tags(path: str | os.PathLike[str]) -> dict[str, str]:
    """The known tags of a file, keys lower-case; missing tags are absent."""
    audio = MutagenFile(path)
    if audio is None or audio.tags is None:
        return {}
    found: dict[str, str] = {}
    if isinstance(audio.tags, ID3):
        for key, frame in TEXT_TAGS.items():
            if frame.__name__ in audio.tags:
                found[key] = str(audio.tags[frame.__name__].text[0])
        for frame in audio.tags.getall("TXXX"):
            if frame.desc.lower() in CUSTOM_TAGS:
                found[frame.desc.lower()] = str(frame.text[0])
    else:
        for key in (*TEXT_TAGS, *CUSTOM_TAGS):
            if key in audio.tags:
                found[key] = str(audio.tags[key][0])
    return found
