"""Bracket merging: a real set of exposures of one shot, aligned (median-threshold
bitmaps) and fused (Mertens), with a gentle tone so the fusion does not look flat.
Large frames are fused at ``FUSE_LONG_SIDE`` and get their fine detail back at full
resolution. Images are HxWx3 ``uint8`` RGB; inputs are never mutated.
"""
from __future__ import annotations

import time

import cv2
import numpy as np

from lumograph.models.common.colour import max_channel
from lumograph.models.common.errors import InvalidImage, InvalidOptions
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.window_detector.classical import CLIP, MERTENS_WEIGHTS

# --------------------------------------------------------------- bracket merging

#: Fewest and most frames accepted as one bracket set.
MIN_BRACKETS, MAX_BRACKETS = 2, 9
#: Frames are fused at most this long side; larger frames get the fusion's tone from
#: that size and their own fine detail back at full resolution (see ``merge_brackets``).
FUSE_LONG_SIDE = 1536
#: Scale (share of the long side, Gaussian sigma) above which a fusion takes its tones
#: from the smooth exposure blend rather than from Mertens' pyramid.
TONE_SCALE = 0.02
#: Largest believable shift between neighbouring exposures, as a share of the long side.
MAX_SHIFT_SHARE = 0.02
#: Value (0-1) a frame is best exposed at, for the blend that sets the fusion's tones.
WELL_EXPOSED = 0.55
#: The merge's 99.5th brightest-channel percentile is lifted to this (gain at most ``MAX_WHITE_GAIN``)
#: so that white stays white after fusion.
WHITE_TARGET, MAX_WHITE_GAIN = 248.0, 1.25
#: Strength of the gentle S-curve applied after fusion (0 = none).
TONE_CONTRAST = 0.22
#: A pixel is "dark" (crushed) at or below this 8-bit luma.
DARK_LUMA = 8


def _check_frames(frames) -> list[np.ndarray]:
    if not isinstance(frames, (list, tuple)):
        raise InvalidOptions(f"frames must be a list of HxWx3 uint8 RGB arrays, got {type(frames).__name__!r}")
    if not MIN_BRACKETS <= len(frames) <= MAX_BRACKETS:
        raise InvalidOptions(
            f"a bracket set needs {MIN_BRACKETS}-{MAX_BRACKETS} frames, got {len(frames)}"
            + (" (subsample a longer sequence evenly over its exposure range)" if len(frames) > MAX_BRACKETS else ""))
    for i, frame in enumerate(frames):
        require_rgb_u8(frame, f"frames[{i}]", min_side=16)
    shapes = [f.shape for f in frames]
    if len(set(shapes)) > 1:
        raise InvalidImage(f"bracket frames must all have the same size, got {shapes!r}", code="bracket_size_mismatch")
    return list(frames)


def clipped_share(rgb: np.ndarray) -> float:
    """Share (0-1) of pixels of an HxWx3 uint8 image with some channel >= ``CLIP`` (blown)."""
    return float((max_channel(rgb) >= CLIP).mean())


def dark_share(rgb: np.ndarray) -> float:
    """Share (0-1) of pixels of an HxWx3 uint8 image with luma <= ``DARK_LUMA`` (crushed)."""
    return float((cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) <= DARK_LUMA).mean())


def _tone_lut(fused: np.ndarray) -> np.ndarray:
    """256-entry uint8 curve for a fused image: white point, then a gentle S-curve.

    Fusion leaves the brightest surfaces a little grey and the mid-tones flat; the white
    point puts the 99.5th percentile of the brightest channel at ``WHITE_TARGET`` (never darkening, gain at
    most ``MAX_WHITE_GAIN``) and the S-curve adds ``TONE_CONTRAST`` of mid-tone contrast.
    """
    # On the brightest channel, not luma: a warm white would clip its red first.
    top = float(np.percentile(max_channel(np.ascontiguousarray(fused[::4, ::4])), 99.5))
    gain = float(np.clip(WHITE_TARGET / max(top, 1.0), 1.0, MAX_WHITE_GAIN))
    x = np.clip(np.arange(256, dtype=np.float64) * gain / 255.0, 0.0, 1.0)
    s = x * x * (3.0 - 2.0 * x)
    return np.clip(np.round(255.0 * ((1 - TONE_CONTRAST) * x + TONE_CONTRAST * s)), 0, 255).astype(np.uint8)


def _well_exposedness(frame_small: np.ndarray) -> np.ndarray:
    """Well-exposedness weight of an HxWx3 uint8 frame: HxW float32 > 0.

    Mertens' Gaussian (sigma 0.2) per channel, centred at ``WELL_EXPOSED`` rather than
    mid-grey: a listing photo keeps its white walls white, not a fused grey.
    """
    v = frame_small.astype(np.float32) * np.float32(1 / 255) - np.float32(WELL_EXPOSED)
    w = np.exp(-(v * v) / np.float32(2 * 0.2 * 0.2))
    return w[:, :, 0] * w[:, :, 1] * w[:, :, 2] + np.float32(1e-6)


def merge_brackets(frames: list[np.ndarray]) -> dict:
    """Align and fuse a bracket set of one shot into one natural-looking exposure.

    frames: 2-9 HxWx3 uint8 RGB exposures of the same scene, all the same size, in any
    order (never mutated). Raises ``InvalidOptions`` for a wrong count or a non-list,
    ``InvalidImage`` for a frame that is not HxWx3 uint8 or for mismatched sizes (the
    message quotes the bad value).

    1. Order by mean luminance; the middle frame is the reference.
    2. Align: ``cv2.AlignMTB`` shift of each frame against the reference, measured at
       the fusion size and applied at full size (edge pixels replicated).
    3. Fuse: ``cv2.MergeMertens`` (contrast, saturation, well-exposedness). Frames
       longer than ``FUSE_LONG_SIDE`` are fused at that size; the full-resolution
       detail is then added back from a per-pixel blend of the full-size frames under
       the (upsampled) well-exposedness weights, so a 12 MP set costs about one second
       instead of six, with the same tones.
    4. Tone: a gentle S-curve (``TONE_CONTRAST``), since Mertens output is flat.

    Returns ``{"rgb": HxWx3 uint8, "report": {"frames": n, "shifts": [[dx, dy], ...]
    per input frame (source px, relative to the reference), "reference": index,
    "method": "mertens", "order_by_brightness": input indices dark to bright,
    "mean_luma": per input frame, "clipped_share_before" (middle frame, 0-1),
    "alignment_rejected": frames whose shift was implausible and set to 0,
    "clipped_share_after", "dark_share_before", "dark_share_after", "fuse_scale",
    "timings_ms": {...}}}``.
    """
    frames = _check_frames(frames)
    timings = {}
    t0 = time.perf_counter()
    h, w = frames[0].shape[:2]
    probe_scale = min(1.0, 256 / max(h, w))
    probe_size = (max(1, round(w * probe_scale)), max(1, round(h * probe_scale)))
    mean_luma = [float(cv2.cvtColor(cv2.resize(f, probe_size, interpolation=cv2.INTER_AREA),
                                    cv2.COLOR_RGB2GRAY).mean()) for f in frames]
    order = [int(i) for i in np.argsort(mean_luma, kind="stable")]
    # The middle exposure (the brighter of the two middles for an even count): the
    # frame a photographer would call "normal", and the one the report compares with.
    reference = order[len(order) // 2]

    fuse_scale = min(1.0, FUSE_LONG_SIDE / max(h, w))
    fuse_size = (max(1, round(w * fuse_scale)), max(1, round(h * fuse_scale)))
    small = frames if fuse_scale >= 1.0 else [cv2.resize(f, fuse_size, interpolation=cv2.INTER_AREA) for f in frames]
    timings["resize"] = (time.perf_counter() - t0) * 1000
    aligned, aligned_small, shifts, rejected = _align(frames, order, reference, small, fuse_scale)
    timings["align"] = (time.perf_counter() - t0) * 1000 - timings["resize"]

    t1 = time.perf_counter()
    fused = _fuse(aligned, aligned_small, fuse_scale)
    timings["fuse"] = (time.perf_counter() - t1) * 1000
    out = cv2.LUT(fused, _tone_lut(fused))
    timings["total"] = (time.perf_counter() - t0) * 1000
    report = {
        "frames": len(frames),
        "shifts": shifts,
        "alignment_rejected": rejected,
        "reference": int(reference),
        "method": "mertens",
        "order_by_brightness": order,
        "mean_luma": [round(v, 2) for v in mean_luma],
        "clipped_share_before": round(clipped_share(frames[reference]), 5),
        "clipped_share_after": round(clipped_share(out), 5),
        "dark_share_before": round(dark_share(frames[reference]), 5),
        "dark_share_after": round(dark_share(out), 5),
        "fuse_scale": round(fuse_scale, 4),
        "timings_ms": {k: round(v, 1) for k, v in timings.items()},
    }
    return {"rgb": out, "report": report}


def _align(frames: list[np.ndarray], order: list[int], reference: int, small: list[np.ndarray],
           scale: float) -> tuple[list[np.ndarray], list[np.ndarray], list[list[int]], list[int]]:
    """Translate every frame onto ``frames[reference]`` (median-threshold bitmaps).

    Shifts are measured at ``scale`` (on ``small``) between neighbours in brightness
    ``order`` and chained outwards from the reference: two exposures a step apart share
    most of their bitmap, a 1/1000 s frame and a 30 s frame share almost none. A step
    beyond ``MAX_SHIFT_SHARE`` of the long side is an MTB failure (a nearly black or
    white frame), not a hand shake: it is set to zero and reported in ``rejected``.
    Both the full-size and the small frames are shifted.
    """
    h, w = frames[0].shape[:2]
    mtb = cv2.createAlignMTB(max_bits=5, exclude_range=4, cut=True)
    greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in small]
    limit = MAX_SHIFT_SHARE * max(greys[0].shape)
    small_shift = {reference: (0, 0)}
    rejected = []
    pos = order.index(reference)
    for step in (-1, 1):
        for k in range(pos + step, len(order) if step > 0 else -1, step):
            frame, closer = order[k], order[k - step]
            dx, dy = mtb.calculateShift(greys[closer], greys[frame])
            if max(abs(dx), abs(dy)) > limit:
                rejected.append(frame)
                dx, dy = 0, 0
            cdx, cdy = small_shift[closer]
            small_shift[frame] = (cdx + dx, cdy + dy)
    aligned, aligned_small, shifts = [], [], []
    for i, (frame, frame_small) in enumerate(zip(frames, small)):
        # calculateShift returns the shift that maps the frame onto the reference.
        dx, dy = small_shift[i]
        full_dx, full_dy = int(round(dx / scale)), int(round(dy / scale))
        shifts.append([full_dx, full_dy])
        if full_dx == 0 and full_dy == 0:
            aligned.append(frame)
            aligned_small.append(frame_small)
            continue
        sh, sw = frame_small.shape[:2]
        aligned.append(cv2.warpAffine(frame, np.float32([[1, 0, full_dx], [0, 1, full_dy]]), (w, h),
                                      flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE))
        aligned_small.append(frame_small if scale >= 1.0 else cv2.warpAffine(
            frame_small, np.float32([[1, 0, full_dx * scale], [0, 1, full_dy * scale]]), (sw, sh),
            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return aligned, aligned_small, shifts, sorted(rejected)


def _fuse(frames: list[np.ndarray], small: list[np.ndarray], scale: float) -> np.ndarray:
    """Fuse aligned frames (and the same frames at ``scale``, ``small``): HxWx3 uint8.

    Two scales, as in a hand-made exposure blend with luminosity masks:

    * large scale (the tones of regions: the view, the shadowed corner) from a per-pixel
      blend of the frames under smooth well-exposedness weights, which never overshoots
      and lifts a shadow that only the brightest frame shows;
    * everything finer from Mertens' pyramid fusion (contrast, saturation and
      well-exposedness), whose own large-scale tones drift: its coarse pyramid levels
      average weights over the whole frame, so a big dark or bright region takes the
      tone of its surroundings (and can even overshoot white).

    Frames longer than the fusion size get both at reduced size, and their own fine
    detail back from the full-size blend under the same (upsampled) weights, so the
    difference of the two blends carries no tone of its own.
    """
    merge = cv2.createMergeMertens(*MERTENS_WEIGHTS)
    h, w = frames[0].shape[:2]
    sh, sw = small[0].shape[:2]
    fused_small = merge.process(small) * np.float32(255.0)
    # The weights are smooth by construction, so they are measured on a coarse grid.
    coarse_scale = min(1.0, 512 / max(sh, sw))
    coarse_size = (max(1, round(sw * coarse_scale)), max(1, round(sh * coarse_scale)))
    weights = [cv2.GaussianBlur(_well_exposedness(cv2.resize(f, coarse_size, interpolation=cv2.INTER_AREA)),
                                (0, 0), 1.5) for f in small]
    blend_small = _blend(small, weights).astype(np.float32)
    drift = cv2.GaussianBlur(blend_small - fused_small, (0, 0), TONE_SCALE * max(sh, sw))
    fused_small += drift
    if scale >= 1.0:
        return np.clip(fused_small + np.float32(0.5), 0.0, 255.0).astype(np.uint8)
    # The full-size blend is a chain of cv2.blendLinear passes (uint8 in and out).
    correction = cv2.resize(np.clip(fused_small - blend_small, -255, 255).astype(np.int16),
                            (w, h), interpolation=cv2.INTER_LINEAR)
    blend = _blend(frames, weights)
    return cv2.add(blend, correction, dtype=cv2.CV_16S).clip(0, 255).astype(np.uint8)


def _blend(frames: list[np.ndarray], coarse_weights: list[np.ndarray]) -> np.ndarray:
    """Per-pixel weighted mean of uint8 frames under coarse float weights (upsampled)."""
    h, w = frames[0].shape[:2]
    ups = [cv2.resize(wk, (w, h), interpolation=cv2.INTER_LINEAR) for wk in coarse_weights]
    out, acc = frames[0], ups[0]
    for frame, weight in zip(frames[1:], ups[1:]):
        out = cv2.blendLinear(out, frame, acc, weight)
        acc = acc + weight
    return out
