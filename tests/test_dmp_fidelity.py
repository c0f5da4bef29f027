"""Repository fidelity on a synthetic classification problem, with the real accuracy metric.

A "prompt" here is directly C class embeddings ``[C, D]``; two label sets (conditions) each have a
repository of 16 accurate prompts (their classes' centres plus noise) and test images drawn around
those centres. Fidelity is what every ``dmp_*`` record audits: the mean accuracy of prompts the DMP
samples for a training label set against the mean accuracy of that label set's repository prompts.
A trained DMP must come within 2 points (the issue's bar); an untrained one (normalisation fitted,
zero steps) must miss it by far (plain and principal-subspace layouts).
"""

import pytest
import torch

from dmpbench.baselines.base import normalize
from dmpbench.dmp import DMP
from dmpbench.metrics.classification import prompt_set_accuracies

torch.set_num_threads(1)

C, D, R, COND = 3, 8, 16, 12


def problem():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(2, C, D, generator=g)
    labels = torch.arange(C).repeat_interleave(60)
    feats = [centres[s].repeat_interleave(60, 0) + 0.8 * torch.randn(C * 60, D, generator=g) for s in range(2)]
    repo = [centres[s] + 0.3 * torch.randn(R, C, D, generator=g) for s in range(2)]
    conds = [torch.randn(3, COND, generator=g) for _ in range(2)]
    return feats, labels, repo, conds


def fidelity(dmp, feats, labels, repo, conds):
    """(mean repository accuracy, mean sampled accuracy) over the two training label sets."""
    acc = lambda prompts, s: float(prompt_set_accuracies(feats[s], normalize(prompts), labels).mean())  # noqa: E731
    rep = [acc(repo[s], s) for s in range(2)]
    smp = [acc(dmp.sample(conds[s], num_prompts=10, guidance=4.5, steps=50, seed=1), s) for s in range(2)]
    return sum(rep) / 2, sum(smp) / 2


@pytest.mark.parametrize("subspace", [0, 16])
def test_untrained_dmp_fails_the_fidelity_bar(subspace):
    feats, labels, repo, conds = problem()
    untrained = DMP((C, D), cond_dim=COND, preset="small", subspace=subspace)
    untrained.fit(torch.cat(repo), [conds[0]] * R + [conds[1]] * R, steps=0, progress=False)
    rep, smp = fidelity(untrained, feats, labels, repo, conds)
    assert rep - smp > 10, (rep, smp)  # repository ~90, untrained samples far below


def test_trained_dmp_reproduces_its_repository(tmp_path):
    feats, labels, repo, conds = problem()
    trained = DMP((C, D), cond_dim=COND, preset="small", subspace=16, unet_overrides={"pooled_cond": True})
    trained.fit(torch.cat(repo), [conds[0]] * R + [conds[1]] * R, steps=800, batch_size=64, lr=1e-3, seed=0, progress=False)
    rep, smp = fidelity(trained, feats, labels, repo, conds)
    assert abs(rep - smp) <= 2.0, (rep, smp)
    loaded = DMP.load(trained.save(tmp_path / "dmp"))  # the subspace and the pooled condition travel
    assert loaded.subspace_dims == 16 and loaded.unet_config.pooled_cond
    assert torch.equal(loaded.sample(conds[0], num_prompts=2, steps=5, seed=3), trained.sample(conds[0], num_prompts=2, steps=5, seed=3))
