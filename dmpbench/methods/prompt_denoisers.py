"""The denoisers of Prompt Diffusion (``methods/prompt_diffusion.py``): x_t, t and the image's feature -> the clean prompt.

``transformer`` is the paper's (section 4.2): GPT-2 blocks (``transformers``' ``GPT2Model``; paper: 12 layers, 16 heads)
over [meta-net(image feature), time token, the K noisy prompt tokens], the meta-net CoCoOp's (Linear-ReLU-Linear).

``mlp`` is ours, the mini world's default: [x_t flattened, time embedding, image feature] -> ``layers`` hidden SiLU
layers of ``width`` -> the prompt. Why (``leaderboards/ablations/prompt_diffusion_recipe.md``, base classes, seed 1,
2,000 steps, DPM-Solver-2 in 5 steps): on mini_objects (384 over-fitted CoOp prompts, 24 classes) the transformer
learns no image-to-prompt mapping: its samples classify their own training images at 62.2%, below the CoOp prompt's
72.9% (the over-fitted prompts: 100%), where the MLP's give 99.2%; both reproduce mini_shapes' 96 (99.0%). Diagnosis
scripts (not kept) found the transformer's error at t = T equal to predicting zero with a 512-wide meta-net, the
condition added to every prompt token, width 384, no dropout or a v-parameterised output alike.

Both see the image feature standardised by the training images' per-dimension mean and std (a fixed re-parametrisation
kept in the weights, ``cond_mean`` / ``cond_std``): in the same diagnosis the MLP diffusing the offsets' 32 principal
coordinates gave 69.0% without it and 94.8% with it (the features of one dataset share most of their direction).
"""

from __future__ import annotations

import torch
from torch import nn

DENOISERS = ("transformer", "mlp")


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal (frequency-based, as the paper encodes t) embedding ``[B, dim]`` of the timesteps: diffusers' own,
    [sin, cos] with frequencies 10000^(-i / (dim / 2))."""
    from diffusers.models.embeddings import get_timestep_embedding

    return get_timestep_embedding(t, dim, flip_sin_to_cos=False, downscale_freq_shift=0)


class _Denoiser(nn.Module):
    """What both share: the condition's standardisation and the config that rebuilds them."""

    def __init__(self, kind: str, prompt_shape: tuple[int, int], feat_dim: int, width: int, layers: int, heads: int):
        super().__init__()
        k, d = prompt_shape
        self.config_dict = {"kind": kind, "prompt_shape": [k, d], "feat_dim": feat_dim, "width": width, "layers": layers, "heads": heads}
        self.prompt_shape, self.width = (k, d), width
        self.register_buffer("cond_mean", torch.zeros(feat_dim))
        self.register_buffer("cond_std", torch.ones(feat_dim))

    def standardise_with(self, feats: torch.Tensor) -> None:
        """Fix the condition's standardisation to the training images' features ``[N, D]``."""
        self.cond_mean.copy_(feats.mean(0))
        self.cond_std.copy_(feats.std(0).clamp_min(1e-6) if feats.shape[0] > 1 else torch.ones_like(self.cond_std))

    def condition(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.cond_mean) / self.cond_std


class TransformerDenoiser(_Denoiser):
    """[meta-net(image), time, K prompt tokens] -> GPT-2 blocks -> the clean prompt's K tokens (the paper's)."""

    def __init__(self, prompt_shape, feat_dim, width, layers, heads):
        super().__init__("transformer", prompt_shape, feat_dim, width, layers, heads)
        from transformers import GPT2Config, GPT2Model

        k, d = prompt_shape
        hidden = max(1, feat_dim // 16)  # CoCoOp's meta-net: D -> D/16 -> ReLU -> out
        self.meta_net = nn.Sequential(nn.Linear(feat_dim, hidden), nn.ReLU(), nn.Linear(hidden, width))
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.proj_in = nn.Linear(d, width)
        self.proj_out = nn.Linear(width, d)
        self.gpt = GPT2Model(GPT2Config(n_embd=width, n_layer=layers, n_head=heads, n_positions=k + 2, vocab_size=1,
                                        bos_token_id=None, eos_token_id=None))

    def forward(self, x: torch.Tensor, t: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        cond = self.meta_net(self.condition(feats))[:, None]
        tokens = torch.cat([cond, self.time(timestep_embedding(t, self.width))[:, None], self.proj_in(x)], 1)
        return self.proj_out(self.gpt(inputs_embeds=tokens).last_hidden_state[:, 2:])


class MLPDenoiser(_Denoiser):
    """[x_t flattened, time embedding, image feature] -> ``layers`` x (Linear, SiLU) of ``width`` -> the clean prompt."""

    def __init__(self, prompt_shape, feat_dim, width, layers, heads):
        super().__init__("mlp", prompt_shape, feat_dim, width, layers, heads)
        n = prompt_shape[0] * prompt_shape[1]
        dims = [n + width + feat_dim] + [width] * layers
        blocks = [m for a, b in zip(dims[:-1], dims[1:]) for m in (nn.Linear(a, b), nn.SiLU())]
        self.net = nn.Sequential(*blocks, nn.Linear(dims[-1], n))

    def forward(self, x: torch.Tensor, t: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        inputs = torch.cat([x.flatten(1), timestep_embedding(t, self.width), self.condition(feats)], 1)
        return self.net(inputs).view(-1, *self.prompt_shape)


def make_denoiser(kind: str, prompt_shape: tuple[int, int], feat_dim: int, width: int, layers: int, heads: int) -> _Denoiser:
    cls = {"transformer": TransformerDenoiser, "mlp": MLPDenoiser}[kind]
    return cls(tuple(prompt_shape), feat_dim, width, layers, heads)
