"""The shared runner: resolves task, method, world and configuration, checks everything it can before any
work, runs each (dataset, seed) unit with seeding and phase timers, writes one record per unit and skips
units whose record exists (resume) unless ``force``."""

from __future__ import annotations

import datetime as _dt
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from tabulate import tabulate

from dmpbench.cachefiles import check_writable_dir, remove_stale_temporaries
from dmpbench.config import check_keys, check_seed, load_config_file, merge, parse_set
from dmpbench.context import PhaseTimer, RunContext
from dmpbench.errors import DmpbenchError
from dmpbench.registry import DATASETS, METHODS, TASKS
from dmpbench.runner import distributed
from dmpbench.runner import environment as env
from dmpbench.runner.records import SCHEMA, check_writable, matches, read_record, record_path, run_key, write_atomic
from dmpbench.runner.worlds import backbone_label, data_identity, data_root_from, make_world, world_name


def default_cache_dir() -> Path:
    return Path(os.environ.get("DMPBENCH_CACHE", Path.home() / ".cache" / "dmpbench")).expanduser()


@dataclass
class RunRequest:
    task: str
    method: str
    backbone: str = "mini"
    pretrained: str | None = None
    datasets: list[str] | None = None
    seeds: list[int] = field(default_factory=lambda: [1, 2, 3])
    device: str | None = None
    precision: str | None = None
    results: Path = Path("results")
    cache_dir: Path | None = None
    config_file: str | None = None
    sets: list[str] = field(default_factory=list)
    force: bool = False
    data_root: str | None = None
    progress: bool = True
    shard: str | None = None  # "I/N": this job's part of the grid (dmpbench.runner.distributed)
    data_parallel: bool = False  # torchrun ranks train each unit's model together (DDP)


def resolve(req: RunRequest) -> tuple[type, type, dict[str, dict[str, Any]]]:
    """Task and method classes and the resolved configuration; every check that needs no model."""
    task_cls = TASKS.get(req.task)
    method_cls = METHODS.get(req.method)
    capabilities = getattr(method_cls, "capabilities", ())
    if task_cls.capability not in capabilities:
        served = [t for t in TASKS.names() if TASKS.get(t).capability in capabilities]
        raise DmpbenchError(
            f"method {req.method!r} cannot serve task {req.task!r} (it needs {task_cls.capability!r}); "
            f"{req.method} serves: {', '.join(served) or 'no built-in task'}"
        )
    if getattr(method_cls, "per_image", False) and not getattr(task_cls, "per_image_methods", True):
        raise DmpbenchError(f"task {req.task!r} scores one classifier per label set; method {req.method!r} gives one per image")
    if getattr(method_cls, "features_per_prompt_set", False) and not getattr(task_cls, "per_image_methods", True):
        raise DmpbenchError(f"task {req.task!r} encodes the test images once for every label set it asks for; method "
                            f"{req.method!r} encodes them once per generated prompt")
    user = merge(load_config_file(req.config_file) if req.config_file else {}, parse_set(req.sets))
    world = world_name(req.backbone)
    method_defaults = {**method_cls.default_config, **getattr(method_cls, "world_defaults", {}).get(world, {})}
    config = {
        "task": check_keys("task", req.task, user["task"], task_cls.default_config, getattr(task_cls, "ranges", None)),
        "method": check_keys("method", req.method, user["method"], method_defaults, getattr(method_cls, "ranges", None)),
        "backbone": {"name": req.backbone, "pretrained": None if req.backbone == "mini" else (req.pretrained or "openai")},
    }
    if user["backbone"]:
        raise DmpbenchError("the backbone is chosen with --backbone/--pretrained, not in the config's 'backbone' section")
    for name in req.datasets or []:
        DATASETS.get(name)  # unknown names fail here, with suggestions
    for seed in req.seeds:
        check_seed(seed)
    if req.backbone == "mini" and (req.pretrained is not None or req.data_root is not None):
        flag = "--pretrained" if req.pretrained is not None else "--data-root"
        raise DmpbenchError(f"{flag} does not apply to the mini backbone (built-in weights and data); use it with an open_clip backbone such as --backbone ViT-B-16")
    for cls, section in ((task_cls, "task"), (method_cls, "method")):
        if hasattr(cls, "validate_config"):
            cls.validate_config(config[section])
    return task_cls, method_cls, config


def say_line(line: str) -> None:
    """One ``write`` per line: under torchrun the ranks share one pipe, and ``print`` (two writes when stdout is
    unbuffered) lets one rank's line land in the middle of another's."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def execute(req: RunRequest, say: Callable[[str], None] = say_line) -> list[dict[str, Any]]:
    task_cls, method_cls, config = resolve(req)
    shard = distributed.plan(req.shard, req.data_parallel, method_cls, req.method)
    report, say = say, shard.labelled(say)
    check_writable(req.results)
    device = env.choose_device(shard.device(req.device))
    distributed.start(shard, device)
    precision = env.choose_precision(device, req.precision)
    cache_dir = (req.cache_dir or default_cache_dir()).expanduser()
    check_writable_dir(cache_dir, "cache directory")
    for folder in (cache_dir, req.results):  # temporaries of killed runs (dmpbench.cachefiles)
        remove_stale_temporaries(folder)
    identity = {"data": data_identity(req.backbone, data_root_from(req.data_root)), "precision": precision, "device_type": device.type}
    world = make_world(req.backbone, req.pretrained, data_root_from(req.data_root), device)
    task = task_cls(config["task"], world)
    models = task.model_identity()
    if models:  # the weights behind the metrics beyond the CLIP backbone (records.record_identity reads them back)
        identity["models"] = models
    units = task.units(req.datasets)
    label = backbone_label(req.backbone, req.pretrained)

    say(f"world     : {world.name}" + ("  (built-in mini world; use --backbone ViT-B-16 --data-root DIR for the paper world)" if world.name == "mini" else ""))
    say(f"backbone  : {world.backbone.name}   device: {env.device_description(device)}   precision: {precision}")
    say(f"task      : {req.task}   method: {req.method}   datasets: {', '.join(units)}   seeds: {', '.join(map(str, req.seeds))}")
    say(f"results   : {req.results}   cache: {cache_dir}")
    grid = [(unit, seed) for unit in units for seed in req.seeds]
    if shard.describe():
        say(f"process   : {shard.describe()}; {len(shard.grid(grid))} of {len(grid)} unit(s) in this job")

    records: list[dict[str, Any]] = []
    for unit, seed in shard.mine(grid):
        path = record_path(req.results, req.task, req.method, label, unit, seed, config, identity)
        if path.exists() and not req.force:
            try:
                existing = read_record(path)
                if not matches(existing, config, identity):
                    raise DmpbenchError(f"record {path} does not match this run's configuration")
                records.append(existing)
                say(f"skip      : {unit} seed {seed} (record exists: {path.name}; --force reruns)")
                continue
            except DmpbenchError as exc:
                say(f"rerun     : {exc}")
        records.append(_run_unit(req, task, method_cls, config, world, unit, seed, device, precision, cache_dir, label, path, identity, shard))
        say(f"done      : {unit} seed {seed} -> {path}")
    distributed.stop(shard)
    if shard.world > 1:  # every rank has finished: rank 0 summarises the whole grid from the records on disk
        if not shard.is_main:
            return records
        records = [read_record(record_path(req.results, req.task, req.method, label, u, s, config, identity)) for u, s in shard.grid(grid)]
    report("")
    report(summary_table(records, task_cls.metrics))
    return records


def _run_unit(req, task, method_cls, config, world, unit, seed, device, precision, cache_dir, label, path, identity, shard) -> dict[str, Any]:
    env.seed_everything(seed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    ctx = RunContext(device=device, precision=precision, seed=seed, cache_dir=cache_dir, progress=req.progress, timer=PhaseTimer(device),
                     data_parallel=shard.lockstep)
    method = method_cls(world.backbone, config["method"], ctx)
    started = _dt.datetime.now(_dt.timezone.utc)
    metrics = task.run(unit, method, ctx)
    record = {
        "schema": SCHEMA,
        "task": req.task,
        "method": req.method,
        "backbone": label,
        "world": world.name,
        "dataset": unit,
        "seed": seed,
        "config": config,
        "key": run_key(req.task, req.method, label, unit, seed, config, identity),
        "data": identity["data"],
        "device_type": identity["device_type"],
        **({"models": identity["models"]} if "models" in identity else {}),
        "metrics": {ds: {m: round(float(v), 4) for m, v in vals.items()} for ds, vals in metrics.items()},
        "audit": ctx.audit,
        "timings": ctx.timer.as_dict(),
        "peak_gpu_memory_mb": env.peak_gpu_memory_mb(device),
        "device": env.device_description(device),
        "precision": precision,
        "versions": env.package_versions(),
        "git_revision": env.git_revision(),
        "started": started.isoformat(timespec="seconds"),
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if shard.writes:
        write_atomic(path, record)
    return record


def summary_table(records: list[dict[str, Any]], metric_order: tuple[str, ...]) -> str:
    """Mean over seeds per evaluated dataset (the leaderboard builder does the full tables)."""
    values: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        for ds, metrics in rec["metrics"].items():
            for m, v in metrics.items():
                values[(rec["method"], ds)][m].append(v)
    metrics_seen = sorted({m for v in values.values() for m in v}, key=lambda m: (metric_order.index(m) if m in metric_order else 99, m))
    rows = []
    for (method, ds), by_metric in values.items():
        n = max(len(v) for v in by_metric.values())
        rows.append([method, ds, n] + [f"{sum(by_metric[m]) / len(by_metric[m]):.2f}" if by_metric.get(m) else "" for m in metrics_seen])
    return tabulate(rows, headers=["method", "dataset", "seeds", *metrics_seen], tablefmt="github")

