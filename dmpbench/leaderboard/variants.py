"""Which records may be averaged together: only those made with the same resolved configuration.

Policy (README "Leaderboards"): records of one (task, method, backbone) with different resolved
settings are never averaged as if they were extra seeds. Each configuration is its own row, labelled
with what makes it different:

* the settings that differ from the defaults the method and task declare for the record's world, e.g.
  ``coop [method.epochs=3]`` (the default configuration keeps the bare method name, so it is the row
  compared with the papers' cells; a variant is compared only with pins written for it);
* when two configurations still share a label (same settings but other data, precision or device type,
  or a method whose defaults are unknown because its plugin is not installed), the fields that differ
  are added: ``[precision=bf16]``, ``[data=/other/root]``, ``[device=cuda]``, else ``[config <hash>]``.

Settings a method declares in ``audit_settings`` (e.g. coop's ``convergence_check``, which only adds
a check to the audit and never changes the metrics) do not split rows: a seed run with the check and
one without are the same configuration.

Two records of the same row and seed (e.g. a copy, or one written before the record key covered the
data) are one result: the most recently finished is kept and the others are reported as skipped.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from dmpbench.context import stable_hash
from dmpbench.errors import DmpbenchError
from dmpbench.registry import METHODS, TASKS
from dmpbench.runner.records import Problem, record_identity


def _defaults(kind: str, name: str, world: str) -> dict[str, Any] | None:
    registry = TASKS if kind == "task" else METHODS
    if name not in registry.names():
        return None
    try:
        cls = registry.get(name)
    except DmpbenchError:
        return None
    return {**getattr(cls, "default_config", {}), **getattr(cls, "world_defaults", {}).get(world, {})}


def _audit_settings(method: str) -> tuple[str, ...]:
    """The method's settings that only add checks to the audit (they never change a metric)."""
    if method not in METHODS.names():
        return ()
    try:
        return tuple(getattr(METHODS.get(method), "audit_settings", ()))
    except DmpbenchError:
        return ()


def comparable_config(record: dict[str, Any]) -> dict[str, Any]:
    """The record's configuration without the method's audit-only settings, and with the settings it
    lacks filled in from today's defaults: a setting added to a method later defaults to the behaviour
    before it existed, so a record made before it and one made with its default are one configuration."""
    audit_only = _audit_settings(record["method"])
    config = dict(record["config"])
    for section, name in (("task", record["task"]), ("method", record["method"])):
        defaults = _defaults(section, name, record.get("world", "")) or {}
        config[section] = {**defaults, **config.get(section, {})}
    config["method"] = {k: v for k, v in config["method"].items() if k not in audit_only}
    return config


def _show(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")) if not isinstance(value, str) else value


def settings_label(record: dict[str, Any]) -> str | None:
    """``section.key=value`` for every setting that differs from the declared default; None when the
    defaults are unknown. Settings a record lacks (added to the method later) count as defaults."""
    parts = []
    for section, name in (("task", record["task"]), ("method", record["method"])):
        defaults = _defaults(section, name, record.get("world", ""))
        if defaults is None:
            return None
        for key, value in sorted(comparable_config(record)[section].items()):
            if key not in defaults or _show(defaults[key]) != _show(value):
                parts.append(f"{section}.{key}={_show(value)}")
    return ", ".join(parts)


def _data_text(data: Any) -> str:
    if not data:
        return "unrecorded"
    if isinstance(data, dict):
        return str(data.get("root") or "+".join(f"{k}:{v}" for k, v in sorted(data.items())))
    return str(data)


def label_records(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Records with ``row`` (method name plus its configuration label) set, duplicates dropped."""
    for rec in records:
        rec["_identity"] = record_identity(rec)
        rec["_setting"] = stable_hash({"config": comparable_config(rec), "identity": rec["_identity"]})
        rec["_label"] = settings_label(rec)
    by_row: dict[tuple, list[dict]] = defaultdict(list)
    for rec in records:
        by_row[(rec["task"], rec["method"], rec["backbone"], rec.get("world", ""), rec["_label"])].append(rec)
    for group in by_row.values():
        settings = {r["_setting"]: r for r in group}
        for rec in group:
            parts = [rec["_label"]] if rec["_label"] else []
            if len(settings) > 1:
                others = list(settings.values())
                for field, text in (("precision", str), ("device_type", str), ("data", _data_text)):
                    values = {text(o["_identity"][field]) for o in others}
                    if len(values) > 1:
                        parts.append(f"{'device' if field == 'device_type' else field}={text(rec['_identity'][field])}")
                if len(parts) == (1 if rec["_label"] else 0):  # nothing above tells them apart
                    parts.append(f"config {rec['_setting'][:6]}")
            rec["row"] = rec["method"] + (f" [{'; '.join(parts)}]" if parts else "")
    kept: dict[tuple, dict] = {}
    problems = []
    for rec in records:
        key = (rec["task"], rec["row"], rec["backbone"], rec.get("world", ""), rec["dataset"], rec["seed"])
        other = kept.get(key)
        if other is None:
            kept[key] = rec
            continue
        newer, older = (rec, other) if str(rec.get("finished", "")) >= str(other.get("finished", "")) else (other, rec)
        kept[key] = newer
        problems.append(Problem(older.get("_path", "?"), f"duplicate of {newer.get('_path', '?')} (same row and seed); not counted"))
    return list(kept.values()), problems
