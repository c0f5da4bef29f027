"""Sliders (issue 11): the concept table, the guided-target training of prompt and concept sliders on the
shipped mini SD, DMPSlider, and the slider task through the runner (tiny settings)."""

from __future__ import annotations

import pytest
import torch

from dmpbench.baselines import slider_training as st
from dmpbench.baselines.concept_slider import lora_attached
from dmpbench.baselines.prompt_slider import SLIDER_DEFAULTS, train_prompt_sliders
from cli_checks import assert_run_refused
from dmpbench.context import RunContext
from dmpbench.data.slider_concepts import concepts_for, mini_concept, mini_concepts, paper_concepts
from dmpbench.errors import DmpbenchError
from dmpbench.methods.token_dmp import fidelity
from dmpbench.runner.run import RunRequest, execute

TINY = {**SLIDER_DEFAULTS, "tokens": 1, "steps": 6, "batch_size": 1, "lr": 5e-3, "pool_size": 8, "pool_images": 2,
        "snapshot_every": 2, "snapshot_span": 4}


@pytest.fixture(scope="module")
def mini_sd():
    from dmpbench.backbones.synthesis.mini_sd import load_mini_sd

    return load_mini_sd()


def ctx_for(tmp_path, seed=1) -> RunContext:
    return RunContext(device=torch.device("cpu"), precision="fp32", seed=seed, cache_dir=tmp_path, progress=False)


def test_mini_concepts_follow_the_faces_captions():
    concepts = mini_concepts()
    assert len(concepts) == 13 and len(paper_concepts()) == 20
    age = mini_concept("age")
    assert age.target == ("a photo of a man", "a photo of a woman") and age.positive == ("a photo of an old man", "a photo of an old woman")
    assert age.negative == age.neutral  # the mini SD never saw "young": c- is the caption without the attribute
    assert age.score_text == "a photo of an old person" and age.condition == "age"
    for c in concepts:  # five evaluation prompts, none already showing the concept or one it excludes
        assert len(c.eval_prompts) == 5 and len({p for p, _ in c.eval_prompts}) == 5
        assert all(plain != edited for plain, edited in c.eval_prompts)
    bald = mini_concept("bald")
    assert all("hat" not in plain for plain, _ in bald.eval_prompts)  # hat excludes bald
    with pytest.raises(DmpbenchError, match="unknown slider concept 'smilng'; did you mean smiling"):
        concepts_for("mini", ["smilng"])


def test_snapshot_schedule_is_the_papers():
    assert st.snapshot_steps(3000, 5, 200) == list(range(2805, 3001, 5)) and len(st.snapshot_steps(3000, 5, 200)) == 40
    assert st.snapshot_steps(300, 5, 200)[0] == 105
    with pytest.raises(DmpbenchError, match="last 200 steps but training has only 100"):
        st.snapshot_steps(100, 5, 200)


def test_prompt_sliders_train_together_as_they_would_alone(mini_sd, tmp_path):
    age, smiling = mini_concept("age"), mini_concept("smiling")
    both, stats = train_prompt_sliders(mini_sd, [age, smiling], TINY, 1, ctx_for(tmp_path / "a"))
    alone, _ = train_prompt_sliders(mini_sd, [smiling], TINY, 1, ctx_for(tmp_path / "b"))
    assert both["repository"].shape == (2, 2, 1, mini_sd.ctx_dim)  # 2 concepts x snapshots at steps 4, 6
    torch.testing.assert_close(both["repository"][1], alone["repository"][0], atol=1e-5, rtol=1e-4)
    init = mini_sd.token_embeddings("smiling").mean(0)
    assert not torch.allclose(both["repository"][1, -1, 0], init)  # it moved from the initializer word
    assert set(stats["loss_last"]) == {"age", "smiling"} and stats["optimizer_steps"] == 6
    again, _ = train_prompt_sliders(mini_sd, [age, smiling], TINY, 1, ctx_for(tmp_path / "a"))  # cached
    assert torch.equal(again["repository"], both["repository"])


def test_guided_target_is_the_cfg_direction(mini_sd):
    age = mini_concept("age")
    pool = st.guided_pool(mini_sd, [age], pool_size=4, pool_images=2, eta=4.0, seed=3)
    with torch.no_grad():
        p = int(pool.preserved[0])
        x, t = pool.latents[:1], pool.timesteps[:1]
        neutral = mini_sd.predict_noise(x, t, mini_sd.encode([age.neutral[p]])).float()
        positive = mini_sd.predict_noise(x, t, mini_sd.encode([age.positive[p]])).float()
    torch.testing.assert_close(pool.targets["age"][:1], neutral + 4.0 * (positive - neutral), atol=1e-4, rtol=1e-4)
    assert pool.preserved.tolist() == [0, 1, 0, 1]


def test_lora_slider_leaves_the_shared_unet_as_it_was(mini_sd):
    unet = mini_sd.pipeline.unet
    x, t = torch.randn(1, 4, 8, 8), torch.tensor([500])
    cond = mini_sd.encode(["a photo of a man"])
    with torch.no_grad():
        before = mini_sd.predict_noise(x, t, cond)
        with lora_attached(unet, "slider_test", {}, 4, 1.0, 1.0):  # a fresh LoRA (up weights zero): no change
            torch.testing.assert_close(mini_sd.predict_noise(x, t, cond), before)
            names = [n for n, _ in unet.named_parameters() if "slider_test" in n]
            assert names and all("attn2" not in n for n in names)  # "noxattn": never the cross-attention
            for n, p in unet.named_parameters():
                if "slider_test" in n and "lora_B" in n:
                    p.add_(0.1)
            assert not torch.allclose(mini_sd.predict_noise(x, t, cond), before)
        assert not any("slider_test" in n for n, _ in unet.named_parameters())
        torch.testing.assert_close(mini_sd.predict_noise(x, t, cond), before)


def test_dmp_fidelity_reads_nearest_repository_prompts():
    repo = torch.stack([torch.randn(5, 1, 4) * 0.1 + 5, torch.randn(5, 1, 4) * 0.1 - 5])
    near = [repo[0, :3].clone(), repo[0, :3].clone()]  # concept 1's "samples" sit on concept 0's prompts
    out = fidelity(repo, near, ["a", "b"])
    assert out["a"]["nearest_same"] == 1.0 and out["b"]["nearest_same"] == 0.0
    assert out["a"]["spread_ratio"] < 2 and out["b"]["spread_ratio"] > 10


SLIDER_SETS = ["task.concepts=[age,smiling]", "task.images_per_prompt=1", "task.steps=2"]
METHOD_SETS = {"prompt_slider": ["method.steps=4", "method.pool_size=4", "method.pool_images=1", "method.snapshot_span=4",
                                  "method.snapshot_every=2"],
               "concept_slider": ["method.steps=4", "method.pool_size=4", "method.pool_images=1"],
               "dmp_slider": ["method.slider_steps=4", "method.slider_pool_size=4", "method.slider_pool_images=1",
                              "method.slider_snapshot_span=4", "method.slider_snapshot_every=1", "method.dmp_steps=4", "method.dmp_batch_size=8", "method.num_prompts=2",
                              "method.sample_steps=3"]}


@pytest.mark.parametrize("method", ["text_prompt", "prompt_slider", "concept_slider", "dmp_slider"])
def test_slider_task_through_the_runner(method, tmp_path, shared_cache):
    req = RunRequest(task="slider", method=method, seeds=[1], results=tmp_path / "results", cache_dir=shared_cache,
                     progress=False, sets=SLIDER_SETS + METHOD_SETS.get(method, []))
    (record,) = execute(req, say=lambda line: None)
    m = record["metrics"]["mini_faces"]
    assert set(m) == {"clip_score", "lpips", "clip_gain"} and 0 <= m["clip_score"] <= 100 and m["lpips"] > 0
    assert set(record["audit"]["per_concept"]) == {"age", "smiling"}
    assert record["audit"]["images"]["images_per_prompt"] == 1 and "stand-in" in record["audit"]["extractors"]["lpips"]
    if method == "dmp_slider":
        assert set(record["audit"]["repository_fidelity"]) == {"age", "smiling"}
        assert record["audit"]["dmp"]["repositories"] == {"age": [2, 4]}
    rerun = execute(RunRequest(**{**req.__dict__, "force": True}), say=lambda line: None)[0]
    assert rerun["metrics"] == record["metrics"]  # deterministic from the seed (cached fits reused)


@pytest.mark.parametrize("method, args, message", [
    ("text_prompt", ["--set", "task.concepts=[agee]"], "unknown slider concept 'agee'; did you mean age"),
    ("text_prompt", ["--dataset", "mini_shapes"], "concept set is 'mini_faces', not 'mini_shapes'"),
    ("text_prompt", ["--set", "task.strength=0"], "strength"),
    ("prompt_slider", ["--set", "method.snapshot_span=400"], "snapshot_span (400) is longer than training (300 steps)"),
    ("zeroshot", [], "cannot serve task 'slider'"),
])
def test_slider_bad_input_is_one_line(method, args, message, tmp_path, capsys):
    assert_run_refused("slider", method, args, message, tmp_path, capsys)
