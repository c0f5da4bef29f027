"""What issue 13's set (the prompt learners beyond CoOp and their two generated variants, x the five
classification tasks x seeds 1 2 3) has cost so far, cell by cell, read from the records' own timings:

    python benchmarks/learner_set_cost.py [--results leaderboards/mini/records] [--seeds 1 2 3]

A cell is one (task, method). It is complete when every (unit, seed) of the task has a record (11 datasets x 3
seeds for base2new, one unit x 3 seeds for the others). Its cost is the sum of its records'
``timings.wall_s`` (one-thread wall seconds of fit, encoding, sampling, probes). The first seed's records carry the
fits and the convergence check, and the later seeds read cached artefacts, so a complete cell's sum is what the
cell costs from an empty cache, given the features. Missing cells are listed, never estimated: a figure for
them is an extrapolation and is labelled as one where it is quoted (README "The prompt learners beyond CoOp").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_mini_benchmark import LEARNERS, TASKS  # noqa: E402

from dmpbench.data.mini import MINI_SUITE  # noqa: E402
from dmpbench.registry import METHODS as REGISTRY, TASKS as TASK_CLASSES  # noqa: E402

#: the learners and the variants the registry has over them (VPT has no ``dmp_vpt``: it learns no text prompt)
METHODS = [m for m in LEARNERS + [f"dmp_{x}" for x in LEARNERS] + [f"prompt_diffusion_{x}" for x in LEARNERS] if m in REGISTRY]


def mini_units(task: str) -> list[str]:
    """The task's units (record folders) in the mini world, as a run without ``--dataset`` has them; ``units`` reads
    only the world's suite, so no backbone is loaded."""
    cls = TASK_CLASSES.get(task)
    return cls(dict(cls.default_config), SimpleNamespace(suite=MINI_SUITE)).units(None)


def cell_costs(results: Path, seeds: list[int]) -> list[dict]:
    """One row per (task, method) of the set: its records (of ``seeds``) and their summed ``timings.wall_s``; complete
    when every (unit, seed) of the task has a record."""
    rows = []
    for task in TASKS:
        expected = {(unit, seed) for unit in mini_units(task) for seed in seeds}
        for method in METHODS:
            found, seconds = set(), 0.0
            for path in sorted((results / task / method).glob("*/*/seed*.json")):
                rec = json.loads(path.read_text())
                if (path.parent.name, rec.get("seed")) in expected:
                    found.add((path.parent.name, rec["seed"]))
                    seconds += sum(rec.get("timings", {}).get("wall_s", {}).values())
            rows.append({"task": task, "method": method, "records": len(found), "of": len(expected),
                         "seconds": seconds, "complete": found == expected})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("leaderboards/mini/records"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    if not args.results.is_dir():
        print(f"learner_set_cost: no results folder {args.results}", file=sys.stderr)
        return 2
    rows = cell_costs(args.results, args.seeds)
    done = [r for r in rows if r["complete"]]
    print(tabulate([[r["task"], r["method"], f"{r['seconds']:.0f}"] for r in done], headers=["task", "method", "s"],
                   tablefmt="github"))
    partial = [r for r in rows if r["records"] and not r["complete"]]
    print(f"\ncomplete: {len(done)} of {len(rows)} cells, {sum(r['seconds'] for r in done):,.0f} s summed over their "
          f"{sum(r['records'] for r in done)} records")
    for r in partial:
        print(f"partial : {r['task']} x {r['method']}: {r['records']} of {r['of']} records ({r['seconds']:.0f} s)")
    missing = [f"{r['task']} x {r['method']}" for r in rows if not r["records"]]
    print(f"missing : {len(missing)} cells: " + ", ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
