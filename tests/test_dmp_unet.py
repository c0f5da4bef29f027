"""Shape tests for the DMP networks (no training): the paper preset of Table 17, the small preset,
the 1D VAE, the prompt layout and the cross-attention key-padding mask."""

import pytest
import torch

from dmpbench.dmp import DMP, PRESETS, UNet1D, UNet1DConfig, VAE1D, VAE1DConfig
from dmpbench.dmp.layout import SignalLayout
from dmpbench.dmp.unet1d import count_parameters
from dmpbench.dmp.vae1d import VAE_PRESETS
from dmpbench.errors import DmpbenchError

torch.set_num_threads(1)


def test_paper_preset_shapes_and_parameter_count():
    # DMPMulti/DMPVariation column of Table 17: prompts 768 x 1, CLIP ViT-L text (768), ~33M params
    dmp = DMP((1, 768), cond_dim=768, preset="paper")
    n = dmp.num_parameters()["unet"]
    assert 30e6 < n < 40e6, n  # 35.6M with cond_dim 768
    assert (dmp.layout.channels, dmp.layout.length) == (48, 16)
    x = torch.randn(2, 48, 16)
    cond = torch.randn(2, 7, 768)
    mask = torch.tensor([[True] * 7, [True] * 3 + [False] * 4])
    with torch.no_grad():
        out = dmp.unet(x, torch.tensor([10, 900]), cond, mask)
    assert out.shape == x.shape
    blocks = [m for m in dmp.unet.modules() if type(m).__name__ == "Transformer1D"]
    assert len(blocks) == 2 * 3 + 3 * 3 + 1  # down + up stages at lengths 16, 8, 4, plus the middle


def test_paper_preset_with_vae_uses_16x8_latent():
    dmp = DMP((4, 512), cond_dim=512, preset="paper")  # DMPCoOp: K*d = 2048 -> autoencoder
    assert dmp.use_vae
    assert (dmp.layout.channels, dmp.layout.length) == (8, 16)
    assert count_parameters(dmp.vae) < 1_000_000
    with torch.no_grad():
        mean, _ = dmp.vae.encode(torch.randn(2, 1, 2048))
        assert mean.shape == (2, 8, 16)
        assert dmp.vae.decode(mean).shape == (2, 1, 2048)
        assert dmp.unet(torch.randn(2, 8, 16), torch.tensor([0, 999]), torch.randn(2, 3, 512)).shape == (2, 8, 16)


def test_small_preset_and_concat_conditioning():
    dmp = DMP((1, 12), cond_dim=16, preset="small", concat_shape=(1, 12))
    assert dmp.unet_config.concat_channels == dmp.layout.channels == 2
    x = torch.randn(3, 2, 8)
    with torch.no_grad():
        out = dmp.unet(x, torch.tensor([1, 2, 3]), torch.randn(3, 2, 16), None, torch.randn(3, 2, 8))
    assert out.shape == x.shape
    assert count_parameters(dmp.unet) < 1_000_000


def test_key_padding_mask_hides_padded_tokens():
    cfg = UNet1DConfig(in_channels=2, cond_dim=16, **PRESETS["small"])
    unet = UNet1D(cfg).eval()
    torch.nn.init.normal_(unet.conv_out.weight, std=0.1)
    x, t = torch.randn(1, 2, 8), torch.tensor([50])
    cond = torch.randn(1, 6, 16)
    mask = torch.tensor([[True] * 3 + [False] * 3])
    other = cond.clone()
    other[:, 3:] = torch.randn(1, 3, 16) * 10
    with torch.no_grad():
        a = unet(x, t, cond, mask)
        b = unet(x, t, other, mask)
        c = unet(x, t, cond[:, :3])
        d = unet(x, t, other)  # unmasked: the extra tokens do matter
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a, c, atol=1e-5, rtol=1e-5)
    assert (a - d).abs().max() > 1e-3


def test_layout_round_trip():
    lay = SignalLayout.for_length(768, 16)
    flat = torch.randn(5, 768)
    assert lay.to_signal(flat).shape == (5, 48, 16)
    torch.testing.assert_close(lay.from_signal(lay.to_signal(flat)), flat)
    lay = SignalLayout.for_length(10, 8)  # padded to 2 x 8
    assert torch.equal(lay.from_signal(lay.to_signal(flat[:, :10])), flat[:, :10])


def test_vae_presets_stay_under_one_million_parameters():
    for name, preset in VAE_PRESETS.items():
        assert count_parameters(VAE1D(VAE1DConfig(**preset))) < 1_000_000, name


def test_bad_inputs_raise_dmpbench_error():
    with pytest.raises(DmpbenchError):
        DMP((2, 4), preset="huge")
    dmp = DMP((2, 4), cond_dim=16)
    with pytest.raises(DmpbenchError):
        dmp.fit(torch.randn(10, 3, 4), steps=0, progress=False)
    with pytest.raises(DmpbenchError):
        dmp.sample(torch.randn(3, 15), num_prompts=2, steps=2)
    with pytest.raises(DmpbenchError):
        dmp.sample(None, num_prompts=2, steps=2, sampler="euler")
    with pytest.raises(DmpbenchError):
        DMP.load("/nonexistent/dmp")
