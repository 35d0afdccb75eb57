"""Marketplace image rules as data.

Each profile is a frozen dataclass: the compositor reads its default canvas and fill
target, the QA gate (``lumograph.models.qa``) measures delivered bytes against its
limits. A limit left at ``None`` means the marketplace states no rule for it.

Fill ratio, one definition for the whole project (see :func:`fill_ratio`): the
subject's bounding box measured in each axis over the canvas in the same axis, and the
larger of the two. On a square canvas that is "the product's longest side over the
canvas side", the usual reading of Amazon's "fills 85% of the frame"; on a non-square
canvas it is the axis in which the piece is tightest, which can never exceed 1 without
the piece being cut by the frame.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lumograph.models.common.errors import InvalidOptions

WHITE = (255, 255, 255)
#: Source pixels enlarged more than this onto the canvas look soft at zoom.
MAX_MAGNIFICATION = 2.0
#: The canvas is planned from the coarse located box; the cut-out's own box comes out a few
#: percent smaller, so the plan keeps this much of the limit in hand.
PLAN_MARGIN = 0.95
#: No delivered canvas is planned below this side (the common zoom threshold), whatever a
#: profile allows.
MIN_CANVAS_SIDE = 1000


@dataclass(frozen=True)
class DatedMinimumSide:
    """A minimum side (pixels, both width and height) in force from ``effective_from``."""

    effective_from: dt.date
    min_side: int


@dataclass(frozen=True)
class MarketplaceProfile:
    """The image rules of one marketplace's main product image.

    Sizes are pixels, ``max_file_bytes`` bytes, fills in (0, 1]. ``allowed_aspects``
    are width:height pairs; ``None`` means any aspect is accepted.
    """

    name: str
    display_name: str
    #: Required background colour of the border ring, or None when not required.
    background_rgb: tuple[int, int, int] | None = None
    min_fill: float | None = None
    min_long_side: int | None = None
    max_long_side: int | None = None
    #: Hard minimum for both sides, as a dated schedule (rules that change on a date).
    min_side_schedule: tuple[DatedMinimumSide, ...] = ()
    max_width: int | None = None
    max_height: int | None = None
    max_megapixels: float | None = None
    max_file_bytes: int | None = None
    #: Recommendation (not a rule): a shorter short side gets a ``review`` check.
    recommended_min_short_side: int | None = None
    #: Recommendation shown as an ``info`` check (e.g. Shopify's 2048x2048).
    recommended_wh: tuple[int, int] | None = None
    allowed_aspects: tuple[tuple[int, int], ...] | None = None
    aspect_tolerance: float = 0.01
    allowed_formats: tuple[str, ...] = ("jpeg", "png", "webp")
    extension_must_match: bool = False
    forbid_borders: bool = False
    #: Content rules we cannot measure from pixels yet; reported as ``info``.
    forbidden_content: tuple[str, ...] = ()
    #: Close-ups (piece cut by the frame) must fade to the background at the border.
    closeups_fade_to_white: bool = False
    default_canvas: tuple[int, int] = (2000, 2000)
    default_fill: float = 0.85
    notes: tuple[str, ...] = field(default_factory=tuple)

    def min_side_on(self, today: dt.date | None = None) -> int | None:
        """The hard minimum side in force on ``today`` (default: the current date)."""
        today = today or dt.date.today()
        in_force = [r for r in self.min_side_schedule if r.effective_from <= today]
        if not in_force:
            return None
        return max(in_force, key=lambda r: r.effective_from).min_side


def fill_ratio(bbox: tuple[int, int, int, int], canvas_wh: tuple[int, int]) -> float:
    """How much of the frame the subject fills.

    bbox: (x0, y0, x1, y1), exclusive ends, in canvas pixels. canvas_wh: (w, h).
    Returns ``max(bbox_w / canvas_w, bbox_h / canvas_h)`` in [0, 1].
    """
    x0, y0, x1, y1 = bbox
    w, h = canvas_wh
    return float(max((x1 - x0) / w, (y1 - y0) / h))


_PROFILES: tuple[MarketplaceProfile, ...] = (
    MarketplaceProfile(
        name="amazon",
        display_name="Amazon (main image)",
        background_rgb=WHITE,
        min_fill=0.85,
        min_long_side=1000,  # below this Amazon disables zoom
        max_long_side=10000,
        forbidden_content=("text", "watermark", "props"),
        default_canvas=(2000, 2000),
        default_fill=0.88,
        notes=("pure white background RGB 255,255,255", "longest side >= 1000 px enables zoom"),
    ),
    MarketplaceProfile(
        name="amazon_jewelry",
        display_name="Amazon Jewelry (main image)",
        background_rgb=WHITE,
        min_fill=0.80,
        min_long_side=500,
        max_long_side=2100,
        forbidden_content=("text", "watermark", "props", "model", "mannequin"),
        closeups_fade_to_white=True,
        default_canvas=(2000, 2000),
        default_fill=0.85,
        notes=("close-ups must fade to white at the border", "no model or mannequin"),
    ),
    MarketplaceProfile(
        name="etsy",
        display_name="Etsy",
        recommended_min_short_side=2000,
        allowed_aspects=((1, 1), (5, 4), (4, 3)),
        default_canvas=(2000, 2000),
        default_fill=0.80,
        notes=("thumbnails crop to 5:4, 4:3 or square",),
    ),
    MarketplaceProfile(
        name="shopify",
        display_name="Shopify",
        max_width=4472,
        max_height=4472,
        recommended_wh=(2048, 2048),
        default_canvas=(2048, 2048),
        default_fill=0.85,
    ),
    MarketplaceProfile(
        name="google",
        display_name="Google Merchant Center",
        min_side_schedule=(
            DatedMinimumSide(dt.date(1970, 1, 1), 100),
            DatedMinimumSide(dt.date(2027, 1, 31), 500),
        ),
        max_megapixels=64.0,
        max_file_bytes=16 * 1024 * 1024,
        extension_must_match=True,
        forbid_borders=True,
        forbidden_content=("promotional text", "watermark"),
        default_canvas=(2000, 2000),
        default_fill=0.85,
        notes=("minimum 500x500 from 2027-01-31, 100x100 before",),
    ),
    MarketplaceProfile(
        name="ebay",
        display_name="eBay",
        min_long_side=500,
        forbid_borders=True,
        forbidden_content=("added text",),
        default_canvas=(2000, 2000),
        default_fill=0.85,
    ),
)

#: Every profile by name.
PROFILES: dict[str, MarketplaceProfile] = {p.name: p for p in _PROFILES}


def get_profile(name: str) -> MarketplaceProfile:
    """Return the profile called ``name``; raise ``InvalidOptions`` quoting an unknown one."""
    try:
        return PROFILES[name]
    except (KeyError, TypeError):
        raise InvalidOptions(
            f"unknown marketplace {name!r}; expected one of {sorted(PROFILES)}",
            code="unknown_marketplace",
        ) from None


@dataclass(frozen=True)
class CanvasPlan:
    """The canvas a piece will be delivered on.

    side: square canvas side (px). fill: the piece's long side over the canvas side.
    magnification: canvas pixels per source pixel of the piece (None when the piece's
    size is unknown). reduced: the side was lowered from the profile's default so the
    piece stays within ``MAX_MAGNIFICATION``.
    """

    side: int
    fill: float
    magnification: float | None
    reduced: bool


def plan_canvas(profile: MarketplaceProfile, piece_long_side_px: float | None, *, size: int | None = None,
                fill: float | None = None, max_magnification: float = MAX_MAGNIFICATION,
                today: dt.date | None = None) -> CanvasPlan:
    """Pick the canvas for a piece ``piece_long_side_px`` source pixels long.

    A client's ``size`` is kept as asked. Otherwise the profile's default canvas, lowered
    as far as needed (never below ``MIN_CANVAS_SIDE`` or the profile's hard minimum) to keep
    the piece's magnification within ``max_magnification``: a small photo is delivered at
    the largest size it supports instead of being blown up soft.
    """
    fill = float(fill or profile.default_fill)
    default = int(size or profile.default_canvas[0])
    if not piece_long_side_px or piece_long_side_px <= 0:
        return CanvasPlan(side=default, fill=fill, magnification=None, reduced=False)
    side = default
    if size is None:
        lowest = max(MIN_CANVAS_SIDE, profile.min_long_side or 0, profile.min_side_on(today) or 0)
        sharp = int(PLAN_MARGIN * max_magnification * piece_long_side_px / fill)
        side = max(lowest, min(default, sharp))
    return CanvasPlan(side=side, fill=fill, magnification=round(fill * side / float(piece_long_side_px), 4),
                      reduced=side < default)
