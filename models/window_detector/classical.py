"""Classical window detector for listing photos (no weights).

``detect_windows`` finds each over-exposed window on a proxy: a large, near-clipped
region with a sharp step down to its frame or wall (a lit wall fades out instead), a
roughly rectangular outline made of straight edges, and too large and not round
enough to be a lamp. It measures how many stops each window sits over the room; the
grader's window pull reads those measurements. Images are HxWx3 ``uint8`` RGB; inputs
are never mutated; reports are JSON-able (rounded floats, ints, lists).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from lumograph.models.common.colour import luminance, max_channel, srgb_to_linear
from lumograph.models.common.imageio import parse_source_hw, require_rgb_u8
from lumograph.models.common.numeric import two_class_probability
from lumograph.models.window_detector.window_params import PARAMS as WINDOW_PARAMS

#: Long side of the analysis grid: window outlines need no more, and it keeps the
#: detector well under its 60 ms budget.
WORK_LONG_SIDE = 512
#: A pixel is "near-clipped" from this brightest-channel value (8-bit sRGB).
NEAR_CLIP = 240
#: ... and "clipped" (no recoverable detail) from this one.
CLIP = 250
#: Smallest window, as a share of the frame: a ceiling lamp or a hot-spot is smaller.
MIN_AREA_SHARE = 0.004
#: Detections below this confidence are not reported (fitted with the weights).
MIN_CONFIDENCE = float(WINDOW_PARAMS["threshold"])
#: The named measurements of a bright region the fitted model weighs, in its order.
WINDOW_INPUTS = ("edge_stops", "box_fill", "straight", "mean_vmax", "clipped_share", "blown_share", "warmth",
                 "circularity", "log_area_share", "top", "bottom", "log_aspect", "round_small", "in_ceiling",
                 "below_window_line", "thin_strip")
#: Standardised inputs are clipped to +- this many standard deviations (as the scene model).
INPUT_CLIP = 4.0
#: Mertens' (contrast, saturation, well-exposedness) exponents. OpenCV's default
#: leaves well-exposedness out (0.0), which lets clipped white win on contrast.
MERTENS_WEIGHTS = (1.0, 1.0, 1.0)


# ------------------------------------------------------------------------ helpers


def _squash(x: float, centre: float, width: float) -> float:
    """Logistic score in (0, 1): 0.5 at ``centre``, ~0.88 at ``centre + 2 * width``."""
    return 1.0 / (1.0 + math.exp(-(x - centre) / width))


def vote_confidence(measures: dict) -> float:
    """The detector's cue votes: each cue a soft logistic vote (centres and widths set by
    reasoning about what the cue measures), multiplied (a window needs all of them), each
    broken rule dividing by five. ``window_params.PARAMS["model"] == "votes"`` ships it."""
    m = measures
    confidence = (
        _squash(m["edge_stops"], 0.7, 0.15)
        * _squash(m["box_fill"], 0.5, 0.06)
        * _squash(m["straight"], 0.5, 0.08)
        * _squash(m["mean_vmax"], 240.0, 2.0)
        * _squash(m["clipped_share"], 0.15, 0.04)
        * _squash(-m["warmth"], -20.0, 4.0)
    )
    broken = sum(int(m[k] > 0.5) for k in ("round_small", "in_ceiling", "below_window_line", "thin_strip"))
    confidence *= 0.2 ** broken
    return min(1.0, confidence / 0.6)  # the cues rarely all saturate on a real window


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


def window_analysis_maps(proxy_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid every window measurement runs on: the proxy at ``WORK_LONG_SIDE`` (HxWx3
    uint8; the input itself when already small), its linear luminance (HxW float32
    [0, 1]) and its brightest channel (HxW uint8)."""
    ph, pw = proxy_rgb.shape[:2]
    scale = min(1.0, WORK_LONG_SIDE / max(ph, pw))
    small = proxy_rgb if scale >= 1.0 else cv2.resize(
        proxy_rgb, (max(1, round(pw * scale)), max(1, round(ph * scale))), interpolation=cv2.INTER_AREA)
    return small, luminance(srgb_to_linear(small)), max_channel(small)


def detect_windows(proxy_rgb: np.ndarray, source_hw: tuple[int, int]) -> dict:
    """Find the over-exposed windows of an interior photo.

    proxy_rgb: HxWx3 uint8 RGB proxy of the photo (~1024 px long side; any size works,
    it is analysed at ``WORK_LONG_SIDE``). source_hw: (H, W) of the full-resolution
    photo the boxes are reported in.

    Each window is found on its own (several windows of different sizes give several
    entries): a connected near-clipped region (mullions and muntins closed over) of at
    least ``MIN_AREA_SHARE`` of the frame, measured (``WINDOW_INPUTS``) on the sharpness
    of its step down to the surroundings (``edge_stops``: a lit wall or cabinet fades, a
    window does not), how well it fills its box, how much of its outline (or its hull,
    behind blinds) runs along straight sides, how much of it is clipped, its colour (lamp
    light on a backsplash or a vanity wall is warm, daylight is not), its size, place and
    shape, and four rules (small round blobs: lamps; strips in the ceiling: light boxes;
    regions starting below the window line: counters, beds, tubs; thin strips: door
    edges). The shipped model (``window_params.py``, chosen and fitted by
    ``bench/fit_windows.py`` on labelled regions of the eval photos: the cue votes or a
    logistic regression) turns them into a confidence; detections below
    ``MIN_CONFIDENCE`` (fitted with it) are dropped.

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
    penalties = {
        "round_small": circularity > 0.82 and area_share < 0.03,  # a lamp or a hot-spot
        "in_ceiling": y + bh <= 0.12 * h or (y + bh <= 0.3 * h and bw >= 2.0 * bh),  # a light fixture
        "below_window_line": y >= 0.55 * h,  # floor, counter, bed or tub
        "thin_strip": max(bw / max(bh, 1), bh / max(bw, 1)) > 4.5,  # a door edge or a reflection
    }
    measures = {
        "edge_stops": edge_stops, "box_fill": box_fill, "straight": straight, "mean_vmax": mean_vmax,
        "clipped_share": clipped_share, "blown_share": blown_share, "warmth": warmth, "circularity": circularity,
        "log_area_share": math.log(max(area_share, 1e-6)), "top": y / h, "bottom": (y + bh) / h,
        "log_aspect": math.log(max(bw, 1) / max(bh, 1)), **{k: float(v) for k, v in penalties.items()},
    }
    confidence = window_confidence(measures)
    return {
        "mask": mask, "area": area, "rect": rect, "mean_lum": float(lum[inside].mean()),
        "edge_stops": edge_stops, "straight": straight, "box_fill": box_fill,
        "clipped_share": clipped_share, "blown_share": blown_share, "mean_vmax": mean_vmax, "warmth": warmth, "circularity": circularity,
        "confidence": confidence, "penalties": [k for k, v in penalties.items() if v], "measures": measures,
    }


def window_confidence(measures: dict, params: dict | None = None) -> float:
    """Confidence that a bright region is daylight glass, from its named measurements
    (``WINDOW_INPUTS``) under the shipped model (``window_params.PARAMS``, or ``params`` of
    that shape: the fitter passes candidates): ``model`` "votes" (``vote_confidence``) or
    "logistic" (a fitted logistic regression over the standardised measurements)."""
    p = WINDOW_PARAMS if params is None else params
    if p.get("model", "logistic") == "votes":
        return vote_confidence(measures)
    return two_class_probability(measures, p, INPUT_CLIP)
