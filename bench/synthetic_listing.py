"""Synthetic listing photos with known content, for tests and the speed benchmark.

A room drawn in perspective with two blown-out windows of different sizes (a faint view
inside each), a ceiling lamp, a flash hot-spot on a glossy cabinet and converging
verticals; an exterior with a grey overcast sky over a house with a roof line and a
wire. Real eval photos are never copied into the repository.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SyntheticListing:
    """rgb: HxWx3 uint8 RGB. windows: (x0, y0, x1, y1) boxes of the windows drawn;
    sky: HxW float32 {0,1} sky mask (exteriors); tilt_deg: the pitch simulated."""

    rgb: np.ndarray
    windows: list[tuple[int, int, int, int]]
    sky: np.ndarray | None
    tilt_deg: float


def _keystone(rgb: np.ndarray, tilt_deg: float) -> np.ndarray:
    """Converge verticals as a camera pitched up by ``tilt_deg`` would."""
    h, w = rgb.shape[:2]
    shrink = np.tan(np.radians(abs(tilt_deg))) * 0.5 * w * 0.5
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[shrink, 0], [w - shrink, 0], [w, h], [0, h]]) if tilt_deg > 0 else \
        np.float32([[0, 0], [w, 0], [w - shrink, h], [shrink, h]])
    matrix = cv2.getPerspectiveTransform(src, dst)
    return cv2.warpPerspective(rgb, matrix, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


def _frame_noise(h: int, w: int, rng: np.random.Generator, cells: tuple[int, ...]) -> np.ndarray:
    """HxW float32 noise in [0, 1]: octaves of random grids of ``cells`` across the width,
    upsampled smoothly, so the texture scales with the frame."""
    out = np.zeros((h, w), np.float32)
    for n in cells:
        grid = rng.random((max(2, round(n * h / w)), n)).astype(np.float32)
        out += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) / len(cells)
    return np.clip(out, 0.0, 1.0)


def room_photo(width: int = 1600, height: int = 1200, *, tilt_deg: float = 2.5,
               seed: int = 0) -> SyntheticListing:
    """An interior: warm-lit walls, floor, two over-exposed windows, lamp, glossy hot-spot."""
    rng = np.random.default_rng(seed)
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    wall = np.array([0.21, 0.175, 0.13], np.float32)  # warm tungsten cast on white paint
    img[:] = wall * (0.85 + 0.15 * (1 - yy / h))[..., None]
    floor = yy > 0.72 * h
    img[floor] = np.array([0.12, 0.085, 0.055], np.float32)
    img[floor] *= (0.8 + 0.2 * rng.random((int(floor.sum()), 1))).astype(np.float32)
    img[yy < 0.06 * h] *= 1.1  # ceiling
    # Cabinets with vertical edges (these converge under the keystone).
    for k in range(5):
        x0 = int((0.05 + 0.09 * k) * w)
        cv2.rectangle(img, (x0, int(0.45 * h)), (x0 + int(0.08 * w), int(0.72 * h)),
                      (0.17, 0.15, 0.12), -1)
        cv2.line(img, (x0, int(0.45 * h)), (x0, int(0.72 * h)), (0.06, 0.05, 0.04), max(2, w // 800))
    windows = [(int(0.55 * w), int(0.15 * h), int(0.92 * w), int(0.62 * h)),
               (int(0.08 * w), int(0.12 * h), int(0.22 * w), int(0.36 * h))]
    for x0, y0, x1, y1 in windows:
        view = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
        vy = np.linspace(0, 1, y1 - y0, dtype=np.float32)[:, None]
        view[:] = (np.array([0.75, 0.85, 1.0]) * (1 - 0.3 * vy)[..., None])  # sky
        trees = vy[:, 0] > 0.55
        view[trees] = np.array([0.45, 0.6, 0.35])
        view *= (1 + 0.15 * rng.standard_normal(view.shape[:2]))[..., None].astype(np.float32)
        img[y0:y1, x0:x1] = 2.2 * view  # ~2.7 stops over the room: the sky clips, trees barely
        frame = max(4, w // 200)
        cv2.rectangle(img, (x0, y0), (x1, y1), (0.5, 0.48, 0.45), frame)
        cv2.line(img, ((x0 + x1) // 2, y0), ((x0 + x1) // 2, y1), (0.5, 0.48, 0.45), frame)
    # A round ceiling lamp (bright, small, not a window) and a flash hot-spot.
    cv2.circle(img, (int(0.4 * w), int(0.05 * h)), max(6, w // 60), (3.0, 2.8, 2.4), -1)
    spot = np.exp(-(((xx - 0.2 * w) / (0.012 * w)) ** 2 + ((yy - 0.55 * h) / (0.012 * w)) ** 2))
    img += (1.2 * spot)[..., None]
    img += rng.normal(0, 0.004, img.shape).astype(np.float32)
    srgb = np.where(img <= 0.0031308, 12.92 * img, 1.055 * np.power(np.clip(img, 0, None), 1 / 2.4) - 0.055)
    rgb = np.clip(srgb * 255 + 0.5, 0, 255).astype(np.uint8)
    if tilt_deg:
        rgb = _keystone(rgb, tilt_deg)
    return SyntheticListing(rgb=rgb, windows=windows, sky=None, tilt_deg=tilt_deg)


def exterior_photo(width: int = 1600, height: int = 1200, *, seed: int = 0) -> SyntheticListing:
    """A house under a flat grey sky, with a sloped roof line, a tree and a wire."""
    rng = np.random.default_rng(seed)
    h, w = height, width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    sky = np.zeros((h, w), np.uint8)
    horizon = int(0.45 * h)
    sky[:horizon] = 1
    roof = np.array([[int(0.15 * w), horizon], [int(0.5 * w), int(0.22 * h)],
                     [int(0.85 * w), horizon]], np.int32)
    cv2.fillPoly(sky, [roof], 0)
    cv2.circle(sky, (int(0.92 * w), int(0.38 * h)), int(0.09 * w), 0, -1)  # tree crown
    img[:] = np.array([0.78, 0.79, 0.80], np.float32) * (0.9 + 0.1 * (yy / h))[..., None]
    ground = ~sky.astype(bool)
    base = np.where(yy > 0.75 * h, 0.0, 1.0)[..., None] * np.array([0.50, 0.42, 0.35]) + \
        np.where(yy > 0.75 * h, 1.0, 0.0)[..., None] * np.array([0.25, 0.38, 0.15])
    # Texture at a scale of the frame (not per pixel), so it survives the proxies the
    # analysis runs on: grass and leaves are busy, the facade mildly so.
    leafy = _frame_noise(h, w, rng, cells=(60, 160, 400))[..., None]
    texture = (0.85 + 0.3 * rng.random((h, w, 1))).astype(np.float32)
    facade = yy <= 0.75 * h
    # Blades, gravel and leaves a few pixels across: a real lawn or hedge is busy at the
    # scale the scene classifier reads (~512 px), where a flat synthetic one has fewer
    # edges than any real exterior (its own generator, so the other draws stay as they were).
    fine = _frame_noise(h, w, np.random.default_rng(seed + 7919), cells=(max(2, w // 4),))[..., None]
    grass_tex = np.where(facade[..., None], 0.9 + 0.2 * leafy, (0.45 + 1.1 * leafy) * (0.55 + 0.9 * fine))
    img[ground] = (base * texture * grass_tex)[ground]
    for k in range(int(0.22 * h / max(1, h // 60))):  # siding boards
        y = int(0.47 * h) + k * max(1, h // 60)
        cv2.line(img, (int(0.15 * w), y), (int(0.85 * w), y), (0.40, 0.33, 0.27), max(1, w // 1000))
    tree = np.zeros((h, w), np.uint8)
    cv2.circle(tree, (int(0.92 * w), int(0.38 * h)), int(0.09 * w), 1, -1)
    hedge = np.zeros((h, w), np.uint8)
    hedge[int(0.68 * h):int(0.76 * h)] = 1
    foliage = (tree | hedge).astype(bool)
    img[foliage] = (np.array([0.15, 0.28, 0.10]) * (0.3 + 1.4 * leafy) * (0.55 + 0.9 * fine) * texture)[foliage]
    for x0 in (0.3, 0.62):  # windows on the facade
        cv2.rectangle(img, (int(x0 * w), int(0.52 * h)), (int((x0 + 0.08) * w), int(0.66 * h)),
                      (0.12, 0.14, 0.18), -1)
    cv2.line(img, (0, int(0.12 * h)), (w, int(0.2 * h)), (0.1, 0.1, 0.1), max(1, w // 900))
    wire = np.zeros((h, w), np.uint8)
    cv2.line(wire, (0, int(0.12 * h)), (w, int(0.2 * h)), 1, max(1, w // 900))
    sky[wire.astype(bool)] = 0
    img += rng.normal(0, 0.004, img.shape).astype(np.float32)
    srgb = np.where(img <= 0.0031308, 12.92 * img, 1.055 * np.power(np.clip(img, 0, None), 1 / 2.4) - 0.055)
    rgb = np.clip(srgb * 255 + 0.5, 0, 255).astype(np.uint8)
    return SyntheticListing(rgb=rgb, windows=[], sky=sky.astype(np.float32), tilt_deg=0.0)
