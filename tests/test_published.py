"""The papers' published numbers: schema, completeness and the consistency of their derived cells."""

import math
import re

import pandas as pd
import pytest

from dmpbench.leaderboard import published as P

SNAKE = re.compile(r"[a-z0-9]+(_[a-z0-9]+)*")


@pytest.fixture(scope="module")
def raw():
    return P.load_published(raw=True)


@pytest.fixture(scope="module")
def checks(raw):
    return P.consistency_checks(raw)


@pytest.fixture(scope="module")
def excluded():
    return P.load_exclusions()


def _key(df, cols):
    return set(map(tuple, df[cols].astype(str).itertuples(index=False)))


# ---------------------------------------------------------------- schema


@pytest.mark.parametrize("paper", list(P.PAPERS))
def test_columns_and_paper_ids(paper):
    df = P._read_raw(paper)
    assert list(df.columns) == P.COLUMNS
    assert set(df.paper) == {paper}
    assert len(df) > 0


def test_allowed_values(raw):
    assert set(raw.task) <= P.TASKS, set(raw.task) - P.TASKS
    assert set(raw.dataset) <= P.DATASETS, set(raw.dataset) - P.DATASETS
    assert set(raw.metric) <= P.METRICS, set(raw.metric) - P.METRICS
    assert set(raw.derived) <= {"true", "false"}
    assert raw.table.str.fullmatch(r"\d+").all()
    assert raw.method.map(lambda m: bool(SNAKE.fullmatch(m))).all(), raw.method[~raw.method.map(
        lambda m: bool(SNAKE.fullmatch(m)))].unique()


def test_values_are_numbers_or_empty(raw):
    filled = raw.value[raw.value != ""]
    assert filled.str.fullmatch(r"-?\d+(\.\d+)?").all(), filled[~filled.str.fullmatch(r"-?\d+(\.\d+)?")]


def test_no_duplicate_keys(raw):
    dup = raw[raw.duplicated(P.KEY, keep=False)]
    assert dup.empty, dup[P.KEY]


def test_every_empty_value_has_a_note(raw):
    empty = raw[raw.value == ""]
    assert (empty.note.str.strip() != "").all(), empty[empty.note.str.strip() == ""][P.KEY]


def test_derived_flags(raw):
    must = (raw.metric == "hm") | (raw.dataset == "average") | raw.method.str.startswith("delta_")
    assert (raw.derived[must] == "true").all()
    assert (raw.derived[raw.derived == "true"].index.isin(raw[must].index)).all()


def test_load_published_types():
    df = P.load_published("diffusion_meta_prompts")
    assert df.value.dtype == float and df.derived.dtype == bool
    assert df.value.isna().sum() == (P._read_raw("diffusion_meta_prompts").value == "").sum()
    assert set(P.load_published().paper) == set(P.PAPERS)
    with pytest.raises(KeyError):
        P.load_published("no_such_paper")


def test_hyperparameters_are_configuration_not_results():
    hp = P.load_hyperparameters()
    assert list(hp.columns) == ["paper", "table", "model", "task", "setting", "value"]
    assert set(hp.table) == {"17"}
    assert "17" not in set(P.load_published("diffusion_meta_prompts").table)
    lr = hp[(hp.model == "dmp_coop") & (hp.setting == "Learning Rate")].value.item()
    assert lr == "2.0e-7"


def test_tables_present(raw):
    tables = raw.groupby("paper").table.agg(lambda t: sorted(set(map(int, t))))
    assert tables["diffusion_meta_prompts"] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16]
    assert tables["prompt_diffusion"] == [1, 2, 3, 4, 5, 6, 7]
    assert tables["dreamdistribution"] == [1, 2]
    assert tables["diffusion_model_patching"] == [1, 2, 3, 4, 5, 6, 7, 8, 9]


# ---------------------------------------------------------------- helpers


def test_harmonic_mean():
    assert P.harmonic_mean(80.0, 80.0) == 80.0
    assert math.isclose(P.harmonic_mean(82.3, 70.4), 75.886, abs_tol=1e-3)
    assert P.harmonic_mean(0.0, 0.0) == 0.0


def test_half_unit():
    assert P.half_unit("76.5") == pytest.approx(0.05)
    assert P.half_unit("-0.126") == pytest.approx(0.0005)
    assert P.half_unit("130") == pytest.approx(0.5)


def test_checks_catch_a_wrong_cell(raw):
    bad = raw.copy()
    i = bad.index[(bad.paper == "diffusion_meta_prompts") & (bad.table == "14") & (bad.method == "coop")
                  & (bad.dataset == "dtd") & (bad.metric == "hm")][0]
    bad.loc[i, "value"] = "64.1"  # printed 63.1 = HM(80.8, 51.8)
    c = P.consistency_checks(bad)
    row = c[(c.table == "14") & (c.method == "coop") & (c.dataset == "dtd") & (c.check == "hm")]
    assert not row.ok.item()


# ---------------------------------------------------------------- consistency


def test_checks_cover_every_kind(checks):
    counts = checks.groupby("check").size()
    assert counts["hm"] > 200 and counts["delta"] > 200 and counts["average"] > 50
    assert counts["same_experiment"] > 200


@pytest.mark.parametrize("kind", ["hm", "delta", "average", "same_experiment"])
def test_derived_cells_consistent(checks, excluded, kind):
    cols = P.KEY + ["check"]
    skip = _key(excluded, cols)
    c = checks[checks.check == kind]
    failing = c[~c.ok & ~c[cols].astype(str).apply(tuple, axis=1).isin(skip)]
    assert failing.empty, failing.to_string()


def test_every_excluded_cell_really_is_inconsistent(checks, excluded):
    cols = P.KEY + ["check"]
    assert not excluded.duplicated(cols).any()
    failing = _key(checks[~checks.ok], cols)
    stale = [k for k in _key(excluded, cols) if k not in failing]
    assert not stale, f"excluded but consistent (or gone): {stale}"
    assert (excluded.reason.str.strip() != "").all()


def test_inconsistencies_md_lists_every_excluded_cell(excluded):
    from importlib import resources
    text = resources.files("dmpbench.published").joinpath("inconsistencies.md").read_text(encoding="utf-8")
    for _, r in excluded.iterrows():
        assert f"Table {r.table}, `{r.method} / {r.dataset} / {r.metric}`" in text, r.to_dict()


# ---------------------------------------------------------------- spot checks (verified by eye)

SPOT = [
    # paper, table, method, dataset, metric, printed value ("" = left empty)
    ("diffusion_meta_prompts", "3", "dmp_coop", "average", "acc", "60.60"),
    ("diffusion_meta_prompts", "4", "delta_dmp_coop_vs_coop", "eurosat", "new", "7.8"),
    ("diffusion_meta_prompts", "4", "dmp_coop", "eurosat", "hm", "83.1"),
    ("diffusion_meta_prompts", "8", "stylus", "average", "all", "67.5"),
    ("diffusion_meta_prompts", "8", "dmp_tac", "oxford_flowers", "hm", "85.7"),
    ("diffusion_meta_prompts", "8", "cocoop", "sun397", "base", "79.7"),
    ("diffusion_meta_prompts", "8", "dmp_cocoop", "average", "base", ""),
    ("diffusion_meta_prompts", "11", "delta_dmp_coop_vs_coop", "fgvc_aircraft", "acc", "5.3"),
    ("diffusion_meta_prompts", "12", "dmp_coop", "sun397", "mta", "30.4"),
    ("diffusion_meta_prompts", "14", "dmp_coop_noise10", "eurosat", "all", "59.3"),
    ("diffusion_meta_prompts", "16", "dmp_identity", "celeba", "clip_i", "0.659"),
    ("prompt_diffusion", "1", "prompt_diffusion_coprompt", "food101", "hm", "91.25"),
    ("prompt_diffusion", "2", "prompt_diffusion_cocoop", "fgvc_aircraft", "acc", "22.23"),
    ("prompt_diffusion", "3", "prompt_diffusion_coprompt", "imagenet_r", "acc", "80.76"),
    ("dreamdistribution", "1", "custom_diffusion", "reference_sets_12", "fid_std", "72.76"),
    ("dreamdistribution", "2", "dreamdistribution", "imagenet_v2", "top1", "61.7"),
    ("diffusion_model_patching", "3", "mop_dit_l2_50k", "ffhq", "fid", "5.61"),
    ("diffusion_model_patching", "8", "dit_xl2_finetune", "imagenet", "precision", "0.72"),
]


@pytest.mark.parametrize("paper,table,method,dataset,metric,value", SPOT)
def test_spot_cells(raw, paper, table, method, dataset, metric, value):
    row = raw[(raw.paper == paper) & (raw.table == table) & (raw.method == method) & (raw.dataset == dataset)
              & (raw.metric == metric)]
    assert len(row) == 1
    assert row.value.item() == value
    if value:
        num = P.load_published(paper)
        got = num[(num.table == table) & (num.method == method) & (num.dataset == dataset)
                  & (num.metric == metric)].value.item()
        assert got == pytest.approx(float(value))
