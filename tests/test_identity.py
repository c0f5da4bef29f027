"""Identities (issue 11): mini subjects, textual inversion, DMPIdentity / DMPMulti and the identity task through the
runner (tiny settings on the shipped mini SD)."""

from __future__ import annotations

import pytest
import torch

from dmpbench.baselines.textual_inversion import TI_DEFAULTS, train_textual_inversion
from cli_checks import assert_run_refused
from dmpbench.context import RunContext
from dmpbench.data.identity_subjects import folder_subjects, mini_subjects
from dmpbench.errors import DmpbenchError
from dmpbench.runner.run import RunRequest, execute

TINY_TI = {**TI_DEFAULTS, "steps": 6, "batch_size": 1, "lr": 5e-3, "snapshot_from": 2, "snapshot_to": 6, "snapshot_every": 2}


def test_mini_subjects_are_unseen_people_with_training_and_reference_images():
    s = mini_subjects(3, 5, 32)
    assert s.names == ["identity-1", "identity-2", "identity-3"] and set(s.words.values()) <= {"man", "woman"}
    assert s.train.shape == (15, 3, 32, 32) and s.reference.shape == (45, 3, 32, 32)
    assert s.of(1).shape[0] == 5 and not torch.equal(s.of(0), s.of(1))
    with pytest.raises(DmpbenchError, match="train_images must be in"):
        mini_subjects(3, 20, 32)


def test_folder_subjects_layout_and_bad_input(tmp_path):
    from PIL import Image

    for person, n in (("alice", 4), ("bob", 2)):
        (tmp_path / person).mkdir()
        for j in range(n):
            Image.new("RGB", (40, 30), (10 * j, 0, 0)).save(tmp_path / person / f"{j}.png")
    s = folder_subjects(tmp_path, 1, 3, 16)
    assert s.names == ["alice"] and s.train.shape == (3, 3, 16, 16) and s.reference.shape == (1, 3, 16, 16)
    with pytest.raises(DmpbenchError, match="subject bob has 2 images; needs more than 3"):
        folder_subjects(tmp_path, 2, 3, 16)
    with pytest.raises(DmpbenchError, match="has 2 subject folders; asked for 5"):
        folder_subjects(tmp_path, 5, 3, 16)


def test_textual_inversion_subjects_train_as_they_would_alone(tmp_path):
    from dmpbench.backbones.synthesis.mini_sd import load_mini_sd

    sd = load_mini_sd()
    s = mini_subjects(2, 3, sd.image_size)
    ctx = lambda sub: RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=tmp_path / sub, progress=False)  # noqa: E731
    both, stats = train_textual_inversion(sd, s.names, s.train, s.train_labels, TINY_TI, 1, ctx("a"), "mini")
    alone, _ = train_textual_inversion(sd, s.names[1:], s.of(1), torch.zeros(3, dtype=torch.long), TINY_TI, 1, ctx("b"), "mini")
    assert both["repository"].shape == (2, 2, 1, sd.ctx_dim) and both["final"].shape == (2, 1, sd.ctx_dim)  # steps 4, 6 kept
    torch.testing.assert_close(both["repository"][1], alone["repository"][0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(both["final"], both["repository"][:, -1])  # the last kept step is the last step here
    assert stats["snapshots"] == 2 and set(stats["loss_last"]) == set(s.names)
    with pytest.raises(DmpbenchError, match="subject 'identity-2' has no images"):
        train_textual_inversion(sd, s.names, s.of(0), torch.zeros(3, dtype=torch.long), TINY_TI, 2, ctx("c"), "mini")


IDENTITY_SETS = ["task.subjects=2", "task.train_images=3", "task.images_per_prompt=1", "task.steps=2"]
TI_SETS = ["steps=6", "snapshot_from=2", "snapshot_to=6", "snapshot_every=2"]
METHOD_SETS = {
    "textual_inversion": [f"method.{s}" for s in TI_SETS],
    "dmp_identity": [f"method.ti_{s}" for s in TI_SETS] + ["method.dmp_steps=4", "method.dmp_batch_size=8", "method.num_prompts=2",
                                                           "method.sample_steps=3"],
}


@pytest.mark.parametrize("method", ["text_prompt", "textual_inversion", "dmp_identity"])
def test_identity_task_through_the_runner(method, tmp_path, shared_cache):
    req = RunRequest(task="identity", method=method, seeds=[1], results=tmp_path / "results", cache_dir=shared_cache,
                     progress=False, sets=IDENTITY_SETS + METHOD_SETS.get(method, []))
    (record,) = execute(req, say=lambda line: None)
    m = record["metrics"]["mini_face_identities"]
    assert set(m) == {"face_id", "dino", "clip_i", "clip_t"} and all(-1 <= v <= 1 for v in m.values())
    assert set(record["audit"]["per_subject"]) == {"identity-1", "identity-2"}
    assert "stand-in" in record["audit"]["extractors"]["face_id"] and "stand-in" in record["audit"]["extractors"]["dino"]
    if method == "dmp_identity":
        assert set(record["audit"]["repository_fidelity"]) == {"identity-1", "identity-2"}
        assert record["audit"]["dmp"]["repositories"] == {"identity-1": [2, 2]}
    rerun = execute(RunRequest(**{**req.__dict__, "force": True}), say=lambda line: None)[0]
    assert rerun["metrics"] == record["metrics"]


def test_dmp_multi_serves_both_tasks_from_one_dmp(tmp_path, shared_cache):
    sets = ([f"method.ti_{s}" for s in TI_SETS] + ["method.slider_steps=4", "method.slider_pool_size=4", "method.slider_pool_images=1",
            "method.slider_snapshot_span=4", "method.slider_snapshot_every=2", "method.dmp_steps=4", "method.dmp_batch_size=8",
            "method.num_prompts=2", "method.sample_steps=3"])
    run = lambda task, extra: execute(RunRequest(task=task, method="dmp_multi", seeds=[1], results=tmp_path / "r", cache_dir=shared_cache,  # noqa: E731
                                                 progress=False, sets=sets + extra), say=lambda line: None)[0]
    ident = run("identity", ["task.subjects=10", "task.train_images=5", "task.images_per_prompt=1", "task.steps=2"])
    slider = run("slider", ["task.concepts=[age]", "task.images_per_prompt=1", "task.steps=2"])
    assert ident["audit"]["dmp"]["reused"] is False and slider["audit"]["dmp"]["reused"] is True  # one DMP, trained once
    assert ident["audit"]["dmp"]["repositories"] == slider["audit"]["dmp"]["repositories"] == {"age": [13, 2], "identity-1": [10, 2]}
    assert "identity-10" in slider["audit"]["repository_fidelity"] and "tan" in ident["audit"]["repository_fidelity"]


@pytest.mark.parametrize("method, args, message", [
    ("text_prompt", ["--set", "task.subjects=-1"], "subjects"),
    ("text_prompt", ["--set", "task.subjects=5000"], "mini faces have"),
    ("text_prompt", ["--dataset", "mini_faces"], "subject set is 'mini_face_identities', not 'mini_faces'"),
    ("textual_inversion", ["--set", "method.snapshot_to=500"], "must lie inside training (400 steps)"),
])
def test_identity_bad_input_is_one_line(method, args, message, tmp_path, capsys):
    assert_run_refused("identity", method, args, message, tmp_path, capsys)


def test_storage_latency_measures_dmp_and_stylus_on_the_same_repositories(tmp_path, shared_cache):
    sets = ([f"method.ti_{s}" for s in TI_SETS] + ["method.slider_steps=4", "method.slider_pool_size=4", "method.slider_pool_images=1",
            "method.slider_snapshot_span=4", "method.slider_snapshot_every=2", "method.dmp_steps=4", "method.dmp_batch_size=8",
            "method.sample_steps=3", "task.repeats=1"])
    (record,) = execute(RunRequest(task="storage_latency", method="dmp_multi", seeds=[1], results=tmp_path / "r", cache_dir=shared_cache,
                                   progress=False, sets=sets), say=lambda line: None)
    m, ref = record["metrics"]["mini_repositories"], record["audit"]["reference"]
    assert ref["method"] == "stylus_top1" and record["audit"]["stylus"]["entries"] == 23  # 13 concepts + 10 identities
    assert record["audit"]["stylus"]["prompts"] == 13 * 2 + 10 * 2  # their stored snapshots: the DMP's repositories
    assert m["disk_mb"] > 0 and m["memory_mb"] > 0 and m["latency_s"] > 0 and ref["latency_s"] > 0
    assert m["latency_gain"] == pytest.approx(100 * (1 - m["latency_s"] / ref["latency_s"]), abs=0.5)  # the record rounds to 4 digits
    assert m["disk_gain"] == pytest.approx(100 * (1 - m["disk_mb"] / ref["disk_mb"]), abs=0.5)
    assert record["audit"]["requests"]["texts"] == 23


def test_storage_latency_refuses_methods_without_a_repository(tmp_path, capsys):
    assert_run_refused("storage_latency", "textual_inversion", [], "cannot serve task 'storage_latency'", tmp_path, capsys)
    assert_run_refused("storage_latency", "dmp_multi", ["--set", "task.reference=coop"],
                       "reference 'coop' is not a method that keeps a prompt repository", tmp_path, capsys)


def test_variation_prompts_are_the_papers_28_and_the_mini_worlds_28():
    from dmpbench.tasks.variation import MINI_PROMPTS, PAPER_PROMPTS

    assert len(PAPER_PROMPTS) == 28 == len(set(PAPER_PROMPTS)) and "a {} on the beach" in PAPER_PROMPTS
    assert len(MINI_PROMPTS) == 28 == len(set(MINI_PROMPTS)) and all(p.count("{}") == 1 for p in MINI_PROMPTS)
    assert "a photo of an old {} with glasses" in MINI_PROMPTS


@pytest.mark.parametrize("method", ["textual_inversion", "dmp_variation"])
def test_variation_task_through_the_runner(method, tmp_path, shared_cache):
    prefix = "ti_" if method == "dmp_variation" else ""
    sets = ["task.subjects=2", "task.train_images=3", "task.steps=2"] + [f"method.{prefix}{s}" for s in TI_SETS]
    if method == "dmp_variation":
        sets += ["method.repo_subjects=3", "method.dmp_steps=4", "method.dmp_batch_size=8", "method.num_prompts=2", "method.sample_steps=3"]
    (record,) = execute(RunRequest(task="variation", method=method, seeds=[1], results=tmp_path / "r", cache_dir=shared_cache,
                                   progress=False, sets=sets), say=lambda line: None)
    m = record["metrics"]["mini_face_identities"]
    assert set(m) == {"face_id", "clip_t"} and record["audit"]["images"]["prompts"][0] == "a photo of a smiling {}"
    assert len(record["audit"]["images"]["prompts"]) == 28
    if method == "dmp_variation":
        assert record["audit"]["dmp"]["repository"] == [3, 2] and set(record["audit"]["variation_ratio"]) == {"identity-1", "identity-2"}
        assert all(v > 0 for v in record["audit"]["variation_ratio"].values())


def test_dmp_multi_options_novel_identity_negation_composition(tmp_path, shared_cache):
    from dmpbench.baselines.generation import GenerationRequest

    sets = ([f"method.ti_{s}" for s in TI_SETS] + ["method.slider_steps=4", "method.slider_pool_size=4", "method.slider_pool_images=1",
            "method.slider_snapshot_span=4", "method.slider_snapshot_every=2", "method.dmp_steps=4", "method.dmp_batch_size=8",
            "method.num_prompts=2", "method.sample_steps=3"])
    from dmpbench.runner.run import resolve
    from dmpbench.runner.worlds import make_world
    from dmpbench.baselines.generation import GenerationData
    from dmpbench.data.slider_concepts import concepts_for
    from dmpbench.tasks import generation as gen

    world = make_world("mini", None, None, torch.device("cpu"))
    synthesis = gen.synthesis_for(world)
    data = GenerationData(synthesis, "mini_faces", extra={"concepts": concepts_for("mini")})
    samples = {}
    for extra in ([], ["method.negative=true"], ["method.negative_text=identity-3"], ["method.compose={identity-2: 2.0}"]):
        _, method_cls, config = resolve(RunRequest(task="slider", method="dmp_multi", sets=sets + extra))
        ctx = RunContext(device=torch.device("cpu"), precision="fp32", seed=1, cache_dir=shared_cache, progress=False)
        method = method_cls(world.backbone, config["method"], ctx)
        method.fit(data)
        samples[tuple(extra)] = method.samples["identity-1"]
        novel = method.prompt_embeddings(GenerationRequest(("a photo of a {}",), concept="identity-99", n=2), synthesis)
        assert novel.learned.shape == (2, 1, synthesis.ctx_dim) and novel.texts == ["a photo of a <*>"] * 2
        with pytest.raises(DmpbenchError, match="not trained on 'wizard'"):
            method.prompt_embeddings(GenerationRequest(("a photo of a {}",), concept="wizard", n=1), synthesis)
    plain = samples[()]
    assert all(not torch.allclose(plain, other) for key, other in samples.items() if key)  # each option changes the samples
