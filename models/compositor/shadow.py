"""Light direction from the original photo, and synthetic shadows that match it.

Conventions (the whole module):

- ``azimuth_deg`` is the image-plane direction the light comes FROM, counter-clockwise
  from the right: 0 = from the right, 90 = from the top, 180 = from the left,
  270 = from below. A shadow therefore falls towards ``azimuth + 180``.
- ``elevation_deg`` is the light's height above the floor: 90 = straight above the
  piece (short shadows), low values = long shadows.
- Shadow fields are HxW ``float32`` opacities in [0, 1] on the canvas: the compositor
  darkens the white background by ``background * (1 - opacity)``.

Every shadow is built from Gaussian blurs (never hard-edged) and multiplied by
:func:`safe_border_taper`, so a band along the canvas border stays exactly
``(255, 255, 255)``, JPEG chroma subsampling included.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from lumograph.models.common.errors import InvalidImage, InvalidOptions
from lumograph.models.common.imageio import require_rgb_u8

SHADOW_STYLES = ("none", "contact", "soft", "drop", "reflection")

#: Non-white content kept at least this far from the canvas border. A 4:2:0 JPEG codes
#: chroma in 16x16 blocks and its decoder interpolates chroma across one more sample, so
#: a border block that is all white decodes to exactly 255 only when nothing non-white
#: lies within its block; 24 px clears one block with room to spare.
JPEG_SAFE_MARGIN_PX = 24

#: Alpha above which a pixel counts as the subject for bounding boxes.
SUBJECT_ALPHA_THRESHOLD = 0.25

# Peak opacities, chosen so that the soft and drop shadows stay lighter than 48 grey
# levels below white (the QA gate's subject threshold) and so never read as product.
_CONTACT_OPACITY = 0.45
_AMBIENT_OPACITY = 0.08
_PENUMBRA_OPACITY = 0.14
_DROP_OPACITY = 0.16
_REFLECTION_OPACITY = 0.22

# Working resolutions: shadows are smooth, so they are built small and upsampled.
_CONTACT_WORK_SIDE = 1000
_SOFT_WORK_SIDE = 320


@dataclass(frozen=True)
class LightDirection:
    """Where the key light comes from, in the image plane.

    azimuth_deg: [0, 360), counter-clockwise from the right (90 = from the top).
    elevation_deg: [0, 90]. confidence: [0, 1] (0 = a default, not a measurement).
    method: ``"cast_shadow"``, ``"highlight"`` or ``"default"``.
    """

    azimuth_deg: float = 90.0
    elevation_deg: float = 60.0
    confidence: float = 0.0
    method: str = "default"

    def shadow_vector(self) -> tuple[float, float]:
        """Unit (dx, dy) in image coordinates (y down) pointing where shadows fall."""
        a = math.radians(self.azimuth_deg)
        return (-math.cos(a), math.sin(a))


DEFAULT_LIGHT = LightDirection()


def _validate_rgb_alpha(rgb: np.ndarray, alpha: np.ndarray | None) -> None:
    require_rgb_u8(rgb, "rgb_u8")
    if alpha is not None and (not isinstance(alpha, np.ndarray) or alpha.shape != rgb.shape[:2]):
        raise InvalidImage(
            f"alpha must be an HxW array matching the image {rgb.shape[:2]}, "
            f"got {getattr(alpha, 'shape', None)}"
        )


def _as_alpha(alpha: np.ndarray) -> np.ndarray:
    """HxW float32 in [0, 1]: ``alpha`` itself when it already is (callers never write
    to it), else a clipped copy."""
    a = np.asarray(alpha, dtype=np.float32)
    if a.ndim != 2:
        raise InvalidImage(f"alpha must be HxW, got shape {a.shape}")
    if a.size and 0.0 <= a.min() and a.max() <= 1.0:
        return a
    return np.clip(a, 0.0, 1.0)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) with exclusive ends of the True pixels, or None."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def estimate_light_direction(rgb_u8: np.ndarray, alpha: np.ndarray | None) -> LightDirection:
    """Estimate where the key light came from in the original photo.

    rgb_u8: HxWx3 uint8 RGB (the ~1024 px proxy). alpha: HxW float32 in [0, 1], the
    subject (None: no subject known). Returns a :class:`LightDirection`.

    Primary cue: the shadow the piece casts on the backdrop. Pixels in a band around
    the subject that are darker than the local backdrop and nearly neutral are shadow;
    their darkness-weighted centroid is offset from the band's own centroid away from
    the light. Ambient occlusion all around the piece cancels out, so only a one-sided
    shadow gives confidence. Secondary cue (capped confidence, metal highlights are
    everywhere on a curved piece): the brightest pixels on the subject sit towards the
    light; used only when strongly one-sided and from above. Otherwise the top-front
    studio default (azimuth 90, elevation 60, confidence 0) is returned.
    """
    _validate_rgb_alpha(rgb_u8, alpha)
    if alpha is None:
        return DEFAULT_LIGHT
    h, w = rgb_u8.shape[:2]
    scale = min(1.0, 512.0 / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    rgb = cv2.resize(rgb_u8, size, interpolation=cv2.INTER_AREA) if scale < 1 else rgb_u8
    a = _as_alpha(alpha)
    a = cv2.resize(a, size, interpolation=cv2.INTER_AREA) if scale < 1 else a
    subject = a > 0.5
    area = int(subject.sum())
    if area < 0.001 * subject.size or area > 0.9 * subject.size:
        return DEFAULT_LIGHT

    from_shadow = _light_from_cast_shadow(rgb, subject)
    if from_shadow.confidence >= 0.15:
        return from_shadow
    # Highlights on curved metal mirror every softbox in the room, so this cue is only
    # trusted when strongly one-sided and from above (where a studio key light sits).
    from_highlight = _light_from_highlights(rgb, subject)
    if from_highlight.confidence >= 0.3 and 0.0 < from_highlight.azimuth_deg < 180.0:
        return from_highlight
    return DEFAULT_LIGHT


def _light_from_cast_shadow(rgb: np.ndarray, subject: np.ndarray) -> LightDirection:
    rgbf = rgb.astype(np.float32)
    lum = rgbf @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    chroma = rgbf.max(axis=2) - rgbf.min(axis=2)
    box = _bbox(subject)
    assert box is not None
    x0, y0, x1, y1 = box
    long_side = max(x1 - x0, y1 - y0)
    radius = 0.5 * math.sqrt((x1 - x0) * (y1 - y0))

    outside = (~subject).astype(np.uint8)
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, 5)
    band = (dist > 1.5) & (dist <= max(4.0, 0.6 * long_side))

    # The backdrop level, local so a lit gradient on the paper is not read as shadow:
    # a normalised convolution of the luminance over everything that is not subject.
    # It is smooth by construction, so it is computed at 1/4 scale.
    h, w = lum.shape
    small = (max(1, w // 4), max(1, h // 4))
    sigma = max(1.0, 0.5 * long_side / 4.0)
    far = cv2.resize((dist > 1.5).astype(np.float32), small, interpolation=cv2.INTER_AREA)
    lum_far = cv2.resize(lum * (dist > 1.5), small, interpolation=cv2.INTER_AREA)
    num = cv2.GaussianBlur(lum_far, (0, 0), sigma)
    den = cv2.GaussianBlur(far, (0, 0), sigma)
    backdrop = cv2.resize(num / np.maximum(den, 1e-3), (w, h), interpolation=cv2.INTER_LINEAR)
    # The shadow itself pulls the local level down; the band's bright pixels do not.
    lit = np.percentile(lum[band], 90) if band.any() else 255.0
    backdrop = np.maximum(backdrop, 0.97 * lit)

    darkness = np.clip((backdrop - lum) / np.maximum(backdrop, 1.0), 0.0, 1.0)
    neutral = np.clip(1.0 - chroma / 40.0, 0.0, 1.0)  # coloured props are not shadow
    weight = np.where(band, np.maximum(darkness - 0.04, 0.0) * neutral, 0.0)
    total = float(weight.sum())
    band_area = float(band.sum())
    if total <= 0 or band_area == 0:
        return LightDirection(confidence=0.0, method="cast_shadow")
    ys, xs = np.nonzero(band)
    ref_x, ref_y = float(xs.mean()), float(ys.mean())
    wv = weight[ys, xs]
    sx = float((wv * xs).sum() / total)
    sy = float((wv * ys).sum() / total)
    dx, dy = sx - ref_x, sy - ref_y
    offset = math.hypot(dx, dy)

    mean_darkness = total / band_area
    directional = offset / max(radius, 1.0)
    confidence = min(1.0, directional / 0.25) * min(1.0, mean_darkness / 0.02)
    azimuth = math.degrees(math.atan2(dy, -dx)) % 360.0
    # A centroid sits about half-way along a cast shadow; length = height / tan(elev).
    elevation = math.degrees(math.atan2(radius, 2.0 * offset)) if offset > 0 else 90.0
    return LightDirection(
        azimuth_deg=round(azimuth, 2),
        elevation_deg=round(float(np.clip(elevation, 15.0, 85.0)), 2),
        confidence=round(float(confidence), 3),
        method="cast_shadow",
    )


def _light_from_highlights(rgb: np.ndarray, subject: np.ndarray) -> LightDirection:
    lum = rgb.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    ys, xs = np.nonzero(subject)
    vals = lum[ys, xs]
    if vals.size < 50:
        return LightDirection(confidence=0.0, method="highlight")
    hot = vals >= np.percentile(vals, 98)
    cx, cy = float(xs.mean()), float(ys.mean())
    dx = float(xs[hot].mean()) - cx
    dy = float(ys[hot].mean()) - cy
    radius = math.sqrt(vals.size / math.pi)
    directional = math.hypot(dx, dy) / max(radius, 1.0)
    confidence = 0.35 * min(1.0, directional / 0.5)
    azimuth = math.degrees(math.atan2(-dy, dx)) % 360.0
    return LightDirection(
        azimuth_deg=round(azimuth, 2),
        elevation_deg=60.0,
        confidence=round(float(confidence), 3),
        method="highlight",
    )


def safe_border_taper(hw: tuple[int, int], *, margin_px: int = JPEG_SAFE_MARGIN_PX) -> np.ndarray:
    """Weights that are exactly 0 within ``margin_px`` of the border, rising smoothly to 1.

    hw: (h, w). Returns a new HxW float32 array in [0, 1]. The ramp is 5% of the short
    side (at least 32 px), so multiplying a soft shadow by it adds no visible edge.
    """
    return _shared_border_taper(int(hw[0]), int(hw[1]), int(margin_px)).copy()


def border_taper_view(hw: tuple[int, int]) -> np.ndarray:
    """:func:`safe_border_taper` at the default margin as a shared, read-only array.

    For the compositor and the shadows, which multiply by it on every request: a canvas
    of 2000x2000 is 16 MB of float32 that is then built once per canvas size, not twice
    per request. Never write to it (it is flagged read-only).
    """
    return _shared_border_taper(int(hw[0]), int(hw[1]), JPEG_SAFE_MARGIN_PX)


@functools.lru_cache(maxsize=2)
def _shared_border_taper(h: int, w: int, margin_px: int) -> np.ndarray:
    ramp = max(32.0, 0.05 * min(h, w))

    def axis(n: int) -> np.ndarray:
        idx = np.arange(n, dtype=np.float32)
        d = np.minimum(idx, n - 1 - idx)
        t = np.clip((d - margin_px) / ramp, 0.0, 1.0)
        return t * t * (3.0 - 2.0 * t)

    taper = np.outer(axis(h), axis(w)).astype(np.float32, copy=False)
    taper.setflags(write=False)
    return taper


def _resize_to(field: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h, w = hw
    if field.shape == (h, w):
        return field
    return cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)


def _downscaled(alpha: np.ndarray, work_side: int) -> tuple[np.ndarray, float]:
    h, w = alpha.shape
    f = min(1.0, work_side / max(h, w))
    if f >= 1.0:
        return alpha, 1.0
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(alpha, size, interpolation=cv2.INTER_AREA), f


def _shift(field: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(
        field, m, (field.shape[1], field.shape[0]), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )


def blur_row_band(field: np.ndarray, sigma_x: float, sigma_y: float) -> np.ndarray:
    """``cv2.GaussianBlur(field, (0, 0), sigma_x, sigma_y)`` of a field that is zero
    outside a band of rows, blurring only that band plus twice the kernel's reach (so
    the reflected border rows are zeros too, and the result is identical). The wide
    contact kernel on the whole work grid was most of the shadow's cost."""
    rows = np.flatnonzero(field.any(axis=1))
    if rows.size == 0:
        return np.zeros_like(field)
    reach = 2 * (math.ceil(4.0 * sigma_y) + 1)
    r0, r1 = max(0, int(rows[0]) - reach), min(field.shape[0], int(rows[-1]) + 1 + reach)
    out = np.zeros_like(field)
    out[r0:r1] = cv2.GaussianBlur(field[r0:r1], (0, 0), sigmaX=sigma_x, sigmaY=sigma_y)
    return out


def _contact_field(alpha: np.ndarray) -> np.ndarray:
    """Ground-line occlusion under the lowest part of the piece, plus faint ambient
    occlusion around it; peak opacity ``_CONTACT_OPACITY``."""
    a, _ = _downscaled(alpha, _CONTACT_WORK_SIDE)
    box = _bbox(a > SUBJECT_ALPHA_THRESHOLD)
    if box is None:
        return np.zeros(alpha.shape, np.float32)
    x0, y0, x1, y1 = box
    hs = y1 - y0
    s = max(x1 - x0, hs)
    band = max(2, round(0.06 * hs))
    base = np.zeros_like(a)
    base[y1 - band:y1] = a[y1 - band:y1]
    # The floor is seen at a grazing angle: the contact shadow spreads sideways and
    # hardly at all in depth, so the blur is anisotropic and nudged below the base.
    sig_y = max(0.8, 0.008 * s)
    contact = blur_row_band(_shift(base, 0.0, 0.6 * sig_y), 2.5 * sig_y, sig_y)
    peak = float(contact.max())
    if peak > 0:
        contact = contact * (_CONTACT_OPACITY / peak)
    ambient = cv2.GaussianBlur(a, (0, 0), max(0.8, 0.006 * s)) * _AMBIENT_OPACITY
    combined = 1.0 - (1.0 - contact) * (1.0 - ambient)
    return _resize_to(combined.astype(np.float32), alpha.shape)


def _offset_silhouette(alpha: np.ndarray, light: LightDirection, *, length: float, sigma: float,
                       opacity: float) -> np.ndarray:
    """The silhouette moved away from the light by ``length`` x subject size, blurred by
    ``sigma`` x subject size; long shadows for a low light."""
    a, _ = _downscaled(alpha, _SOFT_WORK_SIDE)
    box = _bbox(a > SUBJECT_ALPHA_THRESHOLD)
    if box is None:
        return np.zeros(alpha.shape, np.float32)
    x0, y0, x1, y1 = box
    s = max(x1 - x0, y1 - y0)
    elev = math.radians(float(np.clip(light.elevation_deg, 15.0, 89.0)))
    # Relative to the studio default of 60 degrees, so the default gives ``length``.
    stretch = float(np.clip(math.tan(math.radians(60.0)) / math.tan(elev), 0.25, 3.0))
    ux, uy = light.shadow_vector()
    # A lightbox shadow falls on the floor, in front of or behind the piece, never up
    # the backdrop: a light read from below (a flat-lay, or a reflector) is mirrored.
    uy = abs(uy)
    d = length * stretch * s
    moved = _shift(a, ux * d, uy * d)
    blurred = cv2.GaussianBlur(moved, (0, 0), max(0.8, sigma * s))
    return _resize_to((blurred * opacity).astype(np.float32), alpha.shape)


def synthesize_contact_shadow(
    alpha_canvas: np.ndarray,
    light: LightDirection | None,
    style: str,
    *,
    strength: float = 1.0,
) -> np.ndarray:
    """A soft shadow field for the piece placed on the canvas.

    alpha_canvas: HxW float32 in [0, 1], the subject's coverage on the canvas.
    light: where the light comes from (None: the top-front default). style: one of
    ``SHADOW_STYLES``; ``"reflection"`` is an RGB layer (see :func:`reflection_layer`)
    and gets the contact shadow here. strength: multiplies every opacity, in [0, 2].
    A light from below the horizon (azimuth in (180, 360)) is mirrored to above:
    shadows always fall downward in the frame.
    Returns HxW float32 opacities in [0, 1], exactly 0 within ``JPEG_SAFE_MARGIN_PX``
    of the border. The shadow also lies under the piece; the compositor covers it.
    """
    if style not in SHADOW_STYLES:
        raise InvalidOptions(f"unknown shadow style {style!r}; expected one of {list(SHADOW_STYLES)}")
    if not 0.0 <= strength <= 2.0:
        raise InvalidOptions(f"shadow strength must be in [0, 2], got {strength!r}")
    alpha = _as_alpha(alpha_canvas)
    light = light or DEFAULT_LIGHT
    if style == "none" or strength == 0.0:
        return np.zeros(alpha.shape, np.float32)
    layers = []
    if style in ("contact", "soft", "reflection"):
        layers.append(_contact_field(alpha))
    if style == "soft":
        layers.append(_offset_silhouette(alpha, light, length=0.03, sigma=0.035, opacity=_PENUMBRA_OPACITY))
    if style == "drop":
        layers.append(_offset_silhouette(alpha, light, length=0.05, sigma=0.015, opacity=_DROP_OPACITY))
    # Every layer is a fresh canvas-sized array owned here: combined in place, since at
    # canvas size fresh temporaries cost more than the arithmetic.
    clear = None
    for layer in layers:
        if strength != 1.0:
            layer *= strength
        np.clip(layer, 0.0, 1.0, out=layer)
        np.subtract(1.0, layer, out=layer)
        if clear is None:
            clear = layer
        else:
            clear *= layer
    if clear is None:
        clear = np.ones(alpha.shape, np.float32)
    shadow = np.subtract(1.0, clear, out=clear)
    shadow *= border_taper_view(alpha.shape)
    np.clip(shadow, 0.0, 0.9, out=shadow)
    return shadow


def reflection_layer(
    premultiplied_rgb: np.ndarray,
    alpha: np.ndarray,
    *,
    opacity: float = _REFLECTION_OPACITY,
    fade_fraction: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """A glossy-acrylic reflection: the piece mirrored below its base, fading out.

    premultiplied_rgb: HxWx3 float32 in [0, 255], the piece's colour times its alpha on
    the canvas. alpha: HxW float32 in [0, 1], its coverage. opacity: the reflection's
    strength at the base, in [0, 1]. fade_fraction: how far it reaches, as a fraction of
    the piece's height. Returns ``(premultiplied_layer HxWx3 float32, layer_alpha HxW
    float32)``, to be laid over the background as ``bg * (1 - a) + layer``; both are 0
    within ``JPEG_SAFE_MARGIN_PX`` of the border.
    """
    if not 0.0 <= opacity <= 1.0 or not 0.0 < fade_fraction <= 1.0:
        raise InvalidOptions(
            f"reflection opacity must be in [0, 1] and fade_fraction in (0, 1], "
            f"got {opacity!r}, {fade_fraction!r}"
        )
    a = _as_alpha(alpha)
    h, w = a.shape
    layer = np.zeros((h, w, 3), np.float32)
    layer_alpha = np.zeros((h, w), np.float32)
    box = _bbox(a > SUBJECT_ALPHA_THRESHOLD)
    if box is None:
        return layer, layer_alpha
    _, y0, _, y1 = box
    # Fade out before the safe border band instead of being cut by it.
    reach = max(1, min(round(fade_fraction * (y1 - y0)), h - JPEG_SAFE_MARGIN_PX - y1))
    n = min(reach, h - y1, y1)
    if n <= 0:
        return layer, layer_alpha
    k = np.arange(n, dtype=np.float32)
    fade = (opacity * (1.0 - k / reach) ** 2)[:, None]
    mirrored = slice(y1 - 1, y1 - 1 - n, -1) if y1 - 1 - n >= 0 else slice(y1 - 1, None, -1)
    # Work on the band of rows the reflection occupies (plus room for the blur).
    sigma = max(0.7, 0.004 * (y1 - y0))
    margin = math.ceil(3 * sigma)
    b0, b1 = max(0, y1 - margin), min(h, y1 + n + margin)
    band_a = np.zeros((b1 - b0, w), np.float32)
    band_p = np.zeros((b1 - b0, w, 3), np.float32)
    band_a[y1 - b0:y1 - b0 + n] = a[mirrored][:n] * fade
    band_p[y1 - b0:y1 - b0 + n] = np.asarray(premultiplied_rgb, np.float32)[mirrored][:n] * fade[:, :, None]
    # Real acrylic is not a perfect mirror: a slight blur reads as a surface.
    band_a = cv2.GaussianBlur(band_a, (0, 0), sigma)
    band_p = cv2.GaussianBlur(band_p, (0, 0), sigma)
    taper = border_taper_view((h, w))[b0:b1]
    layer_alpha[b0:b1] = band_a * taper
    layer[b0:b1] = band_p * taper[:, :, None]
    return layer, layer_alpha
