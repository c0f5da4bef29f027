import pytest

from dmpbench.catalog import BUILTINS
from dmpbench.errors import DmpbenchError
from dmpbench.registry import METHODS, REGISTRIES, Registry


def test_decorator_and_lazy_entries():
    reg = Registry("thing")
    reg.register_lazy("lazy", "collections:OrderedDict", "an ordered dict")

    @reg.register("eager")
    class Eager:
        """Eager thing."""

    assert reg.names() == ["eager", "lazy"]
    assert reg.get("eager") is Eager
    assert reg.summary("eager") == "Eager thing."
    import collections

    assert reg.get("lazy") is collections.OrderedDict


def test_registering_two_objects_under_one_name_fails():
    reg = Registry("thing")
    reg.register("a")(int)
    with pytest.raises(ValueError):
        reg.register("a")(str)


def test_unknown_name_suggests_the_closest():
    with pytest.raises(DmpbenchError, match=r"unknown method 'dmp_cop'; did you mean 'dmp_coop'"):
        METHODS.get("dmp_cop")


def test_lazy_target_that_cannot_import_is_a_clear_error():
    reg = Registry("thing")
    reg.register_lazy("broken", "no_such_module_xyz:Thing")
    with pytest.raises(DmpbenchError, match="cannot be imported"):
        reg.get("broken")


@pytest.mark.parametrize("kind,name,target,summary", BUILTINS)
def test_catalog_agrees_with_the_decorators(kind, name, target, summary):
    """The lazy map and the decorator name the same class; the decorator's summary matches."""
    import importlib

    module, _, attr = target.partition(":")
    obj = getattr(importlib.import_module(module), attr)
    assert REGISTRIES[kind].get(name) is obj
    declared = getattr(obj, "name", name)
    if isinstance(declared, str):  # methods and tasks declare their registry name (backbones compute theirs)
        assert declared == name
