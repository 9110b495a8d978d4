"""Read and write DiT checkpoints in the official format, and load them strictly.

The official ``cfm_model.pt`` is ``torch.save({"model_state_dict": {...}})`` of the CFM wrapper: every DiT key
is prefixed ``transformer.``, tensors are fp16. The official loader uses ``strict=False``, which silently
ignores a wrong or truncated file; ours names every missing, unexpected or mis-shaped key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from diffrhythm_ui.engine.dit import DiT, DiTConfig
from diffrhythm_ui.engine.errors import CheckpointError

PREFIX = "transformer."
# Non-persistent buffers that some exports include; they are recomputed, never loaded.
RECOMPUTED_BUFFERS = ("rotary_emb.inv_freq", "text_embed.freqs_cis")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The DiT weights of an official checkpoint, without the ``transformer.`` prefix."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a corrupt or foreign file
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint: {error}") from error
    if not isinstance(checkpoint, Mapping) or "model_state_dict" not in checkpoint:
        raise CheckpointError(f"{path} has no 'model_state_dict': not a DiffRhythm cfm_model.pt")
    state = checkpoint["model_state_dict"]
    foreign = sorted(k for k in state if not k.startswith(PREFIX))
    if foreign:
        raise CheckpointError(f"{path}: keys outside '{PREFIX}': {_names(foreign)}")
    return {k.removeprefix(PREFIX): v for k, v in state.items() if not k.endswith(RECOMPUTED_BUFFERS)}


def config_from_state_dict(state: Mapping[str, torch.Tensor]) -> DiTConfig:
    """Read the architecture off the tensor shapes, so a checkpoint of any size loads."""
    try:
        latent_dim, dim = state["proj_out.weight"].shape
        rows, text_dim = state["text_embed.text_embed.weight"].shape
        hidden = state["transformer_blocks.0.mlp.gate_proj.weight"].shape[0]
    except KeyError as error:
        raise CheckpointError(f"checkpoint lacks {error.args[0]}: not a DiffRhythm DiT") from error
    depth = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"transformer_blocks\.(\d+)\.", k)))
    conv_layers = len({m.group(1) for k in state if (m := re.match(r"text_embed\.text_blocks\.(\d+)\.", k))})
    full = any(k.startswith("duration_time_embed.") for k in state)
    return DiTConfig(
        dim=dim,
        depth=depth,
        ff_mult=hidden // dim,
        text_dim=text_dim,
        text_num_embeds=rows - 1,
        conv_layers=conv_layers,
        latent_dim=latent_dim,
        max_frames=6144 if full else 2048,
    )


def load_dit(path: Path) -> DiT:
    """Build a DiT of the checkpoint's size and load its weights with strict key and shape checks."""
    state = read_state_dict(path)
    model = DiT(config_from_state_dict(state))
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_names(unexpected)}")
    if mismatched:
        problems.append(f"wrong shapes: {_names(mismatched)}")
    if problems:
        raise CheckpointError(f"{path} does not match the DiffRhythm DiT: " + "; ".join(problems))
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model.eval()


def save_dit(model: DiT, path: Path) -> None:
    """Write ``model`` as an official-format ``cfm_model.pt`` (fp16, ``transformer.`` prefix)."""
    state = {PREFIX + k: v.detach().to("cpu", torch.float16) for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_state_dict": state}, path)


def _names(items: list[str], shown: int = 8) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more
