"""Controlled highlights: blown specular hot-spots on the metal rolled off toward the
surrounding highlight, the retoucher's promise of "no white holes, no dull metal".

Images are HxWx3 ``uint8`` RGB (the graded cut-out); alpha HxW ``float32`` in [0, 1]
(``uint8`` 0-255 accepted). Inputs are never mutated (unless ``in_place`` is asked for).
Levels are 8-bit sRGB code values of the *value* channel ``V = max(R, G, B)``: scaling a
pixel's three codes by one factor keeps its chromaticity (the sRGB curve is a power law
above its toe), so tone moves made on ``V`` keep each pixel's hue.

**Clipped share** (reported before and after): the share of the piece's pixels (alpha
>= ``PIECE_ALPHA``, 0.5) whose ``V >= CLIP_LEVEL`` (254): at least one channel at the
top of the code range. Gold clips red first, so a "clipped" gold pixel is often still
gold-coloured, with its red flattened (and its hue pushed toward lemon).

**Hot-spots** (``find_hotspots``, on an analysis grid: the max channel and alpha
area-averaged by the smallest integer factor that brings the long side to
``ANALYSIS_LONG_SIDE``): a solid clipped *core* (the clipped pixels that survive an
opening by a disc of ``core_radius``, one connected fragment of at least ``min_area``
px) grown by ``grow`` px over the near-clipped ring around it (``V >= NEAR_CLIP``, 250:
JPEG ringing and channels clipping one after another), plus enclosed bright pin-holes.
The opening drops thin glints and facet stars; the area tells a plate from a sparkle:
``min_area = max(MIN_AREA_PX, MIN_AREA_SHARE * piece_px)``:

* ``MIN_AREA_SHARE`` = 0.002 (0.2 % of the piece), resolution-free. On the eval photos
  the largest clipped core on a stone's pave or a small centre stone is 0.05-0.18 % of
  its piece (ring_test_1, ring5, the pave of ring4); blown plates on the metal are
  0.2-7 % (ring4's shank, ring6's and ring8's gold, chain links). A very large stone in
  frame can blow a facet above it (ring4's oval centre stone, 0.4-0.5 %): it is then
  rolled off like white metal (below), within the top five codes, and its dark facet
  lines (below the knee) do not move, so the stone keeps its contrast.
* ``MIN_AREA_PX`` = 24: on a small piece (a pendant ~50x50 px in its crop) 0.2 % is a
  handful of pixels; 24 px (a ~5 px disc) is the smallest spot that reads as a flat
  patch rather than a glint.

A plate whose surrounding ring lies mostly off the piece (``SILHOUETTE_MAX``) is
backdrop the matte kept along its silhouette, not a highlight, and is left alone.

**Roll-off** (``soften_hotspots``): smooth fields are built on the grid (``feather``,
dome, rim colour) and sampled bilinearly at each full-resolution pixel brighter than
the knee near a hot-spot; every other pixel is returned bit for bit.

* *Shoulder*: around a hot-spot (weight 1 at its edge, smoothstep to 0 at ``feather``
  px) ``V`` goes through a soft knee: identity up to ``KNEE_START`` (226), then a
  quadratic shoulder (slope 1 at the knee, monotone) that brings 255 to the edge level.
  Pixels at or below the knee never move: unclipped metal stays bit for bit.
* *Dome*: inside the hot-spot the flat plate becomes a dome from the edge level at its
  border to ``PEAK_LEVEL`` (252) at its deepest point (a blurred distance transform,
  eased out): the hot-spot stays the brightest part of its highlight, with a gradient
  instead of a flat plate, and below the clip level.
* *Colour*: the rim's chromaticity (the brighter half of the unclipped piece pixels in a
  band around the hot-spot) is the colour a clipped pixel has lost: a pixel with a
  clipped channel takes the rim's hue, at the rim's saturation at the border fading to
  ``CENTRE_CHROMA`` (20 %) of it at the peak, never below its own saturation (bright
  gold is not washed out). A gold hot-spot reads as a pale-gold glow, not a white hole;
  its luminance still rises to the peak.
* A *neutral* rim (white metal; a white-backdrop patch the matte kept; a stone) has no
  colour to give back: its edge level is ``NEUTRAL_EDGE_LEVEL`` (247), so the roll-off
  stays within the top codes and never reads as a grey patch on the #FFFFFF page;
  coloured hot-spots use ``EDGE_LEVEL`` (242), where the rim's hue carries the gradient.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from lumograph.models.common.colour import max_channel
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.masks import check_mask, disc
from lumograph.models.common.numeric import rounded, smoothstep

#: Long side of the analysis grid: hot-spots, domes and feathers are found there (larger
#: cut-outs are area-downscaled to it) and applied at full resolution by sampling.
ANALYSIS_LONG_SIDE = 1024
#: Alpha from which a pixel belongs to the piece (counted in the shares, may seed a hot-spot).
PIECE_ALPHA = 0.5
#: V (max channel, 8-bit) at or above which a pixel counts as clipped.
CLIP_LEVEL = 254
#: V from which a pixel can belong to a hot-spot's region (a clipped plate's JPEG ringing).
NEAR_CLIP = 250
#: Smallest clipped core of a hot-spot: a share of the piece's pixels, and a floor in px.
MIN_AREA_SHARE = 0.002
MIN_AREA_PX = 24
#: Radius (px) of the disc a clipped core must hold, per 1000 px of the piece's size
#: (sqrt of its pixel count), at least 1: thin glints and facet stars do not survive it.
CORE_RADIUS_PER_1000 = 2.0
#: Tone levels (8-bit V): the shoulder's knee, the level 255 is brought to at a hot-spot's
#: edge, and the dome's peak (below CLIP_LEVEL, above everything around it).
KNEE_START = 226.0
EDGE_LEVEL = 242.0
#: The edge level of a neutral hot-spot (its rim less saturated than RIM_MIN_SATURATION:
#: white metal, or a white-backdrop patch the matte kept): with no colour to regain, its
#: roll-off stays in the top few codes, so it never reads as a grey patch on the white page.
NEUTRAL_EDGE_LEVEL = 247.0
PEAK_LEVEL = 252.0
#: Share of the rim's saturation a white hole keeps at the dome's peak (1 at its edge).
CENTRE_CHROMA = 0.2
#: Feather of the shoulder, in px per 1000 px of piece size, and its limits in px.
FEATHER_PER_1000 = 16.0
FEATHER_MIN = 3.0
FEATHER_MAX = 48.0
#: Share of a plate's surrounding ring that may lie off the piece (alpha < PIECE_ALPHA):
#: a highlight along a band's edge or on a chain link has up to ~60 % of its ring outside
#: (ring6, a chain on N2_17HK0260); backdrop the matte kept along the silhouette, ~95 %.
SILHOUETTE_MAX = 0.75
#: Rims bluer/redder than this (1 - min/max of the rim's chromaticity) colour a white hole.
RIM_MIN_SATURATION = 0.04

# The shoulder: f(u) = u (1 - a u) on u = (V - knee) / (255 - knee); f(1) maps 255 to the
# edge level; a <= 0.5 keeps it monotone (slope 1 - 2a >= 0 at 255).
_SPAN = 255.0 - KNEE_START
assert 0.5 * _SPAN <= EDGE_LEVEL - KNEE_START <= NEUTRAL_EDGE_LEVEL - KNEE_START <= _SPAN, \
    "edge levels outside the monotone range of the shoulder from KNEE_START"

_SQUARE3 = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))


def shoulder(v: np.ndarray, edge=EDGE_LEVEL) -> np.ndarray:
    """The soft knee on V: float32 array of 8-bit levels (0-255) -> float32, identity up to
    ``KNEE_START``, 255 -> ``edge`` (a float or an array like ``v``, in [KNEE_START +
    (255 - KNEE_START) / 2, 255]), C1 at the knee and monotone."""
    v = np.asarray(v, np.float32)
    u = np.clip((v - np.float32(KNEE_START)) / np.float32(_SPAN), 0.0, 1.0)
    a = 1.0 - (np.asarray(edge, np.float32) - np.float32(KNEE_START)) / np.float32(_SPAN)
    return np.where(v > KNEE_START, np.float32(KNEE_START) + np.float32(_SPAN) * u * (1 - a * u), v)


def clipped_share(rgb_u8: np.ndarray, alpha: np.ndarray) -> float:
    """Share of the piece's pixels (alpha >= ``PIECE_ALPHA``) whose max channel is >=
    ``CLIP_LEVEL``. rgb_u8: HxWx3 uint8 RGB; alpha: HxW float32 [0, 1] (or uint8).
    Returns a float in [0, 1]; 0.0 when the piece is empty."""
    require_rgb_u8(rgb_u8, "rgb_u8")
    piece = cv2.compare(check_mask(alpha, rgb_u8.shape[:2], "alpha"), PIECE_ALPHA, cv2.CMP_GE)
    n = cv2.countNonZero(piece)
    clipped = cv2.bitwise_and(cv2.compare(max_channel(rgb_u8), CLIP_LEVEL, cv2.CMP_GE), piece)
    return 0.0 if n == 0 else cv2.countNonZero(clipped) / n


def hotspot_scale(piece_px: int) -> dict:
    """Size parameters for a piece of ``piece_px`` pixels (on the grid they are used on):
    ``min_area`` (px of one clipped core), ``core_radius`` (px of the opening disc),
    ``feather`` (px of the shoulder) and ``grow`` (px a plate reaches past its core)."""
    size = math.sqrt(max(piece_px, 1)) / 1000.0
    feather = float(min(FEATHER_MAX, max(FEATHER_MIN, FEATHER_PER_1000 * size)))
    return {
        "min_area": int(max(MIN_AREA_PX, math.ceil(MIN_AREA_SHARE * piece_px))),
        "core_radius": int(max(1, round(CORE_RADIUS_PER_1000 * size))),
        "feather": feather,
        "grow": int(max(2, round(feather / 3))),
    }


def find_hotspots(rgb_u8: np.ndarray, alpha: np.ndarray) -> dict:
    """Blown hot-spots inside the piece (see the module notes).

    rgb_u8: HxWx3 uint8 RGB; alpha: HxW float32 [0, 1] (or uint8 0-255). Clipped pixels
    are counted at full resolution; the hot-spots are found on the analysis grid (the
    max channel and alpha area-averaged over ``factor`` x ``factor`` blocks, the
    smallest factor that brings the long side to ``ANALYSIS_LONG_SIDE``; 1 for smaller
    cut-outs), inside ``box``, the near-clipped pixels' bounding box grown by the
    feather. Returns ``{"n": hot-spot count, "spots": [{"sub": (row slice, column
    slice) in the box, "region": bool mask of the hot-spot on ``sub``, "core_px"}],
    "box": (y0, y1, x0, x1) on the grid, "factor", "grid": {"alpha", "value", "near"
    (uint8 0/255, on the box)}, "value": HxW uint8 max channel at full resolution,
    "alpha": HxW float32, "piece_px", "clipped_px" (both at full resolution),
    "min_area_px": ``min_area`` in full-resolution px, **hotspot_scale on the grid}``.
    """
    require_rgb_u8(rgb_u8, "rgb_u8")
    h, w = rgb_u8.shape[:2]
    alpha_f = check_mask(alpha, (h, w), "alpha")
    value_full = max_channel(rgb_u8)
    piece_full = cv2.compare(alpha_f, PIECE_ALPHA, cv2.CMP_GE)
    piece_px = cv2.countNonZero(piece_full)
    clipped_px = cv2.countNonZero(cv2.bitwise_and(cv2.compare(value_full, CLIP_LEVEL, cv2.CMP_GE), piece_full))
    # The grid: an integer factor keeps OpenCV's area average on its fast path and each
    # grid pixel an exact f x f block (the last f - 1 rows/columns at most are left out).
    factor = max(1, -(-max(h, w) // ANALYSIS_LONG_SIDE))
    if factor > 1:
        size = (w // factor, h // factor)
        crop = (slice(0, size[1] * factor), slice(0, size[0] * factor))
        value = cv2.resize(value_full[crop], size, interpolation=cv2.INTER_AREA)
        alpha_a = cv2.resize(alpha_f[crop], size, interpolation=cv2.INTER_AREA)
        piece = cv2.compare(alpha_a, PIECE_ALPHA, cv2.CMP_GE)
    else:
        alpha_a, value, piece = alpha_f, value_full, piece_full
    ha, wa = value.shape
    scale = hotspot_scale(cv2.countNonZero(piece))
    found = {"n": 0, "spots": [], "box": (0, 0, 0, 0), "factor": factor,
             "grid": {"alpha": alpha_a, "value": value}, "value": value_full, "alpha": alpha_f,
             "piece_px": piece_px, "clipped_px": clipped_px,
             "min_area_px": int(scale["min_area"] * factor * factor), **scale}
    near_full = cv2.bitwise_and(cv2.compare(value, NEAR_CLIP, cv2.CMP_GE), piece)
    if clipped_px == 0 or cv2.countNonZero(near_full) == 0:
        return found
    bx, by, bw, bh = cv2.boundingRect(near_full)
    pad = math.ceil(scale["feather"]) + scale["grow"] + 2
    y0, y1, x0, x1 = max(0, by - pad), min(ha, by + bh + pad), max(0, bx - pad), min(wa, bx + bw + pad)
    in_box = (slice(y0, y1), slice(x0, x1))
    piece_box, value_box = piece[in_box], value[in_box]
    clipped = cv2.bitwise_and(cv2.compare(value_box, CLIP_LEVEL, cv2.CMP_GE), piece_box)
    # A 3x3 closing joins a plate's JPEG pin-holes; the piece bounds it.
    near = cv2.bitwise_and(cv2.morphologyEx(near_full[in_box], cv2.MORPH_CLOSE, _SQUARE3), piece_box)
    # The clipped core: what survives an opening by a disc. Each core fragment must be
    # large on its own: a stone's facets, bridged into one near-clip region by their
    # ringing, make many small cores, not one plate.
    core = cv2.morphologyEx(cv2.morphologyEx(clipped, cv2.MORPH_CLOSE, _SQUARE3),
                            cv2.MORPH_OPEN, disc(scale["core_radius"]))
    core = cv2.bitwise_and(core, clipped)
    _, core_labels, core_stats, _ = cv2.connectedComponentsWithStats(core, connectivity=8, ltype=cv2.CV_32S)
    big = np.flatnonzero(core_stats[:, cv2.CC_STAT_AREA] >= scale["min_area"])
    bright = value_box >= KNEE_START
    spots = []
    margin = pad
    for index in big[big > 0]:
        cx, cy, cw, ch = (int(v) for v in core_stats[index, :4])
        sub = (slice(max(0, cy - margin), min(y1 - y0, cy + ch + margin)),
               slice(max(0, cx - margin), min(x1 - x0, cx + cw + margin)))
        own_core = core_labels[sub] == index
        # The plate: its core grown over the near-clipped ring around it (JPEG ringing,
        # channels clipping one after another), not along every thin glint it touches;
        # only bright pixels join (the closing may bridge a dark line between two bright
        # ones, which the dome would lift into a bright streak).
        grown = cv2.dilate(own_core.view(np.uint8), disc(scale["grow"])) > 0
        region = _fill_bright_holes(grown & (near[sub] > 0) & bright[sub], bright[sub])
        # A highlight lies on the metal; a plate whose surround is mostly off the piece
        # is backdrop the matte kept at its silhouette, not a hot-spot.
        ring = (cv2.dilate(region.view(np.uint8), disc(3)) > 0) & ~region
        if np.count_nonzero(ring & (piece_box[sub] == 0)) > SILHOUETTE_MAX * max(np.count_nonzero(ring), 1):
            continue
        spots.append({"sub": sub, "region": region, "core_px": int(core_stats[index, cv2.CC_STAT_AREA])})
    found["grid"]["near"] = near
    found.update(n=len(spots), spots=spots, box=(y0, y1, x0, x1))
    return found


def _fill_bright_holes(region: np.ndarray, bright: np.ndarray) -> np.ndarray:
    """``region`` (hxw bool) with its enclosed holes added where ``bright`` (hxw bool,
    V >= ``KNEE_START``): a plate's pin-holes of not-quite-clipped pixels join the dome;
    dark engraving or a dark reflection inside it stays out."""
    contours, _ = cv2.findContours(region.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros(region.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return region | ((filled > 0) & bright)


def _rim_chroma(pixels: np.ndarray) -> np.ndarray | None:
    """(3,) float32 chromaticity (rgb / max, so max = 1) of the brighter half of the rim
    ``pixels`` (Nx3 uint8), or None when there are too few to tell."""
    if pixels.shape[0] < 6:
        return None
    pixels = pixels.astype(np.float32)
    v = pixels.max(axis=1)
    bright = pixels[v >= np.median(v)]
    return np.median(bright / np.maximum(bright.max(axis=1, keepdims=True), 1.0), axis=0).astype(np.float32)


def _hotspot_fields(rgb_u8: np.ndarray, found: dict) -> tuple[np.ndarray, np.ndarray]:
    """The roll-off as smooth fields on the grid's box: ``(tone, colour)``, hxwx4 float32
    each. tone: shoulder weight (1 at a hot-spot's edge, 0 past ``feather``), level (the
    dome's V inside a hot-spot, its edge level around it), edge level, region (1 inside).
    colour: the rim's chromaticity (3; white for a neutral rim) and the saturation a pixel
    of the dome should reach there (0 for a neutral rim). Around a hot-spot the fields
    hold its edge values, so they interpolate across its border. rgb_u8: the
    full-resolution cut-out the rim colours are read from."""
    y0, y1, x0, x1 = found["box"]
    in_box = (slice(y0, y1), slice(x0, x1))
    grid, factor = found["grid"], found["factor"]
    near, piece = grid["near"], grid["alpha"][in_box] >= PIECE_ALPHA
    tone = np.zeros((y1 - y0, x1 - x0, 4), np.float32)
    colour = np.zeros((y1 - y0, x1 - x0, 4), np.float32)
    colour[:, :, :3] = 1.0
    feather = found["feather"]
    rim_width = max(2, round(feather / 2))
    for spot in found["spots"]:
        sub, region = spot["sub"], spot["region"]
        region_u8 = region.view(np.uint8)
        depth = cv2.distanceTransform(region_u8, cv2.DIST_L2, cv2.DIST_MASK_5)
        # Blurred, the distance makes a dome without the medial-axis crease of a bare one.
        smooth = cv2.GaussianBlur(depth, (0, 0), max(0.8, float(depth.max()) / 3.0))
        t = np.minimum(smooth * np.float32(1.0 / max(float(smooth[region].max()), 1e-6)), np.float32(1.0))
        s = t * (2.0 - t) * region  # ease-out (most of a plate sits near the peak); 0 outside
        # The rim: unclipped piece pixels in a band around the hot-spot; its colour.
        rim = (cv2.dilate(region_u8, disc(rim_width)) > 0) & ~region & piece[sub] & (near[sub] == 0)
        ry, rx = np.nonzero(rim)  # each rim grid pixel read at its block's centre
        ry = (ry + sub[0].start + y0) * factor + factor // 2
        rx = (rx + sub[1].start + x0) * factor + factor // 2
        chroma = _rim_chroma(rgb_u8[ry, rx])
        saturation = 0.0 if chroma is None else 1.0 - float(chroma.min())
        edge = EDGE_LEVEL if saturation >= RIM_MIN_SATURATION else NEUTRAL_EDGE_LEVEL
        # Shoulder weight: 1 inside and at the edge, smoothstep down to 0 at ``feather``.
        outside = cv2.distanceTransform(1 - region_u8, cv2.DIST_L2, cv2.DIST_MASK_5)
        f = smoothstep(np.float32(feather) - outside, 0.0, float(feather))
        # Where two hot-spots' surroundings overlap, the nearer one rules.
        tone_sub, colour_sub = tone[sub], colour[sub]
        mine = region | (f > tone_sub[:, :, 0])
        np.copyto(tone_sub[:, :, 0], f, where=mine)
        np.copyto(tone_sub[:, :, 1], edge + (PEAK_LEVEL - edge) * s, where=mine)
        np.copyto(tone_sub[:, :, 2], np.float32(edge), where=mine)
        np.copyto(tone_sub[:, :, 3], np.float32(1.0), where=region)
        if saturation >= RIM_MIN_SATURATION:
            for c in range(3):
                np.copyto(colour_sub[:, :, c], np.float32(chroma[c]), where=mine)
            # The saturation asked for: the rim's at the edge, CENTRE_CHROMA of it at the peak.
            np.copyto(colour_sub[:, :, 3], saturation * (1.0 - (1.0 - CENTRE_CHROMA) * s), where=mine)
    return tone, colour


#: Points per row when a point list is remapped as an image (remap sizes stay < 32767).
_SAMPLE_ROW = 1024


def _sample(field: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``field`` (hxwxC float32, C <= 4) at the N points (map_x,
    map_y) (float32 grid coordinates; borders replicated). Returns NxC float32."""
    n = map_x.shape[0]
    rows = -(-n // _SAMPLE_ROW)
    pad = rows * _SAMPLE_ROW - n
    mx = np.pad(map_x, (0, pad)).reshape(rows, _SAMPLE_ROW)
    my = np.pad(map_y, (0, pad)).reshape(rows, _SAMPLE_ROW)
    out = cv2.remap(field, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * _SAMPLE_ROW, field.shape[2])[:n]


def _min3(c: np.ndarray) -> np.ndarray:
    """Per-row minimum of an Nx3 array (column-wise: ~5x faster than ``min(axis=1)``)."""
    return np.minimum(np.minimum(c[:, 0], c[:, 1]), c[:, 2])


def _dome_chroma(clipped: np.ndarray, own: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Chromaticity (Nx3 float32, max 1) of dome pixels of a coloured hot-spot.

    clipped: N bool, the pixel has a clipped channel; own: Nx3 float32 chromaticity (rgb /
    V); colour: Nx4, the rim's chromaticity and the saturation asked for there. A pixel
    with a clipped channel has lost its hue (gold clips red first: a lemon band; a white
    hole keeps nothing): it takes the rim's hue. Its saturation is the one asked for
    (pale toward the peak), but never below the pixel's own (bright gold is not washed
    out) nor above the rim's. An unclipped pixel keeps its hue and is only brought up to
    the saturation asked for.
    """
    hue = np.where(clipped[:, None], colour[:, :3], own)
    sat_hue = 1.0 - _min3(hue)
    wanted = np.maximum(colour[:, 3], np.minimum(1.0 - _min3(own), sat_hue))
    scale = np.where(sat_hue > 1e-3, wanted / np.maximum(sat_hue, np.float32(1e-3)), np.float32(0.0))
    hue -= 1.0
    hue *= scale[:, None]
    hue += 1.0
    return hue


def soften_hotspots(rgb_u8: np.ndarray, alpha: np.ndarray, found: dict | None = None, *,
                    in_place: bool = False) -> tuple[np.ndarray, dict]:
    """Roll the blown hot-spots off into a dome below the clip level (see the module notes).

    rgb_u8: HxWx3 uint8 RGB (the graded cut-out); alpha: HxW float32 [0, 1] (or uint8)
    on the same grid; found: ``find_hotspots(rgb_u8, alpha)`` of these very arrays, when
    the caller has it. in_place: write into ``rgb_u8`` (an array the caller owns; when it
    is not writeable and C-contiguous, a copy is made anyway). Returns ``(HxWx3 uint8
    RGB, report)``, report ``{"clipped_share_before", "clipped_share_after" (shares of
    the piece's pixels, alpha >= ``PIECE_ALPHA``, with max channel >= ``CLIP_LEVEL``),
    "hotspots" (count), "softened_px" (pixels changed), "piece_px", "min_area_px"}``. Pixels outside the hot-spots' feathered neighbourhoods, and pixels
    at or below ``KNEE_START``, are returned bit for bit.
    """
    found = found if found is not None else find_hotspots(rgb_u8, alpha)
    writable = rgb_u8.flags.c_contiguous and rgb_u8.flags.writeable
    out = rgb_u8 if in_place and writable else rgb_u8.copy()
    piece_px = max(found["piece_px"], 1)
    before = rounded(found["clipped_px"] / piece_px, 5)
    report = {"clipped_share_before": before, "clipped_share_after": before, "hotspots": found["n"],
              "softened_px": 0, "piece_px": found["piece_px"], "min_area_px": found["min_area_px"]}
    if found["n"] == 0:
        return out, report
    tone, colour = _hotspot_fields(rgb_u8, found)
    # Full-resolution pixels the fields reach (a grid pixel's footprint, one more for the
    # bilinear taps) that are brighter than the knee: the only ones computed or written.
    w = rgb_u8.shape[1]
    f = found["factor"]
    y0, y1, x0, x1 = found["box"]
    # (A weight under 1/32 moves V by < 0.5: the feather's last sliver is left out.)
    reach = cv2.dilate((tone[:, :, 0] > 1 / 32).view(np.uint8), _SQUARE3)
    fy0, fy1, fx0, fx1 = y0 * f, y1 * f, x0 * f, x1 * f  # the box's blocks
    if f > 1:
        reach = cv2.resize(reach, (fx1 - fx0, fy1 - fy0), interpolation=cv2.INTER_NEAREST)
    value = found["value"]
    candidates = cv2.bitwise_and(reach, cv2.compare(value[fy0:fy1, fx0:fx1], KNEE_START, cv2.CMP_GT))
    points = cv2.findNonZero(candidates)
    if points is None:
        return out, report
    points = points.reshape(-1, 2)
    xs, ys = points[:, 0] + fx0, points[:, 1] + fy0
    flat = ys * w + xs
    # Sample the fields at each pixel's centre on the grid (bilinear).
    map_x = xs.astype(np.float32) * np.float32(1 / f) + np.float32(0.5 / f - 0.5 - x0)
    map_y = ys.astype(np.float32) * np.float32(1 / f) + np.float32(0.5 / f - 0.5 - y0)
    tone_px, colour_px = _sample(tone, map_x, map_y), _sample(colour, map_x, map_y)
    alpha_px = np.take(found["alpha"], flat)
    piece = alpha_px >= PIECE_ALPHA
    dome = (tone_px[:, 3] >= 0.5) & piece
    # Transparent pixels keep their colour (weight 0 and no dome: the ratio below is 1).
    weight = np.where(alpha_px > 0, tone_px[:, 0], np.float32(0.0))
    src = np.ascontiguousarray(rgb_u8).reshape(-1, 3)[flat]
    v = np.take(value, flat).astype(np.float32)
    # Shoulder: the knee on V, blended in by the feather; dome: the dome's V. Both keep
    # the pixel's chromaticity (``own``: rgb / V)...
    new_v = np.where(dome, tone_px[:, 1], v + weight * (shoulder(v, tone_px[:, 2]) - v))
    own = src.astype(np.float32) * (np.float32(1.0) / np.maximum(v, np.float32(1.0)))[:, None]
    # ...except inside the dome of a coloured hot-spot, where clipping has bleached or
    # shifted the colour (``_dome_chroma``).
    tint = np.flatnonzero(dome & (colour_px[:, 3] > 0))
    if tint.size:
        own[tint] = _dome_chroma(v[tint] >= CLIP_LEVEL, own[tint], colour_px[tint])
    own *= new_v[:, None]
    result = np.clip(np.rint(own, out=own), 0, 255).astype(np.uint8)
    out.reshape(-1, 3)[flat] = result
    top = np.maximum(np.maximum(result[:, 0], result[:, 1]), result[:, 2])
    clipped_before = int(np.count_nonzero(piece & (v >= CLIP_LEVEL)))
    clipped_after = int(np.count_nonzero(piece & (top >= CLIP_LEVEL)))
    report["clipped_share_after"] = rounded((found["clipped_px"] - clipped_before + clipped_after) / piece_px, 5)
    changed = (result[:, 0] != src[:, 0]) | (result[:, 1] != src[:, 1]) | (result[:, 2] != src[:, 2])
    report["softened_px"] = int(np.count_nonzero(changed))
    return out, report


def control_highlights(rgb_u8: np.ndarray, alpha: np.ndarray, *, in_place: bool = False) -> tuple[np.ndarray, dict]:
    """Find and soften the blown hot-spots of a cut-out piece.

    rgb_u8: HxWx3 uint8 RGB; alpha: HxW float32 [0, 1] (or uint8 0-255) on the same
    grid. in_place: write into ``rgb_u8`` (an array the caller owns) rather than a copy;
    otherwise the input is never mutated. Returns ``(HxWx3 uint8 RGB, report)`` as
    ``soften_hotspots``.
    """
    return soften_hotspots(rgb_u8, alpha, find_hotspots(rgb_u8, alpha), in_place=in_place)
