"""Euler solver for conditional flow matching, in the scheduler shape diffusers uses.

Time runs from 0 (noise) to 1 (data) on ``linspace(0, 1, steps)``, so ``steps`` time points give
``steps - 1`` Euler steps, exactly as the official ``torchdiffeq.odeint(method="euler")`` call does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SamplerOutput:
    prev_sample: torch.Tensor


class FlowMatchEulerSampler:
    def __init__(self) -> None:
        self.timesteps = torch.empty(0)

    def set_timesteps(self, steps: int, device: torch.device | str = "cpu") -> None:
        if steps < 2:
            raise ValueError(f"steps must be at least 2 (one Euler step); got {steps}")
        self.timesteps = torch.linspace(0.0, 1.0, steps, device=device)

    @property
    def num_steps(self) -> int:
        """Number of Euler steps: one fewer than the time points."""
        return max(0, len(self.timesteps) - 1)

    def step(self, velocity: torch.Tensor, index: int, sample: torch.Tensor) -> SamplerOutput:
        """Move ``sample`` along the predicted flow from time point ``index`` to ``index + 1``."""
        dt = (self.timesteps[index + 1] - self.timesteps[index]).to(sample.dtype)
        return SamplerOutput(prev_sample=sample + dt * velocity)
