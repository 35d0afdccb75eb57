"""Classical jewelry segmentation: a smooth background model plus known-background matting.

Jewelry packshots sit on plain backdrops (white sweep, grey card, paper, light wood). The
backdrop is modelled from the image border as a low-order polynomial surface, which absorbs
vignetting and light fall-off. Every pixel is then scored by its colour distance to the local
backdrop colour; hysteresis thresholds on that score give the subject shape, enclosed holes
that show backdrop (ring interiors, chain links) stay background, and specular highlights that
merely look like the backdrop are filled back in.

Because the backdrop colour ``B`` is known at every pixel, the compositing equation
``I = alpha * F + (1 - alpha) * B`` is solved per pixel along the boundary (difference
matting): ``alpha`` is the projection of ``I - B`` onto ``F - B``, with ``F`` propagated from
nearby confident subject pixels. This keeps pixel-level alpha on two-pixel chains and prongs at
a fraction of the cost of a global closed-form matting solve, and the same equation gives the
decontaminated edge colour ``F = B + (I - B) / alpha`` so nothing of the backdrop leaks into
the composite.

Conventions: images are HxWx3 uint8 RGB, alpha is HxW float32 in [0, 1].
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from lumograph.models.errors import InvalidImage, InvalidOptions, SubjectNotFound

PROXY_LONG_SIDE = 1024
_BORDER_FRACTION = 0.03
_POLY_DEGREE = 2
# Floors for the background-distance thresholds (CIELAB delta-E); a clipped white sweep has
# zero noise, so the thresholds must not collapse to zero with it.
_MIN_LOW_THRESHOLD = 4.0
_MIN_HIGH_THRESHOLD = 14.0
# Shadows cast on the backdrop are darker versions of it; lightness differences below the
# backdrop count for less than chroma differences so soft shadows do not become subject.
_SHADOW_LIGHTNESS_WEIGHT = 0.55


@dataclass(frozen=True)
class Matte:
    """A cut-out of the subject at working resolution.

    foreground: hxwx3 uint8 RGB, the crop with edge colours decontaminated (backdrop colour
        removed from semi-transparent pixels).
    alpha: hxw float32 in [0, 1], same working resolution.
    bbox: (x0, y0, x1, y1) of the crop in source-image pixels, x1/y1 exclusive.
    scale: working pixels per source pixel (<= 1.0).
    background_rgb: estimated backdrop colour (0-255) around the subject.
    backend: name of the segmentation backend that produced the matte.
    stats: JSON-able diagnostics (subject_fraction, n_components, holes_cleared, timings_ms...).
    """

    foreground: np.ndarray
    alpha: np.ndarray
    bbox: tuple[int, int, int, int]
    scale: float
    background_rgb: tuple[float, float, float]
    backend: str = "classical"
    stats: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BackgroundModel:
    """Per-channel polynomial surface of the backdrop colour over normalised image coordinates.

    coefficients: (n_terms, 3) float64, RGB values 0-255 as a function of (u, v) in [-1, 1]
        across the whole image, so one model serves the proxy and the full-resolution crop.
    low_threshold, high_threshold: background-distance thresholds (delta-E) for hysteresis.
    """

    coefficients: np.ndarray
    low_threshold: float
    high_threshold: float
    noise_delta_e: float

    def render_rgb(self, grid_u: np.ndarray, grid_v: np.ndarray) -> np.ndarray:
        """Backdrop RGB (float32, 0-255) at the given normalised coordinates (same shape)."""
        terms = _polynomial_terms(grid_u.ravel(), grid_v.ravel())
        rgb = terms @ self.coefficients
        return np.clip(rgb, 0.0, 255.0).astype(np.float32).reshape(*grid_u.shape, 3)


# --------------------------------------------------------------------------- public API


def locate_subject(proxy_rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Coarse subject localisation on a small proxy (about 1024 px long side).

    Args:
        proxy_rgb: HxWx3 uint8 RGB, any size (meant for ~1024 px; larger is slower).

    Returns:
        (coarse_mask, bbox): coarse_mask is HxW float32 in {0, 1} (1 = subject, ring holes 0);
        bbox is (x0, y0, x1, y1) in proxy pixels, exclusive, tight around the subject.

    Raises:
        InvalidImage: not an HxWx3 uint8 array.
        SubjectNotFound: nothing differs from the backdrop (e.g. a flat image).
    """
    _check_rgb(proxy_rgb)
    found = _locate(proxy_rgb)
    return found.mask.astype(np.float32), found.bbox


def segment_jewelry(
    rgb: np.ndarray, *, target_long_side: int = 2048, margin: float = 0.04
) -> Matte:
    """Cut a jewelry piece out of a plain-backdrop photo.

    Localises the subject on a 1024 px proxy, crops the source around it (plus ``margin``),
    resizes the crop so its long side is at most ``target_long_side`` and mattes there.

    Args:
        rgb: HxWx3 uint8 RGB source image (never modified; may be read-only).
        target_long_side: cap on the working crop's long side in pixels (>= 64).
        margin: context added on each side of the subject box, as a fraction of the source
            image's long side (0 to 0.5).

    Returns:
        Matte with foreground hxwx3 uint8, alpha hxw float32 in [0, 1], bbox in source pixels.

    Raises:
        InvalidImage: ``rgb`` is not an HxWx3 uint8 array.
        InvalidOptions: ``target_long_side`` or ``margin`` out of range.
        SubjectNotFound: nothing can be separated from the backdrop.
    """
    _check_rgb(rgb)
    if not isinstance(target_long_side, (int, np.integer)) or target_long_side < 64:
        raise InvalidOptions(f"target_long_side must be an integer >= 64, got {target_long_side!r}")
    if not 0.0 <= float(margin) <= 0.5:
        raise InvalidOptions(f"margin must be within [0, 0.5], got {margin!r}")

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    height, width = rgb.shape[:2]
    proxy_scale = min(1.0, PROXY_LONG_SIDE / max(height, width))
    proxy = _resize(rgb, proxy_scale)
    timings["proxy"] = _lap(clock)

    clock = time.perf_counter()
    located = _locate(proxy)
    timings["locate"] = _lap(clock)

    clock = time.perf_counter()
    bbox = _source_crop_box(located.bbox, proxy.shape[:2], (height, width), margin)
    x0, y0, x1, y1 = bbox
    crop = rgb[y0:y1, x0:x1]
    scale = min(1.0, target_long_side / max(x1 - x0, y1 - y0))
    work = _resize(crop, scale)
    grid_u, grid_v = _coarse_grid(bbox, work.shape[:2], (height, width))
    background = _upsample_field(located.background.render_rgb(grid_u, grid_v), work.shape[:2])
    timings["crop"] = _lap(clock)

    clock = time.perf_counter()
    distance, lightness_excess = _background_distance(work, background)
    shape = _subject_shape(work, distance, lightness_excess, located.background)
    timings["shape"] = _lap(clock)
    if not shape.mask.any():
        raise SubjectNotFound("no subject left after cleaning the working-resolution mask")

    clock = time.perf_counter()
    alpha, foreground = _known_background_matting(work, background, distance, shape.mask,
                                                  located.background.high_threshold)
    timings["matting"] = _lap(clock)

    covered = float(alpha.sum()) / (scale * scale) / float(height * width)
    stats = {
        "subject_fraction": round(covered, 6),
        "n_components": shape.n_components,
        "holes_cleared": shape.holes_cleared,
        "highlights_filled": shape.highlights_filled,
        "background_noise_delta_e": round(located.background.noise_delta_e, 3),
        "thresholds_delta_e": [round(located.background.low_threshold, 3),
                               round(located.background.high_threshold, 3)],
        "working_shape": [int(work.shape[0]), int(work.shape[1])],
        "timings_ms": {k: round(v * 1000.0, 2) for k, v in timings.items()},
    }
    background_rgb = tuple(float(round(c, 2)) for c in np.median(
        background[distance < located.background.low_threshold].reshape(-1, 3), axis=0)) \
        if (distance < located.background.low_threshold).any() else \
        tuple(float(round(c, 2)) for c in background.reshape(-1, 3).mean(axis=0))
    return Matte(foreground=foreground, alpha=alpha, bbox=bbox, scale=float(scale),
                 background_rgb=background_rgb, stats=stats)


def matte_to_full_frame(matte: Matte, shape: tuple[int, int]) -> np.ndarray:
    """Place a matte's alpha back into source-image coordinates.

    Args:
        matte: a Matte from ``segment_jewelry``.
        shape: (H, W) of the source image.

    Returns:
        HxW float32 alpha in [0, 1]; zero outside the matte's bbox.
    """
    height, width = int(shape[0]), int(shape[1])
    x0, y0, x1, y1 = matte.bbox
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise InvalidOptions(f"matte bbox {matte.bbox} does not fit a {height}x{width} image")
    full = np.zeros((height, width), np.float32)
    crop_alpha = matte.alpha
    if crop_alpha.shape != (y1 - y0, x1 - x0):
        crop_alpha = cv2.resize(crop_alpha, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    full[y0:y1, x0:x1] = np.clip(crop_alpha, 0.0, 1.0)
    return full


# --------------------------------------------------------------------------- localisation


@dataclass(frozen=True)
class _Localisation:
    mask: np.ndarray  # HxW bool, proxy resolution
    bbox: tuple[int, int, int, int]  # proxy pixels, exclusive
    background: BackgroundModel


def _locate(proxy: np.ndarray) -> _Localisation:
    height, width = proxy.shape[:2]
    grid_u, grid_v = _full_grid(height, width)
    border = _border_mask(height, width)

    # Pass 1: the border alone; pass 2: every pixel that pass 1 calls backdrop, which pins
    # the surface down in the middle of the frame where the subject's shadow gradient lives.
    model = _fit_background(proxy, grid_u, grid_v, border)
    distance, excess = _background_distance(proxy, model.render_rgb(grid_u, grid_v))
    subject = _hysteresis(distance, model.low_threshold, model.high_threshold)
    backdrop = ~cv2.dilate(subject.astype(np.uint8), _disc(5)).astype(bool)
    if backdrop.mean() > 0.2:
        model = _fit_background(proxy, grid_u, grid_v, backdrop, threshold_source=border)
        distance, excess = _background_distance(proxy, model.render_rgb(grid_u, grid_v))

    shape = _subject_shape(proxy, distance, excess, model)
    mask = shape.mask
    if not mask.any():
        raise SubjectNotFound("nothing in the image differs from the estimated backdrop")
    fraction = float(mask.mean())
    if fraction > 0.97:
        raise SubjectNotFound(
            f"the subject would cover {fraction:.0%} of the frame: no backdrop to separate from")
    ys, xs = np.nonzero(mask)
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return _Localisation(mask=mask, bbox=bbox, background=model)


def _fit_background(rgb: np.ndarray, grid_u: np.ndarray, grid_v: np.ndarray,
                    sample_mask: np.ndarray, threshold_source: np.ndarray | None = None,
                    ) -> BackgroundModel:
    """Robust polynomial fit of the backdrop colour to the pixels in ``sample_mask``."""
    rows, cols = np.nonzero(sample_mask)
    step = max(1, rows.size // 40000)
    rows, cols = rows[::step], cols[::step]
    colours = rgb[rows, cols].astype(np.float64)
    terms = _polynomial_terms(grid_u[rows, cols], grid_v[rows, cols])
    keep = np.ones(rows.size, bool)
    coefficients = np.zeros((terms.shape[1], 3))
    # Iteratively trimmed least squares: subject pixels that touch the border are outliers.
    for _ in range(4):
        if keep.sum() < terms.shape[1] * 4:
            break
        coefficients, *_ = np.linalg.lstsq(terms[keep], colours[keep], rcond=None)
        residual = np.linalg.norm(colours - terms @ coefficients, axis=1)
        spread = 1.4826 * np.median(np.abs(residual[keep] - np.median(residual[keep])))
        keep = residual <= np.median(residual[keep]) + max(3.0 * spread, 2.0)

    model = BackgroundModel(coefficients=coefficients, low_threshold=_MIN_LOW_THRESHOLD,
                            high_threshold=_MIN_HIGH_THRESHOLD, noise_delta_e=0.0)
    # Thresholds come from how far genuine backdrop pixels stray from the model: texture of
    # paper or wood grain raises them, a clean sweep leaves them at their floors.
    source = sample_mask if threshold_source is None else threshold_source
    distance, _ = _background_distance(rgb, model.render_rgb(grid_u, grid_v))
    values = distance[source]
    if values.size == 0:
        values = distance.ravel()
    inliers = values[values <= np.quantile(values, 0.9)]
    noise = float(np.quantile(inliers, 0.95)) if inliers.size else 0.0
    low = max(_MIN_LOW_THRESHOLD, 1.6 * noise)
    high = max(_MIN_HIGH_THRESHOLD, 2.8 * low)
    return BackgroundModel(coefficients=coefficients, low_threshold=low, high_threshold=high,
                           noise_delta_e=noise)


def _source_crop_box(proxy_bbox, proxy_shape, source_shape, margin) -> tuple[int, int, int, int]:
    ph, pw = proxy_shape
    sh, sw = source_shape
    fx, fy = sw / pw, sh / ph
    pad = margin * max(sh, sw)
    x0, y0, x1, y1 = proxy_bbox
    return (int(max(0, np.floor(x0 * fx - pad))), int(max(0, np.floor(y0 * fy - pad))),
            int(min(sw, np.ceil(x1 * fx + pad))), int(min(sh, np.ceil(y1 * fy + pad))))


# --------------------------------------------------------------------------- subject shape


@dataclass(frozen=True)
class _Shape:
    mask: np.ndarray  # HxW bool
    n_components: int
    holes_cleared: int
    highlights_filled: int


def _background_distance(rgb: np.ndarray, background_rgb: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Shadow-tolerant CIELAB distance to the backdrop, and lightness above it (delta-E)."""
    image_lab = _lab(rgb)
    background_lab = _lab_float(background_rgb)
    delta = image_lab - background_lab
    lightness = delta[..., 0]
    weighted_lightness = np.where(lightness < 0, lightness * _SHADOW_LIGHTNESS_WEIGHT, lightness)
    distance = np.sqrt(weighted_lightness ** 2 + delta[..., 1] ** 2 + delta[..., 2] ** 2)
    return distance.astype(np.float32), lightness.astype(np.float32)


def _subject_shape(rgb: np.ndarray, distance: np.ndarray, lightness_excess: np.ndarray,
                   model: BackgroundModel) -> _Shape:
    height, width = distance.shape
    subject = _hysteresis(distance, model.low_threshold, model.high_threshold)
    long_side = max(height, width)

    # Specks of dust and sensor noise: tiny components far below chain-link size.
    min_area = max(4, int(round((long_side / 1024.0) ** 2 * 6)))
    subject = _drop_small_components(subject, min_area)

    subject, cleared, filled = _resolve_holes(subject, lightness_excess, rgb, model, min_area)
    n_components = cv2.connectedComponents(subject.astype(np.uint8), connectivity=8)[0] - 1
    return _Shape(mask=subject, n_components=int(n_components), holes_cleared=cleared,
                  highlights_filled=filled)


def _resolve_holes(subject: np.ndarray, lightness_excess: np.ndarray, rgb: np.ndarray,
                   model: BackgroundModel, min_area: int) -> tuple[np.ndarray, int, int]:
    """Keep see-through holes as backdrop; fill enclosed blobs that are specular highlights.

    A hole seen through a ring shows the backdrop at most as bright as the backdrop (usually
    shaded by the metal), while a highlight on polished metal is brighter than the backdrop
    or clipped inside a much thicker piece of metal.
    """
    # 4-connected backdrop against 8-connected subject keeps the topology consistent.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (~subject).astype(np.uint8), connectivity=4)
    if count <= 1:
        return subject, 0, 0
    height, width = subject.shape
    touches_border = np.zeros(count, bool)
    for edge in (labels[0, :], labels[-1, :], labels[:, 0], labels[:, -1]):
        touches_border[np.unique(edge)] = True
    touches_border[0] = True  # label 0 is the subject itself
    hole_ids = np.nonzero(~touches_border)[0]
    if hole_ids.size == 0:
        return subject, 0, 0

    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    brighter = (lightness_excess > max(2.5, 2.0 * model.noise_delta_e)).astype(np.float64)
    bright_fraction = np.bincount(labels.ravel(), brighter.ravel(), minlength=count) / areas
    clipped = (rgb.min(axis=2) >= 250).astype(np.float64)
    clipped_fraction = np.bincount(labels.ravel(), clipped.ravel(), minlength=count) / areas

    hole_mask = np.isin(labels, hole_ids) if hole_ids.size < 64 else ~touches_border[labels]
    hole_radius = cv2.distanceTransform(hole_mask.astype(np.uint8), cv2.DIST_L2, 3)
    filled_radius = cv2.distanceTransform((subject | hole_mask).astype(np.uint8),
                                          cv2.DIST_L2, 3)
    radius_in_hole = ndimage.maximum(hole_radius, labels, hole_ids)
    radius_if_filled = ndimage.maximum(filled_radius, labels, hole_ids)

    tiny = areas[hole_ids] < min_area
    brighter_than_backdrop = bright_fraction[hole_ids] > 0.5
    # With a clipped white sweep nothing is brighter than the backdrop; then only a clipped
    # blob that is thin compared with the metal around it is taken for a highlight.
    slim_clipped = (clipped_fraction[hole_ids] > 0.5) & (
        np.asarray(radius_in_hole) < 0.3 * np.asarray(radius_if_filled))
    fill = tiny | brighter_than_backdrop | slim_clipped
    fill_ids = hole_ids[fill]
    if fill_ids.size:
        lookup = np.zeros(count, bool)
        lookup[fill_ids] = True
        subject = subject | lookup[labels]
    return subject, int((~fill).sum()), int(fill[~tiny].sum())


# --------------------------------------------------------------------------- matting


def _known_background_matting(rgb: np.ndarray, background: np.ndarray, distance: np.ndarray,
                              subject: np.ndarray, high_threshold: float
                              ) -> tuple[np.ndarray, np.ndarray]:
    """Difference matting along the subject boundary; returns (alpha, decontaminated rgb)."""
    subject_u8 = subject.astype(np.uint8)
    core = cv2.erode(subject_u8, _disc(2)).astype(bool)
    reach = cv2.dilate(subject_u8, _disc(3)).astype(bool)
    band = reach & ~core

    image = rgb.astype(np.float32)
    confident = (subject & (distance >= high_threshold)).astype(np.float32)
    confident_inner = cv2.erode(subject_u8, _disc(1)).astype(np.float32) * confident
    weights = confident_inner + 0.1 * confident
    subject_colour = _propagate_colours(image, weights, band)

    rows, cols = np.nonzero(band)
    pixel = image[rows, cols]
    backdrop = background[rows, cols]
    colour = subject_colour[rows, cols]
    contrast = colour - backdrop
    contrast_sq = np.einsum("ij,ij->i", contrast, contrast)
    projected = np.einsum("ij,ij->i", pixel - backdrop, contrast) / np.maximum(contrast_sq, 1.0)
    projected = np.clip(projected, 0.0, 1.0)

    # Where the subject colour is close to the backdrop (white metal on a white sweep) the
    # projection is ill-conditioned; fall back on the smoothed shape there.
    shape_alpha = cv2.blur(subject.astype(np.float32), (3, 3))[rows, cols]
    conditioning = np.clip((np.sqrt(contrast_sq) - 15.0) / 25.0, 0.0, 1.0)
    band_alpha = conditioning * projected + (1.0 - conditioning) * shape_alpha
    # Backdrop noise gives a few percent of spurious alpha; a small dead zone removes it.
    band_alpha = np.clip((band_alpha - 0.04) / 0.92, 0.0, 1.0)

    alpha = core.astype(np.float32)
    alpha[rows, cols] = band_alpha

    foreground = image.copy()
    safe_alpha = np.maximum(band_alpha, 1e-3)[:, None]
    solved = backdrop + (pixel - backdrop) / safe_alpha
    # Low alpha amplifies noise in the solved colour; lean on the propagated colour there.
    trust = np.clip((band_alpha - 0.05) / 0.45, 0.0, 1.0)[:, None]
    foreground[rows, cols] = trust * solved + (1.0 - trust) * colour
    foreground = np.clip(foreground + 0.5, 0, 255).astype(np.uint8)
    return alpha.astype(np.float32), foreground


def _propagate_colours(image: np.ndarray, weights: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Normalised convolution of subject colours at growing radii (coarse fills the gaps)."""
    result = np.zeros_like(image)
    pending = where.copy()
    height, width = weights.shape
    for factor, sigma in ((1, 2.0), (4, 2.0), (16, 2.0), (64, 2.0)):
        if not pending.any():
            break
        if factor == 1:
            weighted = image * weights[..., None]
            small_w, small_i = weights, weighted
        else:
            size = (max(1, width // factor), max(1, height // factor))
            small_w = cv2.resize(weights, size, interpolation=cv2.INTER_AREA)
            small_i = cv2.resize(image * weights[..., None], size, interpolation=cv2.INTER_AREA)
        den = cv2.GaussianBlur(small_w, (0, 0), sigma)
        num = cv2.GaussianBlur(small_i, (0, 0), sigma)
        if factor != 1:
            den = cv2.resize(den, (width, height), interpolation=cv2.INTER_LINEAR)
            num = cv2.resize(num, (width, height), interpolation=cv2.INTER_LINEAR)
        ready = pending & (den > 0.02)
        result[ready] = num[ready] / den[ready][:, None]
        pending &= ~ready
    if pending.any():
        result[pending] = image[pending]
    return result


# --------------------------------------------------------------------------- helpers


def _check_rgb(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 \
            or rgb.shape[2] != 3:
        raise InvalidImage(
            "expected an HxWx3 uint8 RGB array, got "
            f"{type(rgb).__name__} {getattr(rgb, 'shape', None)} {getattr(rgb, 'dtype', None)}")
    if min(rgb.shape[:2]) < 16:
        raise InvalidImage(f"image too small to segment: {rgb.shape[0]}x{rgb.shape[1]}")


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return rgb
    height, width = rgb.shape[:2]
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 CIELAB (L 0-100, a/b signed) via OpenCV's 8-bit tables."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2Lab).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0
    return lab


def _lab_float(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb, np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _polynomial_terms(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    u = np.asarray(u, np.float64)
    v = np.asarray(v, np.float64)
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=-1)


def _full_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    u = (np.arange(width) + 0.5) / width * 2.0 - 1.0
    v = (np.arange(height) + 0.5) / height * 2.0 - 1.0
    return np.meshgrid(u, v)


def _coarse_grid(bbox, work_shape, source_shape, cell: int = 16):
    """Normalised source coordinates of a coarse grid whose bilinear upsample is the crop."""
    x0, y0, x1, y1 = bbox
    sh, sw = source_shape
    wh, ww = work_shape
    gh, gw = max(2, -(-wh // cell)), max(2, -(-ww // cell))
    # Centres of coarse cells expressed in working pixels, as cv2.resize maps them.
    xs_work = (np.arange(gw) + 0.5) * ww / gw - 0.5
    ys_work = (np.arange(gh) + 0.5) * wh / gh - 0.5
    xs_src = x0 + (xs_work + 0.5) * (x1 - x0) / ww
    ys_src = y0 + (ys_work + 0.5) * (y1 - y0) / wh
    return np.meshgrid(xs_src / sw * 2.0 - 1.0, ys_src / sh * 2.0 - 1.0)


def _upsample_field(field: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(field, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _border_mask(height: int, width: int) -> np.ndarray:
    strip = max(3, int(round(_BORDER_FRACTION * min(height, width))))
    mask = np.zeros((height, width), bool)
    mask[:strip] = mask[-strip:] = True
    mask[:, :strip] = mask[:, -strip:] = True
    return mask


def _hysteresis(score: np.ndarray, low: float, high: float) -> np.ndarray:
    """Components of ``score > low`` (8-connected) that contain a pixel above ``high``."""
    count, labels = cv2.connectedComponents((score > low).astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(score.shape, bool)
    strong = np.zeros(count, bool)
    strong[np.unique(labels[score > high])] = True
    strong[0] = False
    return strong[labels]


def _drop_small_components(mask: np.ndarray, min_area: int) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                               connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels]


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _lap(start: float) -> float:
    return time.perf_counter() - start


# --------------------------------------------------------------------------- evaluation


def mask_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two HxW boolean masks (1.0 when both are empty)."""
    pred = np.asarray(pred, bool)
    truth = np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise InvalidOptions(f"mask shapes differ: {pred.shape} vs {truth.shape}")
    union = np.logical_or(pred, truth).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, truth).sum() / union)


def mask_iou_band(pred: np.ndarray, truth: np.ndarray, band_px: float | None = None) -> float:
    """IoU ignoring pixels within ``band_px`` of the ground-truth boundary.

    Hand-drawn ground truth is a few pixels off the real edge; this scores the shape, not the
    brush. ``band_px`` defaults to max(3, 1% of the longest side).
    """
    pred = np.asarray(pred, bool)
    truth = np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise InvalidOptions(f"mask shapes differ: {pred.shape} vs {truth.shape}")
    if band_px is None:
        band_px = max(3.0, 0.01 * max(truth.shape))
    inside = cv2.distanceTransform(truth.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~truth).astype(np.uint8), cv2.DIST_L2, 5)
    scored = np.where(truth, inside, outside) > band_px
    return mask_iou(pred[scored], truth[scored])
