"""Edge-aware and normalised filters shared by the modules (OpenCV box and Gaussian
filters; ``cv2.ximgproc`` is absent from the headless wheel)."""
from __future__ import annotations

import cv2
import numpy as np

from lumograph.models.common.numeric import smoothstep


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-guided edge-preserving filter (He, Sun, Tang 2010) from ``cv2.boxFilter``.

    guide: HxW float32 (any range, typically [0, 1]); src: HxW float32. radius: box
    radius in pixels; eps: regulariser in guide units squared (larger = smoother).
    Returns a new HxW float32 array.
    """
    k = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, cv2.CV_32F, k, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(src)
    var_i = box(guide * guide) - mean_i * mean_i
    cov_ip = box(guide * src) - mean_i * mean_p
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def local_mean(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution: the weight-averaged ``values`` around every pixel.

    values: HxWxC float32; weight: HxW float32 >= 0; sigma in pixels. Where no weight
    is near, falls back to the global weighted mean, so the model is defined
    everywhere. A wide Gaussian is computed on a grid ~sigma/4 coarser and upsampled
    (the result is smooth at that scale anyway; a 30 px blur at 1 MP costs ~40 ms).
    """
    h, w = weight.shape
    factor = max(1, int(sigma // 4))
    small_v, small_w = values, weight
    if factor > 1:
        size = (max(1, w // factor), max(1, h // factor))
        small_v = cv2.resize(values, size, interpolation=cv2.INTER_AREA)
        small_w = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    s = sigma / factor
    wb = cv2.GaussianBlur(small_w, (0, 0), s)
    vb = cv2.GaussianBlur(small_v * small_w[..., None], (0, 0), s)
    total = float(small_w.sum())
    fallback = (small_v * small_w[..., None]).reshape(-1, values.shape[2]).sum(0) / max(total, 1e-6)
    out = vb / np.maximum(wb, 1e-6)[..., None]
    out[wb < 1e-3] = fallback
    if factor > 1:
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    return out



def wide_gaussian(values: np.ndarray, sigma: float) -> np.ndarray:
    """``cv2.GaussianBlur(values, (0, 0), sigma)`` for a wide ``sigma``, computed on a grid
    ``sigma // 4`` times coarser (``INTER_AREA`` down, ``INTER_LINEAR`` back up), as
    ``local_mean`` does: from sigma 8 on, the full-grid kernel costs several times more,
    and the blurred field is smooth at the coarse grid's scale anyway (a step edge differs
    from the full-grid blur by under 0.05 of the step). values: HxW or HxWxC float32.
    Returns a new array of ``values``' shape."""
    h, w = values.shape[:2]
    factor = max(1, int(sigma // 4))
    if factor == 1:
        return cv2.GaussianBlur(values, (0, 0), sigma)
    small = cv2.resize(values, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / factor), (w, h), interpolation=cv2.INTER_LINEAR)


def soft_edges(gray: np.ndarray, sigma: float, low: float, high: float) -> np.ndarray:
    """HxW float32 in [0, 1]: how surely each pixel lies on a strong edge of ``gray`` (HxW
    float32 in [0, 1]): the 3x3 Sobel magnitude, blurred by ``sigma`` px, through a
    smoothstep from ``low`` to ``high`` (frames and mullions of a window or a lantern,
    which a glow leaves as they are)."""
    magnitude = cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3))
    return smoothstep(cv2.GaussianBlur(magnitude, (0, 0), sigma), low, high)


def gradient_magnitude(values: np.ndarray, sigma: float) -> np.ndarray:
    """HxW float32 gradient magnitude of ``values`` (HxW float32) after a Gaussian of
    ``sigma`` px: the 3x3 Sobel magnitude over 8, i.e. in ``values`` units per pixel."""
    smooth = cv2.GaussianBlur(values, (0, 0), sigma)
    return cv2.magnitude(cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3),
                         cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)) * np.float32(1.0 / 8.0)
