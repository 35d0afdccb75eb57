"""The jewelry lightbox's QA checks: an input floor before the expensive work, and
compliance of the delivered bytes against a marketplace profile.

Output subject measure: a pixel is product when it differs from white by more than
``SUBJECT_LEVELS`` grey levels in its darkest channel (``255 - min(R, G, B)``). The
compositor keeps its soft penumbra and drop shadows lighter than that, so the bounding
box is the piece (plus at most a few pixels of dark contact line), not its shadow.
Very pale pieces (white pearls, clear crystal) read smaller than they are. Output checks
decode the encoded bytes and re-measure them; they never trust the compositor's plan.
Text, watermarks and logo lettering are found by ``qa.text``'s learned detector (one per
replica, passed in); only text outside that measured piece counts.
"""
from __future__ import annotations

import datetime as dt
import math

import cv2
import numpy as np

from lumograph.models.common.errors import InvalidImage
from lumograph.models.common.imageio import FORMAT_EXTENSIONS, sniff_format
from lumograph.models.common.marketplaces import MAX_MAGNIFICATION, CanvasPlan, MarketplaceProfile, fill_ratio
from lumograph.models.compositor.lightbox import subject_bbox
from lumograph.models.qa.checks import Check, graded, not_measured
from lumograph.models.qa.text import (
    PALE_LEVELS,
    TextDetector,
    TextDetectorUnavailable,
    check_text_watermark,
    piece_mask_around_text,
)

#: A delivered pixel is product when its darkest channel is this many levels under white.
SUBJECT_LEVELS = 48
#: Long side the text/watermark check measures the delivered canvas at.
TEXT_LONG_SIDE = 1024
#: Depth of the border ring that must be exactly white, in pixels.
BORDER_RING_PX = 3

# Input floor thresholds. Edge blur is the Gaussian sigma of the subject's strongest
# edges in pixels at a 1024-px long side (see _edge_blur_sigma).
SHARPNESS_REVIEW_SIGMA = 1.5
SHARPNESS_FAIL_SIGMA = 2.5
CLIPPED_REVIEW_FRACTION = 0.20
SUBJECT_REVIEW_FRACTION = 0.02
SUBJECT_FAIL_FRACTION = 0.005
BORDER_RUN_REVIEW_FRACTION = 0.10
#: Long side the input floor measures sharpness at.
CANONICAL_LONG_SIDE = 1024


# ---------------------------------------------------------------------------- input


def _canonical_grey(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    h, w = rgb.shape[:2]
    f = min(1.0, CANONICAL_LONG_SIDE / max(h, w))
    small = rgb if f >= 1.0 else cv2.resize(
        rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
    )
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32), f


def _edge_blur_sigma(grey: np.ndarray, region: np.ndarray) -> tuple[float | None, int]:
    """Blur of the strongest edges in ``region``, as a Gaussian sigma in pixels.

    Re-blur ratio (Zhuo & Sim, "Defocus map estimation from a single image", 2011): at
    an edge blurred by sigma, re-blurring with sigma0 lowers the gradient peak by
    R = sqrt(sigma^2 + sigma0^2) / sigma, so sigma = sigma0 / sqrt(R^2 - 1). The ratio
    is independent of the edge's contrast, unlike the variance of the Laplacian.
    Returns (sigma, number of edge pixels used); sigma None when there are too few.
    """
    sigma0 = 1.0
    # Sensor noise makes its own steep "edges"; a known pre-blur tames it and is taken
    # out again in quadrature below. Edges must also stand well above the noise level
    # (Immerkaer's estimate from the Laplacian's mean absolute response).
    prior = 1.0
    lap = cv2.filter2D(grey, cv2.CV_32F, np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32))
    noise = float(np.sqrt(np.pi / 2.0) / 6.0 * np.abs(lap).mean())
    grey = cv2.GaussianBlur(grey, (0, 0), prior)
    gx = cv2.Scharr(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Scharr(grey, cv2.CV_32F, 0, 1)
    g1 = cv2.magnitude(gx, gy)
    blurred = cv2.GaussianBlur(grey, (0, 0), sigma0)
    g2 = cv2.magnitude(cv2.Scharr(blurred, cv2.CV_32F, 1, 0), cv2.Scharr(blurred, cv2.CV_32F, 0, 1))
    # The ratio only holds at the edge's gradient peak: keep pixels that are maxima
    # across the edge (non-maximum suppression along the quantised gradient direction).
    angle = (np.round(np.arctan2(gy, gx) / (np.pi / 4)).astype(np.int8)) % 4
    padded = np.pad(g1, 1)
    h, w = g1.shape
    peak = np.zeros(g1.shape, bool)
    for k, (dy, dx) in enumerate(((0, 1), (1, 1), (1, 0), (1, -1))):
        ahead = padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        behind = padded[1 - dy:1 - dy + h, 1 - dx:1 - dx + w]
        peak |= (angle == k) & (g1 >= ahead) & (g1 >= behind)
    # Scharr's gain is 32 per level/px; the pre-blur divides noise slopes by ~3.5.
    floor = 32.0 * max(4.0, 1.5 * noise)
    candidates = peak & region & (g1 >= floor)
    if int(candidates.sum()) < 20:
        return None, int(candidates.sum())
    # The strongest tenth of the edges: the subject's outline, not texture or noise.
    edges = candidates & (g1 >= np.percentile(g1[candidates], 90))
    n = int(edges.sum())
    ratio = g1[edges] / np.maximum(g2[edges], 1e-3)
    sig = sigma0 / np.sqrt(np.maximum(ratio**2 - 1.0, 1e-4))
    # Remove the pre-blur and Scharr's own smoothing (~0.5 px) in quadrature.
    sigma = float(np.sqrt(max(np.median(sig) ** 2 - prior**2 - 0.5**2, 0.0)))
    return sigma, n


def check_input(
    proxy_rgb: np.ndarray,
    *,
    source_wh: tuple[int, int],
    min_short_side: int | None = None,
    subject_alpha_proxy: np.ndarray | None = None,
    canvas: CanvasPlan | None = None,
) -> list[Check]:
    """The input floor, run on the proxy before segmentation and grading.

    proxy_rgb: HxWx3 uint8 RGB (the ~1024 px proxy). source_wh: the upload's (w, h).
    min_short_side: an operator's or client's fixed floor in pixels, or None (the default:
    the floor is what the output needs, see ``canvas``). subject_alpha_proxy: HxW float32
    in [0, 1] on the proxy, or None (subject checks become "not measured"). canvas: the
    planned delivery (``marketplaces.plan_canvas``) for the piece's size in the upload.
    Returns the checks: magnification at the delivered size (fail), the fixed resolution
    floor when one is set (fail), sharpness (review/fail), exposure clipping (review),
    subject size (review/fail), subject cut by the frame (review).
    """
    if not isinstance(proxy_rgb, np.ndarray) or proxy_rgb.dtype != np.uint8 or proxy_rgb.ndim != 3 \
            or proxy_rgb.shape[2] != 3:
        raise InvalidImage(
            f"expected an HxWx3 uint8 RGB proxy, got {getattr(proxy_rgb, 'shape', None)} "
            f"{getattr(proxy_rgb, 'dtype', None)}"
        )
    h, w = proxy_rgb.shape[:2]
    alpha = None
    if subject_alpha_proxy is not None:
        alpha = np.asarray(subject_alpha_proxy, dtype=np.float32)
        if alpha.shape != (h, w):
            raise InvalidImage(f"subject alpha {alpha.shape} does not match the proxy {(h, w)}")
    checks: list[Check] = []

    short = int(min(source_wh))
    if min_short_side is not None:
        checks.append(Check(
            "input_resolution", short >= min_short_side, "fail", short, f">= {min_short_side} px short side",
            f"the upload's short side is {short} px" + ("" if short >= min_short_side else
                                                        f"; below the {min_short_side} px floor"),
        ))
    if canvas is None or canvas.magnification is None:
        checks.append(not_measured("input_magnification", "no piece size or canvas plan"))
    else:
        mag = float(canvas.magnification)
        ok = mag <= MAX_MAGNIFICATION
        checks.append(Check(
            "input_magnification", ok, "fail", round(mag, 3),
            f"<= {MAX_MAGNIFICATION}x source pixels per canvas pixel at the delivered size",
            f"the piece would be shown at {mag:.2f}x its size in the upload on a {canvas.side} px canvas "
            f"(fill {canvas.fill:.2f})" + ("" if ok else
                                          ": it would look soft at zoom; upload a larger or closer photo"),
        ))

    subject = alpha > 0.5 if alpha is not None else None
    has_subject = subject is not None and subject.any()

    grey, f = _canonical_grey(proxy_rgb)
    if has_subject:
        small = subject if f >= 1.0 else cv2.resize(
            subject.astype(np.uint8), (grey.shape[1], grey.shape[0]), interpolation=cv2.INTER_NEAREST
        ).astype(bool)
        # The subject's outline is where focus shows; include a ring outside it.
        pad = max(3, round(0.02 * max(grey.shape)))
        region = cv2.dilate(small.astype(np.uint8), np.ones((2 * pad + 1, 2 * pad + 1), np.uint8)) > 0
    else:
        region = np.ones(grey.shape, bool)
    sigma, n_edges = _edge_blur_sigma(grey, region)
    scale_note = f"at a {max(grey.shape)} px long side"
    if sigma is None:
        checks.append(not_measured("input_sharpness", f"too few strong edges ({n_edges})"))
    else:
        checks.append(graded(
            "input_sharpness", sigma, review_over=SHARPNESS_REVIEW_SIGMA, fail_over=SHARPNESS_FAIL_SIGMA, digits=3,
            limit=f"edge blur sigma <= {SHARPNESS_REVIEW_SIGMA} px (fail > {SHARPNESS_FAIL_SIGMA}) {scale_note}",
            measured=f"edge blur sigma {sigma:.2f} px {scale_note} over {n_edges} edge pixels",
            problem="the photo is out of focus or shaken"))

    rgb_region = proxy_rgb[subject] if has_subject else proxy_rgb.reshape(-1, 3)
    high = float((rgb_region.max(axis=1) >= 254).mean())
    low = float((rgb_region.max(axis=1) <= 1).mean())
    clipped = high + low
    where = "subject" if has_subject else "whole frame (no subject mask: informational)"
    checks.append(Check(
        "input_exposure_clipping", clipped <= CLIPPED_REVIEW_FRACTION, "review" if has_subject else "info",
        round(clipped, 4), f"<= {CLIPPED_REVIEW_FRACTION} of {where.split(' ')[0]} pixels",
        f"{high:.1%} blown, {low:.1%} crushed on the {where}",
    ))

    if subject is None:
        checks.append(not_measured("input_subject_size", "no subject mask"))
        checks.append(not_measured("input_subject_cut_by_frame", "no subject mask"))
    else:
        frac = float(subject.mean())
        sev = "fail" if frac < SUBJECT_FAIL_FRACTION else "review"
        checks.append(Check(
            "input_subject_size", frac >= SUBJECT_REVIEW_FRACTION, sev, round(frac, 5),
            f">= {SUBJECT_REVIEW_FRACTION} of the frame (fail < {SUBJECT_FAIL_FRACTION})",
            f"the piece covers {frac:.2%} of the frame",
        ))
        edges = {"top": subject[0], "bottom": subject[-1], "left": subject[:, 0], "right": subject[:, -1]}
        runs = {k: float(v.mean()) for k, v in edges.items()}
        touched = [k for k, v in edges.items() if int(v.sum()) >= 3]
        longest = max(runs.values())
        ok = len(touched) < 2 and longest <= BORDER_RUN_REVIEW_FRACTION
        checks.append(Check(
            "input_subject_cut_by_frame", ok, "review", round(longest, 4),
            f"touches < 2 borders and <= {BORDER_RUN_REVIEW_FRACTION} of any border",
            f"the piece touches {touched or 'no'} border(s); longest run {longest:.1%} of a border"
            + ("" if ok else ": it is probably cut by the frame"),
        ))

    return checks


# ---------------------------------------------------------------------------- output


def _decode(encoded: bytes) -> tuple[np.ndarray, np.ndarray | None]:
    """Bytes -> (HxWx3 uint8 RGB, HxW uint8 alpha or None)."""
    if not encoded:
        raise InvalidImage("the encoded output is empty", code="invalid_image")
    img = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise InvalidImage("the encoded output could not be decoded", code="invalid_image")
    if img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    alpha = None
    if img.shape[2] == 4:
        alpha = img[:, :, 3]
        img = img[:, :, :3]
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB), alpha


def _non_white_border_pixels(rgb: np.ndarray, depth: int) -> tuple[int, int]:
    """(non-white count, total) over the ring ``depth`` px deep along the border."""
    h, w = rgb.shape[:2]
    d = max(1, min(depth, h // 2, w // 2))
    strips = (rgb[:d], rgb[h - d:], rgb[d:h - d, :d], rgb[d:h - d, w - d:])
    bad = sum(int((s != 255).any(axis=2).sum()) for s in strips)
    total = sum(s.shape[0] * s.shape[1] for s in strips)
    return bad, total


def _frame_sides(rgb: np.ndarray) -> list[str]:
    """Sides carrying a uniform non-white line (a drawn border or keyline) within the
    outer 10% that gives way to something else further in."""
    h, w = rgb.shape[:2]
    found = []
    views = {"top": rgb, "bottom": rgb[::-1], "left": rgb.transpose(1, 0, 2), "right": rgb.transpose(1, 0, 2)[::-1]}
    for side, v in views.items():
        n, length = v.shape[0], v.shape[1]
        k = max(3, round(0.10 * n))
        span = v[: k + 2, round(0.05 * length): max(round(0.95 * length), 1)].astype(np.float32)
        means = span.mean(axis=1)  # (k+2, 3)
        spread = span.std(axis=1).max(axis=1)
        off_white = (255.0 - means).max(axis=1)
        for i in range(min(k, len(means) - 1)):
            if spread[i] < 4.0 and off_white[i] > 6.0:
                later = np.abs(means[i + 1:] - means[i]).max(axis=1)
                if (later > 10.0).any():
                    found.append(side)
                    break
    return found


def _normalise_format(fmt: str) -> str:
    f = str(fmt).lower().lstrip(".")
    return "jpeg" if f in ("jpg", "jpeg") else f


def check_output(
    encoded: bytes,
    fmt: str,
    profile: MarketplaceProfile,
    *,
    filename_ext: str | None = None,
    today: dt.date | None = None,
    subject_levels: int = SUBJECT_LEVELS,
    text_detector: TextDetector | TextDetectorUnavailable | None = None,
) -> list[Check]:
    """Re-measure the delivered bytes against a marketplace profile.

    encoded: the file's bytes. fmt: the declared format ("jpeg", "png", "webp").
    profile: the marketplace. filename_ext: the extension the file will carry (e.g.
    ".jpg"), or None. today: the date that picks dated rules (default: today).
    subject_levels: grey levels below white that count as product (see module doc).
    text_detector: the replica's ``qa.text.TextDetector`` (built once, passed in); None
    or unavailable reports ``output_text_watermark`` as "not measured".
    Returns the checks; raises ``InvalidImage`` when the bytes do not decode.
    """
    rgb, alpha = _decode(encoded)
    h, w = rgb.shape[:2]
    checks: list[Check] = []
    declared = _normalise_format(fmt)
    actual = sniff_format(encoded) or "unknown"

    ok = actual == declared and actual in profile.allowed_formats
    checks.append(Check(
        "output_format", ok, "fail", actual, f"declared {declared}; allowed {list(profile.allowed_formats)}",
        f"the bytes are {actual}" + ("" if ok else f", declared {declared}"),
    ))
    if filename_ext is None:
        checks.append(not_measured("output_extension", "no filename extension given"))
    else:
        ext = "." + filename_ext.lower().lstrip(".")
        ok = ext in FORMAT_EXTENSIONS.get(actual, ())
        checks.append(Check(
            "output_extension", ok, "fail" if profile.extension_must_match else "review", ext,
            f"one of {list(FORMAT_EXTENSIONS.get(actual, ()))}",
            f"extension {ext} for {actual} bytes" + ("" if ok else ": they do not match"),
        ))

    size = len(encoded)
    if profile.max_file_bytes is not None:
        checks.append(Check("output_file_size", size <= profile.max_file_bytes, "fail", size,
                            f"<= {profile.max_file_bytes} bytes", f"{size} bytes"))
    else:
        checks.append(Check("output_file_size", True, "info", size, None, f"{size} bytes (no limit)"))

    long_side, short_side = max(w, h), min(w, h)
    dims = f"{w}x{h}"
    if profile.min_long_side is not None:
        checks.append(Check("output_min_long_side", long_side >= profile.min_long_side, "fail", long_side,
                            f">= {profile.min_long_side} px", f"{dims}"))
    if profile.max_long_side is not None:
        checks.append(Check("output_max_long_side", long_side <= profile.max_long_side, "fail", long_side,
                            f"<= {profile.max_long_side} px", f"{dims}"))
    min_side = profile.min_side_on(today)
    if min_side is not None:
        checks.append(Check("output_min_side", short_side >= min_side, "fail", short_side,
                            f">= {min_side}x{min_side} px (rule in force on {(today or dt.date.today()).isoformat()})",
                            f"{dims}"))
    if profile.max_width is not None or profile.max_height is not None:
        mw, mh = profile.max_width or math.inf, profile.max_height or math.inf
        checks.append(Check("output_max_dimensions", w <= mw and h <= mh, "fail", dims,
                            f"<= {profile.max_width}x{profile.max_height} px", f"{dims}"))
    if profile.max_megapixels is not None:
        mp = w * h / 1e6
        checks.append(Check("output_megapixels", mp <= profile.max_megapixels, "fail", round(mp, 3),
                            f"<= {profile.max_megapixels} MP", f"{mp:.2f} MP"))
    if profile.recommended_min_short_side is not None:
        ok = short_side >= profile.recommended_min_short_side
        checks.append(Check("output_recommended_short_side", ok, "review", short_side,
                            f">= {profile.recommended_min_short_side} px (recommended)",
                            f"{dims}" + ("" if ok else ": below the marketplace's recommendation")))
    if profile.recommended_wh is not None:
        rw, rh = profile.recommended_wh
        checks.append(Check("output_recommended_size", (w, h) == (rw, rh), "info", dims,
                            f"{rw}x{rh} (recommended)", f"{dims}"))
    if profile.allowed_aspects:
        ratio = w / h
        ok = any(abs(ratio - a / b) / (a / b) <= profile.aspect_tolerance for a, b in profile.allowed_aspects)
        checks.append(Check("output_aspect_ratio", ok, "review", round(ratio, 4),
                            " or ".join(f"{a}:{b}" for a, b in profile.allowed_aspects),
                            f"{dims}" + ("" if ok else ": thumbnails will be cropped")))

    if alpha is not None and int(alpha.min()) < 255:
        transparent = float((alpha < 255).mean())
        needs_bg = profile.background_rgb is not None
        checks.append(Check("output_transparency", not needs_bg, "fail" if needs_bg else "info",
                            round(transparent, 4), "opaque" if needs_bg else None,
                            f"{transparent:.1%} of pixels are transparent"
                            + (f"; {profile.display_name} requires an opaque background" if needs_bg else "")))
        a = alpha.astype(np.float32)[:, :, None] / 255.0
        rgb = np.clip(rgb.astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)

    bad, total = _non_white_border_pixels(rgb, BORDER_RING_PX)
    needs_white = profile.background_rgb == (255, 255, 255)
    checks.append(Check(
        "output_border_white", bad == 0, "fail" if needs_white else "info", bad,
        f"0 of {total} border px ({BORDER_RING_PX} px deep) != (255,255,255)",
        f"{bad} border pixels are not pure white" + ("" if needs_white else " (white not required)"),
    ))

    darkest = np.minimum(np.minimum(rgb[:, :, 0], rgb[:, :, 1]), rgb[:, :, 2])
    box = subject_bbox(darkest < 255 - subject_levels)
    if box is None:
        checks.append(Check("output_fill_ratio", False, "fail", 0.0,
                            f">= {profile.min_fill}" if profile.min_fill else "a visible product",
                            f"no product found: no pixel is more than {subject_levels} levels below white"))
    else:
        fr = fill_ratio(box, (w, h))
        if profile.min_fill is not None:
            ok = fr >= profile.min_fill
            checks.append(Check("output_fill_ratio", ok, "fail", round(fr, 4), f">= {profile.min_fill}",
                                f"the product's box {list(box)} fills {fr:.1%} of the frame"))
        else:
            checks.append(Check("output_fill_ratio", True, "info", round(fr, 4), None,
                                f"the product's box {list(box)} fills {fr:.1%} of the frame (no rule)"))

    sides = _frame_sides(rgb)
    framed = len(sides) >= 3
    checks.append(Check(
        "output_frame_border", not framed, "fail" if profile.forbid_borders else "info", len(sides),
        "< 3 sides with a uniform non-white line", f"uniform non-white lines on {sides or 'no'} side(s)"
        + (": a border frame" if framed else ""),
    ))
    checks.append(_text_watermark(rgb, darkest, subject_levels, profile, text_detector))
    return checks


def _text_watermark(rgb: np.ndarray, darkest: np.ndarray, subject_levels: int, profile: MarketplaceProfile,
                    detector: TextDetector | TextDetectorUnavailable | None) -> Check:
    """``output_text_watermark`` on the delivered (flattened) canvas. darkest: HxW uint8,
    the darkest channel. The piece is measured from the pixels themselves (the same
    ``subject_levels`` rule as the fill ratio, with pale metal near each text box, less
    the lettering that stands apart from it, plus the white pockets it encloses; see
    ``qa.text.piece_mask_around_text``); text on it (a hallmark) is the product's."""
    if detector is None or isinstance(detector, TextDetectorUnavailable):
        return check_text_watermark(rgb, None, detector, profile)
    # The detector reads at most TEXT_LONG_SIDE px anyway; the piece is measured at that
    # scale too (at 2000 px it cost four times as much for the same boxes).
    scale = TEXT_LONG_SIDE / max(rgb.shape[:2])
    if scale < 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        darkest = cv2.resize(darkest, size, interpolation=cv2.INTER_AREA)
    boxes = detector.find_text(rgb)
    piece = piece_mask_around_text(darkest < 255 - subject_levels, boxes, white=darkest > 255 - PALE_LEVELS)
    return check_text_watermark(rgb, piece, detector, profile, boxes=boxes)
