"""Masks and mattes: validation of those handed to a module (HxW ``float32`` in [0, 1] is
the convention; ``uint8`` 0-255 is accepted and converted; bad input raises
``InvalidOptions`` quoting what was received), and the small morphology helpers the
segmenters share (discs, border strips, dropping specks)."""
from __future__ import annotations

import cv2
import numpy as np

from lumograph.models.common.errors import InvalidOptions


def check_mask(mask: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """HxW float32 [0, 1] view or copy of ``mask``, which must match the image ``shape`` (H, W)
    and be floating, uint8 (0-255) or bool; any other dtype is refused, not guessed at."""
    if not isinstance(mask, np.ndarray) or mask.shape != tuple(shape):
        got = mask.shape if isinstance(mask, np.ndarray) else type(mask).__name__
        raise InvalidOptions(f"{name} must be an HxW array matching the image {tuple(shape)}, got {got}")
    if mask.dtype == np.uint8:  # tolerate the other common convention, 0-255
        return mask.astype(np.float32) * np.float32(1 / 255)
    if mask.dtype == np.bool_:
        return mask.astype(np.float32)
    if not np.issubdtype(mask.dtype, np.floating):
        raise InvalidOptions(f"{name} must be float32 in [0, 1] (or uint8 0-255, or bool), got dtype {mask.dtype}")
    return np.clip(mask.astype(np.float32, copy=False), 0.0, 1.0)


def check_matte(matte, name: str = "proxy_matte") -> np.ndarray:
    """HxW float32 [0, 1] copy of a matte of any size (a proxy-grid matte; NaN -> 0)."""
    if not isinstance(matte, np.ndarray) or matte.ndim != 2 or min(matte.shape) < 2:
        got = getattr(matte, "shape", type(matte).__name__)
        raise InvalidOptions(f"{name} must be an HxW float array in [0, 1], got {got!r}")
    if matte.dtype == np.uint8:
        return matte.astype(np.float32) * np.float32(1 / 255)
    if not np.issubdtype(matte.dtype, np.floating):
        raise InvalidOptions(f"{name} must be float32 in [0, 1] (or uint8 0-255), got dtype {matte.dtype}")
    return np.clip(np.nan_to_num(matte.astype(np.float32)), 0.0, 1.0)


def check_matte_aspect(matte: np.ndarray, shape: tuple[int, int], name: str = "proxy_matte") -> None:
    """Raise unless a proxy matte has the aspect ratio of the image ``shape`` (H, W)."""
    mh, mw = matte.shape
    h, w = shape
    if abs(mw / mh - w / h) > 0.05 * (w / h) + 2.0 / min(mh, mw):
        raise InvalidOptions(f"{name} aspect {mw}x{mh} does not match the image {w}x{h}")


def disc(radius: int) -> np.ndarray:
    """Elliptical structuring element of the given radius (a (2r+1)-pixel square)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def border_mask(height: int, width: int, fraction: float) -> np.ndarray:
    """HxW bool: a strip ``fraction`` of the short side deep (at least 3 px) along every edge."""
    strip = max(3, int(round(fraction * min(height, width))))
    mask = np.zeros((height, width), bool)
    mask[:strip] = mask[-strip:] = True
    mask[:, :strip] = mask[:, -strip:] = True
    return mask


def drop_small_components(mask: np.ndarray, min_area: int) -> np.ndarray:
    """``mask`` (HxW bool) without its 8-connected components under ``min_area`` pixels."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels]
