"""Facade windows on a daylight listing exterior, for day-to-dusk to light.

A window pane in daylight is a rectangle that differs from the wall around it: dark glass
that reflects little of a bright facade, or white blinds behind glass, framed by trim.
``facade_candidates`` proposes boxes five ways (all OpenCV) and measures each one:

1. MSER (maximally stable extremal regions, both polarities) on the grey proxy: a pane
   whose inside is uniformly darker or lighter than its frame is a stable region;
2. components darker than their neighbourhood at a few ratios (the first detector's rule,
   kept: it finds the dark glass of whole-house shots with muntins closed over);
3. components lighter or darker than their local mean (adaptive threshold): white blinds
   in a darker frame, dark panes in white trim;
4. closed edge outlines that are nearly rectangles (a frame, whatever the glass shows);
5. panes of one window side by side or stacked, grouped into one box.

Each candidate box is measured (``FACADE_INPUTS``: size, shape, fill, the step to the ring
around it, how bright that ring is (white trim), colour, straight edges along the box's
sides, axis-aligned inner edges, texture, place in the frame, sky, its source, and three
reads of the other candidates: look-alikes on its row or column, a wider or a narrower box
right beside it; and a shape descriptor, the histogram of gradient orientations on a
grid over the box and its surroundings, which tells a framed pane from a shutter's
louvres or a door's panels) and scored by a logistic table fitted on windows labelled by eye
(``bench/fit_facade_windows.py`` → ``facade_window_params.py``); ``select_windows`` keeps
those at or above the fitted threshold, one box per window.

Images are HxWx3 ``uint8`` RGB on the proxy grid (~1024 px long side); boxes are
``[x0, y0, x1, y1]`` proxy pixels. Inputs are never mutated.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from lumograph.models.common.boxes import box_area, overlap_of_smaller
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.numeric import two_class_probability

#: Share of the frame a candidate box may cover.
CANDIDATE_AREA = (0.0001, 0.05)
#: Width / height a candidate box may have.
CANDIDATE_ASPECT = (0.25, 4.0)
#: Darker-than-surround ratios of the component source.
DARK_RATIOS = (0.7, 0.8, 0.9)
#: Adaptive-threshold blocks (share of the long side) and offset (grey levels).
ADAPTIVE_BLOCKS = (0.03, 0.06)
ADAPTIVE_OFFSET = 6
#: An edge outline is a candidate when it fills this share of its bounding box.
OUTLINE_FILL = 0.75
#: Panes grouped into one window: sizes within this ratio, gap at most this share of it.
GROUP_SIZE = 1.3
GROUP_GAP = 0.5
#: Look-alikes: area within this ratio.
REPEAT_SIZE = 1.5
#: Shutter or window beside it: width ratio.
FLANK_RATIO = 1.5
#: Typical window size (log share of the frame; the labelled windows' median is ~0.16 %
#: of the frame) for the size term.
TYPICAL_LOG_AREA = -6.4
#: Two candidates whose boxes overlap this much (IoU) are one.
SAME_BOX_IOU = 0.8
#: At most this many boxes are kept (largest confidence first).
MAX_WINDOWS = 60
#: A box overlapping a more confident kept one by more than this share of the smaller
#: box is the same window (a pane inside it, or a box around it and its neighbour).
SAME_WINDOW_OVERLAP = 0.5
#: A larger box "holds" a kept one when this share of the kept box lies inside it.
HOLDS = 0.9
#: Several kept boxes become the box holding them when they fill this share of it.
PANES_FILL = 0.6
#: Shape descriptor (a HOG of the box and its surroundings): gradient orientation bins
#: (unsigned, 0-180 degrees), the cells per side of the grid laid over the box, and the
#: margin around the box the grid also covers (a share of the box's width and height):
#: a window's frame, sill and trim, a shutter's louvres, a door's panels and the wall
#: around each are in it.
SHAPE_BINS = 9
SHAPE_CELLS = 4
SHAPE_MARGIN = 0.5
SHAPE_INPUTS = tuple(f"shape_r{r}_c{c}_o{20 * k}" for r in range(SHAPE_CELLS) for c in range(SHAPE_CELLS)
                     for k in range(SHAPE_BINS))
#: The measurements, in the order the fitted table reads them.
FACADE_INPUTS = (
    "log_area_share", "log_aspect", "fill", "step", "ring_luminance", "inside_luminance",
    "saturation", "green", "blue", "side_edges", "inside_edges", "texture", "centre_y",
    "sky_inside", "sky_above", "dark_source", "outline_source", "grouped_source",
    "adaptive_source", "axis_edges", "size_far", "repeats",
    "wider_beside", "narrower_beside",
) + SHAPE_INPUTS


def _boxes_mser(gray: np.ndarray) -> list[tuple[tuple[int, int, int, int], float, str]]:
    h, w = gray.shape
    mser = cv2.MSER_create()
    mser.setDelta(6)
    mser.setMinArea(int(CANDIDATE_AREA[0] * h * w))
    mser.setMaxArea(int(CANDIDATE_AREA[1] * h * w))
    mser.setMaxVariation(0.25)
    regions, boxes = mser.detectRegions(gray)
    out = []
    for pts, (x, y, bw, bh) in zip(regions, boxes):
        fill = len(pts) / float(max(1, bw * bh))
        out.append(((int(x), int(y), int(x + bw), int(y + bh)), fill, "mser"))
    return out


def _component_boxes(mask: np.ndarray, source: str) -> list[tuple[tuple[int, int, int, int], float, str]]:
    """(box, fill, source) of every 4-connected component of a 0/1 ``mask``."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    out = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        out.append(((x, y, x + bw, y + bh), area / float(max(1, bw * bh)), source))
    return out


def _boxes_dark(gray: np.ndarray, hsv: np.ndarray) -> list[tuple[tuple[int, int, int, int], float, str]]:
    h, w = gray.shape
    g = gray.astype(np.float32)
    surround = np.maximum(cv2.blur(g, (max(15, (max(h, w) // 12) | 1),) * 2),
                          cv2.blur(g, (max(15, (max(h, w) // 6) | 1),) * 2))
    out = []
    for ratio in DARK_RATIOS:
        dark = (g < ratio * surround) & (hsv[..., 1] < 110)
        mask = cv2.morphologyEx(dark.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        out += _component_boxes(mask, "dark")
    return out


def _boxes_adaptive(gray: np.ndarray) -> list[tuple[tuple[int, int, int, int], float, str]]:
    """Components lighter or darker than their neighbourhood mean (OpenCV's adaptive
    threshold at two block sizes): a pane of white blinds in a darker frame is one, a
    dark pane in white trim the other."""
    h, w = gray.shape
    out = []
    for block in ADAPTIVE_BLOCKS:
        size = max(3, int(block * max(h, w)) | 1)
        for mode in (cv2.THRESH_BINARY, cv2.THRESH_BINARY_INV):
            mask = cv2.adaptiveThreshold(gray, 1, cv2.ADAPTIVE_THRESH_MEAN_C, mode, size, ADAPTIVE_OFFSET)
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
            out += _component_boxes(mask, "adaptive")
    return out


def _boxes_outlines(gray: np.ndarray) -> list[tuple[tuple[int, int, int, int], float, str]]:
    """Closed outlines of the edge map that are nearly rectangles (a frame around glass,
    whatever the glass shows: blinds, muntins, reflections)."""
    edges = cv2.Canny(cv2.GaussianBlur(gray, (3, 3), 0), 40, 120)
    edges = cv2.dilate(edges, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        x, y, bw, bh = cv2.boundingRect(c)
        if bw < 6 or bh < 6:
            continue
        fill = abs(cv2.contourArea(c)) / float(bw * bh)
        if fill >= OUTLINE_FILL:
            out.append(((x, y, x + bw, y + bh), fill, "outline"))
    return out


def _boxes_grouped(boxes: list[tuple[tuple[int, int, int, int], float, str]]
                   ) -> list[tuple[tuple[int, int, int, int], float, str]]:
    """Panes of one window side by side or stacked (split by a mullion, a post or a
    meeting rail) joined into one box: two boxes of about the same height whose rows
    overlap and whose gap is small against that height (or the same with columns and
    width), grouped transitively."""
    n = len(boxes)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i
    b = np.asarray([bx for bx, _, _ in boxes], np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = (b[:, k][:, None] for k in range(4))
    u0, v0, u1, v1 = (b[:, k][None, :] for k in range(4))
    w, h, bw, bh = x1 - x0, y1 - y0, u1 - u0, v1 - v0
    min_h, min_w = np.minimum(h, bh), np.minimum(w, bw)
    rows = np.minimum(y1, v1) - np.maximum(y0, v0)
    cols = np.minimum(x1, u1) - np.maximum(x0, u0)
    gap_x = np.maximum(u0 - x1, x0 - u1)
    gap_y = np.maximum(v0 - y1, y0 - v1)
    side = ((np.maximum(h, bh) <= GROUP_SIZE * min_h) & (rows >= 0.7 * min_h)
            & (gap_x >= -0.2 * min_w) & (gap_x <= GROUP_GAP * min_h))
    stacked = ((np.maximum(w, bw) <= GROUP_SIZE * min_w) & (cols >= 0.7 * min_w)
               & (gap_y >= -0.2 * min_h) & (gap_y <= GROUP_GAP * min_w))
    for i, j in zip(*np.nonzero(np.triu(side | stacked, 1))):
        parent[find(int(i))] = find(int(j))
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        m = b[members]
        box = (int(m[:, 0].min()), int(m[:, 1].min()), int(m[:, 2].max()), int(m[:, 3].max()))
        area = sum((m[:, 2] - m[:, 0]) * (m[:, 3] - m[:, 1]))
        out.append((box, float(min(1.0, area / max(1, (box[2] - box[0]) * (box[3] - box[1])))), "grouped"))
    return out


def _plausible(box, shape) -> bool:
    h, w = shape
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    if bw < 4 or bh < 4 or not CANDIDATE_AREA[0] * h * w <= bw * bh <= CANDIDATE_AREA[1] * h * w:
        return False
    if not CANDIDATE_ASPECT[0] <= bw / bh <= CANDIDATE_ASPECT[1]:
        return False
    return x0 > 1 and y0 > 1 and x1 < w - 1 and y1 < h - 1


def _box_maps(proxy: np.ndarray, sky: np.ndarray | None) -> dict:
    """Grey, HSV and the integral images every box statistic reads (``_box_sum``,
    ``_box_mean``); ``sky`` is a matte on any grid with the proxy's aspect, or None."""
    h, w = proxy.shape[:2]
    gray = cv2.cvtColor(proxy, cv2.COLOR_RGB2GRAY)
    hsv = cv2.cvtColor(proxy, cv2.COLOR_RGB2HSV)
    f = proxy.astype(np.float32) / 255.0
    g = gray.astype(np.float32) / 255.0
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    sky_map = np.zeros((h, w), np.float32) if sky is None else cv2.resize(sky.astype(np.float32), (w, h))
    green = f[..., 1] - np.maximum(f[..., 0], f[..., 2])
    blue = f[..., 2] - np.maximum(f[..., 0], f[..., 1])
    # Integral images: every box statistic below is four look-ups.
    def integral(a):
        return cv2.integral(a.astype(np.float64))
    magnitude = np.hypot(gx, gy)
    edges = magnitude > 0.12
    # Gradient magnitude per unsigned orientation bin, as integral images (the shape
    # descriptor's cells are then four look-ups per bin, for every box at once).
    orientation = np.minimum((np.degrees(np.arctan2(gy, gx)) % 180.0 / (180.0 / SHAPE_BINS)).astype(np.int32),
                             SHAPE_BINS - 1)
    I_orient = np.stack([integral(np.where(orientation == k, magnitude, 0.0)) for k in range(SHAPE_BINS)], axis=-1)
    return {
        "gray": gray, "hsv": hsv, "shape": (h, w), "I_orient": I_orient,
        "I_g": integral(g), "I_g2": integral(g * g), "I_s": integral(hsv[..., 1] / 255.0),
        "I_green": integral(green > 0.04), "I_blue": integral(blue > 0.04),
        "I_sky": integral(sky_map), "I_ex": integral(np.abs(gy) > 0.12), "I_ey": integral(np.abs(gx) > 0.12),
        "I_e": integral(edges),
        # Edges running level or plumb (frames, muntins, blinds; not leaves or shingles).
        "I_axis": integral(edges & ((np.abs(gx) > 2.5 * np.abs(gy)) | (np.abs(gy) > 2.5 * np.abs(gx)))),
    }


def _box_sum(I: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> float:
    """Sum of the image under [x0, x1) x [y0, y1) from its integral image ``I``."""
    return float(I[y1, x1] - I[y0, x1] - I[y1, x0] + I[y0, x0])


def _box_mean(I, box) -> float:
    x0, y0, x1, y1 = box
    return _box_sum(I, x0, y0, x1, y1) / max(1, (x1 - x0) * (y1 - y0))


def _measure(m: dict, box, fill: float, source: str) -> dict:
    h, w = m["shape"]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    pad = max(2, int(round(0.3 * min(bw, bh))))
    outer = (max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad))
    area_out = (outer[2] - outer[0]) * (outer[3] - outer[1])
    ring_n = max(1, area_out - bw * bh)
    inside = _box_mean(m["I_g"], box)
    ring = (_box_sum(m["I_g"], *outer) - inside * bw * bh) / ring_n
    var = max(0.0, _box_mean(m["I_g2"], box) - inside * inside)
    # Straight sides: along the top and bottom sides, horizontal edges (|d/dy|); along the
    # left and right, vertical ones; a band of +-2 px around each side.
    t = 2
    top = (x0, max(0, y0 - t), x1, min(h, y0 + t + 1))
    bottom = (x0, max(0, y1 - t - 1), x1, min(h, y1 + t))
    left = (max(0, x0 - t), y0, min(w, x0 + t + 1), y1)
    right = (max(0, x1 - t - 1), y0, min(w, x1 + t), y1)

    def column_share(I, band, axis_len):  # share of positions along the side with an edge
        return min(1.0, _box_sum(I, *band) / max(1, axis_len))
    sides = [column_share(m["I_ex"], top, bw), column_share(m["I_ex"], bottom, bw),
             column_share(m["I_ey"], left, bh), column_share(m["I_ey"], right, bh)]
    sky_band = (x0, max(0, y0 - max(bh, 4)), x1, y0) if y0 > 0 else None
    return {
        "log_area_share": math.log(bw * bh / float(h * w)),
        "log_aspect": math.log(bw / float(bh)),
        "fill": float(fill),
        "step": math.log((inside + 0.02) / (ring + 0.02)),
        "ring_luminance": ring,
        "inside_luminance": inside,
        "saturation": _box_mean(m["I_s"], box),
        "green": _box_mean(m["I_green"], box),
        "blue": _box_mean(m["I_blue"], box),
        "side_edges": float(np.mean(sides)),
        "inside_edges": _box_mean(m["I_e"], box),
        "axis_edges": _box_sum(m["I_axis"], *box) / max(1.0, _box_sum(m["I_e"], *box)),
        "texture": math.sqrt(var),
        "centre_y": (y0 + y1) / 2.0 / h,
        "sky_inside": _box_mean(m["I_sky"], box),
        "sky_above": _box_mean(m["I_sky"], sky_band) if sky_band and sky_band[3] > sky_band[1] else 0.0,
        "dark_source": 1.0 if source == "dark" else 0.0,
        "outline_source": 1.0 if source == "outline" else 0.0,
        "grouped_source": 1.0 if source == "grouped" else 0.0,
        "adaptive_source": 1.0 if source == "adaptive" else 0.0,
    }


def _shape_descriptors(m: dict, boxes: list) -> np.ndarray:
    """(n, len(SHAPE_INPUTS)) float64: for each box, a ``SHAPE_CELLS`` x ``SHAPE_CELLS`` grid
    over the box grown by ``SHAPE_MARGIN`` on every side (clipped to the frame); in each
    cell the gradient magnitude per orientation bin, normalised as Dalal and Triggs' HOG
    (L2, clipped at 0.2, L2 again), so a cell's pattern counts, not its contrast. Read
    from the integral images of ``_box_maps`` (an integral HOG: hard bin assignment, no
    interpolation)."""
    if not boxes:
        return np.zeros((0, len(SHAPE_INPUTS)))
    h, w = m["shape"]
    b = np.asarray(boxes, np.float64)
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    x0 = np.clip(b[:, 0] - SHAPE_MARGIN * bw, 0, w)
    x1 = np.clip(b[:, 2] + SHAPE_MARGIN * bw, 0, w)
    y0 = np.clip(b[:, 1] - SHAPE_MARGIN * bh, 0, h)
    y1 = np.clip(b[:, 3] + SHAPE_MARGIN * bh, 0, h)
    xs = [np.round(x0 + (x1 - x0) * i / SHAPE_CELLS).astype(int) for i in range(SHAPE_CELLS + 1)]
    ys = [np.round(y0 + (y1 - y0) * i / SHAPE_CELLS).astype(int) for i in range(SHAPE_CELLS + 1)]
    I = m["I_orient"]
    cells = []
    for r in range(SHAPE_CELLS):
        for c in range(SHAPE_CELLS):
            hist = I[ys[r + 1], xs[c + 1]] - I[ys[r], xs[c + 1]] - I[ys[r + 1], xs[c]] + I[ys[r], xs[c]]
            hist = np.maximum(hist, 0.0)  # integral round-off
            hist = np.minimum(hist / np.sqrt((hist ** 2).sum(axis=1, keepdims=True) + 1e-6), 0.2)
            cells.append(hist / np.sqrt((hist ** 2).sum(axis=1, keepdims=True) + 1e-6))
    return np.concatenate(cells, axis=1)


def facade_candidates(proxy_rgb: np.ndarray, sky_matte: np.ndarray | None = None) -> list[dict]:
    """Every candidate window box of an exterior proxy with its measurements:
    [{"bbox": [x0, y0, x1, y1], "measures": {FACADE_INPUTS...}}], deduplicated (IoU >=
    ``SAME_BOX_IOU`` keeps the first), in a deterministic order."""
    require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=16)
    m = _box_maps(proxy_rgb, sky_matte)
    raw = (_boxes_mser(m["gray"]) + _boxes_dark(m["gray"], m["hsv"]) + _boxes_outlines(m["gray"])
           + _boxes_adaptive(m["gray"]))
    raw = [r for r in raw if _plausible(r[0], m["shape"])]
    raw = _dedupe_boxes(raw)
    raw += [r for r in _boxes_grouped(raw) if _plausible(r[0], m["shape"])]
    kept = _dedupe_boxes(raw)
    out = [{"bbox": list(box), "measures": _measure(m, box, fill, source)} for box, fill, source in kept]
    boxes = [box for box, _, _ in kept]
    wider, narrower = _flanks(boxes)
    for c, n, wd, nr, shape in zip(out, _look_alikes(boxes), wider, narrower, _shape_descriptors(m, boxes)):
        c["measures"]["repeats"] = math.log1p(n)
        c["measures"]["wider_beside"] = float(wd)
        c["measures"]["narrower_beside"] = float(nr)
        c["measures"]["size_far"] = (c["measures"]["log_area_share"] - TYPICAL_LOG_AREA) ** 2
        c["measures"].update(zip(SHAPE_INPUTS, shape.tolist()))
    return out


def _flanks(boxes: list) -> tuple[np.ndarray, np.ndarray]:
    """Whether a box has, right beside it (gap under a quarter of its height, rows mostly
    shared), a box of about its height that is at least ``FLANK_RATIO`` x wider, or
    narrower: a shutter stands beside a wider window, a window between narrower shutters."""
    if not boxes:
        return np.zeros(0, bool), np.zeros(0, bool)
    b = np.asarray(boxes, np.float64)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    rows = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
    gap = np.maximum(b[None, :, 0] - b[:, None, 2], b[:, None, 0] - b[None, :, 2])
    beside = ((rows >= 0.7 * np.maximum(h[:, None], h[None, :])) & (gap >= -1)
              & (gap <= 0.25 * h[:, None]))
    wider = (beside & (w[None, :] >= FLANK_RATIO * w[:, None])).any(axis=1)
    narrower = (beside & (w[:, None] >= FLANK_RATIO * w[None, :])).any(axis=1)
    return wider, narrower


def _look_alikes(boxes: list) -> np.ndarray:
    """How many other candidates look like the same kind of window: about the same size
    (area within ``REPEAT_SIZE`` x) on the same row or column, not overlapping. Windows come
    in rows and stacks; a patch of wall or a bush rarely has look-alikes so aligned."""
    if not boxes:
        return np.zeros(0)
    b = np.asarray(boxes, np.float64)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    area = w * h
    ratio = area[:, None] / area[None, :]
    similar = (ratio <= REPEAT_SIZE) & (ratio >= 1 / REPEAT_SIZE)
    row = np.abs(cy[:, None] - cy[None, :]) <= 0.25 * np.minimum(h[:, None], h[None, :])
    col = np.abs(cx[:, None] - cx[None, :]) <= 0.25 * np.minimum(w[:, None], w[None, :])
    apart = ((np.abs(cx[:, None] - cx[None, :]) >= (w[:, None] + w[None, :]) / 2)
             | (np.abs(cy[:, None] - cy[None, :]) >= (h[:, None] + h[None, :]) / 2))
    return (similar & (row | col) & apart).sum(axis=1)


def _dedupe_boxes(raw: list[tuple]) -> list[tuple]:
    """One of each group of boxes overlapping by ``SAME_BOX_IOU``, in a fixed order."""
    raw = sorted(raw, key=lambda r: (r[0][1], r[0][0], r[0][3], r[0][2], r[2]))
    if not raw:
        return []
    b = np.asarray([r[0] for r in raw], np.float64)
    iw = np.clip(np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1]), 0, None)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    inter = iw * ih
    same = inter / np.maximum(1.0, area[:, None] + area[None, :] - inter) >= SAME_BOX_IOU
    keep = np.ones(len(raw), bool)
    for i, j in zip(*np.nonzero(np.triu(same, 1))):  # row by row, in order
        if keep[i]:
            keep[j] = False
    return [r for r, k in zip(raw, keep) if k]


def _shipped() -> dict:
    # Imported late: the fitter rewrites the file and must import this module without it.
    from lumograph.models.compositor.facade_window_params import PARAMS

    return PARAMS


def facade_window_confidence(measures: dict, params: dict | None = None) -> float:
    """Confidence that a candidate box is a window's glass under the fitted table
    (``facade_window_params.PARAMS``, or ``params`` of that shape: the fitter passes
    candidates)."""
    return two_class_probability(measures, _shipped() if params is None else params)


def select_windows(candidates: list[dict], params: dict | None = None) -> list[dict]:
    """The candidates at or above the fitted threshold, most confident first. A box that
    overlaps kept ones by more than ``SAME_WINDOW_OVERLAP`` of the smaller box is the same
    window: it is dropped (a pane inside a kept window, or a box around two windows and
    the wall between them), except that once every window has its box, a dropped box
    that holds the kept boxes it overlaps and is larger replaces them: one (a pane grows
    to its whole window) or several whose areas fill ``PANES_FILL`` of it (the panes of
    one window become that window); the most confident such box, once."""
    p = _shipped() if params is None else params
    scored = [(facade_window_confidence(c["measures"], p), c["bbox"]) for c in candidates]
    scored = sorted((s for s in scored if s[0] >= p["threshold"]), key=lambda s: -s[0])
    kept: list[dict | None] = []
    dropped = []
    for conf, box in scored:
        if len(kept) >= MAX_WINDOWS or any(overlap_of_smaller(box, k["bbox"]) > SAME_WINDOW_OVERLAP for k in kept):
            dropped.append(box)
        else:
            kept.append({"bbox": list(box), "score": round(conf, 3)})
    grown: set[int] = set()
    for box in dropped:
        same = [i for i, k in enumerate(kept) if k is not None
                and overlap_of_smaller(box, k["bbox"]) > SAME_WINDOW_OVERLAP]
        if not same or any(i in grown for i in same):
            continue
        inner = [kept[i]["bbox"] for i in same]
        if any(box_area(box) <= box_area(b) or overlap_of_smaller(box, b) < HOLDS for b in inner):
            continue
        if len(same) > 1 and sum(box_area(b) for b in inner) < PANES_FILL * box_area(box):
            continue  # two windows and the wall between them
        kept[same[0]] = {"bbox": list(box), "score": max(kept[i]["score"] for i in same)}
        grown.add(same[0])
        for i in same[1:]:
            kept[i] = None
    return [k for k in kept if k is not None]


def detect_facade_windows(proxy_rgb: np.ndarray, sky_matte: np.ndarray | None = None,
                          params: dict | None = None) -> list[dict]:
    """Facade windows of an exterior proxy: [{"bbox": [x0, y0, x1, y1] proxy px, "score"}],
    most confident first (at most ``MAX_WINDOWS``). sky_matte: hxw float32 [0, 1] on any
    grid with the proxy's aspect, or None."""
    return select_windows(facade_candidates(proxy_rgb, sky_matte), params)
