"""Where the model files come from: a local folder, or the Hugging Face Hub through its cache.

A local folder (``--model-dir`` / ``DIFFRHYTHM_MODEL_DIR``) is laid out by repository name::

    DiffRhythm-1_2/cfm_model.pt        DiT, up to 95 s
    DiffRhythm-1_2-full/cfm_model.pt   DiT, 96-285 s
    DiffRhythm-vae/vae_model.pt        TorchScript VAE
    vocab.json                         G2P vocabulary ({"vocab": {phone: id}})
    negative_prompt.npy                negative style embedding, (1, 512)
    MuQ-MuLan-large/                   style encoder (config and weights)

Without a folder, each file is fetched with ``huggingface_hub`` (honouring ``HF_HUB_OFFLINE`` and the cache).
When files cannot be had, one error lists every missing file and how to provide it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from diffrhythm_ui.engine.errors import ModelFilesMissing

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Asset:
    key: str
    repo_id: str
    filename: str  # path inside the repository; "" for a whole snapshot
    local: str  # path inside a local model folder
    repo_type: str = "model"


DIT_BASE = Asset("dit_base", "ASLP-lab/DiffRhythm-1_2", "cfm_model.pt", "DiffRhythm-1_2/cfm_model.pt")
DIT_FULL = Asset("dit_full", "ASLP-lab/DiffRhythm-1_2-full", "cfm_model.pt", "DiffRhythm-1_2-full/cfm_model.pt")
VAE = Asset("vae", "ASLP-lab/DiffRhythm-vae", "vae_model.pt", "DiffRhythm-vae/vae_model.pt")
# The vocabulary and the negative style ship with the official code, which the DiffRhythm Space hosts.
VOCAB = Asset("vocab", "ASLP-lab/DiffRhythm", "g2p/g2p/vocab.json", "vocab.json", repo_type="space")
NEGATIVE_STYLE = Asset(
    "negative_style", "ASLP-lab/DiffRhythm", "infer/example/vocal.npy", "negative_prompt.npy", repo_type="space"
)
MULAN = Asset("mulan", "OpenMuQ/MuQ-MuLan-large", "", "MuQ-MuLan-large")


def _offline() -> bool:
    """``HF_HUB_OFFLINE`` as it is now (huggingface_hub reads it only once, when it is first imported)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _from_hub(asset: Asset, local_only: bool) -> Path:
    from huggingface_hub import hf_hub_download, snapshot_download

    if asset.filename:
        return Path(
            hf_hub_download(asset.repo_id, asset.filename, repo_type=asset.repo_type, local_files_only=local_only)
        )
    return Path(snapshot_download(asset.repo_id, repo_type=asset.repo_type, local_files_only=local_only))


def resolve(assets: list[Asset], model_dir: Path | None, *, local_only: bool = False) -> dict[str, Path]:
    """Paths of ``assets``; raises ``ModelFilesMissing`` naming every one that is not available.

    ``local_only`` looks in the Hugging Face cache without downloading (for a quick check at start-up)."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for asset in assets:
        if model_dir is not None:
            path = model_dir / asset.local
            if path.exists():
                found[asset.key] = path
            else:
                missing.append(f"{path} (from {asset.repo_id}/{asset.filename or ''})")
            continue
        try:
            found[asset.key] = _from_hub(asset, local_only or _offline())
        except Exception as error:  # offline, not cached, gated, network: all mean "not available"
            logger.debug("Could not fetch %s: %s", asset.repo_id, error)
            missing.append(f"{asset.repo_id}/{asset.filename} ({type(error).__name__})")
            # Every file is needed, so the run fails anyway: look only in the cache for the rest, rather than
            # wait for the network to time out once per file on a machine without internet.
            local_only = True
    if missing:
        where = f"the model folder {model_dir}" if model_dir else "the Hugging Face Hub (or its cache)"
        raise ModelFilesMissing(
            f"DiffRhythm model files are not available from {where}: "
            + "; ".join(missing)
            + ". Connect to the internet once so they download into the Hugging Face cache, or download them "
            "elsewhere and pass --model-dir DIR (or DIFFRHYTHM_MODEL_DIR) laid out as in diffrhythm_ui/engine/"
            "assets.py, or use --engine tiny for an offline demo with random weights."
        )
    return found
