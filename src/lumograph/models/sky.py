"""Classical sky module for listing exteriors: soft sky matte, sky condition,
project-generated replacement skies, sky replacement and day-to-dusk.

No weights, no downloads. Conventions: images are HxWx3 ``uint8`` RGB; mattes are HxW
``float32`` in [0, 1] (1 = sky). Inputs are never mutated.

Segmentation (``segment_sky``) works on a small analysis grid (``ANALYSIS_LONG_SIDE``):

1. seeds: smooth (low Lab gradient) pixels that are blue, or neutral and brighter than
   the frame's median, in 4-connected components touching the top border;
2. growth: the seed's colour is modelled locally (normalised convolution of the seed
   colours) and the region grows over smooth pixels within a Lab distance of that model,
   still connected to the top border; enclosed bright neutral holes (clouds) are filled;
3. acceptance: a handful of named, clipped log-odds terms (blue share, warmth, contrast
   with the foreground, top-border contact, straight interior-like boundaries, size, a
   listing base rate of three interiors per exterior, and the scene classifier's
   exterior log-odds clipped to [-4, 2]), because a white wall or ceiling is also
   smooth, neutral and bright and hangs from the top too. A caller that already knows
   the scene passes ``scene="exterior"``/``"interior"`` instead of the classifier. The
   sum must reach ``ACCEPT_LOG_ODDS`` (a 3:1 cost of a false sky over a missed one), or
   0 when the caller says the scene is an exterior;
4. matte: on the proxy grid the boundary is re-decided within a reach of the region by
   the colour distance to the local sky colour (wires and branches are darker than the
   sky next to them) and by colour continuity, smoothed by a guided filter (He et al.,
   built from ``cv2.boxFilter`` because ``cv2.ximgproc`` is absent) whose guide is the
   sky likeness itself, and choked by one proxy px where the edge is lighter than the
   sky (camera sharpening rims), so roof lines keep no halo;
5. sky behind foliage (white or grey skies only): bright neutral patches outside the
   region that lie in a tree crown and are open to the sky above, or that hang from
   the top or touch the region laced with twigs, join the matte through a soft
   luminance key (``_sky_behind_foliage``); roof lines, siding, frames, walls and
   anything roofed over stay out.

Replacement composites a generated sky at full resolution with per-pixel float maths on
the edge band only (the rest is a LUT and a masked copy), decontaminating mixed edge
pixels by swapping the old sky for the new inside the mixture.

The thresholds are round numbers set by reasoning about what each cue measures and then
checked, not searched, on ``shared/eval/sky_masks`` and the listing photos; see
``lumograph.bench.eval_sky``.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from lumograph.models.errors import InvalidImage, InvalidOptions
from lumograph.models.scene import classify_scene

#: Long side of the grid the sky region is found on; the matte is refined on the proxy.
ANALYSIS_LONG_SIDE = 384
#: Smallest accepted short side (pixels) of a proxy.
MIN_SIDE = 16
#: Below this share of the frame a sky is not worth replacing.
MIN_REPLACE_FRACTION = 0.03
#: A sky with more sky-coloured pixels outside the matte than this share of the matte
#: (blown sky behind a feathery tree) is not replaced: the result would be patchy.
MAX_UNMATCHED_SKY = 0.5
#: Prior log-odds that a bright smooth region hanging from the top is sky: a listing
#: holds about three interior photos per exterior (ceilings and walls look alike).
LISTING_PRIOR_LOG_ODDS = -1.1
#: Log-odds a region needs to be called sky when the scene is not known: painting a sky
#: onto a ceiling ruins a delivered photo, leaving a sky as shot costs little, and at
#: a cost ratio of ~3:1 the break-even posterior is 0.75, log(3) ~ 1.1. When the caller
#: says the scene is an exterior that risk is gone and the threshold is 0.
ACCEPT_LOG_ODDS = 1.1
#: Replacement sky styles (``generate_sky``).
SKY_STYLES = ("clear_blue", "light_clouds", "high_clouds")
#: Long side the replacement skies are synthesised at before being resized to the target:
#: a sky has no detail that needs more, and it keeps 12 MP inside the time budget.
SKY_WORK_LONG_SIDE = 1024



# ------------------------------------------------------------------- validation


def _check_rgb(rgb: np.ndarray, name: str = "rgb") -> None:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise InvalidImage(f"{name} must be an HxWx3 uint8 RGB array, got {got}", code="invalid_array")
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise InvalidImage(f"{name} is too small (short side < {MIN_SIDE} px): {rgb.shape!r}",
                           code="invalid_array")


def _check_matte(matte, name: str = "proxy_matte") -> np.ndarray:
    if not isinstance(matte, np.ndarray) or matte.ndim != 2 or min(matte.shape) < 2:
        got = getattr(matte, "shape", type(matte).__name__)
        raise InvalidOptions(f"{name} must be an HxW float array in [0, 1], got {got!r}")
    if matte.dtype == np.uint8:
        return matte.astype(np.float32) * np.float32(1 / 255)
    if not np.issubdtype(matte.dtype, np.floating):
        raise InvalidOptions(f"{name} must be float32 in [0, 1] (or uint8 0-255), got dtype {matte.dtype}")
    return np.clip(np.nan_to_num(matte.astype(np.float32)), 0.0, 1.0)


def _check_style(style: str) -> None:
    if style not in SKY_STYLES:
        raise InvalidOptions(f"unknown sky style {style!r}; expected one of {list(SKY_STYLES)}")


def _check_aspect(matte: np.ndarray, shape: tuple[int, int], name: str = "proxy_matte") -> None:
    mh, mw = matte.shape
    h, w = shape
    if abs(mw / mh - w / h) > 0.05 * (w / h) + 2.0 / min(mh, mw):
        raise InvalidOptions(f"{name} aspect {mw}x{mh} does not match the image {w}x{h}")


# ------------------------------------------------------------------ small tools


def _resize_long(rgb: np.ndarray, long_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1.0:
        return rgb
    step = int(1 / scale // 2)
    src = rgb[::step, ::step] if step > 1 else rgb  # keeps >= 4 samples per output pixel
    return cv2.resize(src, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-guided edge-preserving filter (He, Sun, Tang 2010) from ``cv2.boxFilter``.

    guide: HxW float32 (any range, typically [0, 1]); src: HxW float32. radius: box
    radius in pixels; eps: regulariser in guide units squared (larger = smoother).
    Returns a new HxW float32 array.
    """
    k = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(src)
    var_i = box(guide * guide) - mean_i * mean_i
    cov_ip = box(guide * src) - mean_i * mean_p
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def _local_mean(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution: the weight-averaged ``values`` around every pixel.

    values: HxWxC float32; weight: HxW float32 >= 0; sigma in pixels. Where no weight
    is near, falls back to the global weighted mean, so the model is defined
    everywhere. A wide Gaussian is computed on a grid ~sigma/4 coarser and upsampled
    (the result is smooth at that scale anyway; a 30 px blur at 1 MP costs ~40 ms).
    """
    h, w = weight.shape
    factor = max(1, int(sigma // 4))
    small_v, small_w = values, weight
    if factor > 1:
        size = (max(1, w // factor), max(1, h // factor))
        small_v = cv2.resize(values, size, interpolation=cv2.INTER_AREA)
        small_w = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    s = sigma / factor
    wb = cv2.GaussianBlur(small_w, (0, 0), s)
    vb = cv2.GaussianBlur(small_v * small_w[..., None], (0, 0), s)
    total = float(small_w.sum())
    fallback = (small_v * small_w[..., None]).reshape(-1, values.shape[2]).sum(0) / max(total, 1e-6)
    out = vb / np.maximum(wb, 1e-6)[..., None]
    out[wb < 1e-3] = fallback
    if factor > 1:
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def _top_connected(mask: np.ndarray, top_rows: int = 2) -> np.ndarray:
    """bool HxW: the 4-connected components of ``mask`` that touch the top border."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros(mask.shape, bool)
    top = np.unique(labels[:top_rows])
    top = top[top > 0]
    return np.isin(labels, top)


def _clip(v: float, lo: float, hi: float) -> float:
    return float(min(max(v, lo), hi))


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


# ------------------------------------------------------------------ segmentation


def _analysis_maps(small: np.ndarray) -> dict:
    f32 = small.astype(np.float32) * np.float32(1 / 255)
    lab = cv2.cvtColor(f32, cv2.COLOR_RGB2Lab)
    hsv = cv2.cvtColor(f32, cv2.COLOR_RGB2HSV)
    L = lab[..., 0]
    gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3)
    # Mean |grad L| (L units per analysis pixel) over 5x5: sky, even with soft clouds,
    # stays under ~1.5; foliage, brick, gravel and furniture are far above.
    texture = cv2.blur(cv2.magnitude(gx, gy) * np.float32(1 / 8), (5, 5))
    return {"lab": lab, "L": L, "a": lab[..., 1], "b": lab[..., 2], "H": hsv[..., 0], "S": hsv[..., 1],
            "V": hsv[..., 2], "texture": texture, "gray": cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)}


def _sky_region(m: dict) -> tuple[np.ndarray, np.ndarray]:
    """bool region connected to the top, and the HxWx3 Lab local sky-colour model."""
    L, a, b, H, S = m["L"], m["a"], m["b"], m["H"], m["S"]
    chroma = np.hypot(a, b)
    smooth = m["texture"] < 1.5
    blue = (H >= 190) & (H <= 235) & (S > 0.10) & (L > 35) & (b < -4)
    # Overcast sky is the brightest large thing outdoors; "brighter than the median
    # by 10 L" rejects mid-grey facades, b* < 6 rejects warm ceilings and walls.
    median_l = float(np.median(L))
    neutral = (L > max(55.0, median_l + 10.0)) & (chroma < 14) & (b < 6)
    seed = _top_connected(smooth & (blue | neutral))
    if seed.sum() < 0.002 * seed.size:
        return np.zeros_like(seed), m["lab"]
    # A narrow model (sigma ~3 % of the frame) follows the sky's own gradient.
    sigma = 0.03 * max(L.shape)
    region = seed
    closing = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    # Growth in rounds: each re-fits the local sky colour to what has been found, so a
    # sky that pales or darkens toward the horizon (haze, overcast) is followed step
    # by step.
    for _ in range(6):
        model = _local_mean(m["lab"], region.astype(np.float32), sigma)
        dist = np.linalg.norm(m["lab"] - model, axis=2)
        # Smooth and within 12 Lab units of the local sky colour: a graded sky drifts
        # ~5-10 units over the frame; a roof or wall next to it differs by more.
        grow = seed | ((m["texture"] < 2.5) & (dist < 12.0) & (b < 8))
        # Wires and thin branches raise the texture along a strip a few pixels wide
        # that would cut the sky below them off from the top border: connectivity is
        # decided on the closed mask, membership on the unclosed one.
        closed = cv2.morphologyEx(grow.astype(np.uint8), cv2.MORPH_CLOSE, closing)
        grown = grow & _top_connected(closed)
        if grown.sum() <= region.sum() * 1.01:
            region = grown | region
            break
        region = grown | region
    region |= _clouds_next_to(region, L, chroma, b, m["texture"], median_l)
    region |= _sky_through_foliage(region, m["lab"], m["texture"])
    return region, model


def _sky_through_foliage(region: np.ndarray, lab: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Patches of the sky's own colour seen through a tree crown, not linked to the top.

    A patch counts when it is smooth, within 8 Lab units of the sky's median colour,
    no lower than the sky's lowest row, and its surroundings (the ring just outside
    it) are textured (foliage, mean |grad L| > 3) or sky: a patch of white wall or a
    window reflecting the sky is framed by smooth wall or straight frames instead.
    """
    h, w = region.shape
    if region.sum() < 50:
        return np.zeros_like(region)
    sky_lab = np.median(lab[region], axis=0)
    near = np.linalg.norm(lab - sky_lab, axis=2) < 8.0
    rows = np.nonzero(region.mean(axis=1) > 0.01)[0]
    lowest = int(rows[-1]) if rows.size else 0
    cand = near & ~region & (texture < 2.5)
    cand[lowest + 1:] = False
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=4)
    add = np.zeros((h, w), bool)
    for k in range(1, n):
        x, y, bw, bh, area = stats[k]
        if area < 4:
            continue
        x0, y0, x1, y1 = max(0, x - 3), max(0, y - 3), min(w, x + bw + 3), min(h, y + bh + 3)
        comp = (labels[y0:y1, x0:x1] == k).astype(np.uint8)
        ring = cv2.dilate(comp, np.ones((5, 5), np.uint8)) > comp
        if not ring.any():
            continue
        foliage = (texture[y0:y1, x0:x1][ring] > 3.0) | region[y0:y1, x0:x1][ring]
        if float(foliage.mean()) >= 0.8:
            add[y0:y1, x0:x1] |= comp.astype(bool)
    return add


#: Sky seen through a tree against a white or grey sky: a gap darkens by up to ~20 L
#: where twigs finer than a pixel mix into it (measured on the ADE20K tree in
#: ``sky_masks``: the quartile of the sky behind it sits ~20 L under the open sky).
FOLIAGE_GAP_DARKENING = 20.0
#: Window (share of the long side) over which foliage density defines a tree crown.
CROWN_RADIUS = 0.04


def _coherence(L: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Orientation coherence of the structure tensor in [0, 1]: ~1 along parallel lines
    (siding, brick courses, frames), low in foliage whose edges point every way."""
    gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3)
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), sigma)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), sigma)
    jxy = cv2.GaussianBlur(gx * gy, (0, 0), sigma)
    return np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy) / (jxx + jyy + 1e-6)


def _long_line_map(m: dict) -> np.ndarray:
    """bool HxW: within 1 px of an LSD segment longer than 8 % of the long side."""
    h, w = m["gray"].shape
    lines = np.zeros((h, w), np.uint8)
    found = _segments(m)
    if found is not None:
        for x1, y1, x2, y2 in found.reshape(-1, 4):
            if math.hypot(x2 - x1, y2 - y1) >= 0.08 * max(h, w):
                cv2.line(lines, (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2))), 1, 3)
    return lines.astype(bool)


#: A vertical run of this many analysis px of solid (neither foliage nor sky-bright)
#: pixels closes the way up to the sky: a roof, fascia or wall band is thicker than
#: ~1 % of the frame height; a twig or a wire is not.
SOLID_RUN = 3


def _open_to_sky(region: np.ndarray, solid: np.ndarray) -> np.ndarray:
    """bool HxW: pixels with no run of ``SOLID_RUN`` solid pixels between them and the
    nearest sky-region pixel (or the top border) above them in their column."""
    h, w = region.shape
    rows = np.arange(h, dtype=np.int32)[:, None]
    # Length of the solid run ending at each pixel, via the last non-solid row above.
    last_free = np.maximum.accumulate(np.where(solid, -1, rows), axis=0)
    blocked_at = np.where(rows - last_free >= SOLID_RUN, rows, -1)
    last_block = np.maximum.accumulate(blocked_at, axis=0)
    last_sky = np.maximum.accumulate(np.where(region, rows, -1), axis=0)
    # The top border counts as sky: a column with no region is open until blocked.
    return np.where(last_sky >= 0, last_sky > last_block, last_block < 0)


def _sky_behind_foliage(region: np.ndarray, m: dict) -> tuple[np.ndarray, float]:
    """White or grey sky seen through branches and leaves, outside the found region.

    region: bool analysis-grid sky region; m: ``_analysis_maps``. Returns (bool mask of
    the analysis grid, the sky's median L). Only for a neutral sky (a blue one shows
    through gaps by its colour, which the matte's wider reach already follows).

    Candidates are pixels as bright as the sky less ``FOLIAGE_GAP_DARKENING``, neutral
    (chroma < 12, b* < 4, the seed test) and outside the region; each 4-connected
    patch of them joins when it
    * holds few pixels on long straight lines (<= 15 %: roof lines, siding, frames and
      garage-door panels are long straight edges; twigs and leaves are not),
    * ends above the bottom fifth of the frame (bright paving, cars, water), and
    * either lies inside a tree crown (>= 60 % of it where >= 30 % of a window of
      ``CROWN_RADIUS`` is foliage: textured, |grad L| > 3, with incoherent edges), is
      bordered by leaves or sky (>= 60 % of the pixels around it are foliage or in the
      region: a vent or a white trim on a wall beside a tree is bordered by wall and
      the straight edges of its own frame), is open to the sky (for >= half of it,
      nothing but foliage or sky-bright pixels lies between it and the sky region above
      it in its column: see ``_open_to_sky``; a bright patch under a carport or an
      eave is roofed) and ends within a tenth of the frame below the region's lowest
      row, or
    * hangs from the top border or touches the region, and is textured (mean |grad L|
      > 1.5: the sky there is laced with twigs or wires; a smooth patch of that colour
      would have been grown into the region, so a smooth one is another surface, such
      as a white wall under the sky).
    """
    h, w = region.shape
    none = np.zeros((h, w), bool)
    if region.sum() < 50:
        return none, 0.0
    L, a, b, texture = m["L"], m["a"], m["b"], m["texture"]
    chroma = np.hypot(a, b)
    sky_l = float(np.median(L[region]))
    if float(np.median(chroma[region])) >= 12.0:
        return none, sky_l
    bright = (L >= sky_l - FOLIAGE_GAP_DARKENING) & (chroma < 12.0) & (b < 4.0) & ~region
    if not bright.any():
        return none, sky_l
    foliage = (texture > 3.0) & (_coherence(L) < 0.6) & ~bright
    k = 2 * max(3, int(round(CROWN_RADIUS * max(h, w)))) + 1
    crown = cv2.blur(foliage.astype(np.float32), (k, k)) >= 0.3
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bright.astype(np.uint8), connectivity=4)
    flat = labels.ravel()

    def per_label(values: np.ndarray) -> np.ndarray:
        return np.bincount(flat, weights=values.ravel().astype(np.float64), minlength=n)

    in_crown = per_label(crown)
    on_lines = per_label(_long_line_map(m))
    mean_texture = per_label(texture)
    touching = per_label(cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    from_top = np.bincount(labels[:2].ravel(), minlength=n)
    # What borders each patch (one px outside it; where two patches meet, the higher
    # label wins, which only blurs the share for touching patches).
    around = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8))
    ring = ~bright & (around > 0)
    ring_labels = around[ring].astype(np.int64)
    ring_total = np.bincount(ring_labels, minlength=n)
    ring_leafy = np.bincount(ring_labels, weights=(foliage | region)[ring].astype(np.float64), minlength=n)
    rows = np.nonzero(region.mean(axis=1) > 0.01)[0]
    lowest = int(rows[-1]) if rows.size else 0
    open_above = per_label(_open_to_sky(region, ~(foliage | bright | region)))
    keep = np.zeros(n, bool)
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        bottom = y + bh
        if area < 2 or bottom > 0.8 * h or on_lines[i] > 0.15 * area:
            continue
        gap_in_crown = (in_crown[i] >= 0.6 * area and ring_leafy[i] >= 0.6 * ring_total[i]
                        and open_above[i] >= 0.5 * area and bottom <= lowest + 0.1 * h)
        laced_sky = (touching[i] > 0 or from_top[i] > 0) and mean_texture[i] > 1.5 * area
        keep[i] = gap_in_crown or laced_sky
    return keep[labels], sky_l


def _clouds_next_to(region: np.ndarray, L, chroma, b, texture, median_l: float) -> np.ndarray:
    """Bright neutral blobs mostly surrounded by the sky region: clouds.

    Clouds are textured at their rims and are not the sky colour, so growth stops at
    them. A white facade under a blue sky is bright and neutral too, but only its top
    edge meets the sky; a cloud meets the sky along most of its boundary inside the
    frame (>= 55 %), even when it sits on a tree line.
    """
    cloudy = ~region & (L > median_l + 10) & (chroma < 16) & (b < 6) & (texture < 5.0)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cloudy.astype(np.uint8), connectivity=4)
    add = np.zeros(region.shape, bool)
    h, w = region.shape
    inner = np.zeros((h, w), bool)
    inner[1:-1, 1:-1] = True
    for k in range(1, n):
        x, y, bw, bh, area = stats[k]
        if area < 6:
            continue
        x0, y0, x1, y1 = max(0, x - 2), max(0, y - 2), min(w, x + bw + 2), min(h, y + bh + 2)
        comp = (labels[y0:y1, x0:x1] == k).astype(np.uint8)
        ring = (cv2.dilate(comp, np.ones((3, 3), np.uint8)) > comp) & inner[y0:y1, x0:x1]
        if ring.sum() and float(region[y0:y1, x0:x1][ring].mean()) >= 0.55:
            add[y0:y1, x0:x1] |= comp.astype(bool)
    return add


def _border_connected(mask: np.ndarray) -> np.ndarray:
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = border[border > 0]
    return np.isin(labels, border)


_LSD = None


def _segments(m: dict):
    """LSD segments of the analysis grey image ((N, 1, 4) float32 or None), computed
    once per ``_analysis_maps`` dict: acceptance and the foliage step both read them."""
    global _LSD
    if "segments" not in m:
        if _LSD is None:
            _LSD = cv2.createLineSegmentDetector()
        m["segments"] = _LSD.detect(m["gray"])[0]
    return m["segments"]


def _straight_boundary_share(region: np.ndarray, m: dict) -> tuple[float, float]:
    """Shares of the region's boundary (inside the frame) lying on long straight
    segments: any direction, and near-vertical (> 70 degrees from horizontal) only."""
    h, w = region.shape
    u8 = region.astype(np.uint8)
    edge = (cv2.dilate(u8, np.ones((3, 3), np.uint8)) - u8).astype(bool)
    edge[:2] = edge[-2:] = False
    edge[:, :2] = edge[:, -2:] = False
    if edge.sum() < 10:
        return 0.0, 0.0
    found = _segments(m)
    any_map = np.zeros((h, w), np.uint8)
    vertical_map = np.zeros((h, w), np.uint8)
    if found is not None:
        for x1, y1, x2, y2 in found.reshape(-1, 4):
            length = math.hypot(x2 - x1, y2 - y1)
            if length >= 0.08 * max(h, w):
                p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
                cv2.line(any_map, p1, p2, 1, 3)
                if abs(y2 - y1) > 2.75 * abs(x2 - x1):  # steeper than 70 degrees
                    cv2.line(vertical_map, p1, p2, 1, 3)
    n = float(edge.sum())
    return float((any_map.astype(bool) & edge).sum() / n), float((vertical_map.astype(bool) & edge).sum() / n)


def _sky_evidence(region: np.ndarray, m: dict) -> tuple[float, dict, dict]:
    """Log-odds that the found region is sky, its terms and the measurements."""
    L, b, S, H = m["L"], m["b"], m["S"], m["H"]
    h, w = region.shape
    fraction = float(region.mean())
    rest = ~region
    blue_px = (H >= 190) & (H <= 235) & (S > 0.10) & (b < -4)
    blue_share = float(blue_px[region].mean())
    sky_l = float(np.median(L[region]))
    rest_l = float(np.median(L[rest])) if rest.any() else sky_l
    warmth = float(np.median(b[region]))
    top_contact = float(region[0].mean())
    straight, vertical = _straight_boundary_share(region, m)
    # Where the region meets the frame's side borders: a sky spans to the sides or is
    # framed by buildings; a wall between two room corners rarely touches both sides.
    texture = float(m["texture"][region].mean())
    # Sky-coloured pixels above the skyline that the region does not hold (seen
    # through foliage, cut off by branches), relative to the region: a sky that is
    # mostly fragments cannot be replaced cleanly.
    sky_lab = np.median(m["lab"][region], axis=0)
    rows = np.nonzero(region.mean(axis=1) > 0.01)[0]
    above = np.zeros_like(region)
    above[: int(rows[-1]) + 1 if rows.size else 0] = True
    loose = above & ~region & (np.linalg.norm(m["lab"] - sky_lab, axis=2) < 8.0)
    measures_fragments = float(loose.sum() / max(1, region.sum()))
    measures = {
        "unmatched_sky_share": measures_fragments,
        "fraction": fraction,
        "blue_share": blue_share,
        "mean_saturation": float(S[region].mean()),
        "luminance": sky_l / 100.0,
        "foreground_luminance": rest_l / 100.0,
        "warmth_b": warmth,
        "top_contact": top_contact,
        "straight_boundary": straight,
        "vertical_boundary": vertical,
        "texture": texture,
    }
    terms = {
        # Blue over most of the region is the strongest single sky cue there is.
        "blue": _clip(6.0 * (blue_share - 0.25), -1.5, 3.0),
        # Sky is neutral or blue (b* <= ~0); walls and ceilings under room light are warm.
        "warmth": _clip((2.0 - warmth) / 2.0, -3.0, 1.0),
        # Daylight sky is about a stop brighter than the ground (~20 L units).
        "contrast": _clip((sky_l - rest_l - 15.0) / 8.0, -2.5, 2.0),
        # Sky is cut by roofs, trees and wires; rooms are cut by walls, frames, ceilings.
        # Steep: a region a quarter of whose boundary is long straight lines is a room.
        "straight_boundary": _clip(10.0 * (0.25 - straight), -3.0, 1.5),
        "top_contact": _clip(4.0 * (top_contact - 0.25), -1.0, 1.5),
        "size": _clip(math.log((fraction + 1e-4) / 0.02), -2.0, 1.0),
        # Base rate: a listing holds about three interiors per exterior, log(1/3).
        "prior": LISTING_PRIOR_LOG_ODDS,
    }
    return float(sum(terms.values())), terms, measures


#: How far (analysis px) past the found region the boundary is re-decided by colour:
#: the region stops a few px short of every edge (texture is measured over 5x5), and
#: a blue sky also shows through foliage gaps, which no neutral wall colour mimics.
REACH_NEUTRAL = 4
REACH_BLUE = 16


def _refine_matte(proxy: np.ndarray, region_small: np.ndarray, blue_sky: bool) -> np.ndarray:
    """Soft HxW float32 matte on the proxy grid from the analysis-grid region."""
    ph, pw = proxy.shape[:2]
    scale = max(ph, pw) / max(region_small.shape)
    hard_full = cv2.resize(region_small.astype(np.float32), (pw, ph), interpolation=cv2.INTER_LINEAR) > 0.5
    # The sky hangs from the top: work only down to the lowest row it can reach.
    reach_px = (REACH_BLUE if blue_sky else REACH_NEUTRAL) * scale
    rows = np.nonzero(hard_full.any(axis=1))[0]
    bottom = min(ph, int(rows[-1] + reach_px + 4)) if rows.size else ph
    hard = hard_full[:bottom]
    crop = proxy[:bottom]
    # Distances instead of large structuring elements: a 40 px dilation costs ~30 ms.
    dist_out = cv2.distanceTransform((~hard).astype(np.uint8), cv2.DIST_L2, 3)
    dist_in = cv2.distanceTransform(hard.astype(np.uint8), cv2.DIST_L2, 3)
    inside = dist_in > 1.0 * scale
    reach = dist_out <= reach_px
    lab = cv2.cvtColor(crop.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)
    # The local sky colour, re-estimated from the confident interior.
    model = _local_mean(lab, inside.astype(np.float32), 0.02 * max(pw, ph))
    d = lab - model
    # Brighter than the sky next to it counts half: camera sharpening leaves a light
    # rim of old sky along every roof line, and that rim must go with the sky.
    lighter = np.maximum(d[..., 0], 0) * np.float32(0.5)
    dist = np.sqrt(np.minimum(d[..., 0], 0) ** 2 + lighter ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)
    # Colour likelihood: within 6 Lab units = sky, beyond 18 = not. Darker-than-sky
    # (wires, twigs, roof edges) counts double: they are never sky however near in hue.
    darker = np.maximum(-d[..., 0], 0)
    likeness = (1.0 - _smoothstep(dist + darker, 6.0, 18.0)).astype(np.float32)
    # Continuity: the region stops a little short of the skyline, and the sky just
    # above a roof is often hazier than the model from further up. Pixels within reach
    # that join the confident sky through a path of small colour steps (< 3 Lab units
    # per px; a roof or branch edge is a step of 10+) are sky as well.
    gx = np.abs(cv2.Sobel(lab, cv2.CV_32F, 1, 0, ksize=3))
    gy = np.abs(cv2.Sobel(lab, cv2.CV_32F, 0, 1, ksize=3))
    g = cv2.max(gx, gy)
    step = cv2.max(cv2.max(g[..., 0], g[..., 1]), g[..., 2]) * np.float32(1 / 4)
    joinable = (reach & (step < 3.0) & (dist < 30.0) & (darker < 8.0)) | inside
    n, labels = cv2.connectedComponents(joinable.astype(np.uint8), connectivity=4)
    keep = np.unique(labels[inside])
    keep = keep[keep > 0]
    joined = np.isin(labels, keep) if keep.size else inside
    matte = np.zeros(hard.shape, np.float32)
    matte[reach] = likeness[reach]
    # Mixed edge pixels (leaf rims, fine twigs against a white sky) are neither sky-
    # nor foreground-coloured, so the likeness calls them foreground and their old-sky
    # share would stay as a pale fringe. Where the local sky and foreground colours
    # differ enough (> 40 levels), unmix: alpha = the pixel's position on the line
    # from the foreground colour to the sky colour (the colour-line model of matting).
    band = reach & ~joined
    if band.any():
        rgbf = crop.astype(np.float32)
        sigma_fg = 0.01 * max(pw, ph)
        sky_rgb = _local_mean(rgbf, joined.astype(np.float32), 0.02 * max(pw, ph))
        # The foreground colour from a few px behind the edge: the rim pixels themselves
        # are the mixtures being solved for.
        behind = cv2.distanceTransform((~joined).astype(np.uint8), cv2.DIST_L2, 3) > max(3.0, 0.004 * max(pw, ph))
        fg_core = (behind & (likeness < 0.02)).astype(np.float32)
        fg_rgb = _local_mean(rgbf, fg_core, sigma_fg)
        diff = sky_rgb - fg_rgb
        denom = (diff * diff).sum(axis=2)
        offset = rgbf - fg_rgb
        unmixed = np.clip((offset * diff).sum(axis=2) / np.maximum(denom, 1e-6), 0.0, 1.0)
        # The pixel must lie on that line (a light roof tile or a white trim between a
        # dark roof and a blue sky does not: it is its own colour, not a mixture) ...
        residual = offset - unmixed[..., None] * diff
        on_line = (residual * residual).sum(axis=2) < 0.04 * denom
        # ... and real foreground must lie close behind (a wire in open sky has none
        # and keeps the likeness: not-sky).
        support = cv2.GaussianBlur(fg_core, (0, 0), sigma_fg) > 0.1
        usable = band & on_line & (denom > 40.0 ** 2) & support
        matte[usable] = np.maximum(matte[usable], unmixed[usable].astype(np.float32))
    matte[joined] = np.maximum(matte[joined], 1.0 - _smoothstep(darker[joined], 8.0, 20.0))
    # Smooth with the likeness itself as the guide: it is the feature that separates
    # sky from roof and foliage (grey alone does not: a blue sky and a tree crown can
    # have the same luminance), so the edge stays where the colour changes.
    radius = max(1, int(round(max(ph, pw) / 500)))
    soft = np.clip(guided_filter(likeness, matte, radius, 1e-3), 0.0, 1.0)
    # Choke the foreground by one proxy px where the edge is lighter than the sky: that
    # is the sharpening rim (or a mixed pixel) of the old sky, which reads as a white
    # halo against any new sky. Darker edges (wires, twigs, dark roofs) are left alone.
    sky_core = (soft >= 0.5).astype(np.uint8)
    rim = (cv2.dilate(sky_core, np.ones((3, 3), np.uint8)) > sky_core) & (d[..., 0] > -3.0) & reach
    soft[rim] = 1.0
    out = np.zeros((ph, pw), np.float32)
    out[:bottom] = soft
    return out


def _key_behind_foliage(proxy: np.ndarray, matte: np.ndarray, behind_small: np.ndarray, sky_l: float) -> np.ndarray:
    """Add the sky seen through foliage to a proxy-grid matte with a luminance key.

    Inside the (1 px dilated, slightly feathered) patches found by
    ``_sky_behind_foliage``, alpha rises from 0 at 25 L under the sky to 1 at 8 L
    under it: how a retoucher masks a tree against a bright sky ("blend if"), since the
    gaps are mixtures of sky and twigs whose colour model is the sky's, darkened.
    Returns a new HxW float32 matte in [0, 1].
    """
    ph, pw = matte.shape
    zone = cv2.resize(behind_small.astype(np.uint8), (pw, ph), interpolation=cv2.INTER_NEAREST)
    zone = cv2.dilate(zone, np.ones((3, 3), np.uint8))
    # The key is needed only around the patches (a few % of the frame): crop to them.
    ys, xs = np.nonzero(zone)
    y0, y1 = max(0, int(ys.min()) - 4), min(ph, int(ys.max()) + 5)
    x0, x1 = max(0, int(xs.min()) - 4), min(pw, int(xs.max()) + 5)
    soft_zone = cv2.GaussianBlur(zone[y0:y1, x0:x1].astype(np.float32), (0, 0), 1.0)
    crop = proxy[y0:y1, x0:x1].astype(np.float32) * np.float32(1 / 255)
    L = cv2.cvtColor(crop, cv2.COLOR_RGB2Lab)[..., 0]
    key = _smoothstep(L, sky_l - 25.0, sky_l - 8.0).astype(np.float32)
    out = matte.copy()
    out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], key * soft_zone)
    return out


def _condition(measures: dict) -> str:
    if measures["blue_share"] >= 0.5 and measures["mean_saturation"] >= 0.15:
        return "clear"
    # Flat and dull (< L 75) reads grey; bright white or blown reads overcast.
    return "grey" if measures["luminance"] < 0.75 else "overcast"


def segment_sky(proxy_rgb: np.ndarray, *, scene: str | None = None) -> dict:
    """Soft sky matte and sky condition of a listing photo proxy.

    proxy_rgb: HxWx3 ``uint8`` RGB, typically ~1024 px long side (any size >= 16 px
    works; analysis runs on a 384 px grid); not modified.

    Returns a dict:
      ``matte``: HxW ``float32`` in [0, 1] on the proxy grid (1 = sky; all zero when
      no sky was found); ``fraction``: share of the frame with matte >= 0.5;
      ``condition``: "clear" | "overcast" | "grey" | "none"; ``needs_replacement``:
      True for a grey/overcast sky covering >= ``MIN_REPLACE_FRACTION`` of the frame
      that is not mostly fragments (``MAX_UNMATCHED_SKY``);
      ``measures``: named JSON-able measurements (blue share, mean saturation,
      luminance, texture, ``sky_behind_foliage`` (share of the frame added as sky seen
      through trees), ...); ``log_odds``: the acceptance terms; ``backend``.
    scene: None (default: the scene classifier gives its opinion as one log-odds term),
    or "exterior" / "interior" when the caller already knows; then that term is the
    classifier's most confident value (+2 / -4) and the classifier is not run.
    Raises ``InvalidImage`` for a wrong type, dtype or a too-small image and
    ``InvalidOptions`` for an unknown ``scene``.
    """
    _check_rgb(proxy_rgb, "proxy_rgb")
    if scene not in (None, "exterior", "interior"):
        raise InvalidOptions(f"scene must be None, 'exterior' or 'interior', got {scene!r}")
    ph, pw = proxy_rgb.shape[:2]
    small = _resize_long(proxy_rgb, ANALYSIS_LONG_SIDE)
    m = _analysis_maps(small)
    region, model = _sky_region(m)
    none = {"matte": np.zeros((ph, pw), np.float32), "fraction": 0.0, "condition": "none",
            "needs_replacement": False, "backend": "classical"}
    if region.mean() < 0.002:
        return {**none, "measures": {"fraction": 0.0}, "log_odds": {}, "sky_probability": 0.0}
    evidence, terms, measures = _sky_evidence(region, m)
    # A second opinion from the whole frame: a white ceiling or a blue-cast wall hanging
    # from the top border is smooth, neutral and bright too, but the room around it is
    # built of long straight lines and has no foliage. The scene classifier is
    # overconfident (|log-odds| reaches 10), so it is halved and clipped.
    if scene is None:
        exterior = float(classify_scene(proxy_rgb).features["exterior_log_odds"])
        measures["exterior_log_odds"] = exterior
    else:
        exterior = 2.0 if scene == "exterior" else -4.0
    terms["scene"] = _clip(exterior, -4.0, 2.0)
    evidence += terms["scene"]
    probability = 1.0 / (1.0 + math.exp(-evidence))
    rounded = {k: round(v, 4) for k, v in measures.items()}
    log_odds = {k: round(v, 3) for k, v in terms.items()}
    if evidence < (0.0 if scene == "exterior" else ACCEPT_LOG_ODDS):
        return {**none, "measures": rounded, "log_odds": log_odds, "sky_probability": round(probability, 4)}
    matte = _refine_matte(proxy_rgb, region, measures["blue_share"] >= 0.5)
    behind, sky_l = _sky_behind_foliage(region, m)
    if behind.any():
        matte = _key_behind_foliage(proxy_rgb, matte, behind, sky_l)
    # Share of the frame where the sky was found behind foliage (analysis grid).
    rounded["sky_behind_foliage"] = round(float(behind.mean()), 4)
    fraction = float((matte >= 0.5).mean())
    condition = _condition(measures)
    return {
        "matte": matte,
        "fraction": round(fraction, 4),
        "condition": condition,
        "needs_replacement": bool(condition in ("grey", "overcast") and fraction >= MIN_REPLACE_FRACTION
                                  and measures["unmatched_sky_share"] < MAX_UNMATCHED_SKY),
        "measures": rounded,
        "log_odds": log_odds,
        "sky_probability": round(probability, 4),
        "backend": "classical",
    }


# ------------------------------------------------------------ replacement skies

# Sky colours, sRGB 0-255, chosen from photographed daylight skies: the zenith is a
# deeper, more saturated blue, the horizon a pale, slightly milky blue.
_SKY_PALETTES = {
    "clear_blue": {"zenith": (58, 118, 206), "horizon": (186, 213, 240)},
    "light_clouds": {"zenith": (72, 132, 212), "horizon": (192, 217, 240)},
    "high_clouds": {"zenith": (84, 140, 212), "horizon": (200, 222, 242)},
}
# Civil twilight, top to horizon: deep blue, violet, rose, warm orange glow.
_TWILIGHT_STOPS = ((0.0, (16, 30, 78)), (0.45, (46, 62, 128)), (0.72, (128, 96, 138)),
                   (0.88, (226, 136, 104)), (1.0, (252, 178, 104)))


def _srgb_to_lin(v) -> np.ndarray:
    v = np.asarray(v, np.float32) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _lin_to_u8(lin: np.ndarray) -> np.ndarray:
    v = np.clip(lin, 0.0, 1.0)
    enc = np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)
    return np.clip(enc * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _fbm(rng: np.random.Generator, h: int, w: int, cells_x: float, cells_y: float, octaves: int,
         gain: float = 0.5) -> np.ndarray:
    """Fractal (multi-octave) value noise, HxW float32, zero mean and unit std."""
    out = np.zeros((h, w), np.float32)
    amp = 1.0
    for k in range(octaves):
        gx = max(2, int(round(cells_x * 2 ** k)) + 1)
        gy = max(2, int(round(cells_y * 2 ** k)) + 1)
        grid = rng.standard_normal((gy, gx)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        amp *= gain
    return (out - out.mean()) / max(float(out.std()), 1e-6)


def _gradient(h: int, w: int, stops) -> np.ndarray:
    """HxWx3 float32 linear-light vertical gradient through ``stops`` ((t, sRGB) pairs)."""
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)
    pos = np.array([s[0] for s in stops], np.float32)
    cols = _srgb_to_lin([s[1] for s in stops])
    column = np.stack([np.interp(t, pos, cols[:, c]) for c in range(3)], axis=1).astype(np.float32)
    return np.repeat(column[:, None, :], w, axis=1)


def _synthesise_sky(style: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """HxWx3 float32 linear sky of ``style`` at the working size."""
    if style == "twilight":
        base = _gradient(h, w, _TWILIGHT_STOPS)
    else:
        pal = _SKY_PALETTES[style]
        # A knee at 35 % of the height: the upper sky stays deep, the lower part pales
        # quickly toward the horizon, as in photographed skies.
        zenith, horizon = np.array(pal["zenith"], np.float32), np.array(pal["horizon"], np.float32)
        knee = tuple(0.62 * zenith + 0.38 * horizon)
        base = _gradient(h, w, [(0.0, tuple(zenith)), (0.35, knee), (1.0, tuple(horizon))])
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    # The sun side of a real sky is brighter and paler; pick the side from the seed.
    sun_x = float(rng.choice([0.15, 0.85]))
    glow = np.exp(-((xx - sun_x) ** 2) / 0.18) * (0.25 + 0.75 * yy)
    base = base * (1.0 + 0.10 * glow)[..., None] + (0.05 * glow * yy)[..., None]
    # Large, faint brightness drift: a photographed clear sky is never a flat fill.
    base *= (1.0 + 0.025 * _fbm(rng, h, w, 2, 1.5, 3))[..., None]
    aspect = w / max(h, 1)
    if style == "light_clouds":
        # Fair-weather cumulus: many small soft-edged heaps, bright where the sun hits
        # them from above, grey underneath where more cloud lies above, fewer and
        # flatter toward the horizon.
        n = _fbm(rng, h, w, 4.5 * aspect, 3.5, 7, 0.55)
        fine = _fbm(rng, h, w, 18 * aspect, 14, 3, 0.5)
        coverage = n + 0.25 * fine - 0.45 * yy
        density = _smoothstep(coverage, 0.75, 1.7)
        lift = max(2, int(0.025 * h))
        above = np.vstack([np.zeros((lift, w), np.float32), density[:-lift]])
        shade = 1.0 - 0.22 * _smoothstep(cv2.GaussianBlur(above, (0, 0), lift) * density, 0.2, 0.9)
        lit = _srgb_to_lin((250, 250, 252))
        cloud = lit[None, None, :] * shade[..., None]
        cloud *= np.array([1.0, 1.0, 1.04], np.float32) ** (1 - shade[..., None])  # bluish shadows
        alpha = (0.95 * density)[..., None]
        base = base * (1 - alpha) + cloud * alpha
    elif style == "high_clouds":
        # Cirrus: long streaks, stretched along the wind, thin and translucent.
        n = _fbm(rng, h, w, 0.9 * aspect, 5.0, 6, 0.6)
        wisps = _fbm(rng, h, w, 4.0 * aspect, 14.0, 3, 0.5)
        density = _smoothstep(n + 0.35 * wisps - 0.25 * yy, 0.35, 1.9)
        alpha = (0.55 * density)[..., None]
        base = base * (1 - alpha) + _srgb_to_lin((240, 243, 248))[None, None, :] * alpha
    elif style == "twilight":
        n = _fbm(rng, h, w, 0.8 * aspect, 6.0, 5, 0.55)
        density = _smoothstep(n - 0.4 * (1 - yy), 0.6, 2.0)
        lit = _srgb_to_lin((236, 140, 120))  # cloud undersides lit by the set sun
        alpha = (0.35 * density * yy)[..., None]
        base = base * (1 - alpha) + lit[None, None, :] * alpha
    return base


def generate_sky(style: str, width: int, height: int, seed: int) -> np.ndarray:
    """A project-generated replacement sky, procedural and deterministic per seed.

    style: one of ``SKY_STYLES`` ("clear_blue", "light_clouds", "high_clouds");
    width, height: output size in pixels (1..20000); seed: any int. The sky is a
    linear-light vertical gradient (deeper blue at the top row, pale at the bottom row,
    which the caller places at the horizon), a faint sun-side glow, and for the cloudy
    styles multi-octave value-noise clouds with shaded bases. It is synthesised at most
    ``SKY_WORK_LONG_SIDE`` px long and resized, since a sky has no finer detail.
    Returns a new HxWx3 ``uint8`` RGB array. Raises ``InvalidOptions`` for an unknown
    style or a bad size.
    """
    _check_style(style)
    return _render_sky(style, width, height, seed)


def _render_sky(style: str, width: int, height: int, seed: int) -> np.ndarray:
    u8 = _render_sky_small(style, width, height, seed)
    if u8.shape[:2] != (height, width):
        u8 = cv2.resize(u8, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
    return u8


def _render_sky_small(style: str, width: int, height: int, seed: int) -> np.ndarray:
    """The sky for a width x height frame at its working size (<= ``SKY_WORK_LONG_SIDE``)."""
    for name, v in (("width", width), ("height", height)):
        if not isinstance(v, (int, np.integer)) or not 1 <= int(v) <= 20000:
            raise InvalidOptions(f"{name} must be an int in [1, 20000], got {v!r}")
    if not isinstance(seed, (int, np.integer)):
        raise InvalidOptions(f"seed must be an int, got {seed!r}")
    rng = np.random.default_rng(abs(int(seed)) + 7919 * (SKY_STYLES + ("twilight",)).index(style))
    scale = min(1.0, SKY_WORK_LONG_SIDE / max(width, height))
    ww, wh = max(2, round(width * scale)), max(2, round(height * scale))
    lin = _synthesise_sky(style, ww, wh, rng)
    # Sub-level grain dithers the 8-bit gradient (no banding) like sensor noise would.
    grain = rng.standard_normal((wh, ww, 3), dtype=np.float32) * np.float32(0.7 / 255)
    enc = np.clip(lin, 0.0, 1.0)
    enc = np.where(enc <= 0.0031308, enc * 12.92, 1.055 * np.power(enc, 1 / 2.4) - 0.055) + grain
    return np.clip(enc * 255.0 + 0.5, 0, 255).astype(np.uint8)


# --------------------------------------------------------------- compositing


def _proxy_of(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``rgb`` resized to ``shape`` (h, w) by area averaging with a cheap pre-stride."""
    h, w = rgb.shape[:2]
    ph, pw = shape
    step = int(min(h / ph, w / pw) // 2)
    src = rgb[::step, ::step] if step > 1 else rgb
    return cv2.resize(src, (pw, ph), interpolation=cv2.INTER_AREA)


def _channel_luts(gains, stops: float, contrast: float, shadow_lift: float = 0.0) -> np.ndarray:
    """256x1x3 uint8 LUT: sRGB -> linear, x gain x 2**stops, soft shoulder, encode, S-curve."""
    x = _srgb_to_lin(np.arange(256))
    out = np.empty((256, 3), np.float32)
    for c in range(3):
        factor = float(gains[c] * 2.0 ** stops)
        lin = x * np.float32(factor)
        if factor > 1.0:
            # Soft shoulder above 0.8 so a lift does not clip highlights; white stays white.
            top = math.tanh((factor - 0.8) / 0.2)
            lin = np.where(lin > 0.8, 0.8 + 0.2 * np.tanh((lin - 0.8) / 0.2) / top, lin)
        enc = _lin_to_u8(lin).astype(np.float32) / 255.0
        enc = enc + shadow_lift * (1 - enc) ** 3 * enc * 4
        # Gentle S-curve around mid-grey; zero at black and white.
        enc = enc + contrast * np.sin(2 * np.pi * enc) / (2 * np.pi) * -1
        out[:, c] = np.clip(enc, 0, 1) * 255.0 + 0.5
    return np.clip(out, 0, 255).astype(np.uint8).reshape(256, 1, 3)


def _horizon_row(alpha_proxy: np.ndarray) -> float:
    """Share of the frame height where the sky ends: the row below which few columns are sky."""
    rows = (alpha_proxy >= 0.5).mean(axis=1)
    idx = np.nonzero(rows > 0.02)[0]
    return float((idx[-1] + 1) / alpha_proxy.shape[0]) if idx.size else 0.5


def _remix(base: np.ndarray, alpha: np.ndarray, new_sky: np.ndarray, old_sky: np.ndarray) -> np.ndarray:
    """Decontaminated composite of edge pixels: (N, 3) float32 arrays, alpha (N,).

    Edge pixels are mixtures ``I = (1 - a) F + a B_old``; adding ``a (B_new - B_old)``
    swaps the old sky for the new inside the mixture, so no grey rim remains. Toward
    a = 1 the old sky estimate hands over to the pixel itself, so the old cloud
    texture does not leak into the new sky.
    """
    a = alpha[:, None]
    solid = _smoothstep(alpha, 0.8, 1.0)[:, None]
    old_eff = old_sky + solid * (base - old_sky)
    return np.clip(base + a * (new_sky - old_eff), 0, 255)


def _halo_score(composite_p: np.ndarray, new_p: np.ndarray, before_p: np.ndarray, matte: np.ndarray) -> float:
    """Share of the old-sky-to-new-sky difference left in a thin band on the sky side.

    Band: proxy pixels with matte >= 0.5 whose distance to the foreground (matte < 0.5)
    is 2-4 proxy px (~8-16 px at 12 MP). Score = mean |composite - new sky| over the
    band divided by mean |original - new sky| there (RGB, 8-bit units), clipped to
    [0, 1]: 0 = the band is the new sky, 1 = the old sky is untouched there. When the
    old and new skies differ by < 4 levels there is nothing to see and the score is 0.
    """
    sky = (matte >= 0.5).astype(np.uint8)
    if sky.all() or not sky.any():
        return 0.0
    dist = cv2.distanceTransform(sky, cv2.DIST_L2, 3)
    band = (dist >= 2) & (dist <= 4)
    if band.sum() < 10:
        return 0.0
    left = float(np.abs(composite_p[band].astype(np.float32) - new_p[band]).mean())
    before = float(np.abs(before_p[band].astype(np.float32) - new_p[band]).mean())
    return 0.0 if before < 4.0 else _clip(left / before, 0.0, 1.0)


def _sky_swap(rgb: np.ndarray, proxy: np.ndarray, matte: np.ndarray, sky_style: str, seed: int,
              luts: np.ndarray, plate: dict | None = None) -> tuple[np.ndarray, float, float]:
    """Relight ``rgb`` with ``luts`` and composite a generated sky through ``matte``
    (the procedural sky of ``sky_style``, or ``plate``: see ``replace_sky``).

    Cheap at 12 MP because only edge pixels (0 < alpha < 1, a few % of the frame) get
    float maths; solid sky is a masked copy and the rest is the LUT. Returns
    (new HxWx3 uint8, halo score, sky fraction).
    """
    h, w = rgb.shape[:2]
    ph, pw = matte.shape
    out = cv2.LUT(rgb, luts)
    fraction = float((matte >= 0.5).mean())
    feathered = cv2.GaussianBlur(matte, (0, 0), 0.7)  # a light feather against stair-steps
    rows_p = np.nonzero(feathered.max(axis=1) > 0.004)[0]
    if rows_p.size == 0:
        return out, 0.0, 0.0
    # Upsample only the proxy rows that hold sky (the sky is rarely more than half the
    # frame); rounding the crop to whole rows shifts the matte by < 1 source px.
    p0, p1 = max(0, int(rows_p[0]) - 1), min(ph, int(rows_p[-1]) + 2)
    y0, y1 = int(round(p0 * h / ph)), min(h, int(round(p1 * h / ph)))
    alpha = cv2.resize(feathered[p0:p1], (w, y1 - y0), interpolation=cv2.INTER_LINEAR)
    if plate is not None:
        # A learned sky spans the full width from the top row down past the sky.
        small = plate["plate"]
        sky_h = max(2, int(round(float(plate["box_norm"][3]) * h)))
    else:
        # The generated sky's horizon goes where the photo's sky ends.
        sky_h = max(2, int(round(max(_horizon_row(matte), 0.15) * h)))
        small = _render_sky_small(sky_style, w, sky_h, seed)
    sky = cv2.resize(small, (w, sky_h), interpolation=cv2.INTER_LINEAR)
    if sky_h < y1:
        sky = np.concatenate([sky, np.repeat(sky[-1:], y1 - sky_h, axis=0)], axis=0)
    sky = sky[y0:y1]
    crop = out[y0:y1]
    # OpenCV's masked copy and point listing are ~5x faster than numpy's at 12 MP.
    solid = cv2.inRange(alpha, 0.998, 2.0)
    cv2.copyTo(sky, solid, crop)
    points = cv2.findNonZero(cv2.inRange(alpha, 0.002, 0.998 - 1e-6))
    if points is not None:
        points = points.reshape(-1, 2)  # (N, 1, 2) in OpenCV 4, (N, 2) in 5
        band_x, band_y = points[:, 0], points[:, 1]
        # Old sky colour next to every edge pixel, from the confident sky on the proxy
        # (relit, since the mixture being corrected is the relit one). The field is
        # smooth (sigma ~30 proxy px), so nearest sampling is exact enough.
        core = (matte > 0.9).astype(np.float32)
        old_proxy = _local_mean(cv2.LUT(proxy, luts).astype(np.float32), core if core.any() else matte,
                                0.03 * max(ph, pw))
        py = np.minimum(((band_y + y0 + 0.5) * ph / h).astype(np.int32), ph - 1)
        px = np.minimum(((band_x + 0.5) * pw / w).astype(np.int32), pw - 1)
        mixed = _remix(crop[band_y, band_x].astype(np.float32), alpha[band_y, band_x],
                       sky[band_y, band_x].astype(np.float32), old_proxy[py, px])
        crop[band_y, band_x] = (mixed + 0.5).astype(np.uint8)
    comp_p = _proxy_of(out, (ph, pw))
    new_small = cv2.resize(small, (pw, max(1, round(sky_h * ph / h))), interpolation=cv2.INTER_AREA)
    if new_small.shape[0] < ph:
        new_small = np.concatenate([new_small, np.repeat(new_small[-1:], ph - new_small.shape[0], axis=0)], axis=0)
    halo = _halo_score(comp_p, new_small[:ph], proxy, matte)
    return out, halo, fraction


def _check_plate(plate) -> dict | None:
    """A learned sky plate ``{"plate": hxwx3 uint8, "box_norm": [0, 0, 1, y1]}`` or None."""
    if plate is None or plate.get("plate") is None:
        return None
    img, box = plate.get("plate"), plate.get("box_norm")
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 \
            or min(img.shape[:2]) < 2:
        raise InvalidImage(f"sky plate must be an hxwx3 uint8 RGB array, got "
                           f"{getattr(img, 'shape', None)} {getattr(img, 'dtype', None)}")
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise InvalidOptions(f"sky plate box_norm must be [x0, y0, x1, y1] fractions, got {box!r}") from None
    if (x0, y0, x1) != (0.0, 0.0, 1.0) or not 0.0 < y1 <= 1.0:
        raise InvalidOptions(f"sky plate must span the full width from the top row: box_norm "
                             f"[0, 0, 1, y1] with 0 < y1 <= 1, got {box!r}")
    return {"plate": img, "box_norm": [x0, y0, x1, y1]}


def replace_sky(rgb: np.ndarray, proxy_matte: np.ndarray, style: str, seed: int,
                sky_plate: dict | None = None) -> dict:
    """Replace the sky of a full-resolution listing exterior with a generated sky.

    rgb: HxWx3 ``uint8`` RGB, full resolution; not modified. proxy_matte: hxw float32
    [0, 1] sky matte on any proxy grid with the image's aspect (``segment_sky``'s
    ``matte``). style: one of ``SKY_STYLES``; seed: int (same seed, same sky).

    The matte is feathered and upsampled; the foreground is relit gently toward the new
    sky's daylight (white-balance gains within +-6 %, +0.1 stop, a slight S-curve,
    all as one LUT computed in linear light); edge pixels are decontaminated (see
    ``_remix``). sky_plate: optional learned sky (the inpainter's ``sky_plate``):
    ``{"plate": hxwx3 uint8 at any size, "box_norm": [0, 0, 1, y1]}``, the full width
    from the top row to ``y1`` of the height; it replaces the procedural sky and the
    same matte, relight and edge treatment apply. Returns {"rgb": new HxWx3 uint8,
    "report": {"style", "seed", "sky_source": "procedural" | "learned",
    "sky_fraction", "relight": {"gains", "stops", "contrast"}, "halo"}, "halo": float,
    "backend": "classical"}; ``halo`` is defined in ``_halo_score`` (0 = none, 1 = the
    old sky untouched next to the edge). Raises ``InvalidImage`` / ``InvalidOptions``.
    """
    _check_rgb(rgb)
    _check_style(style)
    matte = _check_matte(proxy_matte)
    _check_aspect(matte, rgb.shape[:2])
    if not isinstance(seed, (int, np.integer)):
        raise InvalidOptions(f"seed must be an int, got {seed!r}")
    proxy = _proxy_of(rgb, matte.shape)
    plate = _check_plate(sky_plate)
    gains, stops, contrast = _relight_toward(proxy, matte, style, seed)
    luts = _channel_luts(gains, stops, contrast)
    out, halo, fraction = _sky_swap(rgb, proxy, matte, style, seed, luts, plate)
    report = {
        "style": style,
        "seed": int(seed),
        "sky_source": "learned" if plate is not None else "procedural",
        "sky_fraction": round(fraction, 4),
        "relight": {"gains": [round(float(g), 4) for g in gains], "stops": round(stops, 3),
                    "contrast": round(contrast, 3)},
        "halo": round(halo, 4),
    }
    return {"rgb": out, "report": report, "halo": round(halo, 4), "backend": "classical"}


#: Largest white-balance change the relight may make per channel (the sky is new,
#: the house is not: a stronger shift reads as a filter).
RELIGHT_MAX_GAIN = 0.06


def _relight_toward(proxy: np.ndarray, matte: np.ndarray, style: str, seed: int) -> tuple:
    """Per-channel gains (G = 1), exposure stops and contrast for the foreground."""
    sky = matte >= 0.5
    if sky.mean() < 0.005:
        return (1.0, 1.0, 1.0), 0.0, 0.0
    old = _srgb_to_lin(proxy[sky].mean(0))
    new = _srgb_to_lin(_render_sky_small(style, 64, 48, seed).reshape(-1, 3).mean(0))
    ratio = (new / np.maximum(new[1], 1e-6)) / (old / np.maximum(old[1], 1e-6))
    # A quarter of the way toward the new daylight: daylight from a blue sky is far
    # less blue than the sky itself.
    gains = np.clip(ratio ** 0.25, 1 - RELIGHT_MAX_GAIN, 1 + RELIGHT_MAX_GAIN)
    return tuple(float(g) for g in gains), 0.1, 0.04


# ------------------------------------------------------------------ day-to-dusk

#: Exposure change of the ground at dusk, in stops (a real twilight shot sits ~1-1.5
#: stops under the daylight exposure of the same facade).
DUSK_STOPS = -1.5
#: Warm tungsten-ish cast of the ground at dusk, per channel in linear light (G = 1).
DUSK_GAINS = (1.10, 1.0, 0.80)
#: Warm interior light seen through glass, sRGB.
WINDOW_GLOW = (255, 196, 118)
#: Window candidates: share of the frame each may cover.
WINDOW_AREA = (0.0006, 0.05)
#: Window candidates: width / height.
WINDOW_ASPECT = (0.45, 3.0)


def _check_windows(windows, shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    if windows is None:
        return []
    if not isinstance(windows, (list, tuple)):
        raise InvalidOptions(f"windows must be a list of dicts with a 'bbox', got {type(windows).__name__}")
    h, w = shape
    boxes = []
    for item in windows:
        bbox = item.get("bbox") if isinstance(item, dict) else None
        if bbox is None or len(bbox) != 4:
            raise InvalidOptions(f"each window needs a 'bbox' [x0, y0, x1, y1] in source pixels, got {item!r}")
        x0, y0, x1, y1 = (int(round(float(v))) for v in bbox)
        x0, x1 = max(0, min(x0, x1)), min(w, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(h, max(y0, y1))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            boxes.append((x0, y0, x1, y1))
    return boxes


def detect_facade_windows(proxy_rgb: np.ndarray, sky_matte: np.ndarray | None = None) -> list[dict]:
    """Find facade windows on an exterior proxy: dark, low-saturation, rectangular blobs.

    proxy_rgb: hxwx3 uint8 RGB (~1024 px long side); sky_matte: hxw float32 [0, 1] or
    None. A window pane in daylight is darker than the wall around it (glass reflects
    little of a bright facade), neutral or bluish, and its outline is a rectangle:
    candidates are pixels darker than 0.78x their neighbourhood (the brighter of
    box means ~1/12 and ~1/6 of the frame), opened to drop texture and closed across muntins, kept when they fill
    >= 70 % of their bounding box, have a width/height in ``WINDOW_ASPECT`` (not a
    shutter), cover ``WINDOW_AREA`` of the frame, are
    not in the sky, not on the frame border and not in the bottom tenth (doorsteps,
    shadows under cars). Returns a list of {"bbox": [x0, y0, x1, y1] proxy pixels,
    "score"}, at most 40, largest first.
    """
    _check_rgb(proxy_rgb, "proxy_rgb")
    h, w = proxy_rgb.shape[:2]
    gray = cv2.cvtColor(proxy_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    hsv = cv2.cvtColor(proxy_rgb, cv2.COLOR_RGB2HSV)
    # The wall around a window, at two scales: a box ~1/12 of the frame suits the
    # small windows of a whole-house shot, ~1/6 the large ones of a close facade
    # (a box no larger than the window would mostly average the window itself).
    surround = np.maximum(cv2.blur(gray, (max(15, (max(h, w) // 12) | 1),) * 2),
                          cv2.blur(gray, (max(15, (max(h, w) // 6) | 1),) * 2))
    dark = (gray < 0.78 * surround) & (gray < 140) & (hsv[..., 1] < 110)
    if sky_matte is not None:
        dark &= cv2.resize(sky_matte, (w, h)) < 0.3
    # Open to drop texture, then close across muntins so the panes of one window
    # (white grids on dark glass) become one candidate.
    mask = cv2.morphologyEx(dark.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    found = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if not WINDOW_AREA[0] * h * w <= bw * bh <= WINDOW_AREA[1] * h * w:
            continue
        fill = area / float(bw * bh)
        # Shutters beside a window are dark, solid and narrow (~1:3): windows are wider.
        if fill < 0.7 or not WINDOW_ASPECT[0] <= bw / bh <= WINDOW_ASPECT[1]:
            continue
        if x <= 1 or y <= 1 or x + bw >= w - 1 or y + bh >= 0.9 * h:
            continue
        found.append({"bbox": [x, y, x + bw, y + bh], "score": round(fill, 3)})
    found.sort(key=lambda d: -(d["bbox"][2] - d["bbox"][0]) * (d["bbox"][3] - d["bbox"][1]))
    return found[:40]


def _light_window(out: np.ndarray, original: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Warm glow inside ``box`` of ``out`` (in place, ``out`` is ours), with bloom.

    The glass is what glows: pixels on strong edges inside the box (frames, mullions,
    muntins) keep their dusk colour, so the window still reads as a window.
    """
    h, w = out.shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    pad = int(0.35 * max(bw, bh)) + 2
    X0, Y0, X1, Y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    crop_src = original[Y0:Y1, X0:X1]
    gray = cv2.cvtColor(crop_src, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    inner = np.zeros(gray.shape, np.float32)
    m = max(1, int(0.04 * min(bw, bh)))
    inner[y0 - Y0 + m:y1 - Y0 - m, x0 - X0 + m:x1 - X0 - m] = 1.0
    inner = cv2.GaussianBlur(inner, (0, 0), max(0.8, 0.015 * min(bw, bh)))
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    edges = cv2.GaussianBlur(cv2.magnitude(gx, gy), (0, 0), 1.0)
    frames = _smoothstep(edges, 0.25, 0.6)
    # Bright frames and mullions (white trim) stay trim; dark glass glows.
    bright = _smoothstep(gray, 0.55, 0.8)
    glass = inner * (1 - frames) * (1 - bright)
    warm = _srgb_to_lin(WINDOW_GLOW)
    crop = out[Y0:Y1, X0:X1].astype(np.float32) / 255.0
    lin = np.where(crop <= 0.04045, crop / 12.92, ((crop + 0.055) / 1.055) ** 2.4)
    # A lit room seen through glass: brighter toward the ceiling light, with what is
    # behind the glass (curtains, blinds, reflections) kept as local detail.
    detail = gray - cv2.GaussianBlur(gray, (0, 0), max(1.0, 0.15 * min(bw, bh)))
    rows = np.clip((np.arange(Y0, Y1, dtype=np.float32) - y0) / max(1, bh), 0, 1)[:, None]
    shade = (1.0 - 0.3 * rows) * np.clip(1.0 + 2.5 * detail, 0.55, 1.5)
    lit = warm[None, None, :] * (0.95 * shade)[..., None]
    a = (0.9 * glass)[..., None]
    lin = lin * (1 - a) + lit * a
    bloom = cv2.GaussianBlur(glass, (0, 0), max(1.5, 0.12 * min(bw, bh)))
    lin = lin + (0.10 * bloom)[..., None] * warm[None, None, :]
    out[Y0:Y1, X0:X1] = _lin_to_u8(lin)


def day_to_dusk(rgb: np.ndarray, proxy_matte: np.ndarray | None, windows: list[dict] | None) -> dict:
    """Turn a daylight listing exterior into a twilight shot.

    rgb: HxWx3 ``uint8`` RGB, full resolution; not modified. proxy_matte: hxw float32
    [0, 1] sky matte on a proxy grid with the image's aspect, or None (then
    ``segment_sky`` runs on a 1024 px proxy with ``scene="exterior"``). windows: list
    of {"bbox": [x0, y0, x1, y1]} in source pixels, or empty/None (then
    ``detect_facade_windows`` finds them).

    The sky becomes a generated twilight gradient (deep blue to a warm orange horizon),
    composited like ``replace_sky`` (decontaminated edge); the ground goes
    ``DUSK_STOPS`` down with a warm cast (one LUT in linear light, shadows lifted a
    little so detail stays); each window's glass is filled with warm light and a soft
    bloom, its frame and mullions left dark. Returns {"rgb": new HxWx3 uint8,
    "report": {"windows_lit", "window_source", "sky_fraction", "exposure_stops",
    "ground_gains", "halo"}, "backend"}. Raises ``InvalidImage`` / ``InvalidOptions``.
    """
    _check_rgb(rgb)
    h, w = rgb.shape[:2]
    boxes = _check_windows(windows, (h, w))
    proxy = None
    if proxy_matte is None:
        proxy = _resize_long(rgb, 1024)
        matte = segment_sky(proxy, scene="exterior")["matte"]
    else:
        matte = _check_matte(proxy_matte)
        _check_aspect(matte, (h, w))
    luts = _channel_luts(DUSK_GAINS, DUSK_STOPS, 0.0, shadow_lift=0.06)
    if proxy is None or proxy.shape[:2] != matte.shape:
        proxy = _proxy_of(rgb, matte.shape)
    out, halo, fraction = _sky_swap(rgb, proxy, matte, "twilight", 0, luts)
    source = "given"
    if not boxes:
        source = "detected"
        if proxy is None:
            proxy = _resize_long(rgb, 1024)
        sx, sy = w / proxy.shape[1], h / proxy.shape[0]
        for found in detect_facade_windows(proxy, cv2.resize(matte, (proxy.shape[1], proxy.shape[0]))):
            x0, y0, x1, y1 = found["bbox"]
            boxes.append((int(x0 * sx), int(y0 * sy), int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy))))
    for box in boxes:
        _light_window(out, rgb, box)
    report = {
        "windows_lit": len(boxes),
        "window_source": source,
        "sky_fraction": round(fraction, 4),
        "exposure_stops": DUSK_STOPS,
        "ground_gains": list(DUSK_GAINS),
        "halo": round(halo, 4),
    }
    return {"rgb": out, "report": report, "backend": "classical"}
