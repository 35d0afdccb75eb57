"""Classical jewelry segmentation: a smooth backdrop model plus known-background matting.

Jewelry packshots sit on plain backdrops (white sweep, grey card, paper, light wood). The
backdrop is modelled from the image border as a low-order polynomial colour surface, which
absorbs vignetting and light fall-off, and every pixel is scored by its CIELAB distance to the
local backdrop colour (shadows, being darker backdrop, count for less). Hysteresis on that score
gives candidate subject pixels; enclosed holes that show backdrop (ring interiors, chain links)
stay backdrop while highlights, stones and engraving that merely resemble it are filled; a
seeded watershed then snaps the outline to the in-focus metal edge so soft bounce light and
shadows on the sweep fall away.

Because the backdrop colour ``B`` is known at every pixel, the compositing equation
``I = alpha * F + (1 - alpha) * B`` is solved per pixel along the boundary (difference
matting): ``alpha`` is the projection of ``I - B`` on ``F - B`` with ``F`` propagated from
nearby confident subject pixels. This keeps sub-pixel alpha on two-pixel chains and prongs at a
fraction of the cost of a closed-form Laplacian solve, and the same equation gives the
decontaminated edge colour ``F = B + (I - B) / alpha``, so no backdrop tint rims the composite.

Conventions: images are HxWx3 uint8 RGB, alpha is HxW float32 in [0, 1].
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from lumograph.models.common.errors import InvalidOptions, SubjectNotFound
from lumograph.models.common.filters import gradient_magnitude
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.masks import border_mask, disc, drop_small_components
from lumograph.models.segmenter.light_backdrop import is_light_smooth, light_backdrop_shape

PROXY_LONG_SIDE = 1024
SHAPE_LONG_SIDE = 1024
BACKEND_NAME = "classical"

_BORDER_FRACTION = 0.03
# Floors for the backdrop-distance thresholds (CIELAB delta-E): a clipped white sweep has no
# noise at all, and the thresholds must not collapse with it.
_MIN_LOW_THRESHOLD = 4.0
_MIN_HIGH_THRESHOLD = 14.0
# Shadows cast on the backdrop are darker backdrop: lightness below the backdrop counts for
# less than hue, so soft shadows stay out while dark metal still stands out.
_SHADOW_LIGHTNESS_WEIGHT = 0.4
# How deep into the candidate mask the edge-snapping watershed may move the outline, as a
# fraction of the long side (bounce light and soft shadows are about this wide).
_SOFT_MARGIN_FRACTION = 0.08
# Fine-detail threshold: at least this (delta-E) and this many times the backdrop's own grain.
_TEXTURE_FLOOR = 0.5
_TEXTURE_GAIN = 1.5
# Blurred lightness gradient (delta-E per pixel) above which contrasty pixels seed metal.
_GRADIENT_SEED_LEVEL = 2.0
# Below this backdrop noise (delta-E) long faint thin lines are trusted to be chains.
_CLEAN_BACKDROP_NOISE = 2.0
_THIN_MIN_LENGTH_FRACTION = 0.02
# Shadows darker than this fraction of the backdrop are not compared as shadows.
_MIN_SHADOW_DIMMING = 0.25
# Backdrop distance (delta-E) to 8-bit watershed guide levels.
_GUIDE_GAIN = 4.0
# Components smaller than this share of the whole subject are dust, not jewelry.
_DUST_SHARE = 0.001
# A hole this much narrower than the metal around it, inside metal this much darker than
# the backdrop (delta-E), is a specular streak.
_HIGHLIGHT_SLIMNESS = 0.3
_HIGHLIGHT_RIM_DARKNESS = 15.0
# Grey metal darker than the backdrop looks like a shadow by colour alone; it is told by its
# outline. An edge is "sharp" when the lightness gradient at sigma 1 is this many times the
# gradient at sigma 4 (a step blurred by <~2 px; a shadow's penumbra scores ~1) and at least
# this steep (delta-E per pixel). A dark region counts as metal when this share of its outline
# is sharp.
_SHARP_RATIO = 2.0
_SHARP_MIN_GRADIENT = 2.0
_SHARP_OUTLINE_SHARE = 0.6
# Sampling cap for the robust backdrop fit and its statistics.
_MAX_SAMPLES = 10000


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
    backend: str = BACKEND_NAME
    stats: dict = field(default_factory=dict)


@dataclass(frozen=True)
class BackgroundModel:
    """Backdrop colour as a quadratic surface over normalised image coordinates.

    coefficients: (6, 3) float64; RGB (0-255) = terms(u, v) @ coefficients with u, v in
        [-1, 1] across the whole image, so one model serves the proxy and any crop.
    low_threshold, high_threshold: hysteresis thresholds on the backdrop distance (delta-E).
    noise_delta_e: spread of genuine backdrop pixels around the model (delta-E).
    texture_threshold: fine-detail level (delta-E) that backdrop grain does not reach.
    """

    coefficients: np.ndarray
    low_threshold: float
    high_threshold: float
    noise_delta_e: float
    texture_threshold: float

    def render(self, bbox: tuple[int, int, int, int], work_shape: tuple[int, int],
               source_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Backdrop over a source crop resampled to ``work_shape`` (h, w).

        Returns (rgb, lab): hxwx3 float32 RGB 0-255 and hxwx3 float32 CIELAB (L 0-100).
        The surface is smooth, so both are evaluated on a coarse grid and upsampled.
        """
        rgb = self._coarse_rgb(bbox, work_shape, source_shape)
        lab = cv2.cvtColor(rgb / 255.0, cv2.COLOR_RGB2Lab)
        size = (work_shape[1], work_shape[0])
        return (cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR),
                cv2.resize(lab, size, interpolation=cv2.INTER_LINEAR))

    def render_rgb(self, bbox: tuple[int, int, int, int], work_shape: tuple[int, int],
                   source_shape: tuple[int, int]) -> np.ndarray:
        """The RGB half of :meth:`render` alone (hxwx3 float32, 0-255), for callers that
        need no CIELAB: at working resolution each half is a 30+ MB array."""
        rgb = self._coarse_rgb(bbox, work_shape, source_shape)
        return cv2.resize(rgb, (work_shape[1], work_shape[0]), interpolation=cv2.INTER_LINEAR)

    @property
    def lightness(self) -> float:
        """CIELAB lightness (0-100) of the backdrop at the image centre."""
        rgb = np.clip(self.coefficients[0], 0.0, 255.0).astype(np.float32).reshape(1, 1, 3) / 255.0
        return float(cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[0, 0, 0])

    def _coarse_rgb(self, bbox, work_shape, source_shape) -> np.ndarray:
        grid_u, grid_v = _coarse_grid(bbox, work_shape, source_shape)
        rgb = np.clip(_polynomial_terms(grid_u, grid_v) @ self.coefficients, 0.0, 255.0)
        return rgb.astype(np.float32)


# --------------------------------------------------------------------------- public API


def locate_subject(proxy_rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Coarse subject localisation on a small proxy (about 1024 px long side).

    Args:
        proxy_rgb: HxWx3 uint8 RGB (meant for ~1024 px; larger works but is slower).

    Returns:
        (coarse_mask, bbox): coarse_mask is HxW float32 in {0, 1} (1 = subject; ring holes
        are 0); bbox is (x0, y0, x1, y1) in proxy pixels, x1/y1 exclusive, tight around it.

    Raises:
        InvalidImage: not an HxWx3 uint8 array, or smaller than 16 px.
        SubjectNotFound: nothing separates from the backdrop (a flat image, or no backdrop).
    """
    found = localise_subject(proxy_rgb)
    return found.mask.astype(np.float32), found.bbox


def localise_subject(proxy_rgb: np.ndarray) -> "Localisation":
    """The coarse localisation ``segment_jewelry`` starts from, on a ~1024 px proxy.

    proxy_rgb: HxWx3 uint8 RGB. Returns a :class:`Localisation` (mask HxW bool, bbox in
    proxy pixels, the fitted backdrop model). Raises ``InvalidImage`` / ``SubjectNotFound``
    as :func:`locate_subject`. A caller that has already localised the proxy
    ``segment_jewelry`` will make (the source downscaled with INTER_AREA to
    ``PROXY_LONG_SIDE``) can hand the result back through its ``localise`` argument
    instead of paying for it twice.
    """
    require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=16, purpose="to segment")
    return _locate(proxy_rgb)


def segment_jewelry(
    rgb: np.ndarray, *, target_long_side: int = 2048, margin: float = 0.04,
    localise: Callable[[np.ndarray], "Localisation"] | None = None,
) -> Matte:
    """Cut a jewelry piece out of a plain-backdrop photo.

    Localises the subject on a 1024 px proxy, crops the source around it plus ``margin``,
    resizes the crop so its long side is at most ``target_long_side`` and mattes there.

    Args:
        rgb: HxWx3 uint8 RGB source image (never modified; may be read-only).
        target_long_side: cap on the working crop's long side in pixels (>= 64).
        margin: context kept on each side of the subject box, as a fraction of the source
            image's long side, in [0, 0.5].
        localise: how to localise the subject on the 1024 px proxy (HxWx3 uint8 ->
            :class:`Localisation`); None runs :func:`localise_subject`. A memo of earlier
            localisations goes here; it must return what ``localise_subject`` would.

    Returns:
        Matte: foreground hxwx3 uint8 RGB, alpha hxw float32 in [0, 1], bbox in source pixels.

    Raises:
        InvalidImage: ``rgb`` is not an HxWx3 uint8 array, or smaller than 16 px.
        InvalidOptions: ``target_long_side`` or ``margin`` out of range.
        SubjectNotFound: nothing can be separated from the backdrop.
    """
    require_rgb_u8(rgb, min_side=16, purpose="to segment")
    if isinstance(target_long_side, bool) or not isinstance(target_long_side, (int, np.integer)) \
            or target_long_side < 64:
        raise InvalidOptions(f"target_long_side must be an integer >= 64, got {target_long_side!r}")
    if not isinstance(margin, (int, float, np.floating)) or not 0.0 <= float(margin) <= 0.5:
        raise InvalidOptions(f"margin must be a number within [0, 0.5], got {margin!r}")

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    height, width = rgb.shape[:2]
    proxy = _resize(rgb, min(1.0, PROXY_LONG_SIDE / max(height, width)))
    timings["proxy"] = _lap(clock)

    clock = time.perf_counter()
    located = (localise or _locate)(proxy)
    model = located.background
    timings["locate"] = _lap(clock)

    clock = time.perf_counter()
    bbox = _source_crop_box(located.bbox, proxy.shape[:2], (height, width), float(margin))
    x0, y0, x1, y1 = bbox
    scale = min(1.0, target_long_side / max(x1 - x0, y1 - y0))
    work = _resize(rgb[y0:y1, x0:x1], scale)
    # Shape decisions (holes, edges) need no more than ~1 MP; alpha and edge colours are
    # then solved at full working resolution in a band around the upsampled outline.
    shape_image = _resize(work, min(1.0, SHAPE_LONG_SIDE / max(work.shape[:2])))
    features = _measure(shape_image, model.render(bbox, shape_image.shape[:2],
                                                  (height, width))[1])
    timings["measure"] = _lap(clock)

    clock = time.perf_counter()
    shape = _subject_shape(features, model)
    timings["shape"] = _lap(clock)
    if not shape.mask.any():
        raise SubjectNotFound("no subject left at working resolution after cleaning")

    clock = time.perf_counter()
    background_rgb = model.render_rgb(bbox, work.shape[:2], (height, width))
    alpha, foreground = _known_background_matting(work, background_rgb, shape_image,
                                                  shape.mask, features.distance, model,
                                                  outlined=shape.outlined, sure_backdrop=shape.backdrop)
    timings["matting"] = _lap(clock)

    stats = {
        "subject_fraction": round(float(alpha.sum()) / (scale * scale) / (height * width), 6),
        "n_components": shape.n_components,
        "holes_cleared": shape.holes_cleared,
        "highlights_filled": shape.highlights_filled,
        "shape_method": shape.method,
        "shape_thresholds": shape.thresholds,
        "background_noise_delta_e": round(model.noise_delta_e, 3),
        "thresholds_delta_e": [round(model.low_threshold, 3), round(model.high_threshold, 3)],
        "working_shape": [int(work.shape[0]), int(work.shape[1])],
        "timings_ms": {name: round(seconds * 1000.0, 2) for name, seconds in timings.items()},
    }
    return Matte(foreground=foreground, alpha=alpha, bbox=bbox, scale=float(scale),
                 background_rgb=_backdrop_colour(model, bbox, (height, width)), stats=stats)


def matte_to_full_frame(matte: Matte, shape: tuple[int, int]) -> np.ndarray:
    """Place a matte's alpha back into source-image coordinates.

    Args:
        matte: a Matte from ``segment_jewelry``.
        shape: (H, W) of the source image (extra trailing dimensions are ignored).

    Returns:
        HxW float32 alpha in [0, 1]; zero outside the matte's bbox.

    Raises:
        InvalidOptions: the matte's bbox does not fit inside ``shape``.
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


# --------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class _Features:
    """Per-pixel measurements of one image against its backdrop (HxW float32 unless noted)."""

    distance: np.ndarray  # shadow-tolerant delta-E to the backdrop
    lightness_delta: np.ndarray  # L - L_backdrop
    chroma_delta: np.ndarray  # hue/saturation distance to the backdrop (delta a, b)
    detail: np.ndarray  # fine-scale lightness detail (delta-E), see _texture
    gradient: np.ndarray  # 5x5-averaged lightness gradient (delta-E per pixel)


def _measure(rgb: np.ndarray, background_lab: np.ndarray,
             texture: tuple[np.ndarray, np.ndarray] | None = None) -> _Features:
    """Backdrop distances and texture of ``rgb`` (hxwx3 uint8) against ``background_lab``.

    ``background_lab`` is hxwx3 float32 CIELAB. ``texture`` (detail, gradient) depends only
    on the image and may be passed in again when the same image is measured against a
    refined backdrop.
    """
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2Lab).astype(np.float32)
    lightness = lab[..., 0] * np.float32(100.0 / 255.0)
    distance, lightness_delta, chroma_delta = _backdrop_distance(
        lightness, lab[..., 1] - 128.0, lab[..., 2] - 128.0, background_lab)
    detail, gradient = texture if texture is not None else _texture(lightness)
    return _Features(distance=distance, lightness_delta=lightness_delta,
                     chroma_delta=chroma_delta, detail=detail, gradient=gradient)


def _backdrop_distance(lightness: np.ndarray, a: np.ndarray, b: np.ndarray,
                       background_lab: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shadow-tolerant CIELAB distance to the backdrop: (distance, lightness delta, chroma delta).

    Works on any matching shapes (``background_lab`` has a trailing axis of 3). Hue is
    compared with the backdrop darkened to the pixel's own lightness: a shadow is the backdrop
    scaled down, and in the cube-root range of CIELAB scaling XYZ by k scales L* + 16, a* and
    b* alike by k^(1/3). Lightness below the backdrop is down-weighted for the same reason.
    """
    # In place where possible: this runs on every pixel of the proxy several times.
    background_lightness = background_lab[..., 0]
    lightness_delta = lightness - background_lightness
    dimming = lightness + 16.0
    dimming /= background_lightness + 16.0
    np.clip(dimming, _MIN_SHADOW_DIMMING ** (1.0 / 3.0), 1.0, out=dimming)
    delta_a = background_lab[..., 1] * dimming
    np.subtract(a, delta_a, out=delta_a)
    delta_b = np.multiply(background_lab[..., 2], dimming, out=dimming)
    np.subtract(b, delta_b, out=delta_b)
    chroma_delta = np.hypot(delta_a, delta_b, out=delta_a)
    weighted = lightness_delta * _SHADOW_LIGHTNESS_WEIGHT
    np.copyto(weighted, lightness_delta, where=~(lightness_delta < 0))
    distance = np.hypot(weighted, chroma_delta, out=weighted)
    return (distance.astype(np.float32, copy=False), lightness_delta.astype(np.float32, copy=False),
            chroma_delta.astype(np.float32, copy=False))


def _texture(lightness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fine detail, blurred gradient) of CIELAB lightness, both HxW float32 in delta-E.

    Detail is the 5x5 mean of |L - Gaussian(L, 1.5)|: hammered or engraved metal, facets and
    chain links score high, while shadows and bounce light, however steep, are smooth ramps
    that score near zero. Gradient is the 5x5 mean Sobel magnitude of the smoothed L.
    """
    smooth = cv2.GaussianBlur(lightness, (0, 0), 1.5)
    detail = cv2.blur(cv2.absdiff(lightness, smooth), (5, 5))
    gradient = cv2.magnitude(cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3),
                             cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3))
    return detail, cv2.blur(gradient, (5, 5)) * np.float32(1.0 / 8.0)


# --------------------------------------------------------------------------- localisation


@dataclass(frozen=True)
class Localisation:
    """Where the subject is on a proxy, and the backdrop around it.

    mask: HxW bool at proxy resolution (True = subject). bbox: (x0, y0, x1, y1) in proxy
    pixels, exclusive ends. background: the backdrop model fitted on the proxy.
    """

    mask: np.ndarray
    bbox: tuple[int, int, int, int]
    background: BackgroundModel


def _locate(proxy: np.ndarray) -> Localisation:
    height, width = proxy.shape[:2]
    whole = (0, 0, width, height)
    lightness = cv2.cvtColor(np.ascontiguousarray(proxy), cv2.COLOR_RGB2Lab)[..., 0]
    texture = _texture(lightness.astype(np.float32) * np.float32(100.0 / 255.0))
    border = border_mask(height, width, _BORDER_FRACTION)

    # Pass 1 fits the border alone; pass 2 refits on everything pass 1 calls backdrop, which
    # pins the surface down in the middle of the frame where vignetting and fall-off live.
    model = _fit_background(proxy, texture[0], border, border)
    features = _measure(proxy, model.render(whole, (height, width), (height, width))[1], texture)
    rough = _hysteresis(features.distance, model.low_threshold, model.high_threshold)
    backdrop = ~cv2.dilate(rough.astype(np.uint8), disc(5)).astype(bool)
    if backdrop.mean() > 0.2:
        model = _fit_background(proxy, texture[0], backdrop, border)
        features = _measure(proxy, model.render(whole, (height, width), (height, width))[1],
                            texture)

    mask = _subject_shape(features, model).mask
    details = {"backdrop_noise_delta_e": round(model.noise_delta_e, 3),
               "low_threshold_delta_e": round(model.low_threshold, 3)}
    if not mask.any():
        raise SubjectNotFound(
            "nothing separates from the backdrop estimated at the image border (a flat image, "
            f"or a busy scene: backdrop noise {model.noise_delta_e:.1f} delta-E)", details=details)
    fraction = float(mask.mean())
    if fraction > 0.97:
        raise SubjectNotFound(
            f"the subject would cover {fraction:.0%} of the frame: no backdrop to separate from",
            details=details)
    rows, cols = np.nonzero(mask)
    bbox = (int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1)
    return Localisation(mask=mask, bbox=bbox, background=model)


def _fit_background(rgb: np.ndarray, detail: np.ndarray, sample_mask: np.ndarray,
                    threshold_mask: np.ndarray) -> BackgroundModel:
    """Robust quadratic fit of the backdrop to ``sample_mask`` (HxW bool) of ``rgb``.

    The hysteresis and texture thresholds come from the pixels in ``threshold_mask``.
    """
    height, width = rgb.shape[:2]
    rows, cols = _subsample(sample_mask)
    colours = rgb[rows, cols].astype(np.float64)
    terms = _polynomial_terms(*_normalised(rows, cols, height, width))
    keep = np.ones(rows.size, bool)
    coefficients = np.zeros((terms.shape[1], 3))
    coefficients[0] = np.median(colours, axis=0) if colours.size else 0.0
    # Iteratively trimmed least squares: subject pixels that touch the border are outliers.
    for _ in range(3):
        if keep.sum() < terms.shape[1] * 4:
            break
        coefficients = _least_squares(terms[keep], colours[keep])
        residual = np.linalg.norm(colours - terms @ coefficients, axis=1)
        centre = np.median(residual[keep])
        spread = 1.4826 * np.median(np.abs(residual[keep] - centre))
        keep = residual <= centre + max(3.0 * spread, 2.0)

    # Thresholds follow how far genuine backdrop strays from the model: paper texture or wood
    # grain raises them, a clean sweep leaves them at their floors. The worst 10 % are taken
    # for subject pixels on the border and ignored.
    rows, cols = _subsample(threshold_mask)
    observed = rgb[rows, cols].astype(np.float32).reshape(-1, 1, 3) / 255.0
    modelled = np.clip(_polynomial_terms(*_normalised(rows, cols, height, width))
                       @ coefficients, 0.0, 255.0).astype(np.float32).reshape(-1, 1, 3) / 255.0
    observed_lab = cv2.cvtColor(observed, cv2.COLOR_RGB2Lab)[:, 0]
    distance = _backdrop_distance(observed_lab[:, 0], observed_lab[:, 1], observed_lab[:, 2],
                                  cv2.cvtColor(modelled, cv2.COLOR_RGB2Lab)[:, 0])[0]
    if distance.size:
        inliers = distance[distance <= np.quantile(distance, 0.9)]
        noise = float(np.quantile(inliers, 0.95))
        grain = float(np.quantile(detail[rows, cols], 0.99))
    else:
        noise, grain = 0.0, 0.0
    low = max(_MIN_LOW_THRESHOLD, 1.6 * noise)
    high = max(_MIN_HIGH_THRESHOLD, 2.8 * low)
    return BackgroundModel(coefficients=coefficients, low_threshold=low, high_threshold=high,
                           noise_delta_e=noise,
                           texture_threshold=max(_TEXTURE_FLOOR, _TEXTURE_GAIN * grain))


def _least_squares(terms: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares coefficients of ``terms @ x = values`` (Nx6 float64, Nx3 float64).

    The normal equations of six well-conditioned polynomial terms over [-1, 1] are as
    exact as an SVD solve here and ~20x cheaper; a rank-deficient sample (every point on
    one line) falls back to the minimum-norm SVD solution.
    """
    try:
        return np.linalg.solve(terms.T @ terms, terms.T @ values)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(terms, values, rcond=None)[0]


def _source_crop_box(proxy_bbox, proxy_shape, source_shape, margin) -> tuple[int, int, int, int]:
    proxy_height, proxy_width = proxy_shape
    height, width = source_shape
    fx, fy = width / proxy_width, height / proxy_height
    pad = margin * max(height, width)
    x0, y0, x1, y1 = proxy_bbox
    return (int(max(0, np.floor(x0 * fx - pad))), int(max(0, np.floor(y0 * fy - pad))),
            int(min(width, np.ceil(x1 * fx + pad))), int(min(height, np.ceil(y1 * fy + pad))))


# --------------------------------------------------------------------------- subject shape


@dataclass(frozen=True)
class _Shape:
    mask: np.ndarray  # HxW bool
    n_components: int
    holes_cleared: int
    highlights_filled: int
    outlined: np.ndarray  # HxW bool: dark regions kept for their sharp outline (grey metal)
    method: str = "general"  # "light_backdrop" on a light smooth sweep (light_backdrop.py)
    backdrop: np.ndarray | None = None  # HxW bool: sure backdrop beside the outline (alpha 0)
    thresholds: dict = field(default_factory=dict)


def _subject_shape(features: _Features, model: BackgroundModel) -> _Shape:
    """Binary subject. On a light smooth backdrop, edges and closure (light_backdrop.py);
    elsewhere hysteresis on the backdrop distance, hole triage, then edge snapping."""
    long_side = max(features.distance.shape)
    if is_light_smooth(model.lightness, model.noise_delta_e):
        light = light_backdrop_shape(
            features.lightness_delta, features.distance, features.detail,
            noise_delta_e=model.noise_delta_e, strong_delta_e=model.high_threshold,
            texture_threshold=model.texture_threshold)
        n_components = cv2.connectedComponents(light.mask.astype(np.uint8), connectivity=8)[0] - 1
        return _Shape(mask=light.mask, n_components=int(n_components), holes_cleared=light.holes_cleared,
                      highlights_filled=light.holes_filled, outlined=np.zeros(light.mask.shape, bool),
                      method="light_backdrop", thresholds=light.thresholds, backdrop=light.backdrop)
    candidates = _candidates(features.distance, model)
    # Specks of dust and sensor noise: far below chain-link size.
    min_area = max(4, int(round((long_side / 1024.0) ** 2 * 6)))
    outlined = _sharp_outlined_dark_regions(features, model, candidates, min_area)
    candidates = drop_small_components(candidates | outlined, min_area)
    # Holes are judged on the raw candidates, before edge snapping, so that a highlight's soft
    # halo cannot make it look like a see-through hole.
    candidates, cleared, filled = _resolve_holes(candidates, features, model, min_area)
    subject = _snap_to_edges(candidates, features, model, protected=outlined)
    subject = drop_small_components(subject, max(min_area, int(_DUST_SHARE * subject.sum())))
    n_components = cv2.connectedComponents(subject.astype(np.uint8), connectivity=8)[0] - 1
    return _Shape(mask=subject, n_components=int(n_components), holes_cleared=cleared,
                  highlights_filled=filled, outlined=outlined & subject)


def _sharp_outlined_dark_regions(features: _Features, model: BackgroundModel,
                                 candidates: np.ndarray, min_area: int) -> np.ndarray:
    """Regions darker than the backdrop that sharp edges wall off from it (HxW bool).

    Plain grey metal on a lighter backdrop has the colour of a shadow, which the backdrop
    distance rightly discounts. What a shadow never has is a crisp outline. Sharp edges are
    found by comparing fine and coarse lightness gradients; the backdrop is flooded from the
    image border through everything that is not a sharp edge, and the dark regions it cannot
    reach, which sit directly against the reached backdrop and are mostly outlined by sharp
    edges, are kept. Regions nested inside those (a ring's interior) are left to hole triage.
    """
    delta = features.lightness_delta
    fine = gradient_magnitude(delta, 1.0)
    coarse = gradient_magnitude(delta, 4.0)
    steep = max(_SHARP_MIN_GRADIENT, 0.5 * model.low_threshold)
    sharp = (fine >= steep) & (fine >= _SHARP_RATIO * coarse)
    # Thickened so that one-pixel breaks in an outline do not let the backdrop flood in.
    walls = cv2.dilate(sharp.astype(np.uint8), disc(2)).astype(bool)

    count, labels = cv2.connectedComponents((~walls).astype(np.uint8), connectivity=4)
    if count <= 2:
        return np.zeros(delta.shape, bool)
    reached = np.zeros(count, bool)
    for edge in (labels[0, :], labels[-1, :], labels[:, 0], labels[:, -1]):
        reached[np.unique(edge)] = True
    reached[0] = False  # label 0 is the walls themselves
    backdrop = reached[labels]
    near_backdrop = cv2.dilate(backdrop.astype(np.uint8), disc(7)).astype(bool)

    dark = delta < -model.low_threshold
    flat = labels[~walls]
    areas = np.bincount(flat, minlength=count).astype(np.float64)
    dark_share = np.bincount(flat, dark[~walls], minlength=count) / np.maximum(areas, 1.0)
    # Outline of each region: its pixels next to a wall; sharp share is judged there.
    outline = ~walls & cv2.dilate(walls.astype(np.uint8), disc(1)).astype(bool)
    region_ids = labels[outline]
    outline_len = np.bincount(region_ids, minlength=count).astype(np.float64)
    touches_backdrop = np.bincount(region_ids, near_backdrop[outline], minlength=count) > 0
    # How much of the outline borders sharp walls rather than a candidate region (the
    # region's own metal neighbours count as good boundaries too).
    next_to_sharp = cv2.dilate(sharp.astype(np.uint8), disc(4)).astype(bool) | cv2.dilate(
        candidates.astype(np.uint8), disc(2)).astype(bool)
    sharp_share = np.bincount(region_ids, next_to_sharp[outline], minlength=count) / np.maximum(
        outline_len, 1.0)
    keep = (~reached & touches_backdrop & (dark_share > 0.6) & (areas >= 4 * min_area)
            & (sharp_share >= _SHARP_OUTLINE_SHARE))
    keep[0] = False
    if not keep.any():
        return np.zeros(delta.shape, bool)
    regions = keep[labels]
    # The walls between a kept region and its backdrop are the metal's own edge pixels.
    return regions | (walls & cv2.dilate(regions.astype(np.uint8), disc(3)).astype(bool)
                      & (delta < 0))


def _candidates(distance: np.ndarray, model: BackgroundModel) -> np.ndarray:
    """Hysteresis on the backdrop distance, plus faint thin lines on a clean backdrop.

    A fine chain downsampled to a pixel or less never reaches the high threshold, but on a
    clean sweep nothing else draws a long thin line that stands out from the noise: such
    components are kept when they are long, thin and clearly above the low threshold.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (distance > model.low_threshold).astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(distance.shape, bool)
    keep = np.zeros(count, bool)
    keep[labels[distance > model.high_threshold]] = True
    if model.noise_delta_e < _CLEAN_BACKDROP_NOISE:
        weak = labels > 0
        thick = cv2.morphologyEx(weak.astype(np.uint8), cv2.MORPH_OPEN, disc(1)).astype(bool)
        flat_labels = labels[weak]
        areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
        thick_share = np.bincount(flat_labels, thick[weak], minlength=count) / np.maximum(areas, 1)
        mean_distance = np.bincount(flat_labels, distance[weak], minlength=count) / np.maximum(
            areas, 1)
        min_length = max(12.0, _THIN_MIN_LENGTH_FRACTION * max(distance.shape))
        keep |= (thick_share < 0.25) & (areas >= min_length) & (
            mean_distance >= 1.5 * model.low_threshold)
    keep[0] = False
    return keep[labels]


def _snap_to_edges(candidates: np.ndarray, features: _Features,
                   model: BackgroundModel, protected: np.ndarray | None = None) -> np.ndarray:
    """Cut bounce light and soft shadows off the candidates along the sharp metal edge.

    Hysteresis lets the subject grow into the tinted reflections and shadows it casts on the
    sweep, which fade smoothly into the backdrop. Watershed flooding seeded from confident
    metal and from the backdrop meets at the strongest edge in between: the in-focus
    silhouette rather than the soft end of the reflection.
    """
    count, labels = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
    if count <= 1:
        return candidates
    distance = features.distance
    # Per component, pixels far above the backdrop seed metal: a fixed multiple of the high
    # threshold for contrasty pieces, a fraction of their own peak for pale ones.
    peak = np.zeros(count, np.float32)
    np.maximum.at(peak, labels[candidates], distance[candidates])
    seed_level = np.minimum(2.0 * model.high_threshold, 0.7 * peak)
    seed_level[0] = np.inf
    # Two more kinds of seed: contrasty pixels with real lightness gradients (polished metal
    # beside its reflection) and finely textured ones (hammered silver, engraving) that differ
    # only a little from the backdrop. Fine detail also rings for a few pixels on both sides
    # of any sharp edge; erosion keeps only genuinely textured areas.
    contrasty = (distance >= model.high_threshold) & (features.gradient >= _GRADIENT_SEED_LEVEL)
    fine = candidates & (distance >= model.low_threshold) & (
        features.detail >= model.texture_threshold)
    textured = contrasty | cv2.erode(fine.astype(np.uint8), disc(4)).astype(bool)
    # Chains, wires and prongs a few pixels wide are all edge: the backdrop would flood them
    # from both sides. Bounce light and shadows are never that thin, so thin parts of the
    # candidates that clear the high threshold seed metal too.
    candidates_u8 = candidates.astype(np.uint8)
    thin = candidates & ~cv2.morphologyEx(candidates_u8, cv2.MORPH_OPEN, disc(2)).astype(bool)
    textured |= thin & (distance >= model.high_threshold)
    if protected is not None:
        textured |= protected
    # Only a margin along the candidate outline is open to flooding: deeper inside, a path of
    # dim metal could otherwise let the backdrop leak into a stone or an engraving.
    depth = cv2.distanceTransform(candidates.astype(np.uint8), cv2.DIST_L2, 3)
    margin = max(4.0, _SOFT_MARGIN_FRACTION * max(distance.shape))
    markers = np.full(distance.shape, 1, np.int32)
    markers[candidates] = 2
    markers[candidates & (depth <= margin) & (distance < seed_level[labels]) & ~textured] = 0
    # Flooding follows the backdrop distance itself, so the outline settles where that
    # distance jumps (the metal edge), not on the outer rim of a shadow's own soft edge.
    guide = cv2.blur(np.clip(distance * _GUIDE_GAIN, 0, 255).astype(np.uint8), (3, 3))
    guide = cv2.merge([guide, guide, guide])
    flooded = cv2.watershed(guide, markers)
    # Watershed lines are the edge pixels themselves: subject when they differ from the
    # backdrop at all; matting decides their alpha.
    return (flooded == 2) | ((flooded == -1) & candidates)


def _resolve_holes(subject: np.ndarray, features: _Features, model: BackgroundModel,
                   min_area: int) -> tuple[np.ndarray, int, int]:
    """Keep see-through holes as backdrop; fill enclosed blobs that only resemble it.

    An enclosed backdrop-like region is see-through (kept) when it looks like backdrop seen
    through a ring: not brighter than the backdrop (a highlight is), in the backdrop's hue
    (shading only darkens it), smooth (a faceted stone is not) and wider than a specular
    sliver. Everything else is filled.

    Returns (subject with filled holes, holes kept clear, non-tiny holes filled).
    """
    # 4-connected backdrop against 8-connected subject keeps the topology consistent.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (~subject).astype(np.uint8), connectivity=4)
    if count <= 1:
        return subject, 0, 0
    is_hole = np.ones(count, bool)
    is_hole[0] = False  # label 0 is the subject itself
    for edge in (labels[0, :], labels[-1, :], labels[:, 0], labels[:, -1]):
        is_hole[np.unique(edge)] = False
    hole_ids = np.nonzero(is_hole)[0]
    if hole_ids.size == 0:
        return subject, 0, 0

    hole_mask = is_hole[labels]
    hole_labels = labels[hole_mask]
    areas = stats[hole_ids, cv2.CC_STAT_AREA].astype(np.float64)
    radius = cv2.distanceTransform(hole_mask.astype(np.uint8), cv2.DIST_L2, 3)[hole_mask]

    def per_hole_mean(values: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        weights = np.ones(values.shape) if where is None else where.astype(np.float64)
        total = np.bincount(hole_labels, values * weights, minlength=count)[hole_ids]
        return total / np.maximum(np.bincount(hole_labels, weights, minlength=count)[hole_ids],
                                  1.0)

    widest = np.zeros(count, np.float32)
    np.maximum.at(widest, hole_labels, radius)
    brighter = features.lightness_delta[hole_mask] > max(2.5, 2.0 * model.noise_delta_e)
    # Texture is judged away from the rim, where the metal's own edge rings.
    texture = per_hole_mean(features.detail[hole_mask], where=radius > 3.0)

    # The metal just around each hole: a highlight sits inside darker metal, while a gap seen
    # through a ring is usually bordered by brightly lit surfaces or by the backdrop's shade.
    hole_ids_map = np.where(hole_mask, labels, 0).astype(np.float32)
    rim_ids = cv2.dilate(hole_ids_map, disc(3))[subject].astype(np.intp)
    rim_dark = features.lightness_delta[subject] < -_HIGHLIGHT_RIM_DARKNESS
    rim_dark_share = (np.bincount(rim_ids, rim_dark, minlength=count)
                      / np.maximum(np.bincount(rim_ids, minlength=count), 1))[hole_ids]
    filled_radius = cv2.distanceTransform((subject | hole_mask).astype(np.uint8),
                                          cv2.DIST_L2, 3)[hole_mask]
    thickest = np.zeros(count, np.float32)
    np.maximum.at(thickest, hole_labels, filled_radius)
    slimness = widest[hole_ids] / np.maximum(thickest[hole_ids], 1.0)

    sliver_radius = max(1.5, 0.0025 * max(subject.shape))
    fill = (
        (areas < max(min_area, 2.0 * sliver_radius ** 2))
        | (widest[hole_ids] < sliver_radius)
        | (per_hole_mean(brighter) > 0.5)
        | (per_hole_mean(features.chroma_delta[hole_mask]) > max(4.0, 0.6 * model.low_threshold))
        | (texture > model.texture_threshold)
        # A clipped highlight on a white sweep is no brighter than the sweep: it is told by
        # being a slim streak in clearly darker metal.
        | ((slimness < _HIGHLIGHT_SLIMNESS) & (rim_dark_share > 0.75))
    )
    if fill.any():
        lookup = np.zeros(count, bool)
        lookup[hole_ids[fill]] = True
        subject = subject | lookup[labels]
    tiny = areas < min_area
    return subject, int((~fill).sum()), int((fill & ~tiny).sum())


# --------------------------------------------------------------------------- matting


def _known_background_matting(rgb: np.ndarray, background_rgb: np.ndarray,
                              shape_image: np.ndarray, shape_mask: np.ndarray,
                              shape_distance: np.ndarray, model: BackgroundModel,
                              outlined: np.ndarray | None = None,
                              sure_backdrop: np.ndarray | None = None,
                              ) -> tuple[np.ndarray, np.ndarray]:
    """Difference matting along the subject outline at working resolution.

    Args:
        rgb: hxwx3 uint8 working image; background_rgb: hxwx3 float32 modelled backdrop.
        shape_image, shape_mask, shape_distance: the image, binary subject and backdrop
            distance at the (possibly lower) resolution the shape was decided at.
        outlined: optional HxW bool at shape resolution: grey metal kept for its outline,
            confident subject although close to the backdrop in colour.
        sure_backdrop: optional HxW bool at shape resolution: backdrop with no edge at all
            whose band pixels keep alpha 0, however the difference projects.

    Returns:
        (alpha hxw float32 in [0, 1], decontaminated foreground hxwx3 uint8).
    """
    height, width = rgb.shape[:2]
    upscale = width / shape_mask.shape[1]
    slack = int(np.ceil(upscale - 1.0))
    subject_u8 = cv2.resize(shape_mask.astype(np.uint8) * np.uint8(255), (width, height),
                            interpolation=cv2.INTER_LINEAR)
    subject_u8 = (subject_u8 >= 128).astype(np.uint8)
    # The band covers the edge blur plus the outline's uncertainty after upsampling.
    core = cv2.erode(subject_u8, disc(2 + slack)).astype(bool)
    reach = cv2.dilate(subject_u8, disc(3 + slack)).astype(bool)
    rows, cols = np.nonzero(reach & ~core)

    # Subject colour samples: confident pixels, preferring those off the outline (which are
    # themselves partly backdrop).
    confident = shape_mask & (shape_distance >= model.high_threshold)
    if outlined is not None:
        confident |= outlined
    confident = confident.astype(np.float32)
    inner = cv2.erode(confident, disc(1))
    weights = 0.1 * confident + 0.9 * inner
    colour = _propagate_colours(shape_image, weights, rows / upscale, cols / upscale)
    if not np.isfinite(colour).all():
        colour = np.nan_to_num(colour)

    pixel = rgb[rows, cols].astype(np.float32)
    backdrop = background_rgb[rows, cols]
    contrast = colour - backdrop
    contrast_sq = np.einsum("ij,ij->i", contrast, contrast)
    projected = np.einsum("ij,ij->i", pixel - backdrop, contrast) / np.maximum(contrast_sq, 1.0)
    projected = np.clip(projected, 0.0, 1.0)
    # Where the subject colour is close to the backdrop's (white metal on a white sweep) the
    # projection is ill-conditioned; lean on the smoothed shape there.
    shape_alpha = cv2.blur(subject_u8.astype(np.float32), (3, 3))[rows, cols]
    conditioning = np.clip((np.sqrt(contrast_sq) - 15.0) / 25.0, 0.0, 1.0)
    band_alpha = conditioning * projected + (1.0 - conditioning) * shape_alpha
    # Backdrop noise leaves a few percent of spurious alpha; a small dead zone removes it.
    band_alpha = np.clip((band_alpha - 0.04) / 0.92, 0.0, 1.0).astype(np.float32)
    if sure_backdrop is not None:
        height_s, width_s = sure_backdrop.shape
        sure = sure_backdrop[np.clip((rows / upscale).astype(np.intp), 0, height_s - 1),
                             np.clip((cols / upscale).astype(np.intp), 0, width_s - 1)]
        band_alpha[sure] = 0.0

    alpha = core.astype(np.float32)
    alpha[rows, cols] = band_alpha

    # I = a F + (1 - a) B solved for F; at low alpha that amplifies noise, so the
    # propagated subject colour takes over there.
    solved = backdrop + (pixel - backdrop) / np.maximum(band_alpha, 1e-3)[:, None]
    trust = np.clip((band_alpha - 0.05) / 0.45, 0.0, 1.0)[:, None]
    foreground = rgb.copy()
    foreground[rows, cols] = np.clip(trust * solved + (1.0 - trust) * colour + 0.5,
                                     0, 255).astype(np.uint8)
    return alpha, foreground


def _propagate_colours(rgb: np.ndarray, weights: np.ndarray, rows: np.ndarray,
                       cols: np.ndarray) -> np.ndarray:
    """Weighted mean subject colour near each (row, col) of ``rgb``: Nx3 float32.

    Normalised convolution on a pyramid: a small neighbourhood where confident samples are
    close, growing until every queried pixel has enough weight nearby. ``rows``/``cols``
    may be fractional.
    """
    height, width = weights.shape
    result = np.zeros((rows.size, 3), np.float32)
    pending = np.ones(rows.size, bool)
    weighted = rgb.astype(np.float32) * weights[..., None]
    for factor in (1, 4, 16, 64):
        if not pending.any():
            break
        if factor == 1:
            small_weights, small_colours = weights, weighted
        else:
            size = (max(1, width // factor), max(1, height // factor))
            small_weights = cv2.resize(weights, size, interpolation=cv2.INTER_AREA)
            small_colours = cv2.resize(weighted, size, interpolation=cv2.INTER_AREA)
        small_height, small_width = small_weights.shape
        density = cv2.GaussianBlur(small_weights, (0, 0), 1.5)
        total = cv2.GaussianBlur(small_colours, (0, 0), 1.5)
        r = np.clip((rows[pending] * small_height / height).astype(np.intp), 0, small_height - 1)
        c = np.clip((cols[pending] * small_width / width).astype(np.intp), 0, small_width - 1)
        ready = density[r, c] > 0.02
        index = np.nonzero(pending)[0][ready]
        result[index] = total[r[ready], c[ready]] / density[r[ready], c[ready]][:, None]
        pending[index] = False
    if pending.any():
        r = np.clip(rows[pending].astype(np.intp), 0, height - 1)
        c = np.clip(cols[pending].astype(np.intp), 0, width - 1)
        result[pending] = rgb[r, c]
    return result


def _backdrop_colour(model: BackgroundModel, bbox: tuple[int, int, int, int],
                     source_shape: tuple[int, int]) -> tuple[float, float, float]:
    """Median modelled backdrop colour (RGB 0-255) over the crop."""
    grid_u, grid_v = _coarse_grid(bbox, (64, 64), source_shape)
    rgb = np.clip(_polynomial_terms(grid_u, grid_v) @ model.coefficients, 0.0, 255.0)
    red, green, blue = (float(round(v, 2)) for v in np.median(rgb.reshape(-1, 3), axis=0))
    return red, green, blue


# --------------------------------------------------------------------------- helpers


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    size = (max(1, int(round(width * scale))), max(1, int(round(height * scale))))
    return cv2.resize(np.ascontiguousarray(rgb), size, interpolation=cv2.INTER_AREA)


def _subsample(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(mask)
    step = max(1, rows.size // _MAX_SAMPLES)
    return rows[::step], cols[::step]


def _normalised(rows: np.ndarray, cols: np.ndarray, height: int, width: int):
    return (cols + 0.5) / width * 2.0 - 1.0, (rows + 0.5) / height * 2.0 - 1.0


def _polynomial_terms(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    u = np.asarray(u, np.float64)
    v = np.asarray(v, np.float64)
    return np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=-1)


def _coarse_grid(bbox, work_shape, source_shape, cell: int = 16):
    """Normalised source coordinates of a coarse grid whose bilinear upsample covers the crop."""
    x0, y0, x1, y1 = bbox
    height, width = source_shape
    work_height, work_width = work_shape
    grid_height = max(2, -(-work_height // cell))
    grid_width = max(2, -(-work_width // cell))
    # Coarse cell centres in working pixels, as cv2.resize maps them, then in source pixels.
    xs = (np.arange(grid_width) + 0.5) * work_width / grid_width
    ys = (np.arange(grid_height) + 0.5) * work_height / grid_height
    xs = x0 + xs * (x1 - x0) / work_width
    ys = y0 + ys * (y1 - y0) / work_height
    return np.meshgrid(xs / width * 2.0 - 1.0, ys / height * 2.0 - 1.0)


def _hysteresis(score: np.ndarray, low: float, high: float) -> np.ndarray:
    """Components of ``score > low`` (8-connected) that contain a pixel above ``high``."""
    count, labels = cv2.connectedComponents((score > low).astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(score.shape, bool)
    strong = np.zeros(count, bool)
    strong[labels[score > high]] = True
    strong[0] = False
    return strong[labels]


def _lap(start: float) -> float:
    return time.perf_counter() - start
