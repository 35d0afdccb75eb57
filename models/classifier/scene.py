"""Classical scene classifier for listing photos: exterior/interior, room type, mirrors.

No weights. Every decision is a sum of a few clipped log-odds terms, each computed
from one named measurement on a ~512 px proxy, so a report can say *why*:

* exterior vs interior: foliage-coloured texture, how many edges lie on long straight
  lines (man-made rooms are built of them), orientation coherence (foliage and gravel
  are incoherent), edge density, the colour of the top strip (sky is blue or neutral,
  a ceiling or wall under room light is warm) and a sky-like region hanging from the
  top border (bright against the frame's median, or, when it fills more than half the
  frame as fog or a flat overcast does, bright against the rest of the frame); the four
  structure cues are weighted by the share of the frame that is not sky, since a sky
  is featureless and they describe what stands below it;
* room type (interiors only): long horizontal lines at counter height and the total
  length of long lines (cabinet fronts) for kitchens, fabric-like (non-straight) edges
  in the bottom third for bedrooms (the bed), a framed mirror and straight fixtures for
  bathrooms. Living and dining rooms have no cue of their own here: they stay in the
  scores as low-prior residual classes so a learned backend can replace this one
  without changing the contract;
* mirrors: the best-supported box whose two vertical sides and bottom (and top, unless
  it leaves the frame) are long straight segments, that hangs above the floor and
  holds room-like detail (not a blank door, not a blown-out window, not foliage).

The thresholds are round numbers set by reasoning about what the cue measures and
checked (not searched) on the 120 real listing photos in ``shared/eval``; see
``evaluate_scene``.

Images are HxWx3 ``uint8`` RGB. Inputs are never mutated.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from lumograph.models.common.imageio import fast_downscale, require_rgb_u8
from lumograph.models.common.lines import line_segments
from lumograph.models.common.numeric import clamp

SCENES = ("exterior", "interior")
ROOM_TYPES = ("kitchen", "bathroom", "bedroom", "living", "dining", "other")

#: Long side of the analysis proxy: lines, textures and colours need no more, and
#: it keeps a 12 MP photo well inside the time budget.
WORK_LONG_SIDE = 512
#: Smallest accepted short side in source pixels; below it there is no scene to read.
MIN_SIDE = 32
#: A segment counts as "long" from this share of the proxy's long side.
LONG_SEGMENT = 0.04
#: Residual classes' fixed logits: they win only when no named room has evidence.
RESIDUAL_LOGITS = {"living": -1.5, "dining": -1.5, "other": -1.0}
#: Mirror confidence from which ``MirrorReport.present`` is true.
MIRROR_THRESHOLD = 0.5


# ------------------------------------------------------------------------ reports


def _json_value(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return round(float(v), 4)
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_value(x) for x in v]
    return v


@dataclass(frozen=True)
class SceneClassification:
    """What a listing photo shows.

    scene: "exterior" | "interior"; scene_confidence in [0.5, 1] (probability of the
    chosen scene). room_type: one of ``ROOM_TYPES`` for interiors, None for exteriors.
    room_confidence: probability of ``room_type`` in [0, 1] (0.0 for exteriors).
    room_scores: label -> probability over ``ROOM_TYPES`` summing to 1 for interiors,
    empty for exteriors. features: the named measurements and the log-odds they
    contributed (JSON-safe), so a report can say why.
    """

    scene: str
    scene_confidence: float
    room_type: str | None
    room_confidence: float
    room_scores: dict = field(default_factory=dict)
    features: dict = field(default_factory=dict)
    backend: str = "classical"

    def to_dict(self) -> dict:
        return {
            "scene": self.scene,
            "scene_confidence": round(float(self.scene_confidence), 4),
            "room_type": self.room_type,
            "room_confidence": round(float(self.room_confidence), 4),
            "room_scores": _json_value(self.room_scores),
            "features": _json_value(self.features),
            "backend": self.backend,
        }


@dataclass(frozen=True)
class MirrorReport:
    """A framed mirror found in the photo.

    present: confidence >= ``MIRROR_THRESHOLD``. bbox: (x0, y0, x1, y1) int source
    pixels, x1/y1 exclusive, or None when absent. confidence in [0, 1].
    """

    present: bool
    bbox: tuple[int, int, int, int] | None
    confidence: float
    backend: str = "classical"

    def to_dict(self) -> dict:
        return {
            "present": bool(self.present),
            "bbox": None if self.bbox is None else [int(v) for v in self.bbox],
            "confidence": round(float(self.confidence), 4),
            "backend": self.backend,
        }


# ------------------------------------------------------------------- measurement


@dataclass
class _Measures:
    """Shared per-pixel maps of the proxy (internal)."""

    rgb: np.ndarray
    L: np.ndarray
    a: np.ndarray
    b: np.ndarray
    H: np.ndarray  # hue, degrees [0, 360)
    S: np.ndarray
    V: np.ndarray
    edges: np.ndarray  # bool Canny
    local_sd: np.ndarray  # L std in 7x7, L units
    grad_smooth: np.ndarray  # mean |grad L| in 7x7, L units per px
    coherence: np.ndarray
    tensor_trace: np.ndarray
    segs: np.ndarray  # (N, 4)
    seg_len: np.ndarray  # share of the long side
    seg_angle: np.ndarray  # degrees from horizontal, [0, 90]
    straight: np.ndarray  # bool: within 1 px of a long segment


def _measure_photo(rgb: np.ndarray) -> _Measures:
    """Validate ``rgb`` and measure its analysis proxy (``_Measures`` keeps the proxy, so a
    photo already small enough is copied rather than shared)."""
    require_rgb_u8(rgb, min_side=MIN_SIDE, purpose="to read a scene")
    proxy = fast_downscale(rgb, WORK_LONG_SIDE)
    return _measure(proxy.copy() if proxy is rgb else proxy)


def _measure(proxy: np.ndarray) -> _Measures:
    h, w = proxy.shape[:2]
    f32 = proxy.astype(np.float32) * np.float32(1 / 255)
    lab = cv2.cvtColor(f32, cv2.COLOR_RGB2Lab)
    hsv = cv2.cvtColor(f32, cv2.COLOR_RGB2HSV)
    L = lab[..., 0]
    gray = cv2.cvtColor(proxy, cv2.COLOR_RGB2GRAY)
    gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3)
    grad = cv2.magnitude(gx, gy) * np.float32(1 / 8)
    mean = cv2.blur(L, (7, 7))
    local_sd = np.sqrt(np.maximum(cv2.blur(L * L, (7, 7)) - mean * mean, 0))
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), 3)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), 3)
    jxy = cv2.GaussianBlur(gx * gy, (0, 0), 3)
    trace = jxx + jyy
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy) / (trace + 1e-6)
    segs = line_segments(gray)
    dx = segs[:, 2] - segs[:, 0]
    dy = segs[:, 3] - segs[:, 1]
    seg_len = np.hypot(dx, dy) / max(h, w)
    seg_angle = np.degrees(np.arctan2(np.abs(dy), np.abs(dx)))
    line_map = np.zeros((h, w), np.uint8)
    for x1, y1, x2, y2 in segs[seg_len >= LONG_SEGMENT]:
        cv2.line(line_map, (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2))), 1, 3)
    return _Measures(
        rgb=proxy, L=L, a=lab[..., 1], b=lab[..., 2], H=hsv[..., 0], S=hsv[..., 1], V=hsv[..., 2],
        edges=cv2.Canny(gray, 60, 150) > 0, local_sd=local_sd, grad_smooth=cv2.blur(grad, (7, 7)),
        coherence=coherence, tensor_trace=trace, segs=segs, seg_len=seg_len, seg_angle=seg_angle,
        straight=line_map > 0,
    )


def _share(mask: np.ndarray, within: np.ndarray) -> float:
    n = int(within.sum())
    return float((mask & within).sum()) / n if n else 0.0


def _log_ratio(value: float, pivot: float, floor: float) -> float:
    return math.log((value + floor) / (pivot + floor))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ------------------------------------------------------------ exterior / interior


#: A smooth neutral region hanging from the top that covers at least this share of the
#: frame is judged against the rest of the frame instead of the frame's median: from
#: half the frame on it *is* the median, so "brighter than the median" cannot hold by
#: construction (fog, a flat overcast filling the frame). No room photo of the 120
#: listing photos has a smooth neutral region over 0.37 of the frame hanging from the
#: top (a ceiling, or a wall in a tight shot); the fog field in ``sky_masks`` has 0.81.
DOMINANT_SKY_SHARE = 0.5


def _top_components(mask: np.ndarray) -> np.ndarray:
    """bool HxW: the 4-connected components of ``mask`` touching the top row."""
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    top = np.unique(labels[0])
    top = top[top > 0]
    return np.isin(labels, top) if top.size else np.zeros(mask.shape, bool)


def _sky_regions(m: _Measures) -> tuple[np.ndarray, dict]:
    """bool HxW sky-like region hanging from the top, and how it was found.

    Smooth blue or bright-neutral regions touching the top (the ordinary case), plus,
    when one smooth neutral region covers ``DOMINANT_SKY_SHARE`` or more of the frame,
    spans its top row and is >= 15 L brighter than everything else in the frame (the
    same margin the ordinary case asks over the median), that region too.
    """
    smooth = m.grad_smooth < 1.5
    blue = (m.H >= 190) & (m.H <= 235) & (m.S > 0.12) & (m.V > 0.4)
    neutral = (np.hypot(m.a, m.b) < 12) & (m.b < 4)
    # Overcast sky is the brightest large thing in an exterior; a lit ceiling is warm.
    bright = (m.L > max(70.0, float(np.median(m.L)) + 15.0)) & neutral
    region = _top_components(smooth & (blue | bright))
    dominant = _top_components(smooth & neutral & (m.L > 40.0))
    dominant_share = float(dominant.mean())
    contrast = 0.0
    if dominant_share >= DOMINANT_SKY_SHARE and not dominant.all():
        contrast = float(np.median(m.L[dominant]) - np.median(m.L[~dominant]))
        if float(dominant[0].mean()) >= 0.8 and contrast >= 15.0:
            region = region | dominant
    return region, {"dominant_share": dominant_share, "dominant_contrast": contrast}


def _exterior_evidence(m: _Measures) -> tuple[float, dict]:
    h = m.L.shape[0]
    # Foliage: green-to-cyan hue, some saturation, visible texture (a painted wall of
    # the same hue is smooth). Lavender/blue walls are outside the hue range.
    foliage = float(((m.H >= 60) & (m.H <= 190) & (m.S > 0.15) & (m.V > 0.08) & (m.local_sd > 4)).mean())
    straight = _share(m.straight, m.edges)
    energetic = m.tensor_trace > np.percentile(m.tensor_trace, 70)
    coherence = float(m.coherence[energetic].mean()) if energetic.any() else 1.0
    edge_density = float(m.edges.mean())
    top_b = float(np.median(m.b[: max(2, h // 8)]))
    sky_region, sky_details = _sky_regions(m)
    sky = float(sky_region.mean())
    # Foliage, lines, coherence and edges describe what stands in the frame; a sky is
    # featureless, so those four cues speak only for the part of the frame that is not
    # sky. Weighting their log-odds by that share keeps a fog or overcast sky filling
    # most of the frame from being outvoted by a horizon line and a strip of field.
    # A ceiling found as "sky" moves a room toward 0 by that share of its structure
    # evidence: by up to 1.2 log-odds on the 90 listing rooms (a bedroom from -8.9 to
    # -7.7); the rooms nearest the boundary have no sky-like region and do not move.
    ground_weight = 1.0 - sky
    terms = {
        # ~1 % foliage indoors (a plant, a view), ~10 % outdoors: pivot at 3 %.
        "foliage": ground_weight * clamp(1.5 * _log_ratio(foliage, 0.03, 0.002), -3.0, 3.0),
        # Rooms are walls, frames and cabinets: most edges sit on long lines.
        "straight_edges": ground_weight * clamp(10.0 * (0.35 - straight), -2.5, 2.5),
        "coherence": ground_weight * clamp(12.0 * (0.64 - coherence), -2.0, 2.0),
        "edge_density": ground_weight * clamp(math.log(max(edge_density, 1e-4) / 0.11), -1.5, 1.5),
        # b* of the top strip: sky <= ~0, a ceiling/wall under room light is warm.
        "top_warmth": clamp((3.0 - top_b) / 4.0, -2.0, 2.0),
        # Missing sky says little (trees, tight framing); present sky says a lot.
        "sky": clamp(1.2 * _log_ratio(sky, 0.10, 0.005), -0.5, 3.0),
    }
    features = {
        "foliage_share": foliage,
        "straight_edge_share": straight,
        "orientation_coherence": coherence,
        "edge_density": edge_density,
        "top_strip_b": top_b,
        "sky_share": sky,
        "ground_weight": ground_weight,
        "dominant_sky_share": sky_details["dominant_share"],
        "dominant_sky_contrast": sky_details["dominant_contrast"],
    }
    return float(sum(terms.values())), {"measures": features, "log_odds": terms}


# ----------------------------------------------------------------------- mirrors


def _ab_histogram(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    hist, _, _ = np.histogram2d(a.ravel(), b.ravel(), bins=8, range=[[-40, 40], [-40, 40]])
    return hist / max(1.0, hist.sum())


def _mirror_content(m: _Measures, box, integral_edges: np.ndarray, global_edges: float) -> tuple[float, dict]:
    """How much the inside of ``box`` looks like a reflected room, in [0, 1]."""
    h, w = m.L.shape
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    mx, my = max(1, round(0.08 * bw)), max(1, round(0.08 * bh))
    ix0, ix1, iy0, iy1 = x0 + mx, x1 - mx, y0 + my, y1 - my
    inner_n = (ix1 - ix0) * (iy1 - iy0)
    if inner_n <= 0:
        return 0.0, {}
    inner_edges = float(
        integral_edges[iy1, ix1] - integral_edges[iy0, ix1] - integral_edges[iy1, ix0] + integral_edges[iy0, ix0]
    ) / inner_n
    inner = (slice(iy0, iy1), slice(ix0, ix1))
    H, S, V, L = m.H[inner], m.S[inner], m.V[inner], m.L[inner]
    clipped = float((L > 96).mean())
    green = float(((H >= 60) & (H <= 190) & (S > 0.2)).mean())
    wood = float(((H >= 15) & (H <= 45) & (S > 0.35) & (V > 0.2) & (V < 0.85)).mean())
    dark = float(np.median(L))
    # Blinds and shutters: the inside is nothing but level lines.
    cx = (m.segs[:, 0] + m.segs[:, 2]) / 2
    cy = (m.segs[:, 1] + m.segs[:, 3]) / 2
    inside = (cx > ix0) & (cx < ix1) & (cy > iy0) & (cy < iy1) & (m.seg_len * max(h, w) >= 0.3 * bw)
    level = inside & (m.seg_angle <= 5)
    blinds = float(level.sum() >= 5 and m.seg_len[level].sum() >= 0.7 * m.seg_len[inside].sum())
    inside_any = (cx > ix0) & (cx < ix1) & (cy > iy0) & (cy < iy1) & (m.seg_len >= 0.02)
    slanted = inside_any & (m.seg_angle > 12) & (m.seg_angle < 78)
    slant_share = float(m.seg_len[slanted].sum() / max(1e-6, m.seg_len[inside_any].sum()))
    # The mirror shows this room, so its colours are the room's colours (a picture's
    # or an appliance's are not); compare chroma histograms in and around the box.
    outside = np.ones((h, w), bool)
    outside[y0:y1, x0:x1] = False
    similarity = float(np.minimum(_ab_histogram(m.a[inner], m.b[inner]),
                                  _ab_histogram(m.a[outside], m.b[outside])).sum())
    score = (
        clamp((inner_edges / global_edges - 0.35) / 0.4, 0.0, 1.0)  # detail: not a blank door or panel
        * clamp(1.0 - (clipped - 0.25) / 0.25, 0.0, 1.0)  # not a blown-out window
        * clamp(1.0 - (green - 0.15) / 0.15, 0.0, 1.0)  # not a window onto a garden
        * clamp(1.0 - (wood - 0.4) / 0.2, 0.0, 1.0)  # not a cabinet front
        * clamp((dark - 20.0) / 15.0, 0.0, 1.0)  # not a dark appliance or TV
        * (1.0 - blinds)
        * clamp((similarity - 0.3) / 0.3, 0.0, 1.0)
    )
    return score, {
        "detail_ratio": inner_edges / global_edges, "clipped_share": clipped, "wood_share": wood,
        "colour_similarity": similarity, "blinds": bool(blinds), "slant_share": slant_share,
    }


def _find_mirror(m: _Measures) -> tuple[float, tuple[int, int, int, int] | None, dict]:
    """Best mirror box on the proxy: (confidence, (x0, y0, x1, y1) or None, details)."""
    h, w = m.L.shape
    segs, ln, ang = m.segs, m.seg_len, m.seg_angle
    D = max(h, w)
    vert = (ang >= 82) & (ln * D >= 0.08 * h)
    horiz = (ang <= 20) & (ln * D >= 0.04 * w)
    if vert.sum() < 2 or not horiz.any():
        return 0.0, None, {}
    hmap = np.zeros((h, w), np.uint8)
    for x1, y1, x2, y2 in segs[horiz]:
        cv2.line(hmap, (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2))), 1, 1)
    vmap = np.zeros((h, w), np.uint8)
    for x1, y1, x2, y2 in segs[vert]:
        cv2.line(vmap, (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2))), 1, 1)
    tol = max(2, round(0.008 * D))
    hmap = cv2.dilate(hmap, np.ones((2 * tol + 1, 1), np.uint8))
    vmap = cv2.dilate(vmap, np.ones((1, 2 * tol + 1), np.uint8))
    hcum = np.concatenate([np.zeros((h, 1), np.int32), np.cumsum(hmap, axis=1, dtype=np.int32)], axis=1)
    vcum = np.concatenate([np.zeros((1, w), np.int32), np.cumsum(vmap, axis=0, dtype=np.int32)], axis=0)

    def hcov(y: int, x0: int, x1: int) -> float:
        return float(hcum[y, x1] - hcum[y, x0]) / max(1, x1 - x0)

    def vcov(x: int, y0: int, y1: int) -> float:
        return float(vcum[y1, x] - vcum[y0, x]) / max(1, y1 - y0)

    def best_row(y_guess: float, x0: int, x1: int, lo: int, hi: int) -> tuple[int, float]:
        rows = range(max(lo, int(y_guess - 0.05 * h)), min(hi, int(y_guess + 0.05 * h)) + 1)
        scored = [(hcov(y, x0, x1), y) for y in rows]
        cov, y = max(scored) if scored else (0.0, int(y_guess))
        return y, cov

    v = segs[vert]
    xs = (v[:, 0] + v[:, 2]) / 2
    tops = np.minimum(v[:, 1], v[:, 3])
    bots = np.maximum(v[:, 1], v[:, 3])
    order = np.argsort(xs)
    xs, tops, bots = xs[order], tops[order], bots[order]
    global_edges = max(float(m.edges.mean()), 1e-3)
    integral_edges = cv2.integral(m.edges.astype(np.uint8))
    best = (0.0, None, {})
    best_score = 0.0
    n = len(xs)
    for i in range(n):
        for j in range(i + 1, n):
            x0, x1 = int(round(xs[i])), int(round(xs[j]))
            bw = x1 - x0
            if bw < 0.10 * w or bw > 0.85 * w:
                continue
            overlap = min(bots[i], bots[j]) - max(tops[i], tops[j])
            if overlap < 0.5 * min(bots[i] - tops[i], bots[j] - tops[j]):
                continue
            y_top, top_cov = best_row(min(tops[i], tops[j]), x0, x1, 0, h - 1)
            if y_top <= 0.03 * h:
                top_cov = max(top_cov, 0.75)  # the mirror runs out of the frame
            y_bot, bot_cov = best_row(max(bots[i], bots[j]), x0, x1, y_top + 1, h - 1)
            bh = y_bot - y_top
            if bh < 0.15 * h or not (0.3 <= bw / max(bh, 1) <= 4.0):
                continue
            area = bw * bh / float(h * w)
            # A listing-photo mirror is big (a vanity or dresser mirror) and hangs with
            # its bottom edge at counter or dresser height; doors and showers reach the floor.
            if area < 0.06 or area > 0.6 or bw < 0.18 * w or not (0.3 * h <= y_bot <= 0.8 * h):
                continue
            side_cov = min(vcov(x0, y_top, y_bot), vcov(x1, y_top, y_bot))
            if min(side_cov, top_cov, bot_cov) < 0.5 or bw > 3.0 * bh:
                continue
            # A frame's sides stop at its corners; a fridge edge, a door jamb or a
            # cabinet side runs on past the counter line and the soffit.
            reach = max(2 * tol + 1, round(0.12 * h))
            below = max(vcov(x, min(h - 1, y_bot + 2 * tol), min(h, y_bot + reach)) for x in (x0, x1))
            above = 0.0
            if y_top > 0.03 * h:
                above = max(vcov(x, max(0, y_top - reach), max(1, y_top - 2 * tol)) for x in (x0, x1))
            geometry = (side_cov + top_cov + bot_cov) / 3 * clamp(1.0 - (max(below, above) - 0.3) / 0.3, 0.0, 1.0)
            if geometry < 0.45:
                continue
            content, details = _mirror_content(m, (x0, y_top, x1, y_bot), integral_edges, global_edges)
            confidence = clamp(geometry, 0.0, 1.0) * content
            score = confidence * (1.0 + area)  # prefer the whole mirror to a panel of it
            if score > best_score:
                best_score = score
                best = (confidence, (x0, y_top, x1, y_bot), {"area_share": area, "geometry": geometry, **details})
    return best


def _mirror_report(m: _Measures, src_shape: tuple[int, int], found=None) -> tuple[MirrorReport, dict]:
    """The mirror report in source pixels; ``found``: a ``_find_mirror(m)`` result already made."""
    confidence, box, details = found if found is not None else _find_mirror(m)
    present = confidence >= MIRROR_THRESHOLD
    bbox = None
    if present and box is not None:
        sy, sx = src_shape[0] / m.L.shape[0], src_shape[1] / m.L.shape[1]
        x0, y0, x1, y1 = box
        bbox = (
            int(max(0, math.floor(x0 * sx))), int(max(0, math.floor(y0 * sy))),
            int(min(src_shape[1], math.ceil(x1 * sx))), int(min(src_shape[0], math.ceil(y1 * sy))),
        )
    return MirrorReport(present=bool(present), bbox=bbox, confidence=round(confidence, 4)), details


# --------------------------------------------------------------------- room type


def _room_evidence(m: _Measures, mirror: float) -> tuple[dict, dict]:
    h, w = m.L.shape
    ln, ang, segs = m.seg_len, m.seg_angle, m.segs
    long = ln >= LONG_SEGMENT
    ymid = (segs[:, 1] + segs[:, 3]) / 2 / h
    horiz = long & (ang <= 10)
    vert = long & (ang >= 80)
    # Counters, cabinet rails and backsplashes: long level lines at 35-75 % height.
    counter_lines = float(ln[horiz & (ymid > 0.35) & (ymid < 0.75)].sum())
    long_lines = float(ln[long].sum())
    vertical_lines = float(ln[vert].sum())
    bottom = slice(2 * h // 3, h)
    bottom_straight = _share(m.straight[bottom], m.edges[bottom])
    wood = float(((m.H >= 15) & (m.H <= 45) & (m.S > 0.35) & (m.V > 0.2) & (m.V < 0.85)).mean())
    logits = {
        "kitchen": (
            clamp(1.2 * _log_ratio(counter_lines, 2.2, 0.2), -2.0, 2.0)
            + clamp(1.5 * _log_ratio(long_lines, 13.0, 0.5), -1.5, 1.5)
            + clamp((wood - 0.15) / 0.15, -1.0, 1.0)
        ),
        # The bed: fabric folds, prints and pillows make curved edges low in the frame.
        "bedroom": (
            clamp(8.0 * (0.47 - bottom_straight), -2.0, 2.0)
            + clamp(-1.5 * _log_ratio(long_lines, 13.0, 0.5), -1.5, 1.5)
        ),
        "bathroom": (
            clamp(3.0 * (mirror - 0.3), -0.9, 2.1)
            + clamp(4.0 * (bottom_straight - 0.47), -1.0, 1.0)
            + clamp(1.0 * _log_ratio(vertical_lines, 5.0, 0.5), -1.0, 1.0)
            - clamp(1.2 * _log_ratio(counter_lines, 2.2, 0.2), -1.0, 1.0)
        ),
        **RESIDUAL_LOGITS,
    }
    features = {
        "counter_line_length": counter_lines,
        "long_line_length": long_lines,
        "vertical_line_length": vertical_lines,
        "bottom_straight_share": bottom_straight,
        "wood_share": wood,
        "mirror_confidence": mirror,
    }
    return logits, features


def _softmax(logits: dict) -> dict:
    top = max(logits.values())
    e = {k: math.exp(v - top) for k, v in logits.items()}
    total = sum(e.values())
    return {k: e[k] / total for k in ROOM_TYPES}


# ------------------------------------------------------------------------ public


def classify_scene(rgb: np.ndarray) -> SceneClassification:
    """Exterior/interior and room type of a listing photo.

    rgb: HxWx3 ``uint8`` RGB, short side >= ``MIN_SIDE``; not modified. Analysis runs
    on a ~512 px proxy (~40-80 ms for 12 MP). Returns a ``SceneClassification``;
    ``features`` holds the decisive measurements and their log-odds.
    Raises ``InvalidImage`` for a wrong type, dtype, shape or a too-small image.
    """
    return analyse_scene(rgb)[0]


def analyse_scene(rgb: np.ndarray) -> tuple[SceneClassification, MirrorReport | None]:
    """``classify_scene`` and, for an interior, ``detect_mirror`` from one measurement
    pass (the line segments and maps are the costly part; the classifier needs both).

    rgb: as ``classify_scene``. Returns (classification, mirror report in ``rgb``'s pixels,
    or None when the photo is classified exterior).
    """
    m = _measure_photo(rgb)
    evidence, ext = _exterior_evidence(m)
    p_exterior = _sigmoid(evidence)
    features = {"exterior_log_odds": evidence, **ext["measures"], "exterior_terms": ext["log_odds"]}
    if p_exterior >= 0.5:
        return SceneClassification("exterior", p_exterior, None, 0.0, {}, features), None
    found = _find_mirror(m)
    mirror = found[0]
    logits, room_features = _room_evidence(m, mirror)
    scores = _softmax(logits)
    room = max(scores, key=scores.get)
    features.update(room_features)
    features["room_logits"] = logits
    classification = SceneClassification(
        "interior", 1.0 - p_exterior, room, scores[room], {k: round(v, 4) for k, v in scores.items()}, features
    )
    return classification, _mirror_report(m, rgb.shape[:2], found)[0]


def detect_mirror(rgb: np.ndarray) -> MirrorReport:
    """Find a large framed mirror (rectangle with straight sides, hanging above the floor,
    holding a reflected room) in a listing photo.

    rgb: HxWx3 ``uint8`` RGB, short side >= ``MIN_SIDE``; not modified. Returns a
    ``MirrorReport`` with the box in source pixels. Classical and approximate: frameless
    wall-to-wall vanity mirrors, round/oval mirrors and mirrors seen at a steep angle
    are often missed; framed pictures and glass shower doors can be mistaken for one.
    Raises ``InvalidImage`` for a wrong type, dtype, shape or a too-small image.
    """
    m = _measure_photo(rgb)
    report, _ = _mirror_report(m, rgb.shape[:2])
    return report
