"""The classifier module's core: jewelry category, metal and scene flags; listing scene,
room type and the per-photo signals that drive the listing graph's auto-select.

Hosted in-process (CLI, tests, eval) or by ``deployments/classifier.py``.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from lumograph.models.backends import BackendSelection, select_backend
from lumograph.models.jewelry_classifier import classify_jewelry
from lumograph.models.perspective import estimate_verticals
from lumograph.models.retouch import hotspot_share
from lumograph.models.room_grade import measure_cast
from lumograph.models.scene import ROOM_TYPES, classify_scene, detect_mirror

#: Client room labels: a room type, or "exterior" for the outside of the house.
CLIENT_ROOM_LABELS = (*ROOM_TYPES, "exterior")


class ClassifierCore:
    """Classifies jewelry and listing photos; ``backend`` reports what runs."""

    def __init__(self, backend: str = "auto", weights_dir: str | None = None):
        self.selection: BackendSelection = select_backend("classifier", backend, weights_dir)

    def classify_jewelry(self, proxy_rgb: np.ndarray) -> dict:
        """proxy_rgb: HxWx3 uint8 RGB, ~1024 px long side. Returns a JSON-able dict."""
        result = asdict(classify_jewelry(proxy_rgb))
        result["backend"] = self.selection.name
        return result

    def classify_scene(self, proxy_rgb: np.ndarray, room_hint: str | None = None) -> dict:
        """Scene, room type and auto-select signals of a listing photo.

        proxy_rgb: HxWx3 uint8 RGB (~1024 px long side). room_hint: a client label from
        ``CLIENT_ROOM_LABELS`` or None; it wins over the guess and is recorded as
        ``room_source="client"`` next to the guess. Returns ``{"scene", "scene_confidence",
        "room_type" (None for exteriors), "room_confidence", "room_scores", "room_source",
        "guess", "features", "signals", "backend"}``; ``signals`` holds ``hotspot_share``,
        ``mirror`` / ``mirror_present`` (box as fractions of width and height),
        ``verticals`` / ``tilt_deg`` / ``tilt_confidence``, ``cast_deg``,
        ``median_luminance`` and the cast measurement.
        """
        guess = classify_scene(proxy_rgb).to_dict()
        out = {k: guess[k] for k in ("scene", "scene_confidence", "room_type", "room_confidence",
                                     "room_scores", "features")}
        out["room_source"] = "classifier"
        out["guess"] = {"scene": guess["scene"], "room_type": guess["room_type"]}
        if room_hint:
            out["room_source"] = "client"
            if room_hint == "exterior":
                out.update(scene="exterior", room_type=None)
            else:
                out.update(scene="interior", room_type=room_hint)
        h, w = proxy_rgb.shape[:2]
        mirror = {"present": False, "bbox_norm": None, "confidence": 0.0}
        if out["scene"] == "interior":
            found = detect_mirror(proxy_rgb)
            box = found.bbox
            mirror = {"present": bool(found.present), "confidence": float(found.confidence),
                      "bbox_norm": None if box is None else
                      [box[0] / w, box[1] / h, box[2] / w, box[3] / h]}
        verticals = estimate_verticals(proxy_rgb)
        cast = measure_cast(proxy_rgb)
        out["signals"] = {
            "hotspot_share": float(hotspot_share(proxy_rgb)),
            "mirror": mirror,
            "mirror_present": mirror["present"],
            "verticals": verticals,
            "tilt_deg": float(verticals["tilt_deg"]),
            "roll_deg": float(verticals.get("roll_deg") or 0.0),
            "edge_lean_deg": float(verticals.get("edge_lean_deg") or 0.0),
            "tilt_confidence": float(verticals["confidence"]),
            "cast_deg": float(cast["cast_deg"]),
            "median_luminance": float(cast["median_luminance"]),
            "cast": cast,
        }
        out["backend"] = self.selection.name
        return out
