"""From lyrics and a style to songs: the DiffRhythm sampling pipeline.

The pipeline wires the parts together and holds no maths of its own: the lyrics parser and G2P place
phoneme tokens on the latent frame grid, the style encoder gives the conditioning vector, the sampler
integrates the DiT's flow with classifier-free guidance, and the VAE decodes latents to audio. It follows
``CFM.sample`` of the official repository: the unconditional branch drops the lyrics and the known latents
and uses the negative style embedding; in edit mode the frames outside the chosen segments are kept from the
reference song.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchaudio

from diffrhythm_ui.audio import AudioError, read_audio
from diffrhythm_ui.engine import vae as vae_ops
from diffrhythm_ui.engine.dit import DiT
from diffrhythm_ui.engine.errors import GenerationCancelled, OutOfMemory, StyleError
from diffrhythm_ui.engine.g2p import PhonemeTokenizer
from diffrhythm_ui.engine.lyrics import LyricLine, parse_lrc
from diffrhythm_ui.engine.sampler import FlowMatchEulerSampler
from diffrhythm_ui.engine.style import StyleEncoder, load_reference_clip

logger = logging.getLogger(__name__)

FRAMES_PER_SECOND = vae_ops.SAMPLE_RATE / vae_ops.HOP  # 21.53
BASE_FRAMES, FULL_FRAMES = 2048, 6144
BASE_SECONDS = BASE_FRAMES / FRAMES_PER_SECOND  # 95.1 s, the DiffRhythm-1_2 window
MIN_SECONDS, MAX_SECONDS = 10.0, FULL_FRAMES / FRAMES_PER_SECOND  # up to 285.3 s with DiffRhythm-1_2-full
MAX_STEPS, MAX_CFG, MAX_BATCH = 200, 20.0, 8
OUTPUT_PEAK = 10 ** (-1 / 20)  # -1 dBFS
EDIT_REFERENCE_PEAK = 10 ** (-6 / 20)  # the official edit mode normalizes the reference to -6 dBFS

Progress = Callable[[str, int, int], None]
Cancel = Callable[[], bool]


@dataclass(frozen=True)
class GenerationRequest:
    """Everything that determines a song; the seed makes it reproducible on the same hardware."""

    lyrics: str = ""  # LRC; empty for an instrumental
    style_prompt: str | None = None
    style_audio: Path | None = None
    duration: float = 95.0
    steps: int = 32
    cfg_strength: float = 4.0
    seed: int = 0
    batch: int = 1  # variants, seeds seed, seed + 1, ...
    chunked_decode: bool = True
    edit_audio: Path | None = None  # edit mode: the song to change ...
    edit_segments: tuple[tuple[float, float], ...] = ()  # ... and the (start, end) seconds to regenerate; -1 = edge

    def validate(self) -> None:
        problems = []
        if not MIN_SECONDS <= self.duration <= MAX_SECONDS:
            problems.append(f"duration must be {MIN_SECONDS:.0f}-{MAX_SECONDS:.0f} s; got {self.duration}")
        if not 2 <= self.steps <= MAX_STEPS:
            problems.append(f"steps must be 2-{MAX_STEPS}; got {self.steps}")
        if not 0 <= self.cfg_strength <= MAX_CFG:
            problems.append(f"CFG strength must be 0-{MAX_CFG:.0f}; got {self.cfg_strength}")
        if not 1 <= self.batch <= MAX_BATCH:
            problems.append(f"variants must be 1-{MAX_BATCH}; got {self.batch}")
        if not 0 <= self.seed < 2**63 - MAX_BATCH:
            problems.append(f"seed must be 0-{2**63 - MAX_BATCH - 1}; got {self.seed}")
        if (self.style_prompt is None) == (self.style_audio is None):
            problems.append("give either a style prompt or a reference audio file, not both or neither")
        if (self.edit_audio is None) != (not self.edit_segments):
            problems.append("edit mode needs both a song to edit and the segments to regenerate")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def uses_full_model(self) -> bool:
        return self.duration > BASE_SECONDS

    @property
    def frames(self) -> int:
        return min(FULL_FRAMES, math.ceil(self.duration * FRAMES_PER_SECOND)) if self.uses_full_model else BASE_FRAMES


@dataclass
class GeneratedSong:
    audio: np.ndarray  # (2, samples) float32 at 44.1 kHz, peak -1 dBFS
    seed: int
    latents: torch.Tensor  # (frames, 64), kept for edit mode and tests

    @property
    def duration(self) -> float:
        return self.audio.shape[-1] / vae_ops.SAMPLE_RATE


@dataclass
class GenerationResult:
    songs: list[GeneratedSong]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    warnings: list[str] = field(default_factory=list)


def sampling_passes(request: GenerationRequest) -> int:
    """Transformer passes the sampler makes: two per Euler step with guidance, one without."""
    return (request.steps - 1) * (2 if request.cfg_strength > 0 else 1)


class DiffRhythmPipeline:
    def __init__(
        self,
        dit: DiT,
        vae: torch.nn.Module,
        style_encoder: StyleEncoder,
        tokenizer: PhonemeTokenizer,
        negative_style: torch.Tensor,  # (1, 512)
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.dit, self.vae, self.style_encoder, self.tokenizer = dit, vae, style_encoder, tokenizer
        self.negative_style = negative_style.to(device, dtype)
        self.device, self.dtype = device, dtype

    # Stages

    def lyric_tokens(self, lines: list[LyricLine], frames: int) -> tuple[torch.Tensor, list[str]]:
        """Phoneme ids placed at each line's frame, as the official ``get_lrc_token`` does, (frames,)."""
        comma, period = self.tokenizer.token_id(","), self.tokenizer.token_id(".")
        tokens = torch.zeros(frames, dtype=torch.long)
        warnings: list[str] = []
        cursor = 0
        for line in lines:
            ids = [comma if t == period else t for t in self.tokenizer.encode(line.text)] + [period]
            start = max(int(line.time * FRAMES_PER_SECOND), cursor)
            room = max(0, frames - start)
            if room < len(ids):
                warnings.append(f"line {line.line_number}: too close to the end, {len(ids) - room} sounds cut")
            elif start > int(line.time * FRAMES_PER_SECOND) + int(FRAMES_PER_SECOND):
                warnings.append(
                    f"line {line.line_number}: starts {start / FRAMES_PER_SECOND:.1f} s, later than its time"
                )
            tokens[start : start + min(room, len(ids))] = torch.tensor(ids[:room], dtype=torch.long)
            cursor = start + min(room, len(ids))
        return tokens, warnings

    def style_embedding(self, request: GenerationRequest) -> torch.Tensor:
        if request.style_audio is not None:
            embedding = self.style_encoder.embed_audio(load_reference_clip(request.style_audio))
        else:
            embedding = self.style_encoder.embed_text(request.style_prompt or "")
        return embedding.to(self.device, self.dtype)

    def reference_latents(self, request: GenerationRequest, frames: int) -> torch.Tensor:
        """Edit mode: the song to edit, encoded by the VAE, (frames, 64).

        The VAE's posterior is sampled with a fixed generator, not the job's seed, so every variant of an edit
        keeps exactly the same latents outside the regenerated segments.
        """
        generator = torch.Generator().manual_seed(0)
        try:
            audio, sample_rate = read_audio(request.edit_audio)
        except AudioError as error:
            raise StyleError(f"Cannot read the song to edit: {error}") from error
        stereo = torch.from_numpy(np.ascontiguousarray(audio if audio.shape[0] == 2 else np.repeat(audio, 2, axis=0)))
        if sample_rate != vae_ops.SAMPLE_RATE:
            stereo = torchaudio.functional.resample(stereo, sample_rate, vae_ops.SAMPLE_RATE)
        samples = frames * vae_ops.HOP
        stereo = torch.nn.functional.pad(stereo[:, :samples], (0, max(0, samples - stereo.shape[1])))
        peak = float(stereo.abs().max())
        if peak < 1e-4:
            raise StyleError("The song to edit is silent.")
        tensor = (stereo * (EDIT_REFERENCE_PEAK / peak)).float().unsqueeze(0).to(self.device)
        return vae_ops.encode(self.vae, tensor, generator)[0].transpose(0, 1)  # (frames, 64)

    def edit_mask(self, request: GenerationRequest, frames: int) -> torch.Tensor:
        """True on the frames to generate, (frames,)."""
        mask = torch.zeros(frames, dtype=torch.bool)
        for start, end in request.edit_segments or [(-1, -1)]:
            first = 0 if start == -1 else int(start * FRAMES_PER_SECOND)
            last = frames if end == -1 else int(end * FRAMES_PER_SECOND)
            mask[max(0, first) : min(frames, last)] = True
        return mask

    def initial_noise(self, request: GenerationRequest, frames: int) -> torch.Tensor:
        """One Gaussian draw per variant from its own CPU generator, so a seed gives the same noise anywhere."""
        draws = [
            torch.randn((frames, self.dit.config.latent_dim), generator=torch.Generator().manual_seed(request.seed + i))
            for i in range(request.batch)
        ]
        return torch.stack(draws).to(self.device, self.dtype)  # (B, frames, 64)

    # The whole run

    @torch.inference_mode()
    def __call__(
        self, request: GenerationRequest, progress: Progress | None = None, cancel: Cancel | None = None
    ) -> GenerationResult:
        report = progress or (lambda stage, done, total: None)
        should_stop = cancel or (lambda: False)
        request.validate()
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        frames, batch = request.frames, request.batch

        # 1. Lyrics to frame-aligned phoneme tokens
        lines = parse_lrc(request.lyrics, min(request.duration, MAX_SECONDS))
        tokens, warnings = self.lyric_tokens(lines, frames)
        tokens = tokens.unsqueeze(0).expand(batch, -1).to(self.device)  # (B, frames)

        # 2. Style embedding
        report("style", 0, 1)
        style = self.style_embedding(request).expand(batch, -1)  # (B, 512)
        negative = self.negative_style.expand(batch, -1)
        report("style", 1, 1)
        timings["style"] = time.perf_counter() - clock

        # 3. Known latents (edit mode) and the frames to generate
        mask = self.edit_mask(request, frames).to(self.device)[None, :, None]  # (1, frames, 1)
        known = (
            self.reference_latents(request, frames).to(self.device, self.dtype)
            if request.edit_audio is not None
            else torch.zeros((frames, self.dit.config.latent_dim), device=self.device, dtype=self.dtype)
        )
        cond = torch.where(mask, torch.zeros_like(known), known).expand(batch, -1, -1)  # (B, frames, 64)

        # 4. Sampling: Euler steps over the guided flow
        clock = time.perf_counter()
        try:
            latents = self._sample(request, tokens, style, negative, cond, report, should_stop)
            latents = torch.where(mask, latents, known.expand(batch, -1, -1))
            timings["sampling"] = time.perf_counter() - clock

            # 5. Decoding, window by window
            clock = time.perf_counter()
            total_chunks = vae_ops.decode_chunk_count(frames, request.chunked_decode) * batch
            songs = []
            for i in range(batch):
                audio = vae_ops.decode(
                    self.vae,
                    latents[i : i + 1].transpose(1, 2),
                    chunked=request.chunked_decode,
                    on_chunk=lambda done, total, i=i: report("decoding", i * total + done, total_chunks),
                )
                songs.append(GeneratedSong(self._finish(audio[0], request), request.seed + i, latents[i].float().cpu()))
            timings["decoding"] = time.perf_counter() - clock
        except torch.OutOfMemoryError as error:
            raise OutOfMemory(
                f"The GPU ran out of memory for {batch} variant(s) of {request.duration:.0f} s"
                f"{'' if request.chunked_decode else ' with full decoding'}. "
                + ("Use chunked decoding, " if not request.chunked_decode else "")
                + "make fewer variants at once or a shorter song."
            ) from error
        return GenerationResult(songs=songs, timings=timings, warnings=warnings)

    def _sample(
        self,
        request: GenerationRequest,
        tokens: torch.Tensor,
        style: torch.Tensor,
        negative: torch.Tensor,
        cond: torch.Tensor,
        report: Progress,
        should_stop: Cancel,
    ) -> torch.Tensor:
        batch, frames = cond.shape[:2]
        start_time = torch.zeros(batch, device=self.device, dtype=self.dtype)
        song_duration = torch.full((batch,), frames / self.dit.config.max_frames, device=self.device, dtype=self.dtype)
        guided = request.cfg_strength > 0
        positive = self.dit.condition(tokens, start_time, song_duration, drop_text=False)
        unconditional = self.dit.condition(tokens, start_time, song_duration, drop_text=True) if guided else None

        sampler = FlowMatchEulerSampler()
        sampler.set_timesteps(request.steps, self.device)
        total, done = sampling_passes(request), 0
        x = self.initial_noise(request, frames)
        for index in range(sampler.num_steps):
            t = sampler.timesteps[index].to(self.dtype).expand(batch)
            for branch in ("cond", "uncond") if guided else ("cond",):
                if should_stop():
                    raise GenerationCancelled(f"cancelled after {done} of {total} transformer passes")
                if branch == "cond":
                    flow = self.dit(x, cond, positive, t, style)
                else:
                    null = self.dit(x, cond, unconditional, t, negative, drop_audio_cond=True)
                    flow = flow + (flow - null) * request.cfg_strength
                done += 1
                report("sampling", done, total)
            x = sampler.step(flow, index, x).prev_sample
        return x

    def _finish(self, audio: torch.Tensor, request: GenerationRequest) -> np.ndarray:
        """Trim to the requested length (fading the last second when music is cut) and peak to -1 dBFS."""
        samples = min(audio.shape[-1], round(request.duration * vae_ops.SAMPLE_RATE))
        out = audio[:, :samples].float().cpu().numpy()
        if audio.shape[-1] - samples > vae_ops.HOP:  # more than the frame rounding: a 95 s window cut short
            fade = min(samples, vae_ops.SAMPLE_RATE)
            out[:, -fade:] *= np.cos(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
        peak = float(np.abs(out).max())
        return (out * (OUTPUT_PEAK / peak) if peak > 0 else out).astype(np.float32)
