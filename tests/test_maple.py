"""MaPLe on the mini CLIP: text prompts drive both towers through the coupling projections."""

import torch

from dmpbench.baselines.maple import MaPLePrompts, build_prompts
from dmpbench.cli import main
from dmpbench.runner.run import RunRequest, execute


def test_vision_prompts_are_projections_of_the_text_prompts():
    prompts = MaPLePrompts(torch.randn(2, 16), depth=3, vision_width=8)
    visual = prompts.visual()
    assert [tuple(v.shape) for v in visual] == [(2, 8)] * 3
    assert torch.allclose(visual[0], prompts.couple[0](prompts.context))
    with torch.no_grad():
        prompts.text_deep[1] += 1.0
    changed = prompts.visual()
    assert torch.equal(changed[0], visual[0]) and torch.equal(changed[1], visual[1]) and not torch.allclose(changed[2], visual[2])


def test_context_starts_from_the_first_tokens_of_the_init(tmp_path):
    from dmpbench.backbones.mini import MiniCLIP

    backbone = MiniCLIP()
    cfg = {"n_ctx": 2, "init": "a photo of a", "depth": 3}
    prompts = build_prompts(backbone, cfg, seed=1)
    assert torch.equal(prompts.context.detach(), backbone.token_embeddings("a photo of a")[:2].float())
    assert prompts.text_deep.shape == (2, 2, backbone.ctx_dim)
    assert torch.equal(build_prompts(backbone, cfg, seed=1).couple[1].weight, prompts.couple[1].weight)  # seeded


def test_maple_runs_base2new_with_its_convergence_check(tmp_path, shared_cache, tenth_of_test_images):
    (rec,) = execute(RunRequest(task="base2new", method="maple", datasets=["mini_shapes"], seeds=[1], results=tmp_path, cache_dir=shared_cache,
                                sets=["method.steps=4", "method.convergence_check=true"], progress=False), say=lambda line: None)
    assert rec["audit"]["optimizer_steps"] == 4 and rec["audit"]["convergence"]["mini_shapes"]["optimizer_steps_2x"] == 8
    assert set(rec["metrics"]["mini_shapes"]) == {"base", "new", "all", "hm"}
    assert "encode" in rec["timings"]["wall_s"]


def test_a_fit_without_the_check_is_served_by_the_checked_fit(tmp_path, shared_cache, tenth_of_test_images):
    """The fidelity probes ask for a learner without ``convergence_check``: the seed-1 record's checked fit serves
    them (its 1x weights, so the scores are the same); a fit asked for with the check is not served by an unchecked one."""
    run = lambda sets, seed, out: execute(RunRequest(  # noqa: E731
        task="base2new", method="maple", datasets=["mini_shapes"], seeds=[seed], results=tmp_path / out, cache_dir=shared_cache,
        sets=["method.steps=3", *sets], progress=False), say=lambda line: None)[0]
    checked = run(["method.convergence_check=true"], 1, "a")
    assert "maple_reused" not in checked["audit"]
    plain = run([], 1, "b")
    assert plain["audit"]["maple_reused"] and plain["metrics"] == checked["metrics"]
    assert not [d for d in (shared_cache / "maple").iterdir() if d.is_dir() and not any(d.iterdir())]  # no empty fit directories
    assert plain["audit"]["optimizer_steps"] == 3 and "convergence" not in plain["audit"]
    other = run([], 2, "c")
    assert "maple_reused" not in other["audit"]
    checked2 = run(["method.convergence_check=true"], 2, "d")  # the unchecked seed-2 fit lacks 2x: trained again
    assert "maple_reused" not in checked2["audit"] and checked2["audit"]["convergence"]["mini_shapes"]["optimizer_steps_2x"] == 6


def test_too_deep_maple_is_one_line(tmp_path, capsys, shared_cache):
    args = ["run", "--task", "base2new", "--method", "maple", "--dataset", "mini_shapes", "--seed", "1", "--no-progress",
            "--results", str(tmp_path / "r"), "--cache-dir", str(shared_cache), "--set", "method.depth=9", "method.steps=2"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "depth 9" in err[0]
    assert not list((tmp_path / "r").rglob("*.json"))
