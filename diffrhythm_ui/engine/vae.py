"""The audio VAE: the official TorchScript model (``ASLP-lab/DiffRhythm-vae``) and chunked coding.

The official VAE is a TorchScript module with ``decode_export(latents)`` (B, 64, T) -> (B, 2, T * 2048) and
``encode_export(audio)`` (B, 2, n) -> (B, 128, n / 2048) (mean and scale). Decoding a whole song at once
needs far more memory than decoding 128-frame windows that overlap by 32 frames and keep only their
centres, which is the default here. The tiny engine's VAE is a TorchScript module with the same two
methods, so both load through ``load_vae``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from diffrhythm_ui.engine.errors import CheckpointError

HOP = 2048  # audio samples per latent frame at 44.1 kHz
SAMPLE_RATE = 44100
CHANNELS = 2
LATENT_DIM = 64
CHUNK_FRAMES = 128
OVERLAP_FRAMES = 32


def load_vae(path: Path, device: torch.device | str = "cpu") -> torch.jit.ScriptModule:
    try:
        vae = torch.jit.load(str(path), map_location="cpu")
    except Exception as error:  # TorchScript raises RuntimeError or ValueError for foreign files
        raise CheckpointError(f"{path} is not a TorchScript VAE: {error}") from error
    for method in ("decode_export", "encode_export"):
        if not hasattr(vae, method):
            raise CheckpointError(f"{path} has no {method}(): not the DiffRhythm VAE")
    return vae.to(device).eval()


@dataclass(frozen=True)
class Window:
    """One chunk: frames [start, end) are coded, frames [keep_start, keep_end) of it are kept."""

    start: int
    end: int
    keep_start: int
    keep_end: int


def windows(total: int, size: int = CHUNK_FRAMES, overlap: int = OVERLAP_FRAMES) -> list[Window]:
    """Overlapping windows over ``total`` frames whose kept parts tile it exactly once."""
    if total <= size:
        return [Window(0, total, 0, total)]
    hop = size - overlap
    starts = list(range(0, total - size + 1, hop))
    if starts[-1] + size < total:
        starts.append(total - size)  # the last window ends at the end
    half = overlap // 2
    result = []
    for i, start in enumerate(starts):
        keep_start = 0 if i == 0 else max(start + half, result[-1].keep_end)
        keep_end = total if i == len(starts) - 1 else start + size - half
        result.append(Window(start, start + size, keep_start, keep_end))
    return result


def decode(
    vae: nn.Module,
    latents: torch.Tensor,  # (B, 64, T)
    *,
    chunked: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Latents to audio (B, 2, T * HOP); ``on_chunk(done, total)`` after each decoded window."""
    plan = windows(latents.shape[-1]) if chunked else [Window(0, latents.shape[-1], 0, latents.shape[-1])]
    audio = latents.new_zeros((latents.shape[0], CHANNELS, latents.shape[-1] * HOP), dtype=torch.float32)
    for i, w in enumerate(plan):
        out = vae.decode_export(latents[..., w.start : w.end].float())  # (B, 2, (end - start) * HOP)
        lo, hi = (w.keep_start - w.start) * HOP, (w.keep_end - w.start) * HOP
        audio[..., w.keep_start * HOP : w.keep_end * HOP] = out[..., lo:hi]
        if on_chunk is not None:
            on_chunk(i + 1, len(plan))
    return audio


def decode_chunk_count(frames: int, chunked: bool = True) -> int:
    return len(windows(frames)) if chunked else 1


def encode(vae: nn.Module, audio: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Audio (B, 2, T * HOP) to sampled latents (B, 64, T), chunked like ``decode``."""
    frames = audio.shape[-1] // HOP
    parts = torch.zeros((audio.shape[0], LATENT_DIM * 2, frames), dtype=torch.float32)
    for w in windows(frames):
        out = vae.encode_export(audio[..., w.start * HOP : w.end * HOP].float()).cpu()  # (B, 128, end - start)
        parts[..., w.keep_start : w.keep_end] = out[..., w.keep_start - w.start : w.keep_end - w.start]
    mean, scale = parts.chunk(2, dim=1)
    std = F.softplus(scale) + 1e-4
    noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
    return (mean + std * noise).to(audio.device)


class TinyVAE(nn.Module):
    """A random-weight stand-in with the official VAE's interface and hop size, for tests and demos."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.decoder_in = nn.Conv1d(LATENT_DIM, hidden, kernel_size=3, padding=1)
        self.decoder_out = nn.ConvTranspose1d(hidden, CHANNELS, kernel_size=HOP, stride=HOP)
        self.encoder = nn.Conv1d(CHANNELS, LATENT_DIM * 2, kernel_size=HOP, stride=HOP)

    @torch.jit.export
    def decode_export(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder_out(F.silu(self.decoder_in(latents))))

    @torch.jit.export
    def encode_export(self, audio: torch.Tensor) -> torch.Tensor:
        return self.encoder(audio)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decode_export(latents)
