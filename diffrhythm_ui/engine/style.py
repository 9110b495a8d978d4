"""Style embeddings: a text prompt or 10 s of reference audio to the 512-d vector the DiT is steered by.

The real encoder is MuQ-MuLan (``OpenMuQ/MuQ-MuLan-large`` through the ``muq`` package). The tiny engine's
encoder has the same interface with random weights: hashed character trigrams for text and log-mel
statistics for audio, so tests exercise the same calls and shapes.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torchaudio
from torch import nn

from diffrhythm_ui.audio import AudioError, read_audio
from diffrhythm_ui.engine.dit import STYLE_DIM
from diffrhythm_ui.engine.errors import StyleError

logger = logging.getLogger(__name__)

REFERENCE_SAMPLE_RATE = 24000
REFERENCE_SECONDS = 10.0
MAX_PROMPT_CHARS = 1000
MULAN_REPO = "OpenMuQ/MuQ-MuLan-large"


class StyleEncoder(Protocol):
    def embed_text(self, prompt: str) -> torch.Tensor:
        """(1, 512) embedding of a text prompt."""
        ...

    def embed_audio(self, wav: torch.Tensor) -> torch.Tensor:
        """(1, 512) embedding of mono audio (1, n) at 24 kHz."""
        ...


def check_prompt(prompt: str) -> str:
    prompt = " ".join(prompt.split())
    if not prompt:
        raise StyleError("The style prompt is empty: describe the genre, instruments or mood, or give reference audio.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise StyleError(f"The style prompt is {len(prompt)} characters; keep it under {MAX_PROMPT_CHARS}.")
    return prompt


def load_reference_clip(path: Path) -> torch.Tensor:
    """The middle 10 s of a reference recording, mono at 24 kHz, as (1, 240000)."""
    try:
        audio, sample_rate = read_audio(path)
    except AudioError as error:
        raise StyleError(f"Cannot read reference audio {Path(path).name}: {error}") from error
    duration = audio.shape[1] / sample_rate
    if duration < REFERENCE_SECONDS:
        raise StyleError(
            f"Reference audio {Path(path).name} is {duration:.1f} s long; at least {REFERENCE_SECONDS:.0f} s is needed."
        )
    middle = audio.shape[1] // 2
    half = round(REFERENCE_SECONDS * sample_rate / 2)
    clip = torch.from_numpy(np.ascontiguousarray(audio[:, middle - half : middle + half].mean(axis=0)))
    clip = torchaudio.functional.resample(clip.unsqueeze(0), sample_rate, REFERENCE_SAMPLE_RATE)
    wanted = int(REFERENCE_SAMPLE_RATE * REFERENCE_SECONDS)
    clip = torch.nn.functional.pad(clip[:, :wanted], (0, max(0, wanted - clip.shape[1])))
    if not bool((clip.abs() > 1e-4).any()):
        raise StyleError(f"The middle 10 s of {Path(path).name} are silent; choose another reference.")
    return clip


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MuLanStyleEncoder:
    """MuQ-MuLan, loaded from the Hugging Face cache or a local folder."""

    def __init__(self, source: str | Path, device: torch.device) -> None:
        from muq import MuQMuLan  # heavy; only the real engine needs it

        self.model = MuQMuLan.from_pretrained(str(source)).to(device).eval()
        self.device = device

    @torch.no_grad()
    def embed_text(self, prompt: str) -> torch.Tensor:
        return self.model(texts=[check_prompt(prompt)]).float()

    @torch.no_grad()
    def embed_audio(self, wav: torch.Tensor) -> torch.Tensor:
        return self.model(wavs=wav.to(self.device)).float()


class TinyStyleEncoder(nn.Module):
    """Random-weight style encoder with MuQ-MuLan's interface and output size."""

    BUCKETS = 4096

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.text_table = nn.Parameter(torch.randn(self.BUCKETS, STYLE_DIM, generator=generator), requires_grad=False)
        self.audio_proj = nn.Parameter(torch.randn(64, STYLE_DIM, generator=generator), requires_grad=False)
        self.mel = torchaudio.transforms.MelSpectrogram(REFERENCE_SAMPLE_RATE, n_fft=1024, hop_length=480, n_mels=32)

    def _bucket(self, trigram: str) -> int:
        return int.from_bytes(hashlib.blake2b(trigram.encode(), digest_size=4).digest(), "little") % self.BUCKETS

    @torch.no_grad()
    def embed_text(self, prompt: str) -> torch.Tensor:
        text = f"  {check_prompt(prompt).lower()}  "
        rows = [self._bucket(text[i : i + 3]) for i in range(len(text) - 2)]
        vector = self.text_table[rows].mean(dim=0, keepdim=True)
        return torch.nn.functional.normalize(vector, dim=-1)

    @torch.no_grad()
    def embed_audio(self, wav: torch.Tensor) -> torch.Tensor:
        logmel = self.mel(wav.float().cpu()).clamp(min=1e-5).log()  # (1, 32, frames)
        stats = torch.cat([logmel.mean(dim=-1), logmel.std(dim=-1)], dim=-1)  # (1, 64)
        return torch.nn.functional.normalize(stats @ self.audio_proj, dim=-1)
