"""Choosing a module's backend: ``auto``, ``classical`` or a named learned backend.

Each module package states its backends explicitly in its ``__init__.py``
(``BACKENDS = {"classical": Backend(...), "sam": Backend(...)}``); nothing registers
itself as an import side effect. A learned backend's module is imported only when its
weights are checked or it is loaded, and that import is cheap (no torch): the learned
library itself is imported inside its loader.

``auto`` takes a learned backend when its weights are present under the weights
directory, else the classical twin; naming a learned backend whose weights are absent
fails loudly at start-up. The choice and its reason go into ``/healthz`` and every
report, so an operator always knows what ran.
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lumograph.models.common.errors import BackendUnavailable

#: The module packages under ``lumograph.models``, one per deployment.
MODULES = ("classifier", "segmenter", "window_detector", "grader", "compositor", "inpainter", "qa")
CLASSICAL = "classical"


@dataclass(frozen=True)
class Backend:
    """One backend of a module. module: dotted path of the file holding its code; a
    learned backend's module offers ``missing_weights(weights_dir) -> str | None`` (the
    first missing path, or None) and ``describe_weights(weights_dir) -> dict``."""

    name: str
    module: str
    learned: bool = False

    def code(self):
        """The backend's module (imported on first use)."""
        return importlib.import_module(self.module)

    def missing_weights(self, weights_dir: Path) -> str | None:
        """None when the weights are complete under ``weights_dir`` (always, for a classical backend)."""
        return self.code().missing_weights(Path(weights_dir)) if self.learned else None


def module_backends(module: str) -> Mapping[str, Backend]:
    """``BACKENDS`` declared by ``lumograph.models.<module>`` (raises ``KeyError`` for an unknown module)."""
    if module not in MODULES:
        raise KeyError(f"unknown module {module!r}; known: {list(MODULES)}")
    return importlib.import_module(f"lumograph.models.{module}").BACKENDS


def learned_backends(module: str) -> dict[str, Backend]:
    """The learned backends of ``module``, in declaration order (auto tries them in this order)."""
    return {name: b for name, b in module_backends(module).items() if b.learned}


@dataclass(frozen=True)
class BackendSelection:
    """The backend a module runs and why (both strings go into reports)."""

    module: str
    name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"module": self.module, "backend": self.name, "reason": self.reason}


def select_backend(module: str, requested: str, weights_dir: str | None) -> BackendSelection:
    """Resolve ``requested`` (``auto`` | ``classical`` | learned name) for ``module``.

    Raises ``BackendUnavailable`` naming the missing path when a learned backend is
    requested explicitly and cannot run, or when the name is unknown.
    """
    learned = learned_backends(module)
    if requested == CLASSICAL:
        return BackendSelection(module, "classical", "configured")
    root = Path(weights_dir) if weights_dir else None
    if requested == "auto":
        if root is None:
            return BackendSelection(module, "classical", "auto: no weights directory configured")
        for name, backend in learned.items():
            missing = backend.missing_weights(root)
            if missing is None:
                return BackendSelection(module, name, f"auto: weights found under {root}")
        if not learned:
            return BackendSelection(module, "classical", "auto: this module has no learned backend")
        return BackendSelection(module, "classical", f"auto: no learned weights under {root}")
    if requested not in learned:
        known = ["auto", "classical", *learned]
        raise BackendUnavailable(
            f"{module}: unknown backend {requested!r}; known: {known}", code="unknown_backend"
        )
    if root is None:
        raise BackendUnavailable(f"{module}: backend {requested!r} needs weights_dir", code="weights_missing")
    missing = learned[requested].missing_weights(root)
    if missing is not None:
        raise BackendUnavailable(
            f"{module}: backend {requested!r} weights missing: {missing}", code="weights_missing"
        )
    return BackendSelection(module, requested, f"configured; weights under {root}")
