"""Sky replacement for listing exteriors: a project-generated sky (or a learned sky
plate) composited through the segmenter's soft sky matte.

Skies are generated procedurally (``generate_sky``: a zenith-to-horizon gradient from
photographed daylight palettes, fBm clouds per style). Replacement composites at full
resolution with per-pixel float maths on the edge band only (the rest is a LUT and a
masked copy), decontaminating mixed edge pixels by swapping the old sky for the new
inside the mixture, and relights the ground slightly toward the new sky
(``RELIGHT_MAX_GAIN``). Images are HxWx3 ``uint8`` RGB; mattes HxW ``float32`` in
[0, 1] on the proxy grid (1 = sky). Inputs are never mutated.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from lumograph.models.common.colour import decode_srgb8, encode_srgb8
from lumograph.models.common.errors import InvalidImage, InvalidOptions
from lumograph.models.common.filters import local_mean
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.masks import check_matte, check_matte_aspect
from lumograph.models.common.numeric import clamp, smoothstep

#: Replacement sky styles (``generate_sky``).
SKY_STYLES = ("clear_blue", "light_clouds", "high_clouds")
#: Long side the replacement skies are synthesised at before being resized to the target:
#: a sky has no detail that needs more, and it keeps 12 MP inside the time budget.
SKY_WORK_LONG_SIDE = 1024


def _check_style(style: str) -> None:
    if style not in SKY_STYLES:
        raise InvalidOptions(f"unknown sky style {style!r}; expected one of {list(SKY_STYLES)}")


# ------------------------------------------------------------ replacement skies

# Sky colours, sRGB 0-255, chosen from photographed daylight skies: the zenith is a
# deeper, more saturated blue, the horizon a pale, slightly milky blue.
_SKY_PALETTES = {
    "clear_blue": {"zenith": (58, 118, 206), "horizon": (186, 213, 240)},
    "light_clouds": {"zenith": (72, 132, 212), "horizon": (192, 217, 240)},
    "high_clouds": {"zenith": (84, 140, 212), "horizon": (200, 222, 242)},
}
# Civil twilight, top to horizon: deep blue, violet, rose, warm orange glow.
_TWILIGHT_STOPS = ((0.0, (16, 30, 78)), (0.45, (46, 62, 128)), (0.72, (128, 96, 138)),
                   (0.88, (226, 136, 104)), (1.0, (252, 178, 104)))


def _fbm(rng: np.random.Generator, h: int, w: int, cells_x: float, cells_y: float, octaves: int,
         gain: float = 0.5) -> np.ndarray:
    """Fractal (multi-octave) value noise, HxW float32, zero mean and unit std."""
    out = np.zeros((h, w), np.float32)
    amp = 1.0
    for k in range(octaves):
        gx = max(2, int(round(cells_x * 2 ** k)) + 1)
        gy = max(2, int(round(cells_y * 2 ** k)) + 1)
        grid = rng.standard_normal((gy, gx)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        amp *= gain
    return (out - out.mean()) / max(float(out.std()), 1e-6)


def _gradient(h: int, w: int, stops) -> np.ndarray:
    """HxWx3 float32 linear-light vertical gradient through ``stops`` ((t, sRGB) pairs)."""
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)
    pos = np.array([s[0] for s in stops], np.float32)
    cols = decode_srgb8([s[1] for s in stops])
    column = np.stack([np.interp(t, pos, cols[:, c]) for c in range(3)], axis=1).astype(np.float32)
    return np.repeat(column[:, None, :], w, axis=1)


def _synthesise_sky(style: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """HxWx3 float32 linear sky of ``style`` at the working size."""
    if style == "twilight":
        base = _gradient(h, w, _TWILIGHT_STOPS)
    else:
        pal = _SKY_PALETTES[style]
        # A knee at 35 % of the height: the upper sky stays deep, the lower part pales
        # quickly toward the horizon, as in photographed skies.
        zenith, horizon = np.array(pal["zenith"], np.float32), np.array(pal["horizon"], np.float32)
        knee = tuple(0.62 * zenith + 0.38 * horizon)
        base = _gradient(h, w, [(0.0, tuple(zenith)), (0.35, knee), (1.0, tuple(horizon))])
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    # The sun side of a real sky is brighter and paler; pick the side from the seed.
    sun_x = float(rng.choice([0.15, 0.85]))
    glow = np.exp(-((xx - sun_x) ** 2) / 0.18) * (0.25 + 0.75 * yy)
    base = base * (1.0 + 0.10 * glow)[..., None] + (0.05 * glow * yy)[..., None]
    # Large, faint brightness drift: a photographed clear sky is never a flat fill.
    base *= (1.0 + 0.025 * _fbm(rng, h, w, 2, 1.5, 3))[..., None]
    aspect = w / max(h, 1)
    if style == "light_clouds":
        # Fair-weather cumulus: many small soft-edged heaps, bright where the sun hits
        # them from above, grey underneath where more cloud lies above, fewer and
        # flatter toward the horizon.
        n = _fbm(rng, h, w, 4.5 * aspect, 3.5, 7, 0.55)
        fine = _fbm(rng, h, w, 18 * aspect, 14, 3, 0.5)
        coverage = n + 0.25 * fine - 0.45 * yy
        density = smoothstep(coverage, 0.75, 1.7)
        lift = max(2, int(0.025 * h))
        above = np.vstack([np.zeros((lift, w), np.float32), density[:-lift]])
        shade = 1.0 - 0.22 * smoothstep(cv2.GaussianBlur(above, (0, 0), lift) * density, 0.2, 0.9)
        lit = decode_srgb8((250, 250, 252))
        cloud = lit[None, None, :] * shade[..., None]
        cloud *= np.array([1.0, 1.0, 1.04], np.float32) ** (1 - shade[..., None])  # bluish shadows
        alpha = (0.95 * density)[..., None]
        base = base * (1 - alpha) + cloud * alpha
    elif style == "high_clouds":
        # Cirrus: long streaks, stretched along the wind, thin and translucent.
        n = _fbm(rng, h, w, 0.9 * aspect, 5.0, 6, 0.6)
        wisps = _fbm(rng, h, w, 4.0 * aspect, 14.0, 3, 0.5)
        density = smoothstep(n + 0.35 * wisps - 0.25 * yy, 0.35, 1.9)
        alpha = (0.55 * density)[..., None]
        base = base * (1 - alpha) + decode_srgb8((240, 243, 248))[None, None, :] * alpha
    elif style == "twilight":
        n = _fbm(rng, h, w, 0.8 * aspect, 6.0, 5, 0.55)
        density = smoothstep(n - 0.4 * (1 - yy), 0.6, 2.0)
        lit = decode_srgb8((236, 140, 120))  # cloud undersides lit by the set sun
        alpha = (0.35 * density * yy)[..., None]
        base = base * (1 - alpha) + lit[None, None, :] * alpha
    return base


def generate_sky(style: str, width: int, height: int, seed: int) -> np.ndarray:
    """A project-generated replacement sky, procedural and deterministic per seed.

    style: one of ``SKY_STYLES`` ("clear_blue", "light_clouds", "high_clouds");
    width, height: output size in pixels (1..20000); seed: any int. The sky is a
    linear-light vertical gradient (deeper blue at the top row, pale at the bottom row,
    which the caller places at the horizon), a faint sun-side glow, and for the cloudy
    styles multi-octave value-noise clouds with shaded bases. It is synthesised at most
    ``SKY_WORK_LONG_SIDE`` px long and resized, since a sky has no finer detail.
    Returns a new HxWx3 ``uint8`` RGB array. Raises ``InvalidOptions`` for an unknown
    style or a bad size.
    """
    _check_style(style)
    return _render_sky(style, width, height, seed)


def _render_sky(style: str, width: int, height: int, seed: int) -> np.ndarray:
    u8 = _render_sky_small(style, width, height, seed)
    if u8.shape[:2] != (height, width):
        u8 = cv2.resize(u8, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
    return u8


def _render_sky_small(style: str, width: int, height: int, seed: int) -> np.ndarray:
    """The sky for a width x height frame at its working size (<= ``SKY_WORK_LONG_SIDE``)."""
    for name, v in (("width", width), ("height", height)):
        if not isinstance(v, (int, np.integer)) or not 1 <= int(v) <= 20000:
            raise InvalidOptions(f"{name} must be an int in [1, 20000], got {v!r}")
    if not isinstance(seed, (int, np.integer)):
        raise InvalidOptions(f"seed must be an int, got {seed!r}")
    rng = np.random.default_rng(abs(int(seed)) + 7919 * (SKY_STYLES + ("twilight",)).index(style))
    scale = min(1.0, SKY_WORK_LONG_SIDE / max(width, height))
    ww, wh = max(2, round(width * scale)), max(2, round(height * scale))
    lin = _synthesise_sky(style, ww, wh, rng)
    # Sub-level grain dithers the 8-bit gradient (no banding) like sensor noise would.
    grain = rng.standard_normal((wh, ww, 3), dtype=np.float32) * np.float32(0.7 / 255)
    enc = np.clip(lin, 0.0, 1.0)
    enc = np.where(enc <= 0.0031308, enc * 12.92, 1.055 * np.power(enc, 1 / 2.4) - 0.055) + grain
    return np.clip(enc * 255.0 + 0.5, 0, 255).astype(np.uint8)


# --------------------------------------------------------------- compositing


def proxy_of(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``rgb`` resized to ``shape`` (h, w) by area averaging with a cheap pre-stride."""
    h, w = rgb.shape[:2]
    ph, pw = shape
    step = int(min(h / ph, w / pw) // 2)
    src = rgb[::step, ::step] if step > 1 else rgb
    return cv2.resize(src, (pw, ph), interpolation=cv2.INTER_AREA)


def channel_luts(gains, stops: float, contrast: float, shadow_lift: float = 0.0) -> np.ndarray:
    """256x1x3 uint8 LUT: sRGB -> linear, x gain x 2**stops, soft shoulder, encode, S-curve."""
    x = decode_srgb8(np.arange(256))
    out = np.empty((256, 3), np.float32)
    for c in range(3):
        factor = float(gains[c] * 2.0 ** stops)
        lin = x * np.float32(factor)
        if factor > 1.0:
            # Soft shoulder above 0.8 so a lift does not clip highlights; white stays white.
            top = math.tanh((factor - 0.8) / 0.2)
            lin = np.where(lin > 0.8, 0.8 + 0.2 * np.tanh((lin - 0.8) / 0.2) / top, lin)
        enc = encode_srgb8(lin).astype(np.float32) / 255.0
        enc = enc + shadow_lift * (1 - enc) ** 3 * enc * 4
        # Gentle S-curve around mid-grey; zero at black and white.
        enc = enc + contrast * np.sin(2 * np.pi * enc) / (2 * np.pi) * -1
        out[:, c] = np.clip(enc, 0, 1) * 255.0 + 0.5
    return np.clip(out, 0, 255).astype(np.uint8).reshape(256, 1, 3)


def _horizon_row(alpha_proxy: np.ndarray) -> float:
    """Share of the frame height where the sky ends: the row below which few columns are sky."""
    rows = (alpha_proxy >= 0.5).mean(axis=1)
    idx = np.nonzero(rows > 0.02)[0]
    return float((idx[-1] + 1) / alpha_proxy.shape[0]) if idx.size else 0.5


def _remix(base: np.ndarray, alpha: np.ndarray, new_sky: np.ndarray, old_sky: np.ndarray) -> np.ndarray:
    """Decontaminated composite of edge pixels: (N, 3) float32 arrays, alpha (N,).

    Edge pixels are mixtures ``I = (1 - a) F + a B_old``; adding ``a (B_new - B_old)``
    swaps the old sky for the new inside the mixture, so no grey rim remains. Toward
    a = 1 the old sky estimate hands over to the pixel itself, so the old cloud
    texture does not leak into the new sky.
    """
    a = alpha[:, None]
    solid = smoothstep(alpha, 0.8, 1.0)[:, None]
    old_eff = old_sky + solid * (base - old_sky)
    return np.clip(base + a * (new_sky - old_eff), 0, 255)


def _halo_score(composite_p: np.ndarray, new_p: np.ndarray, before_p: np.ndarray, matte: np.ndarray) -> float:
    """Share of the old-sky-to-new-sky difference left in a thin band on the sky side.

    Band: proxy pixels with matte >= 0.5 whose distance to the foreground (matte < 0.5)
    is 2-4 proxy px (~8-16 px at 12 MP). Score = mean |composite - new sky| over the
    band divided by mean |original - new sky| there (RGB, 8-bit units), clipped to
    [0, 1]: 0 = the band is the new sky, 1 = the old sky is untouched there. When the
    old and new skies differ by < 4 levels there is nothing to see and the score is 0.
    """
    sky = (matte >= 0.5).astype(np.uint8)
    if sky.all() or not sky.any():
        return 0.0
    dist = cv2.distanceTransform(sky, cv2.DIST_L2, 3)
    band = (dist >= 2) & (dist <= 4)
    if band.sum() < 10:
        return 0.0
    left = float(np.abs(composite_p[band].astype(np.float32) - new_p[band]).mean())
    before = float(np.abs(before_p[band].astype(np.float32) - new_p[band]).mean())
    return 0.0 if before < 4.0 else clamp(left / before, 0.0, 1.0)


def sky_swap(rgb: np.ndarray, proxy: np.ndarray, matte: np.ndarray, sky_style: str, seed: int,
              luts: np.ndarray, plate: dict | None = None) -> tuple[np.ndarray, float, float]:
    """Relight ``rgb`` with ``luts`` and composite a generated sky through ``matte``
    (the procedural sky of ``sky_style``, or ``plate``: see ``replace_sky``).

    Cheap at 12 MP because only edge pixels (0 < alpha < 1, a few % of the frame) get
    float maths; solid sky is a masked copy and the rest is the LUT. Returns
    (new HxWx3 uint8, halo score, sky fraction).
    """
    h, w = rgb.shape[:2]
    ph, pw = matte.shape
    out = cv2.LUT(rgb, luts)
    fraction = float((matte >= 0.5).mean())
    feathered = cv2.GaussianBlur(matte, (0, 0), 0.7)  # a light feather against stair-steps
    rows_p = np.nonzero(feathered.max(axis=1) > 0.004)[0]
    if rows_p.size == 0:
        return out, 0.0, 0.0
    # Upsample only the proxy rows that hold sky (the sky is rarely more than half the
    # frame); rounding the crop to whole rows shifts the matte by < 1 source px.
    p0, p1 = max(0, int(rows_p[0]) - 1), min(ph, int(rows_p[-1]) + 2)
    y0, y1 = int(round(p0 * h / ph)), min(h, int(round(p1 * h / ph)))
    alpha = cv2.resize(feathered[p0:p1], (w, y1 - y0), interpolation=cv2.INTER_LINEAR)
    if plate is not None:
        # A learned sky spans the full width from the top row down past the sky.
        small = plate["plate"]
        sky_h = max(2, int(round(float(plate["box_norm"][3]) * h)))
    else:
        # The generated sky's horizon goes where the photo's sky ends.
        sky_h = max(2, int(round(max(_horizon_row(matte), 0.15) * h)))
        small = _render_sky_small(sky_style, w, sky_h, seed)
    sky = cv2.resize(small, (w, sky_h), interpolation=cv2.INTER_LINEAR)
    if sky_h < y1:
        sky = np.concatenate([sky, np.repeat(sky[-1:], y1 - sky_h, axis=0)], axis=0)
    sky = sky[y0:y1]
    crop = out[y0:y1]
    # OpenCV's masked copy and point listing are ~5x faster than numpy's at 12 MP.
    solid = cv2.inRange(alpha, 0.998, 2.0)
    cv2.copyTo(sky, solid, crop)
    points = cv2.findNonZero(cv2.inRange(alpha, 0.002, 0.998 - 1e-6))
    if points is not None:
        points = points.reshape(-1, 2)  # (N, 1, 2) in OpenCV 4, (N, 2) in 5
        band_x, band_y = points[:, 0], points[:, 1]
        # Old sky colour next to every edge pixel, from the confident sky on the proxy
        # (relit, since the mixture being corrected is the relit one). The field is
        # smooth (sigma ~30 proxy px), so nearest sampling is exact enough.
        core = (matte > 0.9).astype(np.float32)
        old_proxy = local_mean(cv2.LUT(proxy, luts).astype(np.float32), core if core.any() else matte,
                                0.03 * max(ph, pw))
        py = np.minimum(((band_y + y0 + 0.5) * ph / h).astype(np.int32), ph - 1)
        px = np.minimum(((band_x + 0.5) * pw / w).astype(np.int32), pw - 1)
        mixed = _remix(crop[band_y, band_x].astype(np.float32), alpha[band_y, band_x],
                       sky[band_y, band_x].astype(np.float32), old_proxy[py, px])
        crop[band_y, band_x] = (mixed + 0.5).astype(np.uint8)
    comp_p = proxy_of(out, (ph, pw))
    new_small = cv2.resize(small, (pw, max(1, round(sky_h * ph / h))), interpolation=cv2.INTER_AREA)
    if new_small.shape[0] < ph:
        new_small = np.concatenate([new_small, np.repeat(new_small[-1:], ph - new_small.shape[0], axis=0)], axis=0)
    halo = _halo_score(comp_p, new_small[:ph], proxy, matte)
    return out, halo, fraction


def _check_plate(plate) -> dict | None:
    """A learned sky plate ``{"plate": hxwx3 uint8, "box_norm": [0, 0, 1, y1]}`` or None."""
    if plate is None or plate.get("plate") is None:
        return None
    img, box = plate.get("plate"), plate.get("box_norm")
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 \
            or min(img.shape[:2]) < 2:
        raise InvalidImage(f"sky plate must be an hxwx3 uint8 RGB array, got "
                           f"{getattr(img, 'shape', None)} {getattr(img, 'dtype', None)}")
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise InvalidOptions(f"sky plate box_norm must be [x0, y0, x1, y1] fractions, got {box!r}") from None
    if (x0, y0, x1) != (0.0, 0.0, 1.0) or not 0.0 < y1 <= 1.0:
        raise InvalidOptions(f"sky plate must span the full width from the top row: box_norm "
                             f"[0, 0, 1, y1] with 0 < y1 <= 1, got {box!r}")
    return {"plate": img, "box_norm": [x0, y0, x1, y1]}


def replace_sky(rgb: np.ndarray, proxy_matte: np.ndarray, style: str, seed: int,
                sky_plate: dict | None = None) -> dict:
    """Replace the sky of a full-resolution listing exterior with a generated sky.

    rgb: HxWx3 ``uint8`` RGB, full resolution; not modified. proxy_matte: hxw float32
    [0, 1] sky matte on any proxy grid with the image's aspect (``segment_sky``'s
    ``matte``). style: one of ``SKY_STYLES``; seed: int (same seed, same sky).

    The matte is feathered and upsampled; the foreground is relit gently toward the new
    sky's daylight (white-balance gains within +-6 %, +0.1 stop, a slight S-curve,
    all as one LUT computed in linear light); edge pixels are decontaminated (see
    ``_remix``). sky_plate: optional learned sky (the inpainter's ``sky_plate``):
    ``{"plate": hxwx3 uint8 at any size, "box_norm": [0, 0, 1, y1]}``, the full width
    from the top row to ``y1`` of the height; it replaces the procedural sky and the
    same matte, relight and edge treatment apply. Returns {"rgb": new HxWx3 uint8,
    "report": {"style", "seed", "sky_source": "procedural" | "learned",
    "sky_fraction", "relight": {"gains", "stops", "contrast"}, "halo"}, "halo": float,
    "backend": "classical"}; ``halo`` is defined in ``_halo_score`` (0 = none, 1 = the
    old sky untouched next to the edge). Raises ``InvalidImage`` / ``InvalidOptions``.
    """
    require_rgb_u8(rgb, min_side=16)
    _check_style(style)
    matte = check_matte(proxy_matte)
    check_matte_aspect(matte, rgb.shape[:2])
    if not isinstance(seed, (int, np.integer)):
        raise InvalidOptions(f"seed must be an int, got {seed!r}")
    proxy = proxy_of(rgb, matte.shape)
    plate = _check_plate(sky_plate)
    gains, stops, contrast = _relight_toward(proxy, matte, style, seed)
    luts = channel_luts(gains, stops, contrast)
    out, halo, fraction = sky_swap(rgb, proxy, matte, style, seed, luts, plate)
    report = {
        "style": style,
        "seed": int(seed),
        "sky_source": "learned" if plate is not None else "procedural",
        "sky_fraction": round(fraction, 4),
        "relight": {"gains": [round(float(g), 4) for g in gains], "stops": round(stops, 3),
                    "contrast": round(contrast, 3)},
        "halo": round(halo, 4),
    }
    return {"rgb": out, "report": report, "halo": round(halo, 4), "backend": "classical"}


#: Largest white-balance change the relight may make per channel (the sky is new,
#: the house is not: a stronger shift reads as a filter).
RELIGHT_MAX_GAIN = 0.06


def _relight_toward(proxy: np.ndarray, matte: np.ndarray, style: str, seed: int) -> tuple:
    """Per-channel gains (G = 1), exposure stops and contrast for the foreground."""
    sky = matte >= 0.5
    if sky.mean() < 0.005:
        return (1.0, 1.0, 1.0), 0.0, 0.0
    old = decode_srgb8(proxy[sky].mean(0))
    new = decode_srgb8(_render_sky_small(style, 64, 48, seed).reshape(-1, 3).mean(0))
    ratio = (new / np.maximum(new[1], 1e-6)) / (old / np.maximum(old[1], 1e-6))
    # A quarter of the way toward the new daylight: daylight from a blue sky is far
    # less blue than the sky itself.
    gains = np.clip(ratio ** 0.25, 1 - RELIGHT_MAX_GAIN, 1 + RELIGHT_MAX_GAIN)
    return tuple(float(g) for g in gains), 0.1, 0.04
