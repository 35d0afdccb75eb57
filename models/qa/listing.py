"""QA for enhanced listing photos: the edit kept the photo's structure and tones.

Compares the input proxy with the enhanced proxy (before the perspective warp, so the
two line up pixel for pixel). Every check carries its measured value and the rule it
was held to:

* ``listing_structure`` (review < ``STRUCTURE_REVIEW``, fail < ``STRUCTURE_FAIL``): SSIM
  (scikit-image) between the two images' edge maps: gradient magnitude of luma, each
  normalised by its own 95th percentile (an exposure lift or a tone curve scales
  gradients, it does not change structure) and lightly blurred (a half-pixel shift of
  an edge is not an artefact). The SSIM map is averaged only where the edit is not
  meant to invent structure: pixels that were blown out in the input (windows the
  window pull fills with the view, flash spots the glare removal paints) are left out,
  dilated by a few pixels; when a sky module ran (``sky_replacement``, ``day_to_dusk``)
  the matte is not passed here, so the measure covers only the bottom
  ``GROUND_SHARE`` of the frame, where listing skies almost never reach. A new sky
  above the roof line is then judged by the halo check instead.
* ``listing_new_clipping`` / ``listing_new_crushed_blacks`` (review > 1 %, fail > 5 %):
  share of pixels blown to white (every channel >= ``CLIP_LEVEL``) or crushed to black
  (every channel <= ``BLACK_LEVEL``) after, minus before.
* ``listing_sky_halo`` (review > ``HALO_REVIEW``, fail > ``HALO_FAIL``): the sky module's
  own halo score, on the scale ``models.compositor.sky_replace._halo_score`` defines: the share, in
  [0, 1], of the old-sky-to-new-sky difference still present in a thin band on the sky
  side of the roof lines (0 = clean, 1 = the old sky untouched there).
* ``listing_colour_shift`` (info): mean CIE76 delta E between the two proxies.

The MLS content rules on the edited photo (no branding, no people) are ``qa.mls``; the QA
core adds them to these checks.

Images are HxWx3 ``uint8`` RGB; inputs are never mutated.
"""
from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from lumograph.models.common.imageio import require_rgb_u8, resize_long_side
from lumograph.models.qa.checks import Check, QAReport, graded, verdict

#: Edge-map SSIM below which the edit needs a human look / is rejected.
STRUCTURE_REVIEW = 0.70
STRUCTURE_FAIL = 0.50
#: Share of the frame (from the bottom) the structure check keeps when a sky module ran.
GROUND_SHARE = 0.60
#: Modules that repaint the sky wholesale.
SKY_MODULES = frozenset({"sky_replacement", "day_to_dusk"})
#: Levels that count as blown white / crushed black (every channel).
CLIP_LEVEL = 250
BLACK_LEVEL = 5
#: New clipped or crushed share of the frame that needs review / fails.
NEW_CLIPPING_REVIEW = 0.01
NEW_CLIPPING_FAIL = 0.05
#: Limits on the sky module's halo score ([0, 1], see the module doc).
HALO_REVIEW = 0.25
HALO_FAIL = 0.50
#: The structure measure works at most at this long side (SSIM cost grows with area).
STRUCTURE_LONG_SIDE = 768
#: Edge maps are blurred by this sigma (px at ``STRUCTURE_LONG_SIDE``).
EDGE_BLUR_SIGMA = 1.0
#: Blown pixels are excluded from the structure average with this margin (px).
BLOWN_MARGIN_PX = 4


def _edge_map(rgb: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """HxW float32 in [0, 1.5]: blurred luma gradient magnitude / its 95th percentile over
    the ``keep`` pixels (HxW bool), so what is left out cannot rescale the rest."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1 / 255)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    mag = cv2.GaussianBlur(cv2.magnitude(gx, gy), (0, 0), EDGE_BLUR_SIGMA)
    scale = float(np.percentile(mag[keep], 95)) if keep.any() else 0.0
    if scale < 1e-4:  # a flat frame has no structure to compare
        return np.zeros_like(mag)
    return np.minimum(mag / scale, 1.5)


def _blown(rgb: np.ndarray) -> np.ndarray:
    return cv2.min(cv2.min(rgb[..., 0], rgb[..., 1]), rgb[..., 2]) >= CLIP_LEVEL


def _crushed(rgb: np.ndarray) -> np.ndarray:
    return cv2.max(cv2.max(rgb[..., 0], rgb[..., 1]), rgb[..., 2]) <= BLACK_LEVEL


def _structure_check(before: np.ndarray, after: np.ndarray, applied: list[str]) -> Check:
    b, a = resize_long_side(before, STRUCTURE_LONG_SIDE), resize_long_side(after, STRUCTURE_LONG_SIDE)
    sky = bool(SKY_MODULES & set(applied))
    if sky:
        # Crop before normalising: a new sky's texture must not rescale the ground's edges.
        top = int(round((1.0 - GROUND_SHARE) * b.shape[0]))
        b, a = b[top:], a[top:]
    k = 2 * BLOWN_MARGIN_PX + 1
    keep = cv2.dilate(_blown(b).astype(np.uint8), np.ones((k, k), np.uint8)) == 0
    _, ssim_map = structural_similarity(_edge_map(b, keep), _edge_map(a, keep), data_range=1.5, full=True)
    where = f"the bottom {GROUND_SHARE:.0%} of the frame (a sky module ran)" if sky else "the frame"
    if keep.mean() < 0.05:  # nearly all blown: nothing left to compare
        return Check("listing_structure", True, "info", None, None,
                     f"not measured: {100 * (1 - keep.mean()):.0f}% of {where} was blown out in the input")
    score = float(ssim_map[keep].mean())
    sev = "fail" if score < STRUCTURE_FAIL else "review"
    ok = score >= STRUCTURE_REVIEW
    return Check(
        "listing_structure", ok, sev, round(score, 4),
        f"edge SSIM >= {STRUCTURE_REVIEW} (fail < {STRUCTURE_FAIL})",
        f"edge-map SSIM {score:.3f} over {where}, blown input pixels excluded"
        + ("" if ok else ": the edit changed or lost structure (blur, artefacts, misalignment)"))


def _new_share_check(name: str, what: str, lost: str, before_share: float, after_share: float) -> Check:
    return graded(
        name, after_share - before_share, review_over=NEW_CLIPPING_REVIEW, fail_over=NEW_CLIPPING_FAIL, digits=5,
        limit=f"<= {NEW_CLIPPING_REVIEW:.0%} of the frame newly {what} (fail > {NEW_CLIPPING_FAIL:.0%})",
        measured=f"pixels {what}: {before_share:.2%} -> {after_share:.2%}", problem=f"the edit lost {lost}")


def _halo_check(halo: float | None) -> Check:
    if halo is None:
        return Check("listing_sky_halo", True, "info", None, None, "not measured: no sky was replaced")
    value = float(halo)
    return graded(
        "listing_sky_halo", value, review_over=HALO_REVIEW, fail_over=HALO_FAIL, digits=4,
        limit=f"halo score <= {HALO_REVIEW} (fail > {HALO_FAIL}); 0 = clean, 1 = old sky left at the edges",
        measured=f"{value:.0%} of the old sky's difference remains in the band along roof lines",
        problem="a visible halo around the roof line, trees or wires")


def _colour_shift_check(before: np.ndarray, after: np.ndarray) -> Check:
    b = cv2.cvtColor(resize_long_side(before, 512).astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)
    a = cv2.cvtColor(resize_long_side(after, 512).astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)
    delta = float(np.sqrt(((a - b) ** 2).sum(axis=2)).mean())
    return Check("listing_colour_shift", True, "info", round(delta, 3), None,
                 f"mean colour change delta E (CIE76) {delta:.1f}")


def check_listing(before_proxy: np.ndarray, after_proxy: np.ndarray, applied: list[str],
                  halo: float | None) -> list[Check]:
    """Check an enhanced listing photo against its input.

    before_proxy, after_proxy: HxWx3 uint8 RGB proxies (~1024 px) of the input and of
    the edit before the perspective warp. A different-shape ``after_proxy`` is resized
    to ``before_proxy``'s shape (INTER_AREA) and an info check says so. applied: names
    of the modules that changed the photo. halo: the sky module's halo score in [0, 1]
    or None when no sky was replaced.
    Returns the checks (module doc): structure (review/fail), new clipping
    (review/fail), new crushed blacks (review/fail), sky halo (review/fail, or info when
    not measured), colour shift (info), plus "listing_resized" (info) on a shape
    mismatch. Raises ``InvalidImage`` for a non-RGB-uint8 or tiny proxy.
    """
    require_rgb_u8(before_proxy, "before_proxy", min_side=16, purpose="to compare")
    require_rgb_u8(after_proxy, "after_proxy", min_side=16, purpose="to compare")
    applied = [str(m) for m in (applied or [])]
    checks: list[Check] = []
    if after_proxy.shape != before_proxy.shape:
        h, w = before_proxy.shape[:2]
        checks.append(Check("listing_resized", True, "info", f"{after_proxy.shape[1]}x{after_proxy.shape[0]}",
                            f"{w}x{h}", f"the edited proxy {after_proxy.shape[1]}x{after_proxy.shape[0]} was "
                                        f"resized to the input's {w}x{h} to compare them"))
        after_proxy = cv2.resize(after_proxy, (w, h), interpolation=cv2.INTER_AREA)
    checks.append(_structure_check(before_proxy, after_proxy, applied))
    checks.append(_new_share_check("listing_new_clipping", "blown to white", "highlight detail",
                                   float(_blown(before_proxy).mean()), float(_blown(after_proxy).mean())))
    checks.append(_new_share_check("listing_new_crushed_blacks", "crushed to black", "shadow detail",
                                   float(_crushed(before_proxy).mean()), float(_crushed(after_proxy).mean())))
    checks.append(_halo_check(halo))
    checks.append(_colour_shift_check(before_proxy, after_proxy))
    return checks


def listing_verdict(checks: list[Check]) -> QAReport:
    """The verdict over listing checks: ``models.qa.checks.verdict`` (any failed "fail" ->
    "fail"; else any failed "review" -> "review"; else "pass")."""
    return verdict(checks)
