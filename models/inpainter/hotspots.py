"""Flash and specular hot-spots: candidate regions, what each one measures, and the tests
that accept one as glare (used by ``glare.py``, which restores them).

Classical, no weights. A specular reflection adds an (almost) illuminant-coloured
component on top of the diffuse colour, so it raises all three channels; the *minimum*
channel is the one the diffuse colour keeps lowest, and its white top-hat (value minus the
larger of two openings by a horizontal and a vertical line ~1/12 of the long side) isolates
spots short in both directions while ignoring saturated bright colours, wall strips between
cabinets, frames and windows (they survive one of the openings). Seeds must stand far above
that level (contrast and ratio) and be bright; regions grow from them down to a quarter of
their own peak. A region is kept only when it passes every test, and the report counts the
rejections by reason:

* ``too_large`` / ``rectangular``: blown areas (windows, lit panels) are not glare;
* ``light_source``: a clipped core high in the frame is a ceiling lamp or fixture;
* ``not_brightest``: glare is among the brightest things in the frame;
* ``plateau``: a lobe of light is a dome in linear light (area over the area above half
  its peak); a clipped core must be small next to its halo (lamps, lit windows, white mugs
  are mostly core);
* ``step_edge``: switch plates, sockets, watermark letters rise in a step or hold a flat
  plateau, a highlight fades out;
* ``busy_surround`` / ``sky`` / ``dark``: a hot-spot sits *on* one surface, so its ring
  must vary little next to its contrast; clouds and sky through leaves (a blue ring) and
  white things in the dark are left alone.

The test thresholds (:data:`FITTED_KEYS`) are fitted by ``bench/fit_glare.py`` on
candidate regions of the eval's listing photos labelled by eye and live in
``glare_params.py``; :data:`HAND_SET` keeps the values they had before the fit, for the
comparison the fit reports. The constants below them shape the candidates (how a region is
seeded and grown) and are set by reasoning.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from lumograph.models.common.colour import srgb_decode
from lumograph.models.common.imageio import fast_downscale
from lumograph.models.inpainter.glare_params import PARAMS as FITTED

#: Long side of the analysis grid (smaller images are analysed at their own size).
ANALYSIS_LONG_SIDE = 1024
#: Structuring element of the opening, as a share of the analysis long side: spots
#: smaller than this stand out of the opening, walls and windows larger than it do not.
BACKGROUND_FRACTION = 1.0 / 12.0
#: The weaker top-hat level (0-1 sRGB) a seeded region grows into, absolute and as a share
#: of its own peak (hysteresis keeps the soft falloff of a flash spot).
GROW_CONTRAST = 0.05
GROW_RELATIVE = 0.25
#: A seed must be bright: its max channel at least this share of the image's near-peak
#: level (99.9th percentile), and at least ``BRIGHT_FLOOR`` absolute; and far above its
#: local level: min channel >= ``RATIO_MIN`` x the opened background.
BRIGHT_RELATIVE = 0.85
BRIGHT_FLOOR = 0.25
RATIO_MIN = 1.5
#: Region size limits (below them a region is noise; rectangles are only judged from
#: ``RECT_MIN_SHARE`` of the frame).
MIN_REGION_PX = 4
MIN_REGION_SHARE = 2e-5
RECT_MIN_SHARE = 0.002
#: Clipped level (0-255) and the share of a region clipped in every channel that makes a
#: high region a light source.
CLIPPED_LEVEL = 250
LIGHT_SOURCE_CLIPPED_SHARE = 0.02
#: A clipped region (this share of it clipped in some channel) is judged by its halo, not
#: by its dome.
CLIPPED_REGION_SHARE = 0.1
#: The sky test also wants the ring's blue to lead green and to be bright.
SKY_BLUE_FLOOR = 0.45

#: The tests' thresholds before the fit (bench/fit_glare.py compares them held-out).
HAND_SET = {
    "seed_contrast": 0.16,      # top-hat of the min channel (0-1) that seeds a region
    "peak_relative": 0.97,      # the region's top >= this x the image's near-peak level
    "max_region_share": 0.01,   # larger regions are blown areas
    "rect_fill": 0.85,          # area / box area from which a large region is a rectangle
    "light_source_top": 0.35,   # a clipped core centred above this share of the height is a lamp
    "softness_min": 2.6,        # dome: area / area above half the peak (linear light)
    "clipped_halo_min": 3.0,    # clipped core: area / clipped area
    "step_edge_max": 0.36,      # steepest edge slope (95th pct, per px) / contrast
    "plateau_max": 0.5,         # share of the inside within 10 % of the top
    "ring_cv_max": 0.15,        # ring std / contrast on one surface
    "ring_std_max": 0.06,       # ring std (0-1)
    "sky_blue_margin": 0.06,    # ring blue - red (0-1) from which the ring is sky
    "dark_surround": 0.12,      # ring max channel (0-1) below which the spot is in the dark
}
FITTED_KEYS = tuple(HAND_SET)
#: The thresholds in use.
PARAMS = {k: float(FITTED["thresholds"][k]) for k in FITTED_KEYS}

#: Rejection reasons, in the order the tests run.
REASONS = ("tiny", "not_brightest", "too_large", "rectangular", "light_source", "plateau", "step_edge",
           "sky", "dark", "busy_surround")

_SRGB_TO_LINEAR = srgb_decode(np.arange(256, dtype=np.float32) / 255.0).astype(np.float32)


@dataclass(frozen=True)
class Region:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 on the grid, exclusive ends
    area: int
    label: int


@dataclass(frozen=True)
class Candidate:
    """A seeded region and what it measures (``features``: name -> float; the step-edge
    and surround measures are present only when asked for or reached)."""

    region: Region
    features: dict


@dataclass(frozen=True)
class Analysis:
    grid_hw: tuple[int, int]
    vmin: np.ndarray  # the analysis grid's minimum channel, HxW uint8
    mask: np.ndarray  # accepted regions, grid HxW float32 {0,1}
    labels: np.ndarray  # grid int32 component labels
    regions: list[Region]
    rejected: dict
    grow: np.ndarray  # grid HxW bool, every grown region (accepted or not)
    candidates: list[Candidate]  # every seeded region that is not tiny (with ``measure_all``)


def _open_background(vmin_u8: np.ndarray) -> np.ndarray:
    """The level a hot-spot stands out of: the largest of openings by a horizontal and a
    vertical line ~``BACKGROUND_FRACTION`` of the long side. A bright structure longer
    than that in either direction (a wall strip between cabinets, a door frame, a chrome
    streak, a window) survives one of them and has no top-hat; only spots short in both
    directions stand out."""
    h, w = vmin_u8.shape
    size = max(3, int(round(max(h, w) * BACKGROUND_FRACTION)) | 1)
    horizontal = cv2.morphologyEx(vmin_u8, cv2.MORPH_OPEN, np.ones((1, size), np.uint8),
                                  borderType=cv2.BORDER_REPLICATE)
    vertical = cv2.morphologyEx(vmin_u8, cv2.MORPH_OPEN, np.ones((size, 1), np.uint8),
                                borderType=cv2.BORDER_REPLICATE)
    return cv2.max(horizontal, vertical)


def seed_level(seed_contrast: float) -> int:
    """The uint8 top-hat level a seed reaches."""
    return int(255 * seed_contrast)


def cheap_reason(f: dict, p: dict) -> str | None:
    """The first failed test among those measured for every candidate, or None."""
    if f["top_relative"] < p["peak_relative"]:
        return "not_brightest"
    if f["area_share"] > p["max_region_share"]:
        return "too_large"
    if f["area_share"] >= RECT_MIN_SHARE and f["fill"] >= p["rect_fill"]:
        return "rectangular"
    if f["centre_y"] < p["light_source_top"] and f["light_clipped"]:
        return "light_source"
    if f["clipped_region"]:
        if f["halo_ratio"] < p["clipped_halo_min"]:
            return "plateau"
    elif f["dome_ratio"] < p["softness_min"]:
        return "plateau"
    return None


def step_reason(f: dict, p: dict) -> str | None:
    if f["steep"] > p["step_edge_max"] or f["flat"] > p["plateau_max"]:
        return "step_edge"
    return None


def surround_reason(f: dict, p: dict) -> str | None:
    if f["ring_small"]:
        return "busy_surround"
    if f["ring_max"] < p["dark_surround"]:
        return "dark"
    if f["ring_blue"] >= p["sky_blue_margin"] and f["ring_bluish"]:
        return "sky"
    if f["ring_contrast"] > 0 and f["ring_spread"] <= p["ring_cv_max"] * f["ring_contrast"] \
            and f["ring_spread"] <= p["ring_std_max"]:
        return None
    return "busy_surround"


def reject_reason(f: dict, p: dict) -> str | None:
    """Why a fully measured candidate (``features``) is not glare under thresholds ``p``
    (None: it is); "unseeded" when it does not reach ``p``'s seed level."""
    if f["seed_u8"] < seed_level(p["seed_contrast"]):
        return "unseeded"
    return cheap_reason(f, p) or step_reason(f, p) or surround_reason(f, p)


def analyse(rgb: np.ndarray, params: dict | None = None, *, measure_all: bool = False) -> Analysis:
    """Find hot-spots on ``rgb``'s analysis proxy under thresholds ``params`` (default
    :data:`PARAMS`). With ``measure_all`` every seeded region is measured in full and kept
    in ``candidates`` (the fit's input); otherwise measuring stops at the first failed test."""
    p = PARAMS if params is None else params
    proxy = fast_downscale(rgb, ANALYSIS_LONG_SIDE)
    gh, gw = proxy.shape[:2]
    # cv2's per-channel min/max is ~10x faster than numpy's reduction over axis 2.
    r, g, b = cv2.split(np.ascontiguousarray(proxy))
    vmin_u8 = cv2.min(cv2.min(r, g), b)
    vmax_u8 = cv2.max(cv2.max(r, g), b)
    opened = _open_background(vmin_u8)
    tophat_u8 = cv2.subtract(vmin_u8, opened)
    hist = np.bincount(vmax_u8.ravel(), minlength=256)
    peak = float(np.searchsorted(np.cumsum(hist), 0.999 * vmax_u8.size)) / 255.0
    bright_u8 = int(math.ceil(255.0 * max(BRIGHT_FLOOR, BRIGHT_RELATIVE * peak)))
    # Whole-frame work stays in uint8 OpenCV calls; per-pixel numpy only touches the
    # few candidate pixels (this keeps ``hotspot_share`` inside its budget).
    candidate = cv2.compare(tophat_u8, seed_level(p["seed_contrast"]), cv2.CMP_GE)
    candidate = cv2.bitwise_and(candidate, cv2.compare(vmax_u8, bright_u8, cv2.CMP_GE))
    loose_u8 = cv2.compare(tophat_u8, int(255 * GROW_CONTRAST), cv2.CMP_GE)
    rejected = {reason: 0 for reason in REASONS}
    frame = gh * gw
    regions: list[Region] = []
    measured: list[Candidate] = []
    cand_idx = np.flatnonzero(candidate.ravel())
    vmin_flat, open_flat, top_flat = vmin_u8.ravel(), opened.ravel(), tophat_u8.ravel()
    if cand_idx.size:
        far = vmin_flat[cand_idx].astype(np.float32) >= RATIO_MIN * open_flat[cand_idx]
        cand_idx = cand_idx[far]
    if not cand_idx.size:
        labels = np.zeros((gh, gw), np.int32)
        grow = np.zeros((gh, gw), bool)
    else:
        # Hysteresis relative to each spot's own peak: a region follows its highlight's
        # falloff down to ``GROW_RELATIVE`` of the peak (and ``GROW_CONTRAST`` absolute),
        # not across every faint bump it happens to touch. (A region seeded at a higher
        # seed level is the same region: its peak is the same seed pixel.)
        n0, labels0 = cv2.connectedComponents(loose_u8, connectivity=8)
        lab0 = labels0.ravel()
        peaks = np.zeros(n0, np.int32)
        np.maximum.at(peaks, lab0[cand_idx], top_flat[cand_idx].astype(np.int32))
        loose_idx = np.flatnonzero(loose_u8.ravel())
        keep_loose = top_flat[loose_idx] >= GROW_RELATIVE * peaks[lab0[loose_idx]]
        keep_loose &= peaks[lab0[loose_idx]] > 0
        grow_flat = np.zeros(gh * gw, np.uint8)
        grow_flat[loose_idx[keep_loose]] = 1
        grow = grow_flat.reshape(gh, gw)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(grow, connectivity=8)
        lab = labels.ravel()
        seed_u8 = np.zeros(n, np.int32)
        np.maximum.at(seed_u8, lab[cand_idx], top_flat[cand_idx].astype(np.int32))
        seeded = np.zeros(n, bool)
        seeded[lab[cand_idx]] = True
        seeded[0] = False
        in_idx = np.flatnonzero(grow_flat)
        in_lab = lab[in_idx]
        clipped_counts = np.bincount(in_lab[vmin_flat[in_idx] >= CLIPPED_LEVEL], minlength=n)
        # Any clipped channel counts for the halo test: a warm lamp clips red and green
        # long before blue.
        any_clipped = np.bincount(in_lab[vmax_u8.ravel()[in_idx] >= CLIPPED_LEVEL], minlength=n)
        # The dome test runs in linear light, where a highlight's lobe adds up; sRGB
        # encoding flattens the top of any bright spot into a plateau.
        lin_top = _SRGB_TO_LINEAR[vmin_flat[in_idx]] - _SRGB_TO_LINEAR[open_flat[in_idx]]
        region_peak = np.zeros(n, np.float32)
        np.maximum.at(region_peak, in_lab, lin_top)
        upper_counts = np.bincount(in_lab[lin_top >= 0.5 * region_peak[in_lab]], minlength=n)
        region_top = np.zeros(n, np.int32)
        np.maximum.at(region_top, in_lab, vmax_u8.ravel()[in_idx].astype(np.int32))
        grow = grow.astype(bool)
        for i in np.flatnonzero(seeded):
            x, y, bw, bh, area = (int(v) for v in stats[i])
            if area < max(MIN_REGION_PX, MIN_REGION_SHARE * frame):
                rejected["tiny"] += 1
                continue
            region = Region((x, y, x + bw, y + bh), area, int(i))
            f = {
                "seed_u8": int(seed_u8[i]),
                "top_relative": region_top[i] / max(255.0 * peak, 1e-6),
                "area_share": area / frame,
                "fill": area / float(bw * bh),
                "centre_y": (y + bh / 2) / gh,
                "light_clipped": bool(clipped_counts[i] >= max(1.0, LIGHT_SOURCE_CLIPPED_SHARE * area)),
                "clipped_region": bool(any_clipped[i] >= CLIPPED_REGION_SHARE * area),
                "halo_ratio": area / max(1, int(any_clipped[i])),
                "dome_ratio": area / max(1, int(upper_counts[i])),
            }
            reason = cheap_reason(f, p)
            if reason is None or measure_all:
                f.update(_step_measures(vmin_u8, labels, region))
                reason = reason or step_reason(f, p)
            if reason is None or measure_all:
                f.update(_surround_measures(proxy, vmin_u8, labels, region))
                reason = reason or surround_reason(f, p)
            if measure_all:
                measured.append(Candidate(region, f))
            if reason is None:
                regions.append(region)
            else:
                rejected[reason] += 1
    keep = np.zeros(int(labels.max()) + 1, bool)
    for region in regions:
        keep[region.label] = True
    mask = keep[labels].astype(np.float32) if regions else np.zeros((gh, gw), np.float32)
    return Analysis((gh, gw), vmin_u8, mask, labels, regions, rejected, grow, measured)


def _step_measures(vmin_u8: np.ndarray, labels: np.ndarray, region: Region) -> dict:
    """How a candidate's edge rises: ``steep`` (steepest slopes, 95th percentile per pixel,
    over its contrast: a switch plate, a socket, a watermark's letters rise in a step) and
    ``flat`` (share of its inside within 10 % of the top: a plateau). A highlight's
    falloff is gradual and its inside peaks. No ring or no contrast: both infinite."""
    gh, gw = vmin_u8.shape
    x0, y0, x1, y1 = region.box
    k = 4
    X0, Y0, X1, Y1 = max(0, x0 - k), max(0, y0 - k), min(gw, x1 + k), min(gh, y1 + k)
    sel = (labels[Y0:Y1, X0:X1] == region.label).astype(np.uint8)
    near = cv2.dilate(sel, np.ones((5, 5), np.uint8)) > 0
    ring = (cv2.dilate(sel, np.ones((9, 9), np.uint8)) > 0) & ~near
    values = vmin_u8[Y0:Y1, X0:X1].astype(np.float32) / 255.0
    if not ring.any():
        return {"steep": math.inf, "flat": math.inf}
    top = float(values[sel > 0].max())
    contrast = top - float(np.median(values[ring]))
    if contrast <= 0:
        return {"steep": math.inf, "flat": math.inf}
    gx = cv2.Sobel(values, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(values, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    steep = float(np.percentile(np.hypot(gx, gy)[near], 95)) / contrast
    core = cv2.erode(sel, np.ones((3, 3), np.uint8)) > 0
    flat = float((values[core] >= top - 0.1 * contrast).mean()) if core.any() else 0.0
    return {"steep": steep, "flat": flat}


def _surround_measures(proxy: np.ndarray, vmin_u8: np.ndarray, labels: np.ndarray, region: Region) -> dict:
    """The ring around a candidate: its median colour's max channel (``ring_max``: a white
    thing in the dark), blue minus red and whether blue leads and is bright (``ring_blue``,
    ``ring_bluish``: clouds and sky through leaves), and how much it varies (``ring_spread``,
    std of the min channel) next to how far the spot stands above it (``ring_contrast``): a
    hot-spot sits *on* one surface; chrome, foliage, a pattern's gaps, the edges of white
    objects are busy. ``ring_small``: too few ring pixels to judge."""
    gh, gw = vmin_u8.shape
    x0, y0, x1, y1 = region.box
    k = max(3, int(0.5 * math.sqrt(region.area)))
    X0, Y0, X1, Y1 = max(0, x0 - k), max(0, y0 - k), min(gw, x1 + k), min(gh, y1 + k)
    sel = (labels[Y0:Y1, X0:X1] == region.label).astype(np.uint8)
    near = cv2.dilate(sel, np.ones((3, 3), np.uint8))
    far = cv2.dilate(sel, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    ring_at = (far > 0) & (near == 0)
    values = vmin_u8[Y0:Y1, X0:X1].astype(np.float32) / 255.0
    ring = values[ring_at]
    if ring.size < 8:
        return {"ring_small": True, "ring_max": 0.0, "ring_blue": 0.0, "ring_bluish": False,
                "ring_spread": math.inf, "ring_contrast": 0.0}
    colour = np.median(proxy[Y0:Y1, X0:X1][ring_at].astype(np.float32), axis=0) / 255.0
    return {"ring_small": False, "ring_max": float(colour.max()), "ring_blue": float(colour[2] - colour[0]),
            "ring_bluish": bool(colour[2] >= colour[1] and colour[2] >= SKY_BLUE_FLOOR),
            "ring_spread": float(ring.std()), "ring_contrast": float(values[sel > 0].max() - np.median(ring))}
