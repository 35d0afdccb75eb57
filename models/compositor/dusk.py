"""Day-to-dusk for listing exteriors (an add-on, always disclosed): the ground is
exposed down and warmed (``DUSK_STOPS``, ``DUSK_GAINS``), a civil-twilight sky replaces
the day sky through the sky matte, and facade windows found on the proxy
(``detect_facade_windows``) glow with warm interior light. Images are HxWx3 ``uint8``
RGB; inputs are never mutated.
"""
from __future__ import annotations

import cv2
import numpy as np

from lumograph.models.common.colour import decode_srgb8, encode_srgb8
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.imageio import fast_downscale, require_rgb_u8
from lumograph.models.common.masks import check_matte, check_matte_aspect
from lumograph.models.common.numeric import smoothstep
from lumograph.models.compositor.sky_replace import channel_luts, proxy_of, sky_swap
from lumograph.models.segmenter.sky_matte import segment_sky

# ------------------------------------------------------------------ day-to-dusk

#: Exposure change of the ground at dusk, in stops (a real twilight shot sits ~1-1.5
#: stops under the daylight exposure of the same facade).
DUSK_STOPS = -1.5
#: Warm tungsten-ish cast of the ground at dusk, per channel in linear light (G = 1).
DUSK_GAINS = (1.10, 1.0, 0.80)
#: Warm interior light seen through glass, sRGB.
WINDOW_GLOW = (255, 196, 118)
#: Window candidates: share of the frame each may cover.
WINDOW_AREA = (0.0006, 0.05)
#: Window candidates: width / height.
WINDOW_ASPECT = (0.45, 3.0)


def _check_windows(windows, shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    if windows is None:
        return []
    if not isinstance(windows, (list, tuple)):
        raise InvalidOptions(f"windows must be a list of dicts with a 'bbox', got {type(windows).__name__}")
    h, w = shape
    boxes = []
    for item in windows:
        bbox = item.get("bbox") if isinstance(item, dict) else None
        if bbox is None or len(bbox) != 4:
            raise InvalidOptions(f"each window needs a 'bbox' [x0, y0, x1, y1] in source pixels, got {item!r}")
        x0, y0, x1, y1 = (int(round(float(v))) for v in bbox)
        x0, x1 = max(0, min(x0, x1)), min(w, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(h, max(y0, y1))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            boxes.append((x0, y0, x1, y1))
    return boxes


def detect_facade_windows(proxy_rgb: np.ndarray, sky_matte: np.ndarray | None = None) -> list[dict]:
    """Find facade windows on an exterior proxy: dark, low-saturation, rectangular blobs.

    proxy_rgb: hxwx3 uint8 RGB (~1024 px long side); sky_matte: hxw float32 [0, 1] or
    None. A window pane in daylight is darker than the wall around it (glass reflects
    little of a bright facade), neutral or bluish, and its outline is a rectangle:
    candidates are pixels darker than 0.78x their neighbourhood (the brighter of
    box means ~1/12 and ~1/6 of the frame), opened to drop texture and closed across muntins, kept when they fill
    >= 70 % of their bounding box, have a width/height in ``WINDOW_ASPECT`` (not a
    shutter), cover ``WINDOW_AREA`` of the frame, are
    not in the sky, not on the frame border and not in the bottom tenth (doorsteps,
    shadows under cars). Returns a list of {"bbox": [x0, y0, x1, y1] proxy pixels,
    "score"}, at most 40, largest first.
    """
    require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=16)
    h, w = proxy_rgb.shape[:2]
    gray = cv2.cvtColor(proxy_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    hsv = cv2.cvtColor(proxy_rgb, cv2.COLOR_RGB2HSV)
    # The wall around a window, at two scales: a box ~1/12 of the frame suits the
    # small windows of a whole-house shot, ~1/6 the large ones of a close facade
    # (a box no larger than the window would mostly average the window itself).
    surround = np.maximum(cv2.blur(gray, (max(15, (max(h, w) // 12) | 1),) * 2),
                          cv2.blur(gray, (max(15, (max(h, w) // 6) | 1),) * 2))
    dark = (gray < 0.78 * surround) & (gray < 140) & (hsv[..., 1] < 110)
    if sky_matte is not None:
        dark &= cv2.resize(sky_matte, (w, h)) < 0.3
    # Open to drop texture, then close across muntins so the panes of one window
    # (white grids on dark glass) become one candidate.
    mask = cv2.morphologyEx(dark.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    found = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if not WINDOW_AREA[0] * h * w <= bw * bh <= WINDOW_AREA[1] * h * w:
            continue
        fill = area / float(bw * bh)
        # Shutters beside a window are dark, solid and narrow (~1:3): windows are wider.
        if fill < 0.7 or not WINDOW_ASPECT[0] <= bw / bh <= WINDOW_ASPECT[1]:
            continue
        if x <= 1 or y <= 1 or x + bw >= w - 1 or y + bh >= 0.9 * h:
            continue
        found.append({"bbox": [x, y, x + bw, y + bh], "score": round(fill, 3)})
    found.sort(key=lambda d: -(d["bbox"][2] - d["bbox"][0]) * (d["bbox"][3] - d["bbox"][1]))
    return found[:40]


def _light_window(out: np.ndarray, original: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Warm glow inside ``box`` of ``out`` (in place, ``out`` is ours), with bloom.

    The glass is what glows: pixels on strong edges inside the box (frames, mullions,
    muntins) keep their dusk colour, so the window still reads as a window.
    """
    h, w = out.shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    pad = int(0.35 * max(bw, bh)) + 2
    X0, Y0, X1, Y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    crop_src = original[Y0:Y1, X0:X1]
    gray = cv2.cvtColor(crop_src, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    inner = np.zeros(gray.shape, np.float32)
    m = max(1, int(0.04 * min(bw, bh)))
    inner[y0 - Y0 + m:y1 - Y0 - m, x0 - X0 + m:x1 - X0 - m] = 1.0
    inner = cv2.GaussianBlur(inner, (0, 0), max(0.8, 0.015 * min(bw, bh)))
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    edges = cv2.GaussianBlur(cv2.magnitude(gx, gy), (0, 0), 1.0)
    frames = smoothstep(edges, 0.25, 0.6)
    # Bright frames and mullions (white trim) stay trim; dark glass glows.
    bright = smoothstep(gray, 0.55, 0.8)
    glass = inner * (1 - frames) * (1 - bright)
    warm = decode_srgb8(WINDOW_GLOW)
    crop = out[Y0:Y1, X0:X1].astype(np.float32) / 255.0
    lin = np.where(crop <= 0.04045, crop / 12.92, ((crop + 0.055) / 1.055) ** 2.4)
    # A lit room seen through glass: brighter toward the ceiling light, with what is
    # behind the glass (curtains, blinds, reflections) kept as local detail.
    detail = gray - cv2.GaussianBlur(gray, (0, 0), max(1.0, 0.15 * min(bw, bh)))
    rows = np.clip((np.arange(Y0, Y1, dtype=np.float32) - y0) / max(1, bh), 0, 1)[:, None]
    shade = (1.0 - 0.3 * rows) * np.clip(1.0 + 2.5 * detail, 0.55, 1.5)
    lit = warm[None, None, :] * (0.95 * shade)[..., None]
    a = (0.9 * glass)[..., None]
    lin = lin * (1 - a) + lit * a
    bloom = cv2.GaussianBlur(glass, (0, 0), max(1.5, 0.12 * min(bw, bh)))
    lin = lin + (0.10 * bloom)[..., None] * warm[None, None, :]
    out[Y0:Y1, X0:X1] = encode_srgb8(lin)


def day_to_dusk(rgb: np.ndarray, proxy_matte: np.ndarray | None, windows: list[dict] | None) -> dict:
    """Turn a daylight listing exterior into a twilight shot.

    rgb: HxWx3 ``uint8`` RGB, full resolution; not modified. proxy_matte: hxw float32
    [0, 1] sky matte on a proxy grid with the image's aspect, or None (then
    ``segment_sky`` runs on a 1024 px proxy with ``scene="exterior"``). windows: list
    of {"bbox": [x0, y0, x1, y1]} in source pixels, or empty/None (then
    ``detect_facade_windows`` finds them).

    The sky becomes a generated twilight gradient (deep blue to a warm orange horizon),
    composited like ``replace_sky`` (decontaminated edge); the ground goes
    ``DUSK_STOPS`` down with a warm cast (one LUT in linear light, shadows lifted a
    little so detail stays); each window's glass is filled with warm light and a soft
    bloom, its frame and mullions left dark. Returns {"rgb": new HxWx3 uint8,
    "report": {"windows_lit", "window_source", "sky_fraction", "exposure_stops",
    "ground_gains", "halo"}, "backend"}. Raises ``InvalidImage`` / ``InvalidOptions``.
    """
    require_rgb_u8(rgb, min_side=16)
    h, w = rgb.shape[:2]
    boxes = _check_windows(windows, (h, w))
    proxy = None
    if proxy_matte is None:
        proxy = fast_downscale(rgb, 1024)
        matte = segment_sky(proxy, scene="exterior")["matte"]
    else:
        matte = check_matte(proxy_matte)
        check_matte_aspect(matte, (h, w))
    luts = channel_luts(DUSK_GAINS, DUSK_STOPS, 0.0, shadow_lift=0.06)
    if proxy is None or proxy.shape[:2] != matte.shape:
        proxy = proxy_of(rgb, matte.shape)
    out, halo, fraction = sky_swap(rgb, proxy, matte, "twilight", 0, luts)
    source = "given"
    if not boxes:
        source = "detected"
        if proxy is None:
            proxy = fast_downscale(rgb, 1024)
        sx, sy = w / proxy.shape[1], h / proxy.shape[0]
        for found in detect_facade_windows(proxy, cv2.resize(matte, (proxy.shape[1], proxy.shape[0]))):
            x0, y0, x1, y1 = found["bbox"]
            boxes.append((int(x0 * sx), int(y0 * sy), int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy))))
    for box in boxes:
        _light_window(out, rgb, box)
    report = {
        "windows_lit": len(boxes),
        "window_source": source,
        "sky_fraction": round(fraction, 4),
        "exposure_stops": DUSK_STOPS,
        "ground_gains": list(DUSK_GAINS),
        "halo": round(halo, 4),
    }
    return {"rgb": out, "report": report, "backend": "classical"}
