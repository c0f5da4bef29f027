"""Run records flattened into one long table (CLIP_benchmark style: records first, tables after)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from dmpbench.errors import DmpbenchError
from dmpbench.leaderboard.variants import label_records
from dmpbench.metrics.classification import harmonic_mean
from dmpbench.runner.records import Problem, load_records

COLUMNS = ["task", "method", "backbone", "world", "unit", "seed", "dataset", "metric", "value"]


def records_frame(results: Path) -> tuple[pd.DataFrame, list[Problem]]:
    """The records under ``results`` (an error when that folder does not exist), one row per
    configuration (``variants``: never averaged across configurations), plus the records skipped."""
    if not results.exists():
        raise DmpbenchError(f"results folder {results} does not exist")
    if not results.is_dir():
        raise DmpbenchError(f"results folder {results} is not a directory")
    records, problems = load_records(results)
    records, duplicates = label_records(records)
    return flatten(records), problems + duplicates


def flatten(records: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for rec in records:
        for dataset, metrics in rec["metrics"].items():
            for metric, value in metrics.items():
                rows.append([rec["task"], rec.get("row", rec["method"]), rec["backbone"], rec.get("world", ""), rec["dataset"], rec["seed"], dataset, metric, float(value)])
    return pd.DataFrame(rows, columns=COLUMNS)


def seed_means(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and std over seeds per (task, method, backbone, dataset, metric); HM is recomputed from the
    mean Base and mean New (as the papers compute it), never averaged."""
    keys = ["task", "method", "backbone", "world", "unit", "dataset", "metric"]
    grouped = frame.groupby(keys, sort=False)["value"]
    out = grouped.agg(mean="mean", std=lambda s: float(s.std(ddof=0)), seeds="count").reset_index()
    return recompute_hm(out, keys[:-1])


def recompute_hm(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    table = table.copy()
    for _, group in table.groupby(keys, sort=False):
        by_metric = dict(zip(group["metric"], group.index))
        if {"base", "new", "hm"} <= set(by_metric):
            b, n = table.at[by_metric["base"], "mean"], table.at[by_metric["new"], "mean"]
            table.at[by_metric["hm"], "mean"] = harmonic_mean(b, n)
            table.at[by_metric["hm"], "std"] = float("nan")
    return table


def with_average(table: pd.DataFrame) -> pd.DataFrame:
    """Adds an ``average`` dataset per (task, method, backbone, metric), HM of the averages for HM.

    Transfer tasks (a unit evaluated on other datasets) average over the targets only, as the papers'
    cross-dataset and domain-shift averages leave the source out. An average is added only where the
    method has every dataset the other methods of the table have."""
    keys = ["task", "method", "backbone", "world", "metric"]
    parts = [table]
    for (task, method, backbone, world, metric), group in table.groupby(keys, sort=False):
        targets = group[group["dataset"] != group["unit"]]
        used = targets if len(targets) else group
        peers = table[(table.task == task) & (table.backbone == backbone) & (table.metric == metric)]
        peer_targets = peers[peers["dataset"] != peers["unit"]] if len(targets) else peers
        if used["dataset"].nunique() < 2 or set(used["dataset"]) != set(peer_targets["dataset"]):
            continue
        units = "+".join(sorted(set(used["unit"])))
        parts.append(pd.DataFrame([{"task": task, "method": method, "backbone": backbone, "world": world, "unit": units, "dataset": "average",
                                    "metric": metric, "mean": used["mean"].mean(), "std": float("nan"), "seeds": int(used["seeds"].min())}]))
    out = pd.concat(parts, ignore_index=True)
    return recompute_hm(out, ["task", "method", "backbone", "world", "dataset"])
