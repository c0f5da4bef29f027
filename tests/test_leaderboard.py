"""Leaderboards and paper-check built from synthetic records (no model involved)."""

import pandas as pd
import pytest

from dmpbench.cli import main
from dmpbench.leaderboard import build as build_mod
from dmpbench.leaderboard import papercheck
from dmpbench.runner.records import write_atomic

PUBLISHED = pd.DataFrame(
    [
        ["diffusion_meta_prompts", "8", "base2new", "coop", "caltech101", "base", 98.0, False, ""],
        ["diffusion_meta_prompts", "8", "base2new", "coop", "caltech101", "new", 93.0, False, ""],
        ["diffusion_meta_prompts", "8", "base2new", "coop", "caltech101", "hm", 95.4, True, ""],
    ],
    columns=["paper", "table", "task", "method", "dataset", "metric", "value", "derived", "note"],
)


@pytest.fixture(autouse=True)
def fixed_published(monkeypatch):
    monkeypatch.setattr("dmpbench.leaderboard.published.load_published", lambda paper=None: PUBLISHED.copy())


def _write(results, method, dataset, seed, base, new, task="base2new"):
    rec = {"schema": 1, "task": task, "method": method, "backbone": "mini", "world": "mini", "dataset": dataset, "seed": seed, "config": {"task": {}, "method": {}},
           "metrics": {dataset: {"base": base, "new": new, "all": (base + new) / 2, "hm": 2 * base * new / (base + new)}}}
    write_atomic(results / task / method / f"{dataset}-{seed}.json", rec)


@pytest.fixture
def results(tmp_path):
    r = tmp_path / "results"
    for seed, (b, n) in zip((1, 2, 3), [(80, 60), (82, 58), (84, 62)]):
        _write(r, "coop", "caltech101", seed, b, n)
        _write(r, "coop", "dtd", seed, 70, 50)
        _write(r, "dmp_coop", "caltech101", seed, b - 2, n + 4)
        _write(r, "dmp_coop", "dtd", seed, 69, 55)
    return r


def test_leaderboard_tables(results, tmp_path):
    out = tmp_path / "boards"
    written, problems = build_mod.build_leaderboards(results, out, tasks=["base2new"])
    assert problems == []
    md = (out / "base2new.md").read_text()
    csv = pd.read_csv(out / "base2new.csv")
    # mean ± std over seeds, HM recomputed from the mean Base and New
    row = csv[(csv.source == "reproduced") & (csv.method == "coop") & (csv.dataset == "caltech101")].set_index("metric")
    assert row.loc["base", "mean"] == pytest.approx(82.0)
    assert row.loc["hm", "mean"] == pytest.approx(2 * 82 * 60 / 142)
    assert row.loc["base", "std"] == pytest.approx(1.633, abs=1e-3)
    # averages over datasets, HM of the averages
    avg = csv[(csv.source == "reproduced") & (csv.method == "coop") & (csv.dataset == "average")].set_index("metric")
    assert avg.loc["base", "mean"] == pytest.approx(76.0)
    assert avg.loc["hm", "mean"] == pytest.approx(2 * 76 * 55 / 131)
    # Δ row against the base learner, published rows labelled
    lines = md.splitlines()
    header = next(l for l in lines if l.startswith("| method"))
    delta = next(l for l in lines if l.startswith("| Δ dmp_coop − coop"))
    cells = dict(zip([c.strip() for c in header.split("|")], [c.strip() for c in delta.split("|")]))
    assert cells["caltech101 base"] == "-2.00" and cells["caltech101 new"] == "+4.00"
    assert cells["dtd base"] == "-1.00" and cells["dtd new"] == "+5.00"
    assert "coop (published)" in md
    assert "## Published: " in md
    assert set(csv.source) == {"reproduced", "published"}


def test_malformed_record_is_skipped_and_named(results, tmp_path, capsys):
    (results / "base2new" / "broken.json").write_text("{")
    assert main(["leaderboard", "--results", str(results), "--out", str(tmp_path / "b"), "--task", "base2new"]) == 0
    err = capsys.readouterr().err
    assert "broken.json" in err and "malformed" in err


def test_paper_check_against_published(results, capsys):
    # coop caltech101: base 82 vs 98 published -> beyond any small tolerance
    assert main(["paper-check", "--results", str(results), "--tolerance", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "caltech101" in out
    assert main(["paper-check", "--results", str(results), "--tolerance", "40"]) == 0


def test_paper_check_against_pins(results, capsys):
    assert main(["paper-check", "--results", str(results), "--write-pins"]) == 0
    assert main(["paper-check", "--results", str(results), "--against", "pinned", "--tolerance", "0.01"]) == 0
    _write(results, "coop", "dtd", 1, 10, 50)  # a regression in one seed moves the mean by 20
    assert main(["paper-check", "--results", str(results), "--against", "pinned", "--tolerance", "0.01"]) == 1


def test_paper_check_with_nothing_to_compare(tmp_path, capsys):
    r = tmp_path / "r"
    _write(r, "coop", "mini_shapes", 1, 50, 40)
    assert main(["paper-check", "--results", str(r)]) == 2
    assert "has a published counterpart" in capsys.readouterr().err
    assert main(["paper-check", "--results", str(tmp_path / "empty")]) == 2
