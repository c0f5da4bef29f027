"""Prompt Diffusion over CoOp (per-image prompts) and the per-image scoring path the tasks use for it."""

import pytest
import torch

from dmpbench.baselines.base import FewShotData, LabelSet, TrainingPool
from dmpbench.context import RunContext
from dmpbench.metrics.classification import per_image_accuracies, prompt_set_accuracies
from dmpbench.methods.prompt_diffusion import PromptDiffusionCoOp
from cli_checks import assert_run_refused

TINY = {"coop_steps": 3, "overfit_steps": 2, "train_steps": 3, "width": 16, "layers": 1, "heads": 2, "sample_steps": 2,
        "batch_size": 8}
NAMES = ["circle", "square", "triangle"]


@pytest.fixture(scope="module")
def backbone():
    from dmpbench.backbones.mini import MiniCLIP

    return MiniCLIP()


def _data(backbone, n=12) -> FewShotData:
    gen = torch.Generator().manual_seed(0)
    return FewShotData("mini_shapes", NAMES, torch.randn(n, backbone.embed_dim, generator=gen), torch.arange(n) % 3, split="base")


def _fitted(backbone, tmp_path, seed=1, **overrides):
    ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=seed, cache_dir=tmp_path, progress=False)
    method = PromptDiffusionCoOp(backbone, {**TINY, **overrides}, ctx)
    data = _data(backbone)
    method.fit(data, TrainingPool(["mini_shapes"], lambda name, s: data, seed))
    return method, ctx


def test_per_image_accuracy_matches_shared_classifiers_when_every_image_has_the_same_one():
    gen = torch.Generator().manual_seed(0)
    feats, labels = torch.randn(10, 8, generator=gen), torch.randint(0, 4, (10,), generator=gen)
    emb = torch.nn.functional.normalize(torch.randn(2, 4, 8, generator=gen), dim=-1)
    shared = prompt_set_accuracies(feats, emb, labels)
    assert torch.allclose(per_image_accuracies(feats, emb[:, None].expand(2, 10, 4, 8), labels), shared)
    # and an image with its own classifier is scored with it: flip image 0's classes so it is always right
    own = emb[:, None].expand(2, 10, 4, 8).clone()
    own[:, 0] = 0
    own[:, 0, labels[0]] = torch.nn.functional.normalize(feats[0], dim=0)
    assert (per_image_accuracies(feats, own, labels) >= shared).all()


def test_prompt_diffusion_fits_overfits_and_gives_each_image_its_prompt(backbone, tmp_path):
    method, ctx = _fitted(backbone, tmp_path)
    audit = ctx.audit["prompt_diffusion"]
    assert audit["reused"] is False and audit["overfit_images"] == 12 and audit["overfit_runaways"] == 0 and len(audit["overfit_acc"]) == 2
    assert ctx.audit["optimizer_steps"] == {"coop": 3, "overfit_per_image": 2, "diffusion": 3}
    feats = torch.randn(5, backbone.embed_dim)
    emb = method.image_class_embeddings(LabelSet(tuple(NAMES), "mini_shapes"), feats)
    assert emb.shape == (1, 5, 3, backbone.embed_dim)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(1, 5, 3), atol=1e-4)
    prompts = method.sample_prompts(feats, seed=1)
    assert prompts.shape == (1, 5, *method.base.shape)
    assert not torch.allclose(prompts[0, 0], prompts[0, 1])  # per image
    assert torch.equal(prompts, method.sample_prompts(feats, seed=1))  # seeded
    assert not torch.equal(prompts, method.sample_prompts(feats, seed=2))
    assert "mini_shapes" in ctx.audit["prompt_diffusion"]["seconds_per_image"]
    fidelity = audit["training_fidelity"]  # the diffusion on its own training images, beside what it learned from
    assert fidelity["images"] == 12 and fidelity["sample_steps"] == 2 and [fidelity["learner_acc"], fidelity["overfit_acc"]] == audit["overfit_acc"]
    assert 0.0 <= fidelity["sampled_acc"] <= 100.0
    again, ctx2 = _fitted(backbone, tmp_path)  # cached: the same denoiser, not retrained, its fidelity kept beside it
    assert ctx2.audit["prompt_diffusion"]["reused"] is True and ctx2.audit["prompt_diffusion"]["training_fidelity"] == fidelity
    assert torch.equal(again.sample_prompts(feats, seed=1), prompts)
    _, ctx3 = _fitted(backbone, tmp_path, sample_steps=3)  # another sampler: measured again for it
    assert ctx3.audit["prompt_diffusion"]["reused"] is True and ctx3.audit["prompt_diffusion"]["training_fidelity"]["sample_steps"] == 3


def test_the_mini_denoiser_reproduces_its_training_prompts(backbone, tmp_path):
    """The check Prompt Diffusion's Δ rows rely on, at unit scale: sampled for the images it was trained on, the mini
    world's denoiser (an MLP on the standardised feature) gives prompts that classify them as their over-fitted ones do."""
    method, ctx = _fitted(backbone, tmp_path, overfit_steps=5, train_steps=400, width=64, layers=2, sample_steps=5)
    assert method.config["denoiser"] == "mlp" and type(method.model).__name__ == "MLPDenoiser"
    fidelity = ctx.audit["prompt_diffusion"]["training_fidelity"]
    assert fidelity["overfit_acc"] == 100.0 and fidelity["learner_acc"] < 100.0
    assert fidelity["sampled_acc"] == fidelity["overfit_acc"]


def test_the_paper_world_denoiser_is_the_diffusion_transformer_and_reloads(backbone, tmp_path):
    from dmpbench.registry import METHODS

    assert METHODS.get("prompt_diffusion").default_config["denoiser"] == "transformer"
    method, _ = _fitted(backbone, tmp_path, denoiser="transformer")
    assert type(method.model).__name__ == "TransformerDenoiser"
    feats = torch.randn(4, backbone.embed_dim)
    again, ctx = _fitted(backbone, tmp_path, denoiser="transformer")
    assert ctx.audit["prompt_diffusion"]["reused"] is True
    assert torch.equal(again.model.cond_std, method.model.cond_std) and not torch.equal(method.model.cond_std, torch.ones_like(method.model.cond_std))
    assert torch.equal(again.sample_prompts(feats, seed=1), method.sample_prompts(feats, seed=1))


@pytest.mark.parametrize("setting, words", [("method.denoiser=unet", "denoiser"), ("method.width=15", "must be even")])
def test_a_bad_denoiser_setting_is_one_line_before_any_work(tmp_path, capsys, setting, words):
    assert_run_refused("base2new", "prompt_diffusion", ["--set", setting, "--no-progress"], words, tmp_path, capsys)


def test_overfitting_fits_each_image(backbone, tmp_path):
    method, ctx = _fitted(backbone, tmp_path / "o", overfit_steps=5)
    before, after = ctx.audit["prompt_diffusion"]["overfit_acc"]
    assert after >= before and after == 100.0  # five steps at the recipe's lr fit every training image


def test_overfitting_in_chunks_gives_what_one_pass_gives(backbone, tmp_path, monkeypatch):
    """The images are over-fitted ``overfit_sequences`` text passes at a time (memory); each has its own loss and SGD."""
    method, _ = _fitted(backbone, tmp_path / "c", overfit_steps=3)
    data = _data(backbone)
    whole, feats, stats = method.overfit(data)
    monkeypatch.setattr(type(method), "overfit_sequences", 7)  # 2 images (6 sequences) a chunk, the last alone
    chunked, feats2, stats2 = method.overfit(data)
    assert stats2 == stats and torch.equal(feats2, feats)
    assert torch.allclose(chunked, whole, atol=1e-6) and whole.abs().max() > 1e-3


@pytest.mark.parametrize("timesteps", [100, 1000, 20])
def test_the_noise_schedule_ends_in_noise_for_any_number_of_steps(timesteps):
    """x_T ~ N(0, I), where the sampler starts, must be what training saw at t = T (diffusers' default betas leave
    sqrt(alpha_bar_T) = 0.6 of the prompt at T = 100)."""
    from diffusers import DDPMScheduler, DPMSolverSinglestepScheduler

    from dmpbench.methods.prompt_diffusion import noise_schedule

    train = DDPMScheduler(**noise_schedule(timesteps))
    assert float(train.alphas_cumprod[-1]) < 1e-3 and float(train.alphas_cumprod[0]) > 0.98
    sample = DPMSolverSinglestepScheduler(**noise_schedule(timesteps), solver_order=2, prediction_type="sample")
    assert torch.allclose(sample.alphas_cumprod, train.alphas_cumprod)


def test_an_over_fitting_run_away_is_left_out_of_the_diffusions_training():
    from dmpbench.methods.prompt_diffusion import RUNAWAY_FACTOR, within_reach

    gen = torch.Generator().manual_seed(0)
    offsets = torch.randn(50, 4, 8, generator=gen) * 0.1
    offsets[7] *= RUNAWAY_FACTOR * 3  # mini_objects seed 2 had one image at 104x the 90th percentile
    offsets[9] *= RUNAWAY_FACTOR / 2  # large, but within reach
    keep = within_reach(offsets)
    assert keep.tolist() == [i != 7 for i in range(50)]
    assert within_reach(offsets[keep]).all()
