"""Classical sky matte for listing exteriors: the soft sky matte and the sky condition
(replacement and day-to-dusk, which use it, live in the compositor).

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

The thresholds that decide the matte's extent (growth distance and smoothness, the
boundary's colour likeness, the evidence an exterior's region needs) are fitted by
``bench/fit_sky.py`` on ``shared/eval/sky_masks`` and the listing interiors, with a k-fold
figure, and live in ``sky_params.py``; the others are round numbers set by reasoning
about what each cue measures and checked on the same photos (``lumograph.bench.eval_sky``).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from lumograph.models.classifier.scene import classify_scene
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.filters import guided_filter, local_mean
from lumograph.models.common.imageio import fast_downscale, require_rgb_u8
from lumograph.models.common.lines import line_segment_detector
from lumograph.models.common.numeric import clamp, smoothstep
from lumograph.models.segmenter.sky_params import PARAMS as FITTED_PARAMS

#: Long side of the grid the sky region is found on; the matte is refined on the proxy.
ANALYSIS_LONG_SIDE = 384
#: Below this share of the frame a sky is not worth replacing.
MIN_REPLACE_FRACTION = 0.03
#: A sky with more sky-coloured pixels outside the matte than this share of the matte
#: (blown sky behind a feathery tree) is not replaced: the result would be patchy.
MAX_UNMATCHED_SKY = 0.5
#: Lab L of a clipped white (sRGB ~247): a smooth region this bright hanging from the top
#: seeds the sky even when the frame is too bright for it to stand out.
BLOWN_L = 97.0
#: Prior log-odds that a bright smooth region hanging from the top is sky: a listing
#: holds about three interior photos per exterior (ceilings and walls look alike).
LISTING_PRIOR_LOG_ODDS = -1.1
#: Log-odds a region needs to be called sky when the scene is not known: painting a sky
#: onto a ceiling ruins a delivered photo, leaving a sky as shot costs little, and at
#: a cost ratio of ~3:1 the break-even posterior is 0.75, log(3) ~ 1.1. When the caller
#: says the scene is an exterior that risk is gone and the threshold is 0.
ACCEPT_LOG_ODDS = 1.1


def _top_connected(mask: np.ndarray, top_rows: int = 2) -> np.ndarray:
    """bool HxW: the 4-connected components of ``mask`` that touch the top border."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros(mask.shape, bool)
    top = np.unique(labels[:top_rows])
    top = top[top > 0]
    return np.isin(labels, top)


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


def _sky_region(m: dict, params: dict) -> tuple[np.ndarray, np.ndarray]:
    """bool region connected to the top, and the HxWx3 Lab local sky-colour model.
    params: ``sky_params.PARAMS``-shaped (``grow_lab_distance``, ``grow_texture``)."""
    L, a, b, H, S = m["L"], m["a"], m["b"], m["H"], m["S"]
    chroma = np.hypot(a, b)
    smooth = m["texture"] < 1.5
    blue = (H >= 190) & (H <= 235) & (S > 0.10) & (L > 35) & (b < -4)
    # Overcast sky is the brightest large thing outdoors; "brighter than the median
    # by 10 L" rejects mid-grey facades, b* < 6 rejects warm ceilings and walls. In an
    # overexposed frame (median above ~87 L) nothing can be 10 L brighter: there a
    # clipped white (``BLOWN_L``) is the brightest there is, and a blown sky seeds.
    median_l = float(np.median(L))
    neutral = (L > min(max(55.0, median_l + 10.0), BLOWN_L)) & (chroma < 14) & (b < 6)
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
        model = local_mean(m["lab"], region.astype(np.float32), sigma)
        dist = np.linalg.norm(m["lab"] - model, axis=2)
        # Smooth and near the local sky colour (fitted: ~12 Lab units; a graded sky
        # drifts ~5-10 units over the frame, a roof or wall next to it differs by more).
        grow = seed | ((m["texture"] < params["grow_texture"]) & (dist < params["grow_lab_distance"]) & (b < 8))
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


def _segments(m: dict):
    """LSD segments of the analysis grey image ((N, 1, 4) float32 or None), computed
    once per ``_analysis_maps`` dict: acceptance and the foliage step both read them."""
    if "segments" not in m:
        m["segments"] = line_segment_detector().detect(m["gray"])[0]
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
        "blue": clamp(6.0 * (blue_share - 0.25), -1.5, 3.0),
        # Sky is neutral or blue (b* <= ~0); walls and ceilings under room light are warm.
        "warmth": clamp((2.0 - warmth) / 2.0, -3.0, 1.0),
        # Daylight sky is about a stop brighter than the ground (~20 L units).
        "contrast": clamp((sky_l - rest_l - 15.0) / 8.0, -2.5, 2.0),
        # Sky is cut by roofs, trees and wires; rooms are cut by walls, frames, ceilings.
        # Steep: a region a quarter of whose boundary is long straight lines is a room.
        "straight_boundary": clamp(10.0 * (0.25 - straight), -3.0, 1.5),
        "top_contact": clamp(4.0 * (top_contact - 0.25), -1.0, 1.5),
        "size": clamp(math.log((fraction + 1e-4) / 0.02), -2.0, 1.0),
        # Base rate: a listing holds about three interiors per exterior, log(1/3).
        "prior": LISTING_PRIOR_LOG_ODDS,
    }
    return float(sum(terms.values())), terms, measures


#: How far (analysis px) past the found region the boundary is re-decided by colour:
#: the region stops a few px short of every edge (texture is measured over 5x5), and
#: a blue sky also shows through foliage gaps, which no neutral wall colour mimics.
REACH_NEUTRAL = 4
REACH_BLUE = 16


def _refine_matte(proxy: np.ndarray, region_small: np.ndarray, blue_sky: bool, params: dict) -> np.ndarray:
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
    model = local_mean(lab, inside.astype(np.float32), 0.02 * max(pw, ph))
    d = lab - model
    # Brighter than the sky next to it counts half: camera sharpening leaves a light
    # rim of old sky along every roof line, and that rim must go with the sky.
    lighter = np.maximum(d[..., 0], 0) * np.float32(0.5)
    dist = np.sqrt(np.minimum(d[..., 0], 0) ** 2 + lighter ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)
    # Colour likelihood: within ~6 Lab units = sky, beyond ``likeness_far`` (fitted, ~18)
    # = not. Darker-than-sky (wires, twigs, roof edges) counts double: they are never
    # sky however near in hue.
    darker = np.maximum(-d[..., 0], 0)
    far = float(params["likeness_far"])
    likeness = (1.0 - smoothstep(dist + darker, far / 3.0, far)).astype(np.float32)
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
        sky_rgb = local_mean(rgbf, joined.astype(np.float32), 0.02 * max(pw, ph))
        # The foreground colour from a few px behind the edge: the rim pixels themselves
        # are the mixtures being solved for.
        behind = cv2.distanceTransform((~joined).astype(np.uint8), cv2.DIST_L2, 3) > max(3.0, 0.004 * max(pw, ph))
        fg_core = (behind & (likeness < 0.02)).astype(np.float32)
        fg_rgb = local_mean(rgbf, fg_core, sigma_fg)
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
    matte[joined] = np.maximum(matte[joined], 1.0 - smoothstep(darker[joined], 8.0, 20.0))
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
    key = smoothstep(L, sky_l - 25.0, sky_l - 8.0).astype(np.float32)
    out = matte.copy()
    out[y0:y1, x0:x1] = np.maximum(out[y0:y1, x0:x1], key * soft_zone)
    return out


def _condition(measures: dict) -> str:
    if measures["blue_share"] >= 0.5 and measures["mean_saturation"] >= 0.15:
        return "clear"
    # Flat and dull (< L 75) reads grey; bright white or blown reads overcast.
    return "grey" if measures["luminance"] < 0.75 else "overcast"


def segment_sky(proxy_rgb: np.ndarray, *, scene: str | None = None, params: dict | None = None) -> dict:
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
    params: the fitted thresholds (``sky_params.PARAMS``, the default); the fitting
    procedure (``bench/fit_sky.py``) passes candidates here.
    Raises ``InvalidImage`` for a wrong type, dtype or a too-small image and
    ``InvalidOptions`` for an unknown ``scene``.
    """
    require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=16)
    if scene not in (None, "exterior", "interior"):
        raise InvalidOptions(f"scene must be None, 'exterior' or 'interior', got {scene!r}")
    ph, pw = proxy_rgb.shape[:2]
    small = fast_downscale(proxy_rgb, ANALYSIS_LONG_SIDE)
    m = _analysis_maps(small)
    params = FITTED_PARAMS if params is None else {**FITTED_PARAMS, **params}
    region, model = _sky_region(m, params)
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
    terms["scene"] = clamp(exterior, -4.0, 2.0)
    evidence += terms["scene"]
    probability = 1.0 / (1.0 + math.exp(-evidence))
    rounded = {k: round(v, 4) for k, v in measures.items()}
    log_odds = {k: round(v, 3) for k, v in terms.items()}
    if evidence < (params["exterior_accept_log_odds"] if scene == "exterior" else ACCEPT_LOG_ODDS):
        return {**none, "measures": rounded, "log_odds": log_odds, "sky_probability": round(probability, 4)}
    matte = _refine_matte(proxy_rgb, region, measures["blue_share"] >= 0.5, params)
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
