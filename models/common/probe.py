"""The photo a module's health check runs through its core: small, fixed, and shaped like
what the modules see (a sky band, a wall, a bright window, a dark floor), so every core
takes its ordinary path on it in milliseconds."""
from __future__ import annotations

import functools

import numpy as np

PROBE_HW = (96, 128)


@functools.cache
def probe_rgb() -> np.ndarray:
    """HxWx3 uint8, read-only (shared by every probe of a replica)."""
    h, w = PROBE_HW
    rgb = np.empty((h, w, 3), np.uint8)
    ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    rgb[:] = (np.array([196, 184, 168], np.float32) * (0.85 + 0.15 * ramp)).astype(np.uint8)
    rgb[: h // 4] = (150, 190, 235)  # sky
    rgb[h // 4: h // 2, w // 4: w // 2] = 252  # a blown window
    rgb[3 * h // 4:] = (92, 70, 52)  # floor
    rgb.setflags(write=False)
    return rgb
