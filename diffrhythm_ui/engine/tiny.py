"""The tiny engine's model files: the official formats at a tiny size, with random weights.

``ensure_tiny_model_dir`` writes, once, a model folder laid out exactly like a real one (see ``assets.py``):
two DiT checkpoints in the official ``cfm_model.pt`` format (95 s and full), a TorchScript VAE with the
official interface, the vocabulary and a negative style embedding. The tiny engine then loads them through
the same code as the real model; only the sizes (and the random style encoder) differ.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from diffrhythm_ui.engine import assets
from diffrhythm_ui.engine.checkpoint import save_dit
from diffrhythm_ui.engine.dit import STYLE_DIM, DiT, DiTConfig
from diffrhythm_ui.engine.g2p import PHONE_INVENTORY
from diffrhythm_ui.engine.vae import TinyVAE

TINY_VERSION = "tiny-v1"  # bump when the tiny architecture changes, so caches are rebuilt


def tiny_config(max_frames: int) -> DiTConfig:
    return DiTConfig(
        dim=256, depth=2, ff_mult=2, conv_layers=1, text_num_embeds=len(PHONE_INVENTORY), max_frames=max_frames
    )


def default_cache_dir() -> Path:
    root = os.environ.get("DIFFRHYTHM_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root).expanduser() / "diffrhythm_ui"


def _write(folder: Path) -> None:
    torch.manual_seed(0)  # only here, while building files: requests never touch global RNG state
    for asset, frames in ((assets.DIT_BASE, 2048), (assets.DIT_FULL, 6144)):
        save_dit(DiT(tiny_config(frames)), folder / asset.local)
    vae_path = folder / assets.VAE.local
    vae_path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.script(TinyVAE().eval()).save(str(vae_path))
    vocab = {"vocab": {phone: i for i, phone in enumerate(PHONE_INVENTORY)}}
    (folder / assets.VOCAB.local).write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    negative = np.random.default_rng(0).standard_normal((1, STYLE_DIM)).astype(np.float16)
    np.save(folder / assets.NEGATIVE_STYLE.local, negative)


def ensure_tiny_model_dir(cache_dir: Path | None = None) -> Path:
    """The tiny model folder, created atomically on first use."""
    folder = (cache_dir or default_cache_dir()) / TINY_VERSION
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{TINY_VERSION}-", dir=folder.parent))
    try:
        _write(staging)
        os.replace(staging, folder)
    except OSError:
        if not folder.is_dir():  # another process may have won the race, which is fine
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
