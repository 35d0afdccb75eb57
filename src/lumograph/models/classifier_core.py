"""The classifier module's core: product category, metal and scene flags.

Hosted in-process (CLI, tests, eval) or by ``deployments/classifier.py``.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from lumograph.models.backends import BackendSelection, select_backend
from lumograph.models.jewelry_classifier import classify_jewelry


class ClassifierCore:
    """Classifies jewelry photos; ``backend`` reports what runs."""

    def __init__(self, backend: str = "auto", weights_dir: str | None = None):
        self.selection: BackendSelection = select_backend("classifier", backend, weights_dir)

    def classify_jewelry(self, proxy_rgb: np.ndarray) -> dict:
        """proxy_rgb: HxWx3 uint8 RGB, ~1024 px long side. Returns a JSON-able dict."""
        result = asdict(classify_jewelry(proxy_rgb))
        result["backend"] = self.selection.name
        return result
