"""Does a generated-prompt variant over a learner that prompts the image tower lose to its learner because of the
DMP, or because of its repository? The check behind the ``dmp_<learner>`` rows' Δ (README "The prompt learners
beyond CoOp"): the mini world's repository recipe for those learners is 100 steps per fit (``repository_recipe`` in
``dmpbench/baselines/image_prompting.py``), below the learner's converged recipe (MaPLe and CoPrompt: 800 steps).

    python benchmarks/repository_recipe.py --variants dmp_maple --tasks cross_dataset --steps 100 800 --cache-dir DIR

For each variant, task and repository length (``steps=N``: ``method.<learner>_steps=N``, every other setting the
benchmark's), seeds 1 2 3 of the task. The records of the benchmark's own recipe go where the benchmark's go
(``--results``, default ``leaderboards/mini/records``: they are the leaderboard's cell, and a record already there is
read, not rerun); the others, and every run with ``--set``, under ``leaderboards/mini/ablations/repository_recipe/``.
The table (``leaderboards/ablations/repository_recipe.md``) gives the repository's accuracy and the DMP's samples' on
the repository's training label sets (``repository_fidelity``), then the variant's and the learner's task metrics (the
learner's from its records under ``--results``) as mean ± sample std over seeds, with the Δ the leaderboard prints.

Cost: cross_dataset's repository is one training set (mini_objects, 47 classes); composition's and base2new's are the
11 base splits'. At 800 steps a MaPLe fit on mini_objects took about 13 minutes on a shared 2-core CPU, so one
800-step repository (16 fits) is about 3 hours there.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from tabulate import tabulate

from dmpbench.runner.run import RunRequest, execute

ROOT = Path("leaderboards/mini/ablations/repository_recipe")
#: the metric columns of each task: (name, function of a record's metrics)
METRICS = {
    "composition": [(k, lambda m, k=k: next(iter(m.values()))[k]) for k in ("base", "new", "hm")],
    "cross_dataset": [("source", lambda m: m["mini_objects"]["acc"]),
                      ("targets", lambda m: statistics.mean(v["acc"] for d, v in m.items() if d != "mini_objects"))],
    "domain_shift": [("variants", lambda m: statistics.mean(v["acc"] for d, v in m.items() if d != "mini_objects"))],
    "base2new": [(k, lambda m, k=k: statistics.mean(v[k] for v in m.values())) for k in ("base", "new")],
}


def default_steps(variant: str) -> int:
    from dmpbench.registry import METHODS

    cls = METHODS.get(variant)
    return int(cls.world_defaults["mini"][f"{cls.base_learner}_steps"])


def destination(variant: str, steps: int, sets: list[str], results: Path, root: Path) -> tuple[bool, Path]:
    """(whether the run is the benchmark's own recipe, the folder its records go to); a run with more settings
    (``--set``) is never the leaderboard's cell, whatever its steps."""
    own = steps == default_steps(variant) and not sets
    return own, results if own else root / (f"steps{steps}" + ("-set" if sets else ""))


def records(root: Path, task: str, method: str) -> dict[int, dict]:
    """{seed: record} of one (task, method) under ``root`` (a seed's records merged over its datasets), read and
    validated as the leaderboards read them; a malformed record or a folder mixing configurations is an error, never
    averaged."""
    from dmpbench.errors import DmpbenchError
    from dmpbench.leaderboard.variants import comparable_config
    from dmpbench.runner.records import load_records

    found, problems = load_records(root / task / method)
    if problems:
        raise DmpbenchError(str(problems[0]))
    if len({json.dumps(comparable_config(r), sort_keys=True, default=str) for r in found}) > 1:
        raise DmpbenchError(f"{root / task / method} mixes records of different configurations")
    out: dict[int, dict] = {}
    for rec in found:
        merged = out.setdefault(rec["seed"], {"metrics": {}, "fidelity": {}})
        merged["metrics"].update(rec["metrics"])
        merged["fidelity"].update(rec["audit"].get("repository_fidelity", {}))
    return out


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}" if values else ""
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def row(task: str, variant: str, steps: int, runs: dict[int, dict], learner: dict[int, dict]) -> list[str]:
    fid = [f for r in runs.values() for f in r["fidelity"].values()]
    stored = statistics.mean(f["repository_acc"] for f in fid) if fid else float("nan")
    sampled = statistics.mean(f.get("dmp_acc", f.get("generated_acc", float("nan"))) for f in fid) if fid else float("nan")
    cells = [variant, str(steps), " ".join(map(str, sorted(runs))), f"{stored:.2f}", f"{sampled:.2f}"]
    for name, of in METRICS[task]:
        mine = [of(r["metrics"]) for r in runs.values()]
        theirs = [of(r["metrics"]) for r in learner.values()]
        if not theirs:
            cells.append(f"{spread(mine)} / no learner records")
            continue
        cells.append(f"{spread(mine)} / {spread(theirs)} ({statistics.mean(mine) - statistics.mean(theirs):+.2f})")
    return cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["dmp_maple"])
    parser.add_argument("--tasks", nargs="+", default=["cross_dataset"], choices=sorted(METRICS))
    parser.add_argument("--steps", nargs="+", type=int, default=[100, 800])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--results", type=Path, default=Path("leaderboards/mini/records"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path, default=Path("leaderboards/ablations/repository_recipe.md"))
    parser.add_argument("--set", nargs="*", default=[], metavar="SECTION.KEY=VALUE",
                        help="more settings for every run (a smoke test's: method.repo_inits=2 method.dmp_steps=5)")
    parser.add_argument("--table-only", action="store_true", help="write the table from the records there, run nothing")
    args = parser.parse_args()
    if any(s < 1 for s in args.steps):
        raise SystemExit("repository_recipe: --steps are positive step counts")
    from dmpbench.errors import DmpbenchError
    from dmpbench.registry import METHODS

    for variant in args.variants:
        try:
            cls = METHODS.get(variant)
        except DmpbenchError as exc:
            raise SystemExit(f"repository_recipe: {exc}") from None
        if not getattr(cls, "encodes_images", False):
            raise SystemExit(f"repository_recipe: {variant} is not a variant over a learner that prompts the image tower")
    rows: dict[str, list[list[str]]] = {}
    for variant in args.variants:
        learner = METHODS.get(variant).base_learner
        for task in args.tasks:
            for steps in args.steps:
                own, where = destination(variant, steps, args.set, args.results, args.root)
                if not args.table_only:
                    sets = [*args.set, *([] if own else [f"method.{learner}_steps={steps}"])]
                    try:
                        execute(RunRequest(task=task, method=variant, seeds=args.seeds, results=where, cache_dir=args.cache_dir,
                                           progress=False, sets=sets), say=lambda line: print(line, file=sys.stderr))
                    except DmpbenchError as exc:
                        raise SystemExit(f"repository_recipe: {exc}") from None
                try:
                    runs, theirs = records(where, task, variant), records(args.results, task, learner)
                except DmpbenchError as exc:
                    raise SystemExit(f"repository_recipe: {exc}") from None
                if runs:
                    rows.setdefault(task, []).append(row(task, variant, steps, runs, theirs))
    table = "\n\n".join(f"## {task}\n\n" + tabulate(
        task_rows, headers=["variant", "repository steps", "seeds", "repository acc", "sampled acc",
                            *[f"{name}: variant / learner (Δ)" for name, _ in METRICS[task]]], tablefmt="github", disable_numparse=True)
        for task, task_rows in rows.items())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# Generated prompts over image-prompting learners: the repository's training length (mini world)\n\n"
        "Written by `benchmarks/repository_recipe.py`. `repository acc` and `sampled acc`: the mean accuracy of the "
        "repository's prompts and of the DMP's samples on the repository's training label sets (`repository_fidelity`, "
        "every seed and training dataset). The metric columns: the variant's and the learner's (its committed records) "
        "mean ± sample std over the seeds, and the variant minus the learner (the leaderboard's Δ).\n\n" + table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
