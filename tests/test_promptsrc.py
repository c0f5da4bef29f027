"""PromptSRC on the mini CLIP: independent deep prompts, the self-regulating losses and Gaussian prompt
aggregation."""

import pytest
import torch

from dmpbench.backbones.feature_cache import ImageSet
from dmpbench.baselines.base import FewShotData
from dmpbench.baselines.promptsrc import frozen_text_features, gpa_weights, train_promptsrc
from dmpbench.cli import main
from dmpbench.context import RunContext
from dmpbench.runner.run import RunRequest, execute

CFG = {"n_ctx_text": 4, "n_ctx_vision": 2, "init": "a photo of a", "depth_text": 3, "depth_vision": 3, "text_loss_weight": 25.0,
       "image_loss_weight": 10.0, "gpa_mean": 15.0, "gpa_std": 1.0, "class_token_position": "end", "epochs": 3, "steps": 0, "lr": 0.05,
       "batch_size": 4, "momentum": 0.9, "weight_decay": 5e-4, "warmup_epochs": 0, "warmup_lr": 1e-5}


@pytest.fixture(scope="module")
def world():
    from dmpbench.runner.worlds import make_world

    return make_world("mini", None, None, torch.device("cpu"))


@pytest.fixture(scope="module")
def data(world):
    ds = world.dataset("mini_shapes")
    items = [it for it in ds.split("train") if it.label < 3][:8]
    images = ImageSet([(ds, items)], world.backbone.image_transform())
    feats = images.encode(world.backbone.encode_image)
    return FewShotData("mini_shapes", ds.classnames[:3], feats, torch.tensor([it.label for it in items]), images=images)


def test_gaussian_prompt_aggregation_weights():
    w = gpa_weights(20, 15.0, 1.0)
    assert len(w) == 20 and sum(w) == pytest.approx(1.0)
    assert max(range(20), key=lambda e: w[e]) == 14  # epoch 15 (counted from 1)
    assert w[0] < 1e-20 and w[15] == pytest.approx(w[13])


def test_frozen_text_features_average_eighty_templates(world):
    feats = frozen_text_features(world.backbone, ["circle", "square"])
    assert feats.shape == (2, world.backbone.embed_dim) and torch.allclose(feats.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_gpa_picks_the_epochs_it_weighs(world, data, tmp_path):
    ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=tmp_path, progress=False)
    last, stats = train_promptsrc(world.backbone, data, {**CFG, "gpa_mean": 3.0, "gpa_std": 0.05}, ctx)
    first, _ = train_promptsrc(world.backbone, data, {**CFG, "gpa_mean": 1.0, "gpa_std": 0.05}, ctx)
    second, _ = train_promptsrc(world.backbone, data, {**CFG, "gpa_mean": 2.0, "gpa_std": 0.05}, ctx)
    flat, _ = train_promptsrc(world.backbone, data, {**CFG, "gpa_mean": 2.0, "gpa_std": 1000.0}, ctx)
    assert stats["optimizer_steps"] == 6  # 8 images at batch 4, 3 epochs
    assert not torch.allclose(last["vision"], first["vision"])  # the same training, other epochs kept
    for key in ("context", "text_deep", "vision"):  # near-flat weights: the mean of the three epochs' prompts
        assert torch.allclose(flat[key], (first[key] + second[key] + last[key]) / 3, atol=1e-5)


def test_the_regularisers_hold_the_prompted_model_near_the_frozen_one(world, data, tmp_path):
    ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=tmp_path, progress=False)
    held, _ = train_promptsrc(world.backbone, data, {**CFG, "lr": 0.5, "gpa_mean": 3.0, "gpa_std": 0.05}, ctx)
    free, _ = train_promptsrc(world.backbone, data, {**CFG, "lr": 0.5, "text_loss_weight": 0.0, "image_loss_weight": 0.0,
                                                     "gpa_mean": 3.0, "gpa_std": 0.05}, ctx)
    x = data.images.load(list(range(8)))
    frozen = torch.nn.functional.normalize(world.backbone.encode_image(x), dim=-1)
    gap = lambda state: (torch.nn.functional.normalize(world.backbone.encode_image(x, visual_prompts=list(state["vision"])), dim=-1)  # noqa: E731
                         - frozen).abs().mean()
    assert gap(held) < gap(free)


def test_promptsrc_runs_base2new(tmp_path, shared_cache, tenth_of_test_images):
    (rec,) = execute(RunRequest(task="base2new", method="promptsrc", datasets=["mini_shapes"], seeds=[1], results=tmp_path, cache_dir=shared_cache,
                                sets=["method.steps=4"], progress=False), say=lambda line: None)
    assert rec["audit"]["optimizer_steps"] == 4 and set(rec["metrics"]["mini_shapes"]) == {"base", "new", "all", "hm"}


def test_gpa_far_from_every_epoch_is_one_line(tmp_path, capsys, shared_cache):
    args = ["run", "--task", "base2new", "--method", "promptsrc", "--dataset", "mini_shapes", "--seed", "1", "--no-progress",
            "--results", str(tmp_path / "r"), "--cache-dir", str(shared_cache), "--set", "method.steps=2", "method.gpa_mean=1000",
            "method.gpa_std=0.001"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gpa_mean" in err[0]
