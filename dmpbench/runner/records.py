"""Run records: one JSON file per (task, method, backbone, dataset, seed, config), the single source of
truth for leaderboards. Written atomically (temporary file in the same directory, fsync, ``os.replace``):
a run killed at any moment leaves either no record or a complete one."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dmpbench.cachefiles import check_writable_dir, write_text
from dmpbench.context import stable_hash
from dmpbench.errors import DmpbenchError

#: 2: records carry ``data`` and ``device_type`` and their key covers data, precision and device type
SCHEMA = 2
REQUIRED = ("schema", "task", "method", "backbone", "dataset", "seed", "config", "metrics")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", text).strip("_") or "_"


def run_key(task: str, method: str, backbone: str, dataset: str, seed: int, config: dict, identity: dict | None = None) -> str:
    """What determines a result: the run's coordinates, its resolved configuration and, from schema 2 on,
    ``identity`` = {"data": the data's identity, "precision": ..., "device_type": "cpu"/"cuda"} and, for tasks
    that run other weights than the CLIP backbone, {"models": Task.model_identity()}."""
    coords = {"task": task, "method": method, "backbone": backbone, "dataset": dataset, "seed": seed, "config": config}
    return stable_hash({**coords, **({"identity": identity} if identity is not None else {})})


def record_path(results: Path, task: str, method: str, backbone: str, dataset: str, seed: int, config: dict, identity: dict | None = None) -> Path:
    key = run_key(task, method, backbone, dataset, seed, config, identity)
    return results / slug(task) / slug(method) / slug(backbone) / slug(dataset) / f"seed{seed}-{key}.json"


def record_identity(record: dict[str, Any]) -> dict[str, Any]:
    """The identity part of a record's key (records of schema 1 predate it: their data is unknown)."""
    device = record.get("device_type") or str(record.get("device", "")).split(":", 1)[0] or None
    models = {"models": record["models"]} if record.get("models") else {}
    return {"data": record.get("data"), "precision": record.get("precision"), "device_type": device, **models}


def check_writable(results: Path) -> None:
    """Fail early, before any work, when the results directory cannot be written."""
    check_writable_dir(results, "results directory")


def write_atomic(path: Path, payload: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=_jsonable) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Unique temporary file in the same directory, fsync, ``os.replace``: all or nothing (``dmpbench.cachefiles``)."""
    write_text(path, text)


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
    for name in ("task", "method", "backbone", "dataset"):
        if not isinstance(data[name], str) or not data[name]:
            raise DmpbenchError(f"malformed record {path}: {name} must be a non-empty string")
    if "world" in data and not isinstance(data["world"], str):
        raise DmpbenchError(f"malformed record {path}: world must be a string")
    if isinstance(data["seed"], bool) or not isinstance(data["seed"], int) or data["seed"] < 0:
        raise DmpbenchError(f"malformed record {path}: seed must be a non-negative integer")
    config = data["config"]
    if not isinstance(config, dict) or not all(isinstance(config.get(s), dict) for s in ("task", "method")):
        raise DmpbenchError(f"malformed record {path}: config must hold the resolved 'task' and 'method' settings")
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
            problems.append(Problem(path, "malformed: " + str(exc).split(": ", 1)[-1]))
            continue
        record["_path"] = str(path)
        records.append(record)
    return records, problems


def matches(record: dict[str, Any], config: dict, identity: dict) -> bool:
    """Whether an existing record was made with exactly this configuration and identity (resume trusts
    only such records; a hand-edited or stale one is rerun)."""
    same_config = json.loads(json.dumps(record.get("config"), default=str)) == json.loads(json.dumps(config, default=str))
    return same_config and record_identity(record) == identity
