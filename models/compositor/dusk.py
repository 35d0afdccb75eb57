"""Day-to-dusk for listing exteriors (an add-on, always disclosed): the ground is
exposed down and warmed (``DUSK_STOPS``, ``DUSK_GAINS``), a civil-twilight sky replaces
the day sky through the sky matte, and facade windows found on the proxy
(``facade_windows.detect_facade_windows``, fitted on labelled windows) glow with warm
interior light; exterior light fixtures a learned detector found are switched on
(``lamp_glow.light_lamp``). Images are HxWx3 ``uint8`` RGB; inputs are never mutated.
"""
from __future__ import annotations

import cv2
import numpy as np

from lumograph.models.common.boxes import box_area, overlap_of_smaller
from lumograph.models.common.colour import decode_srgb8, encode_srgb8, linear_to_srgb, srgb_to_linear
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.filters import guided_filter, soft_edges
from lumograph.models.common.imageio import fast_downscale, require_rgb_u8
from lumograph.models.common.masks import check_matte, check_matte_aspect
from lumograph.models.common.numeric import smoothstep
from lumograph.models.compositor.facade_windows import detect_facade_windows
from lumograph.models.compositor.lamp_glow import MAX_LAMP_SHARE, light_lamp
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
#: A given window box larger than this share of the frame is not a facade window (the
#: interior window detector took a blown white sky for glass): it is not lit.
MAX_WINDOW_SHARE = 0.05
#: A given window box holding more sky than this (mean matte) is not lit.
MAX_WINDOW_SKY_SHARE = 0.25
#: Sun shadows at dusk: twilight is a sky-sized soft source, so the hard shadows of a
#: daylight shot are lifted by this share of their depth (in stops), at most
#: ``SHADOW_MAX_LIFT_STOPS``. A shadow is a region at least ``SHADOW_MIN_STOPS`` under its
#: lit surroundings whose colour turns bluer (sunlit surfaces are lit by the sun, shaded
#: ones by the blue sky): a dark roof or a dark door is darker but not bluer, and stays.
SHADOW_SOFTEN = 0.6
SHADOW_MIN_STOPS = 0.5
SHADOW_MAX_LIFT_STOPS = 1.5
SHADOW_BLUE_SHIFT = 0.05
#: Widest shadow measured against its lit surroundings, as a share of the long side.
SHADOW_REACH = 0.35
#: Foliage texture (mean |Laplacian| over 5x5 of the grey proxy over its mean there + 10):
#: a dark region this textured that reaches the sky is a silhouette, not a cast shadow.
SILHOUETTE_TEXTURE = 0.1


def dusk_luts() -> np.ndarray:
    """The dusk tone of the ground (256x1x3 uint8 LUT): ``DUSK_STOPS`` down, ``DUSK_GAINS``,
    shadows lifted a little so detail stays."""
    return channel_luts(DUSK_GAINS, DUSK_STOPS, 0.0, shadow_lift=0.06)


def _check_boxes(items, shape: tuple[int, int], what: str = "window") -> list[tuple[int, int, int, int]]:
    if items is None:
        return []
    if not isinstance(items, (list, tuple)):
        raise InvalidOptions(f"{what}s must be a list of dicts with a 'bbox', got {type(items).__name__}")
    h, w = shape
    boxes = []
    for item in items:
        bbox = item.get("bbox") if isinstance(item, dict) else None
        if bbox is None or len(bbox) != 4:
            raise InvalidOptions(f"each {what} needs a 'bbox' [x0, y0, x1, y1] in source pixels, got {item!r}")
        x0, y0, x1, y1 = (int(round(float(v))) for v in bbox)
        x0, x1 = max(0, min(x0, x1)), min(w, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(h, max(y0, y1))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            boxes.append((x0, y0, x1, y1))
    return boxes


def _sky_share(sky: np.ndarray, box: tuple[int, int, int, int], sx: float, sy: float) -> float:
    """Mean sky matte inside a source-pixel ``box`` on a proxy-grid ``sky`` (scale sx, sy)."""
    x0, y0, x1, y1 = box
    crop = sky[int(y0 / sy):max(int(y0 / sy) + 1, int(np.ceil(y1 / sy))),
               int(x0 / sx):max(int(x0 / sx) + 1, int(np.ceil(x1 / sx)))]
    return float(crop.mean()) if crop.size else 0.0


def _illumination(proxy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log2 luminance of ``proxy``, its edge-preserving base (shadows, not texture) and the
    base's lit surroundings, all hxw float32."""
    lin = decode_srgb8(proxy)
    y = lin @ np.asarray([0.2126, 0.7152, 0.0722], np.float32)
    log_y = np.log2(y + 1e-3).astype(np.float32)
    long_side = max(proxy.shape[:2])
    base = guided_filter(log_y, log_y, max(2, long_side // 100), 0.09)
    # The lit level around a pixel: a grey closing of the base fills every dip narrower
    # than ``SHADOW_REACH`` of the frame with the level of what surrounds it (the sunlit
    # wall next to a shadow); a bright speck does not raise it (the closing's erosion
    # takes it back). Shadow depth = closing - base (the black top-hat).
    k = max(3, int(SHADOW_REACH * long_side) | 1)
    lit = cv2.morphologyEx(base, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    lit = cv2.GaussianBlur(lit, (0, 0), 0.02 * long_side)
    return log_y, base, np.maximum(lit, base)


def shadow_mask(proxy: np.ndarray, sky: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sun shadows on a daylight exterior proxy: (bool hxw mask, hxw depth in stops).

    A pixel is in a shadow when its illumination base is ``SHADOW_MIN_STOPS`` under the
    lit level around it and its blue/red ratio is ``SHADOW_BLUE_SHIFT`` (log2) higher
    than there; the sky (matte >= 0.3) is never shadow, nor are silhouettes against it:
    a tree's crown is darker and bluer than the bright sky around it, but lifting it at
    dusk would turn it pale where twilight leaves it dark. A silhouette is a connected
    run (4-connected) of textured candidate pixels (``SILHOUETTE_TEXTURE``) that reaches
    the sky or the frame's top edge (a white sky the matte missed)."""
    _, base, lit = _illumination(proxy)
    depth = lit - base
    rgb = proxy.astype(np.float32) + 1.0
    blue_red = cv2.GaussianBlur(np.log2(rgb[..., 2] / rgb[..., 0]), (0, 0), 2.0)
    sigma = 0.06 * max(proxy.shape[:2])
    lit_side = (depth < 0.2).astype(np.float32)
    around = cv2.GaussianBlur(blue_red * lit_side, (0, 0), sigma) / np.maximum(
        cv2.GaussianBlur(lit_side, (0, 0), sigma), 1e-3)
    mask = (depth >= SHADOW_MIN_STOPS) & (blue_red - around >= SHADOW_BLUE_SHIFT)
    sky_px = np.zeros(mask.shape, bool)
    if sky is not None:
        sky_px = cv2.resize(sky, (proxy.shape[1], proxy.shape[0])) >= 0.3
        mask &= ~sky_px
    return mask & ~_silhouettes(mask, sky_px, proxy), depth


def _silhouettes(mask: np.ndarray, sky: np.ndarray, proxy: np.ndarray) -> np.ndarray:
    """The textured runs of ``mask`` that reach ``sky`` (within 3 px) or the top edge."""
    gray = cv2.cvtColor(proxy, cv2.COLOR_RGB2GRAY).astype(np.float32)
    # Texture relative to the local level: a crown in its own shade is dark, its leaves'
    # contrast small in grey levels but not against that level.
    texture = cv2.blur(np.abs(cv2.Laplacian(gray, cv2.CV_32F)), (5, 5)) / (cv2.blur(gray, (5, 5)) + 10.0)
    textured = mask & (texture > SILHOUETTE_TEXTURE)
    _, labels = cv2.connectedComponents(textured.astype(np.uint8), connectivity=4)
    near_sky = cv2.dilate(sky.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    touching = np.unique(np.concatenate([labels[0], labels[near_sky]]))
    return np.isin(labels, touching[touching > 0])


def shadow_contrast(rgb: np.ndarray, mask: np.ndarray) -> float | None:
    """Median depth (stops) of the pixels of ``mask`` (a proxy-grid shadow mask) under the
    lit surroundings in ``rgb``: how hard the shadows of a photo read. None without
    shadow."""
    if not mask.any():
        return None
    proxy = cv2.resize(rgb, (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_AREA)
    _, base, lit = _illumination(proxy)
    return round(float(np.median((lit - base)[mask])), 3)


def _soften_shadows(out: np.ndarray, proxy: np.ndarray, sky: np.ndarray | None) -> tuple[np.ndarray, float]:
    """Lift the sun shadows of ``out`` (the dusk-toned frame, full resolution) found on the
    daylight ``proxy``: a gain of 2**(``SHADOW_SOFTEN`` x depth) through a feathered
    mask. Returns (new frame, share of the frame lifted)."""
    mask, depth = shadow_mask(proxy, sky)
    if not mask.any():
        return out, 0.0
    lift = np.minimum(SHADOW_SOFTEN * depth, SHADOW_MAX_LIFT_STOPS) * mask
    lift = cv2.GaussianBlur(lift.astype(np.float32), (0, 0), 1.0)
    h, w = out.shape[:2]
    gain = cv2.resize(np.exp2(lift).astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    # Only the lifted pixels get float maths (a shadow is a share of a 12 MP frame).
    where = gain > 1.002
    result = out.copy()
    lin = srgb_to_linear(out[where][:, None, :]) * gain[where][:, None, None]
    result[where] = linear_to_srgb(np.minimum(lin, 1.0))[:, 0, :]
    return result, round(float(mask.mean()), 4)


def _light_window(out: np.ndarray, original: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Warm glow inside ``box`` of ``out`` (in place, ``out`` is ours), with bloom; returns
    the share of the box's inside that is glass and glows (0 for a box over a white wall,
    whose bright pixels are left as trim).

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
    frames = soft_edges(gray, 1.0, 0.25, 0.6)
    # Frames and mullions (strong edges) stay as they are; the glass between them glows,
    # dark panes and white blinds alike (a blind glows when the room behind it is lit),
    # but not blown-out white (a patch of sky or a sunlit wall a box took in).
    blown = smoothstep(gray, 0.93, 0.99)
    glass = inner * (1 - frames) * (1 - blown)
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
    return float(glass[y0 - Y0:y1 - Y0, x0 - X0:x1 - X0].mean())


def day_to_dusk(rgb: np.ndarray, proxy_matte: np.ndarray | None, windows: list[dict] | None,
                lamps: list[dict] | None = None, *, soften_shadows: bool = True) -> dict:
    """Turn a daylight listing exterior into a twilight shot.

    rgb: HxWx3 ``uint8`` RGB, full resolution; not modified. proxy_matte: hxw float32
    [0, 1] sky matte on a proxy grid with the image's aspect, or None (then
    ``segment_sky`` runs on a 1024 px proxy with ``scene="exterior"``). windows: list
    of {"bbox": [x0, y0, x1, y1]} in source pixels (the window detector's), or
    empty/None; the facade windows ``detect_facade_windows`` finds are lit as well
    (those not overlapping a given box). lamps: list of {"bbox"} in source pixels (exterior
    light fixtures a learned detector found), or empty/None: each is switched on.

    The sky becomes a generated twilight gradient (deep blue to a warm orange horizon),
    composited like ``replace_sky`` (decontaminated edge); the ground goes
    ``DUSK_STOPS`` down with a warm cast (one LUT in linear light, shadows lifted a
    little so detail stays); hard sun shadows (``shadow_mask``) are lifted by
    ``SHADOW_SOFTEN`` of their depth, as under a twilight sky; each window's glass is
    filled with warm light and a soft bloom, its frame and mullions left dark; each lamp's
    fixture glows and washes the wall around it (``light_lamp``; a box over
    ``MAX_LAMP_SHARE`` of the frame is no fixture and stays dark). Returns
    {"rgb": new HxWx3 uint8, "report": {"windows_lit" (boxes a quarter of which glows),
    "windows_given", "lamps_given", "lamps_lit", "lamp_boxes" (source px), "window_source"
    (given | detected | given+detected | none), "window_boxes" (source px), "sky_fraction", "exposure_stops",
    "ground_gains", "halo", "shadows_softened_share"}, "backend"}. Raises
    ``InvalidImage`` / ``InvalidOptions``. soften_shadows=False leaves the shadows as the
    dusk tone makes them (the eval's comparison).
    """
    require_rgb_u8(rgb, min_side=16)
    h, w = rgb.shape[:2]
    boxes = _check_boxes(windows, (h, w))
    lamp_boxes = [b for b in _check_boxes(lamps, (h, w), "lamp") if box_area(b) <= MAX_LAMP_SHARE * h * w]
    proxy = None
    if proxy_matte is None:
        proxy = fast_downscale(rgb, 1024)
        matte = segment_sky(proxy, scene="exterior")["matte"]
    else:
        matte = check_matte(proxy_matte)
        check_matte_aspect(matte, (h, w))
    luts = dusk_luts()
    if proxy is None or proxy.shape[:2] != matte.shape:
        proxy = proxy_of(rgb, matte.shape)
    out, halo, fraction = sky_swap(rgb, proxy, matte, "twilight", 0, luts)
    small = proxy if max(proxy.shape[:2]) <= 1024 else fast_downscale(rgb, 1024)
    out, shadow_share = _soften_shadows(out, small, matte) if soften_shadows else (out, 0.0)
    # The window detector's boxes (bright glass, built for interiors) and the facade
    # windows found here (dark daylight panes) together: every window glows at dusk, not
    # only the few one detector finds. A facade box overlapping a given one is dropped.
    sx, sy = w / small.shape[1], h / small.shape[0]
    # A given box that is mostly sky (the window detector took a bright patch of sky
    # between trees for glass), or too large for a facade window, is no window to light.
    small_sky = cv2.resize(matte, (small.shape[1], small.shape[0]))
    boxes = [b for b in boxes if _sky_share(small_sky, b, sx, sy) <= MAX_WINDOW_SKY_SHARE
             and box_area(b) <= MAX_WINDOW_SHARE * h * w]
    given = len(boxes)
    for found in detect_facade_windows(small, small_sky):
        x0, y0, x1, y1 = found["bbox"]
        box = (int(x0 * sx), int(y0 * sy), int(np.ceil(x1 * sx)), int(np.ceil(y1 * sy)))
        if not any(overlap_of_smaller(box, other) > 0.3 for other in boxes[:given]):
            boxes.append(box)
    source = ("none" if not boxes else "given" if given == len(boxes)
              else "detected" if given == 0 else "given+detected")
    glowing = [_light_window(out, rgb, box) for box in boxes]
    # Lamps after the windows: a porch light's wash falls on the window beside it too.
    lamp_glow = [light_lamp(out, rgb, box) for box in lamp_boxes]
    report = {
        # A box counts as lit when a quarter of it is glass that glows.
        "windows_lit": sum(1 for g in glowing if g >= 0.25),
        "windows_given": given,
        "window_source": source,
        "window_boxes": [list(b) for b in boxes],
        "lamps_given": len(lamp_boxes),
        # A fixture counts as lit when a quarter of its box glows.
        "lamps_lit": sum(1 for g in lamp_glow if g >= 0.25),
        "lamp_boxes": [list(b) for b in lamp_boxes],
        "sky_fraction": round(fraction, 4),
        "exposure_stops": DUSK_STOPS,
        "ground_gains": list(DUSK_GAINS),
        "halo": round(halo, 4),
        "shadows_softened_share": shadow_share,
    }
    return {"rgb": out, "report": report, "backend": "classical"}
