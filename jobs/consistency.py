"""How much a job's outputs drift from one another: the catalog-consistency numbers.

Read off the delivered images and their reports when a job closes: the spread of fill
ratio, shadow strength, background tone, key-light direction and white point across the
items, and of the metal tone per metal. A locked job should show (near) zero spread on
what it locks; an unlocked one shows what the lock would remove.
"""
from __future__ import annotations

import json
import math
from typing import Any

import cv2
import numpy as np

from lumograph.jobs.storage import Storage
from lumograph.jobs.store import JobStore

#: Levels below white that count as the piece (not the lightbox, not the faint shadow).
PIECE_LEVELS = 30
#: Thumbnail decode for the image measurements (JPEG decodes at 1/4 size directly).
_REDUCED = cv2.IMREAD_REDUCED_COLOR_4


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    arr = np.asarray(values, np.float64)
    return {"mean": round(float(arr.mean()), 4), "std": round(float(arr.std()), 4),
            "min": round(float(arr.min()), 4), "max": round(float(arr.max()), 4), "n": len(values)}


def _angle_spread_deg(vectors: list[list[float]]) -> float | None:
    """RMS angle (degrees) of RGB directions around their mean direction."""
    if len(vectors) < 2:
        return 0.0 if vectors else None
    v = np.asarray(vectors, np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    mean = v.mean(axis=0)
    mean /= np.linalg.norm(mean)
    angles = np.degrees(np.arccos(np.clip(v @ mean, -1.0, 1.0)))
    return round(float(np.sqrt(np.mean(angles ** 2))), 3)


def _azimuth_spread_deg(azimuths: list[float]) -> float | None:
    """Circular standard deviation of the key-light azimuths (degrees)."""
    if not azimuths:
        return None
    rad = np.radians(azimuths)
    r = math.hypot(float(np.mean(np.cos(rad))), float(np.mean(np.sin(rad))))
    return round(math.degrees(math.sqrt(max(0.0, -2.0 * math.log(max(r, 1e-12))))), 3)


def image_tones(data: bytes) -> dict[str, float] | None:
    """Background tone (mean of the outer 2% ring, the darkest channel) and the piece's
    mean CIELAB a*, b* (pixels more than ``PIECE_LEVELS`` below white)."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED)
    if bgr is None:
        return None
    h, w = bgr.shape[:2]
    ring = max(2, round(0.02 * min(h, w)))
    darkest = bgr.min(axis=2)
    border = np.concatenate([darkest[:ring].ravel(), darkest[-ring:].ravel(),
                             darkest[:, :ring].ravel(), darkest[:, -ring:].ravel()])
    piece = darkest < 255 - PIECE_LEVELS
    out = {"background": float(border.mean())}
    if piece.sum() >= 50:
        lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB).astype(np.float32)
        out["a"] = float(lab[..., 1][piece].mean() - 128.0)
        out["b"] = float(lab[..., 2][piece].mean() - 128.0)
    return out


def measure_job(store: JobStore, job_id: str) -> dict[str, Any]:
    job = store.job_row(job_id)
    lock = (job.controls or {}).get("consistency") or {}
    fills, shadows, backgrounds, azimuths, illuminants, sides = [], [], [], [], [], set()
    metals: dict[str, dict[str, list[float]]] = {}
    for row in store.item_rows(job_id):
        if row.state != "done" or not row.report_uri:
            continue
        report = json.loads(Storage.read(row.report_uri)).get("report", {})
        comp = report.get("composition", {})
        if "fill_ratio" in comp:
            fills.append(float(comp["fill_ratio"]))
        if "shadow_peak_opacity" in comp:
            shadows.append(float(comp["shadow_peak_opacity"]))
        if comp.get("canvas_size"):
            sides.add(int(comp["canvas_size"][0]))
        if report.get("light", {}).get("azimuth_deg") is not None:
            azimuths.append(float(report["light"]["azimuth_deg"]))
        if report.get("illuminant", {}).get("rgb"):
            illuminants.append([float(v) for v in report["illuminant"]["rgb"]])
        tones = image_tones(Storage.read(row.output_uri)) if row.output_uri else None
        if tones:
            backgrounds.append(tones["background"])
            metal = report.get("grading", {}).get("metal") or "unknown"
            if "a" in tones:
                per = metals.setdefault(metal, {"a": [], "b": []})
                per["a"].append(tones["a"])
                per["b"].append(tones["b"])
    lock_state = None
    if lock.get("lock"):
        lock_state = "applied" if job.look else ("pending" if job.look is None else "not applied: the reference "
                                                 "photo could not be measured")
    return {
        "locked": bool(lock.get("lock")),
        "lock": lock_state,
        "look": job.look,
        "n_delivered": len(fills),
        "fill_ratio": _stats(fills),
        "shadow_strength": _stats(shadows),
        "background_tone": _stats(backgrounds),
        "canvas_sides": sorted(sides),
        "light_azimuth_spread_deg": _azimuth_spread_deg(azimuths),
        "white_point_spread_deg": _angle_spread_deg(illuminants),
        "metal_tone": {metal: {"n": len(v["a"]), "a_std": round(float(np.std(v["a"])), 3),
                               "b_std": round(float(np.std(v["b"])), 3),
                               "a_mean": round(float(np.mean(v["a"])), 3), "b_mean": round(float(np.mean(v["b"])), 3)}
                       for metal, v in sorted(metals.items())},
        "units": {"fill_ratio": "piece box over canvas", "shadow_strength": "peak shadow opacity",
                  "background_tone": "border ring, darkest channel (255 = pure white)",
                  "metal_tone": "CIELAB a*/b* of the piece's pixels, per item mean; std across items",
                  "white_point_spread_deg": "RMS angle of the illuminants corrected from",
                  "light_azimuth_spread_deg": "circular std of the key light's azimuth"},
    }
