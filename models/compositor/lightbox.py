"""The lightbox compositor: the cut-out piece on pure white, with a soft shadow.

Compositing space: sRGB-encoded values, not linear light. The matte's alpha and
foreground were solved under the model ``I = a F + (1 - a) B`` on the camera's encoded
values; recompositing under the same model reproduces the edges the matte describes
(a thin chain keeps its weight), where linear-light blending would thin and brighten
every partially covered pixel. Shadows darken the background multiplicatively in the
same space, so their depth in grey levels is exactly what the QA gate reads back.

Placement: the piece's bounding box (alpha > ``SUBJECT_ALPHA_THRESHOLD``) is scaled so
the fill ratio (see ``lumograph.models.common.marketplaces.fill_ratio``) equals the target
and centred on the canvas; ``vertical_bias`` lifts it into the free space above (used
to leave room for a reflection below).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from lumograph.models.common.errors import InvalidImage, InvalidOptions, SubjectNotFound
from lumograph.models.common.marketplaces import fill_ratio as measure_fill_ratio
from lumograph.models.compositor.shadow import (
    DEFAULT_LIGHT,
    JPEG_SAFE_MARGIN_PX,
    SHADOW_STYLES,
    SUBJECT_ALPHA_THRESHOLD,
    LightDirection,
    border_taper_view,
    reflection_layer,
    synthesize_contact_shadow,
)

#: Depth of the grey behind the piece at its centre, in 8-bit levels below white.
BACKGROUND_DEPTH_LEVELS = 4.0


@dataclass
class Composite:
    """A composed lightbox image.

    rgb: HxWx3 uint8 RGB (straight colour when ``transparent``, white where alpha is 0).
    alpha: HxW float32 in [0, 1], the piece's coverage on the canvas.
    subject_bbox: (x0, y0, x1, y1), exclusive ends, canvas pixels.
    fill_ratio: measured from ``alpha`` (see ``marketplaces.fill_ratio``).
    canvas_size: (w, h). report: JSON-able facts about the composition.
    """

    rgb: np.ndarray
    alpha: np.ndarray
    subject_bbox: tuple[int, int, int, int]
    fill_ratio: float
    canvas_size: tuple[int, int]
    report: dict = field(default_factory=dict)


def subject_bbox(mask: np.ndarray, *, min_component_fraction: float = 0.001) -> tuple[int, int, int, int] | None:
    """Bounding box of a subject mask, ignoring specks.

    mask: HxW bool. Connected components (8-connected) smaller than
    ``min_component_fraction`` of the largest one, or than 4 px, are ignored, so a
    stray matting speck or a JPEG artefact cannot stretch the box, while the second
    earring of a pair or a detached chain segment still counts.
    Returns (x0, y0, x1, y1) with exclusive ends, or None when the mask is empty.
    """
    m = np.ascontiguousarray(mask, dtype=np.uint8)
    if not m.any():
        return None
    n, _, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = areas >= max(4.0, min_component_fraction * float(areas.max()))
    if not keep.any():
        return None
    st = stats[1:][keep]
    x0 = int(st[:, cv2.CC_STAT_LEFT].min())
    y0 = int(st[:, cv2.CC_STAT_TOP].min())
    x1 = int((st[:, cv2.CC_STAT_LEFT] + st[:, cv2.CC_STAT_WIDTH]).max())
    y1 = int((st[:, cv2.CC_STAT_TOP] + st[:, cv2.CC_STAT_HEIGHT]).max())
    return x0, y0, x1, y1


def plan_placement(
    subject_hw: tuple[int, int],
    canvas_wh: tuple[int, int],
    fill: float,
    *,
    vertical_bias: float = 0.0,
) -> tuple[float, int, int]:
    """Scale and position of the piece's bounding box on the canvas.

    subject_hw: (h, w) of the piece's bounding box in source pixels. canvas_wh: (w, h).
    fill: target fill ratio in (0, 1]. vertical_bias: in [0, 1], the share of the free
    space above the centred piece to lift it by; never closer than
    ``JPEG_SAFE_MARGIN_PX`` to the top. Returns ``(scale, x0, y0)``: source-to-canvas
    scale and the canvas position of the box's top-left corner.
    """
    sh, sw = subject_hw
    cw, ch = canvas_wh
    if sh <= 0 or sw <= 0 or cw <= 0 or ch <= 0:
        raise InvalidOptions(f"sizes must be positive, got subject_hw={subject_hw!r}, canvas_wh={canvas_wh!r}")
    if not 0.0 < fill <= 1.0:
        raise InvalidOptions(f"fill ratio must be in (0, 1], got {fill!r}")
    if not 0.0 <= vertical_bias <= 1.0:
        raise InvalidOptions(f"vertical_bias must be in [0, 1], got {vertical_bias!r}")
    scale = fill * min(cw / sw, ch / sh)
    w, h = sw * scale, sh * scale
    x0 = round((cw - w) / 2.0)
    top_free = (ch - h) / 2.0
    lift = min(vertical_bias * top_free, max(0.0, top_free - 2 * JPEG_SAFE_MARGIN_PX))
    y0 = round(top_free - lift)
    return float(scale), int(x0), int(y0)


def _validate(foreground: np.ndarray, alpha: np.ndarray, canvas_wh, fill, shadow_style) -> np.ndarray:
    if not isinstance(foreground, np.ndarray) or foreground.dtype != np.uint8 or foreground.ndim != 3 \
            or foreground.shape[2] != 3:
        raise InvalidImage(
            f"foreground must be HxWx3 uint8 RGB, got {getattr(foreground, 'shape', None)} "
            f"{getattr(foreground, 'dtype', type(foreground).__name__)}"
        )
    if not isinstance(alpha, np.ndarray) or alpha.shape != foreground.shape[:2]:
        raise InvalidImage(
            f"alpha must be HxW matching the foreground {foreground.shape[:2]}, got {getattr(alpha, 'shape', None)}"
        )
    if len(canvas_wh) != 2 or min(canvas_wh) < 64 or max(canvas_wh) > 10000:
        raise InvalidOptions(f"canvas size must be two ints in [64, 10000], got {canvas_wh!r}")
    if not 0.0 < fill <= 1.0:
        raise InvalidOptions(f"fill ratio must be in (0, 1], got {fill!r}")
    if shadow_style not in SHADOW_STYLES:
        raise InvalidOptions(f"unknown shadow style {shadow_style!r}; expected one of {list(SHADOW_STYLES)}")
    a = np.asarray(alpha, dtype=np.float32)
    # Only read from here on: an alpha already in range is used as it is.
    if a.size and 0.0 <= a.min() and a.max() <= 1.0:
        return a
    return np.clip(a, 0.0, 1.0)


def _place(foreground, alpha, bbox, scale, x0, y0, canvas_wh):
    """Resize the piece (premultiplied, so no background colour bleeds into its edges)
    and clip it to the canvas.

    Returns ``(premult, coverage, rect, interpolation)``: the placed patch's
    premultiplied RGB (hxwx3 float32, 0-255) and alpha (hxw float32 [0, 1]), and the
    canvas rectangle (x0, y0, x1, y1, exclusive) they occupy. Outside that rectangle the
    canvas holds no piece at all, so callers work on the patch, not the whole canvas.
    """
    cw, ch = canvas_wh
    bx0, by0, bx1, by1 = bbox
    sh, sw = alpha.shape
    # Keep the soft edge just outside the box: 3 canvas px worth of source.
    pad = max(2, math.ceil(3.0 / scale))
    cx0, cy0 = max(0, bx0 - pad), max(0, by0 - pad)
    cx1, cy1 = min(sw, bx1 + pad), min(sh, by1 + pad)
    a = alpha[cy0:cy1, cx0:cx1]
    premult = foreground[cy0:cy1, cx0:cx1].astype(np.float32)
    premult *= a[:, :, None]
    dst_x = round(x0 + (cx0 - bx0) * scale)
    dst_y = round(y0 + (cy0 - by0) * scale)
    dst_w = max(1, round(x0 + (cx1 - bx0) * scale) - dst_x)
    dst_h = max(1, round(y0 + (cy1 - by0) * scale) - dst_y)
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
    a_raw = cv2.resize(a, (dst_w, dst_h), interpolation=interp)
    p_r = cv2.resize(premult, (dst_w, dst_h), interpolation=interp)
    del premult
    # Only the part that lands on the canvas is worth the per-pixel work below.
    sx0, sy0 = max(0, -dst_x), max(0, -dst_y)
    tx0, ty0 = max(0, dst_x), max(0, dst_y)
    tx1, ty1 = max(tx0, min(cw, dst_x + dst_w)), max(ty0, min(ch, dst_y + dst_h))
    a_raw = a_raw[sy0:sy0 + ty1 - ty0, sx0:sx0 + tx1 - tx0]
    p_r = p_r[sy0:sy0 + ty1 - ty0, sx0:sx0 + tx1 - tx0]
    # Cubic rings at the edge, identically in colour*alpha and alpha: dividing by the
    # unclipped alpha recovers the true colour, which is then re-weighted by the
    # clipped coverage (clipping each alone would tint the rim). In place: these
    # patches are the biggest arrays of the composite.
    a_r = np.clip(a_raw, 0.0, 1.0)
    np.maximum(a_raw, np.float32(1e-3), out=a_raw)
    np.divide(p_r, a_raw[:, :, None], out=p_r)
    np.clip(p_r, 0.0, 255.0, out=p_r)
    np.multiply(p_r, a_r[:, :, None], out=p_r)
    return p_r, a_r, (tx0, ty0, tx1, ty1), ("area" if scale < 1.0 else "cubic")


def _background_depth(canvas_wh, bbox) -> np.ndarray:
    """A faint raised-cosine grey behind the piece (levels below white, HxW float32)
    that reaches exactly 0 two safe margins before the nearest border."""
    cw, ch = canvas_wh
    x0, y0, x1, y1 = bbox
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    room = min(cx, cy, cw - cx, ch - cy) - 2 * JPEG_SAFE_MARGIN_PX
    radius = min(0.55 * max(x1 - x0, y1 - y0), room)
    depth = np.zeros((ch, cw), np.float32)
    if radius <= 1:
        return depth
    # The cosine is exactly 0 beyond the radius: only the disc's bounding square is evaluated.
    qx0, qy0 = max(0, math.floor(cx - radius)), max(0, math.floor(cy - radius))
    qx1, qy1 = min(cw, math.ceil(cx + radius) + 1), min(ch, math.ceil(cy + radius) + 1)
    xs = (np.arange(qx0, qx1, dtype=np.float32) - cx) ** 2
    ys = (np.arange(qy0, qy1, dtype=np.float32) - cy) ** 2
    # Evaluated in place in the canvas block: canvas-sized temporaries are fresh
    # memory, which costs more than the arithmetic.
    r = depth[qy0:qy1, qx0:qx1]
    np.add(ys[:, None], xs[None, :], out=r)
    np.sqrt(r, out=r)
    r /= radius
    np.minimum(r, 1.0, out=r)
    r *= np.pi
    np.cos(r, out=r)
    r += 1.0
    r *= 0.5
    r *= BACKGROUND_DEPTH_LEVELS
    return depth


def compose_lightbox(
    foreground_u8: np.ndarray,
    alpha: np.ndarray,
    *,
    canvas_wh: tuple[int, int] = (2000, 2000),
    fill: float = 0.88,
    shadow_style: str = "soft",
    light: LightDirection | None = None,
    background_depth: bool = True,
    transparent: bool = False,
    shadow_strength: float = 1.0,
) -> Composite:
    """Place the cut-out piece on a pure-white lightbox canvas.

    foreground_u8: HxWx3 uint8 RGB, the piece's colour (valid at least where alpha > 0).
    alpha: HxW float32 in [0, 1], its coverage. canvas_wh: (w, h) in pixels, 64-10000.
    fill: target fill ratio in (0, 1]. shadow_style: one of ``SHADOW_STYLES``.
    light: the key light (None: top-front default). background_depth: a grey of at most
    ``BACKGROUND_DEPTH_LEVELS`` levels behind the piece. transparent: return the piece
    alone (straight colour + alpha) with no background, shadow or depth baked in.
    Returns a :class:`Composite`; every pixel within ``JPEG_SAFE_MARGIN_PX`` of the
    border is exactly (255, 255, 255) unless the piece itself reaches there. The result
    is deterministic. Raises ``SubjectNotFound`` when alpha has no subject.
    """
    a_src = _validate(foreground_u8, alpha, canvas_wh, fill, shadow_style)
    canvas_wh = (int(canvas_wh[0]), int(canvas_wh[1]))
    bbox_src = subject_bbox(a_src > SUBJECT_ALPHA_THRESHOLD)
    if bbox_src is None:
        raise SubjectNotFound(
            f"the alpha matte has no pixel above {SUBJECT_ALPHA_THRESHOLD}; nothing to place",
            code="subject_not_found",
        )
    light = light or DEFAULT_LIGHT
    bias = 0.5 if shadow_style == "reflection" and not transparent else 0.0
    sub_hw = (bbox_src[3] - bbox_src[1], bbox_src[2] - bbox_src[0])
    scale, x0, y0 = plan_placement(sub_hw, canvas_wh, fill, vertical_bias=bias)
    premult, a_patch, rect, interp = _place(foreground_u8, a_src, bbox_src, scale, x0, y0, canvas_wh)
    px0, py0, px1, py1 = rect
    a_canvas = np.zeros((canvas_wh[1], canvas_wh[0]), np.float32)
    a_canvas[py0:py1, px0:px1] = a_patch
    # The canvas holds no piece outside the patch, so its box is measured there.
    patch_bbox = subject_bbox(a_patch > SUBJECT_ALPHA_THRESHOLD)
    bbox = ((patch_bbox[0] + px0, patch_bbox[1] + py0, patch_bbox[2] + px0, patch_bbox[3] + py0)
            if patch_bbox else (x0, y0, x0 + 1, y0 + 1))
    measured_fill = measure_fill_ratio(bbox, canvas_wh)

    report = {
        "fill_target": float(fill),
        "fill_ratio": round(measured_fill, 4),
        "scale": round(scale, 5),
        "placement_xy": [int(x0), int(y0)],
        "resize_interpolation": interp,
        "compositing_space": "sRGB",
        "transparent": bool(transparent),
        "shadow_style": "none" if transparent else shadow_style,
        "light": asdict(light),
        "background_depth_levels": BACKGROUND_DEPTH_LEVELS if background_depth and not transparent else 0.0,
        "jpeg_safe_margin_px": JPEG_SAFE_MARGIN_PX,
        # The piece itself closer to the border than the safe band can dirty the
        # border after JPEG coding; the QA gate will then fail the delivered bytes.
        "subject_margin_px": int(min(bbox[0], bbox[1], canvas_wh[0] - bbox[2], canvas_wh[1] - bbox[3])),
    }

    if transparent:
        rgb = np.full((canvas_wh[1], canvas_wh[0], 3), 255, np.uint8)
        straight = premult / np.maximum(a_patch, 1e-6)[:, :, None]
        straight = np.where(a_patch[:, :, None] >= 1.0 / 255.0, straight, 255.0)
        rgb[py0:py1, px0:px1] = _to_u8(straight)
        return Composite(rgb, a_canvas, bbox, measured_fill, canvas_wh, report)

    if background_depth:
        background = _background_depth(canvas_wh, bbox)
        background *= border_taper_view(a_canvas.shape)
        np.subtract(255.0, background, out=background)
    else:
        background = np.full(a_canvas.shape, 255.0, np.float32)
    shadow = synthesize_contact_shadow(a_canvas, light, shadow_style, strength=shadow_strength)
    report["shadow_peak_opacity"] = round(float(shadow.max()), 4)
    np.subtract(1.0, shadow, out=shadow)
    background *= shadow
    del shadow
    if shadow_style == "reflection":
        premult_canvas = np.zeros((*a_canvas.shape, 3), np.float32)
        premult_canvas[py0:py1, px0:px1] = premult
        layer, layer_alpha = reflection_layer(premult_canvas, a_canvas)
        background3 = background[:, :, None] * (1.0 - layer_alpha[:, :, None]) + layer
        out = premult_canvas + (1.0 - a_canvas)[:, :, None] * background3
        return Composite(_to_u8(out), a_canvas, bbox, measured_fill, canvas_wh, report)
    # Outside the patch the canvas is background alone, one grey level per pixel: it
    # is rounded once and copied to the three channels; colour work stays on the patch.
    covered = background[py0:py1, px0:px1] * (1.0 - a_patch)
    premult += covered[:, :, None]
    bg_u8 = _to_u8(background)
    rgb = cv2.merge([bg_u8, bg_u8, bg_u8])
    rgb[py0:py1, px0:px1] = _to_u8(premult)
    return Composite(rgb, a_canvas, bbox, measured_fill, canvas_wh, report)


def _to_u8(values: np.ndarray) -> np.ndarray:
    """Round float 0-255 to uint8 (in place on ``values``, which the caller owns)."""
    values += 0.5
    np.clip(values, 0.0, 255.0, out=values)
    return values.astype(np.uint8)
