"""TAC on the mini CLIP: cluster tokens from the label set in both towers, the prompts' uniform epoch average."""

import torch

from dmpbench.baselines.tac import TAC_DEFAULTS, build_prompts, cluster_centres
from dmpbench.cli import main
from dmpbench.runner.run import RunRequest, execute


def test_cluster_centres_are_normalised_deterministic_and_at_most_the_classes():
    gen = torch.Generator().manual_seed(0)
    groups = torch.cat([torch.randn(4, 8, generator=gen) * 0.05 + torch.eye(8)[i] for i in range(3)])
    centres = cluster_centres(groups, 3)
    assert centres.shape == (3, 8) and torch.allclose(centres.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert sorted(centres.argmax(1).tolist()) == [0, 1, 2]  # one centre per group
    assert torch.equal(centres, cluster_centres(groups, 3))
    assert cluster_centres(groups[:2], 5).shape[0] == 2  # k = min(5, classes)


def test_the_prompts_depend_on_the_label_set():
    from dmpbench.backbones.mini import MiniCLIP

    backbone = MiniCLIP()
    cfg = {**TAC_DEFAULTS, "depth_text": 3, "depth_vision": 2, "clusters": 2}
    prompts = build_prompts(backbone, cfg, seed=1)
    shapes = ["circle", "square", "triangle"]
    letters = ["letter A", "letter B", "letter C"]
    v1, v2 = prompts.visual(shapes), prompts.visual(letters)
    assert [tuple(v.shape) for v in v1] == [(2 + 5, backbone.visual_prompt_geometry()[1])] * 2  # 2 cluster tokens + 5 learned
    assert torch.equal(v1[0][2:], v2[0][2:]) and not torch.allclose(v1[0][:2], v2[0][:2])  # the cluster tokens differ, the rest not
    with torch.no_grad():
        assert prompts.text(backbone, shapes).shape == (3, backbone.embed_dim)


def test_tac_runs_base2new_with_label_aware_image_features(tmp_path, shared_cache, tenth_of_test_images):
    (rec,) = execute(RunRequest(task="base2new", method="tac", datasets=["mini_shapes"], seeds=[1], results=tmp_path, cache_dir=shared_cache,
                                sets=["method.steps=3", "method.convergence_check=true"], progress=False), say=lambda line: None)
    assert rec["audit"]["optimizer_steps"] == 3 and set(rec["metrics"]["mini_shapes"]) == {"base", "new", "all", "hm"}


def test_too_deep_tac_is_one_line(tmp_path, capsys, shared_cache):
    args = ["run", "--task", "base2new", "--method", "tac", "--dataset", "mini_shapes", "--seed", "1", "--no-progress",
            "--results", str(tmp_path / "r"), "--cache-dir", str(shared_cache), "--set", "method.depth_vision=12", "method.steps=2"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "depth_vision 12" in err[0]
