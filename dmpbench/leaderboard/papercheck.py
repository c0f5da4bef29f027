"""``dmpbench paper-check``: reproduced numbers (mean over seeds, from the records) against reference
numbers for the same task, method, dataset and metric: the papers' published cells, or the values pinned
in ``pinned.csv`` beside the records (how the committed mini-world records are checked). Prints the
differences as a table; exit code 1 when any |difference| exceeds the tolerance, 2 when nothing matches."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from dmpbench.errors import DmpbenchError
from dmpbench.leaderboard.frame import records_frame, seed_means, with_average
from dmpbench.runner.records import write_text_atomic

PINNED = "pinned.csv"
KEYS = ["task", "method", "dataset", "metric"]


def reproduced(results: Path) -> pd.DataFrame:
    frame, problems = records_frame(results)
    for problem in problems:
        print(f"dmpbench: skipped malformed record {problem}", file=sys.stderr)
    if frame.empty:
        raise DmpbenchError(f"no run records under {results}")
    return with_average(seed_means(frame))


def references(results: Path, against: str) -> pd.DataFrame:
    if against == "pinned":
        path = results / PINNED
        try:
            pinned = pd.read_csv(path)
        except FileNotFoundError as exc:
            raise DmpbenchError(f"no {PINNED} in {results} (write it with: dmpbench paper-check --results {results} --write-pins)") from exc
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DmpbenchError(f"malformed {path}: {exc}") from exc
        missing = [c for c in [*KEYS, "backbone", "value"] if c not in pinned.columns]
        if missing:
            raise DmpbenchError(f"malformed {path}: missing column {missing[0]!r}")
        return pinned.assign(reference=f"pinned ({PINNED})")
    from dmpbench.leaderboard.published import PAPERS, load_published

    cells = load_published().dropna(subset=["value"])
    return cells.assign(reference=[f"{PAPERS.get(p, p)} T{t}" for p, t in zip(cells["paper"], cells["table"])], backbone=None)


def write_pins(results: Path) -> Path:
    means = reproduced(results)
    pins = means[["task", "method", "backbone", "dataset", "metric", "mean"]].rename(columns={"mean": "value"})
    path = results / PINNED
    write_text_atomic(path, pins.to_csv(index=False, float_format="%.4f"))
    return path


def paper_check(results: Path, tolerance: float, against: str = "published", write: bool = False) -> int:
    if tolerance < 0:
        raise DmpbenchError(f"--tolerance must be non-negative, got {tolerance}")
    if write:
        print(f"wrote {write_pins(results)}")
        return 0
    ours = reproduced(results)
    refs = references(results, against)
    keys = KEYS + (["backbone"] if against == "pinned" else [])
    merged = ours.merge(refs, on=keys, how="inner", suffixes=("", "_ref"))
    if merged.empty:
        raise DmpbenchError(f"none of the reproduced cells under {results} has a {against} counterpart (same task, method, dataset, metric)")
    merged["diff"] = merged["mean"] - merged["value"]
    merged["ok"] = merged["diff"].abs() <= tolerance + 1e-9
    rows = [
        [r.task, r.method, r.backbone, r.dataset, r.metric, f"{r.mean:.2f}", f"{r.value:.2f}", f"{r.diff:+.2f}", r.reference, "ok" if r.ok else "FAIL"]
        for r in merged.itertuples()
    ]
    print(tabulate(rows, headers=["task", "method", "backbone", "dataset", "metric", "reproduced", "reference", "diff", "source", ""], tablefmt="github"))
    failed = int((~merged["ok"]).sum())
    print(f"\n{len(merged) - failed} within ±{tolerance}, {failed} beyond")
    return 1 if failed else 0
