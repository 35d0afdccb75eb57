"""Listing retouch: flash and specular hot-spots, found and removed.

Classical, no weights. Images are HxWx3 ``uint8`` RGB; masks HxW ``float32`` in [0, 1].
Inputs are never mutated.

Hot-spots (``find_hotspots``) are found on an analysis proxy (long side <= 1024 px).
A specular reflection adds an (almost) illuminant-coloured component on top of the
diffuse colour, so it raises all three channels; the *minimum* channel is the one the
diffuse colour keeps lowest, and its white top-hat (value minus the larger of two
openings by a horizontal and a vertical line ~1/12 of the long side) isolates spots
short in both directions while ignoring saturated bright colours, wall strips between
cabinets, frames and windows (they survive one of the openings). Seeds must stand far
above that level (contrast and ratio) and be bright; regions grow from them down to a
quarter of their own peak. A region is kept only when it passes every test, and the
report counts the rejections by reason:

* ``too_large`` / ``rectangular``: blown areas (windows, lit panels) are not glare;
* ``light_source``: a clipped core in the top ``LIGHT_SOURCE_TOP`` of the frame is a
  ceiling lamp or fixture (a lamp lower down is caught, if at all, by the halo test);
* ``not_brightest``: glare is among the brightest things in the frame;
* ``plateau``: a lobe of light is a dome in linear light (area over the area above half
  its peak >= ``SOFTNESS_MIN``); a clipped core must be small next to its halo
  (``CLIPPED_HALO_MIN``: lamps, lit windows, white mugs are mostly core);
* ``step_edge``: switch plates, sockets, watermark letters rise in a step or hold a flat
  plateau, a highlight fades out;
* ``busy_surround`` / ``sky`` / ``dark``: a hot-spot sits *on* one surface, so its ring
  must vary little next to its contrast; clouds and sky through leaves (a blue ring) and
  white things in the dark are left alone.

Restoration (``remove_glare``) works at full resolution but only on crops around each
region: the specular excess of the minimum channel over the local diffuse level (a
masked local mean plus one local standard deviation, so the surface's own texture
stays) scales the highlight's own colour (peak minus surrounding surface, the
dichromatic model), which is subtracted in linear light; where most of the light was
specular the surface's chromaticity is used, so no tinted residue is left. Where a
channel is clipped the diffuse colour is lost and the pixels are filled with
``cv2.inpaint`` (Telea) from the surrounding surface. The edit is feathered in; pixels
away from the regions are bit-identical to the input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from lumograph.models.common.colour import srgb_decode, srgb_encode
from lumograph.models.common.imageio import fast_downscale, require_rgb_u8
from lumograph.models.common.numeric import rounded

#: Long side of the analysis grid (smaller images are analysed at their own size).
ANALYSIS_LONG_SIDE = 1024
#: Smallest accepted short side in pixels.
MIN_SIDE = 16
#: Structuring element of the opening, as a share of the analysis long side: spots
#: smaller than this stand out of the opening, walls and windows larger than it do not.
BACKGROUND_FRACTION = 1.0 / 12.0
#: Top-hat of the minimum channel (0-1 sRGB) that seeds a hot-spot, and the weaker level
#: a seeded region grows into (hysteresis keeps the soft falloff of a flash spot).
SEED_CONTRAST = 0.16
GROW_CONTRAST = 0.05
GROW_RELATIVE = 0.25
#: Dome test: region area over the area above half its peak. A Gaussian highlight grown
#: to a quarter of its peak gives 2.0; a white object with a step edge gives ~1.1-1.4.
SOFTNESS_MIN = 2.6
#: Ring test: std of the surround over the spot's contrast above it.
RING_CV_MAX = 0.15
#: A clipped core must be this small a share of its region (a flash spot's halo is wide;
#: a lamp, a white mug or a lit window is mostly core with a short ramp).
CLIPPED_HALO_MIN = 3.0
#: Step-edge test: steepest slope (95th percentile, per proxy pixel) over contrast, and
#: the share of the inside within 10 % of the top (a plateau).
STEP_EDGE_MAX = 0.36
PLATEAU_MAX = 0.5
RING_STD_MAX = 0.06
#: A ring this much bluer than red (0-1 sRGB) and bright is sky.
SKY_BLUE_MARGIN = 0.06
#: A surround darker than this (max channel, 0-1 sRGB) reads as a white thing in the
#: dark (a lit window at night, blossom in shade), not as a highlight on a surface.
DARK_SURROUND = 0.12
#: A seed must also be bright: its max channel at least this share of the image's
#: near-peak level (99.9th percentile), and at least ``BRIGHT_FLOOR`` absolute.
BRIGHT_RELATIVE = 0.85
BRIGHT_FLOOR = 0.25
#: The region's brightest pixel must reach this share of the near-peak level.
PEAK_RELATIVE = 0.97
#: ... and far above its local level: min channel >= this ratio x local background.
RATIO_MIN = 1.5
#: Region shape limits.
MAX_REGION_SHARE = 0.01
RECT_FILL = 0.85
RECT_MIN_SHARE = 0.002
MIN_REGION_PX = 4
MIN_REGION_SHARE = 2e-5
#: Light sources: core clipped and high in the frame.
CLIPPED_LEVEL = 250
LIGHT_SOURCE_TOP = 0.35
LIGHT_SOURCE_CLIPPED_SHARE = 0.02
#: Texture allowance: the diffuse level is the local mean plus this many local standard
#: deviations of the minimum channel, so the surface's own texture is not flattened.
TEXTURE_SIGMAS = 1.0


# ------------------------------------------------------------------------- helpers


_SRGB_TO_LINEAR = srgb_decode(np.arange(256, dtype=np.float32) / 255.0).astype(np.float32)


@dataclass(frozen=True)
class _Region:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 on the grid, exclusive ends
    area: int
    label: int


@dataclass(frozen=True)
class _Analysis:
    grid_hw: tuple[int, int]
    mask: np.ndarray  # accepted regions, grid HxW float32 {0,1}
    labels: np.ndarray  # grid int32 component labels
    regions: list[_Region]
    rejected: dict
    diffuse_mean: np.ndarray  # grid HxW float32, local diffuse level of the min channel
    diffuse_std: np.ndarray


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


def _analyse(rgb: np.ndarray, *, with_fields: bool) -> _Analysis:
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
    candidate = cv2.compare(tophat_u8, int(255 * SEED_CONTRAST), cv2.CMP_GE)
    candidate = cv2.bitwise_and(candidate, cv2.compare(vmax_u8, bright_u8, cv2.CMP_GE))
    loose_u8 = cv2.compare(tophat_u8, int(255 * GROW_CONTRAST), cv2.CMP_GE)
    rejected = {"too_large": 0, "rectangular": 0, "light_source": 0, "tiny": 0, "plateau": 0,
                "busy_surround": 0, "sky": 0, "dark": 0,
                "not_brightest": 0, "step_edge": 0}
    frame = gh * gw
    regions: list[_Region] = []
    empty = np.zeros((gh, gw), np.float32)
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
        # not across every faint bump it happens to touch.
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
            # Glare is among the brightest things in the frame; a white switch plate, a
            # mug or a watermark is bright only next to its surround.
            if region_top[i] < PEAK_RELATIVE * 255.0 * peak:
                rejected["not_brightest"] += 1
                continue
            if area > MAX_REGION_SHARE * frame:
                rejected["too_large"] += 1
                continue
            if area >= RECT_MIN_SHARE * frame and area >= RECT_FILL * bw * bh:
                rejected["rectangular"] += 1
                continue
            cy = (y + bh / 2) / gh
            if cy < LIGHT_SOURCE_TOP and clipped_counts[i] >= max(1.0, LIGHT_SOURCE_CLIPPED_SHARE * area):
                rejected["light_source"] += 1
                continue
            # A highlight fades out (a dome); a white object is a plateau with a step edge.
            # Clipped cores are flat whatever they are; there the halo around the core
            # tells a flash spot (wide falloff) from a blown white object (step edge).
            if any_clipped[i] >= 0.1 * area:
                needed, core = CLIPPED_HALO_MIN, int(any_clipped[i])
            else:
                needed, core = SOFTNESS_MIN, int(upper_counts[i])
            if area < needed * max(1, core):
                rejected["plateau"] += 1
                continue
            if _has_step_edge(vmin_u8, labels, i, (x, y, x + bw, y + bh)):
                rejected["step_edge"] += 1
                continue
            surround = _surround(proxy, vmin_u8, labels, i, (x, y, x + bw, y + bh), area)
            if surround in ("sky", "dark"):
                rejected[surround] += 1
                continue
            if surround != "uniform":
                rejected["busy_surround"] += 1
                continue
            regions.append(_Region((x, y, x + bw, y + bh), area, int(i)))
    keep = np.zeros(int(labels.max()) + 1, bool)
    for r in regions:
        keep[r.label] = True
    mask = keep[labels].astype(np.float32) if regions else empty
    if with_fields:
        mean, std = _diffuse_level(vmin_u8.astype(np.float32) / 255.0, grow)
    else:
        mean = std = None
    return _Analysis((gh, gw), mask, labels, regions, rejected, mean, std)


def _has_step_edge(vmin_u8: np.ndarray, labels: np.ndarray, label: int,
                   box: tuple[int, int, int, int]) -> bool:
    """True when the candidate is an object, not a lobe of light: its edge rises in a
    step (steepest slopes a large share of its contrast per pixel: a switch plate, a
    socket, a watermark's letters) or its inside is a flat plateau. A highlight's falloff
    is gradual and its inside peaks."""
    gh, gw = vmin_u8.shape
    x0, y0, x1, y1 = box
    k = 4
    X0, Y0, X1, Y1 = max(0, x0 - k), max(0, y0 - k), min(gw, x1 + k), min(gh, y1 + k)
    sel = (labels[Y0:Y1, X0:X1] == label).astype(np.uint8)
    near = cv2.dilate(sel, np.ones((5, 5), np.uint8)) > 0
    ring = (cv2.dilate(sel, np.ones((9, 9), np.uint8)) > 0) & ~near
    values = vmin_u8[Y0:Y1, X0:X1].astype(np.float32) / 255.0
    if not ring.any():
        return True
    top = float(values[sel > 0].max())
    contrast = top - float(np.median(values[ring]))
    if contrast <= 0:
        return True
    gx = cv2.Sobel(values, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(values, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    steep = float(np.percentile(np.hypot(gx, gy)[near], 95)) / contrast
    core = cv2.erode(sel, np.ones((3, 3), np.uint8)) > 0
    flat = float((values[core] >= top - 0.1 * contrast).mean()) if core.any() else 0.0
    return steep > STEP_EDGE_MAX or flat > PLATEAU_MAX


def _surround(proxy: np.ndarray, vmin_u8: np.ndarray, labels: np.ndarray, label: int,
             box: tuple[int, int, int, int], area: int) -> str:
    """What the ring around a candidate spot is: "dark" (see ``DARK_SURROUND``), "uniform" (one surface: a hot-spot sits
    *on* something, the ring varies little next to how far the spot stands above it),
    "busy" (chrome, foliage, a pattern's gaps, the edges of white objects) or "sky"
    (a bright blue surround: clouds and sky seen through leaves are not glare)."""
    gh, gw = vmin_u8.shape
    x0, y0, x1, y1 = box
    k = max(3, int(0.5 * math.sqrt(area)))
    X0, Y0, X1, Y1 = max(0, x0 - k), max(0, y0 - k), min(gw, x1 + k), min(gh, y1 + k)
    sel = (labels[Y0:Y1, X0:X1] == label).astype(np.uint8)
    near = cv2.dilate(sel, np.ones((3, 3), np.uint8))
    far = cv2.dilate(sel, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    ring_at = (far > 0) & (near == 0)
    values = vmin_u8[Y0:Y1, X0:X1].astype(np.float32) / 255.0
    ring = values[ring_at]
    if ring.size < 8:
        return "busy"
    colour = np.median(proxy[Y0:Y1, X0:X1][ring_at].astype(np.float32), axis=0) / 255.0
    if float(colour.max()) < DARK_SURROUND:
        return "dark"
    if colour[2] - colour[0] >= SKY_BLUE_MARGIN and colour[2] >= colour[1] and colour[2] >= 0.45:
        return "sky"
    contrast = float(values[sel > 0].max() - np.median(ring))
    spread = float(ring.std())
    if contrast > 0 and spread <= RING_CV_MAX * contrast and spread <= RING_STD_MAX:
        return "uniform"
    return "busy"


def _diffuse_level(vmin: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local mean and standard deviation of the min channel over non-candidate pixels
    (normalised box filtering), i.e. the diffuse surface level around each spot."""
    h, w = vmin.shape
    size = max(3, int(round(max(h, w) * BACKGROUND_FRACTION)) | 1)
    ring = cv2.dilate(candidates.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    weight = (1 - ring).astype(np.float32)
    ksize = (size, size)
    wsum = cv2.boxFilter(weight, -1, ksize, normalize=True, borderType=cv2.BORDER_REFLECT)
    m1 = cv2.boxFilter(vmin * weight, -1, ksize, normalize=True, borderType=cv2.BORDER_REFLECT)
    m2 = cv2.boxFilter(vmin * vmin * weight, -1, ksize, normalize=True, borderType=cv2.BORDER_REFLECT)
    # Where the window holds no clean pixel (the middle of a big spot) widen it once.
    big = (size * 3) | 1
    wsum_b = cv2.boxFilter(weight, -1, (big, big), normalize=True, borderType=cv2.BORDER_REFLECT)
    m1_b = cv2.boxFilter(vmin * weight, -1, (big, big), normalize=True, borderType=cv2.BORDER_REFLECT)
    m2_b = cv2.boxFilter(vmin * vmin * weight, -1, (big, big), normalize=True, borderType=cv2.BORDER_REFLECT)
    thin = wsum < 0.05
    wsum = np.where(thin, wsum_b, wsum)
    m1 = np.where(thin, m1_b, m1)
    m2 = np.where(thin, m2_b, m2)
    safe = np.maximum(wsum, 1e-4)
    mean = m1 / safe
    var = np.maximum(m2 / safe - mean * mean, 0.0)
    # No clean pixel at all: fall back to the image's median (nothing better is known).
    fallback = float(np.median(vmin))
    mean = np.where(wsum < 1e-3, fallback, mean).astype(np.float32)
    return mean, np.sqrt(var).astype(np.float32)


# --------------------------------------------------------------------- hot-spots


def find_hotspots(rgb: np.ndarray) -> dict:
    """Detect flash / specular hot-spots.

    rgb: HxWx3 uint8 RGB (any size, short side >= ``MIN_SIDE``); not modified.
    Returns ``{"mask": gh x gw float32 in {0, 1} on the analysis grid (long side
    <= ANALYSIS_LONG_SIDE, same aspect as rgb), "grid_hw": [gh, gw], "share": float in
    [0, 1] share of the frame covered, "regions": int, "boxes_norm": [[x0, y0, x1, y1]
    as fractions of width / height, x1/y1 exclusive], "rejected": {reason: count}}``
    (rejected: seeded regions that were too large, rectangular, a light source or tiny).
    Raises ``InvalidImage`` for a wrong type, dtype, shape or a too-small image.
    """
    require_rgb_u8(rgb, "rgb", min_side=MIN_SIDE)
    a = _analyse(rgb, with_fields=False)
    return _hotspot_dict(a)


def _hotspot_dict(a: _Analysis) -> dict:
    gh, gw = a.grid_hw
    boxes = [[rounded(r.box[0] / gw), rounded(r.box[1] / gh), rounded(r.box[2] / gw), rounded(r.box[3] / gh)]
             for r in a.regions]
    return {"mask": a.mask, "grid_hw": [gh, gw], "share": rounded(float(a.mask.mean()), 6),
            "regions": len(a.regions), "boxes_norm": boxes, "rejected": dict(a.rejected)}


def hotspot_share(proxy_rgb: np.ndarray) -> float:
    """Share of the frame in specular hot-spots, in [0, 1] (the auto-select signal).

    proxy_rgb: HxWx3 uint8 RGB, ideally <= 1024 px long side (larger inputs are reduced
    first); not modified. Same detector as ``find_hotspots``.
    """
    require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=MIN_SIDE)
    return rounded(float(_analyse(proxy_rgb, with_fields=False).mask.mean()), 6)


# ------------------------------------------------------------------------- glare


def remove_glare(rgb: np.ndarray) -> dict:
    """Remove flash / specular hot-spots at full resolution.

    rgb: HxWx3 uint8 RGB; not modified. Hot-spots are found on the analysis proxy; each
    region is restored on a full-resolution crop: the specular excess over the local
    diffuse level is subtracted in linear light where the highlight is not clipped, and
    clipped pixels are inpainted (``cv2.INPAINT_TELEA``); edits are feathered.

    Returns ``{"rgb": HxWx3 uint8 (a new array; an unmodified copy when nothing is found),
    "report": {"regions": int, "share": float, "inpainted_share": float (share of the
    frame inpainted), "subtracted_share": float, "method": str, "boxes_norm": [...],
    "rejected": {...}}, "applied": bool}``.
    """
    require_rgb_u8(rgb, "rgb", min_side=MIN_SIDE)
    a = _analyse(rgb, with_fields=True)
    det = _hotspot_dict(a)
    report = {"regions": det["regions"], "share": det["share"], "inpainted_share": 0.0,
              "subtracted_share": 0.0, "method": "none", "boxes_norm": det["boxes_norm"],
              "rejected": det["rejected"]}
    if not a.regions:
        return {"rgb": rgb.copy(), "report": report, "applied": False}
    out = rgb.copy()
    h, w = rgb.shape[:2]
    inpainted = subtracted = 0
    for region in a.regions:
        n_in, n_sub = _restore_region(rgb, out, a, region)
        inpainted += n_in
        subtracted += n_sub
    report["inpainted_share"] = rounded(inpainted / (h * w), 6)
    report["subtracted_share"] = rounded(subtracted / (h * w), 6)
    methods = []
    if subtracted:
        methods.append("specular_subtraction")
    if inpainted:
        methods.append("inpaint_telea")
    report["method"] = "+".join(methods) or "none"
    return {"rgb": out, "report": report, "applied": bool(methods)}


def _restore_region(src: np.ndarray, out: np.ndarray, a: _Analysis, region: _Region) -> tuple[int, int]:
    h, w = src.shape[:2]
    gh, gw = a.grid_hw
    sx, sy = w / gw, h / gh
    gx0, gy0, gx1, gy1 = region.box
    # Grid crop with a margin: the feather and the inpainting need surrounding surface.
    pad = max(3, int(0.5 * max(gx1 - gx0, gy1 - gy0)))
    cx0, cy0 = max(0, gx0 - pad), max(0, gy0 - pad)
    cx1, cy1 = min(gw, gx1 + pad), min(gh, gy1 + pad)
    fx0, fy0 = int(math.floor(cx0 * sx)), int(math.floor(cy0 * sy))
    fx1, fy1 = min(w, int(math.ceil(cx1 * sx))), min(h, int(math.ceil(cy1 * sy)))
    fw, fh = fx1 - fx0, fy1 - fy0
    size = (fw, fh)
    region_grid = (a.labels[cy0:cy1, cx0:cx1] == region.label).astype(np.float32)
    region_full = cv2.resize(region_grid, size, interpolation=cv2.INTER_LINEAR)
    grow = max(1, int(round(1.5 * max(sx, sy))))
    reach = cv2.dilate((region_full > 0.25).astype(np.uint8),
                       cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    mean = cv2.resize(a.diffuse_mean[cy0:cy1, cx0:cx1], size, interpolation=cv2.INTER_LINEAR)
    std = cv2.resize(a.diffuse_std[cy0:cy1, cx0:cx1], size, interpolation=cv2.INTER_LINEAR)

    crop_u8 = src[fy0:fy1, fx0:fx1]
    crop = crop_u8.astype(np.float32) / 255.0
    lin = srgb_decode(crop).astype(np.float32)
    level_lin = srgb_decode(np.clip(mean + TEXTURE_SIGMAS * std, 0.0, 1.0)).astype(np.float32)
    vmin_lin = lin.min(axis=2)
    excess = np.maximum(vmin_lin - level_lin, 0.0) * reach
    # The highlight's own colour (dichromatic model): what the brightest part of the spot
    # adds on top of the surface around it, per channel. Subtracting that colour (scaled
    # by how far each pixel's min channel stands out) lands the peak on the surface
    # colour instead of leaving a tinted residue where the highlight was not white.
    inside = reach > 0
    ring = (cv2.dilate(reach, np.ones((5, 5), np.uint8)) > 0) & ~inside
    if ring.sum() >= 8 and (excess > 0).any():
        top = excess >= np.percentile(excess[excess > 0], 80)
        surface = np.median(lin[ring], axis=0)
        added = np.maximum(lin[top].mean(axis=0) - surface, 1e-4)
        strength = np.clip(excess / max(float(excess[top].mean()), 1e-4), 0.0, 1.0)
        restored = np.maximum(lin - strength[:, :, None] * added[None, None, :], 0.0)
        # Where most of the light was specular, what is left is too little signal to
        # carry a colour (JPEG noise becomes a tinted blotch): take the surface's
        # chromaticity there, keeping the restored intensity (its shading and texture).
        total = restored.sum(axis=2, keepdims=True)
        recoloured = total * (surface / max(float(surface.sum()), 1e-6))[None, None, :]
        diffuse = srgb_encode(restored + strength[:, :, None] * (recoloured - restored)).astype(np.float32)
    else:
        diffuse = srgb_encode(lin - excess[:, :, None]).astype(np.float32)
    fixed = np.clip(diffuse * 255.0 + 0.5, 0, 255).astype(np.uint8)

    clipped = (crop_u8.max(axis=2) >= CLIPPED_LEVEL) & (reach > 0)
    n_in = 0
    if clipped.any():
        hole = cv2.dilate(clipped.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
        radius = max(3, int(round(3 * max(sx, sy))))
        fixed = cv2.inpaint(fixed, hole, radius, cv2.INPAINT_TELEA)
        n_in = int(hole.sum())
    feather_sigma = max(1.0, 1.0 * max(sx, sy))
    weight = cv2.GaussianBlur(reach.astype(np.float32), (0, 0), feather_sigma)
    blended = crop + weight[:, :, None] * (fixed.astype(np.float32) / 255.0 - crop)
    region_out = out[fy0:fy1, fx0:fx1]
    # Regions may overlap through their margins: only pixels this region touches change.
    touched = weight > 1e-3
    region_out[touched] = np.clip(blended * 255.0 + 0.5, 0, 255).astype(np.uint8)[touched]
    return n_in, int((excess > 0).sum())
