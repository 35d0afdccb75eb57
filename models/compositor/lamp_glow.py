"""Exterior light fixtures switched on, for day-to-dusk: the fixture's own glass fills with
warm light and the wall around it takes a warm wash that falls off with distance.

The boxes come from a learned detector (the window detector's ``lamps``: a model whose
classes name light fixtures, see ``models/window_detector/yolo.py``); the classical path
finds none (a classical fixture finder put 5% of its boxes on a fixture, far too many
glowing specks on a wall to ship: ``bench/labels/listing_facade_lamps.tsv``).

The wash is a gain in linear light, not paint: it multiplies what the wall reflects, so
a white wall glows brighter than a dark brick one and the texture stays. It is a little
taller than wide (a sconce throws its light up and down the wall). Images are HxWx3
``uint8`` RGB; ``light_lamp`` writes into the frame it is given.
"""
from __future__ import annotations

import cv2
import numpy as np

from lumograph.models.common.colour import decode_srgb8, encode_srgb8, srgb_to_linear
from lumograph.models.common.filters import soft_edges

#: A lamp's light, sRGB: the bulb seen through the fixture's glass (near-white warm) and
#: the warmer light it throws on the wall (2700 K-ish, as the windows' room glow).
LAMP_CORE = (255, 236, 196)
LAMP_WASH = (255, 200, 130)
#: Wall wash: gain at the fixture (stops) and its fall-off (Gaussian sigma, in fixture
#: long sides; ``WASH_TALL`` times that vertically).
WASH_STOPS = 2.2
WASH_SIGMA = 1.4
WASH_TALL = 1.4
#: How much of the fixture's inside turns to light (frames and cages keep their colour).
CORE_OPACITY = 0.95
#: A given lamp box larger than this share of the frame is no light fixture: not lit.
MAX_LAMP_SHARE = 0.01


def light_lamp(out: np.ndarray, original: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Switch on the fixture in ``box`` (source px) of ``out`` (the dusk-toned frame, written
    in place); ``original`` is the daylight frame (its edges find the fixture's frame).
    Returns the share of the box that glows (0 to ``CORE_OPACITY``)."""
    h, w = out.shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    size = max(bw, bh)
    sigma = WASH_SIGMA * size
    pad_x, pad_y = int(3 * sigma) + 2, int(3 * WASH_TALL * sigma) + 2
    X0, Y0, X1, Y1 = max(0, x0 - pad_x), max(0, y0 - pad_y), min(w, x1 + pad_x), min(h, y1 + pad_y)
    cx, cy = (x0 + x1) / 2.0 - X0, (y0 + y1) / 2.0 - Y0
    yy = (np.arange(Y1 - Y0, dtype=np.float32)[:, None] - cy) / (WASH_TALL * sigma)
    xx = (np.arange(X1 - X0, dtype=np.float32)[None, :] - cx) / sigma
    falloff = np.exp(-0.5 * (xx * xx + yy * yy))
    warm, core_light = decode_srgb8(LAMP_WASH), decode_srgb8(LAMP_CORE)
    tint = warm / warm.max()
    gain = 1.0 + (2.0 ** WASH_STOPS - 1.0) * falloff[..., None] * tint[None, None, :]
    lin = srgb_to_linear(np.ascontiguousarray(out[Y0:Y1, X0:X1])) * gain
    # The fixture itself: an ellipse inscribed in its box, softened; its frame (strong
    # edges of the daylight photo) stays as it is, so it still reads as a lantern.
    core = np.zeros(falloff.shape, np.float32)
    cv2.ellipse(core, (int(round(cx)), int(round(cy))), (max(1, bw // 2), max(1, bh // 2)), 0, 0, 360, 1.0, -1)
    core = cv2.GaussianBlur(core, (0, 0), max(0.8, 0.08 * size))
    gray = cv2.cvtColor(original[Y0:Y1, X0:X1], cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    frames = soft_edges(gray, 0.8, 0.3, 0.7)
    a = (CORE_OPACITY * core * (1.0 - 0.8 * frames))[..., None]
    lin = lin * (1.0 - a) + core_light[None, None, :] * a
    # A soft bloom past the fixture's edge, as a lens sees a bright point at dusk.
    bloom = cv2.GaussianBlur(core, (0, 0), max(1.0, 0.8 * size))
    lin = lin + (0.3 * bloom)[..., None] * warm[None, None, :]
    out[Y0:Y1, X0:X1] = encode_srgb8(lin)
    return float(a[y0 - Y0:y1 - Y0, x0 - X0:x1 - X0].mean())
