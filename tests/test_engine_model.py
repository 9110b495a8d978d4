"""The DiT, its official checkpoint format, the sampler and the VAE's chunked coding."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from diffrhythm_ui.engine.checkpoint import config_from_state_dict, load_dit, save_dit
from diffrhythm_ui.engine.dit import DiT, DiTConfig
from diffrhythm_ui.engine.errors import CheckpointError
from diffrhythm_ui.engine.sampler import FlowMatchEulerSampler
from diffrhythm_ui.engine.vae import HOP, TinyVAE, decode, encode, windows

TINY = DiTConfig(dim=64, depth=4, ff_mult=2, text_num_embeds=20, conv_layers=2, max_frames=2048)


def official_state_dict(config: DiTConfig, full: bool) -> dict[str, torch.Tensor]:
    """Keys and shapes of ASLP-lab/DiffRhythm's CFM(DiT) state dict, written out from the official modules
    (model/dit.py, model/modules.py and transformers' LlamaDecoderLayer), not from our classes."""
    d, t, s, lat = config.dim, config.text_dim, 512, config.latent_dim
    shapes: dict[str, tuple[int, ...]] = {}

    def linear(name: str, out: int, inp: int, bias: bool = True) -> None:
        shapes[f"{name}.weight"] = (out, inp)
        if bias:
            shapes[f"{name}.bias"] = (out,)

    embeds = ["time_embed", "start_time_embed"] + (["duration_time_embed"] if full else [])
    for embed in embeds:
        linear(f"{embed}.time_mlp.0", s, 256)
        linear(f"{embed}.time_mlp.2", s, s)
    shapes["text_embed.text_embed.weight"] = (config.text_num_embeds + 1, t)
    for i in range(config.conv_layers):
        block = f"text_embed.text_blocks.{i}"
        shapes[f"{block}.dwconv.weight"], shapes[f"{block}.dwconv.bias"] = (t, 1, 7), (t,)
        shapes[f"{block}.norm.weight"], shapes[f"{block}.norm.bias"] = (t,), (t,)
        linear(f"{block}.pwconv1", 2 * t, t)
        shapes[f"{block}.grn.gamma"], shapes[f"{block}.grn.beta"] = (1, 1, 2 * t), (1, 1, 2 * t)
        linear(f"{block}.pwconv2", t, 2 * t)
    linear("input_embed.proj", d, 2 * lat + t + 2 * s)
    for i in (0, 2):
        shapes[f"input_embed.conv_pos_embed.conv1d.{i}.weight"] = (d, d // 16, 31)
        shapes[f"input_embed.conv_pos_embed.conv1d.{i}.bias"] = (d,)
    for i in range(config.depth):
        layer = f"transformer_blocks.{i}"
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            linear(f"{layer}.self_attn.{proj}", d, d, bias=False)
        linear(f"{layer}.mlp.gate_proj", d * config.ff_mult, d, bias=False)
        linear(f"{layer}.mlp.up_proj", d * config.ff_mult, d, bias=False)
        linear(f"{layer}.mlp.down_proj", d, d * config.ff_mult, bias=False)
        shapes[f"{layer}.input_layernorm.weight"] = (d,)
        shapes[f"{layer}.post_attention_layernorm.weight"] = (d,)
    for i in range(config.depth // 2):
        linear(f"text_fusion_linears.{i}.0", d, s)
    linear("norm_out.linear", 2 * d, s)
    linear("proj_out", lat, d)
    generator = torch.Generator().manual_seed(0)
    return {f"transformer.{k}": torch.randn(v, generator=generator).half() for k, v in shapes.items()}


@pytest.mark.parametrize("full", [False, True])
def test_official_format_checkpoint_loads_strictly(tmp_path: Path, full: bool) -> None:
    state = official_state_dict(TINY, full)
    path = tmp_path / "cfm_model.pt"
    torch.save({"model_state_dict": state}, path)
    model = load_dit(path)
    assert model.config.max_frames == (6144 if full else 2048)
    assert (model.config.dim, model.config.depth, model.config.conv_layers) == (64, 4, 2)
    loaded = model.state_dict()
    for key, value in state.items():
        assert torch.equal(loaded[key.removeprefix("transformer.")], value.float()), key


def test_checkpoint_problems_are_named(tmp_path: Path) -> None:
    state = official_state_dict(TINY, full=False)
    cases = {
        "missing keys: proj_out.bias": {k: v for k, v in state.items() if k != "transformer.proj_out.bias"},
        "unexpected keys: extra.weight": {**state, "transformer.extra.weight": torch.zeros(1)},
        "wrong shapes: norm_out.linear.bias": {**state, "transformer.norm_out.linear.bias": torch.zeros(3)},
        "keys outside 'transformer.'": {**state, "ema.step": torch.zeros(1)},
    }
    for message, broken in cases.items():
        path = tmp_path / "broken.pt"
        torch.save({"model_state_dict": broken}, path)
        with pytest.raises(CheckpointError, match=message.replace("(", r"\(")):
            load_dit(path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_dit(tmp_path / "junk.pt")


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = DiT(TINY)
    save_dit(model, tmp_path / "cfm_model.pt")
    raw = torch.load(tmp_path / "cfm_model.pt", weights_only=True)["model_state_dict"]
    assert all(k.startswith("transformer.") and v.dtype == torch.float16 for k, v in raw.items())
    assert config_from_state_dict({k.removeprefix("transformer."): v for k, v in raw.items()}) == TINY
    assert set(load_dit(tmp_path / "cfm_model.pt").state_dict()) == set(model.state_dict())


def test_attention_is_bidirectional_and_lyrics_drop_uses_token_zero() -> None:
    torch.manual_seed(0)
    model = DiT(TINY).eval()
    frames = 16
    x, cond = torch.randn(1, frames, 64), torch.zeros(1, frames, 64)
    tokens = torch.randint(1, 20, (1, frames))
    zero = torch.zeros(1)
    condition = model.condition(tokens, zero, zero, drop_text=False)
    out = model(x, cond, condition, torch.tensor([0.5]), torch.randn(1, 512))
    changed = x.clone()
    changed[:, -1] += 1.0  # a change at the last frame reaches the first: no causal mask
    assert not torch.allclose(
        out[:, 0], model(changed, cond, condition, torch.tensor([0.5]), torch.randn(1, 512))[:, 0]
    )
    dropped = model.condition(tokens, zero, zero, drop_text=True)
    assert torch.equal(dropped.text, model.condition(torch.zeros_like(tokens), zero, zero, drop_text=False).text)


def test_sampler_takes_steps_minus_one_euler_steps() -> None:
    sampler = FlowMatchEulerSampler()
    sampler.set_timesteps(5)
    assert sampler.num_steps == 4
    x = torch.zeros(3)
    for i in range(sampler.num_steps):
        x = sampler.step(torch.ones(3), i, x).prev_sample
    assert torch.allclose(x, torch.ones(3))  # a constant unit flow integrates to 1 over [0, 1]
    with pytest.raises(ValueError, match="at least 2"):
        sampler.set_timesteps(1)


@pytest.mark.parametrize("total", [1, 50, 128, 129, 200, 2048, 2050, 6144])
def test_windows_tile_every_frame_once(total: int) -> None:
    plan = windows(total)
    covered = [f for w in plan for f in range(w.keep_start, w.keep_end)]
    assert covered == list(range(total))
    assert all(0 <= w.start <= w.keep_start < w.keep_end <= w.end <= total for w in plan)
    assert all(w.end - w.start == min(128, total) for w in plan)


def test_chunked_decode_matches_full_decode_and_encode_shapes() -> None:
    torch.manual_seed(0)
    vae = torch.jit.script(TinyVAE().eval())
    latents = torch.randn(2, 64, 300)
    calls: list[tuple[int, int]] = []
    chunked = decode(vae, latents, chunked=True, on_chunk=lambda d, t: calls.append((d, t)))
    full = decode(vae, latents, chunked=False)
    assert chunked.shape == (2, 2, 300 * HOP)
    assert torch.allclose(chunked, full, atol=1e-5)
    assert calls == [(i, len(windows(300))) for i in range(1, len(windows(300)) + 1)]
    encoded = encode(vae, full, torch.Generator().manual_seed(0))
    assert encoded.shape == (2, 64, 300)
