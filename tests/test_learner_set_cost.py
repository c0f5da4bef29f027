"""benchmarks/learner_set_cost.py: a cell is complete only with every (unit, seed) of its task, and its cost is its
records' timings."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from learner_set_cost import METHODS, cell_costs, mini_units  # noqa: E402


def _record(root: Path, task: str, method: str, unit: str, seed: int, **wall_s: float) -> None:
    folder = root / task / method / "mini" / unit
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed{seed}-abc.json").write_text(json.dumps({"seed": seed, "timings": {"wall_s": wall_s}}))


def test_the_set_is_the_registrys_learners_and_variants():
    assert len(METHODS) == 17 and "dmp_vpt" not in METHODS and {"dmp_tac", "prompt_diffusion_vpt"} <= set(METHODS)


def test_costs_sum_the_timings_and_a_cell_needs_every_unit_and_seed(tmp_path):
    units = mini_units("base2new")
    assert len(units) == 11 and mini_units("treecut") == ["mini_objects"]
    for seed in (1, 2, 3):
        for unit in units:
            _record(tmp_path, "base2new", "tac", unit, seed, fit=10.0 * seed, encode=1.0)
        _record(tmp_path, "base2new", "maple", units[0], seed, fit=2.0)  # every seed, one dataset of eleven
    _record(tmp_path, "treecut", "cocoop", "mini_objects", 1, fit=5.0)
    _record(tmp_path, "treecut", "cocoop", "mini_objects", 4, fit=99.0)  # a seed outside the set is not counted
    _record(tmp_path, "treecut", "cocoop", "mini_flowers", 2, fit=99.0)  # nor a unit outside the task's
    rows = {(r["task"], r["method"]): r for r in cell_costs(tmp_path, [1, 2, 3])}
    assert len(rows) == 85
    tac = rows["base2new", "tac"]
    assert tac["complete"] and tac["records"] == 33 and tac["seconds"] == 11 * (10 + 20 + 30 + 3)
    maple = rows["base2new", "maple"]
    assert not maple["complete"] and maple["records"] == 3 and maple["of"] == 33
    cocoop = rows["treecut", "cocoop"]
    assert not cocoop["complete"] and cocoop["records"] == 1 and cocoop["seconds"] == 5.0
    assert rows["composition", "vpt"]["records"] == 0 and not rows["composition", "vpt"]["complete"]
