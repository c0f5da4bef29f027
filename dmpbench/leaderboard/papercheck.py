"""``dmpbench paper-check``: reproduced numbers (mean over seeds, from the records) against reference
numbers for the same task, method, dataset and metric: the papers' published cells, or the values pinned
in ``pinned.csv`` beside the records (how the committed mini-world records are checked). Prints the
differences as a table; exit code 1 when any |difference| exceeds the tolerance, 2 when nothing matches."""

from __future__ import annotations

import math
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
    if frame.empty:
        skipped = f" ({len(problems)} malformed record(s) skipped)" if problems else ""
        raise DmpbenchError(f"no run records under {results}{skipped}")
    for problem in problems:
        print(f"dmpbench: skipped record {problem}", file=sys.stderr)
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
        values = pd.to_numeric(pinned["value"], errors="coerce")
        bad = values.isna() | ~values.abs().lt(float("inf"))
        if bad.any():
            row = int(bad.idxmax())
            raise DmpbenchError(f"malformed {path}: value {pinned['value'][row]!r} on line {row + 2} is not a number")
        if pinned.empty:
            raise DmpbenchError(f"malformed {path}: no pinned cells")
        keys = [*KEYS, "backbone"]
        pinned = pinned.assign(value=values.astype(float), **{k: pinned[k].astype(str) for k in keys})
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
    if not math.isfinite(tolerance) or tolerance < 0:
        raise DmpbenchError(f"--tolerance must be a non-negative number, got {tolerance}")
    if write:
        print(f"wrote {write_pins(results)}")
        return 0
    ours = reproduced(results)
    refs = references(results, against)
    keys = KEYS + (["backbone"] if against == "pinned" else [])
    # Published cells are many more than one run reproduces: only the matching ones are compared. Every
    # pinned cell, though, must be reproduced: a pinned cell without a record is a failure (MISSING).
    merged = ours.merge(refs, on=keys, how="right" if against == "pinned" else "inner", suffixes=("", "_ref"))
    if merged["mean"].isna().all():
        raise DmpbenchError(f"none of the reproduced cells under {results} has a {against} counterpart (same task, method, dataset, metric)")
    merged["diff"] = merged["mean"] - merged["value"]
    merged["missing"] = merged["mean"].isna()
    merged["ok"] = ~merged["missing"] & (merged["diff"].abs() <= tolerance + 1e-9)
    rows = [
        [r.task, r.method, r.backbone, r.dataset, r.metric, "" if r.missing else f"{r.mean:.2f}", f"{r.value:.2f}",
         "" if r.missing else f"{r.diff:+.2f}", r.reference, "ok" if r.ok else ("MISSING" if r.missing else "FAIL")]
        for r in merged.itertuples()
    ]
    print(tabulate(rows, headers=["task", "method", "backbone", "dataset", "metric", "reproduced", "reference", "diff", "source", ""], tablefmt="github"))
    missing = int(merged["missing"].sum())
    failed = int((~merged["ok"]).sum()) - missing
    print(f"\n{len(merged) - failed - missing} within ±{tolerance}, {failed} beyond, {missing} pinned cell(s) without a record")
    return 1 if failed or missing else 0
