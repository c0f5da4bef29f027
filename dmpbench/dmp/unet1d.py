"""A 1D conditional U-Net in the spirit of Stable Diffusion's (DMP paper, section 3 and Table 17).

Stable Diffusion's 2D operations are replaced by 1D ones: ResNet blocks (GroupNorm, SiLU, Conv1d, a
timestep-embedding shift), strided-conv down-sampling, nearest+conv up-sampling, skip connections, and
spatial-transformer blocks (self-attention, cross-attention over the text condition, GEGLU feed-forward)
at chosen signal lengths. The transformer block itself, the timestep embedding and the 1D
down/up-sampling layers come from diffusers.

Input layout: a signal ``[B, in_channels, length]`` (see ``dmpbench.dmp.layout`` for how a prompt
``[K, d]`` becomes one). Two conditionings:

* ``cond`` ``[B, L, cond_dim]`` with a boolean key-padding mask ``[B, L]`` (True = real token): used
  as keys/values by every cross-attention layer;
* ``concat`` ``[B, concat_channels, length]``: concatenated with the noisy input along channels
  (DMPVariation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.downsampling import Downsample1D
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.upsampling import Upsample1D
from torch import nn

from dmpbench.errors import DmpbenchError


@dataclass
class UNet1DConfig:
    in_channels: int = 8
    length: int = 16
    cond_dim: int = 768
    concat_channels: int = 0
    channels: int = 128
    channel_mult: tuple[int, ...] = (1, 2, 2, 2)
    layers_per_block: int = 2
    attention_resolutions: tuple[int, ...] = (16, 8, 4)  # signal lengths at which attention runs
    head_channels: int = 8  # channels per attention head
    transformer_depth: int = 1
    norm_groups: int = 32
    # eps = U-Net output + sqrt(1 - alpha_bar_t) * x_t (see UNet1D); 0 disables the skip
    eps_skip: bool = True
    # also add the (masked) mean of the condition to the timestep embedding, so every ResBlock sees it
    # (as SDXL adds its pooled text embedding); the cross-attention stays
    pooled_cond: bool = False

    def __post_init__(self):
        self.channel_mult = tuple(self.channel_mult)
        self.attention_resolutions = tuple(self.attention_resolutions)
        factor = 2 ** (len(self.channel_mult) - 1)
        if self.length % factor:
            raise DmpbenchError(f"U-Net signal length {self.length} must be divisible by {factor}")

    def to_dict(self) -> dict:
        return asdict(self)


# Table 17 (DMPVariation / DMPMulti / DMPCoOp columns) and a CPU-sized preset.
PRESETS: dict[str, dict] = {
    "paper": dict(channels=128, channel_mult=(1, 2, 2, 2), layers_per_block=2,
                  attention_resolutions=(16, 8, 4), head_channels=8, transformer_depth=1,
                  norm_groups=32, length=16),
    "small": dict(channels=32, channel_mult=(1, 2), layers_per_block=1,
                  attention_resolutions=(4,), head_channels=8, transformer_depth=1,
                  norm_groups=8, length=8),
}


class ResBlock1D(nn.Module):
    """Stable Diffusion's ResnetBlock2D with Conv1d: GN-SiLU-conv, + time shift, GN-SiLU-conv, skip.

    ``temb_dim=0``: no timestep input (the VAE's blocks)."""

    def __init__(self, cin: int, cout: int, temb_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv1d(cin, cout, 3, padding=1)
        self.time_proj = nn.Linear(temb_dim, cout) if temb_dim else None
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv1d(cout, cout, 3, padding=1)
        self.act = nn.SiLU()
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb=None):
        h = self.conv1(self.act(self.norm1(x)))
        if self.time_proj is not None:
            h = h + self.time_proj(self.act(temb))[:, :, None]
        h = self.conv2(self.act(self.norm2(h)))
        return self.skip(x) + h


class Transformer1D(nn.Module):
    """Stable Diffusion's spatial transformer on a 1D signal: GN, proj_in, diffusers blocks, proj_out."""

    def __init__(self, ch: int, cfg: UNet1DConfig):
        super().__init__()
        self.norm = nn.GroupNorm(cfg.norm_groups, ch, eps=1e-6)
        self.proj_in = nn.Linear(ch, ch)
        self.blocks = nn.ModuleList(
            BasicTransformerBlock(ch, ch // cfg.head_channels, cfg.head_channels,
                                  cross_attention_dim=cfg.cond_dim, activation_fn="geglu")
            for _ in range(cfg.transformer_depth))
        self.proj_out = nn.Linear(ch, ch)

    def forward(self, x, cond, cond_bias):
        h = self.proj_in(self.norm(x).transpose(1, 2))  # [B, length, ch]: positions are tokens
        for block in self.blocks:
            h = block(h, encoder_hidden_states=cond, encoder_attention_mask=cond_bias)
        return x + self.proj_out(h).transpose(1, 2)


class UNet1D(nn.Module):
    def __init__(self, cfg: UNet1DConfig):
        super().__init__()
        self.cfg = cfg
        ch0 = cfg.channels
        temb_dim = 4 * ch0
        self.time_proj = Timesteps(ch0, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(ch0, temb_dim)
        self.conv_in = nn.Conv1d(cfg.in_channels + cfg.concat_channels, ch0, 3, padding=1)
        # learned null-text condition (one token) for classifier-free guidance
        self.null_cond = nn.Parameter(torch.randn(1, cfg.cond_dim) * 0.02)
        self.cond_embed = nn.Linear(cfg.cond_dim, temb_dim) if cfg.pooled_cond else None

        def stage(cin, cout, length):
            attn = Transformer1D(cout, cfg) if length in cfg.attention_resolutions else None
            return nn.ModuleDict({"res": ResBlock1D(cin, cout, temb_dim, cfg.norm_groups),
                                  **({"attn": attn} if attn is not None else {})})

        self.down = nn.ModuleList()
        skip_ch = [ch0]
        ch, length = ch0, cfg.length
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.layers_per_block):
                self.down.append(stage(ch, ch0 * mult, length))
                ch = ch0 * mult
                skip_ch.append(ch)
            if level < len(cfg.channel_mult) - 1:
                self.down.append(nn.ModuleDict({"down": Downsample1D(ch, use_conv=True)}))
                skip_ch.append(ch)
                length //= 2
        self.mid_res1 = ResBlock1D(ch, ch, temb_dim, cfg.norm_groups)
        self.mid_attn = Transformer1D(ch, cfg)
        self.mid_res2 = ResBlock1D(ch, ch, temb_dim, cfg.norm_groups)
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for i in range(cfg.layers_per_block + 1):
                block = stage(ch + skip_ch.pop(), ch0 * mult, length)
                ch = ch0 * mult
                if level > 0 and i == cfg.layers_per_block:
                    block["up"] = Upsample1D(ch, use_conv=True)
                    length *= 2
                self.up.append(block)
        self.norm_out = nn.GroupNorm(cfg.norm_groups, ch)
        self.conv_out = nn.Conv1d(ch, cfg.in_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)
        # The optimal epsilon for standardised N(0, I) data is sqrt(1 - alpha_bar_t) * x_t; the U-Net
        # learns the residual from it (still epsilon prediction and the same loss). Without it the
        # net must reproduce x_t to ~1e-3 at t ~ 999 (alpha_bar ~ 4e-5, linear schedule), and
        # seeds in the noise tails locked into far-off prompts. Schedule: DDPM linear 1e-4..0.02.
        betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
        skip = (1 - torch.cumprod(1 - betas, 0)).sqrt().float()
        self.register_buffer("eps_skip_coef", skip if cfg.eps_skip else torch.zeros(1000), persistent=False)

    def forward(self, x, t, cond, cond_mask=None, concat=None):
        """x [B, C, length]; t [B] or scalar; cond [B, L, cond_dim]; cond_mask bool [B, L]."""
        if self.cfg.concat_channels:
            if concat is None:
                raise DmpbenchError("this DMP expects a concatenated conditioning prompt")
            x = torch.cat([x, concat.to(x.dtype)], dim=1)
        t = torch.as_tensor(t, device=x.device).expand(x.shape[0])
        temb = self.time_embed(self.time_proj(t).to(x.dtype))
        if self.cond_embed is not None:
            keep = (torch.ones(cond.shape[:2], dtype=torch.bool, device=x.device) if cond_mask is None else cond_mask)
            keep = keep.to(cond.dtype)[..., None]
            temb = temb + self.cond_embed((cond * keep).sum(1) / keep.sum(1).clamp_min(1.0))
        bias = None
        if cond_mask is not None:  # additive key-padding bias, as diffusers' Transformer2DModel builds it
            bias = ((~cond_mask).to(x.dtype) * -10000.0)[:, None, :]
        h = self.conv_in(x)
        skips = [h]
        for block in self.down:
            h = self._stage(block, h, temb, cond, bias)
            skips.append(h)
        h = self.mid_res2(self.mid_attn(self.mid_res1(h, temb), cond, bias), temb)
        for block in self.up:
            h = self._stage(block, torch.cat([h, skips.pop()], dim=1), temb, cond, bias)
        coef = self.eps_skip_coef[t.round().long().clamp(0, 999)].to(h.dtype)[:, None, None]
        return self.conv_out(nn.functional.silu(self.norm_out(h))) + coef * x[:, : self.cfg.in_channels]

    @staticmethod
    def _stage(block, h, temb, cond, bias):
        if "down" in block:
            return block["down"](h)
        h = block["res"](h, temb)
        if "attn" in block:
            h = block["attn"](h, cond, bias)
        if "up" in block:
            h = block["up"](h)
        return h


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
