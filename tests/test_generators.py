"""The generators DMP is compared with (Table 8): Stylus top-1 retrieval, a conditional VAE and a LoRA
transformer regressor, over the same repository as ``dmp_coop`` (tiny settings, mini world)."""

import pytest
import torch

from dmpbench.cli import main
from dmpbench.data.mini import MINI_SUITE
from dmpbench.methods.gpt2 import ConditionedGPT2, nearest_tokens
from dmpbench.methods.vae import ConditionalVAE
from dmpbench.runner.run import RunRequest, execute

REPO = ["method.repo_inits=2", "method.coop_steps=3"]
TINY = {"stylus_top1": REPO, "vae": REPO + ["method.vae_steps=30", "method.num_prompts=3"],
        "transformer": REPO + ["method.steps=2"], "gpt2": REPO + ["method.gpt2_steps=20", "method.num_prompts=2"]}
POOL = list(MINI_SUITE["base2new"])


def run(method, tmp_path, cache, sets=(), seed=1, dataset=POOL[0]):
    (record,) = execute(RunRequest(task="base2new", method=method, datasets=[dataset], seeds=[seed], results=tmp_path, cache_dir=cache,
                                   sets=[*TINY[method], *sets], progress=False), say=lambda line: None)
    return record


@pytest.mark.parametrize("method", sorted(TINY))
def test_generator_records_fidelity_steps_and_its_base_learner(method, tmp_path, shared_cache):
    rec = run(method, tmp_path, shared_cache)
    fidelity = rec["audit"]["repository_fidelity"]
    assert sorted(fidelity) == sorted(POOL)  # every training label set
    assert all(set(e) == {"repository_acc", "generated_acc"} for e in fidelity.values())
    assert rec["audit"]["optimizer_steps"]["repository"] == {d: 3 for d in POOL}
    assert set(rec["metrics"][POOL[0]]) == {"base", "new", "all", "hm"}
    from dmpbench.registry import METHODS

    assert METHODS.get(method).base_learner == "coop"  # leaderboard Δ rows pair it with CoOp


def test_stylus_top1_returns_the_nearest_entry_so_it_reproduces_its_repository(tmp_path, shared_cache):
    audit = run("stylus_top1", tmp_path, shared_cache)["audit"]
    assert all(e["generated_acc"] == e["repository_acc"] for e in audit["repository_fidelity"].values())
    # every request names the entry it retrieved (a training label set: itself, hence the 0 gap above)
    assert set(audit["retrieved"]) == set(POOL) and set(audit["retrieved"].values()) <= set(POOL)
    assert audit["stylus"] == {"entries": len(POOL), "prompts": 2 * len(POOL)}


def test_vae_sampling_is_seeded_and_its_model_is_cached(tmp_path, shared_cache):
    first = run("vae", tmp_path / "a", shared_cache)
    again = run("vae", tmp_path / "b", shared_cache)
    other = run("vae", tmp_path / "c", shared_cache, seed=2)
    assert again["audit"]["vae"]["reused"] is True
    assert again["metrics"] == first["metrics"]
    assert other["metrics"] != first["metrics"]  # the run's seed draws other latents
    assert again["audit"]["repository_fidelity"] == first["audit"]["repository_fidelity"]  # fidelity: seed repo_seed


def test_conditional_vae_learns_the_condition():
    """Two conditions, each with its own cluster of 'prompts': after training, samples under each
    condition land on that condition's cluster (the VAE uses the condition, not only the latent)."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    centres = torch.stack([torch.full((6,), 2.0), torch.full((6,), -2.0)])
    conds = torch.eye(2)
    labels = torch.arange(200) % 2
    x = centres[labels] + 0.1 * torch.randn(200, 6, generator=gen)
    model = ConditionalVAE(6, 2, latent=2, hidden=32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(400):
        loss, _, _ = model.loss(x, conds[labels], 1.0, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for k in range(2):
        samples = model.sample(conds[k : k + 1], 50, torch.Generator().manual_seed(1))
        assert (samples.mean(0) - centres[k]).abs().max() < 0.5


def test_transformer_gives_one_prompt_and_a_missing_encoder_is_one_line(tmp_path, shared_cache, capsys):
    rec = run("transformer", tmp_path, shared_cache)
    assert rec["audit"]["transformer"]["label_sets"] == len(POOL)
    args = ["run", "--task", "base2new", "--method", "transformer", "--dataset", POOL[0], "--no-progress",
            "--results", str(tmp_path / "r"), "--cache-dir", str(shared_cache), "--set", *TINY["transformer"],
            f"method.encoder={tmp_path / 'no-such-encoder'}"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not available offline" in err[0] and "Traceback" not in err[0]
    assert not list((tmp_path / "r").rglob("*.json"))  # nothing written


def test_nearest_tokens_are_the_vocabulary_rows_nearest_first():
    vocab = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [3.0, 3.0], [1.1, 0.0], [0.9, 0.1]])
    prompts = torch.tensor([[[1.0, 0.0], [0.0, 0.9]]])  # one prompt, K=2
    ids = nearest_tokens(prompts, vocab, top=3)
    assert ids.shape == (1, 2, 3)
    assert ids[0, 0].tolist() == [1, 4, 5] and ids[0, 1].tolist()[0] == 2


def test_conditioned_gpt2_learns_each_conditions_sequence():
    """Two conditions, each with its own 6-token sequence: after training, ancestral samples under each
    condition give that condition's sequence (the prefix conditioning works)."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = ConditionedGPT2(vocab=12, cond_dim=3, length=16, width=32, layers=1, heads=2)
    seqs = torch.tensor([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 0]])
    cond = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]], [[0, 0, 1.0], [0, 1.0, 0]]])
    mask = torch.ones(2, 2, dtype=torch.long)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(150):
        logits = model.logits(cond, mask, seqs[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 12), seqs.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        tokens = torch.zeros(2, 0, dtype=torch.long)
        for _ in range(6):
            tokens = torch.cat([tokens, model.logits(cond, mask, tokens)[:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(tokens, seqs)


def test_repository_noise_touches_the_share_asked_for(tmp_path, shared_cache):
    """DMP A.5.3 / Table 14: repo_noise=0.4 noises 40% of the 22 repository prompts the generator trains on."""
    audit = run("vae", tmp_path, shared_cache, sets=["method.repo_noise=0.4"])["audit"]
    assert audit["repository_noise"] == {"noised": 9, "of": 22, "std": 0.01}
    assert "repository_noise" not in run("vae", tmp_path / "clean", shared_cache)["audit"]
