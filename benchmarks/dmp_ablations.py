"""DMP's ablations on the mini world, one command and one committed table each, beside the published cells:

    python benchmarks/dmp_ablations.py guidance    # Table 9: classifier-free guidance 4.5 / 5.5 / 6.5 / 7.5
    python benchmarks/dmp_ablations.py condition   # Table 11: class names versus the dataset name as the condition

Each runs base2new ``dmp_coop`` over the eleven mini datasets and seeds 1 2 3 with the one setting changed
(``--set method.guidance=...`` / ``method.condition=dataset``; everything else the committed recipe), writes
the records under ``leaderboards/mini/ablations/<study>/`` and the table to ``leaderboards/ablations/<study>.md``.
A guidance change only changes sampling: the trained DMP is the committed one (reused from ``--cache-dir`` when
it is there). Table cells: the base2new average over the eleven datasets per seed (Base, New, All; HM of the
average Base and New, as the leaderboards compute it), then mean ± std over the seeds.
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

STUDIES = {
    # study: (published table, [(row label, --set list, published method name)])
    "guidance": ("9", [(f"guidance {g}", [f"method.guidance={g}"], f"dmp_coop_cfg{str(g).replace('.', '_')}")
                       for g in (4.5, 5.5, 6.5, 7.5)]),
    "condition": ("11", [("class names", [], "dmp_coop"), ("dataset name", ["method.condition=dataset"], "dmp_coop_dataset_names")]),
}
METRICS = ("base", "new", "hm", "all")


def averages(records: list[dict]) -> dict[str, tuple[float, float]]:
    """metric -> (mean, std over seeds) of the per-seed averages over datasets."""
    per_seed = []
    for rec in records:
        rows = list(rec["metrics"].values())
        base, new = (statistics.mean(r[m] for r in rows) for m in ("base", "new"))
        per_seed.append({"base": base, "new": new, "hm": 2 * base * new / (base + new), "all": statistics.mean(r["all"] for r in rows)})
    seeds = {m: [s[m] for s in per_seed] for m in METRICS}
    return {m: (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0) for m, v in seeds.items()}


def group_by_seed(records: list[dict]) -> list[dict]:
    """One record per seed with every dataset's metrics (a run writes one record per dataset and seed)."""
    seeds: dict[int, dict] = {}
    for rec in records:
        seeds.setdefault(rec["seed"], {"seed": rec["seed"], "metrics": {}})["metrics"].update(rec["metrics"])
    return list(seeds.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", choices=sorted(STUDIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--results", type=Path, default=Path("leaderboards/mini/ablations"))
    parser.add_argument("--out", type=Path, default=Path("leaderboards/ablations"))
    args = parser.parse_args()
    table, arms = STUDIES[args.study]
    published = load_published()
    published = published[(published["paper"] == "diffusion_meta_prompts") & (published["table"].astype(str) == table)
                          & (published["dataset"] == "average")]
    rows, timings = [], []
    for label, sets, paper_name in arms:
        start = time.perf_counter()
        records = execute(RunRequest(task="base2new", method="dmp_coop", seeds=args.seeds, sets=sets, progress=False,
                                     results=args.results / args.study, cache_dir=args.cache_dir), say=lambda line: None)
        timings.append([label, f"{time.perf_counter() - start:.0f}"])
        measured = averages(group_by_seed(records))
        cells = {r.metric: r.value for r in published[published["method"] == paper_name].itertuples()}
        rows.append([label, *(f"{measured[m][0]:.2f} ± {measured[m][1]:.2f}" for m in METRICS),
                     *("" if m not in cells or math.isnan(cells[m]) else f"{cells[m]:.1f}" for m in METRICS)])
        print(f"{label}: " + ", ".join(f"{m} {measured[m][0]:.2f}" for m in METRICS), file=sys.stderr, flush=True)
    headers = ["dmp_coop", *(f"mini {m}" for m in METRICS), *(f"published {m}" for m in METRICS)]
    args.out.mkdir(parents=True, exist_ok=True)
    text = (f"# DMP ablation: {args.study} (Diffusion Meta-Prompts Table {table})\n\n"
            f"Mini world, base2new over the eleven mini datasets, `dmp_coop` with the committed recipe and one setting changed; "
            f"mean ± std over seeds {' '.join(map(str, args.seeds))} of the per-seed averages (HM of the average Base and New). "
            f"Published: the paper's average row (ViT-B/16, eleven CoOp datasets), labelled as such; an empty cell is one the "
            f"paper's text does not give. Records: `leaderboards/mini/ablations/{args.study}/`; command: "
            f"`python benchmarks/dmp_ablations.py {args.study}`.\n\n" + tabulate(rows, headers=headers, tablefmt="github") + "\n")
    (args.out / f"{args.study}.md").write_text(text)
    print(text)
    print(tabulate(timings, headers=["arm", "wall s (one thread)"], tablefmt="github"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
