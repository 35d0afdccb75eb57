"""Window pull: recover the view in blown-out windows on a single exposure.

``pull_windows`` fuses synthetic under-exposures (linear light, -1/-2/-3 stops) inside a
feathered luminosity mask, on the window crops only; the room is left untouched. A glass
mask per window (SAM, when the segmenter runs it) confines the pull to the glass, so a
white wall or door inside a generous box keeps its pixels. ``window_needs_pull`` and
``window_fully_blown`` decide, from the detector's measurements, which windows are
pulled and which have no view left (a learned inpainter can generate one). Images are
HxWx3 ``uint8`` RGB; masks HxW ``float32`` in [0, 1]. Inputs are never mutated; reports
are JSON-able.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from lumograph.models.common.colour import linear_to_srgb, luminance, max_channel, min_channel, srgb_to_linear
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.filters import wide_gaussian
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.numeric import smoothstep
from lumograph.models.window_detector.classical import CLIP, NEAR_CLIP

# ------------------------------------------------------------------ window pull

#: Synthetic under-exposures fused for a pull, in stops below the frame.
PULL_STOPS = (0.0, -1.0, -2.0, -3.0)
#: Longest side at which a window crop is fused; a larger crop is fused at this size
#: and its tone change is applied to the full-resolution pixels as a gain.
PULL_FUSE_LONG_SIDE = 768
#: Mertens' weights for a pull: its exposures are synthetic copies of one frame, so
#: contrast and saturation alone pick, per pixel, the version where the view shows best.
PULL_MERTENS_WEIGHTS = (1.0, 1.0, 0.0)
#: The even tone clipped glass gets (sRGB at the top and the bottom of the window): a soft,
#: slightly blue-grey white (~237, not grey, not a flat 255).
GLASS_TONE_TOP = (228, 234, 242)
GLASS_TONE_BOTTOM = (236, 239, 242)
#: A window whose glass is at least this share clipped (every channel >= ``CLIP``) is toned
#: whole: what is left under the clip is mottling, not a view.
EVEN_TONE_BLOWN_SHARE = 0.6
#: How far (stops, linear light) the recovered view ends below its original brightness.
PULL_DEPTH_STOPS = 0.6
#: Extra local contrast given to the recovered view (0 = none, 1 = doubled).
PULL_CLARITY = 0.6


def _glass_tone(height: int, box: tuple[float, float, float, float]) -> np.ndarray:
    """height x 1 x 3 float32 linear glass tone, from ``GLASS_TONE_TOP`` at the box's top
    row to ``GLASS_TONE_BOTTOM`` at its bottom (rows outside hold the end colours)."""
    top = srgb_to_linear(np.asarray([[GLASS_TONE_TOP]], np.uint8))[0, 0]
    bottom = srgb_to_linear(np.asarray([[GLASS_TONE_BOTTOM]], np.uint8))[0, 0]
    rows = np.arange(height, dtype=np.float32)
    t = np.clip((rows - box[1]) / max(1.0, box[3] - box[1]), 0.0, 1.0)[:, None]
    return (top[None, :] * (1 - t) + bottom[None, :] * t)[:, None, :].astype(np.float32)


def _fuse_synthetic_exposures(crop: np.ndarray, merge: cv2.MergeMertens) -> np.ndarray:
    """Mertens fusion of ``crop`` with itself at each of ``PULL_STOPS``: HxWx3 float32 [0, 1]."""
    lin = srgb_to_linear(crop)
    stack = [crop if stops == 0 else linear_to_srgb(lin * np.float32(2.0 ** stops)) for stops in PULL_STOPS]
    return np.clip(merge.process(stack), 0.0, 1.0)


#: A window with at least this share of clipped glass has lost its view in this exposure.
BLOWN_CLIPPED_SHARE = 0.5
#: ... but only counts as blown when it is also this many stops over the room (a clipped
#: patch in a room lit almost to clipping is a white wall as often as a window).
BLOWN_MIN_STOPS = 1.0


def window_needs_pull(window: dict, threshold_stops: float) -> tuple[bool, str]:
    """Whether one ``detect_windows`` entry should be pulled, and why.

    A window is pulled when its measured ``stops_over_interior`` exceeds
    ``threshold_stops``, or when it is blown: in an 8-bit photo a clipped window reads
    at most log2(1 / room brightness) stops (about 2.3 in a room at mid-grey), so the
    measured gap is only a lower bound, and a window whose glass is mostly clipped
    (``BLOWN_CLIPPED_SHARE``) and at least ``BLOWN_MIN_STOPS`` over the room has lost
    its view whatever the threshold. Returns (pull, reason).
    """
    stops = float(window.get("stops_over_interior", 0.0))
    clipped = float(window.get("clipped_share", 0.0))
    if stops > threshold_stops:
        return True, f"{stops:.1f} stops over the room (threshold {threshold_stops:.1f})"
    if clipped >= BLOWN_CLIPPED_SHARE and stops >= BLOWN_MIN_STOPS:
        return True, (f"blown: {clipped:.0%} of the glass clipped, so its {stops:.1f} stops "
                      f"over the room is only a lower bound (threshold {threshold_stops:.1f})")
    return False, (f"{stops:.1f} stops over the room, {clipped:.0%} clipped: not above the "
                   f"threshold {threshold_stops:.1f}")


#: A window with at least this share of its glass clipped has no view left for a pull to
#: recover (it comes back soft white); only a generated view can show one.
FULLY_BLOWN_SHARE = 0.6
#: A "window" spanning this share of the frame's height or more is a door edge or a lit
#: wall at the frame's border as often as a window (seen on the eval set): a pull of it is
#: harmless, a view generated in it is not.
VIEW_MAX_HEIGHT_SHARE = 0.9


def window_fully_blown(window: dict) -> bool:
    """Whether a ``detect_windows`` entry has lost its view, so that only a generated
    view can show one: ``blown_share`` (every channel clipped; a window whose blue sky
    alone clips still holds a view) >= ``FULLY_BLOWN_SHARE``, at least
    ``BLOWN_MIN_STOPS`` over the room (the same white-wall guard as
    ``window_needs_pull``), and its ``bbox_norm`` (when given) under
    ``VIEW_MAX_HEIGHT_SHARE`` of the frame's height. Entries without ``blown_share`` are
    judged on ``clipped_share``."""
    blown = window.get("blown_share", window.get("clipped_share", 0.0))
    box = window.get("bbox_norm")
    tall = box is not None and float(box[3]) - float(box[1]) >= VIEW_MAX_HEIGHT_SHARE
    return (float(blown) >= FULLY_BLOWN_SHARE and not tall
            and float(window.get("stops_over_interior", 0.0)) >= BLOWN_MIN_STOPS)


def pull_windows(rgb: np.ndarray, windows: list[dict], threshold_stops: float,
                 glass_masks: list[np.ndarray | None] | None = None) -> dict:
    """Recover the view in over-exposed windows of a single exposure.

    rgb: HxWx3 uint8 RGB at full resolution (never mutated; may be read-only).
    windows: entries of ``detect_windows(...)["windows"]`` (``bbox`` in source pixels
    of ``rgb``, ``stops_over_interior``, ``clipped_share``). threshold_stops (>= 0): a
    window is pulled when ``window_needs_pull`` says so (over the threshold, or blown).

    For each window to pull, on its crop only (box plus a feather margin): synthetic
    under-exposures of the crop in linear light (``PULL_STOPS``) are fused with
    Mertens' well-exposedness/contrast/saturation weights; the fused view replaces the
    original through a mask that is the feathered box times a luminosity mask (only
    the bright glass, never the frame, the wall or the room). Fully clipped pixels
    (every channel >= 250) hold no detail: they get an even, slightly blue-grey glass
    tone (``GLASS_TONE_TOP`` to ``GLASS_TONE_BOTTOM``) instead of grey or mottled white;
    a window whose glass is ``EVEN_TONE_BLOWN_SHARE`` clipped is toned whole. Pixels farther than the
    feather margin from every pulled box are bit-identical to the input.

    glass_masks: optional, one entry per window (None = no mask): an hxw float32 [0, 1]
    mask of the window's glass, of any size, spanning exactly that window's ``bbox``
    (the segmenter's ``window_glass_masks``). With a mask the pull is confined to the
    glass (softened by a third of the feather): a white wall, a door or a lamp that
    the detector's box also covers keeps its pixels. A mask covering less than
    ``MIN_GLASS_SHARE`` of its box is not believed and the box is used.

    Returns ``{"rgb": new HxWx3 uint8, "applied": bool (some window pulled), "report":
    {"threshold_stops", "windows": [{"bbox", "stops", "pulled": bool, "reason",
    "glass": "mask" | "box", "glass_share" (share of the box the mask covers, when given),
    "clipped_share" (fully clipped share of the box, 0-1), "recovered_share" (share of
    the box that was near-clipped but still held detail), "mean_change" (mean absolute
    8-bit change inside the box), "fuse_scale", "glass_tone" ("whole glass" |
    "clipped pixels")}], "pulled": int}}``.
    """
    require_rgb_u8(rgb, "rgb", min_side=16)
    if not isinstance(windows, (list, tuple)):
        raise InvalidOptions(f"windows must be a list of window dicts, got {type(windows).__name__!r}")
    try:
        threshold = float(threshold_stops)
    except (TypeError, ValueError):
        raise InvalidOptions(f"threshold_stops must be a number, got {threshold_stops!r}") from None
    if not math.isfinite(threshold) or threshold < 0:
        raise InvalidOptions(f"threshold_stops must be a finite number >= 0, got {threshold_stops!r}")

    masks = _check_glass_masks(glass_masks, len(windows))
    h, w = rgb.shape[:2]
    out = rgb.copy()
    merge = cv2.createMergeMertens(*PULL_MERTENS_WEIGHTS)
    entries = []
    for window, glass in zip(windows, masks):
        box = _valid_box(window, (h, w))
        stops = float(window.get("stops_over_interior", 0.0))
        entry = {"bbox": list(box), "stops": round(stops, 3), "pulled": False, "glass": "box"}
        if glass is not None:
            share = float((glass >= 0.5).mean())
            entry["glass_share"] = round(share, 4)
            if share >= MIN_GLASS_SHARE:
                entry["glass"] = "mask"
            else:
                glass = None
        pull, reason = window_needs_pull(window, threshold)
        entry["reason"] = reason
        if pull:
            entry.update(_pull_one(rgb, out, box, merge, glass))
            entry["pulled"] = True
        entries.append(entry)
    pulled = sum(e["pulled"] for e in entries)
    return {"rgb": out, "applied": pulled > 0,
            "report": {"threshold_stops": round(threshold, 3), "windows": entries, "pulled": pulled}}


#: A glass mask covering less of its window's box than this is not believed (a learned
#: mask that missed the glass); the box and the luminosity mask are used instead.
MIN_GLASS_SHARE = 0.05


def _check_glass_masks(glass_masks, n_windows: int) -> list[np.ndarray | None]:
    if glass_masks is None:
        return [None] * n_windows
    if not isinstance(glass_masks, (list, tuple)) or len(glass_masks) != n_windows:
        raise InvalidOptions(f"glass_masks must be a list with one entry (mask or None) per window "
                             f"({n_windows}), got {type(glass_masks).__name__} of "
                             f"{len(glass_masks) if isinstance(glass_masks, (list, tuple)) else '?'}")
    out = []
    for i, mask in enumerate(glass_masks):
        if mask is None:
            out.append(None)
            continue
        if not isinstance(mask, np.ndarray) or mask.ndim != 2 or min(mask.shape) < 2:
            raise InvalidOptions(f"glass_masks[{i}] must be an hxw float array (h, w >= 2) or None, "
                                 f"got {type(mask).__name__} {getattr(mask, 'shape', None)}")
        mask = mask.astype(np.float32, copy=False)
        if not np.isfinite(mask).all() or mask.min() < 0.0 or mask.max() > 1.0:
            raise InvalidOptions(f"glass_masks[{i}] must hold finite values in [0, 1], got range "
                                 f"[{np.nanmin(mask):.3g}, {np.nanmax(mask):.3g}]")
        out.append(mask)
    return out


def _valid_box(window: dict, hw: tuple[int, int]) -> tuple[int, int, int, int]:
    h, w = hw
    box = window.get("bbox") if isinstance(window, dict) else None
    try:
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    except (TypeError, ValueError):
        raise InvalidOptions(f"window bbox must be [x0, y0, x1, y1] source pixels, got {box!r}") from None
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise InvalidOptions(f"window bbox {box!r} is empty inside the {w}x{h} image")
    return x0, y0, x1, y1


def _feathered_box(hw: tuple[int, int], box: tuple[float, float, float, float], feather: float) -> np.ndarray:
    """HxW float32 [0, 1]: 1 inside ``box``, falling to 0 over ``feather`` px outside it."""
    h, w = hw
    x0, y0, x1, y1 = box
    xs, ys = np.arange(w, dtype=np.float32) + 0.5, np.arange(h, dtype=np.float32) + 0.5
    fx = smoothstep(np.minimum(xs - (x0 - feather), (x1 + feather) - xs).astype(np.float32), 0.0, feather)
    fy = smoothstep(np.minimum(ys - (y0 - feather), (y1 + feather) - ys).astype(np.float32), 0.0, feather)
    return np.outer(fy, fx).astype(np.float32)


def _glass_weight(hw: tuple[int, int], box: tuple[float, float, float, float], glass: np.ndarray,
                  feather: float) -> np.ndarray:
    """HxW float32 [0, 1]: the glass mask resized onto ``box`` of an HxW grid (zero
    outside it), softened by a third of ``feather`` (a learned mask's edge is coarse)."""
    h, w = hw
    bx0, by0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    bx1, by1 = min(w, max(bx0 + 1, int(round(box[2])))), min(h, max(by0 + 1, int(round(box[3]))))
    weight = np.zeros((h, w), np.float32)
    weight[by0:by1, bx0:bx1] = cv2.resize(glass, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_LINEAR)
    return np.clip(wide_gaussian(weight, max(0.5, feather / 3)), 0.0, 1.0)


def _pull_one(src: np.ndarray, out: np.ndarray, box: tuple[int, int, int, int],
              merge: cv2.MergeMertens, glass: np.ndarray | None = None) -> dict:
    """Pull one window of ``src`` into ``out`` (same shape) in place; return its report.
    glass: the window's glass mask spanning ``box`` (see ``pull_windows``) or None."""
    h, w = src.shape[:2]
    x0, y0, x1, y1 = box
    feather = max(4, round(0.06 * max(x1 - x0, y1 - y0)))
    cx0, cy0 = max(0, x0 - 2 * feather), max(0, y0 - 2 * feather)
    cx1, cy1 = min(w, x1 + 2 * feather), min(h, y1 + 2 * feather)
    crop = src[cy0:cy1, cx0:cx1]
    ch, cw = crop.shape[:2]

    # Every decision is made on a crop of at most PULL_FUSE_LONG_SIDE; the full-resolution
    # pixels only receive the resulting smooth per-channel gain (in 8-bit sRGB units), which
    # keeps the glass's and the frame's fine detail the camera's and costs one multiply.
    scale = min(1.0, PULL_FUSE_LONG_SIDE / max(ch, cw))
    small = crop if scale >= 1.0 else cv2.resize(
        crop, (max(1, round(cw * scale)), max(1, round(ch * scale))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    small_feather = max(1.0, feather * scale)
    fused_lin = _fuse_synthetic_exposures(small, merge)
    fused_lin = srgb_to_linear((fused_lin * 255.0 + 0.5).astype(np.uint8))
    # Clipped glass carries no view: a soft white reads as bright daylight, grey as dirt.
    clip_weight = wide_gaussian(smoothstep(min_channel(small).astype(np.float32), 244.0, 254.0), small_feather / 4)
    # Luminosity mask: only the bright glass changes, never the frame, wall or room.
    luma = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    bright = wide_gaussian(smoothstep(luma.astype(np.float32), 180.0, 235.0), small_feather / 3)
    small_box = ((x0 - cx0) * scale, (y0 - cy0) * scale, (x1 - cx0) * scale, (y1 - cy0) * scale)
    if glass is None:
        weight = bright * _feathered_box((sh, sw), small_box, small_feather)
    else:
        weight = bright * _glass_weight((sh, sw), small_box, glass, small_feather)
    # Fusion of one frame with its own under-exposures reveals the structure of the view
    # but lands it ~2 stops down, which reads as grey glass. Keep its structure, and
    # bring the view back to PULL_DEPTH_STOPS under its original brightness: the window
    # stays the brightest thing in the room, as after an editor's pull.
    view = weight * (1.0 - clip_weight)
    # Clarity, as an editor adds to a pulled view: the highlights were compressed by the
    # camera's tone curve, so their local contrast is expanded (log domain, medium scale).
    fused_luma = np.maximum(luminance(fused_lin), np.float32(1e-4))
    log_luma = np.log(fused_luma)
    local = wide_gaussian(log_luma, max(2.0, 0.03 * max(sh, sw)))
    fused_lin = fused_lin * np.exp(np.float32(PULL_CLARITY) * (log_luma - local))[..., None]
    if float(view.sum()) > 1.0:
        before = float((luminance(srgb_to_linear(small)) * view).sum())
        after = float((luminance(fused_lin) * view).sum())
        lift = before * 2.0 ** -PULL_DEPTH_STOPS / max(after, 1e-6)
        ceiling = float(np.percentile(fused_lin[view > 0.5], 99.5)) if (view > 0.5).any() else 1.0
        fused_lin = fused_lin * np.float32(min(lift, 1.0 / max(ceiling, 1e-3)))
    # Clipped glass holds no view: it gets an even glass tone (a soft, slightly blue-grey
    # white, a touch brighter toward the bottom, as daylight glass reads from indoors),
    # not the mottled mix of clipped and near-clipped pixels. When most of the glass is
    # clipped the near-clipped patches left are mottling, not a view: all of it is toned.
    glass_area = float(weight.sum())
    clipped_small = (min_channel(small) >= CLIP).astype(np.float32)
    blown_glass = glass_area > 1.0 and float((clipped_small * weight).sum()) / glass_area >= EVEN_TONE_BLOWN_SHARE
    if blown_glass:
        clip_weight = np.maximum(clip_weight, weight)
    pulled_lin = fused_lin + (_glass_tone(sh, small_box) - fused_lin) * clip_weight[..., None]
    pulled = linear_to_srgb(pulled_lin).astype(np.float32)
    gain = pulled / np.maximum(small.astype(np.float32), 1.0)
    gain = 1.0 + (gain - 1.0) * weight[..., None]
    if scale < 1.0:
        gain = cv2.resize(gain, (cw, ch), interpolation=cv2.INTER_LINEAR)
        weight = cv2.resize(weight, (cw, ch), interpolation=cv2.INTER_LINEAR)
    result = cv2.multiply(crop, gain, dtype=cv2.CV_8U)  # rounded and saturated to 8 bits
    # Where the weight is ~0 keep the camera's exact bytes (a masked copy in OpenCV: numpy's
    # broadcast ``where`` costs ~25 ms on a 2 MP window).
    result = cv2.copyTo(crop, cv2.compare(weight, 1e-3, cv2.CMP_LT), result)
    out[cy0:cy1, cx0:cx1] = result

    vmin, vmax = min_channel(crop), max_channel(crop)
    inner = (slice(y0 - cy0, y1 - cy0), slice(x0 - cx0, x1 - cx0))
    area = max(1, (y1 - y0) * (x1 - x0))
    clipped = vmin[inner] >= CLIP
    near = (vmax[inner] >= NEAR_CLIP) & ~clipped
    change = cv2.absdiff(result[inner], crop[inner])
    return {
        "clipped_share": round(float(clipped.sum()) / area, 4),
        "recovered_share": round(float(near.sum()) / area, 4),
        "mean_change": round(float(change.mean()), 2),
        "fuse_scale": round(scale, 3),
        "glass_tone": "whole glass" if blown_glass else "clipped pixels",
        "feather_px": int(feather),
    }
