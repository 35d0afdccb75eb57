"""The window detector module's core: find over-exposed windows on the proxy.

Two backends with one return contract:

* ``classical``: ``models.window_detector.classical.detect_windows`` (no weights);
* ``yolo``: an ultralytics YOLO model from ``<weights_dir>/yolo/windows.pt``
  (``models.window_detector.yolo``), built once here at start-up; its window boxes get the
  classical detector's exposure measurements, its mirror boxes go to ``mirrors``.

``backend: auto`` takes ``yolo`` when its weights are present.
"""
from __future__ import annotations

import numpy as np

from lumograph.models.common.backends import BackendSelection, select_backend
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.window_detector import yolo
from lumograph.models.window_detector.classical import detect_windows


class WindowDetectorCore:
    """backend: ``auto`` | ``classical`` | ``yolo``. weights_dir: the weights directory
    (``yolo`` reads ``<weights_dir>/yolo/windows.pt``). yolo_conf: the YOLO score
    threshold in [0, 1] (ignored by the classical backend).

    Raises ``BackendUnavailable`` naming the missing or unloadable path when ``yolo``
    is selected and cannot run."""

    def __init__(self, backend: str = "auto", weights_dir: str | None = None,
                 yolo_conf: float = yolo.DEFAULT_CONF):
        self.selection: BackendSelection = select_backend("window_detector", backend, weights_dir)
        if not (isinstance(yolo_conf, (int, float)) and 0.0 <= yolo_conf <= 1.0):
            raise InvalidOptions(f"yolo_conf must be a number in [0, 1], got {yolo_conf!r}")
        self.yolo_conf = float(yolo_conf)
        self.model = None
        if self.selection.name == yolo.BACKEND:
            # Loaded once per replica, not per request.
            self.model = yolo.YoloWindowModel(weights_dir)

    def detect_windows(self, proxy_rgb: np.ndarray, source_hw: tuple[int, int]) -> dict:
        """Find the blown-out windows of an interior photo.

        proxy_rgb: HxWx3 uint8 RGB proxy (~1024 px long side, never mutated).
        source_hw: (H, W) of the full-resolution photo the boxes are reported in.
        Returns ``models.window_detector.classical.detect_windows(...)`` (``windows`` with ``bbox`` in
        source pixels, ``stops_over_interior``, ``clipped_share``, ...; ``max_stops``;
        ``interior_mean_luminance``) plus ``"backend"``: the backend that ran. The
        ``yolo`` backend returns the same keys (see ``yolo.windows_report``:
        window ``confidence`` is the detector's score) plus ``"detector": "yolo"``,
        ``"mirrors"`` ([{"bbox", "bbox_norm", "confidence"}]), ``"lamps"`` (light fixtures,
        which day-to-dusk switches on), ``"people"`` (persons, which the MLS people check
        flags) and ``"others"``.
        """
        if self.model is None:
            result = detect_windows(proxy_rgb, source_hw)
        else:
            detections = self.model.detect(proxy_rgb, source_hw, conf=self.yolo_conf)
            result = yolo.windows_report(proxy_rgb, source_hw, detections)
        result["backend"] = self.selection.name
        return result
