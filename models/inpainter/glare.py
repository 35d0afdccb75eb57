"""Listing retouch: flash and specular hot-spots, found and removed.

Classical, no weights. Images are HxWx3 ``uint8`` RGB; masks HxW ``float32`` in [0, 1].
Inputs are never mutated.

Hot-spots (``find_hotspots``) are found on an analysis proxy (long side <= 1024 px) by
``hotspots.py`` (the candidates, what each measures, and the fitted tests that accept one
as glare).

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

import cv2
import numpy as np

from lumograph.models.common.colour import srgb_decode, srgb_encode
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.numeric import rounded
from lumograph.models.inpainter.hotspots import BACKGROUND_FRACTION, CLIPPED_LEVEL, Analysis, Region, analyse

#: Smallest accepted short side in pixels.
MIN_SIDE = 16
#: Texture allowance: the diffuse level is the local mean plus this many local standard
#: deviations of the minimum channel, so the surface's own texture is not flattened.
TEXTURE_SIGMAS = 1.0


# ------------------------------------------------------------------------- helpers


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
    return _hotspot_dict(analyse(rgb))


def _hotspot_dict(a: Analysis) -> dict:
    gh, gw = a.grid_hw
    boxes = [[rounded(r.box[0] / gw), rounded(r.box[1] / gh), rounded(r.box[2] / gw), rounded(r.box[3] / gh)]
             for r in a.regions]
    return {"mask": a.mask, "grid_hw": [gh, gw], "share": rounded(float(a.mask.mean()), 6),
            "regions": len(a.regions), "boxes_norm": boxes, "rejected": dict(a.rejected)}


def hotspot_share(proxy_rgb: np.ndarray) -> float:
    """Share of the frame in specular hot-spots, in [0, 1].

    proxy_rgb: HxWx3 uint8 RGB, ideally <= 1024 px long side (larger inputs are reduced
    first); not modified. Same detector as ``find_hotspots``.
    """
    return hotspot_signals(proxy_rgb)["share"]


def hotspot_signals(proxy_rgb: np.ndarray) -> dict:
    """The auto-select signals: ``{"share": share of the frame in hot-spots, "largest_share":
    the largest hot-spot's share of the frame}`` (both in [0, 1]; a flash spot is one large
    region, the glints on a row of drawer pulls are several small ones).

    proxy_rgb as for ``hotspot_share``; not modified.
    """
    require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=MIN_SIDE)
    a = analyse(proxy_rgb)
    frame = a.grid_hw[0] * a.grid_hw[1]
    largest = max((r.area for r in a.regions), default=0) / frame
    return {"share": rounded(float(a.mask.mean()), 6), "largest_share": rounded(largest, 6)}


# ------------------------------------------------------------------------- glare


def remove_glare(rgb: np.ndarray, *, params: dict | None = None) -> dict:
    """Remove flash / specular hot-spots at full resolution.

    rgb: HxWx3 uint8 RGB; not modified. params: the hot-spot tests' thresholds
    (``hotspots.PARAMS``, the fitted ones, when None; ``bench/fit_glare.py`` passes trial
    points). Hot-spots are found on the analysis proxy; each
    region is restored on a full-resolution crop: the specular excess over the local
    diffuse level is subtracted in linear light where the highlight is not clipped, and
    clipped pixels are inpainted (``cv2.INPAINT_TELEA``); edits are feathered.

    Returns ``{"rgb": HxWx3 uint8 (a new array; an unmodified copy when nothing is found),
    "report": {"regions": int, "share": float, "inpainted_share": float (share of the
    frame inpainted), "subtracted_share": float, "method": str, "boxes_norm": [...],
    "rejected": {...}}, "applied": bool}``.
    """
    require_rgb_u8(rgb, "rgb", min_side=MIN_SIDE)
    a = analyse(rgb, params)
    det = _hotspot_dict(a)
    report = {"regions": det["regions"], "share": det["share"], "inpainted_share": 0.0,
              "subtracted_share": 0.0, "method": "none", "boxes_norm": det["boxes_norm"],
              "rejected": det["rejected"]}
    if not a.regions:
        return {"rgb": rgb.copy(), "report": report, "applied": False}
    out = rgb.copy()
    h, w = rgb.shape[:2]
    inpainted = subtracted = 0
    mean, std = _diffuse_level(a.vmin.astype(np.float32) / 255.0, a.grow)
    for region in a.regions:
        n_in, n_sub = _restore_region(rgb, out, a, region, mean, std)
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


def _restore_region(src: np.ndarray, out: np.ndarray, a: Analysis, region: Region, diffuse_mean: np.ndarray,
                    diffuse_std: np.ndarray) -> tuple[int, int]:
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
    mean = cv2.resize(diffuse_mean[cy0:cy1, cx0:cx1], size, interpolation=cv2.INTER_LINEAR)
    std = cv2.resize(diffuse_std[cy0:cy1, cx0:cx1], size, interpolation=cv2.INTER_LINEAR)

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
