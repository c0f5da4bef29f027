"""Run configuration: a YAML file (``--config``) plus ``--set section.key=value`` overrides.

The resolved configuration has three sections, ``task``, ``method`` and ``backbone``; each task, method
and backbone declares its defaults and rejects keys it does not know. Values given to ``--set`` are parsed
as YAML scalars (``4`` -> int, ``0.5`` -> float, ``true`` -> bool, ``[1,2]`` -> list).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dmpbench.errors import DmpbenchError

SECTIONS = ("task", "method", "backbone")


def load_config_file(path: str | Path) -> dict[str, dict[str, Any]]:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DmpbenchError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise DmpbenchError(f"config file {path} is not valid YAML{where}") from exc
    if not isinstance(data, dict):
        raise DmpbenchError(f"config file {path} must be a mapping with sections {', '.join(SECTIONS)}")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise DmpbenchError(f"config file {path}: unknown section {unknown[0]!r} (sections: {', '.join(SECTIONS)})")
    out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for section, values in data.items():
        if values is None:
            continue
        if not isinstance(values, dict):
            raise DmpbenchError(f"config file {path}: section {section!r} must be a mapping")
        out[section] = dict(values)
    return out


def parse_set(assignments: list[str] | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for raw in assignments or []:
        key, sep, value = raw.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name or section not in SECTIONS:
            raise DmpbenchError(
                f"invalid --set {raw!r}: expected section.key=value with section one of {', '.join(SECTIONS)} "
                "(e.g. --set method.epochs=10)"
            )
        try:
            out[section][name] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as exc:
            raise DmpbenchError(f"invalid --set {raw!r}: the value is not a valid scalar") from exc
    return out


def merge(*configs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    for cfg in configs:
        for section in SECTIONS:
            out[section].update(cfg.get(section, {}))
    return out


def check_keys(kind: str, name: str, given: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Defaults overridden by ``given``; an unknown key is a one-line error."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults)) or "none"
        raise DmpbenchError(f"{kind} {name!r} has no setting {unknown[0]!r} (settings: {known})")
    return {**defaults, **given}
