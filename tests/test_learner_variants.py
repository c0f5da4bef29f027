"""The generated-prompt variants over the learners that prompt the image tower. DMPClass (DMP A.9: ``dmp_maple``,
``dmp_promptsrc``, ``dmp_coprompt``, ``dmp_tac``): the DMP samples the shallow text context only, the learner's other
weights stay as learned, and a generated context that drives vision prompts (MaPLe's coupling) changes the image
features. Prompt Diffusion (``prompt_diffusion_<learner>``): each image gets its own context (VPT: its own visual
prompts) and its own pass through the prompted tower."""

from pathlib import Path

import pytest
import torch

from dmpbench.backbones.feature_cache import ImageSet
from dmpbench.baselines.base import FewShotData, LabelSet, TrainingPool
from dmpbench.context import RunContext
from dmpbench.metrics.classification import per_image_accuracies, prompt_set_accuracies
from dmpbench.registry import METHODS
from dmpbench.runner.run import RunRequest, execute

TINY = {"steps": 3, "batch_size": 2}


@pytest.fixture(scope="module")
def world():
    from dmpbench.runner.worlds import make_world

    return make_world("mini", None, None, torch.device("cpu"))


def _shapes(world, n=6) -> tuple[FewShotData, LabelSet, ImageSet]:
    ds = world.dataset("mini_shapes")
    items = [it for it in ds.split("train") if it.label < 3][:n]
    images = ImageSet([(ds, items)], world.backbone.image_transform())
    names = list(ds.classnames[:3])
    data = FewShotData("mini_shapes", names, images.encode(world.backbone.encode_image), torch.tensor([it.label for it in items]),
                       split="base", images=images)
    return data, LabelSet(tuple(names), "mini_shapes"), images


def _fit(name, world, cache, config=TINY):
    ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=cache, progress=False)
    learner = METHODS.get(name)(world.backbone, dict(config), ctx)
    data, labels, images = _shapes(world)
    learner.fit(data, TrainingPool(["mini_shapes"], lambda n, s: data, 1))
    return learner, labels, images, ctx


def test_a_generated_context_drives_maples_vision_prompts_and_is_restored(world, tmp_path):
    learner, labels, images, _ = _fit("maple", world, tmp_path)
    learned = learner.prompts.context.detach().clone()
    own_feats, own_text = learner.features_with(images, labels), learner.text_with(labels.classnames)
    other = torch.randn_like(learned) * 0.05
    feats, text = learner.features_with(images, labels, other), learner.text_with(labels.classnames, other)
    assert not torch.allclose(feats, own_feats, atol=1e-4)  # the coupling projects the generated context into the tower
    assert not torch.allclose(text, own_text, atol=1e-4)
    assert torch.equal(learner.prompts.context.detach(), learned)  # swapped back
    assert torch.allclose(learner.features_with(images, labels, learned), own_feats, atol=1e-5)
    assert learner.image_prompts(torch.zeros(4, 8)).shape == (4, *learned.shape)
    with pytest.raises(Exception, match="shape"):
        learner.text_with(labels.classnames, torch.zeros(5, learned.shape[1]))


def test_promptsrcs_vision_prompts_do_not_follow_the_text_context(world, tmp_path):
    learner, labels, images, _ = _fit("promptsrc", world, tmp_path)
    other = torch.randn_like(learner.prompts.context) * 0.05
    assert torch.allclose(learner.features_with(images, labels, other), learner.features_with(images, labels), atol=1e-6)
    assert not torch.allclose(learner.text_with(labels.classnames, other), learner.text_with(labels.classnames), atol=1e-4)


@pytest.mark.parametrize("name, passes", [("promptsrc", 1), ("tac", 1), ("maple", 3)])
def test_a_generators_feature_set_per_prompt_passes_the_tower_once_when_vision_ignores_the_context(world, tmp_path, name, passes):
    from dmpbench.methods.repository import features_per_prompt

    learner, labels, images, _ = _fit(name, world, tmp_path)
    prompts = torch.randn(3, *learner.prompts.context.shape, generator=torch.Generator().manual_seed(0)) * 0.05
    each = torch.stack([learner.features_with(images, labels, p) for p in prompts])
    calls, features_with = [], learner.features_with
    learner.features_with = lambda *a, **k: calls.append(1) or features_with(*a, **k)
    got = features_per_prompt(learner, images, labels, prompts, torch.device("cpu"))
    assert len(calls) == passes and got.shape == (3, len(images), world.backbone.embed_dim)
    assert torch.allclose(got, each, atol=1e-6)


@pytest.mark.parametrize("name, key", [("maple", "context"), ("coprompt", "maple.context"), ("tac", "context")])
def test_repository_is_r_fits_of_the_whole_learner_from_r_contexts(world, tmp_path, name, key):
    cls = METHODS.get(name)
    data, _, _ = _shapes(world)
    ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=tmp_path, progress=False)
    cfg = {**cls.default_config, **cls.world_defaults["mini"], **TINY, "init": ""}
    k = cls.context_length(cfg)
    init = torch.randn(2, k, world.backbone.ctx_dim, generator=torch.Generator().manual_seed(0)) * 0.02
    repo = cls.train_repository(world.backbone, data, cfg, ctx, init, seed=3)
    assert repo.shape == (2, k, world.backbone.ctx_dim) and not torch.allclose(repo, init)
    torch.manual_seed(3)
    one, _ = cls.train_module(world.backbone, data, cfg, RunContext(device=torch.device("cpu"), precision="fp32", seed=3, cache_dir=tmp_path,
                                                                      progress=False), context=init[1])
    assert torch.allclose(repo[1], one[key], atol=1e-6)  # fit r is the learner's own fit from init[r]


def test_per_prompt_set_features_score_each_set_with_its_own_features():
    feats = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])  # [P=2, N=2, D]
    emb = torch.eye(2).expand(2, 2, 2)  # [P, C, D]
    assert prompt_set_accuracies(feats, emb, torch.tensor([0, 1])).tolist() == [100.0, 0.0]
    with pytest.raises(ValueError, match="3 image feature sets for 2 prompt sets"):
        prompt_set_accuracies(torch.zeros(3, 2, 2), emb, torch.tensor([0, 1]))


def test_dmp_over_maple_samples_the_context_and_keeps_the_units_other_weights(tmp_path, shared_cache, tenth_of_test_images):
    sets = ["method.repo_inits=2", "method.maple_steps=2", "method.maple_batch_size=2", "method.dmp_steps=3", "method.num_prompts=2",
            "method.sample_steps=3", "method.learner={steps: 3, batch_size: 2}"]
    (rec,) = execute(RunRequest(task="base2new", method="dmp_maple", datasets=["mini_digits"], seeds=[2], results=tmp_path, cache_dir=shared_cache,
                                sets=sets, progress=False), say=lambda line: None)
    audit = rec["audit"]
    assert audit["optimizer_steps"]["learner"] == 3 and audit["optimizer_steps"]["repository"] == {"mini_digits": 2}
    assert set(audit["repository_fidelity"]["mini_digits"]) == {"repository_acc", "dmp_acc"}
    assert set(rec["metrics"]["mini_digits"]) == {"base", "new", "all", "hm"} and "encode" in rec["timings"]["wall_s"]
    cls = METHODS.get("dmp_maple")
    assert cls.base_learner == "maple" and cls.features_per_prompt_set and not cls.per_image
    assert rec["config"]["method"]["maple_depth"] == 3  # the learner's own mini recipe under the repository's steps
    # the fidelity probes (26 passes of the tower per label set) are computed once per trained generator and kept beside it
    (again,) = execute(RunRequest(task="base2new", method="dmp_maple", datasets=["mini_digits"], seeds=[3], results=tmp_path, cache_dir=shared_cache,
                                  sets=sets, progress=False), say=lambda line: None)
    assert again["audit"]["repository_fidelity"] == audit["repository_fidelity"]
    assert again["timings"]["wall_s"].get("probe", 0.0) < rec["timings"]["wall_s"]["probe"]
    assert len(list(Path(audit["dmp"]["dir"]).glob("probe_cache/*/probes/*.json"))) == 2


@pytest.mark.parametrize("name", ["vpt", "maple", "promptsrc", "coprompt", "tac"])
def test_the_label_set_flags_say_what_the_learner_does(world, tmp_path, name):
    """``features_follow_labels`` / ``classes_independent`` (what lets treecut embed its vocabulary once) against what
    the learner computes for a label set and a part of it."""
    learner, labels, images, _ = _fit(name, world, tmp_path)
    part = LabelSet(labels.classnames[:2], labels.dataset)
    same_feats = torch.allclose(learner.image_features(images, labels), learner.image_features(images, part), atol=1e-6)
    same_text = torch.allclose(learner.class_embeddings(labels)[:, :2], learner.class_embeddings(part), atol=1e-5)
    assert same_feats == (not learner.features_follow_labels) and same_text == learner.classes_independent
    assert (learner.features_follow_labels, learner.classes_independent) == ((True, False) if name == "tac" else (False, True))


def test_the_variants_take_the_label_set_flags_from_their_learner():
    flags = lambda name: (METHODS.get(name).features_follow_labels, METHODS.get(name).classes_independent)  # noqa: E731
    assert flags("prompt_diffusion_maple") == flags("prompt_diffusion_vpt") == (False, True)  # the prompt follows the image
    assert flags("prompt_diffusion_tac") == (True, False)
    assert flags("dmp_maple") == flags("dmp_coprompt") == (True, False)  # the generated prompt drives the vision prompts
    assert flags("dmp_promptsrc") == (False, False) and flags("dmp_tac") == (True, False)


def test_vpt_has_no_text_context_to_generate():
    from dmpbench.methods.dmp_coop import DMPCoOp

    with pytest.raises(NotImplementedError, match="vpt learns no text prompt"):
        DMPCoOp.over("dmp_vpt", "vpt")


@pytest.mark.parametrize("name", ["maple", "coprompt", "promptsrc", "tac"])
def test_per_image_prompts_give_each_image_what_its_own_context_gives(world, tmp_path, name):
    """Prompt Diffusion's per-image path: image n through the tower and the text side with its own context equals the
    learner with that context swapped in (MaPLe's / CoPrompt's vision prompts follow it), and gradients reach it."""
    learner, labels, images, _ = _fit(name, world, tmp_path)
    n = 3
    own = learner.image_prompts(torch.zeros(n, 8))
    contexts = own + torch.randn(own.shape, generator=torch.Generator().manual_seed(0)) * 0.05
    pixels = images.load(list(range(n)))
    feats = learner.features_with_prompts(pixels, contexts, labels.classnames)
    text = learner.prompt_classifier(contexts, labels.classnames, feats)
    assert feats.shape == (n, world.backbone.embed_dim) and text.shape == (n, len(labels.classnames), world.backbone.embed_dim)
    for i in range(n):
        alone = ImageSet([(images.parts[0][0], images.parts[0][1][i : i + 1])], images.transform)
        expected = torch.nn.functional.normalize(learner.features_with(alone, labels, contexts[i]), dim=-1)
        assert torch.allclose(feats[i], expected[0], atol=1e-5)
        assert torch.allclose(text[i], learner.text_with(labels.classnames, contexts[i]), atol=1e-5)
    moved = not torch.allclose(feats, learner.features_with_prompts(pixels, own, labels.classnames), atol=1e-5)
    assert moved == learner.vision_follows_prompt  # (Prompt Diffusion encodes PromptSRC's and TAC's images once)
    prompts = torch.nn.Parameter(contexts.clone())
    (learner.features_with_prompts(pixels, prompts, labels.classnames)[:, 0].sum()
     + learner.prompt_classifier(prompts, labels.classnames, feats)[:, 0, 0].sum()).backward()
    assert prompts.grad.abs().sum(dim=(1, 2)).gt(0).all()  # each image's prompt gets a gradient


def test_prompt_diffusion_over_vpt_diffuses_its_visual_prompts(world, tmp_path):
    learner, labels, images, _ = _fit("vpt", world, tmp_path)
    deep = learner.prompts.prompts.detach()
    flat = learner.image_prompts(torch.zeros(2, 8))
    assert flat.shape == (2, deep.shape[0] * deep.shape[1], deep.shape[2])
    pixels = images.load([0, 1])
    own = torch.nn.functional.normalize(learner.image_features(images, labels)[:2], dim=-1)
    assert torch.allclose(learner.features_with_prompts(pixels, flat, labels.classnames), own, atol=1e-5)
    other = flat.clone()
    other[1] += torch.randn(other[1].shape, generator=torch.Generator().manual_seed(0))  # (not a constant: LayerNorm removes that)
    moved = learner.features_with_prompts(pixels, other, labels.classnames)
    assert torch.allclose(moved[0], own[0], atol=1e-5) and not torch.allclose(moved[1], own[1], atol=1e-3)
    text = learner.prompt_classifier(other, labels.classnames, moved)  # the frozen hand prompt for every image
    assert torch.equal(text[0], text[1]) and torch.allclose(text[0], learner.class_embeddings(labels)[0])


def test_per_image_scoring_with_a_feature_set_per_prompt_set():
    feats = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])  # [P=2, N=2, D]
    emb = torch.eye(2).expand(2, 2, 2, 2)  # [P, N, C, D]
    assert per_image_accuracies(feats, emb, torch.tensor([0, 1])).tolist() == [100.0, 0.0]
    with pytest.raises(ValueError, match="3 image feature sets for 2 prompt sets"):
        per_image_accuracies(torch.zeros(3, 2, 2), emb, torch.tensor([0, 1]))


def test_prompt_diffusion_over_maple_runs_base2new_with_each_images_own_tower_pass(tmp_path, shared_cache, tenth_of_test_images):
    sets = ["method.maple_steps=3", "method.maple_batch_size=2", "method.overfit_steps=2", "method.train_steps=3", "method.width=16",
            "method.layers=1", "method.heads=2", "method.sample_steps=2"]
    (rec,) = execute(RunRequest(task="base2new", method="prompt_diffusion_maple", datasets=["mini_digits"], seeds=[1], results=tmp_path,
                                cache_dir=shared_cache, sets=sets, progress=False), say=lambda line: None)
    cls = METHODS.get("prompt_diffusion_maple")
    assert cls.base_learner == "maple" and cls.per_image and cls.encodes_images and cls.features_per_prompt_set
    audit = rec["audit"]["prompt_diffusion"]
    before, after = audit["overfit_acc"]
    assert audit["overfit_images"] == 80 and after > before  # over-fitting through the tower fits each image's prompt to it
    assert audit["training_fidelity"]["images"] == 80 and 0.0 <= audit["training_fidelity"]["sampled_acc"] <= 100.0
    assert set(audit["seconds_per_image"]) == {"mini_digits"} and rec["audit"]["optimizer_steps"]["maple"] == 3
    assert set(rec["metrics"]["mini_digits"]) == {"base", "new", "all", "hm"} and "encode" in rec["timings"]["wall_s"]
    assert rec["config"]["method"]["maple_depth"] == 3  # the learner's own mini recipe, under its prefix


def test_prompt_diffusion_asks_for_image_features_before_class_embeddings(world, tmp_path):
    cls = METHODS.get("prompt_diffusion_vpt")
    ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=tmp_path, progress=False)
    method = cls(world.backbone, {"vpt_steps": 2, "vpt_batch_size": 2, "overfit_steps": 1, "train_steps": 2, "width": 16, "layers": 1,
                                  "heads": 2, "sample_steps": 2}, ctx)
    data, labels, images = _shapes(world)
    method.fit(data, TrainingPool(["mini_shapes"], lambda n, s: data, 1))
    with pytest.raises(Exception, match="before its image features"):
        method.image_class_embeddings(labels, torch.zeros(len(images), world.backbone.embed_dim))
    feats = method.image_features(images, labels)
    assert feats.shape == (1, len(images), world.backbone.embed_dim)
    assert method.image_class_embeddings(labels, feats).shape == (1, len(images), 3, world.backbone.embed_dim)


@pytest.mark.parametrize("name", ["maple", "vpt"])
def test_over_fitting_through_the_tower_in_chunks_gives_what_one_pass_gives(world, tmp_path, monkeypatch, name):
    """The tower path's chunks are bounded by text passes (images x classes) as well as images; each image has its own
    loss and SGD, so the chunk size changes only memory."""
    cls = METHODS.get(f"prompt_diffusion_{name}")
    ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=tmp_path, progress=False)
    method = cls(world.backbone, {f"{name}_steps": 2, f"{name}_batch_size": 2, "overfit_steps": 2, "train_steps": 2, "width": 16,
                                  "layers": 1, "heads": 2, "sample_steps": 2}, ctx)
    data, _, _ = _shapes(world)
    method.fit(data, TrainingPool(["mini_shapes"], lambda n, s: data, 1))
    whole, feats, stats = method.overfit(data)
    monkeypatch.setattr(cls, "overfit_sequences", 7)  # 3 classes: 2 images a chunk, 3 chunks
    seen, passes = [], method.learner.prompt_classifier
    monkeypatch.setattr(method.learner, "prompt_classifier", lambda p, *a: seen.append(p.shape[0]) or passes(p, *a))
    chunked, feats2, stats2 = method.overfit(data)
    assert set(seen) == {2} and len(seen) == 3 * 3  # 3 chunks x (2 steps + the last count)
    assert stats2 == stats and torch.equal(feats2, feats) and stats["overfit_images"] == 6
    # (the tower's batched fp32 arithmetic moves them by about 1e-5 between chunk sizes; a mixed-up chunk moves them by
    # the offsets' own size, 0.1 to 2 here)
    assert torch.allclose(chunked, whole, atol=1e-4) and whole.abs().max() > 0.1
