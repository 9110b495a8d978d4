"""The DiffRhythm diffusion transformer (DiT), written to load the official v1.2 checkpoints unchanged.

Follows ``model/dit.py`` and ``model/modules.py`` of ASLP-lab/DiffRhythm (itself adapted from F5-TTS):
a frame-aligned lyrics embedding, an input projection of (noisy latents, conditioning latents, lyrics,
style, time), LLaMA-style decoder layers over the latent frames, and an adaptive final norm. Module and
parameter names match the official state dict key for key (under the ``transformer.`` prefix of the CFM
wrapper), which ``load_dit_state_dict`` checks strictly.

Three facts of the official model that a reimplementation easily gets wrong:
- attention always has 32 heads (``LlamaConfig``'s default; the config file's ``heads`` is never passed on);
- attention is bidirectional (the official code passes an all-zero additive mask to the LLaMA layers);
- dropping the lyrics for classifier-free guidance zeroes the token ids (token 0's embedding, not zeros).
We implement the LLaMA layer ourselves rather than import it, because its return type changed across
``transformers`` releases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

STYLE_DIM = 512  # MuQ-MuLan embedding size; also the conditioning width of the official model
FREQ_EMBED_DIM = 256


@dataclass(frozen=True)
class DiTConfig:
    dim: int = 2048
    depth: int = 16
    num_heads: int = 32  # always 32 in the official model, see module docstring
    ff_mult: int = 4
    text_dim: int = 512
    text_num_embeds: int = 363  # size of the G2P vocabulary; the embedding has one more row for filler 0
    conv_layers: int = 4
    latent_dim: int = 64  # "mel_dim" in the official config: the VAE's latent channels
    max_frames: int = 2048  # 2048 for DiffRhythm-1_2 (95 s), 6144 for DiffRhythm-1_2-full (285 s)
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0

    @property
    def has_duration_embedding(self) -> bool:
        return self.max_frames == 6144

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads


# Embeddings


class SinusPositionEmbedding(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor, scale: float = 1000.0) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(torch.arange(half, device=x.device).float() * -(math.log(10000) / (half - 1)))
        angles = scale * x.float().unsqueeze(1) * freqs.unsqueeze(0)  # (B, half)
        return torch.cat((angles.sin(), angles.cos()), dim=-1)  # (B, dim)


class TimestepEmbedding(nn.Module):
    """A scalar in [0, 1] (flow time, start time or duration) to a ``STYLE_DIM`` vector."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.time_embed = SinusPositionEmbedding(FREQ_EMBED_DIM)
        self.time_mlp = nn.Sequential(nn.Linear(FREQ_EMBED_DIM, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        hidden = self.time_embed(t).to(self.time_mlp[0].weight.dtype)
        return self.time_mlp(hidden)  # (B, dim)


def sinusoid_table(dim: int, length: int, theta: float = 10000.0) -> torch.Tensor:
    """Fixed positional table for the lyrics tokens: cos and sin halves, (length, dim)."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
    angles = torch.outer(torch.arange(length).float(), freqs)
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class GRN(nn.Module):
    """Global response normalization (ConvNeXt V2), normalizing over the time axis."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gx = torch.norm(x, p=2, dim=1, keepdim=True)  # (B, 1, D)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    def __init__(self, dim: int, intermediate_dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.grn = GRN(intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x.transpose(1, 2)).transpose(1, 2)  # (B, N, D)
        h = self.pwconv2(self.grn(self.act(self.pwconv1(self.norm(h)))))
        return x + h


class TextEmbedding(nn.Module):
    """Frame-aligned lyrics tokens (0 = no token) to vectors, with positions and ConvNeXt context."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.text_embed = nn.Embedding(config.text_num_embeds + 1, config.text_dim)
        self.max_pos = config.max_frames
        self.register_buffer("freqs_cis", sinusoid_table(config.text_dim, config.max_frames), persistent=False)
        self.text_blocks = nn.Sequential(
            *[ConvNeXtV2Block(config.text_dim, config.text_dim * 2) for _ in range(config.conv_layers)]
        )

    def forward(self, tokens: torch.Tensor, drop_text: bool = False) -> torch.Tensor:
        if drop_text:
            tokens = torch.zeros_like(tokens)
        x = self.text_embed(tokens)  # (B, N, text_dim)
        positions = torch.arange(tokens.shape[1], device=tokens.device).clamp(max=self.max_pos - 1)
        x = x + self.freqs_cis[positions].to(x.dtype)
        return self.text_blocks(x)


class ConvPositionEmbedding(nn.Module):
    def __init__(self, dim: int, kernel_size: int = 31, groups: int = 16) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.conv1d = nn.Sequential(
            nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=padding),
            nn.Mish(),
            nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=padding),
            nn.Mish(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1d(x.transpose(1, 2)).transpose(1, 2)


class InputEmbedding(nn.Module):
    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        in_dim = config.latent_dim * 2 + config.text_dim + STYLE_DIM * 2
        self.proj = nn.Linear(in_dim, config.dim)
        self.conv_pos_embed = ConvPositionEmbedding(config.dim)

    def forward(
        self,
        x: torch.Tensor,  # (B, N, latent_dim) noisy latents
        cond: torch.Tensor,  # (B, N, latent_dim) known latents, zeros where generated
        text: torch.Tensor,  # (B, N, text_dim)
        style: torch.Tensor,  # (B, STYLE_DIM)
        time: torch.Tensor,  # (B, STYLE_DIM)
        drop_audio_cond: bool = False,
    ) -> torch.Tensor:
        if drop_audio_cond:
            cond = torch.zeros_like(cond)
        frames = x.shape[1]
        style = style.unsqueeze(1).expand(-1, frames, -1)
        time = time.unsqueeze(1).expand(-1, frames, -1)
        h = self.proj(torch.cat((x, cond, text, style, time), dim=-1))  # (B, N, dim)
        return self.conv_pos_embed(h) + h


# LLaMA-style decoder layer (bidirectional)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


class RotaryEmbedding(nn.Module):
    def __init__(self, head_dim: int, theta: float) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, frames: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(frames, device=self.inv_freq.device).float()
        angles = torch.outer(positions, self.inv_freq)
        emb = torch.cat((angles, angles), dim=-1)  # (N, head_dim)
        return emb.cos().to(dtype), emb.sin().to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


class SelfAttention(nn.Module):
    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.num_heads, self.head_dim = config.num_heads, config.head_dim
        inner = config.num_heads * config.head_dim
        self.q_proj = nn.Linear(config.dim, inner, bias=False)
        self.k_proj = nn.Linear(config.dim, inner, bias=False)
        self.v_proj = nn.Linear(config.dim, inner, bias=False)
        self.o_proj = nn.Linear(inner, config.dim, bias=False)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        batch, frames, _ = x.shape
        shape = (batch, frames, self.num_heads, self.head_dim)
        q = self.q_proj(x).view(shape).transpose(1, 2)  # (B, H, N, hd)
        k = self.k_proj(x).view(shape).transpose(1, 2)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        cos, sin = rope
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        out = F.scaled_dot_product_attention(q, k, v, is_causal=False)  # (B, H, N, hd)
        return self.o_proj(out.transpose(1, 2).reshape(batch, frames, -1))


class FeedForward(nn.Module):
    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        hidden = config.dim * config.ff_mult
        self.gate_proj = nn.Linear(config.dim, hidden, bias=False)
        self.up_proj = nn.Linear(config.dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, config.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.dim, config.rms_norm_eps)
        self.self_attn = SelfAttention(config)
        self.post_attention_layernorm = RMSNorm(config.dim, config.rms_norm_eps)
        self.mlp = FeedForward(config)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rope)
        return x + self.mlp(self.post_attention_layernorm(x))


class AdaLayerNormFinal(nn.Module):
    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(cond_dim, dim * 2)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.linear(self.silu(cond)).chunk(2, dim=1)
        return self.norm(x) * (1 + scale)[:, None, :] + shift[:, None, :]


# The model


@dataclass
class TextCondition:
    """What stays the same at every sampling step: computed once per branch of guidance."""

    text: torch.Tensor  # (B, N, text_dim)
    time_offset: torch.Tensor  # (B, STYLE_DIM): start-time (+ duration) embedding


class DiT(nn.Module):
    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.config = config
        self.time_embed = TimestepEmbedding(STYLE_DIM)
        self.start_time_embed = TimestepEmbedding(STYLE_DIM)
        self.duration_time_embed = TimestepEmbedding(STYLE_DIM) if config.has_duration_embedding else None
        self.text_embed = TextEmbedding(config)
        self.input_embed = InputEmbedding(config)
        self.transformer_blocks = nn.ModuleList([DecoderLayer(config) for _ in range(config.depth)])
        self.rotary_emb = RotaryEmbedding(config.head_dim, config.rope_theta)
        self.text_fusion_linears = nn.ModuleList(
            [nn.Sequential(nn.Linear(STYLE_DIM, config.dim), nn.SiLU()) for _ in range(config.depth // 2)]
        )
        self.norm_out = AdaLayerNormFinal(config.dim, STYLE_DIM)
        self.proj_out = nn.Linear(config.dim, config.latent_dim)

    def condition(
        self, tokens: torch.Tensor, start_time: torch.Tensor, duration: torch.Tensor, drop_text: bool
    ) -> TextCondition:
        """The timestep-invariant part of a forward pass (lyrics embedding, start time, song duration)."""
        offset = self.start_time_embed(start_time)
        if self.duration_time_embed is not None:
            offset = offset + self.duration_time_embed(duration)
        return TextCondition(text=self.text_embed(tokens, drop_text=drop_text), time_offset=offset)

    def forward(
        self,
        x: torch.Tensor,  # (B, N, latent_dim)
        cond: torch.Tensor,  # (B, N, latent_dim)
        condition: TextCondition,
        time: torch.Tensor,  # (B,) flow time in [0, 1]
        style: torch.Tensor,  # (B, STYLE_DIM)
        drop_audio_cond: bool = False,
    ) -> torch.Tensor:
        c = self.time_embed(time) + condition.time_offset  # (B, STYLE_DIM)
        h = self.input_embed(x, cond, condition.text, style, c, drop_audio_cond=drop_audio_cond)
        rope = self.rotary_emb(h.shape[1], h.dtype)
        for i, block in enumerate(self.transformer_blocks):
            h = block(h, rope)
            if i < len(self.text_fusion_linears):
                h = h + self.text_fusion_linears[i](condition.text)
        return self.proj_out(self.norm_out(h, c))  # (B, N, latent_dim): the predicted flow
