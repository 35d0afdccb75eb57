"""Vertical / perspective correction for listing photos (classical, no weights).

A camera pitched up makes the walls' vertical edges lean toward a vanishing point
above the frame (pitched down: below); a camera rolled about its axis leans them all
the same way. ``estimate_verticals`` finds the near-vertical line segments on a proxy
(OpenCV's LSD), picks the vanishing point most long segments agree on (an exhaustive
pair search scored like MSAC, then a weighted least-squares refinement) and turns it
into a pitch ("tilt") and a roll. ``correct_verticals`` builds the homography that
makes those lines parallel and upright, warps the full-resolution photo once and keeps
the largest crop of the original aspect ratio that holds no warped-in empty corner.
When that crop would keep less than ``MIN_KEPT_SHARE`` of the frame (strongly pitched
wide-angle shots), it applies only the largest fraction of the correction whose crop
keeps that much (``plan_verticals_crop``) and reports the lean left over: lines end up
straighter, never fully straight, and the framing survives.

Geometry conventions (every number is resolution-independent):

* normalised coordinates: origin at the image centre, x to the right, y down, one unit
  = the image height;
* ``tilt_deg`` follows the synthetic keystone of ``bench.synthetic_listing``: a camera
  whose focal length is ``FOCAL_IN_HEIGHTS`` (= 2) image heights, pitched up by
  ``tilt_deg``, puts the vertical vanishing point ``FOCAL_IN_HEIGHTS / tan(tilt)``
  heights above the centre. Positive = pitched up (tops converge); negative = pitched
  down (bottoms converge). Real listing lenses are wider than that, so this number is
  a measure of convergence on a fixed scale, larger than the physical pitch;
* ``roll_deg``: the lean of the vertical through the centre, positive when the tops
  lean to the right (the content looks rotated clockwise).

Images are HxWx3 ``uint8`` RGB; inputs are never mutated.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.optimize import linprog

from lumograph.models.common.imageio import fast_downscale, require_rgb_u8
from lumograph.models.common.lines import line_segments

#: Focal length, in image heights, that defines ``tilt_deg`` (the synthetic keystone's).
FOCAL_IN_HEIGHTS = 2.0
#: LSD runs at about this long side: verticals need no more, and it keeps the
#: estimate near 25 ms on a 1024 px proxy.
LSD_LONG_SIDE = 640
#: Proxies larger than this are reduced first (a caller passing 12 MP by mistake).
MAX_PROXY_LONG_SIDE = 1024
#: A candidate segment leans at most this far from the image vertical.
NEAR_VERTICAL_DEG = 15.0
#: ... and is at least this long, in image heights.
MIN_SEGMENT_HEIGHTS = 0.04
#: The longest candidates kept for the exhaustive pair search (n (n-1) / 2 hypotheses).
MAX_CANDIDATES = 80
#: A segment supports a vanishing point when it points at it within this angle.
INLIER_DEG = 1.0
#: Segments vote with length ** this: a long edge's angle is far more precise.
LENGTH_POWER = 2.0
#: Vanishing points closer than this to the centre (in heights) mean > ~45 deg of pitch:
#: no listing photo, so such a hypothesis is a pair of unrelated lines.
MIN_VANISHING_DISTANCE = FOCAL_IN_HEIGHTS
#: Total inlier length (heights) at which the support term of the confidence is 63 %.
SUPPORT_SCALE_HEIGHTS = 1.0
#: Horizontal spread (weighted std of inlier positions, heights) for full confidence:
#: convergence is only measurable between lines far apart.
SPREAD_FULL_HEIGHTS = 0.2

#: ``correct_verticals`` acts from this confidence (the graph's auto-select uses it too).
MIN_CONFIDENCE = 0.3
#: Below this |tilt| and |roll| the photo is already straight.
MIN_CORRECTION_DEG = 0.5
#: Larger corrections are refused: more likely a misread than a photo that bad. On
#: this module's tilt scale (f = 2 heights) real wide-angle listing photos shot
#: pitched down read -15 to -35 and look right straightened (35 is a ~13 deg lean at
#: the edge of a 4:3 frame); 12 would refuse a fifth of the eval interiors. A roll
#: past 8 deg is a misread (a staircase, a slanted ceiling), not a crooked tripod.
MAX_TILT_DEG = 35.0
MAX_ROLL_DEG = 8.0
#: The corrected photo is re-measured; a tilt more than max(this, half the correction
#: applied) away from the residual the estimate predicts (0 after a full correction)
#: means two sets of lines disagreed and the estimate is not trustworthy.
MAX_RESIDUAL_TILT_DEG = 2.0
#: The crop keeps at least this share of the frame's area: when the full correction's
#: would keep less, only the largest fraction of it that keeps this much is applied and
#: the rest of the lean is reported as the residual. A listing photographer frames a
#: room on purpose; 85 % (the aspect ratio kept, ~4 % off each side) is about the slack
#: left around a composition, while the full correction of a strongly pitched wide-angle
#: interior (tilt 25-35) keeps 75-80 % and cuts into furniture, ceiling line and floor.
#: On this tilt scale a frame is fully corrected up to a tilt of about 19 (no roll).
MIN_KEPT_SHARE = 0.85
#: A partial correction smaller than this fraction is not applied: three quarters of the
#: lean would remain, so the photo still reads as pitched while paying up to 15 % of its
#: frame. Within the ``MAX_TILT_DEG`` / ``MAX_ROLL_DEG`` caps a 4:3, 3:2 or 16:9 frame
#: always gets more (about 0.5 at a tilt of 35; 0.44, 0.39, 0.32 at a roll of 8); a
#: panorama with a strong roll gets less (4:1 at a roll of 7.5: 0.14).
MIN_CORRECTION_FRACTION = 0.25
#: The crop stays this many output pixels inside the warped frame's edge, so bilinear
#: sampling never reaches outside the source.
CROP_MARGIN_PX = 2.0
#: Long side of the proxy the corrected photo is re-measured on.
RESIDUAL_LONG_SIDE = 1024


def _segments(gray: np.ndarray) -> np.ndarray:
    """(N, 4) float64 x1, y1, x2, y2 in ``gray``'s pixels (LSD, parameter-free)."""
    scale = min(0.8, LSD_LONG_SIDE / max(gray.shape))
    return line_segments(gray, scale).astype(np.float64)


def _pointing_sine(v: np.ndarray, mid: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """|sin| of the angle between each segment and the ray from its midpoint to each
    homogeneous point. v: (K, 3); mid, direction: (N, 2), direction unit. -> (K, N)."""
    ex = v[:, None, 0] - mid[None, :, 0] * v[:, None, 2]
    ey = v[:, None, 1] - mid[None, :, 1] * v[:, None, 2]
    cross = np.abs(direction[None, :, 0] * ey - direction[None, :, 1] * ex)
    return cross / np.maximum(np.hypot(ex, ey), 1e-12)


def _angles_from_vanishing(v: np.ndarray) -> tuple[float, float]:
    """(tilt_deg, roll_deg) of a homogeneous vertical vanishing point (normalised coords)."""
    vx, vy, vw = (float(c) for c in v)
    norm = math.hypot(vx, vy)
    if norm < 1e-12:
        return 0.0, 0.0
    up = 1.0 if vy <= 0 else -1.0  # orient the central vertical upward
    roll = math.degrees(math.atan2(up * vx, -up * vy))
    # Signed distance of the point along the upward vertical: vw / (up * norm) heights^-1.
    tilt = math.degrees(math.atan(FOCAL_IN_HEIGHTS * vw / (up * norm)))
    return tilt, roll


def _refine(lines: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Unit homogeneous point minimising sum w (l . v)^2 over lines with a^2 + b^2 = 1:
    for a far point that residual is ~ the angle by which each line misses it."""
    moment = (lines * weight[:, None]).T @ lines
    _, vectors = np.linalg.eigh(moment)
    return vectors[:, 0]


def estimate_verticals(proxy_rgb: np.ndarray) -> dict:
    """Measure converging verticals (camera pitch) and roll on a listing photo.

    proxy_rgb: HxWx3 uint8 RGB, ~1024 px long side (larger inputs are reduced first).
    Returns a JSON-able dict:
      tilt_deg: float, signed pitch on the ``FOCAL_IN_HEIGHTS`` scale (module doc);
        positive = pitched up, tops converging; 0.0 when nothing was found.
      roll_deg: float, lean of the central vertical, positive = tops lean right.
      confidence: float in [0, 1] from how much long near-vertical line length agrees
        on one vanishing point, how spread out those lines are and what share of all
        near-vertical length they make.
      segments: int, near-vertical candidate segments; inliers: int, those that agree.
      support_heights: float, total inlier length in image heights.
      vanishing_x_norm / vanishing_y_norm: float or None, the vanishing point in units
        of image width / height from the top-left corner (None when the verticals are
        parallel, i.e. at infinity).
      edge_lean_deg: float, how far a vertical at the frame's side edge leans from
        upright because of the convergence (signed like ``tilt_deg``; 0 when parallel):
        the figure a photographer sees, independent of ``FOCAL_IN_HEIGHTS``.
      focal_heights: the ``FOCAL_IN_HEIGHTS`` that ``tilt_deg`` is defined with.
    Raises ``InvalidImage`` for a non-RGB-uint8 or tiny input.
    """
    require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=32, purpose="to find verticals")
    proxy = fast_downscale(proxy_rgb, MAX_PROXY_LONG_SIDE)
    h, w = proxy.shape[:2]
    gray = cv2.cvtColor(proxy, cv2.COLOR_RGB2GRAY)
    seg = _segments(gray)
    result = {"tilt_deg": 0.0, "roll_deg": 0.0, "confidence": 0.0, "segments": 0, "inliers": 0,
              "support_heights": 0.0, "vanishing_x_norm": None, "vanishing_y_norm": None,
              "edge_lean_deg": 0.0, "focal_heights": FOCAL_IN_HEIGHTS}
    if len(seg) == 0:
        return result
    p1 = np.stack([(seg[:, 0] - w / 2) / h, (seg[:, 1] - h / 2) / h], axis=1)
    p2 = np.stack([(seg[:, 2] - w / 2) / h, (seg[:, 3] - h / 2) / h], axis=1)
    delta = p2 - p1
    length = np.hypot(delta[:, 0], delta[:, 1])
    lean = np.degrees(np.arctan2(np.abs(delta[:, 0]), np.abs(delta[:, 1])))
    keep = (lean <= NEAR_VERTICAL_DEG) & (length >= MIN_SEGMENT_HEIGHTS)
    n_candidates = int(keep.sum())
    result["segments"] = n_candidates
    if n_candidates < 2:
        return result
    order = np.argsort(-length[keep])[:MAX_CANDIDATES]
    p1, p2, length = p1[keep][order], p2[keep][order], length[keep][order]
    mid = (p1 + p2) / 2
    direction = (p2 - p1) / length[:, None]
    ones = np.ones((len(p1), 1))
    lines = np.cross(np.hstack([p1, ones]), np.hstack([p2, ones]))
    lines /= np.hypot(lines[:, 0], lines[:, 1])[:, None]

    # Hypotheses: every pair's intersection, plus "already parallel and upright".
    i, j = np.triu_indices(len(lines), k=1)
    hyps = np.cross(lines[i], lines[j])
    norms = np.linalg.norm(hyps, axis=1)
    hyps = hyps[norms > 1e-9] / norms[norms > 1e-9, None]  # collinear pairs meet nowhere
    hyps = np.vstack([hyps, [0.0, 1.0, 0.0]])
    finite_dist = np.hypot(hyps[:, 0], hyps[:, 1]) / np.maximum(np.abs(hyps[:, 2]), 1e-12)
    hyps = hyps[finite_dist >= MIN_VANISHING_DISTANCE]
    limit = math.sin(math.radians(INLIER_DEG))
    sine = _pointing_sine(hyps, mid, direction)
    # MSAC: an inlier scores by how well it points, an outlier by nothing.
    vote = length ** LENGTH_POWER
    score = (np.clip(1.0 - (sine / limit) ** 2, 0.0, None) * vote[None, :]).sum(axis=1)
    best = hyps[int(np.argmax(score))]
    for _ in range(2):
        inlier = _pointing_sine(best[None], mid, direction)[0] < limit
        if inlier.sum() < 2:
            break
        refined = _refine(lines[inlier], vote[inlier])
        best = refined if refined @ best >= 0 else -refined
    inlier = _pointing_sine(best[None], mid, direction)[0] < limit
    tilt, roll = _angles_from_vanishing(best)

    support = float(length[inlier].sum())
    if support > 0:
        xs = mid[inlier, 0]
        mean_x = float((xs * length[inlier]).sum() / support)
        spread = math.sqrt(float(((xs - mean_x) ** 2 * length[inlier]).sum() / support))
    else:
        spread = 0.0
    agreement = support / float(length.sum())
    n_in = int(inlier.sum())
    confidence = ((1.0 - math.exp(-support / SUPPORT_SCALE_HEIGHTS))
                  * (0.4 + 0.6 * min(1.0, spread / SPREAD_FULL_HEIGHTS))
                  * min(1.0, agreement / 0.6) * min(1.0, n_in / 4.0))
    result.update(tilt_deg=round(tilt, 3), roll_deg=round(roll, 3), confidence=round(confidence, 4),
                  inliers=n_in, support_heights=round(support, 3))
    if abs(best[2]) > 1e-9 and abs(math.tan(math.radians(tilt))) > 1e-4:
        vx, vy = best[0] / best[2], best[1] / best[2]
        result["vanishing_x_norm"] = round(float(vx * h / w + 0.5), 4)
        result["vanishing_y_norm"] = round(float(vy + 0.5), 4)
        # What a photographer sees, free of the focal convention: how far a vertical at
        # the frame's side edge leans, signed like tilt_deg.
        lean_edge = math.degrees(math.atan((w / (2.0 * h)) / max(abs(vy), 1e-9)))
        result["edge_lean_deg"] = round(math.copysign(lean_edge, tilt), 3)
    return result


# ------------------------------------------------------------------- correction


def verticals_homography(width: int, height: int, tilt_deg: float, roll_deg: float) -> np.ndarray:
    """3x3 float64 homography, source pixel -> corrected pixel on a ``width`` x ``height``
    canvas, that removes ``roll_deg`` and makes verticals converging by ``tilt_deg``
    (conventions in the module doc) parallel. The centre row keeps its scale."""
    to_norm = np.array([[1 / height, 0, -width / (2 * height)], [0, 1 / height, -0.5], [0, 0, 1]])
    r = math.radians(-roll_deg)  # undo the lean: rotate the content back
    unroll = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    # Sends the vanishing point (0, -f / tan(tilt)) to infinity along y; y = 0 is fixed.
    keystone = np.array([[1, 0, 0], [0, 1, 0], [0, math.tan(math.radians(tilt_deg)) / FOCAL_IN_HEIGHTS, 1]])
    return np.linalg.inv(to_norm) @ keystone @ unroll @ to_norm


def _largest_crop(quad: np.ndarray, width: int, height: int, margin: float) -> tuple[float, float, float] | None:
    """Largest axis-aligned box of aspect width/height inside the convex ``quad`` ((4, 2),
    corrected-canvas px) and the canvas, ``margin`` px in from every edge. Returns
    (x0, y0, box height) or None. A linear programme in (x0, y0, s)."""
    aspect = width / height
    area = 0.5 * sum(quad[k, 0] * quad[(k + 1) % 4, 1] - quad[(k + 1) % 4, 0] * quad[k, 1] for k in range(4))
    if abs(area) < 1.0:
        return None
    rows, bounds = [], []
    corners = ((0.0, 0.0), (aspect, 0.0), (aspect, 1.0), (0.0, 1.0))  # offsets per unit s
    for k in range(4):
        a, b = quad[k], quad[(k + 1) % 4]
        edge = b - a
        # Inward normal: left of the edge for a counter-clockwise polygon (y down flips it).
        normal = np.array([-edge[1], edge[0]]) if area > 0 else np.array([edge[1], -edge[0]])
        normal /= np.linalg.norm(normal)
        for cx, cy in corners:
            # normal . (corner - a) >= margin
            rows.append([-normal[0], -normal[1], -(normal[0] * cx + normal[1] * cy)])
            bounds.append(-(margin + normal @ a))
    rows += [[-1, 0, 0], [0, -1, 0], [1, 0, aspect], [0, 1, 1]]
    bounds += [0.0, 0.0, width - 1.0, height - 1.0]
    res = linprog(c=[0, 0, -1], A_ub=np.array(rows), b_ub=np.array(bounds),
                  bounds=[(None, None), (None, None), (0, None)], method="highs")
    if not res.success or res.x[2] <= 1:
        return None
    return float(res.x[0]), float(res.x[1]), float(res.x[2])


def _vanishing_point(width: int, height: int, tilt_deg: float, roll_deg: float) -> np.ndarray:
    """Homogeneous vertical vanishing point, in pixels of a ``width`` x ``height`` frame,
    of the (tilt, roll) estimate (the inverse of ``_angles_from_vanishing``)."""
    r = math.radians(roll_deg)
    norm = np.array([math.sin(r), -math.cos(r), math.tan(math.radians(tilt_deg)) / FOCAL_IN_HEIGHTS])
    return np.array([[height, 0, width / 2], [0, height, height / 2], [0, 0, 1]]) @ norm


def verticals_crop(width: int, height: int, tilt_deg: float, roll_deg: float, fraction: float) -> dict | None:
    """``fraction`` (float in [0, 1]) of the correction of (tilt, roll) (degrees, module
    conventions) on a ``width`` x ``height`` frame, and its largest crop of the frame's
    aspect ratio with no empty corner. Returns {"matrix": 3x3 float64 input px -> crop px,
    "crop": [x0, y0, x1, y1] (ints, exclusive ends) on the warped frame, "output_size":
    [w, h], "kept_share": float in (0, 1] (crop area / frame area), "applied_tilt_deg",
    "applied_roll_deg"}, or None when no crop exists. The keystone is scaled in tan(tilt)
    (keystones compose additively there, so the pitch left is exactly the rest), the roll
    in degrees."""
    applied_tilt = math.degrees(math.atan(fraction * math.tan(math.radians(tilt_deg))))
    applied_roll = fraction * roll_deg
    matrix = verticals_homography(width, height, applied_tilt, applied_roll)
    src = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]],
                   np.float64).reshape(-1, 1, 2)
    quad = cv2.perspectiveTransform(src, matrix).reshape(4, 2)
    box = _largest_crop(quad, width, height, CROP_MARGIN_PX)
    if box is None:
        return None
    x0, y0, s = box
    crop_h = int(math.floor(s))
    crop_w = int(round(crop_h * width / height))
    if crop_w > s * width / height:  # rounding up would step past the box
        crop_w -= 1
    x0i, y0i = int(math.ceil(x0)), int(math.ceil(y0))
    to_crop = np.array([[1, 0, -x0i], [0, 1, -y0i], [0, 0, 1]], np.float64) @ matrix
    return {"matrix": to_crop, "crop": [x0i, y0i, x0i + crop_w, y0i + crop_h], "output_size": [crop_w, crop_h],
            "kept_share": crop_w * crop_h / float(width * height),
            "applied_tilt_deg": applied_tilt, "applied_roll_deg": applied_roll}


def plan_verticals_crop(width: int, height: int, tilt_deg: float, roll_deg: float) -> dict | None:
    """How much of the (tilt, roll) correction a ``width`` x ``height`` photo gets: all of
    it when its crop keeps at least ``MIN_KEPT_SHARE`` of the frame, else the largest
    fraction, in thousandths, whose crop does (a bisection: the kept share falls as the
    fraction grows; checked over tilt, roll and aspect in the tests). Pure geometry, no
    pixels: about ten small linear programmes, ~15 ms.
    Returns the ``verticals_crop`` dict of the fraction chosen plus "correction_fraction"
    (float in [0, 1]) and "full_kept_share" (what the full correction would keep; 0.0 when
    it has no crop), or None when not even a thousandth keeps ``MIN_KEPT_SHARE``."""
    full = verticals_crop(width, height, tilt_deg, roll_deg, 1.0)
    full_kept = full["kept_share"] if full is not None else 0.0
    if full is not None and full_kept >= MIN_KEPT_SHARE:
        return {**full, "correction_fraction": 1.0, "full_kept_share": full_kept}
    best, lo, hi = None, 0, 1000  # thousandths: lo keeps enough (0 = no warp), hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        plan = verticals_crop(width, height, tilt_deg, roll_deg, mid / 1000)
        if plan is not None and plan["kept_share"] >= MIN_KEPT_SHARE:
            best, lo = plan, mid
        else:
            hi = mid
    if best is None:
        return None
    return {**best, "correction_fraction": lo / 1000, "full_kept_share": full_kept}


def _not_applied(rgb: np.ndarray, tilt: float, roll: float, reason: str, **extra) -> dict:
    h, w = rgb.shape[:2]
    return {"rgb": rgb.copy(), "applied": False, "report": {
        "tilt_deg": round(tilt, 3), "roll_deg": round(roll, 3), "correction_fraction": 0.0,
        "crop": [0, 0, w, h], "kept_share": 1.0, "output_size": [w, h],
        "residual_tilt_deg": round(tilt, 3), "residual_roll_deg": round(roll, 3), **extra,
        "reason": reason}}


def correct_verticals(rgb: np.ndarray, estimate: dict | None) -> dict:
    """Straighten converging verticals and roll at full resolution, then crop; when the
    full correction would crop too much, straighten only part of the way.

    rgb: HxWx3 uint8 RGB, any size. estimate: the dict of ``estimate_verticals`` (on
    any-size proxy of this photo: its numbers are resolution-independent) or None.
    Returns {"rgb": new HxWx3 uint8 (the crop, smaller than the input when applied; a
    copy of the input when not), "applied": bool, "report": {
      "tilt_deg", "roll_deg": the estimate (as measured on the input);
      "correction_fraction": float in [0, 1], the share of the correction applied (1.0:
        all of it; less when the full one would keep under ``MIN_KEPT_SHARE``; 0.0 when
        not applied); "applied_tilt_deg" / "applied_roll_deg": the correction applied;
      "crop": [x0, y0, x1, y1] (exclusive ends) on the warped W x H frame; "kept_share":
        crop area / input area (>= ``MIN_KEPT_SHARE`` when applied); "full_kept_share":
        what the full correction's crop would keep (absent when the photo was turned
        away before the crop was planned); "output_size": [w, h];
      "expected_residual_tilt_deg" / "expected_residual_roll_deg": what the estimate
        says is left on the output (0 for a full correction), on the output's own frame;
      "residual_tilt_deg" / "residual_roll_deg" / "residual_confidence" /
        "residual_edge_lean_deg": re-measured on the output (not applied: the estimate's,
        or the re-measure that refused it; no confidence nor edge lean);
      "matrix": 3x3 homography input px -> output px (to map masks);
      "reason": why (not, or only partly) applied}}.
    Not applied (with the reason) when there is no estimate, its confidence is below
    ``MIN_CONFIDENCE``, both angles are below ``MIN_CORRECTION_DEG``, the tilt exceeds
    ``MAX_TILT_DEG`` or the roll ``MAX_ROLL_DEG``, the fraction that keeps
    ``MIN_KEPT_SHARE`` is below ``MIN_CORRECTION_FRACTION``, or the output re-measures a
    tilt more than max(``MAX_RESIDUAL_TILT_DEG``, half the correction applied) away from
    the expected residual (the estimate was unstable).
    Raises ``InvalidImage`` for a non-RGB-uint8 or tiny input.
    """
    require_rgb_u8(rgb, "rgb", min_side=32, purpose="to find verticals")
    if estimate is None:
        return _not_applied(rgb, 0.0, 0.0, "no verticals estimate")
    tilt = float(estimate.get("tilt_deg") or 0.0)
    roll = float(estimate.get("roll_deg") or 0.0)
    confidence = float(estimate.get("confidence") or 0.0)
    if confidence < MIN_CONFIDENCE:
        return _not_applied(rgb, tilt, roll, f"confidence {confidence:.2f} below {MIN_CONFIDENCE:.2f}")
    if abs(tilt) < MIN_CORRECTION_DEG and abs(roll) < MIN_CORRECTION_DEG:
        return _not_applied(rgb, tilt, roll, f"already straight (|tilt| and |roll| < {MIN_CORRECTION_DEG} deg)")
    if abs(tilt) > MAX_TILT_DEG or abs(roll) > MAX_ROLL_DEG:
        return _not_applied(rgb, tilt, roll, f"refused: tilt {tilt:+.1f} / roll {roll:+.1f} deg exceeds "
                                             f"{MAX_TILT_DEG:.0f} / {MAX_ROLL_DEG:.0f} deg, more likely a misread")
    h, w = rgb.shape[:2]
    plan = plan_verticals_crop(w, h, tilt, roll)
    if plan is None:
        return _not_applied(rgb, tilt, roll, "refused: no crop without empty corners")
    fraction, full_kept = plan["correction_fraction"], round(plan["full_kept_share"], 4)
    if fraction < MIN_CORRECTION_FRACTION:
        return _not_applied(rgb, tilt, roll, f"not applied: the full correction would keep {full_kept:.0%} of the "
                                             f"frame; the {fraction:.0%} of it that keeps {MIN_KEPT_SHARE:.0%} is "
                                             f"under the {MIN_CORRECTION_FRACTION:.0%} worth applying (the photo "
                                             f"would still read as pitched)", full_kept_share=full_kept)
    to_crop = plan["matrix"]
    crop_w, crop_h = plan["output_size"]
    # Replicate, not a constant: the crop never samples outside, and a sub-pixel edge
    # tap would otherwise pull in black.
    out = cv2.warpPerspective(rgb, to_crop, (crop_w, crop_h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    # What the estimate says is left, on the output's own frame (its tilt scale is the
    # crop's height): the estimate's vanishing point carried through the warp.
    vanishing = to_crop @ _vanishing_point(w, h, tilt, roll)
    expected_tilt, expected_roll = _angles_from_vanishing(
        np.array([[1 / crop_h, 0, -crop_w / (2 * crop_h)], [0, 1 / crop_h, -0.5], [0, 0, 1]]) @ vanishing)
    applied_tilt, applied_roll = plan["applied_tilt_deg"], plan["applied_roll_deg"]
    residual = estimate_verticals(fast_downscale(out, RESIDUAL_LONG_SIDE))
    if abs(residual["tilt_deg"] - expected_tilt) > max(MAX_RESIDUAL_TILT_DEG, 0.5 * abs(applied_tilt)):
        refused = _not_applied(rgb, tilt, roll, f"refused: re-measured {residual['tilt_deg']:+.1f} deg after "
                                                f"correcting {applied_tilt:+.1f} of {tilt:+.1f} (expected "
                                                f"{expected_tilt:+.1f}): the lines disagree",
                               full_kept_share=full_kept)
        refused["report"]["residual_tilt_deg"] = residual["tilt_deg"]
        refused["report"]["residual_roll_deg"] = residual["roll_deg"]
        return refused
    if fraction == 1.0:
        reason = f"straightened tilt {tilt:+.1f} deg, roll {roll:+.1f} deg"
    else:
        reason = (f"straightened {fraction:.0%} of tilt {tilt:+.1f} deg, roll {roll:+.1f} deg (residual tilt "
                  f"{residual['tilt_deg']:+.1f}, roll {residual['roll_deg']:+.1f}): the full correction would "
                  f"keep {full_kept:.0%} of the frame (< {MIN_KEPT_SHARE:.0%})")
    return {"rgb": out, "applied": True, "report": {
        "tilt_deg": round(tilt, 3), "roll_deg": round(roll, 3), "correction_fraction": fraction,
        "applied_tilt_deg": round(applied_tilt, 3), "applied_roll_deg": round(applied_roll, 3),
        "crop": plan["crop"], "kept_share": round(plan["kept_share"], 4), "full_kept_share": full_kept,
        "output_size": [crop_w, crop_h],
        "expected_residual_tilt_deg": round(expected_tilt, 3), "expected_residual_roll_deg": round(expected_roll, 3),
        "residual_tilt_deg": residual["tilt_deg"], "residual_roll_deg": residual["roll_deg"],
        "residual_confidence": residual["confidence"], "residual_edge_lean_deg": residual["edge_lean_deg"],
        "matrix": [[round(float(v), 9) for v in row] for row in to_crop],
        "reason": reason}}
