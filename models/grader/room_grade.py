"""Room-aware colour grade for listing photos (classical, parametric, no weights).

What a listing editor does to an interior, per room, as one named parameter set
(``ROOM_LOOKS``, each documented with its reason): take most of the colour cast out,
land the white point a little warm or cool of neutral to suit the room, bring the
exposure to a bright but not washed-out median, open the shadows with a smooth curve
and add a touch of colour. The transform is measured on a proxy and applied at full
resolution as three 256-entry per-channel tables (white balance, exposure, highlight
shoulder, shadow lift and contrast folded together: one ``cv2.LUT`` pass) followed by
one luma-preserving 3x3 saturation matrix (``cv2.transform`` on uint8). That is a
global saturation, not a true vibrance (which weights muted colours more): a per-pixel
vibrance costs ~190 ms more at 12 MP, over the grade's budget, so the amounts are kept
small (<= 1.08) where a global boost and a vibrance look alike.

* White balance is a von Kries (diagonal) gain in linear sRGB, like a camera's, from
  ``color.estimate_illuminant`` on the proxy, moved ``wb_strength`` of the way to
  neutral and then onto the room's target white (a CIE daylight of ``white_cct_k``;
  6504 K is neutral). Very strong "casts" are more often wall paint or wood than light,
  so the strength fades beyond each room's ``cast_trust_deg``.
* Every channel's curve keeps the codes from ``CLIP_LEVEL`` (250) up as they are and
  maps everything below to below it, so a blown window stays white and no pixel that
  was not clipped becomes clipped by the tables (a highlight shoulder absorbs the
  gain); the curves are non-decreasing, so the order of grey levels is kept.

Images are HxWx3 ``uint8`` RGB; inputs are never mutated.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import cv2
import numpy as np

from lumograph.models.common.colour import srgb_encode, srgb_to_linear
from lumograph.models.common.errors import InvalidImage, InvalidOptions
from lumograph.models.common.imageio import fast_downscale, require_rgb_u8
from lumograph.models.grader.illuminant import NEUTRAL, angular_error_deg, estimate_illuminant

#: Long side the cast is measured at: the estimator's answer is stable from here up,
#: and it costs ~35 ms instead of ~90 ms at 1024 px.
CAST_LONG_SIDE = 768
#: Long side of the proxy the exposure is solved on (a median needs few pixels).
EXPOSURE_LONG_SIDE = 320
#: A pixel with a channel at or above this level counts as clipped.
CLIP_LEVEL = 250
#: A pixel whose every channel is at or below this level counts as crushed black.
DARK_LEVEL = 8
#: A measured cast this far beyond the room's ``cast_trust_deg`` gets no correction
#: (the strength fades linearly to nothing over this span).
CAST_FADE_SPAN_DEG = 12.0
#: Exposure never darkens by more than this (stops).
MIN_EV = -0.3
#: A photo whose median sits between the room's target and this much above it is left
#: at its exposure: bright is what listings want, and darkening an airy white kitchen
#: to a "correct" median is what a filter does, not an editor.
EXPOSURE_HEADROOM = 0.2
#: Share of the clip level (linear) where the highlight shoulder starts for channels
#: gained above 1.
SHOULDER_KNEE = 0.75
#: Power of the blend that brings a channel gained below 1 back to the clip level: high,
#: so only the top ~15 codes are pulled to white (a lower power lifts that channel
#: across all bright colours and twists warm highlights toward pink).
RETURN_TO_WHITE_POWER = 24
#: Shadow lift acts fully when the 10th luma percentile is at or below FULL and fades
#: to nothing at NONE (a photo without shadows is not flattened).
SHADOW_P10_FULL = 0.10
SHADOW_P10_NONE = 0.30
#: Gamma-space luma weights (Rec. 601, what "luma" of an sRGB file means).
_LUMA601 = np.array([0.299, 0.587, 0.114])
_NEUTRAL_CCT_K = 6504.0


@dataclass(frozen=True)
class RoomLook:
    """One room's grade. wb_strength: [0, 1] share of the measured cast removed.
    white_cct_k: the white the room lands on (6504 = neutral, lower = warmer).
    target_median: [0, 1] sRGB luma median aimed at (a darker photo is lifted to it; a
    brighter one is only brought down to ``target_median + EXPOSURE_HEADROOM``).
    max_ev: the most exposure lift (stops): 1.5 indoors, where dark rooms shot without
    flash are the norm and listing editors push them hard; less outdoors. shadow_lift: [0, 1] strength of the shadow
    curve (scaled by how much shadow there is). contrast: [0, 0.3] S-curve blend.
    saturation: luma-preserving saturation factor (1 = unchanged). cast_trust_deg: a
    measured cast up to this angle is light and gets ``wb_strength``; beyond it is more
    and more likely the scene's own colour (paint, wood, stucco, a lawn) and the
    correction fades to nothing over ``CAST_FADE_SPAN_DEG``. why: the editor's reason."""

    wb_strength: float
    white_cct_k: float
    target_median: float
    max_ev: float
    shadow_lift: float
    contrast: float
    saturation: float
    cast_trust_deg: float
    why: str


ROOM_LOOKS: dict[str, RoomLook] = {
    "kitchen": RoomLook(
        0.95, 6900.0, 0.55, 1.5, 0.30, 0.04, 1.04, 15.0,
        "bright and clean: cabinets, counters and appliances must read white, not cream, "
        "so the cast goes and the white lands a little cool; lifted a touch above the "
        "other rooms because buyers expect kitchens bright"),
    "bathroom": RoomLook(
        1.0, 6504.0, 0.54, 1.5, 0.20, 0.03, 1.02, 15.0,
        "clean neutral: any tint on tile, porcelain and towels reads as dirt, so the "
        "white balance is full and neutral; a slight lift, little shadow work (small "
        "rooms, hard light)"),
    "bedroom": RoomLook(
        0.85, 6200.0, 0.50, 1.5, 0.35, 0.0, 1.03, 15.0,
        "soft warm neutral: restful, so the white lands just warm of neutral and a little "
        "lamp warmth stays; gentle shadow lift for bedding and furniture detail"),
    "living": RoomLook(
        0.85, 6000.0, 0.50, 1.5, 0.50, 0.0, 1.05, 15.0,
        "warm and inviting: most of a lamp cast goes (a raw tungsten room reads orange, "
        "not cosy) but the white lands warm, and the shadows under sofas and shelves "
        "that wide living-room shots are full of are recovered"),
    "dining": RoomLook(
        0.80, 5900.0, 0.50, 1.5, 0.35, 0.02, 1.05, 15.0,
        "warm: a table under a pendant should look like dinner light, not an office, so "
        "more of the lamp stays and the white lands warmest; moderate shadow lift"),
    "other": RoomLook(
        0.85, 6504.0, 0.50, 1.5, 0.30, 0.02, 1.03, 15.0,
        "neutral balanced: no room-specific intent, so most of the cast goes and the "
        "exposure and shadows are brought to a standard listing look"),
    "exterior": RoomLook(
        0.85, 6504.0, 0.46, 0.6, 0.25, 0.10, 1.08, 5.0,
        "natural daylight: neutral white balance (no warm filter), a little contrast "
        "and colour for lawns and sky, exposure kept lower and lifted less than "
        "interiors so the sky and siding hold detail; a camera's daylight balance is "
        "rarely far off outdoors, so a large measured cast is read as warm stucco, "
        "brick or lawn and left mostly alone"),
}
ROOM_LOOKS["interior"] = ROOM_LOOKS["other"]
ROOM_TYPES = tuple(ROOM_LOOKS)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """HxW uint8 Rec. 601 luma of an RGB uint8 image."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def measure_cast(proxy_rgb: np.ndarray) -> dict:
    """Measure the colour cast and exposure of a photo on its proxy.

    proxy_rgb: HxWx3 uint8 RGB, ~1024 px long side (reduced to ``CAST_LONG_SIDE``).
    Returns {"cast_deg": angle in degrees between the estimated illuminant (the
    default scene estimator of ``color.estimate_illuminant`` on the linearised proxy)
    and neutral, "illuminant_rgb": [r, g, b] unit linear-sRGB vector,
    "median_luminance": sRGB (Rec. 601) luma median in [0, 1], "clipped_share": share of
    pixels with a channel >= ``CLIP_LEVEL``, "dark_share": share with every channel <=
    ``DARK_LEVEL``}. Raises ``InvalidImage`` for a non-RGB-uint8 or tiny input.
    """
    require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=8, purpose="to grade")
    small = fast_downscale(proxy_rgb, CAST_LONG_SIDE)
    try:
        illuminant = estimate_illuminant(srgb_to_linear(small), saturation=1.0)
    except InvalidImage:  # an all-black frame has no light to measure: call it neutral
        illuminant = NEUTRAL.copy()
    luma = _luma(small)
    top = cv2.max(cv2.max(small[..., 0], small[..., 1]), small[..., 2])
    bottom = cv2.min(cv2.min(small[..., 0], small[..., 1]), small[..., 2])
    return {
        "cast_deg": round(angular_error_deg(illuminant, NEUTRAL), 3),
        "illuminant_rgb": [round(float(v), 5) for v in illuminant],
        "median_luminance": round(float(np.median(luma)) / 255.0, 4),
        "clipped_share": round(float((top >= CLIP_LEVEL).mean()), 5),
        "dark_share": round(float((bottom <= DARK_LEVEL).mean()), 5),
    }


# ------------------------------------------------------------------ the curves


@lru_cache(maxsize=32)
def _white_rgb(cct_k: float) -> tuple[float, float, float]:
    """Linear sRGB of a CIE daylight of ``cct_k`` kelvin, green = 1 (colour-science)."""
    import colour  # lazily: ~1 s to import, needed once per look

    xy = colour.temperature.CCT_to_xy_CIE_D(cct_k * 1.4388 / 1.4380)  # ITS-90 c2, as for D65
    rgb = np.asarray(colour.RGB_COLOURSPACES["sRGB"].matrix_XYZ_to_RGB) @ colour.xy_to_XYZ(xy)
    return tuple(float(v) for v in rgb / rgb[1])


def _channel_gains(illuminant: np.ndarray, strength: float, white_cct_k: float) -> np.ndarray:
    """(3,) linear gains: remove ``strength`` of the cast, then land on the room's white;
    normalised so the gains' Rec. 709 luminance is 1 (exposure is solved separately)."""
    light = np.maximum(np.asarray(illuminant, np.float64), 1e-6)
    light = light / light[1]
    # Geometric interpolation between no correction and full: equal steps in log gain.
    partial = np.exp(strength * np.log(light))
    look = np.array(_white_rgb(white_cct_k)) / np.array(_white_rgb(_NEUTRAL_CCT_K))
    gains = look / partial
    return gains / float(np.array([0.2126, 0.7152, 0.0722]) @ gains)


def _rolloff(x: np.ndarray, gain: float) -> np.ndarray:
    """Linear [0, 1] -> [0, 1] per-channel curve with slope ``gain`` at black that maps
    the clip level (code ``CLIP_LEVEL``) onto itself and is the identity above it, so
    nothing below the clip level is pushed into it. gain > 1: linear up to
    ``SHOULDER_KNEE`` of the clip level, then a rational shoulder; gain <= 1: a blend
    toward x^``RETURN_TO_WHITE_POWER`` that brings the top back to the clip level.
    Non-decreasing."""
    top = _X_TOP
    below = x < top
    if gain <= 1.0:
        y = gain * x + (1.0 - gain) * top * (np.minimum(x, top) / top) ** RETURN_TO_WHITE_POWER
        return np.where(below, y, x)
    knee = SHOULDER_KNEE * top
    y = gain * x
    u = np.maximum(y - knee, 0.0)
    u_top = gain * top - knee
    c = u_top * (top - knee) / (u_top - (top - knee))
    y = np.where(y <= knee, y, knee + u / (1.0 + u / c))
    return np.where(below, y, x)


def _shadow_curve(t: np.ndarray, amount: float) -> np.ndarray:
    """Encoded [0, 1] -> [0, 1]: lifts the lower tones most (peak near t = 0.25), fixes 0
    and 1; monotone for amount < 4 (we use < 1)."""
    return t + amount * t * (1.0 - t) ** 3


def _contrast_curve(t: np.ndarray, amount: float) -> np.ndarray:
    """Blend toward smoothstep: a gentle S around mid-grey, fixes 0 and 1, monotone."""
    return (1.0 - amount) * t + amount * t * t * (3.0 - 2.0 * t)


_CODES = np.arange(256) / 255.0
#: The 256 8-bit sRGB codes, decoded to linear light (float64).
_X_LINEAR = np.where(_CODES <= 0.04045, _CODES / 12.92, ((_CODES + 0.055) / 1.055) ** 2.4)
_X_TOP = float(_X_LINEAR[CLIP_LEVEL])


def _build_lut(gains: np.ndarray, ev: float, shadow: float, contrast: float) -> np.ndarray:
    """(256, 1, 3) uint8 table for ``cv2.LUT``: per channel rolloff(gain * 2^ev), encode,
    contrast, shadow lift. Codes below ``CLIP_LEVEL`` stay below it; 255 stays 255."""
    exposure = 2.0 ** ev
    lut = np.empty((256, 3), np.float64)
    for c in range(3):
        t = srgb_encode(_rolloff(_X_LINEAR, float(gains[c]) * exposure))
        lut[:, c] = _shadow_curve(_contrast_curve(t, contrast), shadow)
    table = np.clip(np.round(lut * 255.0), 0, 255)
    # The S-curve may lift the top by half a code: clamp so no new clipping appears.
    table[:CLIP_LEVEL] = np.minimum(table[:CLIP_LEVEL], CLIP_LEVEL - 1)
    table[CLIP_LEVEL:] = np.arange(CLIP_LEVEL, 256)[:, None]  # the clipped top is kept as it was
    table = np.maximum.accumulate(table, axis=0)  # rounding never breaks the order
    return table.astype(np.uint8).reshape(256, 1, 3)


def _saturation_matrix(amount: float) -> np.ndarray:
    """3x3 float32: amount * I + (1 - amount) * (grey = luma); Rec. 601 luma is kept."""
    grey = np.tile(_LUMA601, (3, 1))
    return (amount * np.eye(3) + (1.0 - amount) * grey).astype(np.float32)


def _apply(rgb: np.ndarray, lut: np.ndarray, saturation: float) -> np.ndarray:
    out = cv2.LUT(np.ascontiguousarray(rgb), lut)
    if abs(saturation - 1.0) > 1e-6:
        out = cv2.transform(out, _saturation_matrix(saturation))
    return out


def _solve_ev(small: np.ndarray, gains: np.ndarray, band: tuple[float, float], shadow: float,
              contrast: float, max_ev: float) -> float:
    """EV in [``MIN_EV``, ``max_ev``] whose full curve puts the proxy's luma median inside
    ``band`` (0 when it already is; else the nearer edge, by bisection: the median is
    non-decreasing in EV)."""
    lo, hi = MIN_EV, max_ev

    def median_at(ev: float) -> float:
        return float(np.median(_luma(cv2.LUT(small, _build_lut(gains, ev, shadow, contrast))))) / 255.0

    now = median_at(0.0)
    if band[0] <= now <= band[1]:
        return 0.0
    target = band[0] if now < band[0] else band[1]
    if median_at(hi) <= target:
        return hi
    if median_at(lo) >= target:
        return lo
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        if median_at(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def grade_room(rgb: np.ndarray, room_type: str) -> dict:
    """Grade a listing photo the way an editor would for its room type.

    rgb: HxWx3 uint8 RGB, any size. room_type: one of ``ROOM_TYPES`` (kitchen, bathroom,
    bedroom, living, dining, other, interior, exterior).
    Returns {"rgb": new HxWx3 uint8 RGB, same shape, "report": {"room_type",
    "params": the look (``RoomLook`` fields) plus what was solved: "wb_strength_used",
    "channel_gains", "exposure_ev", "shadow_lift_used", "cast_deg_before",
    "cast_deg_after" (re-measured on the graded proxy; it includes the room's intended
    warm or cool white, so a kitchen or living room is not at 0), "median_luminance_before",
    "median_luminance_after", "clipped_share_before", "clipped_share_after"}}.
    Raises ``InvalidOptions`` (quoting it) for an unknown room type and
    ``InvalidImage`` for a non-RGB-uint8 or tiny input.
    """
    if not isinstance(room_type, str) or room_type.lower() not in ROOM_LOOKS:
        raise InvalidOptions(f"unknown room_type {room_type!r}; accepted: {list(ROOM_TYPES)}")
    require_rgb_u8(rgb, "rgb", min_side=8, purpose="to grade")
    room = room_type.lower()
    look = ROOM_LOOKS[room]
    proxy = fast_downscale(rgb, CAST_LONG_SIDE)
    before = measure_cast(proxy)
    cast = before["cast_deg"]
    fade = min(1.0, max(0.0, (cast - look.cast_trust_deg) / CAST_FADE_SPAN_DEG))
    strength = look.wb_strength * (1.0 - fade)
    gains = _channel_gains(np.array(before["illuminant_rgb"]), strength, look.white_cct_k)

    small = fast_downscale(proxy, EXPOSURE_LONG_SIDE)
    band = (look.target_median, look.target_median + EXPOSURE_HEADROOM)
    ev0 = _solve_ev(small, gains, band, 0.0, look.contrast, look.max_ev)
    p10 = float(np.percentile(_luma(cv2.LUT(small, _build_lut(gains, ev0, 0.0, look.contrast))), 10)) / 255.0
    need = min(1.0, max(0.0, (SHADOW_P10_NONE - p10) / (SHADOW_P10_NONE - SHADOW_P10_FULL)))
    shadow = look.shadow_lift * need
    ev = _solve_ev(small, gains, band, shadow, look.contrast, look.max_ev) if shadow > 0 else ev0
    lut = _build_lut(gains, ev, shadow, look.contrast)

    out = _apply(rgb, lut, look.saturation)
    after = measure_cast(_apply(proxy, lut, look.saturation))
    params = {k: v for k, v in asdict(look).items() if k != "why"}
    params.update(why=look.why, wb_strength_used=round(strength, 3),
                  channel_gains=[round(float(g), 4) for g in gains], exposure_ev=round(ev, 3),
                  shadow_lift_used=round(shadow, 3))
    return {"rgb": out, "report": {
        "room_type": room, "params": params,
        "cast_deg_before": before["cast_deg"], "cast_deg_after": after["cast_deg"],
        "median_luminance_before": before["median_luminance"],
        "median_luminance_after": after["median_luminance"],
        "clipped_share_before": before["clipped_share"], "clipped_share_after": after["clipped_share"],
    }}
