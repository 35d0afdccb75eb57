"""Illuminant estimation, description and white balance (classical, no weights).

Conventions: images are HxWx3 ``uint8`` RGB (sRGB-encoded) unless a name says
``linear``; linear images are HxWx3 ``float32`` >= 0 in linear sRGB (or linear camera
RGB), any scale. Masks and alpha are HxW ``float32`` in [0, 1]. Illuminants are
``(3,)`` ``float64`` RGB vectors with unit L2 norm. No function mutates its inputs.

``ESTIMATORS`` holds the classic unsupervised estimators with the parameters their
papers recommend; ``lumograph.bench.eval_constancy`` scores any of them on a folder
of linear images with ground truth. ``estimate_illuminant`` uses ``DEFAULT_METHOD`` for a
whole scene and the neutral-backdrop prior (``"backdrop"``) when the caller passes the
backdrop as a mask, which is the packshot case.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from lumograph.models.common.colour import LUMA_709, linear_to_srgb, srgb_to_linear
from lumograph.models.common.errors import InvalidImage, InvalidOptions
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.masks import check_mask

# ---------------------------------------------------------------- illuminant basics


def _unit(v) -> np.ndarray:
    v = np.maximum(np.asarray(v, dtype=np.float64).reshape(3), 1e-12)
    return v / np.linalg.norm(v)


NEUTRAL = _unit(np.ones(3))


def angular_error_deg(est, gt) -> float:
    """Angle in degrees between two RGB illuminant vectors ((3,), any positive scale)."""
    a, b = _unit(est), _unit(gt)
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0))))


# D65, the sRGB white: ~6504 K, slightly above the Planckian locus.
_D65_MIRED = 1e6 / 6504.0
_D65_DUV = 0.0032


def _srgb_to_xyz_matrix() -> np.ndarray:
    import colour  # imported lazily: it costs ~1 s and only a few functions need it

    return np.asarray(colour.RGB_COLOURSPACES["sRGB"].matrix_RGB_to_XYZ, dtype=np.float64)


def _toward(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Unit vector ``t`` of the way from direction ``a`` to ``b`` (geometric, per channel)."""
    return _unit(np.exp((1.0 - t) * np.log(_unit(a)) + t * np.log(_unit(b))))


# ------------------------------------------------------------- fast pixel helpers
# numpy reductions over a 3-wide last axis are slow (max(axis=2) is 20x slower than
# cv2); these keep a 1 MP estimate within tens of milliseconds on two cores.


def _weighted_sum(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """sum_xy weight * values, per channel, as float64 (3,)."""
    total = weight.reshape(1, -1) @ values.reshape(-1, 3)
    return total.reshape(3).astype(np.float64)


def _any_channel_above(img: np.ndarray, threshold: float) -> np.ndarray:
    """HxW bool: some channel of the HxWxC float32 ``img`` exceeds ``threshold``."""
    above = cv2.threshold(img, float(threshold), 1.0, cv2.THRESH_BINARY)[1]
    return cv2.transform(above, np.ones((1, img.shape[2]), np.float32)) > 0


def _channel_sum(img: np.ndarray) -> np.ndarray:
    return cv2.transform(img, np.ones((1, 3), np.float32))


# ---------------------------------------------------------------- the estimators
#
# Each takes the linear image scaled so its saturation level is 1 and a float32 HxW
# weight map (0 = ignore) that already excludes clipped and near-black pixels, and
# returns an RGB vector (any positive scale).


def grey_world(img: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Buchsbaum 1980: the average reflectance is achromatic."""
    return _weighted_sum(img, weight)


def shades_of_grey(img: np.ndarray, weight: np.ndarray, p: float = 6.0) -> np.ndarray:
    """Finlayson & Trezzi 2004: the Minkowski p-norm of the image is achromatic."""
    return np.maximum(_weighted_sum(cv2.pow(img, p), weight), 0.0) ** (1.0 / p)


def white_patch(img: np.ndarray, weight: np.ndarray, percentile: float = 99.5) -> np.ndarray:
    """Max-RGB (Land's white patch), made robust by a 5x5 pre-blur and a high percentile
    instead of the maximum (Funt & Shi 2010: the pre-blur is what makes it work)."""
    blurred = cv2.blur(img, (5, 5))
    valid = weight > 0.5
    chosen = blurred[valid] if valid.sum() >= 16 else blurred.reshape(-1, 3)
    return np.percentile(chosen, percentile, axis=0)


def _gaussian_derivative_magnitude(img: np.ndarray, sigma: float, order: int) -> np.ndarray:
    """Per-channel magnitude of the ``order``-th (1 or 2) Gaussian derivative: HxWx3."""
    smooth = cv2.GaussianBlur(img, (0, 0), sigma) if sigma > 0 else img
    border = cv2.BORDER_REPLICATE
    if order == 1:
        dx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=border)
        dy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=1, scale=0.5, borderType=border)
        return cv2.magnitude(dx, dy)
    dxx = cv2.Sobel(smooth, cv2.CV_32F, 2, 0, ksize=1, borderType=border)
    dyy = cv2.Sobel(smooth, cv2.CV_32F, 0, 2, ksize=1, borderType=border)
    dxy = cv2.Sobel(smooth, cv2.CV_32F, 1, 1, ksize=3, scale=0.125, borderType=border)
    return np.sqrt(dxx * dxx + dyy * dyy + 2.0 * dxy * dxy)


def _erode_weight(weight: np.ndarray, radius: int) -> np.ndarray:
    # A derivative next to an excluded region (clipped highlight, masked product) sees it.
    return cv2.erode(weight, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)) if radius > 0 else weight


def grey_edge(
    img: np.ndarray, weight: np.ndarray, order: int = 1, p: float = 6.0, sigma: float = 2.0
) -> np.ndarray:
    """Van de Weijer, Gevers & Gijsenij 2007 (general grey-edge): the Minkowski
    p-norm of the ``order``-th Gaussian derivative is achromatic."""
    grad = _gaussian_derivative_magnitude(img, sigma, order)
    w = _erode_weight(weight, int(math.ceil(2 * sigma)) + 1)
    return np.maximum(_weighted_sum(cv2.pow(grad, p), w), 0.0) ** (1.0 / p)


def weighted_grey_edge(
    img: np.ndarray,
    weight: np.ndarray,
    p: float = 6.0,
    sigma: float = 2.0,
    kappa: float = 2.0,
    iterations: int = 6,
) -> np.ndarray:
    """Gijsenij, Gevers & van de Weijer 2012: grey-edge with edges weighted by how
    specular they are (specular edges carry the illuminant colour). Iterates because
    the specular direction depends on the illuminant being estimated."""
    smooth = cv2.GaussianBlur(img, (0, 0), sigma)
    dx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=cv2.BORDER_REPLICATE)
    dy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=1, scale=0.5, borderType=cv2.BORDER_REPLICATE)
    w = _erode_weight(weight, int(math.ceil(2 * sigma)) + 1)
    colour_dir = smooth / (np.linalg.norm(smooth, axis=2, keepdims=True) + 1e-9)
    total = np.sqrt(_channel_sum(dx * dx + dy * dy)) + 1e-9
    edge_energy = cv2.pow(cv2.magnitude(dx, dy), p)
    estimate = NEUTRAL.copy()
    for _ in range(iterations):
        illum = estimate.astype(np.float32)
        # The specular direction is the illuminant minus its shadow-shading component.
        along = cv2.transform(colour_dir, illum.reshape(1, 3))[..., None]
        spec_dir = illum[None, None, :] - along * colour_dir
        spec_dir /= np.linalg.norm(spec_dir, axis=2, keepdims=True) + 1e-9
        spec_x = _channel_sum(dx * spec_dir)
        spec_y = _channel_sum(dy * spec_dir)
        specularity = np.clip(cv2.magnitude(spec_x, spec_y) / total, 0.0, 1.0)
        new = _unit(np.maximum(_weighted_sum(edge_energy, w * specularity**kappa), 0.0) ** (1.0 / p))
        converged = angular_error_deg(new, estimate) < 0.01
        estimate = new
        if converged:
            break
    return estimate


def bright_dark_pca(img: np.ndarray, weight: np.ndarray, fraction: float = 0.035) -> np.ndarray:
    """Cheng, Prasad & Brown 2014: the brightest and darkest pixels along the mean
    colour direction span the illuminant; its direction is their first (uncentred)
    principal component."""
    # Every other row and column: the statistic needs thousands of pixels, not millions.
    sub_img, sub_w = img[::2, ::2], weight[::2, ::2]
    valid = sub_w > 0.5
    if valid.sum() < 64:
        sub_img, valid = img, weight > 0.5
    pixels = sub_img[valid] if valid.sum() >= 64 else sub_img.reshape(-1, 3)
    mean_dir = _unit(pixels.mean(axis=0, dtype=np.float64)).astype(np.float32)
    distance = pixels @ mean_dir
    n = max(1, int(round(fraction * len(pixels))))
    if 2 * n >= len(pixels):
        chosen = pixels
    else:
        order = np.argpartition(distance, (n, len(distance) - n - 1))
        chosen = pixels[np.concatenate([order[:n], order[-n:]])]
    # Uncentred PCA: the first eigenvector of the 3x3 second-moment matrix.
    chosen = chosen.astype(np.float64)
    _, vectors = np.linalg.eigh(chosen.T @ chosen)
    first = vectors[:, -1]
    return -first if first.sum() < 0 else first


# DerivGauss of Yang et al. 2015 (sigma 0.5, 5x5 support): the grey-pixel papers'
# thresholds (delta_threshold 1e-4 on images scaled to max 1) are in its units. The
# kernel -x exp(-(x^2+y^2)/2s^2)/(pi s^2) is separable, which makes it 4x cheaper.
def _deriv_gauss_1d(sigma: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    width = max(1, int(np.floor(np.sqrt(-2 * sigma * sigma * np.log(1e-6)))))
    x = np.arange(-width, width + 1, dtype=np.float64)
    gauss = np.exp(-(x * x) / (2 * sigma * sigma))
    derivative = -x * gauss / (np.pi * sigma * sigma)
    return derivative.astype(np.float32), gauss.astype(np.float32)


_DGAUSS_D, _DGAUSS_G = _deriv_gauss_1d(0.5)


def _deriv_gauss_sq(img: np.ndarray) -> np.ndarray:
    """Squared DerivGauss magnitude, per channel (works on 1- to 4-channel images)."""
    # cv2 filters correlate where MATLAB's imfilter(..., 'conv') convolves: only the
    # sign differs, and it is squared away.
    ax = cv2.sepFilter2D(img, cv2.CV_32F, _DGAUSS_D, _DGAUSS_G, borderType=cv2.BORDER_REPLICATE)
    ay = cv2.sepFilter2D(img, cv2.CV_32F, _DGAUSS_G, _DGAUSS_D, borderType=cv2.BORDER_REPLICATE)
    return ax * ax + ay * ay


def _pick_greyest(index: np.ndarray, usable: np.ndarray, fraction: float) -> np.ndarray:
    """Float32 0/1 map of the ``fraction`` of all pixels with the lowest grey index,
    among the usable ones, after the papers' 7x7 averaging (isolated lucky pixels are
    noise; grey regions are not)."""
    if not usable.any():
        return usable.astype(np.float32)
    worst = np.float32(index[usable].max())
    index = cv2.blur(np.where(usable, index, worst).astype(np.float32), (7, 7))
    index[~usable] = np.inf
    n = min(max(1, int(math.floor(fraction * index.size))), int(usable.sum()))
    threshold = np.partition(index.ravel(), n - 1)[n - 1]
    return (index <= threshold).astype(np.float32)


def grey_pixels(img: np.ndarray, weight: np.ndarray, fraction: float = 0.001) -> np.ndarray:
    """Yang, Gao & Li 2015 ("grey pixels", GPedge): a pixel is grey when the local
    contrasts of log R, log G and log B are equal; average the greyest 0.1%."""
    logs = cv2.log(np.maximum(img, np.float32(1e-6)))
    contrast = np.sqrt(_deriv_gauss_sq(logs))
    norm = np.sqrt(_channel_sum(contrast * contrast)) + np.float32(1e-9)
    cos = _channel_sum(contrast) / (norm * np.float32(math.sqrt(3.0)))
    index = np.arccos(np.clip(cos, -1.0, 1.0))
    usable = (weight > 0.5) & _any_channel_above(contrast, 1e-4)
    return _weighted_sum(img, _pick_greyest(index, usable, fraction) * weight)


def grayness_index(
    img: np.ndarray, weight: np.ndarray, fraction: float = 0.001, delta_threshold: float = 1e-4
) -> np.ndarray:
    """Qian, Kamarainen, Nikkanen & Matas 2019 ("On finding gray pixels", GI): a grey
    pixel has equal log-contrast in R/L and B/L (L = R+G+B); average the 0.1% with the
    lowest grayness index, skipping flat regions where contrast is noise."""
    smooth = np.maximum(cv2.blur(img, (7, 7)), np.float32(1e-6))  # the paper's denoising
    flat = ~_any_channel_above(_deriv_gauss_sq(smooth), delta_threshold * delta_threshold)
    total = _channel_sum(smooth)
    r, _, b = cv2.split(smooth)
    log_ratios = cv2.log(cv2.merge([r / total, b / total]))
    d_r, d_b = cv2.split(_deriv_gauss_sq(log_ratios))
    index = np.sqrt(d_r + d_b)
    usable = (weight > 0.5) & ~flat
    return _weighted_sum(img, _pick_greyest(index, usable, fraction) * weight)


def grey_index_with_bright_dark(img: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Mean direction of the grayness index (Qian 2019) and bright/dark PCA (Cheng
    2014). The two look at different evidence (grey edges vs. the colour
    distribution's extremes), so their errors are weakly correlated and averaging
    halves the bad cases (see ``lumograph.bench.eval_constancy``)."""
    return _unit(_unit(grayness_index(img, weight)) + _unit(bright_dark_pca(img, weight)))


def fuse_estimates(estimates, weights, *, scale_deg: float | None = None, iterations: int = 5) -> np.ndarray:
    """Weighted mean direction of illuminant estimates ((3,) vectors, any positive
    scale; non-negative prior weights) -> (3,) float64 unit vector.

    With ``scale_deg`` the mean is robust (a Cauchy M-estimate by reweighting): each
    estimate's weight is also multiplied by 1 / (1 + (angle to the current mean /
    scale_deg)^2), so estimates that agree within a few degrees are averaged as they
    are, and one that is far from the others (a cue fooled by the scene) loses its say.
    """
    units = [_unit(e) for e in estimates]
    prior = [float(w) for w in weights]
    if len(prior) != len(units):
        raise InvalidOptions(f"{len(units)} estimates but {len(prior)} weights")
    mean = _unit(sum(w * u for w, u in zip(prior, units)))
    if scale_deg is None:
        return mean
    for _ in range(iterations):
        robust = [w / (1.0 + (angular_error_deg(u, mean) / scale_deg) ** 2) for w, u in zip(prior, units)]
        mean = _unit(sum(w * u for w, u in zip(robust, units)))
    return mean


def consensus_cues(img: np.ndarray, weight: np.ndarray) -> list[np.ndarray]:
    """The three cues ``grey_bright_consensus`` fuses, as (3,) vectors: grey index,
    bright/dark PCA, white patch."""
    return [grayness_index(img, weight), bright_dark_pca(img, weight), white_patch(img, weight)]


def fuse_consensus(cues, bright_weight: float | None = None) -> np.ndarray:
    """``grey_bright_consensus`` from its ``consensus_cues``: the robust mean direction
    with prior weights 1, 1, ``bright_weight`` (default ``BRIGHT_PIXEL_WEIGHT``) and
    scale ``FUSION_SCALE_DEG``. (3,) float64 unit vector."""
    bright_weight = BRIGHT_PIXEL_WEIGHT if bright_weight is None else float(bright_weight)
    return fuse_estimates(cues, [1.0, 1.0, bright_weight], scale_deg=FUSION_SCALE_DEG)


def grey_bright_consensus(img: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Robust mean direction of three cues that fail on different scenes: the greyest
    pixels (grayness index, Qian 2019), the extremes of the colour distribution
    (bright/dark PCA, Cheng 2014) and the brightest surfaces (white patch; Joze et al.
    2012 show bright pixels carry the light). A strong single-colour surface pulls
    each toward its hue by a different amount: the grey index takes any evenly
    coloured, shaded surface (foliage, skin) for grey, while the brightest pixels are
    more often highlights or white surfaces. Averaging shrinks the bad cases; the
    robust weights (``fuse_estimates``) keep one cue that is far from the other two
    from dragging the answer. See ``lumograph.bench.fit_constancy``."""
    return fuse_consensus(consensus_cues(img, weight))


def _angular_median(estimates: list[np.ndarray]) -> np.ndarray:
    """The member closest, in total angle, to all the others."""
    units = [_unit(e) for e in estimates]
    costs = [sum(angular_error_deg(u, v) for v in units) for u in units]
    return units[int(np.argmin(costs))]


def committee_median(img: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Angular median of five estimators (GI, PCA, grey-edge 1st/2nd, shades of grey)."""
    return _angular_median(
        [
            grayness_index(img, weight),
            bright_dark_pca(img, weight),
            grey_edge(img, weight, order=1),
            grey_edge(img, weight, order=2),
            shades_of_grey(img, weight),
        ]
    )


def neutral_backdrop(img: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """A packshot backdrop (paper, sweep, lightbox) is meant to be neutral, so its
    colour is the illuminant's. Uses the brighter half of the weighted pixels: the
    darker half holds shadows, which coloured bounce light from the product tints."""
    # Every other row and column: a mean needs thousands of pixels, not millions.
    sub_img, valid = img[::2, ::2], weight[::2, ::2] > 0.5
    if valid.sum() < 64:
        return grey_world(img, weight)
    pixels = sub_img[valid]
    luma = pixels @ LUMA_709.reshape(3)
    bright = luma >= np.median(luma)
    return pixels[bright].mean(axis=0, dtype=np.float64)


ESTIMATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "grey_world": grey_world,
    "shades_of_grey": shades_of_grey,
    "white_patch": white_patch,
    "grey_edge_1": lambda img, w: grey_edge(img, w, order=1),
    "grey_edge_2": lambda img, w: grey_edge(img, w, order=2),
    "weighted_grey_edge": weighted_grey_edge,
    "bright_dark_pca": bright_dark_pca,
    "grey_pixels": grey_pixels,
    "grayness_index": grayness_index,
    "grey_index_with_bright_dark": grey_index_with_bright_dark,
    "grey_bright_consensus": grey_bright_consensus,
    "committee_median": committee_median,
    "neutral_backdrop": neutral_backdrop,
}

#: The estimator used for a whole scene (no backdrop mask): see ``lumograph.bench.eval_constancy``
#: and ``lumograph.bench.fit_constancy``.
DEFAULT_METHOD = "grey_bright_consensus"
#: Weight of the bright-pixel cue in ``grey_bright_consensus``: the three cues vote
#: equally. A prior, not fitted: fitted on the 9-image eval set it does not carry to
#: held-out images (see ``lumograph.bench.fit_constancy``).
BRIGHT_PIXEL_WEIGHT = 1.0
#: Scale of the robust fusion in ``grey_bright_consensus``: cues within a few degrees
#: of each other (the usual spread) are averaged as they are; one 15 deg away keeps a
#: tenth of its say. A prior, not fitted (the eval set hardly moves between 3 and 12).
FUSION_SCALE_DEG = 5.0
#: Scene estimates ignore pixels within this share of the long side of a clipped pixel
#: (10 px at 512 px): glare, blooming and the shade or fitting around a light source are
#: not the light's colour. Fitted by ``lumograph.bench.fit_constancy`` (5-fold
#: cross-validated) within 0-2%, the extent of a halo rather than of a region.
CLIP_MARGIN_SHARE = 0.02
#: The clip margin shrinks until it takes at most this share of the usable pixels. A
#: prior, not fitted (on the eval set the margin never takes more than 11%): on listing
#: JPEGs a blown-out sky with a full margin left mostly foliage to measure.
CLIP_MARGIN_MAX_LOSS = 0.2
#: Long side the estimators work at: plenty for the statistics (the light is a global,
#: low-frequency quantity; the eval set's raw images are 384 px), fast at any input size
#: (~20 ms of CPU for a 1024 px proxy; 1000 px cost ~90 ms).
ESTIMATION_LONG_SIDE = 512
#: A pixel with a channel at or above this share of the saturation level is clipped.
CLIP_SHARE = 0.95
#: A pixel whose R+G+B is below this share of the saturation level is noise.
DARK_SHARE = 0.0315
#: The neutral-backdrop estimate is trusted when it is within this angle of the
#: scene estimate on the same pixels; beyond, the two are averaged.
BACKDROP_AGREEMENT_DEG = 6.0
#: A backdrop "cast" up to this angle from neutral is corrected in full. Stronger
#: ones are more and more likely a coloured backdrop (wood, kraft or pink paper) in a
#: photo the camera already white-balanced than coloured light, so the correction
#: fades out, reaching nothing at ``BACKDROP_COLOURED_DEG``. Casts off the Planckian
#: locus (green/magenta: no lamp looks like that) use the tinted limits.
BACKDROP_MAX_CAST_DEG = 15.0
BACKDROP_COLOURED_DEG = 25.0
BACKDROP_MAX_TINTED_CAST_DEG = 8.0
BACKDROP_COLOURED_TINTED_DEG = 16.0
#: |Duv - Duv(D65)| from which a cast counts as tinted (off the Planckian locus).
OFF_LOCUS_DUV = 0.012


def prepare_for_estimation(
    linear_rgb: np.ndarray,
    mask: np.ndarray | None = None,
    saturation: float | None = None,
    *,
    clip_margin_share: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate, downscale to ``ESTIMATION_LONG_SIDE``, scale so saturation is 1 and
    build the weight map (caller's mask x not near a clipped pixel x not near-black).

    linear_rgb, mask, saturation: as in ``estimate_illuminant``. clip_margin_share:
    the margin dropped around clipped pixels, as a share of the long side of the
    reduced image (at least one pixel, for blooming); ``estimate_illuminant`` uses
    ``CLIP_MARGIN_SHARE`` for a scene and 0 for a backdrop. Returns (HxWx3 float32
    image with saturation 1, HxW float32 weight map in [0, 1]), both new arrays: the
    input the ``ESTIMATORS`` take.
    """
    if not isinstance(linear_rgb, np.ndarray) or linear_rgb.ndim != 3 or linear_rgb.shape[2] != 3:
        raise InvalidImage(
            f"linear_rgb must be an HxWx3 array, got {getattr(linear_rgb, 'shape', type(linear_rgb))}"
        )
    h, w = linear_rgb.shape[:2]
    if h < 8 or w < 8:
        raise InvalidImage(f"linear_rgb is too small to estimate an illuminant: {linear_rgb.shape}")
    img = linear_rgb.astype(np.float32, copy=False)
    if not np.isfinite(img.sum()):
        img = np.nan_to_num(img, nan=0.0, posinf=0.0, neginf=0.0)
    weight = np.ones((h, w), np.float32) if mask is None else check_mask(mask, (h, w), "mask")
    if saturation is None:
        saturation = float(img.max())
    if not saturation > 0:
        raise InvalidImage("linear_rgb is black: there is no light to estimate", code="black_image")
    # Judge clipping before resizing: averaging blends clipped pixels into good ones.
    clipped = _any_channel_above(img, CLIP_SHARE * saturation).astype(np.float32)
    scale = ESTIMATION_LONG_SIDE / max(h, w)
    if scale < 1.0:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
        clipped = cv2.resize(clipped, size, interpolation=cv2.INTER_AREA)
    img = cv2.max(img, 0.0) * np.float32(1.0 / saturation)  # new array: the input is never touched
    clipped = (clipped > 0).astype(np.uint8)
    bright_enough = _channel_sum(img) > DARK_SHARE

    def without(radius: int) -> np.ndarray:
        near_clip = cv2.dilate(clipped, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))
        return weight * ((near_clip == 0) & bright_enough).astype(np.float32)

    # Blooming spreads a clipped highlight's wrong colour a pixel around it.
    masked = without(1)
    if masked.sum() < 64:
        # Almost everything is clipped or black: a rough answer beats a failure.
        return img, weight if weight.sum() >= 1 else np.ones_like(weight)
    # A wider margin also drops the glare and lamp shade around a light source. It is
    # meant to trim halos, not to change which part of the scene is measured: where
    # it would take more than CLIP_MARGIN_MAX_LOSS of the pixels (a blown-out sky or
    # window, glints all over), it is halved until it does not.
    radius = round(clip_margin_share * max(img.shape[:2]))
    floor = (1.0 - CLIP_MARGIN_MAX_LOSS) * float(masked.sum())
    while radius > 1:
        wide = without(radius)
        if wide.sum() >= floor:
            return img, wide
        radius //= 2
    return img, masked


def _off_locus(illuminant: np.ndarray) -> bool:
    """True when the light is too green or magenta to be a lamp or daylight."""
    import colour

    xyz = _srgb_to_xyz_matrix() @ _unit(illuminant)
    _, duv = colour.uv_to_CCT(colour.UCS_to_uv(colour.XYZ_to_UCS(xyz)), method="Robertson 1968")
    return abs(float(duv) - _D65_DUV) > OFF_LOCUS_DUV


def _backdrop_estimate(img: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, dict]:
    """The ``"backdrop"`` method: (unit illuminant, JSON-able account of the decision)."""
    backdrop = _unit(neutral_backdrop(img, weight))
    scene = _unit(ESTIMATORS[DEFAULT_METHOD](img, weight))
    disagreement = angular_error_deg(backdrop, scene)
    # Disagreement means the backdrop is not a plain neutral surface (texture,
    # mixed light): share the decision with the scene estimator.
    estimate = backdrop if disagreement <= BACKDROP_AGREEMENT_DEG else _toward(backdrop, scene, 0.5)
    cast = angular_error_deg(estimate, NEUTRAL)
    full, none = BACKDROP_MAX_CAST_DEG, BACKDROP_COLOURED_DEG
    if _off_locus(estimate):
        full, none = BACKDROP_MAX_TINTED_CAST_DEG, BACKDROP_COLOURED_TINTED_DEG
    if cast > full:
        keep = max(0.0, (none - cast) / (none - full))
        estimate = _toward(NEUTRAL, estimate, keep * full / cast)
    info = {
        "backdrop_cast_deg": round(angular_error_deg(backdrop, NEUTRAL), 3),
        "scene_cast_deg": round(angular_error_deg(scene, NEUTRAL), 3),
        "disagreement_deg": round(disagreement, 3),
        "used_cast_deg": round(angular_error_deg(estimate, NEUTRAL), 3),
    }
    return estimate, info


def estimate_backdrop_illuminant(
    linear_rgb: np.ndarray, backdrop_mask: np.ndarray, *, saturation: float | None = None
) -> tuple[np.ndarray, dict]:
    """``estimate_illuminant(..., mask=backdrop_mask, method="backdrop")`` plus a
    JSON-able account for the report: the cast the backdrop shows, the cast the
    scene estimator sees on the same pixels, their disagreement and the cast used
    (all in degrees from neutral). Shapes as in ``estimate_illuminant``."""
    img, weight = prepare_for_estimation(linear_rgb, backdrop_mask, saturation)
    return _backdrop_estimate(img, weight)


def estimate_illuminant(
    linear_rgb: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    method: str = "auto",
    saturation: float | None = None,
) -> np.ndarray:
    """Estimate the colour of the light falling on a scene.

    linear_rgb: HxWx3 float (float32 preferred), linear RGB >= 0, any scale (linearised
        sRGB from ``srgb_to_linear``, or linear camera RGB). Any size: it is reduced to
        ``ESTIMATION_LONG_SIDE`` with area averaging first.
    mask: optional HxW float32 [0, 1] weights of the pixels to use (e.g. the backdrop:
        ``1 - dilated alpha``). Clipped (>= 95% of ``saturation``) and near-black pixels
        are always excluded on top; without ``"backdrop"``, so is a margin of
        ``CLIP_MARGIN_SHARE`` of the long side around clipped pixels (glare).
    method: ``"auto"`` (``"backdrop"`` when a mask is given, else ``DEFAULT_METHOD``),
        ``"backdrop"`` (the masked pixels are a neutral backdrop: their bright half is
        the light, checked against ``DEFAULT_METHOD`` and limited to casts a
        white-balanced JPEG can plausibly have), or any key of ``ESTIMATORS``.
    saturation: the sensor/encoding clip level (1.0 for linearised 8-bit sRGB); default
        the image maximum.

    Returns a (3,) float64 RGB vector with unit L2 norm ((1,1,1)/sqrt(3) = neutral).
    """
    if method == "auto":
        method = "backdrop" if mask is not None else DEFAULT_METHOD
    if method != "backdrop" and method not in ESTIMATORS:
        known = ["auto", "backdrop", *sorted(ESTIMATORS)]
        raise InvalidOptions(f"unknown illuminant method {method!r}; known: {known}")
    if method == "backdrop":
        return _backdrop_estimate(*prepare_for_estimation(linear_rgb, mask, saturation))[0]
    img, weight = prepare_for_estimation(linear_rgb, mask, saturation, clip_margin_share=CLIP_MARGIN_SHARE)
    return _unit(ESTIMATORS[method](img, weight))


# ------------------------------------------------------------- describing light

#: Below this angle from neutral a light reads as neutral.
NEUTRAL_CAST_DEG = 1.5
#: A Duv this far from D65's (+0.0032) reads as a green (+) or magenta (-) tint.
TINT_DUV = 0.006
#: A CCT this many mired from D65 (~6504 K, 153.8 mired) reads as warm or cool.
WARM_COOL_MIRED = 8.0


@dataclass
class IlluminantReport:
    """A JSON-able description of an illuminant in linear sRGB.

    ``rgb``: unit RGB vector. ``cast``: "warm" | "neutral" | "cool". ``cct_kelvin``:
    correlated colour temperature (Robertson 1968 via colour-science), None when the
    light is too far from the Planckian locus for a CCT to mean anything. ``duv``:
    signed distance from the locus in CIE 1960 uv (+ green, - magenta), None with
    ``cct_kelvin``. ``tint``: "green" | "magenta" | "none". ``strength_deg``: angle
    from neutral (D65, the sRGB white).
    """

    rgb: list[float]
    cast: str
    cct_kelvin: float | None
    duv: float | None
    tint: str
    strength_deg: float


def describe_illuminant(rgb) -> IlluminantReport:
    """Describe a linear-sRGB illuminant ((3,) RGB, any positive scale) for humans."""
    import colour

    unit = _unit(rgb)
    strength = angular_error_deg(unit, NEUTRAL)
    xyz = _srgb_to_xyz_matrix() @ unit
    uv = colour.UCS_to_uv(colour.XYZ_to_UCS(xyz))
    cct, duv = (float(v) for v in colour.uv_to_CCT(uv, method="Robertson 1968"))
    if not (1000.0 <= cct <= 25000.0 and abs(duv) <= 0.05):
        cct, duv = None, None
    # Warm/cool is the blue-amber axis only; a green or magenta shift is the tint.
    if cct is not None:
        mired_shift = 1e6 / cct - _D65_MIRED
        warmth = "neutral"
        if abs(mired_shift) > WARM_COOL_MIRED:
            warmth = "warm" if mired_shift > 0 else "cool"
    else:
        warmth = "warm" if unit[0] > unit[2] else "cool"
    cast = "neutral" if strength < NEUTRAL_CAST_DEG else warmth
    tint_shift = None if duv is None else duv - _D65_DUV
    if tint_shift is None or strength < NEUTRAL_CAST_DEG or abs(tint_shift) <= TINT_DUV:
        tint = "none"
    else:
        tint = "green" if tint_shift > 0 else "magenta"
    return IlluminantReport(
        rgb=[round(float(v), 6) for v in unit],
        cast=cast,
        cct_kelvin=None if cct is None else round(cct, 1),
        duv=None if duv is None else round(duv, 5),
        tint=tint,
        strength_deg=round(strength, 3),
    )


# ------------------------------------------------------------------ white balance


def white_balance_matrix(illuminant, strength: float = 1.0) -> np.ndarray:
    """3x3 float32 matrix, linear sRGB -> linear sRGB, that maps ``illuminant`` to
    neutral grey of the same luminance by a Bradford chromatic adaptation (colour-
    science). ``strength`` in [0, 1] moves the source light part of the way (0 = identity).
    """
    import colour

    if not 0.0 <= float(strength) <= 1.0:
        raise InvalidOptions(f"strength must be in [0, 1], got {strength!r}")
    source = _toward(NEUTRAL, illuminant, float(strength))
    rgb_to_xyz = _srgb_to_xyz_matrix()
    source_xyz = rgb_to_xyz @ source
    target_xyz = rgb_to_xyz @ np.ones(3)
    target_xyz *= source_xyz[1] / target_xyz[1]
    cat = colour.adaptation.matrix_chromatic_adaptation_VonKries(source_xyz, target_xyz, transform="Bradford")
    return (np.linalg.inv(rgb_to_xyz) @ cat @ rgb_to_xyz).astype(np.float32)


def correct_white_balance(rgb_u8: np.ndarray, illuminant, *, strength: float = 1.0) -> np.ndarray:
    """Remove a colour cast: Bradford adaptation of ``illuminant`` to neutral, in linear sRGB.

    rgb_u8: HxWx3 uint8 RGB. illuminant: (3,) linear-sRGB RGB of the light (any
    positive scale), e.g. from ``estimate_illuminant(srgb_to_linear(proxy), ...)``.
    strength: [0, 1], share of the correction to apply. Luminance of grey is kept;
    channels pushed past white clip. Returns a new HxWx3 uint8 RGB array.
    """
    require_rgb_u8(rgb_u8, "rgb_u8")
    matrix = white_balance_matrix(illuminant, strength)
    return linear_to_srgb(cv2.transform(srgb_to_linear(rgb_u8), matrix))
