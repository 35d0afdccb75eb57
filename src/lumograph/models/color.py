"""Illuminant estimation and jewelry colour grading (classical, no weights).

Conventions: images are HxWx3 ``uint8`` RGB (sRGB-encoded) unless a name says
``linear``; linear images are HxWx3 ``float32`` >= 0 in linear sRGB (or camera RGB),
any scale. Masks and alpha are HxW ``float32`` in [0, 1]. Illuminants are ``(3,)``
``float64`` RGB with unit L2 norm. No function mutates its inputs.

Estimators (``ESTIMATORS``) are the classic unsupervised ones, each with the parameters
its paper recommends. ``estimate_illuminant`` picks ``DEFAULT_METHOD`` for a whole
scene, and ``"backdrop"`` (a neutral-backdrop prior checked against the grey-pixel
estimate) when the caller passes a mask of the backdrop, which is the packshot case.
"""
from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from lumograph.models.errors import InvalidImage, InvalidOptions

# ----------------------------------------------------------------------------- sRGB


def _srgb_decode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _srgb_encode(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)


# Lookup tables: a 2 MP encode with np.power costs ~80 ms, a table lookup ~10 ms.
_DECODE_LUT = _srgb_decode(np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)
_ENCODE_STEPS = 65535
_ENCODE_LUT = np.clip(
    np.round(_srgb_encode(np.arange(_ENCODE_STEPS + 1, dtype=np.float64) / _ENCODE_STEPS) * 255.0), 0, 255
).astype(np.uint8)


def _check_rgb_u8(rgb: np.ndarray, name: str = "rgb") -> None:
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise InvalidImage(f"{name} must be an HxWx3 uint8 RGB array, got {got}", code="invalid_array")
    if rgb.shape[0] < 2 or rgb.shape[1] < 2:
        raise InvalidImage(f"{name} is too small: {rgb.shape}", code="invalid_array")


def _check_mask(mask: np.ndarray, shape: tuple[int, int], name: str = "mask") -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.shape != shape:
        got = mask.shape if isinstance(mask, np.ndarray) else type(mask).__name__
        raise InvalidOptions(f"{name} must be an HxW array matching the image {shape}, got {got}")
    return np.clip(mask.astype(np.float32, copy=False), 0.0, 1.0)


def srgb_to_linear(rgb_u8: np.ndarray) -> np.ndarray:
    """Decode sRGB to linear light.

    rgb_u8: HxWx3 uint8 RGB. Returns HxWx3 float32 in [0, 1] (linear sRGB).
    """
    _check_rgb_u8(rgb_u8, "rgb_u8")
    return _DECODE_LUT[rgb_u8]


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    """Encode linear sRGB to 8-bit sRGB.

    lin: HxWx3 float (linear, nominal range [0, 1]; values outside are clipped).
    Returns HxWx3 uint8 RGB.
    """
    if not isinstance(lin, np.ndarray) or lin.ndim != 3 or lin.shape[2] != 3:
        raise InvalidImage(f"lin must be an HxWx3 array, got {getattr(lin, 'shape', type(lin))}")
    idx = np.clip(lin, 0.0, 1.0) * np.float32(_ENCODE_STEPS) + np.float32(0.5)
    return _ENCODE_LUT[idx.astype(np.int32)]


# ---------------------------------------------------------------- illuminant basics


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).reshape(3)
    v = np.maximum(v, 1e-12)
    return v / np.linalg.norm(v)


NEUTRAL = _unit(np.ones(3))


def angular_error_deg(est, gt) -> float:
    """Angle in degrees between two RGB illuminant vectors (any scale, (3,))."""
    a, b = _unit(est), _unit(gt)
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0))))


# ---------------------------------------------------------------- the estimators
#
# Each takes the linear image scaled so its valid maximum is ~1 and a float32 HxW
# weight map (0 = ignore) that already excludes clipped and near-black pixels, and
# returns an RGB vector (any scale, positive).


def _weighted_sum(values: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return np.einsum("hwc,hw->c", values, weight, dtype=np.float64)


def grey_world(img: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Buchsbaum 1980: the average reflectance is achromatic."""
    return _weighted_sum(img, weight)


def shades_of_grey(img: np.ndarray, weight: np.ndarray, p: float = 6.0) -> np.ndarray:
    """Finlayson & Trezzi 2004: the Minkowski p-norm of the image is achromatic."""
    return _weighted_sum(np.power(img, p), weight) ** (1.0 / p)


def white_patch(img: np.ndarray, weight: np.ndarray, percentile: float = 99.5) -> np.ndarray:
    """Max-RGB (Land's white patch), made robust by a 5x5 blur and a high percentile
    instead of the maximum (Funt & Shi 2010 show the pre-blur is what makes it work)."""
    blurred = cv2.blur(img, (5, 5))
    valid = weight > 0.5
    if valid.sum() < 16:
        valid = np.ones_like(valid)
    return np.percentile(blurred[valid], percentile, axis=0)


def _gaussian_derivatives(img: np.ndarray, sigma: float, order: int) -> np.ndarray:
    """Per-channel magnitude of the Gaussian derivative of ``order`` (1 or 2): HxWx3."""
    smooth = cv2.GaussianBlur(img, (0, 0), sigma) if sigma > 0 else img
    if order == 1:
        dx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=1, borderType=cv2.BORDER_REPLICATE) * 0.5
        dy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=1, borderType=cv2.BORDER_REPLICATE) * 0.5
        return np.sqrt(dx * dx + dy * dy)
    dxx = cv2.Sobel(smooth, cv2.CV_32F, 2, 0, ksize=1, borderType=cv2.BORDER_REPLICATE)
    dyy = cv2.Sobel(smooth, cv2.CV_32F, 0, 2, ksize=1, borderType=cv2.BORDER_REPLICATE)
    dxy = cv2.Sobel(smooth, cv2.CV_32F, 1, 1, ksize=3, borderType=cv2.BORDER_REPLICATE) / 8.0
    return np.sqrt(dxx * dxx + dyy * dyy + 2.0 * dxy * dxy)


def _erode_weight(weight: np.ndarray, radius: int) -> np.ndarray:
    # Derivatives at the edge of an excluded region see the excluded pixels.
    if radius <= 0:
        return weight
    return cv2.erode(weight, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))


def grey_edge(
    img: np.ndarray, weight: np.ndarray, order: int = 1, p: float = 6.0, sigma: float = 2.0
) -> np.ndarray:
    """Van de Weijer, Gevers & Gijsenij 2007 (general grey-edge): the Minkowski
    p-norm of the ``order``-th Gaussian derivative is achromatic."""
    grad = _gaussian_derivatives(img, sigma, order)
    w = _erode_weight(weight, int(math.ceil(2 * sigma)) + 1)
    return _weighted_sum(np.power(grad, p), w) ** (1.0 / p)


def weighted_grey_edge(
    img: np.ndarray,
    weight: np.ndarray,
    p: float = 6.0,
    sigma: float = 2.0,
    kappa: float = 2.0,
    iterations: int = 6,
) -> np.ndarray:
    """Gijsenij, Gevers & van de Weijer 2012: grey-edge whose edges are weighted by
    how specular they are (specular edges carry the illuminant colour). Iterates
    because the specular direction depends on the illuminant being estimated."""
    smooth = cv2.GaussianBlur(img, (0, 0), sigma)
    dx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=1, borderType=cv2.BORDER_REPLICATE) * 0.5
    dy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=1, borderType=cv2.BORDER_REPLICATE) * 0.5
    w = _erode_weight(weight, int(math.ceil(2 * sigma)) + 1)
    colour_dir = smooth / (np.linalg.norm(smooth, axis=2, keepdims=True) + 1e-9)
    total = np.sqrt((dx * dx + dy * dy).sum(axis=2)) + 1e-9
    estimate = NEUTRAL.copy()
    edge_energy = np.power(np.sqrt(dx * dx + dy * dy), p)
    for _ in range(iterations):
        illum = estimate.astype(np.float32)
        # The specular direction is the illuminant minus its shading component.
        along = (colour_dir @ illum)[..., None]
        spec_dir = illum[None, None, :] - along * colour_dir
        spec_dir /= np.linalg.norm(spec_dir, axis=2, keepdims=True) + 1e-9
        spec_x = (dx * spec_dir).sum(axis=2)
        spec_y = (dy * spec_dir).sum(axis=2)
        specularity = np.sqrt(spec_x * spec_x + spec_y * spec_y) / total
        edge_weight = w * np.power(np.clip(specularity, 0, 1), kappa)
        new = _unit(_weighted_sum(edge_energy, edge_weight) ** (1.0 / p))
        if angular_error_deg(new, estimate) < 0.01:
            estimate = new
            break
        estimate = new
    return estimate


def bright_dark_pca(img: np.ndarray, weight: np.ndarray, fraction: float = 0.035) -> np.ndarray:
    """Cheng, Prasad & Brown 2014: the brightest and darkest pixels along the mean
    colour direction span the illuminant; its direction is their first (uncentred)
    principal component."""
    valid = weight > 0.5
    pixels = img[valid].astype(np.float64)
    if len(pixels) < 32:
        pixels = img.reshape(-1, 3).astype(np.float64)
    mean_dir = _unit(pixels.mean(axis=0))
    distance = pixels @ mean_dir
    n = max(1, int(round(fraction * len(pixels))))
    order = np.argpartition(distance, (n, len(distance) - n - 1))
    chosen = pixels[np.concatenate([order[:n], order[-n:]])]
    # Uncentred PCA: the direction through the origin that best fits the chosen set.
    _, _, vt = np.linalg.svd(chosen, full_matrices=False)
    first = vt[0]
    return np.abs(first) if first.sum() < 0 else first


# DerivGauss of Yang et al. (sigma 0.5, 5x5): its magnitude scale is what the
# published thresholds (delta_threshold = 1e-4 on images scaled to max 1) refer to.
def _deriv_gauss_kernel(sigma: float = 0.5) -> np.ndarray:
    width = int(np.floor(np.sqrt(-2 * sigma * sigma * np.log(1e-6))))
    width = max(width, 1)
    x, y = np.meshgrid(np.arange(-width, width + 1), np.arange(-width, width + 1))
    return (-x * np.exp(-(x * x + y * y) / (2 * sigma * sigma)) / (np.pi * sigma * sigma)).astype(np.float32)


_DGAUSS_X = _deriv_gauss_kernel(0.5)
_DGAUSS_Y = np.ascontiguousarray(_DGAUSS_X.T)


def _deriv_gauss(channel: np.ndarray) -> np.ndarray:
    ax = cv2.filter2D(channel, cv2.CV_32F, _DGAUSS_X, borderType=cv2.BORDER_REPLICATE)
    ay = cv2.filter2D(channel, cv2.CV_32F, _DGAUSS_Y, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(ax * ax + ay * ay)


def _pick_greyest(index: np.ndarray, usable: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean map of the ``fraction`` of usable pixels with the lowest grey index."""
    worst = np.float32(index[usable].max()) if usable.any() else np.float32(1.0)
    index = np.where(usable, index, worst)
    index = cv2.blur(index, (7, 7))  # the papers' 7x7 averaging: isolated lucky pixels are noise
    index = np.where(usable, index, np.float32(np.inf))
    n = max(1, int(math.floor(fraction * index.size)))
    n = min(n, max(1, int(usable.sum())))
    threshold = np.partition(index.ravel(), n - 1)[n - 1]
    return index <= threshold


def grey_pixels(img: np.ndarray, weight: np.ndarray, fraction: float = 0.001) -> np.ndarray:
    """Yang, Gao & Li 2015 ("grey pixels", GPedge): a pixel is grey when the local
    contrast of log R, log G and log B is equal; average the greyest 0.1%."""
    eps = np.float32(1e-6)
    logs = np.log(np.maximum(img, eps))
    contrast = np.stack([_deriv_gauss(np.ascontiguousarray(logs[..., c])) for c in range(3)], axis=2)
    norm = np.linalg.norm(contrast, axis=2) + eps
    cos = contrast.sum(axis=2) / (norm * np.float32(np.sqrt(3.0)))
    index = np.arccos(np.clip(cos, -1, 1))
    usable = (weight > 0.5) & (contrast.max(axis=2) > 1e-4)
    chosen = _pick_greyest(index, usable, fraction)
    return _weighted_sum(img, chosen.astype(np.float32) * weight)


def grayness_index(
    img: np.ndarray, weight: np.ndarray, fraction: float = 0.001, delta_threshold: float = 1e-4
) -> np.ndarray:
    """Qian, Kamarainen, Nikkanen & Matas 2019 ("On finding gray pixels", GI):
    grey pixels have equal log-contrast in R/L and B/L where L = R+G+B; average
    the 0.1% with the lowest grayness index."""
    smooth = cv2.blur(img, (7, 7))  # the paper's denoising step
    eps = np.float32(1e-6)
    smooth = np.maximum(smooth, eps)
    total = smooth.sum(axis=2)
    flat = np.ones(smooth.shape[:2], bool)
    for c in range(3):
        flat &= _deriv_gauss(np.ascontiguousarray(smooth[..., c])) <= delta_threshold
    d_r = _deriv_gauss(np.log(smooth[..., 0]) - np.log(total))
    d_b = _deriv_gauss(np.log(smooth[..., 2]) - np.log(total))
    index = np.sqrt(d_r * d_r + d_b * d_b)
    usable = (weight > 0.5) & ~flat
    chosen = _pick_greyest(index, usable, fraction)
    return _weighted_sum(img, chosen.astype(np.float32) * weight)


def _angular_median(estimates: list[np.ndarray]) -> np.ndarray:
    """The estimate closest (in total angle) to all the others: a robust consensus
    that always returns one of the members' directions, never an average that no
    member supports."""
    units = [_unit(e) for e in estimates]
    costs = [sum(angular_error_deg(u, v) for v in units) for u in units]
    return units[int(np.argmin(costs))]


def consensus(img: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Angular median of grey-index, grey-edge (1st and 2nd order), shades of grey
    and the bright/dark PCA: each fails on different scenes, rarely together."""
    return _angular_median(
        [
            grayness_index(img, weight),
            grey_edge(img, weight, order=1),
            grey_edge(img, weight, order=2),
            shades_of_grey(img, weight),
            bright_dark_pca(img, weight),
        ]
    )


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
    "consensus": consensus,
}

#: The estimator used for a whole scene (no backdrop mask). See ``evaluate_color_constancy``.
DEFAULT_METHOD = "grayness_index"
#: Long side the estimators work at: plenty for statistics, fast at any input size.
ESTIMATION_LONG_SIDE = 1000
#: Pixels with a channel at or above this share of the saturation level are clipped.
CLIP_SHARE = 0.95
#: Pixels darker than this share of the saturation level (R+G+B) are noise.
DARK_SHARE = 0.0315


def _prepare(
    linear_rgb: np.ndarray, mask: np.ndarray | None, saturation: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate, downscale to ``ESTIMATION_LONG_SIDE``, scale to [0, 1] and build the
    weight map (caller's mask x not clipped x not black)."""
    if not isinstance(linear_rgb, np.ndarray) or linear_rgb.ndim != 3 or linear_rgb.shape[2] != 3:
        raise InvalidImage(
            f"linear_rgb must be an HxWx3 array, got {getattr(linear_rgb, 'shape', type(linear_rgb))}",
            code="invalid_array",
        )
    h, w = linear_rgb.shape[:2]
    if h < 8 or w < 8:
        raise InvalidImage(f"linear_rgb is too small to estimate an illuminant: {linear_rgb.shape}")
    img = np.nan_to_num(linear_rgb.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    weight = np.ones((h, w), np.float32) if mask is None else _check_mask(mask, (h, w))
    scale = ESTIMATION_LONG_SIDE / max(h, w)
    if scale < 1.0:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        # Clipping must be judged before averaging blends clipped and unclipped pixels.
        if saturation is None:
            saturation = float(img.max())
        clipped = (img.max(axis=2) >= CLIP_SHARE * saturation).astype(np.float32)
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
        clipped = cv2.resize(clipped, size, interpolation=cv2.INTER_AREA) > 0
    else:
        img = np.maximum(img, 0.0)  # a copy only when the input had negatives
        if saturation is None:
            saturation = float(img.max())
        clipped = img.max(axis=2) >= CLIP_SHARE * saturation
    img = np.maximum(img, 0.0)
    if saturation <= 0:
        raise InvalidImage("linear_rgb is black: no light to estimate", code="black_image")
    img = img * np.float32(1.0 / saturation)
    # Blooming spreads a clipped highlight's wrong colour a pixel or two around it.
    clipped = cv2.dilate(clipped.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    dark = img.sum(axis=2) <= DARK_SHARE
    weight = weight * (~clipped & ~dark).astype(np.float32)
    if weight.sum() < 64:  # nothing usable left: fall back to all pixels rather than fail
        weight = np.ones_like(weight) if mask is None else _check_mask(mask, (h, w)).copy()
        if weight.shape != img.shape[:2]:
            weight = cv2.resize(weight, img.shape[1::-1], interpolation=cv2.INTER_AREA)
    return img, weight
