"""Every deployment method that forwards to its core's method of the same name accepts
every parameter the core's method takes: the graphs call the deployments through handles
with the core's arguments, so a parameter added to a core and not to its deployment only
fails at serve time (a 500 from the replica)."""
import importlib
import inspect
import pkgutil

import pytest

import lumograph.deployments as deployments_pkg


def _deployment_classes():
    for info in pkgutil.iter_modules(deployments_pkg.__path__):
        module = importlib.import_module(f"lumograph.deployments.{info.name}")
        for obj in vars(module).values():
            cls = getattr(obj, "func_or_class", None)
            core = getattr(cls, "core_class", None) if inspect.isclass(cls) else None
            if core is not None and cls.__module__ == module.__name__:
                yield cls, core


CASES = [(cls, core, name) for cls, core in _deployment_classes()
         for name, fn in vars(cls).items()
         if inspect.isfunction(fn) and not name.startswith("_") and callable(getattr(core, name, None))]


def test_the_deployments_are_found():
    assert {cls.__name__ for cls, _, _ in CASES} >= {"QualityGate", "Classifier", "Inpainter", "Compositor"}


@pytest.mark.parametrize("cls,core,name", CASES, ids=[f"{c.__name__}.{n}" for c, _, n in CASES])
def test_a_forwarding_method_takes_every_parameter_of_the_core(cls, core, name):
    mine = inspect.signature(getattr(cls, name)).parameters
    theirs = inspect.signature(getattr(core, name)).parameters
    if any(p.kind == p.VAR_KEYWORD for p in mine.values()):
        theirs = {k: p for k, p in theirs.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                  and p.default is p.empty}
    missing = [k for k, p in theirs.items() if k != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               and k not in mine]
    assert not missing, f"{cls.__name__}.{name} does not take {missing} that {core.__name__}.{name} takes"
