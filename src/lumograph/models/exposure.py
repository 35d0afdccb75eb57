"""Listing exposure: find blown-out windows, pull them on one frame, merge bracket sets.

Classical, no weights:

* ``detect_windows`` finds each over-exposed window on a proxy: a large, near-clipped
  region with a sharp step down to its frame or wall (a lit wall fades out instead), a
  roughly rectangular outline made of straight edges, and too large and not round
  enough to be a lamp. It measures how many stops each window sits over the room.
* ``pull_windows`` recovers the view inside those windows on a single exposure by
  exposure fusion of synthetic under-exposures (linear light, -1/-2/-3 stops) inside a
  feathered luminosity mask, on the window crops only; the room is left untouched.
* ``merge_brackets`` aligns (median-threshold bitmaps) and fuses (Mertens) a real
  bracket set, with a gentle tone so the fusion does not look flat.

Images are HxWx3 ``uint8`` RGB; masks HxW ``float32`` in [0, 1]. Inputs are never
mutated. Every function returns plain JSON-able reports (rounded floats, ints, lists).
"""
from __future__ import annotations

import math
import time

import cv2
import numpy as np

from lumograph.models.color import linear_to_srgb, srgb_to_linear
from lumograph.models.errors import InvalidImage, InvalidOptions
from lumograph.models.imageio import require_rgb_u8

#: Long side of the analysis grid: window outlines need no more, and it keeps the
#: detector well under its 60 ms budget.
WORK_LONG_SIDE = 512
#: A pixel is "near-clipped" from this brightest-channel value (8-bit sRGB).
NEAR_CLIP = 240
#: ... and "clipped" (no recoverable detail) from this one.
CLIP = 250
#: Smallest window, as a share of the frame: a ceiling lamp or a hot-spot is smaller.
MIN_AREA_SHARE = 0.004
#: Detections below this confidence are not reported.
MIN_CONFIDENCE = 0.5
#: Mertens' (contrast, saturation, well-exposedness) exponents. OpenCV's default
#: leaves well-exposedness out (0.0), which lets clipped white win on contrast.
MERTENS_WEIGHTS = (1.0, 1.0, 1.0)
#: Rec. 709 luminance weights, in RGB order (linear light).
_LUMA_RGB = np.array([[0.2126, 0.7152, 0.0722]], np.float32)


# ------------------------------------------------------------------------ helpers




def _luminance(lin: np.ndarray) -> np.ndarray:
    """HxW float32 linear luminance of an HxWx3 linear RGB image."""
    return cv2.transform(lin, _LUMA_RGB)


def _max_channel(rgb: np.ndarray) -> np.ndarray:
    return cv2.max(cv2.max(rgb[:, :, 0], rgb[:, :, 1]), rgb[:, :, 2])


def _min_channel(rgb: np.ndarray) -> np.ndarray:
    return cv2.min(cv2.min(rgb[:, :, 0], rgb[:, :, 1]), rgb[:, :, 2])


def _squash(x: float, centre: float, width: float) -> float:
    """Logistic score in (0, 1): 0.5 at ``centre``, ~0.88 at ``centre + 2 * width``."""
    return 1.0 / (1.0 + math.exp(-(x - centre) / width))


def ellipse_kernel(radius: int) -> np.ndarray:
    """An elliptical OpenCV structuring element of ``radius`` (int >= 0): a
    (2r+1)x(2r+1) uint8 disc of ones, for the window masks' erode / dilate."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _straight_edge_share(contour: np.ndarray, perimeter: float) -> float:
    """Share of an outline's length on long straight runs (0-1).

    The polygon approximation keeps a vertex wherever the outline bends; a window's
    outline is a few long sides, a glow or a curtain-cut patch is many short ones.
    """
    if perimeter <= 0:
        return 0.0
    poly = cv2.approxPolyDP(contour, 0.01 * perimeter, True).reshape(-1, 2).astype(np.float32)
    if len(poly) < 3:
        return 0.0
    sides = np.linalg.norm(np.roll(poly, -1, axis=0) - poly, axis=1)
    return float(sides[sides >= 0.08 * perimeter].sum() / perimeter)


# ---------------------------------------------------------------- window detector


def parse_source_hw(source_hw) -> tuple[int, int]:
    """(height, width) of the full-resolution photo as two positive ints; raises
    ``InvalidOptions`` quoting anything else."""
    try:
        src_h, src_w = (int(v) for v in source_hw)
    except (TypeError, ValueError):
        raise InvalidOptions(f"source_hw must be (height, width), got {source_hw!r}") from None
    if src_h < 1 or src_w < 1:
        raise InvalidOptions(f"source_hw must be positive, got {source_hw!r}")
    return src_h, src_w


def window_analysis_maps(proxy_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid every window measurement runs on: the proxy at ``WORK_LONG_SIDE`` (HxWx3
    uint8; the input itself when already small), its linear luminance (HxW float32
    [0, 1]) and its brightest channel (HxW uint8)."""
    ph, pw = proxy_rgb.shape[:2]
    scale = min(1.0, WORK_LONG_SIDE / max(ph, pw))
    small = proxy_rgb if scale >= 1.0 else cv2.resize(
        proxy_rgb, (max(1, round(pw * scale)), max(1, round(ph * scale))), interpolation=cv2.INTER_AREA)
    return small, _luminance(srgb_to_linear(small)), _max_channel(small)


def detect_windows(proxy_rgb: np.ndarray, source_hw: tuple[int, int]) -> dict:
    """Find the over-exposed windows of an interior photo.

    proxy_rgb: HxWx3 uint8 RGB proxy of the photo (~1024 px long side; any size works,
    it is analysed at ``WORK_LONG_SIDE``). source_hw: (H, W) of the full-resolution
    photo the boxes are reported in.

    Each window is found on its own (several windows of different sizes give several
    entries): a connected near-clipped region (mullions and muntins closed over) of at
    least ``MIN_AREA_SHARE`` of the frame, scored on the sharpness of its step down to
    the surroundings (``edge_stops``: a lit wall or cabinet fades, a window does not),
    how well it fills its box, how much of its outline (or its hull, behind blinds) runs
    along straight sides, how much of it is clipped, and its colour (lamp light on a
    backsplash or a vanity wall is warm, daylight is not). Small round blobs (ceiling
    lamps, hot-spots), wide strips in the ceiling (light boxes), regions that start
    below the window line (counters, beds, tubs) and thin strips (door edges) are
    penalised. Detections below ``MIN_CONFIDENCE`` are dropped.

    ``stops_over_interior`` = log2(mean linear luminance inside the window / mean
    linear luminance of the room outside all windows). Clipped pixels count at their
    clipped value, so wherever ``clipped_share`` > 0 the figure is a LOWER BOUND on the
    true exposure gap (the view may be far brighter than 1.0).

    Returns ``{"windows": [{"bbox": [x0, y0, x1, y1] int source pixels (x1/y1
    exclusive), "bbox_norm": [x0/W, y0/H, x1/W, y1/H] floats in [0, 1],
    "stops_over_interior": float, "clipped_share": float in [0, 1] (share of the window
    with some channel >= ``CLIP``), "blown_share": float in [0, 1] (share with every
    channel >= ``CLIP``: no view left there), "area_share": float in [0, 1] (window area / frame),
    "confidence": float in [0, 1], "edge_stops": float}], "max_stops": float (0.0 when
    no window), "interior_mean_luminance": float linear in [0, 1]}``; windows sorted by
    area, largest first.
    """
    require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=16)
    src_h, src_w = parse_source_hw(source_hw)

    small, lum, vmax = window_analysis_maps(proxy_rgb)
    h, w = small.shape[:2]
    long_side = max(h, w)

    band = max(2, round(0.01 * long_side))
    candidates = _window_candidates(small, lum, vmax)
    accepted = [c for c in candidates if c["confidence"] >= MIN_CONFIDENCE]
    union = np.zeros((h, w), np.uint8)
    for c in accepted:
        union |= c["mask"]
    # The frame and the glow around a window are neither window nor room.
    room = cv2.dilate(union, ellipse_kernel(2 * band)) == 0
    interior = float(lum[room].mean()) if room.any() else float(lum.mean())
    interior = max(interior, 1e-4)

    sy, sx = src_h / h, src_w / w
    windows = []
    for c in sorted(accepted, key=lambda c: -c["area"]):
        x, y, bw, bh = c["rect"]
        x0, y0 = int(math.floor(x * sx)), int(math.floor(y * sy))
        x1, y1 = min(src_w, int(math.ceil((x + bw) * sx))), min(src_h, int(math.ceil((y + bh) * sy)))
        windows.append({
            "bbox": [x0, y0, x1, y1],
            "bbox_norm": [round(x0 / src_w, 4), round(y0 / src_h, 4), round(x1 / src_w, 4), round(y1 / src_h, 4)],
            "stops_over_interior": round(math.log2(max(c["mean_lum"], 1e-6) / interior), 3),
            "clipped_share": round(c["clipped_share"], 4),
            "blown_share": round(c["blown_share"], 4),
            "area_share": round(c["area"] / (h * w), 4),
            "confidence": round(c["confidence"], 3),
            "edge_stops": round(c["edge_stops"], 3),
        })
    return {
        "windows": windows,
        "max_stops": max((wd["stops_over_interior"] for wd in windows), default=0.0),
        "interior_mean_luminance": round(interior, 4),
    }


def _window_candidates(small: np.ndarray, lum: np.ndarray, vmax: np.ndarray) -> list[dict]:
    """Every bright region large enough to be a window, with its measurements."""
    h, w = small.shape[:2]
    long_side = max(h, w)
    near = (vmax >= NEAR_CLIP).astype(np.uint8)
    # Close over mullions, muntins and blind slats (~1.5% of the long side) so one
    # window is one region; open away speckle on glossy surfaces.
    close_r = max(2, round(0.008 * long_side))
    regions = cv2.morphologyEx(near, cv2.MORPH_CLOSE, ellipse_kernel(close_r))
    regions = cv2.morphologyEx(regions, cv2.MORPH_OPEN, ellipse_kernel(max(1, close_r // 2)))
    contours, _ = cv2.findContours(regions, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)

    band = max(2, round(0.01 * long_side))
    candidates = []
    for contour in contours:
        area = float(cv2.contourArea(contour))
        if area < MIN_AREA_SHARE * h * w:
            continue
        x, y, bw, bh = cv2.boundingRect(contour)
        mask = np.zeros((h, w), np.uint8)
        cv2.drawContours(mask, [contour], -1, 1, thickness=cv2.FILLED)
        candidates.append(_measure_candidate(contour, mask, area, (x, y, bw, bh), lum, vmax, band, small))

    return candidates


def _measure_candidate(contour, mask, area, rect, lum, vmax, band, small) -> dict:
    """The named measurements of one bright region and the confidence they give."""
    x, y, bw, bh = rect
    inside = mask.astype(bool)
    inner = inside & (cv2.erode(mask, ellipse_kernel(band)) == 0)
    grown_near = cv2.dilate(mask, ellipse_kernel(band))
    grown_far = cv2.dilate(mask, ellipse_kernel(3 * band))
    outer = (grown_far > 0) & (grown_near == 0)
    inner_lum = float(lum[inner].mean()) if inner.any() else float(lum[inside].mean())
    outer_lum = float(lum[outer].mean()) if outer.any() else inner_lum
    edge_stops = math.log2(max(inner_lum, 1e-6) / max(outer_lum, 1e-6))
    perimeter = float(cv2.arcLength(contour, True))
    hull = cv2.convexHull(contour)
    # Blinds, plants and curtains cut a window's outline into teeth; its hull keeps the
    # straight sides, while a glow's hull stays round.
    straight = max(_straight_edge_share(contour, perimeter),
                   _straight_edge_share(hull, float(cv2.arcLength(hull, True))))
    box_fill = area / max(1.0, float(bw * bh))
    clipped_share = float((vmax[inside] >= CLIP).mean())
    blown_share = float((small[inside].min(axis=1) >= CLIP).mean())
    mean_vmax = float(vmax[inside].mean())
    # Lamp light is warm; daylight through glass is neutral to cool. Measured on the
    # bright but unclipped pixels, where the colour survives.
    fringe = inside & (vmax >= 200) & (vmax < CLIP)
    pixels = small[fringe].astype(np.float32) if fringe.sum() >= 16 else small[inside].astype(np.float32)
    warmth = float((pixels[:, 0] - pixels[:, 2]).mean()) if len(pixels) else 0.0
    circularity = 4.0 * math.pi * area / max(perimeter * perimeter, 1e-6)
    h, w = mask.shape
    area_share = area / (h * w)
    # Each cue is a soft vote; a window needs all of them, so they multiply.
    confidence = (
        _squash(edge_stops, 0.7, 0.15)
        * _squash(box_fill, 0.5, 0.06)
        * _squash(straight, 0.5, 0.08)
        * _squash(mean_vmax, 240.0, 2.0)
        * _squash(clipped_share, 0.15, 0.04)
        * _squash(-warmth, -20.0, 4.0)
    )
    penalties = []
    if circularity > 0.82 and area_share < 0.03:
        penalties.append("round and small: a lamp or a hot-spot")
    if y + bh <= 0.12 * h or (y + bh <= 0.3 * h and bw >= 2.0 * bh):
        penalties.append("in the ceiling: a light fixture")
    if y >= 0.55 * h:
        penalties.append("starts below the window line: floor, counter, bed or tub")
    if max(bw / max(bh, 1), bh / max(bw, 1)) > 4.5:
        penalties.append("a thin strip: a door edge or a reflection")
    confidence *= 0.2 ** len(penalties)
    confidence = min(1.0, confidence / 0.6)  # the cues rarely all saturate on a real window
    return {
        "mask": mask, "area": area, "rect": rect, "mean_lum": float(lum[inside].mean()),
        "edge_stops": edge_stops, "straight": straight, "box_fill": box_fill,
        "clipped_share": clipped_share, "blown_share": blown_share, "mean_vmax": mean_vmax, "warmth": warmth, "circularity": circularity,
        "confidence": confidence, "penalties": penalties,
    }


# ------------------------------------------------------------------ window pull

#: Synthetic under-exposures fused for a pull, in stops below the frame.
PULL_STOPS = (0.0, -1.0, -2.0, -3.0)
#: Longest side at which a window crop is fused; a larger crop is fused at this size
#: and its tone change is applied to the full-resolution pixels as a gain.
PULL_FUSE_LONG_SIDE = 768
#: Mertens' weights for a pull: its exposures are synthetic copies of one frame, so
#: contrast and saturation alone pick, per pixel, the version where the view shows best.
PULL_MERTENS_WEIGHTS = (1.0, 1.0, 0.0)
#: Linear gain taking a fully clipped pixel to a soft white (255 -> ~237), not grey.
SOFT_WHITE_GAIN = 0.85
#: How far (stops, linear light) the recovered view ends below its original brightness.
PULL_DEPTH_STOPS = 0.6
#: Extra local contrast given to the recovered view (0 = none, 1 = doubled).
PULL_CLARITY = 0.6


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x.astype(np.float32) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _fuse_synthetic_exposures(crop: np.ndarray, merge: cv2.MergeMertens) -> np.ndarray:
    """Mertens fusion of ``crop`` with itself at each of ``PULL_STOPS``: HxWx3 float32 [0, 1]."""
    lin = srgb_to_linear(crop)
    stack = [crop if stops == 0 else linear_to_srgb(lin * np.float32(2.0 ** stops)) for stops in PULL_STOPS]
    return np.clip(merge.process(stack), 0.0, 1.0)


#: A window with at least this share of clipped glass has lost its view in this exposure.
BLOWN_CLIPPED_SHARE = 0.5
#: ... but only counts as blown when it is also this many stops over the room (a clipped
#: patch in a room lit almost to clipping is a white wall as often as a window).
BLOWN_MIN_STOPS = 1.0


def window_needs_pull(window: dict, threshold_stops: float) -> tuple[bool, str]:
    """Whether one ``detect_windows`` entry should be pulled, and why.

    A window is pulled when its measured ``stops_over_interior`` exceeds
    ``threshold_stops``, or when it is blown: in an 8-bit photo a clipped window reads
    at most log2(1 / room brightness) stops (about 2.3 in a room at mid-grey), so the
    measured gap is only a lower bound, and a window whose glass is mostly clipped
    (``BLOWN_CLIPPED_SHARE``) and at least ``BLOWN_MIN_STOPS`` over the room has lost
    its view whatever the threshold. Returns (pull, reason).
    """
    stops = float(window.get("stops_over_interior", 0.0))
    clipped = float(window.get("clipped_share", 0.0))
    if stops > threshold_stops:
        return True, f"{stops:.1f} stops over the room (threshold {threshold_stops:.1f})"
    if clipped >= BLOWN_CLIPPED_SHARE and stops >= BLOWN_MIN_STOPS:
        return True, (f"blown: {clipped:.0%} of the glass clipped, so its {stops:.1f} stops "
                      f"over the room is only a lower bound (threshold {threshold_stops:.1f})")
    return False, (f"{stops:.1f} stops over the room, {clipped:.0%} clipped: not above the "
                   f"threshold {threshold_stops:.1f}")


#: A window with at least this share of its glass clipped has no view left for a pull to
#: recover (it comes back soft white); only a generated view can show one.
FULLY_BLOWN_SHARE = 0.6
#: A "window" spanning this share of the frame's height or more is a door edge or a lit
#: wall at the frame's border as often as a window (seen on the eval set): a pull of it is
#: harmless, a view generated in it is not.
VIEW_MAX_HEIGHT_SHARE = 0.9


def window_fully_blown(window: dict) -> bool:
    """Whether a ``detect_windows`` entry has lost its view, so that only a generated
    view can show one: ``blown_share`` (every channel clipped; a window whose blue sky
    alone clips still holds a view) >= ``FULLY_BLOWN_SHARE``, at least
    ``BLOWN_MIN_STOPS`` over the room (the same white-wall guard as
    ``window_needs_pull``), and its ``bbox_norm`` (when given) under
    ``VIEW_MAX_HEIGHT_SHARE`` of the frame's height. Entries without ``blown_share`` are
    judged on ``clipped_share``."""
    blown = window.get("blown_share", window.get("clipped_share", 0.0))
    box = window.get("bbox_norm")
    tall = box is not None and float(box[3]) - float(box[1]) >= VIEW_MAX_HEIGHT_SHARE
    return (float(blown) >= FULLY_BLOWN_SHARE and not tall
            and float(window.get("stops_over_interior", 0.0)) >= BLOWN_MIN_STOPS)


def pull_windows(rgb: np.ndarray, windows: list[dict], threshold_stops: float,
                 glass_masks: list[np.ndarray | None] | None = None) -> dict:
    """Recover the view in over-exposed windows of a single exposure.

    rgb: HxWx3 uint8 RGB at full resolution (never mutated; may be read-only).
    windows: entries of ``detect_windows(...)["windows"]`` (``bbox`` in source pixels
    of ``rgb``, ``stops_over_interior``, ``clipped_share``). threshold_stops (>= 0): a
    window is pulled when ``window_needs_pull`` says so (over the threshold, or blown).

    For each window to pull, on its crop only (box plus a feather margin): synthetic
    under-exposures of the crop in linear light (``PULL_STOPS``) are fused with
    Mertens' well-exposedness/contrast/saturation weights; the fused view replaces the
    original through a mask that is the feathered box times a luminosity mask (only
    the bright glass, never the frame, the wall or the room). Fully clipped pixels
    (every channel >= 250) hold no detail: they are toned to a soft white
    (``SOFT_WHITE_GAIN`` in linear light) instead of grey. Pixels farther than the
    feather margin from every pulled box are bit-identical to the input.

    glass_masks: optional, one entry per window (None = no mask): an hxw float32 [0, 1]
    mask of the window's glass, of any size, spanning exactly that window's ``bbox``
    (the segmenter's ``window_glass_masks``). With a mask the pull is confined to the
    glass (softened by a third of the feather): a white wall, a door or a lamp that
    the detector's box also covers keeps its pixels. A mask covering less than
    ``MIN_GLASS_SHARE`` of its box is not believed and the box is used.

    Returns ``{"rgb": new HxWx3 uint8, "applied": bool (some window pulled), "report":
    {"threshold_stops", "windows": [{"bbox", "stops", "pulled": bool, "reason",
    "glass": "mask" | "box", "glass_share" (share of the box the mask covers, when given),
    "clipped_share" (fully clipped share of the box, 0-1), "recovered_share" (share of
    the box that was near-clipped but still held detail), "mean_change" (mean absolute
    8-bit change inside the box), "fuse_scale"}], "pulled": int}}``.
    """
    require_rgb_u8(rgb, "rgb", min_side=16)
    if not isinstance(windows, (list, tuple)):
        raise InvalidOptions(f"windows must be a list of window dicts, got {type(windows).__name__!r}")
    try:
        threshold = float(threshold_stops)
    except (TypeError, ValueError):
        raise InvalidOptions(f"threshold_stops must be a number, got {threshold_stops!r}") from None
    if not math.isfinite(threshold) or threshold < 0:
        raise InvalidOptions(f"threshold_stops must be a finite number >= 0, got {threshold_stops!r}")

    masks = _check_glass_masks(glass_masks, len(windows))
    h, w = rgb.shape[:2]
    out = rgb.copy()
    merge = cv2.createMergeMertens(*PULL_MERTENS_WEIGHTS)
    entries = []
    for window, glass in zip(windows, masks):
        box = _valid_box(window, (h, w))
        stops = float(window.get("stops_over_interior", 0.0))
        entry = {"bbox": list(box), "stops": round(stops, 3), "pulled": False, "glass": "box"}
        if glass is not None:
            share = float((glass >= 0.5).mean())
            entry["glass_share"] = round(share, 4)
            if share >= MIN_GLASS_SHARE:
                entry["glass"] = "mask"
            else:
                glass = None
        pull, reason = window_needs_pull(window, threshold)
        entry["reason"] = reason
        if pull:
            entry.update(_pull_one(rgb, out, box, merge, glass))
            entry["pulled"] = True
        entries.append(entry)
    pulled = sum(e["pulled"] for e in entries)
    return {"rgb": out, "applied": pulled > 0,
            "report": {"threshold_stops": round(threshold, 3), "windows": entries, "pulled": pulled}}


#: A glass mask covering less of its window's box than this is not believed (a learned
#: mask that missed the glass); the box and the luminosity mask are used instead.
MIN_GLASS_SHARE = 0.05


def _check_glass_masks(glass_masks, n_windows: int) -> list[np.ndarray | None]:
    if glass_masks is None:
        return [None] * n_windows
    if not isinstance(glass_masks, (list, tuple)) or len(glass_masks) != n_windows:
        raise InvalidOptions(f"glass_masks must be a list with one entry (mask or None) per window "
                             f"({n_windows}), got {type(glass_masks).__name__} of "
                             f"{len(glass_masks) if isinstance(glass_masks, (list, tuple)) else '?'}")
    out = []
    for i, mask in enumerate(glass_masks):
        if mask is None:
            out.append(None)
            continue
        if not isinstance(mask, np.ndarray) or mask.ndim != 2 or min(mask.shape) < 2:
            raise InvalidOptions(f"glass_masks[{i}] must be an hxw float array (h, w >= 2) or None, "
                                 f"got {type(mask).__name__} {getattr(mask, 'shape', None)}")
        mask = mask.astype(np.float32, copy=False)
        if not np.isfinite(mask).all() or mask.min() < 0.0 or mask.max() > 1.0:
            raise InvalidOptions(f"glass_masks[{i}] must hold finite values in [0, 1], got range "
                                 f"[{np.nanmin(mask):.3g}, {np.nanmax(mask):.3g}]")
        out.append(mask)
    return out


def _valid_box(window: dict, hw: tuple[int, int]) -> tuple[int, int, int, int]:
    h, w = hw
    box = window.get("bbox") if isinstance(window, dict) else None
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    except (TypeError, ValueError):
        raise InvalidOptions(f"window bbox must be [x0, y0, x1, y1] source pixels, got {box!r}") from None
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise InvalidOptions(f"window bbox {box!r} is empty inside the {w}x{h} image")
    return x0, y0, x1, y1


def _feathered_box(hw: tuple[int, int], box: tuple[float, float, float, float], feather: float) -> np.ndarray:
    """HxW float32 [0, 1]: 1 inside ``box``, falling to 0 over ``feather`` px outside it."""
    h, w = hw
    x0, y0, x1, y1 = box
    xs, ys = np.arange(w, dtype=np.float32) + 0.5, np.arange(h, dtype=np.float32) + 0.5
    fx = _smoothstep(np.minimum(xs - (x0 - feather), (x1 + feather) - xs), 0.0, feather)
    fy = _smoothstep(np.minimum(ys - (y0 - feather), (y1 + feather) - ys), 0.0, feather)
    return np.outer(fy, fx).astype(np.float32)


def _glass_weight(hw: tuple[int, int], box: tuple[float, float, float, float], glass: np.ndarray,
                  feather: float) -> np.ndarray:
    """HxW float32 [0, 1]: the glass mask resized onto ``box`` of an HxW grid (zero
    outside it), softened by a third of ``feather`` (a learned mask's edge is coarse)."""
    h, w = hw
    bx0, by0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    bx1, by1 = min(w, max(bx0 + 1, int(round(box[2])))), min(h, max(by0 + 1, int(round(box[3]))))
    weight = np.zeros((h, w), np.float32)
    weight[by0:by1, bx0:bx1] = cv2.resize(glass, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_LINEAR)
    return np.clip(cv2.GaussianBlur(weight, (0, 0), max(0.5, feather / 3)), 0.0, 1.0)


def _pull_one(src: np.ndarray, out: np.ndarray, box: tuple[int, int, int, int],
              merge: cv2.MergeMertens, glass: np.ndarray | None = None) -> dict:
    """Pull one window of ``src`` into ``out`` (same shape) in place; return its report.
    glass: the window's glass mask spanning ``box`` (see ``pull_windows``) or None."""
    h, w = src.shape[:2]
    x0, y0, x1, y1 = box
    feather = max(4, round(0.06 * max(x1 - x0, y1 - y0)))
    cx0, cy0 = max(0, x0 - 2 * feather), max(0, y0 - 2 * feather)
    cx1, cy1 = min(w, x1 + 2 * feather), min(h, y1 + 2 * feather)
    crop = src[cy0:cy1, cx0:cx1]
    ch, cw = crop.shape[:2]

    # Every decision is made on a crop of at most PULL_FUSE_LONG_SIDE; the full-resolution
    # pixels only receive the resulting smooth per-channel gain (in 8-bit sRGB units), which
    # keeps the glass's and the frame's fine detail the camera's and costs one multiply.
    scale = min(1.0, PULL_FUSE_LONG_SIDE / max(ch, cw))
    small = crop if scale >= 1.0 else cv2.resize(
        crop, (max(1, round(cw * scale)), max(1, round(ch * scale))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    small_feather = max(1.0, feather * scale)
    fused_lin = _fuse_synthetic_exposures(small, merge)
    fused_lin = srgb_to_linear((fused_lin * 255.0 + 0.5).astype(np.uint8))
    # Clipped glass carries no view: a soft white reads as bright daylight, grey as dirt.
    clip_weight = cv2.GaussianBlur(_smoothstep(_min_channel(small), 244.0, 254.0), (0, 0), small_feather / 4)
    # Luminosity mask: only the bright glass changes, never the frame, wall or room.
    luma = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    bright = cv2.GaussianBlur(_smoothstep(luma, 180.0, 235.0), (0, 0), small_feather / 3)
    small_box = ((x0 - cx0) * scale, (y0 - cy0) * scale, (x1 - cx0) * scale, (y1 - cy0) * scale)
    if glass is None:
        weight = bright * _feathered_box((sh, sw), small_box, small_feather)
    else:
        weight = bright * _glass_weight((sh, sw), small_box, glass, small_feather)
    # Fusion of one frame with its own under-exposures reveals the structure of the view
    # but lands it ~2 stops down, which reads as grey glass. Keep its structure, and
    # bring the view back to PULL_DEPTH_STOPS under its original brightness: the window
    # stays the brightest thing in the room, as after an editor's pull.
    view = weight * (1.0 - clip_weight)
    # Clarity, as an editor adds to a pulled view: the highlights were compressed by the
    # camera's tone curve, so their local contrast is expanded (log domain, medium scale).
    fused_luma = np.maximum(_luminance(fused_lin), np.float32(1e-4))
    log_luma = np.log(fused_luma)
    local = cv2.GaussianBlur(log_luma, (0, 0), max(2.0, 0.03 * max(sh, sw)))
    fused_lin = fused_lin * np.exp(np.float32(PULL_CLARITY) * (log_luma - local))[..., None]
    if float(view.sum()) > 1.0:
        before = float((_luminance(srgb_to_linear(small)) * view).sum())
        after = float((_luminance(fused_lin) * view).sum())
        lift = before * 2.0 ** -PULL_DEPTH_STOPS / max(after, 1e-6)
        ceiling = float(np.percentile(fused_lin[view > 0.5], 99.5)) if (view > 0.5).any() else 1.0
        fused_lin = fused_lin * np.float32(min(lift, 1.0 / max(ceiling, 1e-3)))
    soft_white = srgb_to_linear(small) * np.float32(SOFT_WHITE_GAIN)
    pulled_lin = fused_lin + (soft_white - fused_lin) * clip_weight[..., None]
    pulled = linear_to_srgb(pulled_lin).astype(np.float32)
    gain = pulled / np.maximum(small.astype(np.float32), 1.0)
    gain = 1.0 + (gain - 1.0) * weight[..., None]
    if scale < 1.0:
        gain = cv2.resize(gain, (cw, ch), interpolation=cv2.INTER_LINEAR)
        weight = cv2.resize(weight, (cw, ch), interpolation=cv2.INTER_LINEAR)
    result = cv2.convertScaleAbs(cv2.multiply(crop.astype(np.float32), gain))
    # Where the weight is ~0 keep the camera's exact bytes.
    np.copyto(result, crop, where=(weight < 1e-3)[..., None])
    out[cy0:cy1, cx0:cx1] = result

    vmin, vmax = _min_channel(crop), _max_channel(crop)
    inner = (slice(y0 - cy0, y1 - cy0), slice(x0 - cx0, x1 - cx0))
    area = max(1, (y1 - y0) * (x1 - x0))
    clipped = vmin[inner] >= CLIP
    near = (vmax[inner] >= NEAR_CLIP) & ~clipped
    change = np.abs(result[inner].astype(np.int16) - crop[inner].astype(np.int16))
    return {
        "clipped_share": round(float(clipped.sum()) / area, 4),
        "recovered_share": round(float(near.sum()) / area, 4),
        "mean_change": round(float(change.mean()), 2),
        "fuse_scale": round(scale, 3),
        "feather_px": int(feather),
    }


# --------------------------------------------------------------- bracket merging

#: Fewest and most frames accepted as one bracket set.
MIN_BRACKETS, MAX_BRACKETS = 2, 9
#: Frames are fused at most this long side; larger frames get the fusion's tone from
#: that size and their own fine detail back at full resolution (see ``merge_brackets``).
FUSE_LONG_SIDE = 1536
#: Scale (share of the long side, Gaussian sigma) above which a fusion takes its tones
#: from the smooth exposure blend rather than from Mertens' pyramid.
TONE_SCALE = 0.02
#: Largest believable shift between neighbouring exposures, as a share of the long side.
MAX_SHIFT_SHARE = 0.02
#: Value (0-1) a frame is best exposed at, for the blend that sets the fusion's tones.
WELL_EXPOSED = 0.55
#: The merge's 99.5th brightest-channel percentile is lifted to this (gain at most ``MAX_WHITE_GAIN``)
#: so that white stays white after fusion.
WHITE_TARGET, MAX_WHITE_GAIN = 248.0, 1.25
#: Strength of the gentle S-curve applied after fusion (0 = none).
TONE_CONTRAST = 0.22
#: A pixel is "dark" (crushed) at or below this 8-bit luma.
DARK_LUMA = 8


def _check_frames(frames) -> list[np.ndarray]:
    if not isinstance(frames, (list, tuple)):
        raise InvalidOptions(f"frames must be a list of HxWx3 uint8 RGB arrays, got {type(frames).__name__!r}")
    if not MIN_BRACKETS <= len(frames) <= MAX_BRACKETS:
        raise InvalidOptions(
            f"a bracket set needs {MIN_BRACKETS}-{MAX_BRACKETS} frames, got {len(frames)}"
            + (" (subsample a longer sequence evenly over its exposure range)" if len(frames) > MAX_BRACKETS else ""))
    for i, frame in enumerate(frames):
        require_rgb_u8(frame, f"frames[{i}]", min_side=16)
    shapes = [f.shape for f in frames]
    if len(set(shapes)) > 1:
        raise InvalidImage(f"bracket frames must all have the same size, got {shapes!r}", code="bracket_size_mismatch")
    return list(frames)


def clipped_share(rgb: np.ndarray) -> float:
    """Share (0-1) of pixels of an HxWx3 uint8 image with some channel >= ``CLIP`` (blown)."""
    return float((_max_channel(rgb) >= CLIP).mean())


def dark_share(rgb: np.ndarray) -> float:
    """Share (0-1) of pixels of an HxWx3 uint8 image with luma <= ``DARK_LUMA`` (crushed)."""
    return float((cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) <= DARK_LUMA).mean())


def _tone_lut(fused: np.ndarray) -> np.ndarray:
    """256-entry uint8 curve for a fused image: white point, then a gentle S-curve.

    Fusion leaves the brightest surfaces a little grey and the mid-tones flat; the white
    point puts the 99.5th percentile of the brightest channel at ``WHITE_TARGET`` (never darkening, gain at
    most ``MAX_WHITE_GAIN``) and the S-curve adds ``TONE_CONTRAST`` of mid-tone contrast.
    """
    # On the brightest channel, not luma: a warm white would clip its red first.
    top = float(np.percentile(_max_channel(np.ascontiguousarray(fused[::4, ::4])), 99.5))
    gain = float(np.clip(WHITE_TARGET / max(top, 1.0), 1.0, MAX_WHITE_GAIN))
    x = np.clip(np.arange(256, dtype=np.float64) * gain / 255.0, 0.0, 1.0)
    s = x * x * (3.0 - 2.0 * x)
    return np.clip(np.round(255.0 * ((1 - TONE_CONTRAST) * x + TONE_CONTRAST * s)), 0, 255).astype(np.uint8)


def _well_exposedness(frame_small: np.ndarray) -> np.ndarray:
    """Well-exposedness weight of an HxWx3 uint8 frame: HxW float32 > 0.

    Mertens' Gaussian (sigma 0.2) per channel, centred at ``WELL_EXPOSED`` rather than
    mid-grey: a listing photo keeps its white walls white, not a fused grey.
    """
    v = frame_small.astype(np.float32) * np.float32(1 / 255) - np.float32(WELL_EXPOSED)
    w = np.exp(-(v * v) / np.float32(2 * 0.2 * 0.2))
    return w[:, :, 0] * w[:, :, 1] * w[:, :, 2] + np.float32(1e-6)


def merge_brackets(frames: list[np.ndarray]) -> dict:
    """Align and fuse a bracket set of one shot into one natural-looking exposure.

    frames: 2-9 HxWx3 uint8 RGB exposures of the same scene, all the same size, in any
    order (never mutated). Raises ``InvalidOptions`` for a wrong count or a non-list,
    ``InvalidImage`` for a frame that is not HxWx3 uint8 or for mismatched sizes (the
    message quotes the bad value).

    1. Order by mean luminance; the middle frame is the reference.
    2. Align: ``cv2.AlignMTB`` shift of each frame against the reference, measured at
       the fusion size and applied at full size (edge pixels replicated).
    3. Fuse: ``cv2.MergeMertens`` (contrast, saturation, well-exposedness). Frames
       longer than ``FUSE_LONG_SIDE`` are fused at that size; the full-resolution
       detail is then added back from a per-pixel blend of the full-size frames under
       the (upsampled) well-exposedness weights, so a 12 MP set costs about one second
       instead of six, with the same tones.
    4. Tone: a gentle S-curve (``TONE_CONTRAST``), since Mertens output is flat.

    Returns ``{"rgb": HxWx3 uint8, "report": {"frames": n, "shifts": [[dx, dy], ...]
    per input frame (source px, relative to the reference), "reference": index,
    "method": "mertens", "order_by_brightness": input indices dark to bright,
    "mean_luma": per input frame, "clipped_share_before" (middle frame, 0-1),
    "alignment_rejected": frames whose shift was implausible and set to 0,
    "clipped_share_after", "dark_share_before", "dark_share_after", "fuse_scale",
    "timings_ms": {...}}}``.
    """
    frames = _check_frames(frames)
    timings = {}
    t0 = time.perf_counter()
    h, w = frames[0].shape[:2]
    probe_scale = min(1.0, 256 / max(h, w))
    probe_size = (max(1, round(w * probe_scale)), max(1, round(h * probe_scale)))
    mean_luma = [float(cv2.cvtColor(cv2.resize(f, probe_size, interpolation=cv2.INTER_AREA),
                                    cv2.COLOR_RGB2GRAY).mean()) for f in frames]
    order = [int(i) for i in np.argsort(mean_luma, kind="stable")]
    # The middle exposure (the brighter of the two middles for an even count): the
    # frame a photographer would call "normal", and the one the report compares with.
    reference = order[len(order) // 2]

    fuse_scale = min(1.0, FUSE_LONG_SIDE / max(h, w))
    fuse_size = (max(1, round(w * fuse_scale)), max(1, round(h * fuse_scale)))
    small = frames if fuse_scale >= 1.0 else [cv2.resize(f, fuse_size, interpolation=cv2.INTER_AREA) for f in frames]
    timings["resize"] = (time.perf_counter() - t0) * 1000
    aligned, aligned_small, shifts, rejected = _align(frames, order, reference, small, fuse_scale)
    timings["align"] = (time.perf_counter() - t0) * 1000 - timings["resize"]

    t1 = time.perf_counter()
    fused = _fuse(aligned, aligned_small, fuse_scale)
    timings["fuse"] = (time.perf_counter() - t1) * 1000
    out = cv2.LUT(fused, _tone_lut(fused))
    timings["total"] = (time.perf_counter() - t0) * 1000
    report = {
        "frames": len(frames),
        "shifts": shifts,
        "alignment_rejected": rejected,
        "reference": int(reference),
        "method": "mertens",
        "order_by_brightness": order,
        "mean_luma": [round(v, 2) for v in mean_luma],
        "clipped_share_before": round(clipped_share(frames[reference]), 5),
        "clipped_share_after": round(clipped_share(out), 5),
        "dark_share_before": round(dark_share(frames[reference]), 5),
        "dark_share_after": round(dark_share(out), 5),
        "fuse_scale": round(fuse_scale, 4),
        "timings_ms": {k: round(v, 1) for k, v in timings.items()},
    }
    return {"rgb": out, "report": report}


def _align(frames: list[np.ndarray], order: list[int], reference: int, small: list[np.ndarray],
           scale: float) -> tuple[list[np.ndarray], list[np.ndarray], list[list[int]], list[int]]:
    """Translate every frame onto ``frames[reference]`` (median-threshold bitmaps).

    Shifts are measured at ``scale`` (on ``small``) between neighbours in brightness
    ``order`` and chained outwards from the reference: two exposures a step apart share
    most of their bitmap, a 1/1000 s frame and a 30 s frame share almost none. A step
    beyond ``MAX_SHIFT_SHARE`` of the long side is an MTB failure (a nearly black or
    white frame), not a hand shake: it is set to zero and reported in ``rejected``.
    Both the full-size and the small frames are shifted.
    """
    h, w = frames[0].shape[:2]
    mtb = cv2.createAlignMTB(max_bits=5, exclude_range=4, cut=True)
    greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in small]
    limit = MAX_SHIFT_SHARE * max(greys[0].shape)
    small_shift = {reference: (0, 0)}
    rejected = []
    pos = order.index(reference)
    for step in (-1, 1):
        for k in range(pos + step, len(order) if step > 0 else -1, step):
            frame, closer = order[k], order[k - step]
            dx, dy = mtb.calculateShift(greys[closer], greys[frame])
            if max(abs(dx), abs(dy)) > limit:
                rejected.append(frame)
                dx, dy = 0, 0
            cdx, cdy = small_shift[closer]
            small_shift[frame] = (cdx + dx, cdy + dy)
    aligned, aligned_small, shifts = [], [], []
    for i, (frame, frame_small) in enumerate(zip(frames, small)):
        # calculateShift returns the shift that maps the frame onto the reference.
        dx, dy = small_shift[i]
        full_dx, full_dy = int(round(dx / scale)), int(round(dy / scale))
        shifts.append([full_dx, full_dy])
        if full_dx == 0 and full_dy == 0:
            aligned.append(frame)
            aligned_small.append(frame_small)
            continue
        sh, sw = frame_small.shape[:2]
        aligned.append(cv2.warpAffine(frame, np.float32([[1, 0, full_dx], [0, 1, full_dy]]), (w, h),
                                      flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE))
        aligned_small.append(frame_small if scale >= 1.0 else cv2.warpAffine(
            frame_small, np.float32([[1, 0, full_dx * scale], [0, 1, full_dy * scale]]), (sw, sh),
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return aligned, aligned_small, shifts, sorted(rejected)


def _fuse(frames: list[np.ndarray], small: list[np.ndarray], scale: float) -> np.ndarray:
    """Fuse aligned frames (and the same frames at ``scale``, ``small``): HxWx3 uint8.

    Two scales, as in a hand-made exposure blend with luminosity masks:

    * large scale (the tones of regions: the view, the shadowed corner) from a per-pixel
      blend of the frames under smooth well-exposedness weights, which never overshoots
      and lifts a shadow that only the brightest frame shows;
    * everything finer from Mertens' pyramid fusion (contrast, saturation and
      well-exposedness), whose own large-scale tones drift: its coarse pyramid levels
      average weights over the whole frame, so a big dark or bright region takes the
      tone of its surroundings (and can even overshoot white).

    Frames longer than the fusion size get both at reduced size, and their own fine
    detail back from the full-size blend under the same (upsampled) weights, so the
    difference of the two blends carries no tone of its own.
    """
    merge = cv2.createMergeMertens(*MERTENS_WEIGHTS)
    h, w = frames[0].shape[:2]
    sh, sw = small[0].shape[:2]
    fused_small = merge.process(small) * np.float32(255.0)
    # The weights are smooth by construction, so they are measured on a coarse grid.
    coarse_scale = min(1.0, 512 / max(sh, sw))
    coarse_size = (max(1, round(sw * coarse_scale)), max(1, round(sh * coarse_scale)))
    weights = [cv2.GaussianBlur(_well_exposedness(cv2.resize(f, coarse_size, interpolation=cv2.INTER_AREA)),
                                (0, 0), 1.5) for f in small]
    blend_small = _blend(small, weights).astype(np.float32)
    drift = cv2.GaussianBlur(blend_small - fused_small, (0, 0), TONE_SCALE * max(sh, sw))
    fused_small += drift
    if scale >= 1.0:
        return np.clip(fused_small + np.float32(0.5), 0.0, 255.0).astype(np.uint8)
    # The full-size blend is a chain of cv2.blendLinear passes (uint8 in and out).
    correction = cv2.resize(np.clip(fused_small - blend_small, -255, 255).astype(np.int16),
                            (w, h), interpolation=cv2.INTER_LINEAR)
    blend = _blend(frames, weights)
    return cv2.add(blend, correction, dtype=cv2.CV_16S).clip(0, 255).astype(np.uint8)


def _blend(frames: list[np.ndarray], coarse_weights: list[np.ndarray]) -> np.ndarray:
    """Per-pixel weighted mean of uint8 frames under coarse float weights (upsampled)."""
    h, w = frames[0].shape[:2]
    ups = [cv2.resize(wk, (w, h), interpolation=cv2.INTER_LINEAR) for wk in coarse_weights]
    out, acc = frames[0], ups[0]
    for frame, weight in zip(frames[1:], ups[1:]):
        out = cv2.blendLinear(out, frame, acc, weight)
        acc = acc + weight
    return out
