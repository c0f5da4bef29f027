"""DMP's ablations on the mini world, one command and one committed table each, beside the published cells:

    python benchmarks/dmp_ablations.py guidance    # Table 9: classifier-free guidance 4.5 / 5.5 / 6.5 / 7.5 (base2new)
    python benchmarks/dmp_ablations.py condition   # Table 11: class names versus the dataset name as the condition (cross_dataset)
    python benchmarks/dmp_ablations.py noise       # Table 14: 0% / 10% / 40% of the repository noised, sigma 0.01 (base2new)

Each runs ``dmp_coop`` on the table's task over the mini datasets and seeds 1 2 3 with the one setting changed
(``--set method.guidance=...`` / ``method.condition=dataset`` / ``method.repo_noise=...``; everything else the
committed recipe), writes the records under ``leaderboards/mini/ablations/<study>/`` and the table to
``leaderboards/ablations/<study>.md``. A guidance change only changes sampling: the trained DMP is reused from
``--cache-dir`` when it is there. Table cells: per seed, the average over the evaluated datasets (base2new:
Base, New, All and the HM of the average Base and New, as the leaderboards compute it; cross_dataset: the
targets' accuracy, the source left out as in the paper), then mean ± std over the seeds.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

from tabulate import tabulate

from dmpbench.leaderboard.published import load_published
from dmpbench.runner.run import RunRequest, execute

BASE2NEW = ("base", "new", "hm", "all")
STUDIES = {
    # study: (task, published table, metrics, [(row label, --set list, published method name)])
    "guidance": ("base2new", "9", BASE2NEW, [(f"guidance {g}", [f"method.guidance={g}"], f"dmp_coop_cfg{str(g).replace('.', '_')}")
                                             for g in (4.5, 5.5, 6.5, 7.5)]),
    "condition": ("cross_dataset", "11", ("acc",), [("class names", [], "dmp_coop"),
                                                     ("dataset name", ["method.condition=dataset"], "dmp_coop_dataset_names")]),
    "noise": ("base2new", "14", BASE2NEW, [("clean repository", [], "dmp_coop"), ("10% noised", ["method.repo_noise=0.1"], "dmp_coop_noise10"),
                                           ("40% noised", ["method.repo_noise=0.4"], "dmp_coop_noise40")]),
}


def per_seed_average(metrics_by_dataset: dict[str, dict[str, float]]) -> dict[str, float]:
    rows = list(metrics_by_dataset.values())
    if "base" in rows[0]:
        base, new = (statistics.mean(r[m] for r in rows) for m in ("base", "new"))
        return {"base": base, "new": new, "hm": 2 * base * new / (base + new), "all": statistics.mean(r["all"] for r in rows)}
    return {"acc": statistics.mean(r["acc"] for r in rows)}


def averages(records: list[dict], metrics: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """metric -> (mean, std over seeds) of the per-seed averages over the evaluated datasets; a transfer
    record (evaluated on other datasets than its unit) leaves its source out."""
    seeds: dict[int, dict] = {}
    for rec in records:
        evaluated = {d: m for d, m in rec["metrics"].items() if len(rec["metrics"]) == 1 or d != rec["dataset"]}
        seeds.setdefault(rec["seed"], {}).update(evaluated)
    per_seed = [per_seed_average(m) for m in seeds.values()]
    return {m: (statistics.mean(s[m] for s in per_seed), statistics.stdev([s[m] for s in per_seed]) if len(per_seed) > 1 else 0.0)
            for m in metrics}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", choices=sorted(STUDIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--results", type=Path, default=Path("leaderboards/mini/ablations"))
    parser.add_argument("--out", type=Path, default=Path("leaderboards/ablations"))
    args = parser.parse_args()
    task, table, metrics, arms = STUDIES[args.study]
    published = load_published()
    published = published[(published["paper"] == "diffusion_meta_prompts") & (published["table"].astype(str) == table)
                          & (published["dataset"] == "average")]
    rows, timings = [], []
    for label, sets, paper_name in arms:
        start = time.perf_counter()
        records = execute(RunRequest(task=task, method="dmp_coop", seeds=args.seeds, sets=sets, progress=False,
                                     results=args.results / args.study, cache_dir=args.cache_dir), say=lambda line: None)
        timings.append([label, f"{time.perf_counter() - start:.0f}"])
        measured = averages(records, metrics)
        cells = {r.metric: r.value for r in published[published["method"] == paper_name].itertuples()}
        rows.append([label, *(f"{measured[m][0]:.2f} ± {measured[m][1]:.2f}" for m in metrics),
                     *("" if m not in cells or math.isnan(cells[m]) else f"{cells[m]:.1f}" for m in metrics)])
        print(f"{label}: " + ", ".join(f"{m} {measured[m][0]:.2f}" for m in metrics), file=sys.stderr, flush=True)
    headers = ["dmp_coop", *(f"mini {m}" for m in metrics), *(f"published {m}" for m in metrics)]
    args.out.mkdir(parents=True, exist_ok=True)
    text = (f"# DMP ablation: {args.study} (Diffusion Meta-Prompts Table {table})\n\n"
            f"Mini world, {task}, `dmp_coop` with the committed recipe and one setting changed; mean ± std over seeds "
            f"{' '.join(map(str, args.seeds))} of the per-seed averages over the evaluated datasets"
            f"{' (HM of the average Base and New)' if task == 'base2new' else ' (targets only, the source left out)'}. "
            f"Published: the paper's average row (ViT-B/16, eleven CoOp datasets), labelled as such; an empty cell is one the "
            f"paper's text does not give. Records: `leaderboards/mini/ablations/{args.study}/`; command: "
            f"`python benchmarks/dmp_ablations.py {args.study}`.\n\n" + tabulate(rows, headers=headers, tablefmt="github") + "\n")
    (args.out / f"{args.study}.md").write_text(text)
    print(text)
    print(tabulate(timings, headers=["arm", "wall s (one thread)"], tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
