"""``dmpbench leaderboard``: per task, a Markdown and a CSV table built from the run records, with the
papers' published tables alongside (labelled as published) and Δ rows of each generated-prompt method
against its base prompt learner, in the papers' layout (rows = methods, columns = datasets × metrics)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from dmpbench.errors import DmpbenchError
from dmpbench.leaderboard.extractors import extractor_lines
from dmpbench.leaderboard.frame import records_frame, seed_means, with_average
from dmpbench.leaderboard import published as published_data
from dmpbench.registry import METHODS, TASKS
from dmpbench.cachefiles import check_writable_dir
from dmpbench.runner.records import Problem, write_text_atomic

METHOD_ORDER = ["zeroshot", "coop", "cocoop", "maple", "coprompt", "tac", "vpt", "promptsrc"]


def _method_key(name: str) -> tuple[int, str]:
    base = name.split(" [", 1)[0].removeprefix("dmp_")
    rank = METHOD_ORDER.index(base) if base in METHOD_ORDER else len(METHOD_ORDER)
    return (rank, name)


def base_learner(method: str) -> str | None:
    if method not in METHODS.names():
        return None
    try:
        return getattr(METHODS.get(method), "base_learner", None)
    except DmpbenchError:
        return None


def _column_order(columns: list[tuple[str, str]], metric_order: tuple[str, ...]) -> list[tuple[str, str]]:
    datasets = list(dict.fromkeys(d for d, _ in columns if d != "average"))
    if any(d == "average" for d, _ in columns):
        datasets.append("average")
    metrics = sorted({m for _, m in columns}, key=lambda m: (metric_order.index(m) if m in metric_order else 99, m))
    return [(d, m) for d in datasets for m in metrics if (d, m) in columns]


def reproduced_table(means: pd.DataFrame, metric_order: tuple[str, ...]) -> tuple[list[str], list[list[str]]]:
    columns = _column_order(list(dict.fromkeys(zip(means["dataset"], means["metric"]))), metric_order)
    cell = {(r.method, r.dataset, r.metric): (r.mean, r.std, r.seeds) for r in means.itertuples()}
    methods = sorted(means["method"].unique(), key=_method_key)
    rows = []
    for method in methods:
        row = [method]
        for d, m in columns:
            if (method, d, m) not in cell:
                row.append("")
                continue
            mean, std, seeds = cell[(method, d, m)]
            row.append(f"{mean:.2f}" + (f" ± {std:.2f}" if seeds > 1 and not math.isnan(std) else ""))
        rows.append(row)
        base = base_learner(method)
        if base in methods:
            delta = [f"Δ {method} − {base}"]
            for d, m in columns:
                a, b = cell.get((method, d, m)), cell.get((base, d, m))
                delta.append(f"{a[0] - b[0]:+.2f}" if a and b else "")
            rows.append(delta)
    headers = ["method"] + [f"{d} {m}" for d, m in columns]
    return headers, rows


def published_tables(task_cls: type) -> list[tuple[str, pd.DataFrame]]:
    out = []
    published = published_data.load_published()
    for paper, table in task_cls.published_tables:
        cells = published[(published["paper"] == paper) & (published["table"].astype(str) == str(table))]
        if len(cells):
            out.append((f"{published_data.PAPERS.get(paper, paper)}, Table {table}", cells))
    return out


def published_markdown(cells: pd.DataFrame, metric_order: tuple[str, ...]) -> str:
    columns = _column_order(list(dict.fromkeys(zip(cells["dataset"], cells["metric"]))), metric_order)
    value = {(r.method, r.dataset, r.metric): r.value for r in cells.itertuples()}
    rows = []
    for method in dict.fromkeys(cells["method"]):
        rows.append([f"{method} (published)"] + ["" if pd.isna(value.get((method, d, m), float("nan"))) else f"{value[(method, d, m)]:.2f}" for d, m in columns])
    return tabulate(rows, headers=["method"] + [f"{d} {m}" for d, m in columns], tablefmt="github")


def build_leaderboards(results: Path, out: Path, tasks: list[str] | None = None) -> tuple[list[Path], list[Problem]]:
    for name in tasks or []:
        TASKS.get(name)  # unknown task names fail with suggestions
    if out.exists() and not out.is_dir():
        raise DmpbenchError(f"--out {out} is a file, not a directory")
    frame, problems = records_frame(results)
    if frame.empty:  # a mistyped or empty folder must not replace the tables there are
        skipped = f" ({len(problems)} malformed record(s) skipped)" if problems else ""
        raise DmpbenchError(f"no run records under {results}{skipped}; nothing written (the tables in {out} are left as they are)")
    task_names = tasks or TASKS.names()
    check_writable_dir(out, "--out directory")
    written = []
    for task in task_names:
        task_cls = TASKS.get(task)
        sub = frame[frame["task"] == task]
        published = published_tables(task_cls)
        if sub.empty and (not published or (out / f"{task}.md").exists()):
            continue  # never replace a table by one without this task's reproduced rows
        md = [f"# {task}", "", (task_cls.__doc__ or "").strip().splitlines()[0] if task_cls.__doc__ else "", ""]
        csv_parts = []
        if not sub.empty:
            means = with_average(seed_means(sub))
            for (world, backbone), group in means.groupby(["world", "backbone"], sort=True):
                headers, rows = reproduced_table(group, task_cls.metrics)
                seeds = sorted(sub[sub["backbone"] == backbone]["seed"].unique())
                md += [f"## Reproduced: {world} world, backbone `{backbone}` (mean ± std over seeds {', '.join(map(str, seeds))})", "",
                       tabulate(rows, headers=headers, tablefmt="github"), ""]
                md += extractor_lines(results, task, backbone)
            csv_parts.append(means.assign(source="reproduced", paper="", table=""))
        else:
            md += ["_No run records yet for this task._", ""]
        for title, cells in published:
            md += [f"## Published: {title}", "", published_markdown(cells, task_cls.metrics), ""]
            csv_parts.append(cells.rename(columns={"value": "mean"}).assign(source="published", backbone="", world="paper", std=float("nan"), seeds=float("nan")))
        md_path, csv_path = out / f"{task}.md", out / f"{task}.csv"
        write_text_atomic(md_path, "\n".join(md).rstrip() + "\n")
        columns = ["source", "paper", "table", "task", "method", "backbone", "world", "dataset", "metric", "mean", "std", "seeds"]
        table = pd.concat(csv_parts, ignore_index=True).reindex(columns=columns)
        write_text_atomic(csv_path, table.to_csv(index=False, float_format="%.4f"))
        written += [md_path, csv_path]
    return written, problems
