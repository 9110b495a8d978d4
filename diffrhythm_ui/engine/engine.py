"""The engine as the rest of the app sees it: load once, generate many times, real or tiny.

``Engine`` resolves and loads the model files on first use (reporting a "loading" stage), keeps them for
later requests, switches between the 95 s and the full DiT by the requested duration, and runs one
generation at a time.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from diffrhythm_ui.engine import assets
from diffrhythm_ui.engine.checkpoint import load_dit
from diffrhythm_ui.engine.devices import choose_device, choose_dtype
from diffrhythm_ui.engine.dit import STYLE_DIM
from diffrhythm_ui.engine.errors import CheckpointError
from diffrhythm_ui.engine.g2p import PhonemeTokenizer
from diffrhythm_ui.engine.pipeline import Cancel, DiffRhythmPipeline, GenerationRequest, GenerationResult, Progress
from diffrhythm_ui.engine.style import MuLanStyleEncoder, StyleEncoder, TinyStyleEncoder
from diffrhythm_ui.engine.tiny import ensure_tiny_model_dir
from diffrhythm_ui.engine.vae import load_vae

logger = logging.getLogger(__name__)

KINDS = ("real", "tiny")


@dataclass(frozen=True)
class EngineSettings:
    kind: str = "real"
    model_dir: Path | None = None
    device: str = "auto"
    cache_dir: Path | None = None  # where the tiny engine keeps its files

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"engine must be one of {', '.join(KINDS)}; got {self.kind!r}")


def load_negative_style(path: Path) -> torch.Tensor:
    array = np.load(path)
    if array.shape != (1, STYLE_DIM):
        raise CheckpointError(f"{path}: negative style must have shape (1, {STYLE_DIM}); got {array.shape}")
    return torch.from_numpy(array.astype(np.float32))


class Engine:
    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        # Chosen at the first load, not here: on ZeroGPU the GPU exists only inside the decorated call.
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self._lock = threading.Lock()
        self._shared: tuple[torch.nn.Module, StyleEncoder, PhonemeTokenizer, torch.Tensor] | None = None
        self._pipelines: dict[str, DiffRhythmPipeline] = {}

    @property
    def model_dir(self) -> Path | None:
        if self.settings.kind == "tiny":
            return ensure_tiny_model_dir(self.settings.cache_dir)
        return self.settings.model_dir

    def model_id(self, request: GenerationRequest) -> str:
        asset = assets.DIT_FULL if request.uses_full_model else assets.DIT_BASE
        return f"{asset.repo_id} ({self.settings.kind})" if self.settings.kind == "tiny" else asset.repo_id

    def required_assets(self, full: bool) -> list[assets.Asset]:
        needed = [assets.DIT_FULL if full else assets.DIT_BASE, assets.VAE, assets.VOCAB, assets.NEGATIVE_STYLE]
        return needed + ([assets.MULAN] if self.settings.kind == "real" else [])

    def check_files(self, full: bool = False, *, local_only: bool = False) -> None:
        """Raise ``ModelFilesMissing`` now, rather than at the first generation, if files are unavailable.

        With ``local_only`` nothing is downloaded: only the model folder or the Hugging Face cache is checked."""
        assets.resolve(self.required_assets(full), self.model_dir, local_only=local_only)

    def preload(self, full: bool = False) -> None:
        """Load (downloading if needed) the model now, so a worker's first job does not wait for it."""
        with self._lock:
            self._load(full, lambda stage, done, total: None)

    def _load(self, full: bool, report: Progress) -> DiffRhythmPipeline:
        key = "full" if full else "base"
        if key in self._pipelines:
            return self._pipelines[key]
        report("loading", 0, 3)
        paths = assets.resolve(self.required_assets(full), self.model_dir)
        report("loading", 1, 3)
        if self._shared is None:
            self.device = choose_device(self.settings.device)
            self.dtype = choose_dtype(self.device)
            style: StyleEncoder = (
                MuLanStyleEncoder(paths["mulan"], self.device) if self.settings.kind == "real" else TinyStyleEncoder()
            )
            vocab = json.loads(Path(paths["vocab"]).read_text(encoding="utf-8"))["vocab"]
            self._shared = (
                load_vae(paths["vae"], self.device),
                style,
                PhonemeTokenizer(vocab),
                load_negative_style(paths["negative_style"]),
            )
        report("loading", 2, 3)
        self._pipelines.pop("base" if full else "full", None)  # one DiT in memory at a time
        dit = load_dit(paths["dit_full" if full else "dit_base"]).to(self.device, self.dtype)
        vae, style, tokenizer, negative = self._shared
        self._pipelines[key] = DiffRhythmPipeline(dit, vae, style, tokenizer, negative, self.device, self.dtype)
        report("loading", 3, 3)
        logger.info("Loaded the %s %s DiT on %s (%s)", self.settings.kind, key, self.device, self.dtype)
        return self._pipelines[key]

    def generate(
        self, request: GenerationRequest, progress: Progress | None = None, cancel: Cancel | None = None
    ) -> GenerationResult:
        report = progress or (lambda stage, done, total: None)
        request.validate()
        with self._lock:
            pipeline = self._load(request.uses_full_model, report)
            return pipeline(request, report, cancel)
