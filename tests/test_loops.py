"""Loop engine (issue 5, LOOP_SPEC.md) on synthetic tracks whose loop points are known."""

from __future__ import annotations

import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diffrhythm_ui.audio import AudioLoadError, read_audio, read_tags
from diffrhythm_ui.audio.levels import true_peak_db
from diffrhythm_ui.cli import main
from diffrhythm_ui.loops import (
    AudioTooShortError,
    InvalidDurationError,
    LoopCancelledError,
    SilentAudioError,
    find_loop,
    make_loop_file,
)
from diffrhythm_ui.loops.metrics import THRESHOLDS
from diffrhythm_ui.loops.synth import SynthTrack, make_track

EXACT_CASES = {
    "120bpm-4/4-A": dict(bpm=120, beats_per_bar=4, key=57),
    "90bpm-3/4-C": dict(bpm=90, beats_per_bar=3, key=60),
    "128bpm-3/4-D": dict(bpm=128, beats_per_bar=3, key=62),
    "140bpm-4/4-E-2bars": dict(bpm=140, beats_per_bar=4, cycle_bars=2, repeats=4, key=52),
}


@pytest.fixture(scope="module")
def tracks() -> dict[str, SynthTrack]:
    made = {name: make_track(**kw, seed=i) for i, (name, kw) in enumerate(EXACT_CASES.items())}
    made["varied"] = make_track(bpm=110, varied=True, seed=7)
    made["no-repeat"] = make_track(bpm=100, repeating=False, seed=8)
    return made


def _write(track: SynthTrack, folder: Path, name: str = "in.wav") -> Path:
    path = folder / name
    sf.write(path, track.audio.T, track.sr)
    return path


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory, tracks: dict[str, SynthTrack]) -> Path:
    return _write(tracks["120bpm-4/4-A"], tmp_path_factory.mktemp("song"))


@pytest.mark.parametrize("name", list(EXACT_CASES))
def test_exact_repeats_give_loop_points_within_two_samples(tracks: dict[str, SynthTrack], name: str) -> None:
    track = tracks[name]
    choice = find_loop(track.audio, track.sr)
    assert track.loop_error(choice.seam.loop_start, choice.seam.loop_end) <= 2
    assert choice.beats_per_bar == track.beats_per_bar
    assert choice.confidence >= 0.8


def test_varied_repeats_give_loop_points_within_three_ms(tracks: dict[str, SynthTrack]) -> None:
    track = tracks["varied"]
    choice = find_loop(track.audio, track.sr)
    assert track.loop_error(choice.seam.loop_start, choice.seam.loop_end) <= 0.003 * track.sr
    assert choice.confidence >= 0.8


@pytest.mark.parametrize("name", list(EXACT_CASES))
def test_every_seam_metric_passes_on_exact_repeats(tracks: dict[str, SynthTrack], tmp_path: Path, name: str) -> None:
    track = tracks[name]
    report = make_loop_file(_write(track, tmp_path), tmp_path / "out.wav", 60.0)
    metrics = report.metrics
    assert metrics["seams"] >= 1
    for metric, threshold in THRESHOLDS.items():
        assert metrics[metric] is not None, metric
        assert metrics["passed"][metric], f"{metric} = {metrics[metric]:.3f} (threshold {threshold})"
    assert report.loop_length_error_samples <= 2
    assert not report.low_confidence and report.message == "ok"


def test_no_repeat_still_yields_a_loop_and_says_so(tracks: dict[str, SynthTrack], tmp_path: Path) -> None:
    report = make_loop_file(_write(tracks["no-repeat"], tmp_path), tmp_path / "out.wav", 50.0)
    assert report.low_confidence and "low confidence" in report.message
    audio, sr = read_audio(tmp_path / "out.wav")
    assert audio.shape[1] == 50 * sr
    assert report.seams and report.metrics["jump_ratio"] <= THRESHOLDS["jump_ratio"]
    assert report.metrics["click_db"] <= THRESHOLDS["click_db"]


@pytest.mark.parametrize(("fmt", "tolerance_s"), [("wav", 0.0), ("flac", 0.0), ("mp3", 0.05)])
@pytest.mark.parametrize("duration", [7.3, 20.0, 95.25])
def test_output_duration_and_tags(song: Path, tmp_path: Path, fmt: str, tolerance_s: float, duration: float) -> None:
    out = tmp_path / f"loop.{fmt}"
    tags = {"title": "Practice loop", "artist": "Synth", "album": "Tests", "genre": "Pop"}
    report = make_loop_file(song, out, duration, tags=tags)
    audio, sr = read_audio(out)
    assert abs(audio.shape[1] / sr - duration) <= max(tolerance_s, 0.5 / sr)
    assert report.duration_s == pytest.approx(duration, abs=1 / sr)
    found = read_tags(out)
    assert {k: found[k] for k in tags} == tags
    if report.seams:
        assert int(found["looplength"]) == report.loop_end_sample - report.loop_start_sample
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_seams_reported_in_output_time_and_a_long_loop_holds_many(song: Path, tmp_path: Path) -> None:
    report = make_loop_file(song, tmp_path / "long.wav", 120.0)
    body = (report.loop_end_sample - report.loop_start_sample) / report.sample_rate
    assert len(report.seams) >= 120 / body - 3 >= 4
    assert np.allclose(np.diff(report.seams), body, atol=1e-6)
    assert all(0 < s < 120.0 for s in report.seams)


def test_true_peak_and_no_clipping(song: Path, tmp_path: Path) -> None:
    make_loop_file(song, tmp_path / "out.wav", 30.0)
    audio, _ = read_audio(tmp_path / "out.wav")
    assert true_peak_db(audio) <= -1.0 + 0.05  # 24-bit rounding
    assert np.max(np.abs(audio)) < 1.0


def test_fades_use_a_raised_cosine(song: Path, tmp_path: Path) -> None:
    report = make_loop_file(song, tmp_path / "faded.wav", 30.0, fade_in_s=2.0, fade_out_s=3.0)
    plain = make_loop_file(song, tmp_path / "plain.wav", 30.0)
    faded, sr = read_audio(tmp_path / "faded.wav")
    unfaded, _ = read_audio(tmp_path / "plain.wav")
    assert report.seams == plain.seams
    t = np.array([int(0.5 * sr), int(1.0 * sr), int(1.5 * sr)])
    expected = 0.5 - 0.5 * np.cos(np.pi * (t + 0.5) / (2 * sr))
    mask = np.abs(unfaded[0, t]) > 1e-3
    assert np.allclose(faded[0, t][mask] / unfaded[0, t][mask], expected[mask], atol=1e-3)
    assert np.allclose(faded[:, int(3 * sr) : int(26 * sr)], unfaded[:, int(3 * sr) : int(26 * sr)], atol=1e-6)
    assert np.max(np.abs(faded[:, -int(0.01 * sr) :])) < 1e-3 and abs(faded[0, 0]) < 1e-4


def test_short_loop_from_a_long_song_still_loops(tmp_path: Path) -> None:
    track = make_track(bpm=120, cycle_bars=4, repeats=6, seed=3)  # 56 s
    report = make_loop_file(_write(track, tmp_path), tmp_path / "short.wav", 20.0)
    assert report.seams, "a 20 s loop of a 56 s song should hold at least one seam"
    assert track.loop_error(report.loop_start_sample, report.loop_end_sample) <= 2


def test_progress_and_cancel_leave_no_file(song: Path, tmp_path: Path) -> None:
    stages: list[str] = []
    make_loop_file(song, tmp_path / "a.wav", 10.0, progress=lambda stage, done, total: stages.append(stage))
    assert {"load", "analyse", "render", "write"} <= set(stages)
    calls = iter(range(100))
    with pytest.raises(LoopCancelledError):
        make_loop_file(song, tmp_path / "b.wav", 60.0, cancel=lambda: next(calls) >= 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def _bad_files(folder: Path) -> dict[str, tuple[Path, type[Exception]]]:
    text = folder / "notes.wav"
    text.write_text("these are lyrics, not audio\n")
    corrupt = folder / "corrupt.flac"
    sf.write(corrupt, np.zeros((44100, 2)) + 0.1, 44100)
    corrupt.write_bytes(corrupt.read_bytes()[:60] + b"\x00garbage" * 50)
    silent = folder / "silent.wav"
    sf.write(silent, np.zeros((44100 * 10, 2)), 44100)
    short = folder / "short.wav"
    sf.write(short, make_track(bpm=120).audio[:, : int(1.2 * 44100)].T, 44100)
    empty = folder / "empty.wav"
    sf.write(empty, np.zeros((0, 2)), 44100)
    return {
        "text": (text, AudioLoadError),
        "corrupt": (corrupt, AudioLoadError),
        "silent": (silent, SilentAudioError),
        "short": (short, AudioTooShortError),
        "empty": (empty, AudioLoadError),
        "missing": (folder / "missing.mp3", AudioLoadError),
    }


@pytest.mark.parametrize("case", ["text", "corrupt", "silent", "short", "empty", "missing"])
def test_bad_input_raises_a_domain_error_and_writes_nothing(tmp_path: Path, case: str) -> None:
    path, error = _bad_files(tmp_path)[case]
    before = set(tmp_path.iterdir())
    with pytest.raises(error):
        make_loop_file(path, tmp_path / "out.wav", 30.0)
    assert set(tmp_path.iterdir()) == before


@pytest.mark.parametrize("duration", [0.0, -5.0, math.nan, math.inf, 1e9])
def test_bad_duration_is_refused(song: Path, tmp_path: Path, duration: float) -> None:
    with pytest.raises(InvalidDurationError):
        make_loop_file(song, tmp_path / "out.wav", duration)
    assert not list(tmp_path.iterdir())


def test_fades_longer_than_the_output_are_refused(song: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidDurationError):
        make_loop_file(song, tmp_path / "out.wav", 5.0, fade_in_s=3.0, fade_out_s=3.0)


def test_reads_mono_flac_ogg_mp3_at_other_rates(tracks: dict[str, SynthTrack], tmp_path: Path) -> None:
    import librosa

    track = tracks["90bpm-3/4-C"]
    mono48 = librosa.resample(track.audio.mean(axis=0), orig_sr=track.sr, target_sr=48000)
    sf.write(tmp_path / "m.flac", mono48, 48000)
    sf.write(tmp_path / "m.ogg", mono48, 48000)
    for name in ("m.flac", "m.ogg"):
        report = make_loop_file(tmp_path / name, tmp_path / f"{name}.mp3", 12.0)
        audio, sr = read_audio(tmp_path / f"{name}.mp3")
        assert (audio.shape[0], sr) == (1, 48000)
        assert abs(audio.shape[1] / sr - 12.0) <= 0.05
        assert report.beats_per_bar == 3


def test_cli_prints_the_report_with_seams(song: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.flac"
    argv = ["loop", str(song), "--duration", "40", "--output", str(out), "--fade-out", "2", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["seams"] and report["format"] == "flac" and out.exists()
    assert {"loop_start_sample", "loop_end_bar", "confidence", "metrics"} <= set(report)


def test_cli_bad_input_exits_non_zero_with_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "x.wav").write_text("not audio")
    assert main(["loop", str(tmp_path / "x.wav"), "--duration", "10", "--output", str(tmp_path / "o.wav")]) != 0
    assert "AudioLoadError" in caplog.text
    assert main(["loop", str(tmp_path / "x.wav"), "--duration", "-1", "--output", str(tmp_path / "o.wav")]) != 0
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.slow
def test_ten_minute_loop_streams_with_bounded_memory(song: Path, tmp_path: Path) -> None:
    peaks = {}
    for seconds in (200, 600):  # both long enough to allow the same loops, so only the output's length differs
        tracemalloc.start()
        make_loop_file(song, tmp_path / f"{seconds}.flac", float(seconds))
        peaks[seconds] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    ten_minutes_float32 = 600 * 44100 * 2 * 4
    assert peaks[600] < 1.1 * peaks[200], "memory must not grow with the output's length"
    assert peaks[600] < ten_minutes_float32 * 0.75, "the output is never held in memory"
    audio, sr = read_audio(tmp_path / "600.flac")
    assert audio.shape[1] == 600 * sr
