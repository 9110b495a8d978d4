"""The whole engine on the tiny model (CPU): reproducibility, variants, progress, cancel, edit, files, errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diffrhythm_ui.engine.engine import Engine, EngineSettings
from diffrhythm_ui.engine.errors import GenerationCancelled, ModelFilesMissing, StyleError
from diffrhythm_ui.engine.lyrics import LyricsError
from diffrhythm_ui.engine.pipeline import FRAMES_PER_SECOND, GenerationRequest, sampling_passes
from diffrhythm_ui.engine.vae import HOP, SAMPLE_RATE, decode_chunk_count

ROOT = Path(__file__).resolve().parent.parent
LYRICS = "[00:01.00]Neon lights are calling me\n[00:05.50]我们一起唱\n[00:09.00]Into the night, 1999\n"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-cache")


@pytest.fixture(scope="module")
def engine(cache_dir: Path) -> Engine:
    return Engine(EngineSettings(kind="tiny", cache_dir=cache_dir, device="cpu"))


def request(**overrides: object) -> GenerationRequest:
    fields = dict(lyrics=LYRICS, style_prompt="dreamy synthwave, female vocals", duration=12.0, steps=3, seed=11)
    return GenerationRequest(**{**fields, **overrides})


def test_same_seed_same_audio_and_different_seeds_differ(engine: Engine) -> None:
    first = engine.generate(request()).songs[0]
    again = engine.generate(request()).songs[0]
    other = engine.generate(request(seed=12)).songs[0]
    assert first.audio.shape == (2, 12 * SAMPLE_RATE) and first.audio.dtype == np.float32
    assert np.array_equal(first.audio, again.audio)
    assert not np.allclose(first.audio, other.audio)
    assert np.isclose(np.abs(first.audio).max(), 10 ** (-1 / 20), atol=1e-3)  # peak -1 dBFS


def test_batch_variants_use_consecutive_seeds(engine: Engine) -> None:
    batch = engine.generate(request(batch=2, seed=40)).songs
    single = engine.generate(request(seed=41)).songs[0]
    assert [s.seed for s in batch] == [40, 41]
    assert not np.allclose(batch[0].audio, batch[1].audio)
    np.testing.assert_allclose(batch[1].latents, single.latents, atol=1e-4)


def test_progress_counts_every_pass_and_chunk(engine: Engine) -> None:
    calls: list[tuple[str, int, int]] = []
    req = request(batch=2, steps=4, cfg_strength=3.0)
    engine.generate(req, progress=lambda *call: calls.append(call))
    for stage in ("style", "sampling", "decoding"):
        seen = [c for c in calls if c[0] == stage]
        totals = {c[2] for c in seen}
        assert len(totals) == 1, stage
        (total,) = totals
        assert [c[1] for c in seen if c[1] > 0] == list(range(1, total + 1)), stage
    assert {c[2] for c in calls if c[0] == "sampling"} == {sampling_passes(req)} == {6}
    assert {c[2] for c in calls if c[0] == "decoding"} == {2 * decode_chunk_count(2048)}
    unguided: list[tuple[str, int, int]] = []
    engine.generate(request(steps=4, cfg_strength=0), progress=lambda *call: unguided.append(call))
    assert max(c[1] for c in unguided if c[0] == "sampling") == 3


def test_cancel_stops_between_passes(engine: Engine) -> None:
    passes: list[int] = []
    with pytest.raises(GenerationCancelled, match="after 2 of 8"):
        engine.generate(
            request(steps=5),
            progress=lambda stage, done, total: passes.append(done) if stage == "sampling" else None,
            cancel=lambda: len(passes) >= 2,
        )
    assert passes == [1, 2]


def test_instrumental_and_full_model_length(engine: Engine) -> None:
    result = engine.generate(request(lyrics="", duration=100.0, steps=2, cfg_strength=0))
    song = result.songs[0]
    assert song.audio.shape[1] == 100 * SAMPLE_RATE
    assert song.latents.shape == (math.ceil(100 * FRAMES_PER_SECOND), 64)
    assert engine.model_id(request(duration=100.0)).startswith("ASLP-lab/DiffRhythm-1_2-full")


def test_edit_mode_keeps_the_untouched_segments(engine: Engine, tmp_path: Path) -> None:
    original = engine.generate(request(duration=95.0, steps=2)).songs[0]
    song_path = tmp_path / "song.wav"
    sf.write(song_path, original.audio.T, SAMPLE_RATE)
    edits = [
        engine.generate(request(duration=95.0, steps=2, seed=seed, edit_audio=song_path, edit_segments=((20.0, 40.0),)))
        for seed in (1, 2)
    ]
    first, second = (e.songs[0] for e in edits)
    start, end = int(20 * FRAMES_PER_SECOND), int(40 * FRAMES_PER_SECOND)
    keep = np.r_[0:start, end:2048]
    np.testing.assert_array_equal(first.latents[keep], second.latents[keep])
    assert not np.allclose(first.latents[start:end], second.latents[start:end])
    # Audio away from the segment edges (one frame of decoder context) is the same up to the final peak gain.
    before = slice(0, (start - 1) * HOP)
    a, b = first.audio[:, before], second.audio[:, before]
    np.testing.assert_allclose(a * (np.abs(b).max() / np.abs(a).max()), b, atol=1e-4)


def test_style_from_reference_audio(engine: Engine, tmp_path: Path) -> None:
    t = np.arange(12 * 24000) / 24000
    sf.write(tmp_path / "ref.wav", 0.3 * np.sin(2 * np.pi * 220 * t), 24000)
    song = engine.generate(request(style_prompt=None, style_audio=tmp_path / "ref.wav")).songs[0]
    assert song.audio.shape[1] == 12 * SAMPLE_RATE
    sf.write(tmp_path / "short.wav", 0.3 * np.sin(2 * np.pi * 220 * t[: 5 * 24000]), 24000)
    with pytest.raises(StyleError, match="at least 10 s"):
        engine.generate(request(style_prompt=None, style_audio=tmp_path / "short.wav"))
    (tmp_path / "not-audio.wav").write_text("hello")
    with pytest.raises(StyleError, match="Cannot read reference audio"):
        engine.generate(request(style_prompt=None, style_audio=tmp_path / "not-audio.wav"))


def test_bad_requests_are_refused_before_any_work(engine: Engine) -> None:
    with pytest.raises(ValueError, match="duration must be") as error:
        engine.generate(request(duration=400, steps=1, batch=0))
    assert "steps must be" in str(error.value) and "variants must be" in str(error.value)
    with pytest.raises(ValueError, match="either a style prompt or a reference"):
        engine.generate(request(style_prompt=None))
    with pytest.raises(LyricsError, match="line 2"):
        engine.generate(request(lyrics="[00:01.00]fine\n[00:99.00]bad time\n"))
    with pytest.raises(StyleError, match="empty"):
        engine.generate(request(style_prompt="   "))


def test_missing_model_files_fail_fast_with_instructions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelFilesMissing, match="--model-dir") as error:
        Engine(EngineSettings(kind="real", model_dir=tmp_path, device="cpu")).check_files()
    for name in ("DiffRhythm-1_2/cfm_model.pt", "DiffRhythm-vae/vae_model.pt", "vocab.json", "MuQ-MuLan-large"):
        assert name in str(error.value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    with pytest.raises(ModelFilesMissing, match="Hugging Face Hub") as error:
        Engine(EngineSettings(kind="real", device="cpu")).check_files(full=True)
    assert "ASLP-lab/DiffRhythm-1_2-full/cfm_model.pt" in str(error.value)


def test_tiny_files_load_through_the_real_loader_except_mulan(engine: Engine) -> None:
    real = Engine(EngineSettings(kind="real", model_dir=engine.model_dir, device="cpu"))
    with pytest.raises(ModelFilesMissing, match="MuQ-MuLan-large") as error:
        real.check_files()
    assert "cfm_model.pt" not in str(error.value)


@pytest.mark.slow
def test_generate_command_writes_files_and_reports(cache_dir: Path, tmp_path: Path) -> None:
    lrc = tmp_path / "song.lrc"
    lrc.write_text(LYRICS, encoding="utf-8")
    env = {"DIFFRHYTHM_CACHE_DIR": str(cache_dir), "PATH": "/usr/bin:/bin"}
    base = [sys.executable, "-m", "diffrhythm_ui", "generate", "--engine", "tiny", "--style", "lofi piano"]
    for fmt in ("wav", "flac", "mp3"):
        out = tmp_path / fmt / "song"
        out.parent.mkdir()
        run = subprocess.run(
            [*base, "--lyrics", str(lrc), "--duration", "15", "--steps", "2", "--seed", "5", "--batch", "2"]
            + ["--format", fmt, "--output", str(out), "--json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        report = json.loads(run.stdout)
        assert report["seeds"] == [5, 6] and set(report["timings"]) >= {"style", "sampling", "decoding", "writing"}
        for path in map(Path, report["files"]):
            info = sf.info(path)
            assert path.suffix == f".{fmt}" and info.samplerate == SAMPLE_RATE and info.channels == 2
            assert abs(info.frames / info.samplerate - 15.0) <= (0.05 if fmt == "mp3" else 1 / SAMPLE_RATE)
    bad = tmp_path / "bad.lrc"
    bad.write_text("[00:01.00]ok\n[0x:10]broken\n[00:20.00]too late\n", encoding="utf-8")
    run = subprocess.run(
        [*base, "--lyrics", str(bad), "--duration", "15", "--output", str(tmp_path / "bad" / "x")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "bad.lrc:2:" in run.stderr and "bad.lrc:3:" in run.stderr
    assert not (tmp_path / "bad").exists()
