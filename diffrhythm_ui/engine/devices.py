"""Choosing where the model runs: CUDA (bf16, else fp16), Apple MPS (fp16) or the CPU (fp32)."""

from __future__ import annotations

import torch

DEVICES = ("auto", "cuda", "mps", "cpu")


def choose_device(preference: str = "auto") -> torch.device:
    if preference not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {preference!r}")
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available")
    if preference == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for but Apple MPS is not available")
    return torch.device(preference)


def choose_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32
