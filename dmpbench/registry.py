"""One generic plugin registry (lm-evaluation-harness style).

Three ways a plugin gets in, all ending in the same ``Registry``:

* ``@METHODS.register("name")`` on the class, where it is defined (Dassl style);
* a lazy ``"module:Class"`` entry in ``dmpbench/catalog.py``, so that ``dmpbench list`` never imports torch;
* an entry point in another installed package (groups ``dmpbench.methods``, ``dmpbench.tasks``,
  ``dmpbench.backbones``, ``dmpbench.datasets``) whose value is ``"module:Class"``.

Importing the target happens only in ``get``. A lazy entry whose module registers the same name with the
decorator is fine: the decorated object wins, so both can coexist.
"""

from __future__ import annotations

import difflib
import importlib
from importlib import metadata
from typing import Any, Callable

from dmpbench.errors import DmpbenchError


class Registry:
    def __init__(self, kind: str, entry_point_group: str | None = None):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._objects: dict[str, Any] = {}
        self._lazy: dict[str, str] = {}
        self._summaries: dict[str, str] = {}
        self._sources: dict[str, str] = {}
        self._entry_points_loaded = False

    # -- registration -------------------------------------------------------------------------
    def register(self, name: str, summary: str | None = None) -> Callable[[Any], Any]:
        """Class decorator: ``@METHODS.register("coop")``."""

        def decorate(obj: Any) -> Any:
            previous = self._objects.get(name)
            if previous is not None and previous is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice ({previous!r} and {obj!r})")
            self._objects[name] = obj
            if summary:
                self._summaries[name] = summary
            elif name not in self._summaries:
                self._summaries[name] = _first_doc_line(obj)
            self._sources.setdefault(name, "dmpbench")
            return obj

        return decorate

    def register_lazy(self, name: str, target: str, summary: str = "", source: str = "dmpbench") -> None:
        """Map ``name`` to ``"package.module:Attribute"`` without importing it."""
        if ":" not in target:
            raise ValueError(f"lazy target must look like 'module:Attribute', got {target!r}")
        self._lazy[name] = target
        self._summaries.setdefault(name, summary)
        self._sources[name] = source

    # -- lookup -------------------------------------------------------------------------------
    def _load_entry_points(self) -> None:
        if self._entry_points_loaded or not self.entry_point_group:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=self.entry_point_group):
            if ep.name in self._lazy or ep.name in self._objects:
                continue  # the built-in name wins; a plugin cannot silently replace it
            dist = getattr(ep, "dist", None)
            source = f"plugin {dist.name}" if dist is not None else "plugin"
            self.register_lazy(ep.name, ep.value, summary="", source=source)

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(set(self._objects) | set(self._lazy))

    def summary(self, name: str) -> str:
        return self._summaries.get(name, "")

    def source(self, name: str) -> str:
        return self._sources.get(name, "dmpbench")

    def __contains__(self, name: str) -> bool:
        return name in self.names()

    def get(self, name: str) -> Any:
        self._load_entry_points()
        if name in self._objects:
            return self._objects[name]
        if name not in self._lazy:
            raise DmpbenchError(self.unknown_message(name))
        module_name, _, attr = self._lazy[name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise DmpbenchError(f"{self.kind} {name!r} cannot be imported from {module_name!r}: {exc}") from exc
        if name in self._objects:  # the module registered itself with the decorator
            return self._objects[name]
        try:
            obj = getattr(module, attr)
        except AttributeError as exc:
            raise DmpbenchError(f"{self.kind} {name!r}: module {module_name!r} has no attribute {attr!r}") from exc
        self._objects[name] = obj
        if not self._summaries.get(name):
            self._summaries[name] = _first_doc_line(obj)
        return obj

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}{hint} (known: {', '.join(self.names())})"


def _first_doc_line(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


TASKS = Registry("task", "dmpbench.tasks")
METHODS = Registry("method", "dmpbench.methods")
BACKBONES = Registry("backbone", "dmpbench.backbones")
DATASETS = Registry("dataset", "dmpbench.datasets")

REGISTRIES = {"tasks": TASKS, "methods": METHODS, "backbones": BACKBONES, "datasets": DATASETS}


def _register_builtins() -> None:
    from dmpbench.catalog import BUILTINS

    for kind, name, target, summary in BUILTINS:
        REGISTRIES[kind].register_lazy(name, target, summary)


_register_builtins()
