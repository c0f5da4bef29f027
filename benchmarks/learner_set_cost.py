"""What issue 13's set (the prompt learners beyond CoOp and their two generated variants, x the five
classification tasks x seeds 1 2 3) has cost so far, cell by cell, read from the records' own timings:

    python benchmarks/learner_set_cost.py [--results leaderboards/mini/records] [--seeds 1 2 3]

A cell is one (task, method). It is complete when every seed has a record. Its cost is the sum of its records'
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

from tabulate import tabulate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_mini_benchmark import LEARNERS, TASKS  # noqa: E402

#: VPT learns no text prompt, so it has no DMP variant (DMP A.9 generates the shallow text prompt only)
DMP_LEARNERS = [m for m in LEARNERS if m != "vpt"]
METHODS = LEARNERS + [f"dmp_{m}" for m in DMP_LEARNERS] + [f"prompt_diffusion_{m}" for m in LEARNERS]


def cell_costs(results: Path, seeds: list[int]) -> list[dict]:
    """One row per (task, method) of the set: seeds with a record, the records and their summed ``timings.wall_s``, complete or not."""
    rows = []
    for task in TASKS:
        for method in METHODS:
            found: dict[int, float] = {}
            n = 0
            for path in sorted((results / task / method).glob("*/*/seed*.json")):
                rec = json.loads(path.read_text())
                if rec.get("seed") in seeds:
                    n += 1
                    found.setdefault(rec["seed"], 0.0)
                    found[rec["seed"]] += sum(rec.get("timings", {}).get("wall_s", {}).values())
            rows.append({"task": task, "method": method, "seeds": sorted(found), "seconds": sum(found.values()),
                         "records": n,
                         "complete": set(found) == set(seeds)})
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
    partial = [r for r in rows if r["seeds"] and not r["complete"]]
    print(f"\ncomplete: {len(done)} of {len(rows)} cells, {sum(r['seconds'] for r in done):,.0f} s summed over their "
          f"{sum(r['records'] for r in done)} records")
    for r in partial:
        print(f"partial : {r['task']} x {r['method']}: seeds {r['seeds']} ({r['seconds']:.0f} s)")
    missing = [f"{r['task']} x {r['method']}" for r in rows if not r["seeds"]]
    print(f"missing : {len(missing)} cells: " + ", ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
