"""QA checks on the cut-out itself: completeness, props and stray objects, enlargement,
busy backdrops.

The marketplace checks in ``lightbox.py`` measure the delivered file; these measure whether
the cut-out can be trusted without a human look. ``cutout_complete`` re-measures the photo
on its own (it shares no threshold with the segmenter): metal left outside the alpha fails
the image; the others are ``review``: delivered but flagged, and not billed.
"""
from __future__ import annotations

import cv2
import numpy as np

from lumograph.models.common.filters import gradient_magnitude
from lumograph.models.common.imageio import resize_long_side
from lumograph.models.common.marketplaces import MAX_MAGNIFICATION
from lumograph.models.common.masks import border_mask
from lumograph.models.qa.checks import Check, graded

#: Edge evidence outside the cut-out, as a share of the piece's own, from which the cut-out
#: is incomplete: flagged for review, and failed (never delivered) above the second level.
#: Complete cut-outs of the eval packshots and product photos measure 0-0.03; the same
#: cut-outs with their top half erased 0.04-1.3 (bench/fit_light_backdrop.py prints both).
INCOMPLETE_REVIEW_SHARE = 0.05
INCOMPLETE_FAIL_SHARE = 0.2
#: "Strong" edges for this check: above the sweep's own gradient noise and above this share
#: of the piece's 90th-percentile edge strength (stricter than the segmenter's 15%).
STRONG_EDGE_SHARE = 0.25
#: Evidence counts from this far outside the alpha (a matte's own soft rim is not metal
#: left behind) to this far (beyond, it is another object or the frame), as shares of the
#: piece's long side.
NEAR_MARGIN_SHARE = 0.01
NEAR_REACH_SHARE = 0.15
#: ... and at least this many pixels out: the outline's own edge spreads ~3 px past it.
NEAR_MARGIN_MIN_PX = 4
#: Long side the check measures at.
COMPLETE_LONG_SIDE = 768
#: A part of the matte counts as a separate piece from this share of the subject's area.
PIECE_MIN_SHARE = 0.02


def count_pieces(alpha: np.ndarray, *, work_long_side: int = 512) -> int:
    """Significant separate parts of a matte.

    alpha: HxW float32 in [0, 1]. Parts smaller than ``PIECE_MIN_SHARE`` of the subject
    are ignored (clasps, specks); parts closer than ~1% of the long side are merged,
    so a chain with a pendant counts as one piece.
    """
    h, w = alpha.shape
    s = min(1.0, work_long_side / max(h, w))
    small = cv2.resize(alpha, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    mask = (small >= 0.5).astype(np.uint8)
    gap = max(1, round(0.01 * max(small.shape)))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * gap + 1,) * 2))
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    if areas.size == 0:
        return 0
    return int((areas >= PIECE_MIN_SHARE * areas.sum()).sum())


def check_cutout(*, pieces: int, category: str, magnification: float, busy_background: bool,
                 background_complexity: float | None = None) -> list[Check]:
    """Review-level checks on the cut-out (see module doc). Returns a list of ``Check``."""
    expected = 2 if category == "earring" else 1
    checks = [
        Check(
            "cutout_single_product", pieces <= expected, "review", pieces, f"<= {expected} separate piece(s) for a {category}",
            f"{pieces} separate object(s) cut out" + ("" if pieces <= expected else
                                                     ": props or a set; marketplaces want the product only"),
        ),
        Check(
            "cutout_magnification", magnification <= MAX_MAGNIFICATION, "review", round(float(magnification), 3),
            f"<= {MAX_MAGNIFICATION}x source pixels per canvas pixel",
            f"the piece is shown at {magnification:.2f}x its size in the upload"
            + ("" if magnification <= MAX_MAGNIFICATION else ": it will look soft when zoomed"),
        ),
        Check(
            "cutout_backdrop", not busy_background, "review",
            None if background_complexity is None else round(float(background_complexity), 3),
            "a plain backdrop (paper, sweep, lightbox)",
            "plain backdrop" if not busy_background else
            "busy backdrop (wood, foliage, props): the classical cut-out needs a human look",
        ),
    ]
    return checks


def missing_evidence_share(proxy_rgb: np.ndarray, proxy_alpha: np.ndarray) -> float | None:
    """How much of the piece's edge evidence lies outside its cut-out.

    proxy_rgb: HxWx3 uint8 photo (the ~1024 px proxy); proxy_alpha: HxW float32 [0, 1] on
    the same grid. Strong lightness edges (see ``STRONG_EDGE_SHARE``) in a ring around the
    alpha, from ``NEAR_MARGIN_SHARE`` to ``NEAR_REACH_SHARE`` of the piece's size out, over
    the strong edges inside it. A white-metal band that the cut-out dropped leaves its edges
    behind; an empty sweep leaves none. Returns None when there is no cut-out to measure.
    """
    rgb = resize_long_side(proxy_rgb, COMPLETE_LONG_SIDE)
    alpha = cv2.resize(np.asarray(proxy_alpha, np.float32), (rgb.shape[1], rgb.shape[0]),
                       interpolation=cv2.INTER_AREA)
    mask = alpha >= 0.5
    if not mask.any():
        return None
    lightness = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)[..., 0].astype(np.float32) * np.float32(100.0 / 255.0)
    gradient = gradient_magnitude(lightness, 1.0)
    # The sweep's gradient noise from the frame border, read off the median (the border may
    # hold part of a shadow): the 99th percentile of Rayleigh noise is ~2.6x its median.
    noise = max(1.0, 3.0 * 2.6 * float(np.median(gradient[border_mask(*mask.shape, 0.03)])))
    strong = gradient > max(noise, STRONG_EDGE_SHARE * float(np.quantile(gradient[mask], 0.9)))
    rows, cols = np.nonzero(mask)
    size = max(int(np.ptp(rows)), int(np.ptp(cols))) + 1
    # Distance to the cut-out (one transform; dilating by a 100+ px disc cost 50 ms).
    away = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    near = (away > max(NEAR_MARGIN_MIN_PX, NEAR_MARGIN_SHARE * size)) & (away <= max(2, NEAR_REACH_SHARE * size))
    return float(strong[near].sum()) / max(float(strong[mask].sum()), 1.0)


def check_complete(proxy_rgb: np.ndarray, proxy_alpha: np.ndarray) -> Check:
    """``cutout_complete``: fail when the piece left much of itself outside the cut-out,
    review when some (see ``missing_evidence_share``)."""
    share = missing_evidence_share(proxy_rgb, proxy_alpha)
    if share is None:
        return Check("cutout_complete", False, "fail", None, "a cut-out to measure", "the cut-out is empty")
    return graded(
        "cutout_complete", share, review_over=INCOMPLETE_REVIEW_SHARE, fail_over=INCOMPLETE_FAIL_SHARE, digits=4,
        limit=f"<= {INCOMPLETE_REVIEW_SHARE} of the piece's edges outside the cut-out (fail > {INCOMPLETE_FAIL_SHARE})",
        measured=f"{share:.1%} of the piece's edge evidence lies outside the cut-out",
        problem="part of the piece is missing from the image")
