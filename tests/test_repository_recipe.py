"""benchmarks/repository_recipe.py: the table's repository fidelity, the variant's and learner's spreads and the Δ
come from the records, and a variant over a learner that does not prompt the image tower is refused before any run."""

import json
import sys
from pathlib import Path

import pytest

from dmpbench.errors import DmpbenchError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import repository_recipe  # noqa: E402
from repository_recipe import default_steps, destination, records, row  # noqa: E402

UNIT = "mini_shapes+mini_patterns"


def _record(root: Path, method: str, seed: int, base: float, new: float, fidelity: dict | None = None, **settings) -> None:
    folder = root / "composition" / method / "mini" / UNIT
    folder.mkdir(parents=True, exist_ok=True)
    rec = {"schema": 2, "task": "composition", "method": method, "backbone": "mini-clip", "world": "mini", "dataset": UNIT,
           "seed": seed, "config": {"task": {}, "method": settings},
           "metrics": {UNIT: {"base": base, "new": new, "hm": 2 * base * new / (base + new)}},
           "audit": {"repository_fidelity": fidelity} if fidelity else {}}
    (folder / f"seed{seed}-{len(settings)}.json").write_text(json.dumps(rec))


def test_the_benchmark_recipe_is_the_variants_mini_default():
    assert default_steps("dmp_maple") == 100 and default_steps("dmp_coprompt") == 100


def test_row_spreads_fidelity_and_delta(tmp_path):
    for seed, (base, new) in enumerate([(50.0, 40.0), (52.0, 44.0)], start=1):
        _record(tmp_path / "v", "dmp_maple", seed, base, new, {UNIT: {"repository_acc": 50.0 + seed, "dmp_acc": 49.0 + seed}})
        _record(tmp_path / "l", "maple", seed, 56.0, 38.0 + seed)
    cells = row("composition", "dmp_maple", 800, records(tmp_path / "v", "composition", "dmp_maple"),
                records(tmp_path / "l", "composition", "maple"))
    assert cells[:5] == ["dmp_maple", "800", "1 2", "51.50", "50.50"]
    assert cells[5] == "51.00 ± 1.41 / 56.00 ± 0.00 (-5.00)"
    assert cells[6] == "42.00 ± 2.83 / 39.50 ± 0.71 (+2.50)"


def test_a_folder_mixing_configurations_or_a_malformed_record_is_refused(tmp_path):
    _record(tmp_path, "dmp_maple", 1, 50.0, 40.0)
    _record(tmp_path, "dmp_maple", 2, 50.0, 40.0, maple_steps=800)
    with pytest.raises(DmpbenchError, match="mixes records of different configurations"):
        records(tmp_path, "composition", "dmp_maple")
    (tmp_path / "composition" / "maple" / "mini").mkdir(parents=True)
    (tmp_path / "composition" / "maple" / "mini" / "seed1-x.json").write_text("{")
    with pytest.raises(DmpbenchError, match="invalid JSON"):
        records(tmp_path, "composition", "maple")


def test_a_variant_without_image_prompts_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["repository_recipe.py", "--variants", "dmp_coop", "--root", str(tmp_path)])
    with pytest.raises(SystemExit, match="dmp_coop is not a variant over a learner that prompts the image tower"):
        repository_recipe.main()
    assert not any(tmp_path.iterdir())


def test_only_the_benchmarks_own_recipe_writes_to_the_leaderboards_records(tmp_path):
    results, root = tmp_path / "records", tmp_path / "ablation"
    assert destination("dmp_maple", 100, [], results, root) == (True, results)
    assert destination("dmp_maple", 800, [], results, root) == (False, root / "steps800")
    assert destination("dmp_maple", 100, ["method.repo_inits=2"], results, root) == (False, root / "steps100-set")


def test_an_unknown_variant_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["repository_recipe.py", "--variants", "dmp_nothing", "--root", str(tmp_path)])
    with pytest.raises(SystemExit) as exc:
        repository_recipe.main()
    assert str(exc.value).startswith("repository_recipe: ") and "dmp_nothing" in str(exc.value) and "\n" not in str(exc.value)
