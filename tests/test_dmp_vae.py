"""The 1D prompt autoencoder (K*d >= 2048 -> latent 8 x K*d/128) inside a DMP.

Synthetic CoOp-sized prompts [4, 512]: each of the 16 consecutive 128-value segments is a random
combination of 4 low-frequency cosines plus 5% noise, i.e. 64 degrees of freedom, which the 128-value
latent can hold. (With random, non-smooth basis vectors the small VAE reaches only ~0.7 in the
300 steps a CPU test can afford: convolutions need local structure to compress quickly.) Held-out relative reconstruction error ||x - x_hat||^2 / ||x - mean||^2 must be
below VAE_MAX_ERR; the untrained autoencoder (~1.0 or worse) must miss it.
"""

import math

import pytest
import torch

from dmpbench.dmp import DMP
from dmpbench.dmp.vae1d import relative_error

torch.set_num_threads(1)

VAE_STEPS = 300
VAE_MAX_ERR = 0.25  # trained ~0.1, untrained ~1.0


def make_prompts(n, g, basis):
    coef = torch.randn(n, 16, 4, generator=g)
    x = coef @ basis + 0.05 * torch.randn(n, 16, 128, generator=g)
    return x.reshape(n, 4, 512) * 0.02 + 0.01  # CLIP-token-like scale and offset


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    t = torch.arange(128) / 128
    basis = torch.stack([torch.cos(math.pi * k * t) for k in range(4)])
    train, held = make_prompts(512, g, basis), make_prompts(128, g, basis)
    conds = [torch.randn(3, 16, generator=g) for _ in range(2)]
    return train, held, [conds[i % 2] for i in range(512)], conds


def fit(data, vae_steps, steps):
    train, _, cond_list, _ = data
    dmp = DMP((4, 512), cond_dim=16, preset="small")
    assert dmp.use_vae and (dmp.layout.channels, dmp.layout.length) == (8, 16)
    hist = dmp.fit(train, cond_list, steps=steps, batch_size=32, vae_steps=vae_steps, vae_lr=3e-3, progress=False)
    return dmp, hist


def test_vae_reconstructs_held_out_prompts(data):
    _, held, _, conds = data
    dmp, hist = fit(data, VAE_STEPS, steps=2)
    err = relative_error(held, dmp.reconstruct(held))
    print("trained VAE: train error", hist["vae_relative_error"], "held-out error", err)
    assert err < VAE_MAX_ERR and hist["vae_relative_error"] < VAE_MAX_ERR
    out = dmp.sample(conds[0], num_prompts=2, steps=3)
    assert out.shape == (2, 4, 512) and torch.isfinite(out).all()
    untrained, _ = fit(data, 0, steps=0)
    err = relative_error(held, untrained.reconstruct(held))
    print("untrained VAE held-out error", err)
    assert not err < VAE_MAX_ERR
