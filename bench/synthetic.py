"""Synthetic jewelry photos with known answers, for tests and the speed benchmark.

A ring drawn on grey paper under a coloured cast has a known mask (hole included) and
a known illuminant. Real eval photos are never copied into the repository.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SyntheticPhoto:
    """rgb: HxWx3 uint8 RGB; mask: HxW float32 {0,1} true subject; illuminant: (3,) RGB
    multipliers applied to the scene (unit-normalised in ``illuminant_unit``)."""

    rgb: np.ndarray
    mask: np.ndarray
    illuminant: np.ndarray

    @property
    def illuminant_unit(self) -> np.ndarray:
        return self.illuminant / np.linalg.norm(self.illuminant)


def ring_photo(
    width: int = 1600,
    height: int = 1200,
    *,
    cast: tuple[float, float, float] = (1.0, 0.92, 0.78),
    metal: str = "white_metal",
    paper: float = 0.78,
    with_chain: bool = True,
    seed: int = 0,
) -> SyntheticPhoto:
    """Draw a ring (annulus with a highlight and a stone) and an optional thin chain on
    paper with a soft vignette, sensor noise and a cast shadow, under ``cast``.

    Returns the photo and the exact subject mask (ring interior is background).
    """
    rng = np.random.default_rng(seed)
    h, w = height, width
    s = min(h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w * 0.5, h * 0.5
    # Paper: neutral grey with a gentle vignette and fibre noise.
    r2 = ((xx - cx) / w) ** 2 + ((yy - cy) / h) ** 2
    paper_lin = paper * (1.0 - 0.25 * r2)
    scene = np.repeat(paper_lin[:, :, None], 3, axis=2)
    scene += rng.normal(0, 0.006, (h, w, 1)).astype(np.float32)

    mask = np.zeros((h, w), np.uint8)
    r_out, r_in = int(0.22 * s), int(0.16 * s)
    # Soft cast shadow toward the lower left (light from the upper right).
    shadow = np.zeros((h, w), np.float32)
    cv2.circle(shadow, (int(cx - 0.03 * s), int(cy + 0.04 * s)), r_out, 1.0, thickness=r_out - r_in)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 0.02 * s)
    scene *= (1.0 - 0.35 * shadow)[:, :, None]

    metal_rgb = {
        "white_metal": (0.62, 0.63, 0.65),
        "yellow_gold": (0.80, 0.60, 0.22),
        "rose_gold": (0.80, 0.52, 0.42),
    }[metal]
    cv2.circle(mask, (int(cx), int(cy)), (r_out + r_in) // 2, 1, thickness=r_out - r_in)
    # Polished metal mirrors its surroundings: a dark side facing away from the light and a
    # bright side toward it. (A flat matte grey band exactly as dark as its own shadow cannot
    # be told from that shadow by a classical segmenter; see models/segmenter/jewelry_matte.py.)
    shade = 0.5 + 0.3 * np.clip(((xx - cx) + (cy - yy)) / (2 * r_out), -1, 1)
    ring = mask.astype(bool)
    for c in range(3):
        scene[:, :, c][ring] = (metal_rgb[c] * shade[ring])
    # Specular highlight band on the upper-right of the band (near white, like silver).
    hl = np.zeros((h, w), np.uint8)
    cv2.ellipse(hl, (int(cx), int(cy)), ((r_out + r_in) // 2,) * 2, 0, -60, -20, 1, thickness=max(2, (r_out - r_in) // 4))
    scene[hl.astype(bool)] = 0.97
    # A blue stone on top.
    stone = np.zeros((h, w), np.uint8)
    cv2.circle(stone, (int(cx), int(cy - (r_out + r_in) // 2)), max(3, int(0.045 * s)), 1, -1)
    scene[stone.astype(bool)] = (0.08, 0.20, 0.70)
    mask |= stone
    if with_chain:
        pts = np.array([[int(cx + r_out), int(cy)], [int(w * 0.85), int(h * 0.25)], [int(w * 0.95), int(h * 0.12)]], np.int32)
        chain = np.zeros((h, w), np.uint8)
        cv2.polylines(chain, [pts], False, 1, thickness=max(2, s // 500))
        scene[chain.astype(bool)] = np.array(metal_rgb) * 0.9
        mask |= chain

    photo = np.clip(scene * np.asarray(cast, np.float32)[None, None, :], 0, 1)
    srgb = np.where(photo <= 0.0031308, 12.92 * photo, 1.055 * np.power(photo, 1 / 2.4) - 0.055)
    rgb = np.clip(srgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return SyntheticPhoto(rgb=rgb, mask=mask.astype(np.float32), illuminant=np.asarray(cast, np.float64))
