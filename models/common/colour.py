"""Colour primitives every module shares: the sRGB transfer curve, Rec. 709 luminance
and per-pixel channel extrema.

Conventions: 8-bit images are HxWx3 ``uint8`` RGB (sRGB-encoded); linear images are
HxWx3 ``float32`` >= 0 in linear sRGB. No function mutates its input.
"""
from __future__ import annotations

import cv2
import numpy as np

from lumograph.models.common.errors import InvalidImage
from lumograph.models.common.imageio import require_rgb_u8

#: Rec. 709 / sRGB luminance weights, RGB order, linear light (a 1x3 matrix for ``cv2.transform``).
LUMA_709 = np.array([[0.2126, 0.7152, 0.0722]], np.float32)


def srgb_decode(v: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear light; the result has ``v``'s float dtype."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v: np.ndarray) -> np.ndarray:
    """Linear light (clipped to [0, 1]) -> sRGB-encoded values in [0, 1]; ``v``'s float dtype."""
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)


def decode_srgb8(v) -> np.ndarray:
    """8-bit sRGB values (any shape, 0-255) -> float32 linear light in [0, 1], by formula
    (small inputs: palettes, single colours, proxies)."""
    return srgb_decode(np.asarray(v, np.float32) / 255.0).astype(np.float32)


def encode_srgb8(lin: np.ndarray) -> np.ndarray:
    """float linear light (clipped to [0, 1]) -> ``uint8`` sRGB, rounded, by formula."""
    return np.clip(srgb_encode(lin) * 255.0 + 0.5, 0, 255).astype(np.uint8)


# Lookup tables for full-size images: a 2 MP encode with np.power costs ~80 ms, a table
# lookup ~10 ms. 65536 steps keep the encode exact to 8 bits even in the steep part near black.
_DECODE_LUT = srgb_decode(np.arange(256, dtype=np.float64) / 255.0).astype(np.float32)
_ENCODE_STEPS = 65535
_ENCODE_LUT = np.clip(
    np.round(srgb_encode(np.arange(_ENCODE_STEPS + 1, dtype=np.float64) / _ENCODE_STEPS) * 255.0), 0, 255
).astype(np.uint8)


def srgb_to_linear(rgb_u8: np.ndarray) -> np.ndarray:
    """Decode 8-bit sRGB to linear light.

    rgb_u8: HxWx3 uint8 RGB. Returns a new HxWx3 float32 array in [0, 1] (linear sRGB).
    """
    require_rgb_u8(rgb_u8, "rgb_u8")
    return cv2.LUT(np.ascontiguousarray(rgb_u8), _DECODE_LUT)  # 4x faster than numpy fancy indexing


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    """Encode linear sRGB to 8-bit sRGB.

    lin: HxWx3 float (linear, nominal range [0, 1]; values outside are clipped, NaN -> 0).
    Returns a new HxWx3 uint8 RGB array.
    """
    if not isinstance(lin, np.ndarray) or lin.ndim != 3 or lin.shape[2] != 3:
        raise InvalidImage(f"lin must be an HxWx3 array, got {getattr(lin, 'shape', type(lin))}")
    lin = lin.astype(np.float32, copy=False)
    if not np.isfinite(lin.sum()):
        lin = np.nan_to_num(lin, nan=0.0, posinf=1.0, neginf=0.0)
    steps = np.clip(lin, 0.0, 1.0) * np.float32(_ENCODE_STEPS) + np.float32(0.5)
    return np.take(_ENCODE_LUT, steps.astype(np.uint16))


def luminance(lin: np.ndarray) -> np.ndarray:
    """HxW float32 Rec. 709 luminance of an HxWx3 float32 linear RGB image."""
    return cv2.transform(lin, LUMA_709)


def max_channel(rgb: np.ndarray) -> np.ndarray:
    """HxW per-pixel maximum of the three channels (``rgb``'s dtype)."""
    return cv2.max(cv2.max(rgb[:, :, 0], rgb[:, :, 1]), rgb[:, :, 2])


def min_channel(rgb: np.ndarray) -> np.ndarray:
    """HxW per-pixel minimum of the three channels (``rgb``'s dtype)."""
    return cv2.min(cv2.min(rgb[:, :, 0], rgb[:, :, 1]), rgb[:, :, 2])
