"""Subject shape on a light, smooth backdrop (white or light-grey sweep, lightbox, paper).

Most packshots are shot there, and there colour alone fails: the bright side of a white-metal
band reflects the sweep and has its colour, and grey metal darker than the sweep looks like a
shadow. What does tell the piece from the sweep:

* the backdrop is smooth, the piece is not: metal has edges, facets and specular structure
  even where its colour matches the sweep. Evidence of the piece is a lightness gradient well
  above the backdrop's own (measured on the frame border) and above a share of the piece's
  own typical edge strength (a reflection in a glossy floor or a soft shadow is a weaker copy),
  or a colour clearly off the backdrop;
* the piece is closed: its outline and inner edges enclose the flat bright parts between them,
  so a morphological closing of the evidence, and filling what it encloses, keeps them;
* a glossy floor shows a faded copy of the piece under it: bands at the bottom of the mask
  whose edges are a small fraction of the piece's own are trimmed;
* real holes (a ring's interior, a chain loop) show the backdrop through the piece: an enclosed
  region is cleared where it is smooth, not brighter than the backdrop (a highlight is), holds
  enough pixels in the sweep's own tone (polished white metal sits a few L* under it), is
  compact (an opening, not the long flat face of a band between its two edges) and is wide
  (a highlight between two edges is slim);
* the closing also bridges gaps between separate wires; those stay open to the backdrop at
  their ends and in the sweep's tone, and are reopened.

Nothing here depends on the image's name or size: every length is a fraction of the piece's
long side and every level is relative to the measured backdrop or to the piece.
``bench/fit_light_backdrop.py`` scores a grid of the main fractions with a leave-one-out check.

Conventions: masks are HxW bool; ``lightness_delta`` etc. are HxW float32 delta-E.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lumograph.models.common.filters import gradient_magnitude
from lumograph.models.common.masks import border_mask, disc, drop_small_components

#: A backdrop counts as light and smooth when its CIELAB lightness is at least this...
LIGHT_MIN_LIGHTNESS = 60.0
#: ...and genuine backdrop pixels stray from the fitted surface by at most this (delta-E).
SMOOTH_MAX_NOISE = 3.0

#: Crisp structure: gradient above this share of the piece's 90th-percentile edge strength.
CRISP_SHARE = 0.15
#: Closing radius that joins the piece's edges across flat bright parts (share of the piece's
#: long side, measured as the box around the crisp evidence).
CLOSE_FRACTION = 0.02
#: A see-through hole is at least this wide (inscribed radius, share of the piece's long side).
SEE_THROUGH_FRACTION = 0.01
#: Inside holes, "smooth" allows this multiple of the crisp gradient (reflections of the
#: piece seen through a ring on a glossy floor are weak structure, not metal).
HOLE_SMOOTH_GAIN = 3.0
#: A hole is see-through when at least this share of it is backdrop-coloured and smooth.
SEE_THROUGH_BACKDROP_SHARE = 0.3
#: ... and never darker than it by more than this (CIELAB L*): a soft shadow, not grey metal.
SEE_THROUGH_MAX_DARKENING = 10.0
#: A hole's backdrop-toned pixels (``SEE_THROUGH_BACKDROP_SHARE`` of it) are within this of
#: the sweep's lightness: the unshaded sweep seen through the opening. Polished white metal
#: reflecting the sweep sits 5-12 L* under it.
SEE_THROUGH_TONE = 7.0
#: A see-through opening is at most this elongated (its area over its widest inscribed
#: disc's: an ellipse's axis ratio). Openings of the eval rings measure 1.1-5.6; the flat
#: face of a plain band, walled in by its two edges, 15.
SEE_THROUGH_MAX_ELONGATION = 9.0
#: Backdrop seen through a hole is never brighter than the sweep by more than this many
#: times its noise (floored at 1 delta-E): a brighter patch is a highlight on the metal.
BRIGHTER_NOISE_GAIN = 2.0
#: Reflection in a glossy floor: bands of the mask, the edge strength under which a band
#: at the bottom is a faded copy of the piece, and the most of the height that may go.
REFLECTION_BANDS = 25
REFLECTION_WEAK_SHARE = 0.35
REFLECTION_MAX_SHARE = 0.35
#: Gaps the closing bridged between separate wires are opened again where they are this
#: close to the sweep's tone (share of the colour evidence level; 0 keeps every gap shut).
GAP_TONE = 0.5
#: Specks under this share of the piece's area are dust on the sweep, not jewelry.
DUST_SHARE = 0.002
#: Depth (px) of the outline rim re-examined after the closing.
RIM_PX = 2
#: Floors: gradient evidence (delta-E per pixel) and colour evidence (delta-E).
MIN_GRADIENT = 1.0
MIN_COLOUR_DELTA_E = 3.0
#: Margins over the backdrop's own variation on the border (99th-percentile gradient,
#: 95th-percentile distance).
GRADIENT_NOISE_GAIN = 3.0
COLOUR_NOISE_GAIN = 2.5
#: Evidence specks smaller than this many pixels at a 1024 px long side are noise.
MIN_EVIDENCE_AREA_1024 = 20
_BORDER_FRACTION = 0.03


@dataclass(frozen=True)
class LightShape:
    """mask: HxW bool subject; backdrop: HxW bool, pixels outside it with no edge at all
    (the matting keeps them at alpha 0: a shadow beside the outline is not partial metal);
    holes_cleared: see-through holes kept as backdrop; holes_filled: enclosed regions kept as
    piece; thresholds: the levels used (JSON-able)."""

    mask: np.ndarray
    backdrop: np.ndarray
    holes_cleared: int
    holes_filled: int
    thresholds: dict


def is_light_smooth(backdrop_lightness: float, noise_delta_e: float) -> bool:
    """Whether the backdrop is the common packshot case this module is for."""
    return backdrop_lightness >= LIGHT_MIN_LIGHTNESS and noise_delta_e <= SMOOTH_MAX_NOISE


def light_backdrop_shape(lightness_delta: np.ndarray, distance: np.ndarray, detail: np.ndarray,
                         *, noise_delta_e: float, strong_delta_e: float,
                         texture_threshold: float) -> LightShape:
    """Binary subject on a light smooth backdrop.

    Args:
        lightness_delta: HxW float32, CIELAB L minus the modelled backdrop's L.
        distance: HxW float32 shadow-tolerant delta-E to the backdrop (see jewelry_matte).
        detail: HxW float32 fine lightness detail (delta-E).
        noise_delta_e: the backdrop's spread around its model.
        strong_delta_e: a colour difference no shadow reaches (the hysteresis high threshold).
        texture_threshold: the backdrop's fine-detail level.
    """
    height, width = distance.shape
    gradient = gradient_magnitude(lightness_delta, 1.0)
    # The backdrop's own variation, from the frame border. The crop around the piece has
    # reflections and shadow edges on its border too, so high quantiles are read off the
    # median, which tolerates up to half the strip being something else: for Rayleigh-like
    # gradient noise the 99th percentile is ~2.6x the median, for half-normal colour noise
    # the 95th is ~2.9x.
    border = border_mask(height, width, _BORDER_FRACTION)
    gradient_noise = max(MIN_GRADIENT, GRADIENT_NOISE_GAIN * 2.6 * float(np.median(gradient[border])))
    colour_level = max(MIN_COLOUR_DELTA_E, COLOUR_NOISE_GAIN * 2.9 * float(np.median(distance[border])))

    evidence = (distance > colour_level) | (gradient > gradient_noise)
    reference = float(np.quantile(gradient[evidence], 0.9)) if evidence.any() else 0.0
    crisp_level = max(gradient_noise, CRISP_SHARE * reference)
    crisp = (gradient > crisp_level) | (distance > strong_delta_e)
    crisp = drop_small_components(crisp, max(4, int((max(height, width) / 1024.0) ** 2
                                                    * MIN_EVIDENCE_AREA_1024)))
    # Lengths scale with the piece, not the frame: the proxy and the crop around the piece
    # then make the same decisions.
    size = _piece_size(crisp)
    radius = max(2, int(round(CLOSE_FRACTION * size)))
    closed = cv2.morphologyEx(crisp.astype(np.uint8), cv2.MORPH_CLOSE, disc(radius)).astype(bool)
    count, labels = cv2.connectedComponents((~closed).astype(np.uint8), connectivity=4)
    outside = np.zeros(count, bool)
    for edge in (labels[0, :], labels[-1, :], labels[:, 0], labels[:, -1]):
        outside[np.unique(edge)] = True
    holes = ~closed & ~outside[labels]

    not_brighter = lightness_delta < BRIGHTER_NOISE_GAIN * max(1.0, noise_delta_e)
    smooth = ((gradient < HOLE_SMOOTH_GAIN * crisp_level)
              & (detail < HOLE_SMOOTH_GAIN * 3.0 * max(texture_threshold, 0.5)) & not_brighter)
    # The backdrop seen through a hole is the sweep's own tone, at most lightly shaded: a flat
    # region much darker than the sweep between crisp edges is grey metal, not a shadow.
    backdrop_like = smooth & (distance < colour_level) & (lightness_delta > -SEE_THROUGH_TONE)
    hole_labels = labels[holes]
    share = (np.bincount(hole_labels, backdrop_like[holes], minlength=count)
             / np.maximum(np.bincount(hole_labels, minlength=count), 1))
    # An opening through a ring is a compact blob (an ellipse at worst, seen at an angle); a
    # flat bright face of a band between its two edges is a long strip. Area over the area of
    # the widest inscribed disc is an ellipse's axis ratio.
    inscribed = cv2.distanceTransform(holes.astype(np.uint8), cv2.DIST_L2, 3)
    widest = np.zeros(count, np.float32)
    np.maximum.at(widest, hole_labels, inscribed[holes])
    elongation = np.bincount(hole_labels, minlength=count) / np.maximum(np.pi * widest ** 2, 1.0)
    opening = (share >= SEE_THROUGH_BACKDROP_SHARE) & (elongation <= SEE_THROUGH_MAX_ELONGATION)
    see_through = holes & opening[labels] & smooth
    min_radius = max(2, int(round(SEE_THROUGH_FRACTION * size)))
    wide = cv2.morphologyEx(see_through.astype(np.uint8), cv2.MORPH_OPEN, disc(min_radius))
    # Regrow the wide cores through the smooth see-through pixels they sit in (the opening
    # rounded their corners off).
    # The closing also crept a little into the hole along its rim: the opening's regrowth may
    # take back smooth non-crisp pixels there too, up to the closing radius.
    regrow = (see_through | (closed & ~crisp & smooth)).astype(np.uint8)
    for _ in range(radius):
        wide = cv2.dilate(wide, disc(1)) & regrow
    cleared = wide.astype(bool)
    mask = (closed | holes) & ~cleared
    if GAP_TONE > 0:
        # The closing also bridges gaps between separate wires (two earrings side by side,
        # crossing loops). A bridged gap is the sweep seen between them and stays open to the
        # backdrop at its ends; the flat bright inside of a band is walled in by its edges.
        # Edge-free, sweep-toned pixels connected to the backdrop outside the mask go back.
        passable = (~crisp & smooth & (distance < GAP_TONE * colour_level)
                    & (lightness_delta > -SEE_THROUGH_MAX_DARKENING))
        count_p, regions = cv2.connectedComponents((passable | ~mask).astype(np.uint8), connectivity=4)
        open_ids = np.zeros(count_p, bool)
        open_ids[np.unique(regions[~mask])] = True
        open_ids[0] = False
        mask &= ~open_ids[regions]
    mask = _trim_reflection(mask, gradient)
    mask = drop_small_components(mask, max(4, int(DUST_SHARE * mask.sum())))
    # Edge evidence spreads a pixel or two past the real outline (the gradient is measured at
    # sigma 1) and the closing rounds it off: rim pixels that are neither crisp nor off the
    # backdrop's colour are the backdrop (often a shadow's edge) and go back to it, so the
    # matting band starts at the metal.
    rim = mask & ~cv2.erode(mask.astype(np.uint8), disc(RIM_PX)).astype(bool)
    mask &= ~(rim & (gradient < crisp_level) & (distance < colour_level))
    backdrop = ~mask & (gradient < crisp_level)

    hole_ids = np.unique(hole_labels)
    cleared_ids = np.unique(labels[cleared & holes]) if cleared.any() else np.zeros(0, int)
    thresholds = {"gradient_noise": round(gradient_noise, 3), "crisp_gradient": round(crisp_level, 3),
                  "colour_delta_e": round(colour_level, 3), "close_radius_px": radius,
                  "see_through_radius_px": min_radius}
    return LightShape(mask=mask, backdrop=backdrop, holes_cleared=int(cleared_ids.size),
                      holes_filled=int(hole_ids.size - cleared_ids.size), thresholds=thresholds)


def _trim_reflection(mask: np.ndarray, gradient: np.ndarray) -> np.ndarray:
    """Drop a faded copy of the piece hanging under it (a reflection in a glossy floor).

    The mask is cut into ``REFLECTION_BANDS`` horizontal bands; from the bottom up, bands
    whose edge strength (90th-percentile gradient inside the mask) is under
    ``REFLECTION_WEAK_SHARE`` of the median band's are a reflection: the floor shows the piece
    at a fraction of its contrast. At most ``REFLECTION_MAX_SHARE`` of the height goes.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size < REFLECTION_BANDS:
        return mask
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    edges = np.linspace(top, bottom, REFLECTION_BANDS + 1).astype(int)
    strength = np.zeros(REFLECTION_BANDS)
    for i in range(REFLECTION_BANDS):
        inside = gradient[edges[i]:edges[i + 1]][mask[edges[i]:edges[i + 1]]]
        strength[i] = np.quantile(inside, 0.9) if inside.size else 0.0
    weak = strength < REFLECTION_WEAK_SHARE * np.median(strength)
    cut = REFLECTION_BANDS
    while cut > 0 and weak[cut - 1] and (REFLECTION_BANDS - cut + 1) <= REFLECTION_MAX_SHARE * REFLECTION_BANDS:
        cut -= 1
    if cut == REFLECTION_BANDS:
        return mask
    trimmed = mask.copy()
    trimmed[edges[cut]:] = False
    return trimmed


def _piece_size(crisp: np.ndarray) -> float:
    """Long side (px) of the box around the crisp evidence; the frame's when there is none."""
    rows = np.flatnonzero(crisp.any(axis=1))
    cols = np.flatnonzero(crisp.any(axis=0))
    if rows.size == 0:
        return float(max(crisp.shape))
    return float(max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1))
