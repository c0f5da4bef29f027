"""benchmarks/learner_set_cost.py: a cell is complete only with every seed, and its cost is its records' timings."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from learner_set_cost import METHODS, cell_costs  # noqa: E402


def _record(root: Path, task: str, method: str, dataset: str, seed: int, **wall_s: float) -> None:
    folder = root / task / method / "mini" / dataset
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed{seed}-abc.json").write_text(json.dumps({"seed": seed, "timings": {"wall_s": wall_s}}))


def test_the_set_has_85_cells_and_vpt_no_dmp_variant():
    assert len(METHODS) == 17 and "dmp_vpt" not in METHODS and "prompt_diffusion_vpt" in METHODS


def test_costs_sum_the_timings_and_a_cell_needs_every_seed(tmp_path):
    for seed in (1, 2, 3):
        _record(tmp_path, "base2new", "tac", "mini_flowers", seed, fit=10.0 * seed, encode=1.0)
        _record(tmp_path, "base2new", "tac", "mini_mnist", seed, fit=2.0)
    _record(tmp_path, "treecut", "cocoop", "mini_objects", 1, fit=5.0)
    _record(tmp_path, "treecut", "cocoop", "mini_objects", 4, fit=99.0)  # a seed outside the set is not counted
    rows = {(r["task"], r["method"]): r for r in cell_costs(tmp_path, [1, 2, 3])}
    assert len(rows) == 85
    tac = rows["base2new", "tac"]
    assert tac["complete"] and tac["records"] == 6 and tac["seconds"] == 60 + 3 + 6
    cocoop = rows["treecut", "cocoop"]
    assert not cocoop["complete"] and cocoop["seeds"] == [1] and cocoop["seconds"] == 5.0
    assert rows["base2new", "maple"]["seeds"] == [] and not rows["base2new", "maple"]["complete"]
