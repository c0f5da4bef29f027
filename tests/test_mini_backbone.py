"""The shipped mini CLIP: checkpoint integrity, pinned zero-shot accuracies, soft-prompt equivalence."""

import json

import pytest
import torch
from torch.nn import functional as F

from dmpbench.backbones.mini import CHECKPOINT_DIR, CONFIG_FILE, WEIGHTS_FILE, MiniCLIP, images_to_tensor, sha256_file
from dmpbench.backbones.mini_build import zero_shot_accuracy
from dmpbench.data.mini import MINI_DATASETS, MiniUnion
from dmpbench.data.mini.union import PARTS
from dmpbench.errors import DmpbenchError
from dmpbench.registry import BACKBONES

# hand-prompt ("a photo of a {}.") zero-shot top-1 (%) of the shipped checkpoint on the test splits
ZERO_SHOT = {
    "mini_mnist": 76.2,
    "mini_digits": 51.4,
    "mini_mnist_c": 59.47,
    "mini_shapes": 65.83,
    "mini_patterns": 69.5,
    "mini_letters": 71.75,
    "mini_union": 70.69,
}
TOLERANCE = 0.5  # percentage points (CPU kernels may differ in the last bits across machines)


@pytest.fixture(scope="module")
def backbone():
    return BACKBONES.get("mini")()


def test_checkpoint_files():
    weights = CHECKPOINT_DIR / WEIGHTS_FILE
    config = json.loads((CHECKPOINT_DIR / CONFIG_FILE).read_text())
    assert weights.stat().st_size <= 5_000_000
    assert sha256_file(weights) == config["sha256"]
    assert set(config["training"]["datasets"]) <= set(MINI_DATASETS)
    assert config["training"]["split"] == "train"


def test_identity(backbone):
    assert backbone.world == "mini" and backbone.family == "mini"
    assert backbone.embed_dim == backbone.ctx_dim == 384
    assert backbone.config["sha256"][:16] in backbone.cache_key
    assert 1.0 < backbone.logit_scale <= 100.0


@pytest.fixture(scope="module")
def test_features(backbone):
    """Normalised image features of every test split; mini_union's are its parts' (same images, in order)."""
    feats = {}
    with torch.inference_mode():
        for name in ZERO_SHOT:
            if name != "mini_union":
                x, _ = MINI_DATASETS[name]().arrays("test")
                feats[name] = F.normalize(backbone.encode_image(images_to_tensor(x)), dim=-1)
    feats["mini_union"] = torch.cat([feats[part.name] for part in PARTS])
    return feats


@pytest.mark.parametrize("name", sorted(ZERO_SHOT))
def test_zero_shot_pinned(backbone, test_features, name):
    ds = MINI_DATASETS[name]()
    with torch.inference_mode():
        text = F.normalize(backbone.encode_text([ds.templates[0].format(c) for c in ds.classnames]), dim=-1)
    labels = torch.tensor(ds.arrays("test")[1])
    acc = 100.0 * (test_features[name] @ text.T).argmax(-1).eq(labels).float().mean().item()
    assert 40.0 <= acc <= 85.0
    assert acc == pytest.approx(ZERO_SHOT[name], abs=TOLERANCE)


def test_zero_shot_helper_matches_build_record(backbone):
    recorded = backbone.config["val_zero_shot"]["accuracy"]["mini_digits"]
    assert zero_shot_accuracy(backbone, MINI_DATASETS["mini_digits"](), "val") == pytest.approx(recorded, abs=TOLERANCE)


def test_transform_matches_fast_path(backbone):
    ds = MINI_DATASETS["mini_shapes"]()
    items = ds.split("test")[:8]
    slow = torch.stack([backbone.image_transform()(ds.load_image(it)) for it in items])
    fast = images_to_tensor(ds.arrays("test")[0][:8])
    assert torch.allclose(slow, fast, atol=1e-6)
    assert backbone.encode_image(fast).shape == (8, 384)


def test_no_visual_prompts(backbone):
    with pytest.raises(DmpbenchError):
        backbone.encode_image(torch.zeros(1, 3, 32, 32), visual_prompts=[torch.zeros(2, 8)])


def test_soft_prompt_equals_hand_prompt(backbone):
    names = list(MiniUnion.CLASSNAMES)
    ctx = backbone.token_embeddings("a photo of a")
    assert ctx.shape == (4, 384)
    hand = backbone.encode_text([f"a photo of a {n}." for n in names])
    soft = backbone.encode_with_context(ctx, names, batch_size=16)
    assert torch.allclose(soft, hand, atol=1e-5)
    csc = ctx.unsqueeze(0).repeat(len(names), 1, 1)
    assert torch.allclose(backbone.encode_with_context(csc, names, batch_size=7), hand, atol=1e-5)
    front = backbone.encode_with_context(ctx, names[:5], class_token_position="front")
    assert torch.allclose(front, backbone.encode_text([f"{n} a photo of a." for n in names[:5]]), atol=1e-5)
    middle = backbone.encode_with_context(ctx, names[:5], class_token_position="middle")
    assert torch.allclose(middle, backbone.encode_text([f"a photo {n} of a." for n in names[:5]]), atol=1e-5)


def test_gradients_reach_only_ctx(backbone):
    ctx = backbone.token_embeddings("a photo of a").clone().requires_grad_(True)
    deep = [torch.zeros(4, 384, requires_grad=True) for _ in range(2)]
    feats = backbone.encode_with_context(ctx, ["circle", "letter A"], text_prompts=deep)
    image = backbone.encode_image(torch.zeros(2, 3, 32, 32))
    (F.normalize(feats, dim=-1) * F.normalize(image, dim=-1)).sum().backward()
    assert ctx.grad is not None and ctx.grad.abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in deep)
    params = list(backbone.text.model.parameters()) + list(backbone.image.parameters())
    assert all(not p.requires_grad and p.grad is None for p in params)


def test_bad_context_shape(backbone):
    with pytest.raises(DmpbenchError):
        backbone.encode_with_context(torch.zeros(4, 10), ["circle"])
    with pytest.raises(DmpbenchError):
        backbone.encode_with_context(torch.zeros(3, 4, 384), ["circle"])
