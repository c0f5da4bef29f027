"""The papers' published numbers, cell by cell, and the checks of their derived cells.

Data: ``dmpbench/published/<paper>.csv`` with columns ``COLUMNS`` (one row per table cell; an empty
``value`` means the text does not give the cell, ``note`` says why).  Derived cells (HM, Δ rows,
averages) are checked against their inputs with interval arithmetic: every printed number stands for
the interval of values that round to it, and a derived cell passes when its own interval meets the
range its inputs allow.  Cells the papers themselves get wrong are listed in
``published/excluded_checks.csv`` (and described in ``published/inconsistencies.md``).
"""

from __future__ import annotations

import io
import itertools
import re
from importlib import resources

import pandas as pd

COLUMNS = ["paper", "table", "task", "method", "dataset", "metric", "value", "derived", "note"]
KEY = ["paper", "table", "method", "dataset", "metric"]

PAPERS = {
    "diffusion_meta_prompts": "Diffusion Meta-Prompts for Foundation Models",
    "prompt_diffusion": "Prompt Diffusion Robustifies Any-Modality Prompt Learning (Du et al., 2024)",
    "dreamdistribution": "DreamDistribution: Learning Prompt Distribution for Diverse In-distribution Generation",
    "diffusion_model_patching": "Diffusion Model Patching via Mixture-of-Prompts (Ham, Woo et al.)",
}

TASKS = frozenset({
    "base2new", "cross_dataset", "domain_shift", "composition", "treecut", "slider", "identity",
    "variation", "storage_latency", "few_shot", "image_generation",
    # beyond the core dmpbench tasks (see the README section on published numbers)
    "vae_reconstruction", "synthetic_dataset", "model_size", "structural_bias",
})

BASE2NEW_DATASETS = ("imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
                     "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101")
IMAGENET_SHIFTS = ("imagenet_v2", "imagenet_sketch", "imagenet_a", "imagenet_r")
DATASETS = frozenset(BASE2NEW_DATASETS + IMAGENET_SHIFTS + (
    "average", "caltech101+ucf101", "celeba", "slider_prompts_100", "reference_sets_12",
    "ffhq", "coco", "laion5b", "na"))

METRICS = frozenset({
    "all", "base", "new", "hm", "acc", "mta", "hca", "top1", "top5",
    "fid", "precision", "recall", "clip_i", "clip_t", "dino", "density", "coverage",
    "fid_std", "clip_i_std", "dino_std", "density_std", "coverage_std",
    "clip_score", "lpips", "face_id",
    "storage_gb", "latency_s", "storage_reduction_pct", "latency_reduction_pct",
    "params_m", "params_increase_pct",
    "correlation_max", "correlation_min", "correlation_mean", "correlation_std",
    "cosine_similarity_max", "cosine_similarity_min", "cosine_similarity_mean", "cosine_similarity_std",
})

# Which per-dataset cells each table's "average" column is the mean of (as the paper computes it).
AVERAGE_OVER = {
    ("diffusion_meta_prompts", "3"): ("imagenet",) + IMAGENET_SHIFTS,
    ("diffusion_meta_prompts", "8"): BASE2NEW_DATASETS,
    ("diffusion_meta_prompts", "10"): BASE2NEW_DATASETS,
    ("diffusion_meta_prompts", "11"): BASE2NEW_DATASETS,
    ("diffusion_meta_prompts", "14"): BASE2NEW_DATASETS,
    ("prompt_diffusion", "1"): BASE2NEW_DATASETS,
    ("prompt_diffusion", "2"): BASE2NEW_DATASETS[1:],
    ("prompt_diffusion", "3"): IMAGENET_SHIFTS,
    ("prompt_diffusion", "6"): IMAGENET_SHIFTS,
}

# Tables that print the same experiments: a cell present in several of them must agree with the first.
# (tables, datasets compared or None for all); the source column is shared where the averages differ.
SAME_EXPERIMENTS = {
    "diffusion_meta_prompts": [(("4", "8", "14"), None), (("3", "11"), ("imagenet",)), (("2", "15"), None),
                               (("5", "16"), None)],
    "prompt_diffusion": [(("1", "4", "7"), None), (("2", "3"), ("imagenet",))],
    "diffusion_model_patching": [(("2", "7"), None), (("8", "9"), None), (("2", "9"), None)],
}

# A printed number stands for [x - h, x + h] (h = half its last digit); the brief's tolerance for HM is
# "about 0.06" for one decimal, i.e. h plus this share of h, which absorbs round-half-even and the like.
SLACK = 0.2

# Derived metrics computed from another metric of the rows a Δ method names.
PCT_DELTAS = {
    "storage_reduction_pct": ("storage_gb", lambda new, base: (base - new) / base * 100),
    "latency_reduction_pct": ("latency_s", lambda new, base: (base - new) / base * 100),
    "params_increase_pct": ("params_m", lambda new, base: (new - base) / base * 100),
}

DELTA_RE = re.compile(r"delta_(?P<new>.+)_vs_(?P<base>.+)")
CHECK_COLUMNS = KEY + ["check", "printed", "low", "high", "ok", "inputs"]


def _package_text(name: str) -> str:
    return resources.files("dmpbench.published").joinpath(name).read_text(encoding="utf-8")


def _read_raw(paper: str) -> pd.DataFrame:
    """One paper's CSV with every column as text (values keep their printed decimals)."""
    if paper not in PAPERS:
        raise KeyError(f"unknown paper {paper!r}; known: {sorted(PAPERS)}")
    df = pd.read_csv(io.StringIO(_package_text(f"{paper}.csv")), dtype=str, keep_default_na=False)
    return df


def load_published(paper: str | None = None, raw: bool = False) -> pd.DataFrame:
    """Published cells of one paper (or all papers): ``value`` as float (NaN when empty), ``derived`` as bool.

    ``raw=True`` keeps ``value`` as the printed text, which the consistency checks need for rounding.
    """
    papers = [paper] if paper is not None else list(PAPERS)
    df = pd.concat([_read_raw(p) for p in papers], ignore_index=True)
    if not raw:
        df["value"] = pd.to_numeric(df["value"].replace("", float("nan")), errors="raise").astype(float)
        df["derived"] = df["derived"].map({"true": True, "false": False}).astype(bool)
    return df


def load_hyperparameters() -> pd.DataFrame:
    """Table 17 of Diffusion Meta-Prompts (configuration, not results)."""
    return pd.read_csv(io.StringIO(_package_text("dmp_table17_hyperparameters.csv")), dtype=str,
                       keep_default_na=False)


def load_exclusions() -> pd.DataFrame:
    """Checks the papers themselves fail (see inconsistencies.md); excluded from the consistency tests."""
    return pd.read_csv(io.StringIO(_package_text("excluded_checks.csv")), dtype=str, keep_default_na=False)


def harmonic_mean(base: float, new: float) -> float:
    """HM = 2·B·N / (B + N), the base-to-new summary."""
    return 2 * base * new / (base + new) if base + new else 0.0


def half_unit(text: str) -> float:
    """Half of the last printed digit: '76.5' -> 0.05, '0.126' -> 0.0005, '130' -> 0.5."""
    text = text.strip().lstrip("+-")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10 ** -decimals


def _range(fn, texts: list[str]) -> tuple[float, float]:
    """Range of ``fn`` over the corners of the rounding intervals of its (monotone) inputs."""
    intervals = [(float(t) - half_unit(t), float(t) + half_unit(t)) for t in texts]
    values = [fn(*corner) for corner in itertools.product(*intervals)]
    return min(values), max(values)


def _row(key, check, printed, low, high, inputs):
    h = half_unit(printed) * (1 + SLACK)
    ok = float(printed) + h >= low - 1e-9 and float(printed) - h <= high + 1e-9
    return dict(zip(KEY, key), check=check, printed=printed, low=round(low, 6), high=round(high, 6),
                ok=bool(ok), inputs=inputs)


def _cells(df: pd.DataFrame) -> dict:
    return {tuple(r[k] for k in KEY): r["value"] for _, r in df.iterrows() if r["value"] != ""}


def check_hm(df: pd.DataFrame) -> list[dict]:
    """HM cells against the Base and New cells of the same row."""
    cells, out = _cells(df), []
    for key, printed in cells.items():
        paper, table, method, dataset, metric = key
        if metric != "hm" or method.startswith("delta_"):
            continue
        b, n = cells.get((paper, table, method, dataset, "base")), cells.get((paper, table, method, dataset, "new"))
        if b is None or n is None:
            continue
        out.append(_row(key, "hm", printed, *_range(harmonic_mean, [b, n]), f"base={b} new={n}"))
    return out


def check_deltas(df: pd.DataFrame) -> list[dict]:
    """Δ rows (method ``delta_<new>_vs_<base>``) against the two rows they subtract."""
    cells, out = _cells(df), []
    for key, printed in cells.items():
        paper, table, method, dataset, metric = key
        m = DELTA_RE.fullmatch(method)
        if not m:
            continue
        src, fn = (PCT_DELTAS[metric] if metric in PCT_DELTAS else (metric, lambda a, b: a - b))
        a = cells.get((paper, table, m["new"], dataset, src))
        b = cells.get((paper, table, m["base"], dataset, src))
        if a is None or b is None:
            continue
        out.append(_row(key, "delta", printed, *_range(fn, [a, b]), f"{m['new']}={a} {m['base']}={b}"))
    return out


def check_averages(df: pd.DataFrame) -> list[dict]:
    """Average cells against the per-dataset cells (not HM: the HM of an average is checked by check_hm)."""
    cells, out = _cells(df), []
    for key, printed in cells.items():
        paper, table, method, dataset, metric = key
        over = AVERAGE_OVER.get((paper, table))
        if dataset != "average" or over is None or metric == "hm" or method.startswith("delta_"):
            continue
        parts = [cells.get((paper, table, method, d, metric)) for d in over]
        if any(p is None for p in parts):
            continue
        out.append(_row(key, "average", printed, *_range(lambda *x: sum(x) / len(x), parts),
                        " ".join(parts)))
    return out


def check_same_experiments(df: pd.DataFrame) -> list[dict]:
    """A cell printed in several tables that report the same experiment must agree with the first one."""
    cells, out = _cells(df), []
    for paper, groups in SAME_EXPERIMENTS.items():
        for group, datasets in groups:
            seen: dict = {}
            for (p, table, method, dataset, metric), v in sorted(cells.items(), key=lambda kv: int(kv[0][1])):
                if p != paper or table not in group or (datasets and dataset not in datasets):
                    continue
                ref = seen.setdefault((method, dataset, metric), (table, v))
                if ref[0] != table:
                    x = float(ref[1])
                    out.append(_row((paper, table, method, dataset, metric), "same_experiment", v, x, x,
                                    f"table {ref[0]} prints {ref[1]}"))
    return out


def consistency_checks(df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every check of every derived cell; one row per check with ``ok`` False where the paper disagrees."""
    df = load_published(raw=True) if df is None else df
    rows = check_hm(df) + check_deltas(df) + check_averages(df) + check_same_experiments(df)
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)
