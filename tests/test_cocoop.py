"""CoCoOp (per-image context shifts from a meta-net) and Prompt Diffusion over it, on the mini CLIP."""

import pytest
import torch

from dmpbench.baselines.base import FewShotData, LabelSet, TrainingPool, normalize
from dmpbench.baselines.cocoop import CoCoOp, MetaNet, per_image_embeddings
from dmpbench.cli import main
from dmpbench.context import RunContext
from dmpbench.methods.prompt_diffusion import PromptDiffusionCoCoOp
from dmpbench.registry import METHODS
from dmpbench.runner.run import RunRequest, execute

NAMES = ["circle", "square", "triangle"]
TINY = {"steps": 6, "batch_size": 2}


@pytest.fixture(scope="module")
def backbone():
    from dmpbench.backbones.mini import MiniCLIP

    return MiniCLIP()


def _data(backbone, n=12) -> FewShotData:
    gen = torch.Generator().manual_seed(0)
    return FewShotData("mini_shapes", NAMES, torch.randn(n, backbone.embed_dim, generator=gen), torch.arange(n) % 3, split="base")


def _fit(cls, backbone, cache, config, seed=1):
    ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=seed, cache_dir=cache, progress=False)
    method = cls(backbone, config, ctx)
    data = _data(backbone)
    method.fit(data, TrainingPool(["mini_shapes"], lambda name, s: data, seed))
    return method, ctx


def test_meta_net_is_cocoops_bottleneck_and_shifts_every_context_vector_alike():
    meta = MetaNet(512, 384)
    assert meta.linear1.out_features == 32 and meta.linear2.out_features == 384  # D -> D/16 -> ctx_dim


def test_each_image_gets_its_own_prompt_and_classifier(backbone, tmp_path):
    method, ctx = _fit(CoCoOp, backbone, tmp_path, TINY)
    assert ctx.audit["optimizer_steps"] == 6 and "train_loss" in ctx.audit
    feats = torch.randn(4, backbone.embed_dim)
    prompts = method.image_prompts(feats)
    assert prompts.shape == (4, *method.context.shape)
    shift = method.meta_net(normalize(feats))
    assert torch.allclose(prompts, method.context + shift[:, None])  # one shift for all K vectors of an image
    assert not torch.allclose(prompts[0], prompts[1])
    emb = method.image_class_embeddings(LabelSet(tuple(NAMES), "mini_shapes"), feats)
    assert emb.shape == (1, 4, 3, backbone.embed_dim)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(1, 4, 3), atol=1e-4)
    # the per-image classifier is the learner's prompt through the text tower, chunked or not
    assert torch.allclose(emb[0], method.prompt_classifier(prompts, NAMES, feats), atol=1e-5)
    assert torch.allclose(emb[0], per_image_embeddings(backbone, method.context, method.meta_net, normalize(feats), NAMES, chunk=3), atol=1e-5)
    again, ctx2 = _fit(CoCoOp, backbone, tmp_path, TINY)  # cached fit: the same weights
    assert ctx2.audit["cocoop_reused"] is True
    assert torch.equal(again.image_class_embeddings(LabelSet(tuple(NAMES), "mini_shapes"), feats), emb)


def test_training_lowers_the_loss_and_other_seeds_give_other_weights(backbone, tmp_path):
    short, ctx_short = _fit(CoCoOp, backbone, tmp_path, {"steps": 2, "batch_size": 4})
    long, ctx_long = _fit(CoCoOp, backbone, tmp_path, {"steps": 60, "batch_size": 4, "lr": 0.02})
    assert ctx_long.audit["train_loss"] < ctx_short.audit["train_loss"]
    other, _ = _fit(CoCoOp, backbone, tmp_path, {"steps": 2, "batch_size": 4}, seed=2)
    assert not torch.equal(other.meta_net.linear1.weight, short.meta_net.linear1.weight)


def test_base2new_scores_cocoop_per_image_with_its_convergence_check(tmp_path, shared_cache, tenth_of_test_images):
    (rec,) = execute(RunRequest(task="base2new", method="cocoop", datasets=["mini_shapes"], seeds=[1], results=tmp_path, cache_dir=shared_cache,
                                sets=["method.steps=4", "method.convergence_check=true"], progress=False), say=lambda line: None)
    assert set(rec["metrics"]["mini_shapes"]) == {"base", "new", "all", "hm"}
    conv = rec["audit"]["convergence"]["mini_shapes"]
    assert conv["optimizer_steps_1x"] == 4 and conv["optimizer_steps_2x"] == 8
    assert 0 <= conv["acc_1x"] <= 100 and 0 <= conv["acc_2x"] <= 100
    assert rec["audit"]["optimizer_steps"] == 4
    assert rec["audit"]["test"]["mini_shapes"]["all"]["images"] == 120


def test_an_images_row_for_a_class_does_not_depend_on_the_other_classes(backbone, tmp_path):
    """``classes_independent``: treecut embeds its whole vocabulary once for CoCoOp."""
    method, _ = _fit(CoCoOp, backbone, tmp_path, TINY)
    feats = torch.randn(4, backbone.embed_dim)
    whole = method.image_class_embeddings(LabelSet(tuple(NAMES), "mini_shapes"), feats)
    part = method.image_class_embeddings(LabelSet(tuple(NAMES[1:]), "mini_shapes"), feats)
    assert CoCoOp.classes_independent and torch.allclose(whole[:, :, 1:], part, atol=1e-5)


def test_prompt_diffusion_over_cocoop_starts_from_each_images_cocoop_prompt(backbone, tmp_path):
    config = {"cocoop_steps": 3, "cocoop_batch_size": 2, "overfit_steps": 2, "train_steps": 3, "width": 16, "layers": 1, "heads": 2,
              "sample_steps": 2, "batch_size": 8}
    method, ctx = _fit(PromptDiffusionCoCoOp, backbone, tmp_path, config)
    assert PromptDiffusionCoCoOp.base_learner == "cocoop" and METHODS.get("prompt_diffusion_cocoop") is PromptDiffusionCoCoOp
    assert ctx.audit["optimizer_steps"] == {"cocoop": 3, "overfit_per_image": 2, "diffusion": 3}
    assert "cocoop_convergence_check" not in method.config and "cocoop_lr" in method.config  # audit-only settings stay out
    feats = torch.randn(5, backbone.embed_dim)
    prompts = method.sample_prompts(feats, seed=1)
    assert prompts.shape == (1, 5, *method.learner.context.shape)
    # the diffused offset is added to the image's own CoCoOp prompt (context + meta-net shift)
    offsets = prompts[0] - method.learner.image_prompts(feats)
    assert torch.allclose(offsets.pow(2).mean().sqrt(), torch.tensor(method.scale), rtol=3.0)
    emb = method.image_class_embeddings(LabelSet(tuple(NAMES), "mini_shapes"), feats)
    assert emb.shape == (1, 5, 3, backbone.embed_dim)
    other, _ = _fit(PromptDiffusionCoCoOp, backbone, tmp_path, {**config, "overfit_steps": 1})
    assert other.scale != method.scale  # another over-fitting: another denoiser (the cache key holds the settings)


def test_unknown_learner_setting_is_one_line(tmp_path, capsys):
    args = ["run", "--task", "base2new", "--method", "prompt_diffusion_cocoop", "--dataset", "mini_shapes", "--no-progress",
            "--results", str(tmp_path / "r"), "--set", "method.cocoop_csc=true"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cocoop_csc" in err[0]


def test_dmp_over_cocoop_samples_the_context_and_keeps_the_units_meta_net(tmp_path, shared_cache, tenth_of_test_images):
    """DMP A.9: the DMP samples the shallow prompt; CoCoOp's meta-net of the unit's own fit stays (a dataset
    outside the base-to-new suite: its pool is itself)."""
    sets = ["method.repo_inits=2", "method.cocoop_steps=2", "method.cocoop_batch_size=2", "method.dmp_steps=3", "method.num_prompts=2",
            "method.sample_steps=3", "method.learner={steps: 3, batch_size: 2}"]
    (rec,) = execute(RunRequest(task="base2new", method="dmp_cocoop", datasets=["mini_digits"], seeds=[2], results=tmp_path, cache_dir=shared_cache,
                                sets=sets, progress=False), say=lambda line: None)
    audit = rec["audit"]
    assert audit["optimizer_steps"]["learner"] == 3 and audit["optimizer_steps"]["repository"] == {"mini_digits": 2}
    fid = audit["repository_fidelity"]["mini_digits"]
    assert set(fid) == {"repository_acc", "dmp_acc"}
    assert set(rec["metrics"]["mini_digits"]) == {"base", "new", "all", "hm"}
    assert METHODS.get("dmp_cocoop").base_learner == "cocoop" and METHODS.get("dmp_cocoop").per_image


def test_dmp_cocoop_generated_prompt_replaces_only_the_context(backbone, tmp_path):
    method, _ = _fit(CoCoOp, backbone, tmp_path, TINY)
    feats = torch.randn(3, backbone.embed_dim)
    other = torch.randn_like(method.context)
    shifted = method.image_prompts(feats, context=other)
    assert torch.allclose(shifted - other, method.image_prompts(feats) - method.context, atol=1e-6)  # the same meta-net shift


def test_learner_overrides_are_checked_before_any_work(tmp_path, capsys):
    args = ["run", "--task", "base2new", "--method", "dmp_cocoop", "--dataset", "mini_digits", "--no-progress",
            "--results", str(tmp_path / "r"), "--set", "method.learner={stepz: 3}"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stepz" in err[0] and "learner" in err[0]
