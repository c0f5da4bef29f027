"""The shipped mini CLIP (open_clip ViT image tower): checkpoint integrity, training-data rules, pinned zero-shot
accuracies, visual prompts through the shared ViT hooks, soft-prompt equivalence."""

import json

import pytest
import torch
from torch.nn import functional as F

from dmpbench.backbones import vit_prompts
from dmpbench.backbones.mini import ARCH, CHECKPOINT_DIR, CONFIG_FILE, WEIGHTS_FILE, MiniCLIP, images_to_tensor, sha256_file
from dmpbench.backbones.mini_build import (
    EVAL_TEMPLATE, TRAIN_TEMPLATES, _training_set, held_out_classes, image_features, train_datasets, zero_shot_accuracy,
)
from dmpbench.data.mini import MINI_DATASETS, MINI_SUITE, MiniUnion
from dmpbench.errors import DmpbenchError
from dmpbench.registry import BACKBONES

# hand-prompt (each dataset's first template: "a photo of a {}." for most, CoOp's own for flowers, satellite, actions)
# zero-shot top-1 (%) of the shipped checkpoint on the test splits, as measured by `dmpbench mini build` (recorded in
# image_tower.json); RECOMPUTED are re-measured here from the weights
ZERO_SHOT = {
    "mini_objects": 44.26,
    "mini_objects_v2": 37.32,
    "mini_objects_sketch": 7.72,
    "mini_objects_a": 20.2,
    "mini_objects_r": 32.15,
    "mini_mnist": 61.4,
    "mini_digits": 36.4,
    "mini_mnist_c": 48.47,
    "mini_shapes": 28.0,
    "mini_patterns": 62.6,
    "mini_letters": 26.42,
    "mini_union": 42.12,
    "mini_faces": 35.73,
    "mini_flowers": 55.42,
    "mini_vehicles": 39.17,
    "mini_scenes": 70.17,
    "mini_satellite": 67.25,
    "mini_actions": 29.75,
}
RECOMPUTED = ("mini_shapes", "mini_digits", "mini_faces")
TOLERANCE = 0.5  # percentage points (CPU kernels may differ in the last bits across machines)


@pytest.fixture(scope="module")
def backbone():
    return BACKBONES.get("mini")()


@pytest.fixture(scope="module")
def config():
    return json.loads((CHECKPOINT_DIR / CONFIG_FILE).read_text())


def test_checkpoint_files(config):
    weights = CHECKPOINT_DIR / WEIGHTS_FILE
    assert weights.stat().st_size <= 8_000_000
    assert sha256_file(weights) == config["sha256"]
    assert config["model"]["arch"] == ARCH
    assert set(config["training"]["datasets"]) <= set(MINI_DATASETS)
    assert config["training"]["split"] == "train"
    assert EVAL_TEMPLATE not in config["training"]["templates"]


def test_trained_on_every_base_to_new_dataset_and_no_shift_variant(config):
    trained = set(config["training"]["datasets"])
    shifted = set(MINI_SUITE["domain_shift"]["targets"])
    assert trained == set(train_datasets())
    assert set(MINI_SUITE["base2new"]) - shifted <= trained
    assert not trained & shifted and "mini_union" not in trained
    if "mini_faces" in MINI_DATASETS:
        assert "mini_faces" in trained


def test_held_out_classes_are_never_trained_on(config):
    hp = config["training"]
    datasets = hp["datasets"]
    held = held_out_classes(hp, hp["seed"], datasets)
    assert held == hp["held_out_classes"]
    for name in datasets:
        n_classes = len(MINI_DATASETS[name].CLASSNAMES)
        assert len(held[name]) == (3 if n_classes >= hp["holdout_3_from"] else 2)
    some = [n for n in ("mini_shapes", "mini_letters") if n in datasets]  # two are enough (drawing all is slow)
    _, labels, names = _training_set(2, hp["seed"], some, held)
    banned = {n for ns in held.values() for n in ns}
    assert len(names) == sum(len(MINI_DATASETS[n].CLASSNAMES) - len(held[n]) for n in some)
    assert not banned & set(names)
    assert sorted(set(labels.tolist())) == list(range(len(names)))
    assert EVAL_TEMPLATE not in TRAIN_TEMPLATES


def test_identity(backbone):
    assert backbone.world == "mini" and backbone.family == "mini"
    assert backbone.embed_dim == backbone.ctx_dim == 384
    assert backbone.cache_key.startswith("mini-clip/all-MiniLM-L6-v2/vit-")
    assert backbone.config["sha256"][:16] in backbone.cache_key
    assert 1.0 < backbone.logit_scale <= 100.0
    from open_clip.transformer import VisionTransformer

    assert isinstance(backbone.image, VisionTransformer)
    assert sum(p.numel() for p in backbone.image.parameters()) == backbone.config["model"]["parameters"]


def test_recorded_zero_shot_is_pinned(config):
    zs = config["zero_shot"]
    assert set(zs["test"]) == set(zs["val"]) == set(MINI_DATASETS)  # every registered mini dataset was measured
    assert zs["hand_prompts"] == {name: cls.templates[0] for name, cls in MINI_DATASETS.items()}
    assert not set(zs["hand_prompts"].values()) & set(TRAIN_TEMPLATES)  # never trained on an evaluation prompt
    assert zs["test"] == pytest.approx(ZERO_SHOT, abs=0.01)
    base2new = [zs["test"][n] for n in MINI_SUITE["base2new"]]
    assert min(base2new) >= 20.0 and max(base2new) <= 90.0  # headroom for prompt learning, as with CLIP


@pytest.mark.parametrize("name", RECOMPUTED)
def test_zero_shot_recomputed(backbone, name):
    if name not in MINI_DATASETS:
        pytest.skip(f"{name} is not registered")
    ds = MINI_DATASETS[name]()
    assert zero_shot_accuracy(backbone, ds, "test", ds.templates[0]) == pytest.approx(ZERO_SHOT[name], abs=TOLERANCE)


def test_transform_matches_fast_path(backbone):
    ds = MINI_DATASETS["mini_shapes"]()
    items = ds.split("test")[:8]
    slow = torch.stack([backbone.image_transform()(ds.load_image(it)) for it in items])
    fast = images_to_tensor(ds.arrays("test")[0][:8])
    assert torch.allclose(slow, fast, atol=1e-6)
    assert backbone.encode_image(fast).shape == (8, 384)
    assert torch.allclose(image_features(backbone, ds, "test")[:8], F.normalize(backbone.encode_image(fast), dim=-1),
                          atol=1e-5)


# -- visual prompts (the same vit_prompts code as the paper world's ViT-B/16) ---------------------------------
@pytest.fixture(scope="module")
def images():
    return images_to_tensor(MINI_DATASETS["mini_shapes"]().arrays("test")[0][:4])


def _capture(blocks, layer):
    seen = {}
    handle = blocks[layer].register_forward_pre_hook(lambda mod, args: seen.__setitem__(layer, args[0].detach().clone()))
    return seen, handle


def test_no_or_empty_visual_prompts_equal_plain_forward(backbone, images):
    width = backbone.image.transformer.width
    with torch.no_grad():
        plain = backbone.image(images)
        for prompts in (None, [], [torch.zeros(0, width)], [torch.zeros(0, width)] * 3):
            assert torch.equal(backbone.encode_image(images, visual_prompts=prompts), plain)


def test_shallow_and_deep_visual_prompts(backbone, images):
    torch.manual_seed(0)
    width = backbone.image.transformer.width
    with torch.no_grad():
        plain = backbone.encode_image(images)
        vp0 = torch.randn(2, width)
        seen, handle = _capture(backbone.image.transformer.resblocks, 1)
        try:
            shallow = backbone.encode_image(images, visual_prompts=[vp0])
        finally:
            handle.remove()
        assert (shallow - plain).abs().max() > 1e-3  # the prompt tokens are attended to
        # deep prompts equal to what layer 1 already receives change nothing; others do
        same = backbone.encode_image(images, visual_prompts=[vp0, seen[1][:, -2:]])
        torch.testing.assert_close(same, shallow, atol=1e-5, rtol=1e-4)
        deep = backbone.encode_image(images, visual_prompts=[vp0, torch.randn(2, width), torch.randn(2, width)])
        assert (deep - shallow).abs().max() > 1e-3
        per_image = backbone.encode_image(images, visual_prompts=[vp0.expand(len(images), -1, -1)])
        torch.testing.assert_close(per_image, shallow)
        # the function the backbone calls is the shared one
        torch.testing.assert_close(vit_prompts.encode_image(backbone.image, images, [vp0]), shallow)


def test_visual_prompt_gradients_reach_only_the_prompts(backbone, images):
    width = backbone.image.transformer.width
    vp = [torch.zeros(3, width, requires_grad=True) for _ in range(3)]
    backbone.encode_image(images, visual_prompts=vp).pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in vp)
    assert all(not p.requires_grad and p.grad is None for p in backbone.image.parameters())


def test_bad_visual_prompts_are_one_line_errors(backbone, images):
    width = backbone.image.transformer.width
    layers = len(backbone.image.transformer.resblocks)
    bad = {
        f"must be \\[n, {width}\\]": [torch.zeros(2, width + 1)],
        "same number of tokens": [torch.zeros(2, width), torch.zeros(3, width)],
        f"has {layers} layers": [torch.zeros(2, width)] * (layers + 1),
        "rows for a batch": [torch.zeros(len(images) + 1, 2, width)],
    }
    for pattern, prompts in bad.items():
        with pytest.raises(DmpbenchError, match=pattern) as err:
            backbone.encode_image(images, visual_prompts=prompts)
        assert "\n" not in str(err.value)


# -- text side ------------------------------------------------------------------------------------------------
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


def test_checkpoint_of_another_architecture_is_refused(tmp_path, config):
    import shutil

    shutil.copy(CHECKPOINT_DIR / WEIGHTS_FILE, tmp_path / WEIGHTS_FILE)
    old = dict(config, model=dict(config["model"], arch="MiniImageTower"))
    (tmp_path / CONFIG_FILE).write_text(json.dumps(old))
    with pytest.raises(DmpbenchError, match="rebuild"):
        MiniCLIP(checkpoint_dir=tmp_path)
    (tmp_path / CONFIG_FILE).write_text(json.dumps(dict(config, sha256="0" * 64)))
    with pytest.raises(DmpbenchError, match="sha256"):
        MiniCLIP(checkpoint_dir=tmp_path)


def test_deterministic_cpu_sets_and_restores_threads_flag_and_rng():
    """The one wrapper of the bit-identical builds (mini CLIP, mini face-ID)."""
    import torch

    from dmpbench.determinism import deterministic_cpu

    threads, flag = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with deterministic_cpu(1):
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
        torch.rand(1000)  # draws inside do not move the caller's generator
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads and torch.are_deterministic_algorithms_enabled() == flag
