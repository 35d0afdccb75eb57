"""The classifier module's core: jewelry category, metal and scene flags; listing scene,
room type and the per-photo signals that drive the listing graph's auto-select.

Hosted in-process (CLI, tests, eval) or by ``deployments/classifier.py``.

Backends: ``classical`` (shape, colour and line measurements) or ``clip`` (CLIP
zero-shot, ``lumograph.models.classifier.clip_zero_shot``, weights under ``weights_dir/clip``).
With ``clip`` the scene, room type, jewelry category and metal come from CLIP; the
classical answers are still computed, reported under ``"classical"`` as a sanity check
with ``"agrees"``, and every other signal (hot-spots, mirror, verticals, cast, skin,
background, pieces) stays classical.
"""
from __future__ import annotations

from dataclasses import asdict

import numpy as np

from lumograph.models.classifier import clip_zero_shot
from lumograph.models.classifier.jewelry import classify_jewelry
from lumograph.models.classifier.scene import ROOM_TYPES, analyse_scene, detect_mirror
from lumograph.models.common.backends import BackendSelection, select_backend
from lumograph.models.compositor.verticals import estimate_verticals
from lumograph.models.grader.room_grade import measure_cast
from lumograph.models.inpainter.glare import hotspot_signals

#: Client room labels: a room type, or "exterior" for the outside of the house.
CLIENT_ROOM_LABELS = (*ROOM_TYPES, "exterior")


class ClassifierCore:
    """Classifies jewelry and listing photos; ``backend`` reports what runs."""

    def __init__(self, backend: str = "auto", weights_dir: str | None = None):
        self.selection: BackendSelection = select_backend("classifier", backend, weights_dir)
        # Loaded once here (replica start), never per request.
        self._clip: clip_zero_shot.ClipZeroShot | None = None
        if self.selection.name == clip_zero_shot.BACKEND_NAME:
            self._clip = clip_zero_shot.load_clip(weights_dir)

    def classify_jewelry(self, proxy_rgb: np.ndarray) -> dict:
        """Category, metal and scene flags of a jewelry photo.

        proxy_rgb: HxWx3 uint8 RGB, ~1024 px long side; not modified. Returns a JSON-able
        dict with the fields of ``JewelryClassification`` (category, category_confidence,
        metal, metal_confidence, skin_fraction, on_model, busy_background,
        background_complexity, multiple_pieces, n_pieces) and ``backend``. With ``clip``:
        category and metal (and their confidences) come from CLIP, ``scores`` holds
        ``{"category": {label: p}, "metal": {label: p}}``, ``classical`` holds the classical
        ``{"category", "metal"}`` and ``agrees`` is True when both match; the flags stay
        classical. Raises ``InvalidImage`` for a bad image.
        """
        result = asdict(classify_jewelry(proxy_rgb))
        if self._clip is not None:
            scores = self._clip.zero_shot_many(proxy_rgb, ("jewelry_category", "metal"))
            category, category_p = clip_zero_shot.top_label(scores["jewelry_category"])
            metal, metal_p = clip_zero_shot.top_label(scores["metal"])
            result["classical"] = {"category": result["category"], "metal": result["metal"]}
            result.update(category=category, category_confidence=category_p, metal=metal, metal_confidence=metal_p,
                          scores={"category": scores["jewelry_category"], "metal": scores["metal"]})
            result["agrees"] = result["classical"] == {"category": category, "metal": metal}
        result["backend"] = self.selection.name
        return result

    def classify_scene(self, proxy_rgb: np.ndarray, room_hint: str | None = None) -> dict:
        """Scene, room type and auto-select signals of a listing photo.

        proxy_rgb: HxWx3 uint8 RGB (~1024 px long side). room_hint: a client label from
        ``CLIENT_ROOM_LABELS`` or None; it wins over the guess and is recorded as
        ``room_source="client"`` next to the guess. Returns ``{"scene", "scene_confidence",
        "room_type" (None for exteriors), "room_confidence", "room_scores", "room_source",
        "guess", "features", "signals", "backend"}``; ``signals`` holds ``hotspot_share`` and
        ``hotspot_largest_share``, ``mirror`` / ``mirror_present`` (box as fractions of width and height),
        ``verticals`` / ``tilt_deg`` / ``tilt_confidence``, ``cast_deg``,
        ``median_luminance`` and the cast measurement.

        With ``clip``: scene, scene_confidence, room_type, room_confidence and room_scores
        (and ``guess``) come from CLIP, ``features["clip"]`` holds its ``scene_scores`` and
        ``room_scores``, ``classical`` holds the classical ``{"scene", "room_type"}`` and
        ``agrees`` is True when both match the CLIP guess; the signals stay classical.
        Raises ``InvalidImage`` for a bad image.
        """
        classical, found = analyse_scene(proxy_rgb)
        guess = classical.to_dict()
        if self._clip is not None:
            guess = self._clip_scene(proxy_rgb, guess)
        out = {k: guess[k] for k in ("scene", "scene_confidence", "room_type", "room_confidence",
                                     "room_scores", "features")}
        if "classical" in guess:
            out["classical"], out["agrees"] = guess["classical"], guess["agrees"]
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
            # Measured with the classification; only a client label overruling an
            # exterior guess needs its own pass.
            found = found or detect_mirror(proxy_rgb)
            box = found.bbox
            mirror = {"present": bool(found.present), "confidence": float(found.confidence),
                      "bbox_norm": None if box is None else
                      [box[0] / w, box[1] / h, box[2] / w, box[3] / h]}
        verticals = estimate_verticals(proxy_rgb)
        cast = measure_cast(proxy_rgb)
        hot = hotspot_signals(proxy_rgb)
        out["signals"] = {
            "hotspot_share": float(hot["share"]),
            "hotspot_largest_share": float(hot["largest_share"]),
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

    def _clip_scene(self, proxy_rgb: np.ndarray, classical: dict) -> dict:
        """The classical ``SceneClassification.to_dict()`` with scene and room replaced by
        CLIP's answer (same shape: no room for an exterior), plus ``classical``/``agrees``."""
        scores = self._clip.zero_shot_many(proxy_rgb, ("scene", "room_type"))
        scene, scene_p = clip_zero_shot.top_label(scores["scene"])
        room, room_p, room_scores = None, 0.0, {}
        if scene == "interior":
            room, room_p = clip_zero_shot.top_label(scores["room_type"])
            room_scores = scores["room_type"]
        sanity = {"scene": classical["scene"], "room_type": classical["room_type"]}
        return {
            **classical,
            "scene": scene, "scene_confidence": scene_p,
            "room_type": room, "room_confidence": room_p, "room_scores": room_scores,
            "features": {**classical["features"],
                         "clip": {"scene_scores": scores["scene"], "room_scores": scores["room_type"]}},
            "classical": sanity,
            "agrees": sanity == {"scene": scene, "room_type": room},
        }
