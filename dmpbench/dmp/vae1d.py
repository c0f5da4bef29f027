"""The 1D prompt autoencoder of Table 17 (DMPCoOp column, "Autoencoder"): a 1D variant of Stable
Diffusion's KL autoencoder for long prompts (K*d >= 2048).

Input: one channel of length N (the normalised, flattened prompt); 8 levels with channel multipliers
1,1,1,1,2,2,2,2 and 7 stride-2 down-samplings, so the latent is ``[8, N/128]`` (16 x 8 = 128 values for
N = 2048). Each level has one ResNet block (GroupNorm, no timestep); no attention (Table 17: "-").
Trained with MSE reconstruction + a small KL term (Stable Diffusion's kl weight 1e-6); the DMP
diffuses the posterior mean (deterministic encoding). Table 17 lists 128 channels and < 1M parameters,
which cannot both hold for these 8 levels; the ``paper`` preset keeps the < 1M budget (base width 48, ~0.82M).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from diffusers.models.downsampling import Downsample1D
from diffusers.models.upsampling import Upsample1D
from torch import nn
from tqdm.auto import tqdm

from dmpbench.dmp.unet1d import ResBlock1D


@dataclass
class VAE1DConfig:
    length: int = 2048
    channels: int = 32
    channel_mult: tuple[int, ...] = (1, 1, 1, 1, 2, 2, 2, 2)
    z_channels: int = 8
    norm_groups: int = 8
    kl_weight: float = 1e-6

    def __post_init__(self):
        self.channel_mult = tuple(self.channel_mult)

    @property
    def factor(self) -> int:
        return 2 ** (len(self.channel_mult) - 1)

    def to_dict(self) -> dict:
        return asdict(self)


VAE_PRESETS = {"paper": dict(channels=48), "small": dict(channels=8, norm_groups=4)}


class VAE1D(nn.Module):
    def __init__(self, cfg: VAE1DConfig):
        super().__init__()
        self.cfg = cfg
        chans = [cfg.channels * m for m in cfg.channel_mult]
        g = cfg.norm_groups
        enc = [nn.Conv1d(1, chans[0], 3, padding=1)]
        for i, ch in enumerate(chans):
            enc.append(ResBlock1D(chans[max(i - 1, 0)], ch, 0, g))
            if i < len(chans) - 1:
                enc.append(Downsample1D(ch, use_conv=True))
        enc += [nn.GroupNorm(g, chans[-1]), nn.SiLU(), nn.Conv1d(chans[-1], 2 * cfg.z_channels, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec = [nn.Conv1d(cfg.z_channels, chans[-1], 3, padding=1)]
        for i in reversed(range(len(chans))):
            dec.append(ResBlock1D(chans[min(i + 1, len(chans) - 1)], chans[i], 0, g))
            if i > 0:
                dec.append(Upsample1D(chans[i], use_conv=True))
        dec += [nn.GroupNorm(g, chans[0]), nn.SiLU(), nn.Conv1d(chans[0], 1, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, 1, length] -> (mean, logvar), each [B, z_channels, length / factor]."""
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def loss(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.encode(x)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        recon = self.decode(mean + (0.5 * logvar).exp() * noise)
        mse = (recon - x).pow(2).mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=(1, 2)).mean()
        return mse + self.cfg.kl_weight * kl, mse

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x)[0])


def relative_error(x: torch.Tensor, recon: torch.Tensor) -> float:
    """||x - recon||^2 / ||x - mean(x)||^2 over a set (0 = perfect, ~1 = predicting the mean)."""
    x, recon = x.flatten(1), recon.flatten(1)
    return float((x - recon).pow(2).sum() / (x - x.mean(0)).pow(2).sum().clamp_min(1e-12))


def fit_vae(vae: VAE1D, data: torch.Tensor, steps: int, batch_size: int, lr: float,
            generator: torch.Generator, progress: bool = True) -> float:
    """Train on data [N, 1, length]; return the relative reconstruction error on the data."""
    opt = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    vae.train()
    bar = tqdm(range(steps), desc="DMP autoencoder", disable=not progress, leave=False)
    for _ in bar:
        idx = torch.randint(0, data.shape[0], (batch_size,), generator=generator, device=generator.device)
        loss, mse = vae.loss(data[idx.to(data.device)], generator)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        bar.set_postfix(mse=f"{mse.item():.4f}", refresh=False)
    vae.eval()
    with torch.no_grad():
        recon = torch.cat([vae.reconstruct(chunk) for chunk in data.split(256)])
    return relative_error(data, recon)
