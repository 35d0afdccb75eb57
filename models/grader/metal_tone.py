"""Jewelry colour grading: white balance to neutral studio light, then a metal-aware
tone (``METAL_TONES``: yellow gold, white metal, rose gold) applied inside the piece's
alpha only, with a touch of studio contrast. ``grade_jewelry`` is the one call the
grader makes. Images are HxWx3 ``uint8`` RGB; alpha HxW ``float32`` in [0, 1];
illuminants ``(3,)`` unit RGB vectors. Inputs are never mutated.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from lumograph.models.common.colour import linear_to_srgb, srgb_to_linear
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.masks import check_mask
from lumograph.models.grader.illuminant import describe_illuminant, white_balance_matrix

# -------------------------------------------------------------------- metal tones


@dataclass(frozen=True)
class MetalTone:
    """Where a metal's pixels sit in CIELAB and where we pull them.

    ``member_hue``: (full_from, full_to) hue range in degrees of pixels we treat as
    this metal, with ``hue_soft`` degrees of fade outside it; pixels more saturated
    than ``gem_chroma`` (fading out over ``gem_fade``) are gemstones or enamel and are
    left alone.
    ``target_hue``: the hue range the metal is pulled into. ``min_chroma``: mid-tone
    pixels duller than this are enriched toward it (0 = make neutral instead).
    """

    member_hue: tuple[float, float] | None
    hue_soft: float
    gem_chroma: float
    target_hue: tuple[float, float] | None
    min_chroma: float
    gem_fade: float = 10.0


METAL_TONES: dict[str, MetalTone] = {
    # Silver, platinum, white gold, steel: neutral; anything colourful (C* > 12,
    # fading out by 20) is a stone, enamel or a coloured reflection we keep.
    "white_metal": MetalTone(None, 0.0, 12.0, None, 0.0, gem_fade=8.0),
    # Yellow gold sits near Lab hue 80-85 deg; past 95 it reads green, under 65 orange.
    "yellow_gold": MetalTone((55.0, 108.0), 12.0, 58.0, (72.0, 90.0), 24.0, gem_fade=12.0),
    # Rose gold: a pink-copper near hue 45-60 deg.
    "rose_gold": MetalTone((25.0, 72.0), 12.0, 40.0, (40.0, 62.0), 16.0),
}
METALS = ("yellow_gold", "white_metal", "rose_gold", "none")


def _ramp(x: np.ndarray, start: float, end: float) -> np.ndarray:
    """0 at ``start``, 1 at ``end`` (either order), linear between, float32."""
    return np.clip((x - start) / (end - start), 0.0, 1.0).astype(np.float32)


def _tone_lab(lab: np.ndarray, metal: str, strength: float) -> tuple[np.ndarray, dict]:
    """Pull Nx3 float32 Lab pixels toward ``metal``'s tone. Returns (lab, stats)."""
    tone = METAL_TONES[metal]
    L, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    # cv2's polar conversions are ~10x faster than numpy's and accurate to ~0.3 deg.
    chroma, hue = (v.ravel() for v in cv2.cartToPolar(a, b, angleInDegrees=True))  # hue in [0, 360)
    not_gem = _ramp(chroma, tone.gem_chroma + tone.gem_fade, tone.gem_chroma)
    if tone.member_hue is None:
        # Dark pixels carry little visible tint, and dark stones are dark colours
        # with a low chroma: leave the shadows alone.
        member = not_gem * _ramp(L, 20.0, 40.0)
    else:
        lo, hi = tone.member_hue
        in_band = np.minimum(_ramp(hue, lo - tone.hue_soft, lo), _ramp(hue, hi + tone.hue_soft, hi))
        # Near-neutral pixels have no reliable hue: reflections of the studio, not metal colour.
        member = in_band * not_gem * _ramp(chroma, 3.0, 8.0)
    pull = member * np.float32(strength)
    if tone.target_hue is None:
        new_a, new_b = a * (1 - pull), b * (1 - pull)
    else:
        lo, hi = tone.target_hue
        new_hue = hue + pull * (np.clip(hue, lo, hi) - hue)
        # Enrich dull mid-tones only: speculars (L > 85) must stay white, shadows dark.
        floor = tone.min_chroma * _ramp(L, 15.0, 45.0) * _ramp(L, 95.0, 80.0)
        new_chroma = chroma + pull * np.maximum(floor - chroma, 0.0)
        polar = (new_chroma.astype(np.float32), new_hue.astype(np.float32))
        new_a, new_b = (v.ravel() for v in cv2.polarToCart(*polar, angleInDegrees=True))
    out = np.stack([L, new_a, new_b], axis=1).astype(np.float32)
    share = float(member.mean()) if member.size else 0.0
    moved = float(np.hypot(new_a - a, new_b - b).mean()) if member.size else 0.0
    stats = {"metal_pixel_share": round(share, 4), "mean_shift_ab": round(moved, 3)}
    if member.size and member.sum() > 0:
        weights = member / member.sum()
        stats["mean_chroma_before"] = round(float((chroma * weights).sum()), 3)
        stats["mean_chroma_after"] = round(float((np.hypot(new_a, new_b) * weights).sum()), 3)
    return out, stats


def _studio_contrast(L: np.ndarray, amount: float) -> np.ndarray:
    """Gentle S-curve on L* (0-100): mid-tone slope 1 + amount, ends fixed, monotone."""
    x = L / 100.0
    return 100.0 * (x - amount * np.sin(2 * np.pi * x) / (2 * np.pi))


def _check_alpha(alpha: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return check_mask(alpha, shape, "alpha")


def _alpha_support(alpha: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """HxW bool, alpha > 0, validated as ``_check_alpha`` does but without its clipped
    float copy (clipping to [0, 1] never moves a value across 0)."""
    if not isinstance(alpha, np.ndarray) or alpha.shape != tuple(shape):
        _check_alpha(alpha, shape)  # raises the shared message
    return alpha.astype(np.float32, copy=False) > 0


def _check_metal(metal: str) -> None:
    if metal not in METALS:
        raise InvalidOptions(f"metal must be one of {list(METALS)}, got {metal!r}")


#: Pixels per row when a pixel list is colour-converted as an image.
_CONVERT_ROW = 1024


def _convert_pixels(pixels: np.ndarray, code: int) -> np.ndarray:
    """``cv2.cvtColor`` of an Nx3 float32 pixel list, returned as a new Nx3 float32 array.

    Laid out as rows of ``_CONVERT_ROW`` pixels rather than N rows of one: OpenCV's
    vectorised path only runs along a row, and its parallel loop splits by rows, so the
    conversion is ~5x faster (values agree with the per-pixel path to ~0.01 L*).
    """
    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    n = pixels.shape[0]
    body = n - n % _CONVERT_ROW
    out = np.empty_like(pixels)
    if body:
        out[:body] = cv2.cvtColor(pixels[:body].reshape(-1, _CONVERT_ROW, 3), code).reshape(-1, 3)
    if n > body:
        out[body:] = cv2.cvtColor(pixels[body:].reshape(1, -1, 3), code).reshape(-1, 3)
    return out


def _regrade_pixels(
    lin_pixels: np.ndarray, metal: str, strength: float, contrast: float
) -> tuple[np.ndarray, dict]:
    """Nx3 linear float32 -> Nx3 uint8 sRGB with metal tone and contrast applied."""
    lab = _convert_pixels(np.clip(lin_pixels, 0.0, 1.0), cv2.COLOR_LRGB2Lab)
    stats: dict = {}
    if metal != "none" and strength > 0:
        lab, stats = _tone_lab(lab, metal, strength)
    if contrast > 0:
        lab[:, 0] = _studio_contrast(lab[:, 0], contrast)
    srgb = _convert_pixels(lab, cv2.COLOR_Lab2RGB)
    return np.clip(srgb * 255.0 + 0.5, 0, 255).astype(np.uint8), stats


def normalize_metal_tone(
    rgb_u8: np.ndarray, alpha: np.ndarray, metal: str, *, strength: float = 1.0
) -> np.ndarray:
    """Pull metal pixels toward a catalog tone for ``metal``.

    rgb_u8: HxWx3 uint8 RGB (already white-balanced). alpha: HxW float32 [0, 1];
    only pixels with alpha > 0 change. metal: "yellow_gold" (hue pulled into a rich
    gold range, never green or orange; dull mid-tones enriched), "white_metal" (tint
    removed from low-chroma pixels), "rose_gold" (like gold, pink-copper range) or
    "none" (unchanged). Saturated pixels off the metal's hue (gemstones, enamel) are
    left alone. strength: [0, 1]. Returns a new HxWx3 uint8 RGB array.
    """
    require_rgb_u8(rgb_u8, "rgb_u8")
    _check_metal(metal)
    weights = _check_alpha(alpha, rgb_u8.shape[:2])
    out = rgb_u8.copy()
    if metal == "none" or strength <= 0:
        return out
    where = weights > 0
    if where.any():
        out[where], _ = _regrade_pixels(srgb_to_linear(rgb_u8)[where], metal, float(strength), 0.0)
    return out


#: Mid-tone contrast boost of the studio look at strength 1 (slope 1.08 at L* = 50).
STUDIO_CONTRAST = 0.08


#: Rows per strip of the white balance: a few MB of float32 per strip stays in cache
#: and in reused heap, where whole-image float temporaries (30+ MB at 12 MP crops)
#: would be fresh memory, page-faulted on every request.
_STRIP_PIXELS = 1 << 18


def _white_balance_in_strips(rgb_u8: np.ndarray, matrix: np.ndarray,
                             where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """White-balance ``rgb_u8`` (HxWx3 uint8) with ``matrix`` (3x3, linear sRGB) strip by
    strip. Returns ``(balanced HxWx3 uint8, the balanced linear values of the pixels in
    ``where`` (HxW bool), Nx3 float32 in C order, as ``lin[where]`` would give)``."""
    h, w = rgb_u8.shape[:2]
    out = np.empty_like(rgb_u8)
    picked = np.empty((int(np.count_nonzero(where)), 3), np.float32)
    rows = max(1, _STRIP_PIXELS // max(w, 1))
    filled = 0
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        lin = cv2.transform(srgb_to_linear(rgb_u8[r0:r1]), matrix)
        out[r0:r1] = linear_to_srgb(lin)
        inside = where[r0:r1]
        count = int(np.count_nonzero(inside))
        if count:
            picked[filled:filled + count] = lin[inside]
            filled += count
    return out, picked


def grade_jewelry(
    foreground_u8: np.ndarray,
    alpha: np.ndarray,
    illuminant,
    metal: str,
    *,
    strength: float = 1.0,
) -> tuple[np.ndarray, dict]:
    """Grade a cut-out piece of jewelry to neutral studio light.

    foreground_u8: HxWx3 uint8 RGB (the matted foreground colours). alpha: HxW
    float32 [0, 1] on the same grid. illuminant: (3,) linear-sRGB light colour (any
    positive scale), usually ``estimate_illuminant(srgb_to_linear(proxy), mask=backdrop)``.
    metal: one of ``METALS``. strength: [0, 1] scales every step.

    Steps: Bradford white balance of the whole image, then on alpha > 0 pixels the
    metal tone (``normalize_metal_tone``) and a gentle S-curve on L*. Returns
    ``(graded HxWx3 uint8 RGB, report)``; the report is JSON-able.
    """
    require_rgb_u8(foreground_u8, "foreground_u8")
    _check_metal(metal)
    where = _alpha_support(alpha, foreground_u8.shape[:2])
    if not 0.0 <= float(strength) <= 1.0:
        raise InvalidOptions(f"strength must be in [0, 1], got {strength!r}")
    strength = float(strength)
    matrix = white_balance_matrix(illuminant, strength)
    out, subject_lin = _white_balance_in_strips(foreground_u8, matrix, where)
    stats: dict = {}
    if subject_lin.size and strength > 0:
        out[where], stats = _regrade_pixels(subject_lin, metal, strength, STUDIO_CONTRAST * strength)
    light = describe_illuminant(illuminant)
    report = {
        "illuminant": asdict(light),
        "white_balance": {
            "method": "bradford",
            "strength": round(strength, 3),
            "matrix": [[round(float(v), 5) for v in row] for row in matrix],
        },
        "metal": metal,
        "metal_tone": stats,
        "studio_contrast": round(STUDIO_CONTRAST * strength, 4),
        "subject_pixels": int(where.sum()),
    }
    return out, report
