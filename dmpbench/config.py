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


def check_keys(kind: str, name: str, given: dict[str, Any], defaults: dict[str, Any], ranges: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults overridden by ``given``; an unknown key, a value of the wrong type or out of its range is a
    one-line error (``check_values``)."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults)) or "none"
        raise DmpbenchError(f"{kind} {name!r} has no setting {unknown[0]!r} (settings: {known})")
    return check_values(kind, name, {**defaults, **given}, defaults, ranges)


# -- values: types from the declared defaults, ranges from the declaring class --------------------------
#
# The one rule for every task, method and world default (checked before any model is loaded):
#  * the type comes from the default: an int default takes an int (not a bool, not 3.0); a float default
#    takes an int or a float (stored as float, so ``lr=1`` and ``lr=1.0`` are the same configuration);
#    a bool default takes only true/false; a str default only a string; a list default only a list (of
#    strings when the default's items are strings or the list is empty); a None default takes anything.
#  * ``ranges`` (a class attribute of tasks and methods) adds bounds: ``">=1"``, ``">0"``, ``"0..1"``
#    (inclusive) or a tuple of allowed values.

SEED_MAX = 2**32 - 1


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}.get(type(value), type(value).__name__)


def coerce_value(kind: str, name: str, key: str, value: Any, default: Any) -> Any:
    """``value`` checked against the type of ``default`` (see the rule above); floats normalised."""
    where = f"{kind} {name!r} setting {key!r}"
    if default is None:
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
            if value != value or value in (float("inf"), float("-inf")):
                raise DmpbenchError(f"{where} must be a finite number, got {value}")
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, list) and (
            not all(isinstance(d, str) for d in default) or all(isinstance(v, str) for v in value)
        )
        if ok:
            value = list(value)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        expected = _type_name(default) + (" of strings" if isinstance(default, (list, tuple)) else "")
        hint = " (e.g. [a,b])" if isinstance(default, (list, tuple)) else ""
        raise DmpbenchError(f"{where} must be {expected}{hint}, got {value!r}")
    return value


def check_range(kind: str, name: str, key: str, value: Any, rule: Any) -> None:
    where = f"{kind} {name!r} setting {key!r}"
    if isinstance(rule, (tuple, list, frozenset, set)):
        if value not in rule:
            raise DmpbenchError(f"{where} must be one of {', '.join(map(repr, rule))}, got {value!r}")
        return
    text = str(rule).replace(" ", "")
    if ".." in text:
        lo, hi = (float(x) for x in text.split(".."))
        ok, wanted = lo <= value <= hi, f"between {text.replace('..', ' and ')}"
    elif text.startswith(">="):
        ok, wanted = value >= float(text[2:]), f">= {text[2:]}"
    elif text.startswith(">"):
        ok, wanted = value > float(text[1:]), f"> {text[1:]}"
    else:
        raise ValueError(f"unknown range rule {rule!r} for {where}")  # a bug in the declaring class
    if not ok:
        raise DmpbenchError(f"{where} must be {wanted}, got {value!r}")


def check_values(kind: str, name: str, values: dict[str, Any], defaults: dict[str, Any], ranges: dict[str, Any] | None = None) -> dict[str, Any]:
    """``values`` (every key known) with types checked and normalised, and ranges checked."""
    out = {k: coerce_value(kind, name, k, v, defaults.get(k)) for k, v in values.items()}
    for key, rule in (ranges or {}).items():
        if key in out and out[key] is not None:
            check_range(kind, name, key, out[key], rule)
    return out


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise DmpbenchError(f"invalid seed {seed}: seeds are integers from 0 to {SEED_MAX}")
    return seed
