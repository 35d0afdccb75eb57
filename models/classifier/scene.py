"""Classical scene classifier for listing photos: exterior/interior, room type, mirrors.

No weights to download. Each decision is a small linear model over a few named
measurements of a ~512 px proxy, with its parameters fitted by
``bench/fit_scene.py`` (L2-regularised logistic regression, re-fitted per fold for the
k-fold figures) and shipped in ``scene_params.py``; a report gives every input's
contribution to the log-odds, so it can say *why*:

* exterior vs interior: foliage-coloured texture, how many edges lie on long straight
  lines (man-made rooms are built of them), orientation coherence (foliage and gravel
  are incoherent), edge density, the colour of the top strip (sky is blue or neutral,
  a ceiling or wall under room light is warm) and the share of the frame taken by a
  sky-like region hanging from the top border (bright against the ground, the lower
  half of the frame, or, when it fills more than half the frame as fog or a flat
  overcast does, bright against the rest of the frame). The four structure cues are weighted by the share of the frame
  that is not sky, since a sky is featureless and they describe what stands below it.
  The sky enters as its share of the frame (not its logarithm), so a narrow strip of sky
  (an alley, a patio between walls) is a small piece of evidence, not a decision;
* room type (interiors only): long horizontal lines at counter height, the total length
  of long lines and of vertical lines, wood-coloured surfaces, how straight the edges of
  the bottom third are (a bed's fabric is not) and a framed mirror, plus the frame's
  layout: Gabor energy at three scales and four orientations pooled on a 4 x 2 grid (a
  GIST-style descriptor: where in the frame the fine, coarse, level and upright
  structure lies). Living and dining rooms (and "other") have no eval photos to fit,
  so they stay in the scores with probability 0 and never win: a learned backend can
  replace this one without changing the contract;
* mirrors: the best-supported box whose two vertical sides and bottom (and top, unless
  it leaves the frame) are long straight segments, that hangs above the floor and
  holds room-like detail (not a blank door, not a blown-out window, not foliage).

What each measurement counts (colour ranges, the sky-region rules, the mirror's
geometry) is defined by reasoning about what the cue measures; how much each counts is
fitted on the 120 real listing photos in ``shared/eval``, the exterior decision also on
its 19 ADE20K ``sky_masks`` photos (exteriors without a garden: an alley, city blocks, a
fog field), so it does not learn "green means outdoors" (see ``bench/fit_scene.py`` and
``bench/eval_scene.py`` for the all-data and k-fold-by-house figures, and the leafless
stress figure).

Images are HxWx3 ``uint8`` RGB. Inputs are never mutated.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from lumograph.models.common.imageio import fast_downscale, require_rgb_u8
from lumograph.models.common.lines import line_segments
from lumograph.models.common.numeric import clamp

SCENES = ("exterior", "interior")
ROOM_TYPES = ("kitchen", "bathroom", "bedroom", "living", "dining", "other")
#: The room types the fitted model scores; the rest of ``ROOM_TYPES`` get probability 0.
FITTED_ROOMS = ("kitchen", "bathroom", "bedroom")

#: Long side of the analysis proxy: lines, textures and colours need no more, and
#: it keeps a 12 MP photo well inside the time budget.
WORK_LONG_SIDE = 512
#: Smallest accepted short side in source pixels; below it there is no scene to read.
MIN_SIDE = 32
#: A segment counts as "long" from this share of the proxy's long side.
LONG_SEGMENT = 0.04
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


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ------------------------------------------------------------------ linear models


#: Standardised model inputs are clipped to this many standard deviations of the photos
#: the model was fitted on, so one measurement far outside what the fit saw (a photo
#: unlike any listing photo) cannot outvote the others. Part of the model's definition
#: (the fit uses the same clip), not fitted: the shares measured here have long tails, so
#: 3 would clip 0.6 % of the eval photos' inputs (4 clips 0.1 %), and a fog filling the
#: frame (sky share 0.8, twice the largest eval sky) would count little more than a
#: clear sky over half of it. Over five random house splits the k-fold figures are the
#: same with 3 or 4 (``bench/fit_scene.py``).
INPUT_CLIP = 4.0

#: Exterior model inputs, in the parameter table's order (see ``exterior_inputs``).
EXTERIOR_INPUTS = ("foliage", "straight_edges", "coherence", "edge_density", "top_warmth", "sky")
#: The structure inputs: they speak only for the share of the frame that is not sky.
GROUND_WEIGHTED = ("foliage", "straight_edges", "coherence", "edge_density")

#: Layout descriptor: Gabor wavelengths (px on the ``LAYOUT_SIDE`` square), orientations
#: (0, 45, 90, 135 degrees) and the grid (rows, columns) the filter energy is pooled on.
LAYOUT_SIDE = 128
LAYOUT_WAVELENGTHS = (4, 8, 16)
LAYOUT_ORIENTATIONS = 4
LAYOUT_GRID = (4, 2)
LAYOUT_INPUTS = tuple(
    f"layout_w{w}_o{45 * o}_r{r}_c{c}"
    for w in LAYOUT_WAVELENGTHS for o in range(LAYOUT_ORIENTATIONS)
    for r in range(LAYOUT_GRID[0]) for c in range(LAYOUT_GRID[1])
)
#: Room model inputs, in the parameter table's order (see ``room_inputs``).
ROOM_INPUTS = ("counter_lines", "long_lines", "vertical_lines", "bottom_straight", "wood", "mirror") + LAYOUT_INPUTS


def exterior_inputs(measures: dict) -> tuple[np.ndarray, np.ndarray]:
    """The exterior model's inputs from the named exterior measurements.

    Returns (x, weight): float64 arrays in ``EXTERIOR_INPUTS`` order; ``weight`` is the
    share of the frame that is not sky for ``GROUND_WEIGHTED`` inputs and 1 for the
    others (it multiplies the standardised input, moving it toward the fitted photos'
    mean, i.e. toward no evidence). Shares that span decades enter as logarithms, with a
    floor far below any share that matters so an empty photo stays finite.
    """
    x = np.array([
        math.log(measures["foliage_share"] + 0.002),
        measures["straight_edge_share"],
        measures["orientation_coherence"],
        math.log(max(measures["edge_density"], 1e-4)),
        measures["top_strip_b"],
        measures["sky_share"],
    ], np.float64)
    g = float(measures["ground_weight"])
    weight = np.array([g if name in GROUND_WEIGHTED else 1.0 for name in EXTERIOR_INPUTS], np.float64)
    return x, weight


def room_inputs(measures: dict, layout: np.ndarray) -> np.ndarray:
    """The room model's inputs (float64, ``ROOM_INPUTS`` order) from the named room
    measurements and the layout descriptor (line lengths and filter energies enter as
    logarithms, with a floor)."""
    named = [
        math.log(measures["counter_line_length"] + 0.2),
        math.log(measures["long_line_length"] + 0.5),
        math.log(measures["vertical_line_length"] + 0.5),
        measures["bottom_straight_share"],
        measures["wood_share"],
        measures["mirror_confidence"],
    ]
    return np.concatenate([np.asarray(named, np.float64), np.log(np.asarray(layout, np.float64) + 1e-3)])


def standardise(x: np.ndarray, mean, scale) -> np.ndarray:
    """``(x - mean) / scale`` clipped to +-``INPUT_CLIP``; ``x`` is (d,) or (n, d).
    The fit (``bench/fit_scene.py``) and the classifier both go through here."""
    return np.clip((np.asarray(x, np.float64) - mean) / scale, -INPUT_CLIP, INPUT_CLIP)


@dataclass(frozen=True)
class _Linear:
    """One fitted table: logits = bias + (standardised inputs * weight) @ coef."""

    classes: tuple
    inputs: tuple
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (d, K)
    bias: np.ndarray  # (K,)

    def logits(self, x: np.ndarray, weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(logits (K,), contributions (d, K)) for one photo's inputs."""
        z = standardise(x, self.mean, self.scale)
        if weight is not None:
            z = z * weight
        contributions = z[:, None] * self.coef
        return self.bias + contributions.sum(axis=0), contributions


def _linear(table: dict, classes: tuple, inputs: tuple) -> _Linear:
    model = _Linear(
        tuple(table["classes"]), tuple(table["inputs"]), np.asarray(table["mean"], np.float64),
        np.asarray(table["scale"], np.float64), np.asarray(table["coef"], np.float64),
        np.asarray(table["bias"], np.float64),
    )
    d, k = len(inputs), len(classes)
    if (set(model.classes) != set(classes) or model.inputs != inputs or model.mean.shape != (d,)
            or model.scale.shape != (d,) or model.coef.shape != (d, k) or model.bias.shape != (k,)):
        raise ValueError(
            f"scene parameter table does not match the classifier's inputs {classes}; re-fit it with "
            "`python -m lumograph.bench.fit_scene --write`"
        )
    return model


@dataclass(frozen=True)
class SceneModel:
    """The exterior and room tables of one parameter set (``scene_params.PARAMS`` or a
    per-fold fit), checked against ``EXTERIOR_INPUTS`` / ``ROOM_INPUTS``."""

    exterior: _Linear
    room: _Linear

    @classmethod
    def from_params(cls, params: dict) -> "SceneModel":
        """params: ``{"exterior": table, "room": table}``, a table being ``{"classes",
        "inputs", "mean", "scale", "coef" (d x K), "bias" (K)}``. Raises ``ValueError``
        when a table does not match the inputs this module computes."""
        return cls(_linear(params["exterior"], SCENES, EXTERIOR_INPUTS),
                   _linear(params["room"], FITTED_ROOMS, ROOM_INPUTS))


@functools.lru_cache(maxsize=1)
def shipped_model() -> SceneModel:
    """The shipped parameter set (``scene_params.PARAMS``), loaded once."""
    from lumograph.models.classifier.scene_params import PARAMS

    return SceneModel.from_params(PARAMS)


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

    Smooth blue or bright-neutral regions touching the top (the ordinary case: bright
    is >= 15 L over the median of the frame's lower half), plus, when one smooth neutral
    region covers ``DOMINANT_SKY_SHARE`` or more of the frame, spans its top row and is
    >= 15 L brighter than everything else in the frame (the same margin), that region
    too.
    """
    smooth = m.grad_smooth < 1.5
    blue = (m.H >= 190) & (m.H <= 235) & (m.S > 0.12) & (m.V > 0.4)
    neutral = (np.hypot(m.a, m.b) < 12) & (m.b < 4)
    # Overcast sky is the brightest large thing in an exterior, brighter than the ground
    # it lights; a lit ceiling is warm. The reference is the lower half of the frame, not
    # the whole frame: a cloudy sky over a third of a bright photo raises the whole
    # frame's median toward its own level (house322's frontal: median 81 L, so a 91 L
    # sky missed a bar of 96).
    ground = float(np.median(m.L[m.L.shape[0] // 2:]))
    bright = (m.L > max(70.0, ground + 15.0)) & neutral
    region = _top_components(smooth & (blue | bright))
    dominant = _top_components(smooth & neutral & (m.L > 40.0))
    dominant_share = float(dominant.mean())
    contrast = 0.0
    if dominant_share >= DOMINANT_SKY_SHARE and not dominant.all():
        contrast = float(np.median(m.L[dominant]) - np.median(m.L[~dominant]))
        if float(dominant[0].mean()) >= 0.8 and contrast >= 15.0:
            region = region | dominant
    return region, {"dominant_share": dominant_share, "dominant_contrast": contrast}


def _exterior_measures(m: _Measures) -> dict:
    """The named measurements the exterior model reads (see ``exterior_inputs``)."""
    h = m.L.shape[0]
    # Foliage: green-to-cyan hue, some saturation, visible texture (a painted wall of
    # the same hue is smooth). Lavender/blue walls are outside the hue range.
    foliage = float(((m.H >= 60) & (m.H <= 190) & (m.S > 0.15) & (m.V > 0.08) & (m.local_sd > 4)).mean())
    straight = _share(m.straight, m.edges)
    energetic = m.tensor_trace > np.percentile(m.tensor_trace, 70)
    coherence = float(m.coherence[energetic].mean()) if energetic.any() else 1.0
    sky_region, sky_details = _sky_regions(m)
    sky = float(sky_region.mean())
    # Foliage, lines, coherence and edges describe what stands in the frame; a sky is
    # featureless, so those four cues speak only for the part of the frame that is not
    # sky (``exterior_inputs``): a fog or overcast sky filling most of the frame is not
    # outvoted by a horizon line and a strip of field.
    return {
        "foliage_share": foliage,
        "straight_edge_share": straight,
        "orientation_coherence": coherence,
        "edge_density": float(m.edges.mean()),
        # b* of the top strip: sky <= ~0, a ceiling/wall under room light is warm.
        "top_strip_b": float(np.median(m.b[: max(2, h // 8)])),
        "sky_share": sky,
        "ground_weight": 1.0 - sky,
        "dominant_sky_share": sky_details["dominant_share"],
        "dominant_sky_contrast": sky_details["dominant_contrast"],
    }


# ----------------------------------------------------------------------- mirrors


def _ab_histogram(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """8x8 histogram of (a, b) over [-40, 40]^2, normalised: ``np.histogram2d``'s bins (the
    last one closed, values outside left out) counted with one ``np.bincount``, which is
    several times faster on the mirror search's many boxes."""
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    inside = (a >= -40) & (a <= 40) & (b >= -40) & (b <= 40)
    ia = np.minimum(((a[inside] + 40) / 10).astype(np.int64), 7)
    ib = np.minimum(((b[inside] + 40) / 10).astype(np.int64), 7)
    hist = np.bincount(ia * 8 + ib, minlength=64).reshape(8, 8).astype(np.float64)
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


def _room_measures(m: _Measures, mirror: float) -> dict:
    """The named measurements the room model reads (see ``room_inputs``)."""
    h = m.L.shape[0]
    ln, ang, segs = m.seg_len, m.seg_angle, m.segs
    long = ln >= LONG_SEGMENT
    ymid = (segs[:, 1] + segs[:, 3]) / 2 / h
    horiz = long & (ang <= 10)
    vert = long & (ang >= 80)
    bottom = slice(2 * h // 3, h)
    return {
        # Counters, cabinet rails and backsplashes: long level lines at 35-75 % height.
        "counter_line_length": float(ln[horiz & (ymid > 0.35) & (ymid < 0.75)].sum()),
        "long_line_length": float(ln[long].sum()),
        "vertical_line_length": float(ln[vert].sum()),
        # The bed: fabric folds, prints and pillows make curved edges low in the frame.
        "bottom_straight_share": _share(m.straight[bottom], m.edges[bottom]),
        "wood_share": float(((m.H >= 15) & (m.H <= 45) & (m.S > 0.35) & (m.V > 0.2) & (m.V < 0.85)).mean()),
        "mirror_confidence": float(mirror),
    }


@functools.lru_cache(maxsize=1)
def _gabor_bank() -> tuple[np.ndarray, ...]:
    bank = []
    for wavelength in LAYOUT_WAVELENGTHS:
        size = int(3 * wavelength) | 1
        for o in range(LAYOUT_ORIENTATIONS):
            k = cv2.getGaborKernel((size, size), 0.56 * wavelength, o * math.pi / LAYOUT_ORIENTATIONS,
                                   float(wavelength), 0.5, 0.0, ktype=cv2.CV_32F)
            k = k - k.mean()  # no response to flat regions
            k.setflags(write=False)
            bank.append(k)
    return tuple(bank)


def _layout(m: _Measures) -> np.ndarray:
    """float32 (len(LAYOUT_INPUTS),): mean Gabor energy per wavelength, orientation and
    grid cell of the grey proxy squeezed to ``LAYOUT_SIDE`` px square, after local
    contrast normalisation (so the exposure of the photo does not count, its structure
    does)."""
    gray = cv2.cvtColor(m.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1 / 255)
    g = cv2.resize(gray, (LAYOUT_SIDE, LAYOUT_SIDE), interpolation=cv2.INTER_AREA)
    detail = g - cv2.GaussianBlur(g, (0, 0), 8)
    g = detail / (np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), 8)) + np.float32(0.02))
    rows, cols = LAYOUT_GRID
    energy = [
        cv2.resize(np.abs(cv2.filter2D(g, cv2.CV_32F, k)), (cols, rows), interpolation=cv2.INTER_AREA).ravel()
        for k in _gabor_bank()
    ]
    return np.concatenate(energy).astype(np.float32)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


# -------------------------------------------------------------------- decisions


def _exterior_decision(exterior: dict, model: SceneModel) -> tuple[float, dict]:
    """(probability of exterior, report features) from the named exterior measures."""
    x, weight = exterior_inputs(exterior)
    logits, contributions = model.exterior.logits(x, weight)
    ext = model.exterior.classes.index("exterior")
    other = 1 - ext
    log_odds = float(logits[ext] - logits[other])
    terms = {name: float(c[ext] - c[other]) for name, c in zip(EXTERIOR_INPUTS, contributions)}
    terms["bias"] = float(model.exterior.bias[ext] - model.exterior.bias[other])
    features = {"exterior_log_odds": log_odds, **exterior, "exterior_terms": terms}
    return _sigmoid(log_odds), features


def _room_decision(room: dict, layout: np.ndarray, model: SceneModel) -> tuple[dict, dict]:
    """(probability per ``ROOM_TYPES`` label, report features) for an interior."""
    logits, contributions = model.room.logits(room_inputs(room, layout))
    p = _softmax(logits)
    scores = dict.fromkeys(ROOM_TYPES, 0.0)
    scores.update({c: float(v) for c, v in zip(model.room.classes, p)})
    n_named = len(ROOM_INPUTS) - len(LAYOUT_INPUTS)
    terms = {}
    for k, c in enumerate(model.room.classes):
        t = {name: float(v) for name, v in zip(ROOM_INPUTS[:n_named], contributions[:n_named, k])}
        t["layout"] = float(contributions[n_named:, k].sum())
        t["bias"] = float(model.room.bias[k])
        terms[c] = t
    features = {
        **room,
        "room_logits": {c: float(v) for c, v in zip(model.room.classes, logits)},
        "room_terms": terms,
    }
    return scores, features


def _classify(exterior: dict, interior, model: SceneModel) -> tuple[SceneClassification, tuple | None]:
    """The classification from the exterior measures and, only for an interior,
    ``interior()`` -> (room measures, layout, mirror search result or None)."""
    p_exterior, features = _exterior_decision(exterior, model)
    if p_exterior >= 0.5:
        return SceneClassification("exterior", p_exterior, None, 0.0, {}, features), None
    room, layout, found = interior()
    scores, room_features = _room_decision(room, layout, model)
    features.update(room_features)
    best = max(scores, key=scores.get)
    classification = SceneClassification(
        "interior", 1.0 - p_exterior, best, scores[best], {k: round(v, 4) for k, v in scores.items()}, features
    )
    return classification, found


# ------------------------------------------------------------------------ public


@dataclass(frozen=True)
class SceneMeasurements:
    """Everything both decisions read, measured once (``measure_scene``).

    exterior: the named exterior measurements; room: the named room measurements (the
    mirror search's confidence included); layout: float32 layout descriptor
    (``LAYOUT_INPUTS`` order). ``classify_measurements`` turns them into a
    ``SceneClassification`` under any parameter set, so the fit can re-score the same
    photos per fold without measuring them again.
    """

    exterior: dict
    room: dict
    layout: np.ndarray


def measure_scene(rgb: np.ndarray) -> SceneMeasurements:
    """Measure a listing photo for both decisions (the room measurements too, which
    ``classify_scene`` skips for exteriors). rgb: as ``classify_scene``; not modified.
    Raises ``InvalidImage`` for a wrong type, dtype, shape or a too-small image."""
    m = _measure_photo(rgb)
    return SceneMeasurements(_exterior_measures(m), _room_measures(m, _find_mirror(m)[0]), _layout(m))


def classify_measurements(measurements: SceneMeasurements, model: SceneModel | None = None) -> SceneClassification:
    """``classify_scene``'s answer from ``measure_scene``'s measurements, under ``model``
    (default: the shipped parameters, ``shipped_model()``)."""
    model = model or shipped_model()
    return _classify(measurements.exterior, lambda: (measurements.room, measurements.layout, None), model)[0]


def classify_scene(rgb: np.ndarray) -> SceneClassification:
    """Exterior/interior and room type of a listing photo.

    rgb: HxWx3 ``uint8`` RGB, short side >= ``MIN_SIDE``; not modified. Analysis runs
    on a ~512 px proxy (~40-80 ms for 12 MP). Returns a ``SceneClassification``;
    ``features`` holds the decisive measurements and their log-odds contributions.
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

    def interior():
        found = _find_mirror(m)
        return _room_measures(m, found[0]), _layout(m), found

    classification, found = _classify(_exterior_measures(m), interior, shipped_model())
    if found is None:
        return classification, None
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
