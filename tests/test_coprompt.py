"""CoPrompt on the mini CLIP: MaPLe's prompts, residual adapters, consistency with the frozen model."""

import torch

from dmpbench.baselines.coprompt import Adapter, build_module
from dmpbench.runner.run import RunRequest, execute


def test_adapters_mix_in_residually_and_have_no_biases():
    adapter = Adapter(16)
    assert all(not isinstance(m, torch.nn.Linear) or m.bias is None for m in adapter.modules())
    assert adapter.fc[0].out_features == 4


def test_module_adapts_both_towers(tmp_path):
    from dmpbench.backbones.mini import MiniCLIP

    backbone = MiniCLIP()
    cfg = {"n_ctx": 2, "init": "a photo of a", "depth": 3, "image_adapter_ratio": 0.1, "text_adapter_ratio": 0.2}
    module = build_module(backbone, cfg, seed=1)
    feats = torch.randn(3, backbone.embed_dim)
    assert torch.allclose(module.adapt_image(feats), 0.1 * module.adapter_image(feats) + 0.9 * feats)
    off = build_module(backbone, {**cfg, "image_adapter_ratio": 0.0, "text_adapter_ratio": 0.0}, seed=1)
    assert torch.equal(off.adapt_image(feats), feats)  # ratio 0: the plain MaPLe features
    with torch.no_grad():
        text = module.text(backbone, ["circle", "square"])
        plain = off.text(backbone, ["circle", "square"])
    assert text.shape == plain.shape == (2, backbone.embed_dim) and not torch.allclose(text, plain)


def test_coprompt_runs_base2new_scored_through_its_adapters(tmp_path, shared_cache, tenth_of_test_images):
    (rec,) = execute(RunRequest(task="base2new", method="coprompt", datasets=["mini_shapes"], seeds=[1], results=tmp_path, cache_dir=shared_cache,
                                sets=["method.steps=4", "method.convergence_check=true"], progress=False), say=lambda line: None)
    assert rec["audit"]["optimizer_steps"] == 4 and rec["audit"]["convergence"]["mini_shapes"]["optimizer_steps_2x"] == 8
    assert set(rec["metrics"]["mini_shapes"]) == {"base", "new", "all", "hm"}
