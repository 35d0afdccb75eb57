"""Choosing a module's backend: ``auto``, ``classical`` or a named learned backend.

``auto`` takes a learned backend when its weights are present under the weights
directory, else the classical twin; naming a learned backend whose weights are absent
fails loudly at start-up. The choice and its reason go into ``/healthz`` and every
report, so an operator always knows what ran.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lumograph.models.errors import BackendUnavailable

#: module name -> learned backend name -> function(weights_dir) returning the missing
#: path (str) or None when the weights are all there. Learned backends register here.
LEARNED_BACKENDS: dict[str, dict[str, Callable[[Path], str | None]]] = {}


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
    learned = LEARNED_BACKENDS.get(module, {})
    if requested == "classical":
        return BackendSelection(module, "classical", "configured")
    root = Path(weights_dir) if weights_dir else None
    if requested == "auto":
        if root is None:
            return BackendSelection(module, "classical", "auto: no weights directory configured")
        for name, missing_path in learned.items():
            missing = missing_path(root)
            if missing is None:
                return BackendSelection(module, name, f"auto: weights found under {root}")
        if not learned:
            return BackendSelection(module, "classical", "auto: no learned backend registered for this module")
        return BackendSelection(module, "classical", f"auto: no learned weights under {root}")
    if requested not in learned:
        known = ["auto", "classical", *learned]
        raise BackendUnavailable(
            f"{module}: unknown backend {requested!r}; known: {known}", code="unknown_backend"
        )
    if root is None:
        raise BackendUnavailable(f"{module}: backend {requested!r} needs weights_dir", code="weights_missing")
    missing = learned[requested](root)
    if missing is not None:
        raise BackendUnavailable(
            f"{module}: backend {requested!r} weights missing: {missing}", code="weights_missing"
        )
    return BackendSelection(module, requested, f"configured; weights under {root}")
