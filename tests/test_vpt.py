"""The image path (methods that prompt the image tower train on images and are scored on their own test
features) and VPT on the mini CLIP."""

import pytest
import torch

from dmpbench.backbones.feature_cache import ImageSet
from dmpbench.cli import main
from dmpbench.runner.run import RunRequest, execute


@pytest.fixture(scope="module")
def world():
    from dmpbench.runner.worlds import make_world

    return make_world("mini", None, None, torch.device("cpu"))


def test_image_set_gives_the_feature_caches_features_without_prompts(world, tmp_path):
    from dmpbench.context import RunContext
    from dmpbench.tasks import common

    ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=tmp_path, progress=False)
    ts = common.test_set(world, ctx, "mini_patterns", common.class_split(world, "mini_patterns", "new"))
    assert len(ts.images) == len(ts.labels) == ts.feats.shape[0]
    feats = ts.images.encode(world.backbone.encode_image)
    assert torch.allclose(feats, ts.feats, atol=1e-4)  # the same images, in the same order, through the same tower
    keep = ts.labels == 0
    part = ts.images.subset(keep)
    assert len(part) == int(keep.sum())
    assert torch.equal(part.load([0, 1]), ts.images.load(torch.nonzero(keep)[:2, 0].tolist()))
    both = part + part
    assert len(both) == 2 * len(part) and torch.equal(both.load([len(part)]), part.load([0]))


def test_vpt_trains_prompts_that_change_the_image_features_and_is_cached(tmp_path, shared_cache, tenth_of_test_images):
    sets = ["method.steps=6", "method.convergence_check=true"]
    run = lambda results: execute(RunRequest(task="base2new", method="vpt", datasets=["mini_shapes"], seeds=[1], results=results,  # noqa: E731
                                             cache_dir=shared_cache, sets=sets, progress=False), say=lambda line: None)[0]
    rec = run(tmp_path / "a")
    assert rec["audit"]["optimizer_steps"] == 6
    conv = rec["audit"]["convergence"]["mini_shapes"]
    assert conv["optimizer_steps_2x"] == 12 and 0 <= conv["acc_1x"] <= 100
    assert set(rec["metrics"]["mini_shapes"]) == {"base", "new", "all", "hm"}
    assert "encode" in rec["timings"]["wall_s"]  # the test images went through the prompted tower
    again = run(tmp_path / "b")
    assert again["audit"]["vpt_reused"] is True and again["metrics"] == rec["metrics"]


def test_vpt_prompts_enter_every_layer(world, tmp_path):
    from dmpbench.baselines.base import FewShotData
    from dmpbench.baselines.vpt import train_vpt
    from dmpbench.context import RunContext

    ds = world.dataset("mini_shapes")
    items = ds.split("train")[:8]
    images = ImageSet([(ds, items)], world.backbone.image_transform())
    data = FewShotData("mini_shapes", ds.classnames, torch.zeros(8, 1), torch.tensor([it.label for it in items]), images=images)
    ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=tmp_path, progress=False)
    cfg = {"n_ctx": 2, "depth": 4, "text_prompt": "a photo of a {}.", "epochs": 1, "steps": 3, "lr": 0.5, "batch_size": 4,
           "momentum": 0.9, "weight_decay": 0.0, "warmup_epochs": 0, "warmup_lr": 1e-5}
    weights, stats = train_vpt(world.backbone, data, cfg, ctx)
    assert weights["prompts"].shape == (4, 2, world.backbone.visual_prompt_geometry()[1]) and stats["optimizer_steps"] == 3
    x = images.load([0, 1])
    plain = world.backbone.encode_image(x)
    prompted = world.backbone.encode_image(x, visual_prompts=list(weights["prompts"]))
    assert not torch.allclose(plain, prompted)
    deeper_only = weights["prompts"].clone()
    deeper_only[3] += 1.0  # the last layer's tokens matter too (deep prompts, not only the input)
    assert not torch.allclose(prompted, world.backbone.encode_image(x, visual_prompts=list(deeper_only)))


def test_too_deep_vpt_is_one_line(tmp_path, capsys, shared_cache):
    args = ["run", "--task", "base2new", "--method", "vpt", "--dataset", "mini_shapes", "--seed", "1", "--no-progress",
            "--results", str(tmp_path / "r"), "--cache-dir", str(shared_cache), "--set", "method.depth=12", "method.steps=2"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "depth 12" in err[0] and "4 layers" in err[0]
    assert not list((tmp_path / "r").rglob("*.json"))
