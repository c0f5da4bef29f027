"""The full mini-world benchmark: every classification task x {zeroshot, coop, dmp_coop} x seeds 1 2 3,
timed per (task, method), then the leaderboards and the pinned values.

    python benchmarks/run_mini_benchmark.py --synthesis --fresh --workers 2 [--cache-dir DIR]

``--synthesis`` runs the image-synthesis set instead (slider, identity, variation, storage_latency x every method
that serves them x seeds 1 2 3, ``SYNTHESIS_JOBS``, in that order): the 30-minute budget of the image-synthesis issue.

    python benchmarks/run_mini_benchmark.py [--results leaderboards/mini/records] [--out leaderboards]
                                            [--cache-dir DIR] [--fresh] [--compare-repo-init DIR] [--workers 2]

``--workers 2`` (the committed run) uses both cores of the 2-core machine: two worker processes with one torch
thread each take the (method, task) jobs longest first (dmp_coop base2new, then coop, then the rest), sharing
the cache (the artefact locks make every shared artefact be built once, the other worker waits for it).

CoOp runs with ``convergence_check`` on for the first seed; the end prints the records' own checks (CoOp at 1x vs 2x the
training, the DMP's repository fidelity).

``--fresh`` starts from an empty cache (feature extraction, prompt repositories and DMP training
included in the timings), which is how the figures in the README were measured.
"""

from __future__ import annotations

import argparse
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from dmpbench.leaderboard.build import build_leaderboards
from dmpbench.leaderboard.papercheck import write_pins
from dmpbench.runner.run import RunRequest, execute

TASKS = ["base2new", "cross_dataset", "domain_shift", "composition", "treecut"]
METHODS = ["zeroshot", "coop", "dmp_coop"]
#: the generators DMP is compared with (DMP Table 8); ``--methods stylus_top1 vae transformer gpt2`` adds their
#: records to a committed run (they reuse its cache's repositories when ``--cache-dir`` is the same)
GENERATORS = ["stylus_top1", "vae", "transformer", "gpt2"]
#: the prompt learners beyond CoOp (``--methods cocoop vpt maple promptsrc coprompt tac``)
LEARNERS = ["cocoop", "vpt", "maple", "promptsrc", "coprompt", "tac"]
#: other methods the script can run (a task a method cannot serve is skipped)
OTHERS = ["prompt_diffusion", "prompt_diffusion_cocoop", "dmp_cocoop", "dmp_maple", "dmp_promptsrc", "dmp_coprompt", "dmp_tac",
          "prompt_diffusion_vpt", "prompt_diffusion_maple", "prompt_diffusion_promptsrc", "prompt_diffusion_coprompt", "prompt_diffusion_tac"]
#: the image-synthesis set as (task, method) jobs, in the order two workers take them: the long fits first (the
#: textual inversions of the identity/variation subjects, DMPVariation's repository and DMP, the slider pool and
#: prompt sliders), so that the jobs needing their artefacts (DMPs over them, Stylus) find them built
SYNTHESIS_JOBS = [
    ("identity", "textual_inversion"), ("variation", "dmp_variation"), ("slider", "prompt_slider"), ("slider", "concept_slider"),
    ("slider", "dmp_multi"), ("identity", "dmp_identity"), ("slider", "dmp_slider"), ("identity", "dmp_multi"),
    ("slider", "text_prompt"), ("slider", "stylus_top1"), ("identity", "stylus_top1"), ("identity", "text_prompt"),
    ("variation", "textual_inversion"), ("variation", "text_prompt"), ("storage_latency", "dmp_multi"),
    ("storage_latency", "stylus_top1"),
]
#: settings of the committed benchmark beyond the defaults: every learner with a convergence check (CoOp and the
#: learners above) reports it (1x vs 2x the training) on the first seed's records (the check costs 2x a fit; one
#: seed per dataset bounds it)
CHECK = ["method.convergence_check=true"]


def checks_convergence(method: str) -> bool:
    from dmpbench.registry import METHODS

    return "convergence_check" in getattr(METHODS.get(method), "audit_settings", ())


def fidelity_of(results: Path, method: str = "dmp_coop") -> dict[str, tuple[float, float]]:
    """{label set: (repository_acc, generated acc)} from a generator's base2new records (the same in each)."""
    import json

    fid = {}
    for path in sorted(results.glob(f"base2new/{method}/*/*/*.json")):
        rec = json.loads(path.read_text())
        for ds, f in rec["audit"].get("repository_fidelity", {}).items():
            fid[ds] = (f["repository_acc"], f.get("dmp_acc", f.get("generated_acc")))
    return fid


def audit_summary(results: Path, hand: Path | None = None) -> str:
    """The records' own checks: CoOp's convergence (accuracy and loss at 1x vs 2x the training) and the
    DMP's repository fidelity (base2new records, means over the training label sets)."""
    import json

    rows = []
    for learner in ["coop", *LEARNERS]:
        for path in sorted(results.glob(f"*/{learner}/*/*/*.json")):
            rec = json.loads(path.read_text())
            for ds, c in rec["audit"].get("convergence", {}).items():
                rows.append([learner, rec["task"], ds, rec["seed"], c["optimizer_steps_1x"], f"{c['train_loss_1x']:.3f} / {c['train_loss_2x']:.3f}",
                             f"{c['acc_1x']:.2f} / {c['acc_2x']:.2f}", f"{c['acc_2x'] - c['acc_1x']:+.2f}"])
    out = tabulate(rows, headers=["learner", "task", "dataset", "seed", "steps", "loss 1x / 2x", "acc 1x / 2x", "gain"], tablefmt="github")
    for method in ["dmp_coop", *GENERATORS]:
        gen = fidelity_of(results, method)
        if gen:
            rows = [[ds, f"{r:.2f}", f"{d:.2f}", f"{d - r:+.2f}"] for ds, (r, d) in gen.items()]
            mean_r, mean_d = (sum(v[i] for v in gen.values()) / len(gen) for i in (0, 1))
            rows.append(["mean", f"{mean_r:.2f}", f"{mean_d:.2f}", f"{mean_d - mean_r:+.2f}"])
            out += f"\n\nrepository fidelity (base2new {method})\n" + tabulate(
                rows, headers=["label set", "repository_acc", "generated acc", "gap"], tablefmt="github")
    fid = fidelity_of(results)
    if hand is not None:
        both = fidelity_of(hand)
        common = [ds for ds in fid if ds in both]
        rows = [[ds, f"{fid[ds][0]:.2f}", f"{fid[ds][1]:.2f}", f"{both[ds][0]:.2f}", f"{both[ds][1]:.2f}"] for ds in common]
        rows.append(["mean"] + [f"{sum(t[ds][i] for ds in common) / max(1, len(common)):.2f}" for t in (fid, both) for i in (0, 1)])
        out += "\n\nrepository initialisation (base2new, seed 1)\n" + tabulate(
            rows, headers=["label set", "random: repository_acc", "random: dmp_acc", "hand: repository_acc", "hand: dmp_acc"], tablefmt="github")
    return out


def _one_thread() -> None:
    """A worker of ``--workers 2``: one torch thread (two busy threads on 2 cores run slower than one each)."""
    import torch

    torch.set_num_threads(1)


def _job(job) -> tuple[str, str, list, float]:
    """One (method, task) over the seeds; a learner's first seed carries its convergence check."""
    method, task, seeds, results, cache = job
    start = time.perf_counter()
    groups = [(seeds[:1], CHECK), (seeds[1:], [])] if checks_convergence(method) else [(seeds, [])]
    records = []
    for part, sets in groups:
        if part:
            records += execute(RunRequest(task=task, method=method, seeds=part, results=results, cache_dir=cache,
                                          progress=False, sets=sets), say=lambda line: None)
    wall = time.perf_counter() - start
    print(f"{task:<14} {method:<9} {wall:7.1f} s  (finished at {time.perf_counter() - T0:7.1f} s)", file=sys.stderr, flush=True)
    return method, task, records, wall


T0 = time.perf_counter()


def _serves(method: str, task: str) -> bool:
    """Whether the method can run the task at all (checked as ``dmpbench run`` checks it, before any work)."""
    from dmpbench.errors import DmpbenchError
    from dmpbench.runner.run import resolve

    try:
        resolve(RunRequest(task=task, method=method))
    except DmpbenchError as exc:
        print(f"skipped: {task} x {method}: {exc}", file=sys.stderr)
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("leaderboards/mini/records"))
    parser.add_argument("--out", type=Path, default=Path("leaderboards"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--fresh", action="store_true", help="empty cache and results first")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS + GENERATORS + LEARNERS + OTHERS, help="methods to run (in this order)")
    parser.add_argument("--tasks", nargs="+", default=TASKS, choices=TASKS, help="tasks to run")
    parser.add_argument("--synthesis", action="store_true", help="the image-synthesis set (SYNTHESIS_JOBS) instead of --methods x --tasks")
    parser.add_argument("--workers", type=int, default=1, choices=(1, 2), help="2: two worker processes, one thread each")
    parser.add_argument("--compare-repo-init", type=Path, default=None, metavar="DIR",
                        help="also run base2new dmp_coop (seed 1) with repo_init=hand into DIR and print both repositories' fidelity")
    args = parser.parse_args()

    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="dmpbench-mini-cache-"))
    if args.fresh:  # (the image-synthesis set: only its tasks' records go)
        shutil.rmtree(cache, ignore_errors=True)
        for folder in [args.results / t for t in dict(SYNTHESIS_JOBS)] if args.synthesis else [args.results]:
            shutil.rmtree(folder, ignore_errors=True)
    rows, phases = [], {}
    start_all = time.perf_counter()
    jobs = [(m, t) for t, m in SYNTHESIS_JOBS] if args.synthesis else [(m, t) for m in args.methods for t in args.tasks if _serves(m, t)]
    if args.workers == 2 and not args.synthesis:  # longest first: dmp_coop base2new (repositories + the 11-dataset DMP) starts at once
        jobs.sort(key=lambda job: (job != ("dmp_coop", "base2new"), job[0] != "coop", (METHODS + GENERATORS + OTHERS).index(job[0])))
    if args.workers == 2:  # not a multiprocessing.Pool: its daemonic workers may not start the feature loader's processes
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread) as pool:
            outcomes = list(pool.map(_job, [(m, t, args.seeds, args.results, cache) for m, t in jobs]))
    else:
        outcomes = [_job((m, t, args.seeds, args.results, cache)) for m, t in jobs]
    for method, task, records, wall in outcomes:
        for rec in records:
            for phase, seconds in rec.get("timings", {}).get("wall_s", {}).items():
                phases[(method, phase)] = phases.get((method, phase), 0.0) + seconds
        rows.append([task, method, len(records), f"{wall:.1f}"])
    total = time.perf_counter() - start_all
    if args.compare_repo_init:
        start = time.perf_counter()
        execute(RunRequest(task="base2new", method="dmp_coop", seeds=[1], results=args.compare_repo_init, cache_dir=cache,
                           progress=False, sets=["method.repo_init=hand"]), say=lambda line: None)
        print(f"repo_init=hand comparison: {time.perf_counter() - start:.1f} s (not in the total)", file=sys.stderr)
    print(tabulate(rows, headers=["task", "method", "records", "wall s (incl. loading)"], tablefmt="github"))
    print()
    by_phase: dict[str, float] = {}
    for (_, p), sec in phases.items():
        by_phase[p] = by_phase.get(p, 0.0) + sec
    rows = [[m, p, f"{sec:.1f}"] for (m, p), sec in sorted(phases.items())] + [["all", p, f"{sec:.1f}"] for p, sec in sorted(by_phase.items())]
    print(tabulate(rows, headers=["method", "phase", "s (sum over runs)"], tablefmt="github"))
    what = "the image-synthesis set" if args.synthesis else ", ".join(args.methods)
    print(f"\ntotal ({what}; {args.workers} worker(s), wall): {total:.1f} s")
    return finish(args)


def finish(args) -> int:
    print()
    print(audit_summary(args.results, args.compare_repo_init))
    build_leaderboards(args.results, args.out)
    write_pins(args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
