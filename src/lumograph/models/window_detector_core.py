"""The window detector module's core: find over-exposed windows on the proxy.

Only the classical detector exists today (``models.exposure.detect_windows``); a learned
one (YOLO) will register under ``LEARNED_BACKENDS["window_detector"]`` and be chosen
by ``backend: auto`` when its weights are present, with the same return contract.
"""
from __future__ import annotations

import numpy as np

from lumograph.models.backends import BackendSelection, select_backend
from lumograph.models.exposure import detect_windows


class WindowDetectorCore:
    def __init__(self, backend: str = "auto", weights_dir: str | None = None):
        self.selection: BackendSelection = select_backend("window_detector", backend, weights_dir)

    def detect_windows(self, proxy_rgb: np.ndarray, source_hw: tuple[int, int]) -> dict:
        """Find the blown-out windows of an interior photo.

        proxy_rgb: HxWx3 uint8 RGB proxy (~1024 px long side, never mutated).
        source_hw: (H, W) of the full-resolution photo the boxes are reported in.
        Returns ``models.exposure.detect_windows(...)`` (``windows`` with ``bbox`` in
        source pixels, ``stops_over_interior``, ``clipped_share``, ...; ``max_stops``;
        ``interior_mean_luminance``) plus ``"backend"``: the backend that ran.
        """
        result = detect_windows(proxy_rgb, source_hw)
        result["backend"] = self.selection.name
        return result
