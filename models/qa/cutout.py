"""QA checks on the cut-out itself: props and stray objects, enlargement, busy backdrops.

The marketplace checks in ``qa.py`` measure the delivered file; these measure whether
the classical cut-out can be trusted without a human look. All are ``review``: the
image is delivered but flagged, and not billed.
"""
from __future__ import annotations

import cv2
import numpy as np

from lumograph.models.qa.checks import Check

#: A part of the matte counts as a separate piece from this share of the subject's area.
PIECE_MIN_SHARE = 0.02
#: Source pixels enlarged more than this onto the canvas look soft at zoom.
MAX_MAGNIFICATION = 2.0


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
