"""Classical jewelry photo classifier: product category, metal and scene flags.

No weights: category comes from the shape of the subject mask, metal from the hue and
chroma of the subject's pixels (CIELAB), the scene flags from a skin-colour model and
the texture of the frame's border. It is the classical twin of a learned classifier
and is built to be fast (~20-40 ms on a 1024 px proxy) and honest about doubt: every
answer carries a confidence.

Images are HxWx3 ``uint8`` RGB; masks HxW ``float32`` [0, 1]. Inputs are never mutated.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.imageio import require_rgb_u8, resize_long_side

CATEGORIES = ("ring", "necklace", "earring", "bracelet", "other")
METALS = ("yellow_gold", "white_metal", "rose_gold", "none")

#: Long side every feature is computed at: shapes and colours need no more, and it
#: keeps the whole classification within a few tens of milliseconds.
WORK_LONG_SIDE = 640
#: A component smaller than this share of the frame is dust, noise or a reflection.
MIN_PIECE_SHARE = 0.0015
#: ... and a piece smaller than this share of the largest one is a detail of it.
MIN_PIECE_RELATIVE = 0.12
#: Share of the frame covered by smooth skin from which a photo counts as on-model.
ON_MODEL_SKIN_SHARE = 0.04
#: CIELAB hue angle (degrees) from which a smooth skin-coloured region is yellow gold, not
#: skin: skin on the 30 on-model eval photos measured 8-80 degrees (median per region),
#: the inner surface of a polished yellow-gold band 87.
GOLD_MIN_HUE = 83.0
#: ``background_complexity`` from which the background counts as busy.
BUSY_BACKGROUND = 0.30


@dataclass
class JewelryClassification:
    """What the photo shows. All values are JSON-able.

    category: "ring" | "necklace" | "earring" | "bracelet" | "other".
    metal: "yellow_gold" | "white_metal" | "rose_gold" | "none".
    Confidences are in [0, 1]. skin_fraction: share of the frame that is skin.
    background_complexity: [0, 1], edge density and colour spread of the border.
    n_pieces: significant connected parts of the subject.
    """

    category: str
    category_confidence: float
    metal: str
    metal_confidence: float
    skin_fraction: float
    on_model: bool
    busy_background: bool
    background_complexity: float
    multiple_pieces: bool
    n_pieces: int
    backend: str = "classical"


# ------------------------------------------------------------------ preparation


def _lab(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 float32 CIELAB (L 0-100) of an sRGB uint8 image."""
    return cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


def _border_band(shape: tuple[int, int], share: float) -> np.ndarray:
    h, w = shape
    width = max(2, round(share * min(h, w)))
    band = np.ones((h, w), bool)
    band[width:-width, width:-width] = False
    return band


# -------------------------------------------------------------- subject mask


def _background_colours(lab: np.ndarray, band: np.ndarray, k: int = 3) -> np.ndarray:
    """k Lab colours that describe the frame's border (the backdrop, usually)."""
    samples = lab[band]
    if len(samples) > 4000:
        samples = samples[np.linspace(0, len(samples) - 1, 4000).astype(np.int64)]
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    # Start from lightness terciles: deterministic, and no global RNG state touched.
    edges = np.quantile(samples[:, 0], np.linspace(0, 1, k + 1)[1:-1])
    initial = np.digitize(samples[:, 0], edges).astype(np.int32).reshape(-1, 1)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    _, labels, centres = cv2.kmeans(samples, k, initial, criteria, 1, cv2.KMEANS_USE_INITIAL_LABELS)
    # A centre holding almost none of the border is an object crossing it, not backdrop.
    share = np.bincount(labels.ravel(), minlength=k) / len(labels)
    return centres[share >= 0.1]


def _distance_from_background(lab: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Per-pixel colour distance to the nearest backdrop colour, with L* weighted
    0.8: shading and paper gradients change lightness, objects change colour too."""
    weights = np.array([0.8, 1.0, 1.0], np.float32)
    best = None
    for centre in centres:
        diff = (lab - centre.astype(np.float32)) * weights
        d = np.sqrt(np.einsum("hwc,hwc->hw", diff, diff))
        best = d if best is None else np.minimum(best, d)
    return best


def build_subject_mask(proxy_rgb: np.ndarray) -> np.ndarray:
    """A cheap subject mask: distance from the border colours, Otsu-thresholded.

    proxy_rgb: HxWx3 uint8 RGB. Returns HxW float32 {0, 1} on the same grid. Good on
    packshots (plain backdrop); on lifestyle photos it also takes in the model.
    """
    require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=16, purpose="to classify")
    small = resize_long_side(proxy_rgb, WORK_LONG_SIDE)
    mask = _subject_mask_small(_lab(cv2.GaussianBlur(small, (3, 3), 0)))
    h, w = proxy_rgb.shape[:2]
    if mask.shape != (h, w):
        mask = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    return mask.astype(np.float32)


def _subject_mask_small(lab: np.ndarray) -> np.ndarray:
    band = _border_band(lab.shape[:2], 0.03)
    distance = _distance_from_background(lab, _background_colours(lab, band))
    scaled = np.clip(distance * (255.0 / 60.0), 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # A plain backdrop gives Otsu nothing to split but noise: demand a visible difference.
    threshold = max(otsu, 10.0 * 255.0 / 60.0)
    mask = (scaled > threshold).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= max(6, 0.0003 * mask.size)
    return keep[labels]


# ------------------------------------------------------------------- category


@dataclass
class _Piece:
    area: float
    filled_area: float
    hole_area: float
    largest_hole: float  # area of the biggest enclosed hole
    hole_offset: float  # distance of that hole's centre from the piece's, / length
    solidity: float
    aspect: float  # short / long side of the min-area rectangle
    span: float  # long side / frame diagonal
    thickness: float  # 2 * area / perimeter, in pixels
    length: float  # long side, pixels
    touches_border: bool
    centre: tuple[float, float]


def _pieces(mask: np.ndarray) -> list[_Piece]:
    """Significant connected parts of the mask, largest first."""
    h, w = mask.shape
    diagonal = float(np.hypot(h, w))
    # Highlights that match the backdrop break a piece into fragments: rejoin them.
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    joined = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, disk)
    contours, hierarchy = cv2.findContours(joined, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    hierarchy = hierarchy[0]
    pieces = []
    for i, contour in enumerate(contours):
        if hierarchy[i][3] != -1:  # a hole; counted with its parent
            continue
        filled = cv2.contourArea(contour)
        holes, largest, largest_index, child = 0.0, 0.0, -1, hierarchy[i][2]
        while child != -1:
            hole = cv2.contourArea(contours[child])
            holes += hole
            if hole > largest:
                largest, largest_index = hole, child
            child = hierarchy[child][0]
        area = max(filled - holes, 1.0)
        if area < MIN_PIECE_SHARE * h * w:
            continue
        hull_area = max(cv2.contourArea(cv2.convexHull(contour)), 1.0)
        (cx, cy), (rw, rh), _ = cv2.minAreaRect(contour)
        long_side, short_side = max(rw, rh, 1.0), min(rw, rh)
        perimeter = max(cv2.arcLength(contour, True), 1.0)
        x, y, bw, bh = cv2.boundingRect(contour)
        offset = 1.0
        if largest_index >= 0:
            (hx, hy), _, _ = cv2.minAreaRect(contours[largest_index])
            offset = float(np.hypot(hx - cx, hy - cy)) / long_side
        pieces.append(
            _Piece(
                area=area,
                filled_area=filled,
                hole_area=holes,
                largest_hole=largest,
                hole_offset=offset,
                solidity=area / hull_area,
                aspect=short_side / long_side,
                span=long_side / diagonal,
                thickness=2.0 * area / perimeter,
                length=long_side,
                touches_border=x <= 1 or y <= 1 or x + bw >= w - 1 or y + bh >= h - 1,
                centre=(cx / w, cy / h),
            )
        )
    pieces.sort(key=lambda p: p.area, reverse=True)
    if pieces:
        pieces = [p for p in pieces if p.area >= MIN_PIECE_RELATIVE * pieces[0].area]
    return pieces


def _category_scores(pieces: list[_Piece]) -> dict[str, float]:
    """Evidence per category, each in [0, 0.95], from the shapes of the pieces."""
    scores = {c: 0.0 for c in CATEGORIES}
    scores["other"] = 0.25
    if not pieces:
        return scores
    main = pieces[0]
    hole = main.largest_hole / max(main.filled_area, 1.0)  # one dominant hole, not bead gaps
    centred = main.hole_offset <= 0.25
    band = main.thickness / max(main.length, 1.0)  # band width relative to size
    # A ring: round-ish outline around one real, central hole; a band not hair-thin.
    if centred and 0.06 <= hole <= 0.6 and main.aspect >= 0.45:
        scores["ring"] = 0.55 + 0.3 * main.aspect * (1.0 if band >= 0.04 else 0.6)
    elif main.solidity >= 0.85 and main.aspect >= 0.6 and main.span < 0.45:
        scores["ring"] = 0.35  # seen from the top, the head hides the hole
    # A bracelet: a loop whose band is thin for its size (a bangle, a chain circle),
    # or a bangle seen at an angle (an ellipse with a central hole).
    if centred and (hole > 0.45 or (0.25 <= main.aspect < 0.6 and hole > 0.2)):
        scores["bracelet"] = 0.5 + 0.3 * min(1.0, hole)
    elif 0.5 <= main.solidity < 0.85 and 0.4 <= main.aspect <= 0.8 and main.span >= 0.4:
        if not main.touches_border:
            scores["bracelet"] = 0.3  # a coiled chain or a heap of beads
    # A necklace: long, spread over the frame, low solidity (a U or V curve).
    if main.span >= 0.35 and main.solidity < 0.55:
        thin = 1.0 if band < 0.04 else 0.6
        running_off = 0.1 if main.touches_border else 0.0  # a chain usually leaves the frame
        scores["necklace"] = 0.4 + 0.35 * thin * min(1.0, main.span / 0.7) + running_off
    # Earrings: a pair of similar pieces side by side, or one small pendant-like piece.
    if len(pieces) >= 2:
        a, b = pieces[0], pieces[1]
        similar = min(a.area, b.area) / max(a.area, b.area)
        side_by_side = abs(a.centre[1] - b.centre[1]) < 0.25
        if similar >= 0.5 and side_by_side and max(a.span, b.span) < 0.7:
            scores["earring"] = 0.5 + 0.4 * similar
    elif main.aspect < 0.5 and main.span < 0.5 and not main.touches_border:
        scores["earring"] = 0.35  # a hook and a drop
    return {k: float(min(v, 0.95)) for k, v in scores.items()}


def _pick(scores: dict[str, float]) -> tuple[str, float]:
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    # Confidence: the evidence, discounted by how close the runner-up came.
    return best, round(float(top * (1.0 - 0.5 * second / max(top, 1e-6))), 3)


# ---------------------------------------------------------------------- metal


def _classify_metal(
    lab: np.ndarray, subject: np.ndarray, skin: np.ndarray, band: np.ndarray
) -> tuple[str, float]:
    """Metal from the subject's mid-tone pixels: low chroma -> white metal, yellow
    hue -> gold, pink-copper hue -> rose gold; saturated off-hue pixels are stones."""
    inner = cv2.erode(subject.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if inner.sum() < 30:
        inner = subject
    use = inner & ~skin & (lab[..., 0] > 18) & (lab[..., 0] < 97)
    if use.sum() < 20:
        return "none", 0.0
    a, b = lab[..., 1][use], lab[..., 2][use]
    # A near-neutral backdrop shows the cast of the light; metal carries the same cast.
    backdrop = band & ~subject
    if backdrop.sum() > 50:
        ba, bb = np.median(lab[..., 1][backdrop]), np.median(lab[..., 2][backdrop])
        if np.hypot(ba, bb) < 12:
            a, b = a - ba, b - bb
    chroma = np.hypot(a, b)
    hue = np.degrees(np.arctan2(b, a)) % 360
    shares = {
        "white_metal": float(np.mean(chroma < 9)),
        "yellow_gold": float(np.mean((hue >= 62) & (hue <= 105) & (chroma >= 12) & (chroma <= 65))),
        "rose_gold": float(np.mean((hue >= 30) & (hue < 62) & (chroma >= 9) & (chroma <= 32))),
    }
    # Gold shows white speculars and dark reflections too, so a share of gold-hued
    # pixels is stronger evidence than the same share of neutral ones. Rose gold is
    # rarer and its hues are shared by wood, coral and red beads: no bonus.
    scores = {
        "white_metal": shares["white_metal"],
        "yellow_gold": 1.5 * shares["yellow_gold"],
        "rose_gold": shares["rose_gold"],
    }
    best = max(scores, key=scores.get)
    if scores[best] < 0.3:
        return "none", round(float(1.0 - min(1.0, scores[best] / 0.3) * 0.5), 3)  # stones, beads, fabric
    runner_up = sorted(scores.values())[-2]
    confidence = min(1.0, scores[best]) * (1.0 - 0.6 * runner_up / scores[best])
    return best, round(float(max(confidence, 0.05)), 3)


# ----------------------------------------------------------------- scene flags


def _skin_mask(rgb: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Smooth, sizeable skin-coloured regions (YCrCb box of Chai & Ngan 1999 with
    guards): gold is too saturated for it; wood and beige paper are rejected by
    their grain, i.e. texture, and by covering the border like a backdrop."""
    ycrcb = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    y, cr, cb = ycrcb[..., 0], ycrcb[..., 1], ycrcb[..., 2]
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    saturation = hsv[..., 1]
    candidate = (cr >= 136) & (cr <= 175) & (cb >= 80) & (cb <= 128) & (y >= 50)
    candidate &= (saturation >= 25) & (saturation <= 160)
    candidate = cv2.morphologyEx(candidate.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
    if n <= 1:
        return np.zeros(rgb.shape[:2], bool)
    grey = cv2.GaussianBlur(y.astype(np.float32), (0, 0), 1.0)
    texture = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3))
    # Structure-tensor coherence: wood grain and fabric weave are strongly oriented.
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    jxx = cv2.boxFilter(gx * gx, -1, (15, 15))
    jyy = cv2.boxFilter(gy * gy, -1, (15, 15))
    jxy = cv2.boxFilter(gx * gy, -1, (15, 15))
    # The floor keeps smooth shading (gradients under ~0.5 level/px) from counting as grain.
    coherence = np.sqrt((jxx - jyy) ** 2 + 4 * jxy * jxy) / (jxx + jyy + 16.0)
    band = _border_band(rgb.shape[:2], 0.03)
    frame = rgb.shape[0] * rgb.shape[1]
    keep = np.zeros(n, bool)
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < 0.015 * frame:
            continue
        region = labels == i
        inner = cv2.erode(region.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        if inner.sum() < 50:
            continue
        # Measured on the eval photos: skin has Laplacian median 1.3-4.8 and
        # coherence 0.27-0.77, sharp wood 5-7 and 0.7-0.8, gold/beads/fabric > 10.
        roughness = float(np.median(texture[inner])) / 5.0
        grain = float(np.median(coherence[inner])) / 0.75
        smooth = roughness < 1.1 and grain < 1.07 and roughness + grain < 1.9
        backdrop_like = float(region[band].mean()) > 0.9 and float(np.std(lab[..., 0][inner])) < 4.0
        # Polished yellow gold (a plain band's inner surface) is smooth and in the YCrCb box
        # too; it is yellower than skin.
        hue = float(np.degrees(np.arctan2(np.median(lab[..., 2][inner]), np.median(lab[..., 1][inner]))))
        keep[i] = smooth and not backdrop_like and hue < GOLD_MIN_HUE
    return keep[labels]


def _background_complexity(rgb: np.ndarray, lab: np.ndarray, subject: np.ndarray) -> float:
    """[0, 1]: edge density and colour spread of the frame's outer band (outside the
    subject). A packshot backdrop scores ~0; foliage, wood grain, rooms score high."""
    band = _border_band(rgb.shape[:2], 0.15)
    region = band & ~(cv2.dilate(subject.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
    if region.sum() < 100:
        region = band
    grey = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (5, 5), 0)
    edges = cv2.Canny(grey, 40, 120) > 0
    edge_density = float(edges[region].mean())
    pixels = lab[region]
    spread = float(np.sqrt(pixels.var(axis=0).sum()))
    return float(np.clip(0.6 * min(1.0, edge_density / 0.06) + 0.4 * min(1.0, spread / 30.0), 0.0, 1.0))


# ------------------------------------------------------------------------ API


def classify_jewelry(proxy_rgb: np.ndarray, subject_mask: np.ndarray | None = None) -> JewelryClassification:
    """Classify a jewelry photo.

    proxy_rgb: HxWx3 uint8 RGB, ideally ~1024 px on the long side (any size works; it
    is reduced to ``WORK_LONG_SIDE``). subject_mask: optional HxW float32 [0, 1]
    mask of the product on the same grid; built with ``build_subject_mask`` when None.
    Returns a ``JewelryClassification``.
    """
    require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=16, purpose="to classify")
    if subject_mask is not None and (
        not isinstance(subject_mask, np.ndarray) or subject_mask.shape != proxy_rgb.shape[:2]
    ):
        got = subject_mask.shape if isinstance(subject_mask, np.ndarray) else type(subject_mask).__name__
        raise InvalidOptions(f"subject_mask must be HxW like proxy_rgb {proxy_rgb.shape[:2]}, got {got}")
    small = resize_long_side(proxy_rgb, WORK_LONG_SIDE)
    lab = _lab(cv2.GaussianBlur(small, (3, 3), 0))
    if subject_mask is None:
        subject = _subject_mask_small(lab)
    else:
        resized = cv2.resize(
            np.nan_to_num(subject_mask.astype(np.float32)), small.shape[1::-1], interpolation=cv2.INTER_AREA
        )
        subject = resized >= 0.5
    skin = _skin_mask(small, lab)
    skin_fraction = float(skin.mean())
    on_model = skin_fraction >= ON_MODEL_SKIN_SHARE
    complexity = _background_complexity(small, lab, subject)

    product = subject & ~skin  # on a model, the skin is not the product
    pieces = _pieces(product)
    category, category_confidence = _pick(_category_scores(pieces))
    band = _border_band(small.shape[:2], 0.03)
    metal, metal_confidence = _classify_metal(lab, product, skin, band)
    if on_model:
        # The mask then holds the model's hair and clothes too: say so in the confidences.
        category_confidence = round(category_confidence * 0.5, 3)
        metal_confidence = round(metal_confidence * 0.5, 3)
    return JewelryClassification(
        category=category,
        category_confidence=category_confidence,
        metal=metal,
        metal_confidence=metal_confidence,
        skin_fraction=round(skin_fraction, 4),
        on_model=bool(on_model),
        busy_background=bool(complexity >= BUSY_BACKGROUND),
        background_complexity=round(complexity, 4),
        multiple_pieces=len(pieces) >= 2,
        n_pieces=len(pieces),
    )
