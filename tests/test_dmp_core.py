"""Correctness of the DMP core on a synthetic prompt repository with known conditional distributions.

Prompts are [K=2, d=4] (8 values). Four text conditions (random embedding sequences of lengths
3, 5, 2, 4) each pin one half of the vector and leave the other broad:

    c0: x[0:4] ~ N(+2, 0.3^2), x[4:8] ~ N(0, 1)      c1: x[0:4] ~ N(0, 1), x[4:8] ~ N(+2, 0.3^2)
    c2: x[0:4] ~ N(-2, 0.3^2), x[4:8] ~ N(0, 1)      c3: x[0:4] ~ N(0, 1), x[4:8] ~ N(-2, 0.3^2)

so the null condition is the 4-component mixture, composing c0 and c1 (eq. 3) should give samples
near (+2, +2) (the region both favour), and negating c0 should push x[0:4] away from +2. Every
threshold is checked against an untrained model (normalisation fitted, zero training steps), which
must miss it; the values both reach are written in the test's comment.
"""

import pytest
import torch

from dmpbench.dmp import DMP

torch.set_num_threads(1)

D, K, DIM = 16, 2, 4
N_PER = 400
STEPS = 25  # DDIM steps for the statistical tests (the paper's 50 are used in the determinism test)
NS = 128  # samples per condition


def _means():
    mu, sd = torch.zeros(4, 8), torch.ones(4, 8)
    for c, (half, sign) in enumerate([(0, 1), (1, 1), (0, -1), (1, -1)]):
        sl = slice(4 * half, 4 * half + 4)
        mu[c, sl], sd[c, sl] = 2.0 * sign, 0.3
    return mu, sd


MU, SD = _means()
PINNED = [slice(0, 4), slice(4, 8), slice(0, 4), slice(4, 8)]


def draw(c, n, g):
    return (MU[c] + SD[c] * torch.randn(n, 8, generator=g)).view(n, K, DIM)


def mmd(x, y, bw):
    """Biased MMD^2 with an RBF kernel of bandwidth bw."""
    def k(a, b):
        return torch.exp(-torch.cdist(a, b).pow(2) / (2 * bw**2)).mean()
    return float(k(x, x) + k(y, y) - 2 * k(x, y))


@pytest.fixture(scope="module")
def repo():
    g = torch.Generator().manual_seed(1)
    conds = [torch.randn(L, D, generator=g) for L in (3, 5, 2, 4)]
    prompts = torch.cat([draw(c, N_PER, g) for c in range(4)])
    cond_list = [conds[c] for c in range(4) for _ in range(N_PER)]  # same object -> stored once
    held_out = [draw(c, NS, g).view(NS, 8) for c in range(4)]
    return conds, prompts, cond_list, held_out


TRAIN_STEPS = 600


@pytest.fixture(scope="module")
def trained(repo):
    conds, prompts, cond_list, _ = repo
    dmp = DMP((K, DIM), cond_dim=D, preset="small")
    hist = dmp.fit(prompts, cond_list, steps=TRAIN_STEPS, batch_size=64, lr=1e-3, progress=False)
    assert hist["steps"] == TRAIN_STEPS
    return dmp


@pytest.fixture(scope="module")
def untrained(repo):
    conds, prompts, cond_list, _ = repo
    dmp = DMP((K, DIM), cond_dim=D, preset="small")
    dmp.fit(prompts, cond_list, steps=0, progress=False)
    return dmp


_CACHE = {}


def samples(dmp, cond, guidance=1.0, n=NS, seed=0):
    """Deterministic (same seed -> same samples, tested below), so computed once per test module."""
    key = (id(dmp), None if cond is None else id(cond), guidance, n, seed)
    if key not in _CACHE:
        _CACHE[key] = dmp.sample(cond, num_prompts=n, guidance=guidance, steps=STEPS, seed=seed).view(n, 8)
    return _CACHE[key]


def cond_stats(x, c):
    """(max |mean - mu| on pinned dims, pinned std range, free std range, MMD to held-out)."""
    pin = PINNED[c]
    free = slice(4, 8) if pin.start == 0 else slice(0, 4)
    return (float((x[:, pin].mean(0) - MU[c, pin]).abs().max()),
            (float(x[:, pin].std(0).min()), float(x[:, pin].std(0).max())),
            (float(x[:, free].std(0).min()), float(x[:, free].std(0).max())))


BW = 2.0  # RMS-scale kernel bandwidth for the MMD (raw prompt units)


def assign(x):
    """Component of each sample by its pinned half: 0..3, or -1 when no half is pinned."""
    a, b = x[:, :4].mean(1), x[:, 4:].mean(1)
    out = torch.full((x.shape[0],), -1)
    out[a > 1] = 0
    out[b > 1] = 1
    out[a < -1] = 2
    out[b < -1] = 3
    return out


# -------------------------------------------------------------------------------- thresholds
# values seen: trained (600 steps) | untrained
MEAN_TOL = 0.3  # pinned dims: max |mean - mu|: 0.056-0.10 | 2.2-2.3
PIN_STD = (0.15, 0.5)  # pinned dims std (truth 0.3): 0.27-0.35 | 1.3-1.6
FREE_STD = (0.6, 1.5)  # free dims std (truth 1.0): 0.76-1.05 | 1.3-1.6
MMD_MAX = 0.03  # MMD^2 to held-out draws: 0.011-0.016 | 0.39-0.40 (two sets of true draws: 0.005-0.010)


def check_conditionals(dmp, conds, held_out):
    ok, report = True, []
    for c in range(4):
        x = samples(dmp, conds[c])
        m, pstd, fstd = cond_stats(x, c)
        d = mmd(x, held_out[c], BW)
        report.append((round(m, 3), tuple(round(v, 3) for v in pstd), tuple(round(v, 3) for v in fstd), round(d, 4)))
        ok &= m < MEAN_TOL and PIN_STD[0] < pstd[0] and pstd[1] < PIN_STD[1]
        ok &= FREE_STD[0] < fstd[0] and fstd[1] < FREE_STD[1] and d < MMD_MAX
    return ok, report


def test_samples_match_each_conditional_distribution(trained, untrained, repo):
    conds, _, _, held_out = repo
    ok, report = check_conditionals(trained, conds, held_out)
    print("trained per-condition (mean err, pinned std, free std, MMD^2):", report)
    g = torch.Generator().manual_seed(7)
    floor = [round(mmd(draw(c, NS, g).view(NS, 8), held_out[c], BW), 4) for c in range(4)]
    print("MMD^2 between independent draws:", floor)
    assert ok, report
    ok, report = check_conditionals(untrained, conds, held_out)
    print("untrained:", report)
    assert not ok


def null_coverage(dmp):
    a = assign(samples(dmp, None))
    return [float((a == c).float().mean()) for c in range(-1, 4)]


def test_null_condition_covers_the_mixture(trained, untrained):
    # fractions (unassigned, c0..c3), truth 0.25 each (~0.01 unassigned): trained 0, 0.19-0.29 |
    # untrained 0.65 unassigned, 0.05-0.13 each
    frac = null_coverage(trained)
    print("trained null-condition fractions:", frac)
    assert frac[0] < 0.1 and all(0.15 < f < 0.35 for f in frac[1:]), frac
    frac = null_coverage(untrained)
    print("untrained:", frac)
    assert not (frac[0] < 0.1 and all(0.15 < f < 0.35 for f in frac[1:]))


def guidance_ratio(dmp, conds):
    """Pinned-dim spread at guidance 3 over guidance 1 (averaged over conditions)."""
    r = []
    for c in range(4):
        pin = PINNED[c]
        lo, hi = samples(dmp, conds[c], 1.0), samples(dmp, conds[c], 3.0)
        r.append(float(hi[:, pin].std(0).mean() / lo[:, pin].std(0).mean()))
    return sum(r) / len(r)


GUIDANCE_RATIO = 0.85  # trained 0.66 | untrained 1.0 (its output does not depend on the condition)


def test_higher_guidance_concentrates_samples(trained, untrained, repo):
    conds = repo[0]
    r = guidance_ratio(trained, conds)
    print("trained spread ratio guidance 3 / 1:", r)
    assert r < GUIDANCE_RATIO
    r = guidance_ratio(untrained, conds)
    print("untrained:", r)
    assert not r < GUIDANCE_RATIO


def composition(dmp, conds):
    """RMS distance to (+2)^8 of compose(c0, c1), over the best single condition's; halves' means."""
    target = torch.full((8,), 2.0)
    comp = dmp.compose([(conds[0], 1.0), (conds[1], 1.0)], num_prompts=NS, steps=STEPS).view(NS, 8)
    rms = lambda x: float((x - target).pow(2).mean().sqrt())  # noqa: E731
    single = min(rms(samples(dmp, conds[0])), rms(samples(dmp, conds[1])))
    return rms(comp) / single, float(comp[:, :4].mean()), float(comp[:, 4:].mean())


COMPOSE_RATIO = 0.6  # trained 0.50, halves' means 1.40, 1.52 | untrained 1.0, 0.01, 0.07


def test_composition_moves_toward_the_region_both_favour(trained, untrained, repo):
    conds = repo[0]
    ratio, a, b = composition(trained, conds)
    print("trained compose(c0, c1): rms ratio, means of halves:", ratio, a, b)
    assert ratio < COMPOSE_RATIO and a > 1.0 and b > 1.0
    ratio, a, b = composition(untrained, conds)
    print("untrained:", ratio, a, b)
    assert not (ratio < COMPOSE_RATIO and a > 1.0 and b > 1.0)


def negation(dmp, conds):
    """Shift of mean(x[0:4]) from the null samples, for -c0 and for c1 - c0; and c1's half."""
    base = float(samples(dmp, None)[:, :4].mean())
    neg = dmp.negate(None, conds[0], strength=1.0, num_prompts=NS, steps=STEPS).view(NS, 8)
    pos = dmp.negate(conds[1], conds[0], strength=1.0, num_prompts=NS, steps=STEPS).view(NS, 8)
    return float(neg[:, :4].mean()) - base, float(pos[:, :4].mean()) - base, float(pos[:, 4:].mean())


NEG_SHIFT = -1.0  # trained -2.27, -2.21 (c1 half 2.17) | untrained 0, 0 (0.07)


def test_negation_moves_away_from_the_negative_concept(trained, untrained, repo):
    conds = repo[0]
    pure, with_pos, pos_half = negation(trained, conds)
    print("trained negation shifts (pure, with positive c1), c1 half mean:", pure, with_pos, pos_half)
    assert pure < NEG_SHIFT and with_pos < NEG_SHIFT and pos_half > 1.0
    pure, with_pos, pos_half = negation(untrained, conds)
    print("untrained:", pure, with_pos, pos_half)
    assert not (pure < NEG_SHIFT and with_pos < NEG_SHIFT and pos_half > 1.0)


def test_same_seed_same_samples_and_dpm_sampler(trained, repo):
    cond = repo[0][0]
    a = trained.sample(cond, num_prompts=4, steps=50, seed=3)
    b = trained.sample(cond, num_prompts=4, steps=50, seed=3)
    c = trained.sample(cond, num_prompts=4, steps=50, seed=4)
    assert a.shape == (4, K, DIM) and torch.equal(a, b) and not torch.allclose(a, c)
    x = trained.sample(cond, num_prompts=NS, guidance=1.0, steps=10, sampler="dpm").view(NS, 8)
    assert torch.equal(x, trained.sample(cond, num_prompts=NS, guidance=1.0, steps=10, sampler="dpm").view(NS, 8))
    assert cond_stats(x, 0)[0] < MEAN_TOL


def test_save_load_round_trip(trained, repo, tmp_path):
    cond = repo[0][2]
    trained.save(tmp_path / "dmp")
    loaded = DMP.load(tmp_path / "dmp")
    assert loaded.step == trained.step
    torch.testing.assert_close(loaded.sample(cond, num_prompts=4, steps=10, seed=1),
                               trained.sample(cond, num_prompts=4, steps=10, seed=1), atol=0, rtol=0)


def test_resume_equals_uninterrupted_training(repo, tmp_path):
    conds, prompts, cond_list, _ = repo
    kw = dict(batch_size=16, lr=1e-3, progress=False)
    full = DMP((K, DIM), cond_dim=D)
    full.fit(prompts, cond_list, steps=4, **kw)
    part = DMP((K, DIM), cond_dim=D)
    part.fit(prompts, cond_list, steps=2, checkpoint_dir=tmp_path / "ck", **kw)
    resumed = DMP.load(tmp_path / "ck")
    assert resumed.step == 2
    resumed.fit(prompts, cond_list, steps=4, **kw)
    for (k, a), b in zip(full.ema_unet.state_dict().items(), resumed.ema_unet.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    for a, b in zip(full.unet.parameters(), resumed.unet.parameters()):
        torch.testing.assert_close(a, b)


def test_padded_tensor_conditions_and_concat_conditioning(repo):
    conds, prompts, _, _ = repo
    # conds as one padded tensor + mask, and a DMPVariation-style concat prompt
    n = 64
    cond = torch.zeros(n, 5, D)
    mask = torch.zeros(n, 5, dtype=torch.bool)
    for i in range(n):
        c = conds[i % 4]
        cond[i, : len(c)], mask[i, : len(c)] = c, True
    dmp = DMP((K, DIM), cond_dim=D, concat_shape=(K, DIM))
    dmp.fit(prompts[:n], cond, mask, concat=prompts[:n] + 0.1, steps=2, batch_size=8, progress=False)
    out = dmp.sample(conds[0], num_prompts=3, steps=3, concat=prompts[0])
    assert out.shape == (3, K, DIM) and torch.isfinite(out).all()
    out = dmp.sample(None, num_prompts=3, steps=3, concat=prompts[0])
    assert out.shape == (3, K, DIM)


def test_subspace_latent_keeps_the_geometry_between_prompts():
    """In the principal subspace the latent has one global scale: N prompts in N - 1 dimensions whitened per
    direction would all sit equally far apart (a regular simplex), erasing which prompts are close."""
    from dmpbench.dmp.layout import Standardizer

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(2, 64, generator=g) * 3
    pts = torch.cat([centres[i] + 0.1 * torch.randn(8, 64, generator=g) for i in range(2)])  # two tight clusters
    centred = pts - pts.mean(0)
    coords = centred @ torch.linalg.svd(centred, full_matrices=False)[2][:15].T  # 16 points, 15 directions
    whitened = Standardizer(15).fit(coords)(coords)
    kept = Standardizer(15).fit(coords, per_dimension=False)(coords)
    def ratio(x):  # mean distance between the clusters / mean distance within one
        return float(torch.cdist(x[:8], x[8:]).mean() / (torch.cdist(x[:8], x[:8]).sum() / 56))

    assert ratio(kept) == pytest.approx(ratio(coords), rel=1e-4) and ratio(kept) > 10
    assert ratio(whitened) < 1.2  # every pair at about the same distance
    dmp = DMP((4, 16), cond_dim=DIM, preset="small", subspace=15)
    dmp.fit(pts.view(16, 4, 16), None, steps=1, batch_size=4, progress=False)
    assert torch.allclose(dmp.latent_norm.std, dmp.latent_norm.std[0].expand_as(dmp.latent_norm.std))


def test_lr_schedules_and_unknown_schedule():
    from dmpbench.dmp.model import LR_SCHEDULES
    from dmpbench.errors import DmpbenchError

    assert LR_SCHEDULES["constant"](2e-3, 700, 1000) == 2e-3
    assert LR_SCHEDULES["cosine"](2e-3, 0, 1000) == pytest.approx(2e-3)
    assert LR_SCHEDULES["cosine"](2e-3, 500, 1000) == pytest.approx(1e-3)
    assert LR_SCHEDULES["cosine"](2e-3, 1000, 1000) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(DmpbenchError, match="unknown DMP lr schedule 'linear'"):
        DMP((K, DIM), cond_dim=DIM, preset="small").fit(torch.zeros(4, K, DIM), None, steps=1, lr_schedule="linear", progress=False)
