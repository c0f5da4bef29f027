"""Run records: one JSON file per (task, method, backbone, dataset, seed, config), the single source of
truth for leaderboards. Written atomically (temporary file in the same directory, fsync, ``os.replace``):
a run killed at any moment leaves either no record or a complete one."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmpbench.context import stable_hash
from dmpbench.errors import DmpbenchError

SCHEMA = 1
REQUIRED = ("schema", "task", "method", "backbone", "dataset", "seed", "config", "metrics")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "_"


def run_key(task: str, method: str, backbone: str, dataset: str, seed: int, config: dict) -> str:
    return stable_hash({"task": task, "method": method, "backbone": backbone, "dataset": dataset, "seed": seed, "config": config})


def record_path(results: Path, task: str, method: str, backbone: str, dataset: str, seed: int, config: dict) -> Path:
    key = run_key(task, method, backbone, dataset, seed, config)
    return results / slug(task) / slug(method) / slug(backbone) / slug(dataset) / f"seed{seed}-{key}.json"


def check_writable(results: Path) -> None:
    """Fail early, before any work, when the results directory cannot be written."""
    try:
        results.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=results, prefix=".probe-", delete=True):
            pass
    except OSError as exc:
        raise DmpbenchError(f"results directory {results} is not writable: {exc.strerror or exc}") from exc


def write_atomic(path: Path, payload: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=_jsonable) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Temporary file in the same directory, fsync, ``os.replace``: all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@dataclass
class Problem:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def read_record(path: Path) -> dict[str, Any]:
    """One record, validated; raises ``DmpbenchError`` naming the file when it is malformed."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise DmpbenchError(f"malformed record {path}: cannot read it ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise DmpbenchError(f"malformed record {path}: invalid JSON at line {exc.lineno}") from exc
    if not isinstance(data, dict):
        raise DmpbenchError(f"malformed record {path}: not a JSON object")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise DmpbenchError(f"malformed record {path}: missing {', '.join(missing)}")
    if not isinstance(data["metrics"], dict) or not all(isinstance(v, dict) for v in data["metrics"].values()):
        raise DmpbenchError(f"malformed record {path}: metrics must map dataset -> {{metric: value}}")
    for ds, values in data["metrics"].items():
        for metric, value in values.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise DmpbenchError(f"malformed record {path}: metric {ds}/{metric} is not a number")
    return data


def load_records(results: Path) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Every record under ``results`` plus the malformed ones (reported by file name, never crashed on)."""
    records, problems = [], []
    if not results.exists():
        return records, problems
    for path in sorted(results.rglob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            record = read_record(path)
        except DmpbenchError as exc:
            problems.append(Problem(path, str(exc).split(": ", 1)[-1]))
            continue
        record["_path"] = str(path)
        records.append(record)
    return records, problems
