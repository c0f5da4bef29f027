"""Generation metrics against hand-computed values, and their extractors with random weights (offline)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dmpbench.errors import DmpbenchError
from dmpbench.metrics.distribution import density_coverage, frechet_distance
from dmpbench.metrics.extractors import DinoFeatures, FaceNetFeatures, FeatureExtractor
from dmpbench.metrics.lpips_distance import Lpips
from dmpbench.metrics.similarity import clip_i, clip_score, clip_t, mean_pairwise_cosine


def unit(deg: float) -> list[float]:
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


def test_clip_score_on_unit_vectors():
    img = torch.tensor([unit(0), unit(0), unit(0)])
    txt = torch.tensor([unit(60), unit(0), unit(120)])  # cos 0.5, 1, -0.5
    assert clip_score(img, txt) == pytest.approx((50 + 100 + 0) / 3)
    assert clip_t(img, txt) == pytest.approx((0.5 + 1 - 0.5) / 3)
    assert clip_score(3 * img[:1], torch.tensor([unit(60)])) == pytest.approx(50)  # scale-free, one text row
    assert clip_score(img, torch.tensor([unit(180)])) == 0


def test_pairwise_cosine_by_hand():
    gen = torch.tensor([unit(0), unit(90)])
    ref = torch.tensor([unit(0), unit(60), unit(180)])
    expected = (1 + 0.5 - 1 + 0 + math.cos(math.radians(30)) + 0) / 6
    assert mean_pairwise_cosine(gen, ref) == pytest.approx(expected)
    assert clip_i is mean_pairwise_cosine


class _TensorFeatures(torch.nn.Module):
    """transformers 5 returns model outputs from ``get_*_features``; torchmetrics 1.9 expects tensors."""

    def __init__(self, model):
        super().__init__()
        self.model, self.config = model, model.config

    def get_image_features(self, *args, **kwargs):
        out = self.model.get_image_features(*args, **kwargs)
        return getattr(out, "pooler_output", out)

    def get_text_features(self, *args, **kwargs):
        out = self.model.get_text_features(*args, **kwargs)
        return getattr(out, "pooler_output", out)


def test_clip_score_matches_torchmetrics_definition():
    from torchmetrics.functional.multimodal.clip_score import _clip_score_update, clip_score as tm_clip_score
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    from tiny_diffusers import clip_tokenizer

    torch.manual_seed(0)
    tok = clip_tokenizer()
    config = CLIPConfig(text_config=dict(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_attention_heads=2,
                                         num_hidden_layers=1, max_position_embeddings=77, bos_token_id=tok.bos_token_id,
                                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id),
                        vision_config=dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=1,
                                           image_size=32, patch_size=8), projection_dim=8)
    model = _TensorFeatures(CLIPModel(config).eval())
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                              tokenizer=tok)
    images = [torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8) for _ in range(6)]
    texts = ["a red square", "a dog", "a blue circle", "a face", "a letter", "stripes"]
    per_pair, _ = _clip_score_update(images, texts, model, processor)  # torchmetrics: 100 * cos per pair
    with torch.no_grad():
        px = processor(images=images, return_tensors="pt")["pixel_values"]
        ids = tok(texts, padding=True, return_tensors="pt")
        img_f = model.get_image_features(pixel_values=px)
        txt_f = model.get_text_features(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"])
    assert clip_score(img_f, txt_f) == pytest.approx(float(per_pair.clamp_min(0).mean()), abs=1e-3)
    tm = float(tm_clip_score(images, texts, lambda: (model, processor)))  # clamps the mean instead
    assert tm == pytest.approx(max(float(per_pair.mean()), 0.0), abs=1e-3)
    if (per_pair >= 0).all():
        assert clip_score(img_f, txt_f) == pytest.approx(tm, abs=1e-3)


class Flatten(FeatureExtractor):
    """Features = the image's values (so FID can be computed by hand)."""

    name = "flatten"

    def __init__(self, d: int):
        super().__init__()
        self.num_features = d

    def forward(self, images):
        return images.flatten(1).double()


def test_fid_by_hand():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(300, 3, 1, 1, generator=g, dtype=torch.float64)
    assert frechet_distance(real, real.clone(), Flatten(3)) == pytest.approx(0.0, abs=1e-6)
    shifted = real + 0.25  # same covariance: FID = |Δμ|² = 3 · 0.25²
    assert frechet_distance(real, shifted, Flatten(3)) == pytest.approx(3 * 0.0625, abs=1e-6)
    x = real.flatten(1).numpy()
    mu, cov = x.mean(0), np.cov(x, rowvar=False)
    # fake = 2·real: |μ - 2μ|² + Tr(Σ + 4Σ - 2·(4Σ²)^½) = |μ|² + Tr(Σ)
    assert frechet_distance(real, 2 * real, Flatten(3)) == pytest.approx(float(mu @ mu + np.trace(cov)), rel=1e-4)


def test_fid_inception_needs_local_weights(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    imgs = torch.rand(4, 3, 8, 8)
    with pytest.raises(DmpbenchError, match="Inception.*networked machine") as err:
        frechet_distance(imgs, imgs)
    assert "\n" not in str(err.value)


def test_density_coverage_by_hand():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    fake = torch.tensor([[0.5], [10.0]])
    # k=1: every real's radius is 1; 0.5 lies in the balls of reals 0 and 1, 10 in none
    # density = (1/1)·(2 + 0)/2 = 1; coverage: reals 0 and 1 have a fake within radius -> 2/4
    assert density_coverage(real, torch.cat([fake, fake + 100]), k=1) == pytest.approx({"density": 0.5, "coverage": 0.5})
    pts = torch.arange(12.0).unsqueeze(1)
    assert density_coverage(pts, pts.clone())["coverage"] == 1.0
    far = density_coverage(pts, pts + 100)
    assert far == {"density": 0.0, "coverage": 0.0}
    with pytest.raises(DmpbenchError, match="more than 5 real"):
        density_coverage(pts[:5], pts)


def test_lpips_with_random_trunk(monkeypatch, tmp_path):
    metric = Lpips(pretrained_trunk=False)
    assert "random" in metric.name
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(3, 3, 32, 32, generator=g), torch.rand(3, 3, 32, 32, generator=g)
    assert metric(a, a) == pytest.approx(0.0, abs=1e-6)
    d = metric.distances(a, b)
    assert d.shape == (3,) and (d > 0).all()
    assert torch.allclose(d, metric.distances(b, a), atol=1e-5)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(DmpbenchError, match="AlexNet.*alexnet-owt"):
        Lpips()


def test_dino_random_weights_and_missing_weights():
    net = DinoFeatures(pretrained=False)
    feats = net(torch.rand(2, 3, 32, 32))
    assert feats.shape == (2, 384) and net.num_features == 384 and "random" in net.name
    with pytest.raises(DmpbenchError, match="DINO ViT-S/16 weights.*networked machine"):
        DinoFeatures()


def test_facenet_random_weights_align_and_missing_weights(monkeypatch, tmp_path):
    net = FaceNetFeatures(pretrained=None, align=True)
    feats = net(torch.rand(2, 3, 40, 40, generator=torch.Generator().manual_seed(0)))
    assert feats.shape == (2, 512) and net.no_face == 2  # noise has no face: embedded whole
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(DmpbenchError, match="FaceNet VGGFace2 weights.*networked machine"):
        FaceNetFeatures()
