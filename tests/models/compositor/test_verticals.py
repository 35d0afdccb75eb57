"""Vertical / perspective correction on synthetic rooms with a known keystone and roll."""
import json

import cv2
import numpy as np
import pytest

from lumograph.bench.synthetic_listing import room_photo
from lumograph.models.common.errors import InvalidImage
from lumograph.models.common.imageio import resize_long_side
from lumograph.models.compositor.verticals import (
    FOCAL_IN_HEIGHTS,
    MAX_TILT_DEG,
    MIN_CORRECTION_FRACTION,
    MIN_KEPT_SHARE,
    correct_verticals,
    estimate_verticals,
    plan_verticals_crop,
    verticals_crop,
    verticals_homography,
)


def _expected_tilt(tilt_deg: float, height_over_width: float = 0.75) -> float:
    """The tilt this module reads from ``synthetic_listing._keystone``: the keystone moves
    the top corners in by tan(t) w / 4 with the bottom row fixed, which puts the
    vanishing point 2 / tan(t) - 1 heights above the top, i.e. 2 / tan(t) - 0.5 above
    the centre; with f = 2 heights that is atan(2 tan t / (2 - 0.5 tan t))."""
    t = np.tan(np.radians(abs(tilt_deg)))
    return float(np.sign(tilt_deg) * np.degrees(np.arctan(FOCAL_IN_HEIGHTS * t / (2 - 0.5 * t))))


@pytest.fixture(scope="module")
def tilted():
    return room_photo(1600, 1200, tilt_deg=2.5, seed=1).rgb


def _rolled(angle_ccw_deg: float) -> np.ndarray:
    """A straight synthetic room rotated counter-clockwise (OpenCV's sign), centre crop."""
    rgb = room_photo(1600, 1200, tilt_deg=0.0, seed=2).rgb
    m = cv2.getRotationMatrix2D((800, 600), angle_ccw_deg, 1.0)
    rot = cv2.warpAffine(rgb, m, (1600, 1200), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return rot[120:1080, 160:1440].copy()


@pytest.mark.parametrize("tilt", [2.5, -2.5, 5.0])
def test_estimate_reads_the_simulated_keystone(tilt):
    rgb = room_photo(1600, 1200, tilt_deg=tilt, seed=0).rgb
    est = estimate_verticals(resize_long_side(rgb, 1024))
    assert np.sign(est["tilt_deg"]) == np.sign(tilt)
    assert abs(est["tilt_deg"] - _expected_tilt(tilt)) < 0.25, est
    assert abs(est["roll_deg"]) < 0.2
    assert est["confidence"] > 0.8 and est["inliers"] >= 6
    # Pitched up: the verticals meet far above the frame, near the centre column.
    assert (est["vanishing_y_norm"] < -10) == (tilt > 0)
    assert abs(est["vanishing_x_norm"] - 0.5) < 0.1
    json.dumps(est)


def test_estimate_is_resolution_independent(tilted):
    a = estimate_verticals(resize_long_side(tilted, 1024))
    b = estimate_verticals(resize_long_side(tilted, 700))
    assert abs(a["tilt_deg"] - b["tilt_deg"]) < 0.3
    assert abs(a["roll_deg"] - b["roll_deg"]) < 0.2


def test_correction_straightens_and_crops_without_empty_corners(tilted):
    est = estimate_verticals(resize_long_side(tilted, 1024))
    out = correct_verticals(tilted, est)
    assert out["applied"], out["report"]
    rep = out["report"]
    assert abs(rep["residual_tilt_deg"]) < 0.5 and abs(rep["residual_roll_deg"]) < 0.5
    h, w = out["rgb"].shape[:2]
    assert [w, h] == rep["output_size"]
    assert abs(w / h - 1600 / 1200) < 0.002  # aspect ratio kept
    x0, y0, x1, y1 = rep["crop"]
    assert (x1 - x0, y1 - y0) == (w, h) and 0 <= x0 and 0 <= y0 and x1 <= 1600 and y1 <= 1200
    assert 0.9 < rep["kept_share"] < 1.0
    # Warp a white frame with a black constant border through the reported matrix:
    # any empty (warped-in) corner inside the crop would show as non-white.
    sentinel = cv2.warpPerspective(np.full((1200, 1600), 255, np.uint8), np.array(rep["matrix"]), (w, h),
                                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    assert int(sentinel.min()) == 255
    json.dumps(rep)


def test_estimate_from_a_proxy_applies_at_full_resolution():
    full = room_photo(3200, 2400, tilt_deg=3.0, seed=3).rgb
    est = estimate_verticals(resize_long_side(full, 1024))
    out = correct_verticals(full, est)
    assert out["applied"]
    assert abs(out["report"]["residual_tilt_deg"]) < 0.5
    assert out["rgb"].shape[0] > 0.9 * 2400


def test_roll_is_measured_and_removed():
    clockwise = _rolled(-2.0)  # OpenCV's negative angle turns the content clockwise
    est = estimate_verticals(clockwise)
    assert abs(est["roll_deg"] - 2.0) < 0.2 and abs(est["tilt_deg"]) < 0.5, est
    est_ccw = estimate_verticals(_rolled(1.5))
    assert abs(est_ccw["roll_deg"] + 1.5) < 0.2
    out = correct_verticals(clockwise, est)
    assert out["applied"]
    assert abs(out["report"]["residual_roll_deg"]) < 0.3


def test_straight_photo_is_left_alone():
    rgb = room_photo(1600, 1200, tilt_deg=0.0, seed=0).rgb
    est = estimate_verticals(resize_long_side(rgb, 1024))
    assert abs(est["tilt_deg"]) < 0.3 and abs(est["roll_deg"]) < 0.3
    out = correct_verticals(rgb, est)
    assert out["applied"] is False and "straight" in out["report"]["reason"]
    assert out["rgb"] is not rgb and np.array_equal(out["rgb"], rgb)


def test_missing_weak_or_absurd_estimates_are_refused(tilted):
    none = correct_verticals(tilted, None)
    assert none["applied"] is False and np.array_equal(none["rgb"], tilted)
    weak = correct_verticals(tilted, {"tilt_deg": 3.0, "roll_deg": 0.0, "confidence": 0.1})
    assert weak["applied"] is False and "confidence" in weak["report"]["reason"]
    absurd = correct_verticals(tilted, {"tilt_deg": MAX_TILT_DEG + 5, "roll_deg": 0.0, "confidence": 1.0})
    assert absurd["applied"] is False and "refused" in absurd["report"]["reason"]
    # Roll on a panorama: only ~14 % of the correction would keep 85 % of the frame.
    panorama = np.full((600, 2400, 3), 128, np.uint8)
    thin = correct_verticals(panorama, {"tilt_deg": 0.0, "roll_deg": 7.5, "confidence": 1.0})
    assert thin["applied"] is False and "worth applying" in thin["report"]["reason"]
    assert thin["report"]["correction_fraction"] == 0.0 and thin["report"]["full_kept_share"] < 0.5
    # An estimate the photo does not bear out (it re-measures far off) is refused.
    wrong = correct_verticals(tilted, {"tilt_deg": -8.0, "roll_deg": 0.0, "confidence": 1.0})
    assert wrong["applied"] is False and "re-measured" in wrong["report"]["reason"]


def test_inputs_are_not_mutated(tilted):
    frozen = tilted.copy()
    frozen.setflags(write=False)
    est = estimate_verticals(frozen)
    out = correct_verticals(frozen, est)
    assert out["applied"]
    assert np.array_equal(frozen, tilted)


@pytest.mark.parametrize("bad", [
    np.zeros((100, 100), np.uint8),
    np.zeros((100, 100, 3), np.float32),
    np.zeros((10, 100, 3), np.uint8),
    "not an image",
])
def test_bad_input_raises_invalid_image(bad):
    with pytest.raises(InvalidImage):
        estimate_verticals(bad)
    with pytest.raises(InvalidImage):
        correct_verticals(bad, {"tilt_deg": 2.0, "roll_deg": 0.0, "confidence": 1.0})


def test_homography_keeps_the_centre_row():
    m = verticals_homography(1600, 1200, 4.0, 1.0)
    centre = cv2.perspectiveTransform(np.array([[[800.0, 600.0]]]), m)[0, 0]
    assert np.allclose(centre, [800, 600], atol=1e-6)


def test_edge_lean_is_what_the_frame_edges_show():
    # _keystone moves each top corner in by tan(tilt) * W / 4 over the frame height.
    import math

    est = estimate_verticals(resize_long_side(room_photo(1600, 1200, tilt_deg=2.5).rgb, 1024))
    expected = math.degrees(math.atan(math.tan(math.radians(2.5)) * 1600 / 4 / 1200))
    assert est["edge_lean_deg"] > 0
    assert abs(est["edge_lean_deg"] - expected) < 0.35, (est, expected)


def _tilt_in_frame(vanishing_px: np.ndarray, width: int, height: int) -> float:
    """The module's tilt (f = 2 heights) of a homogeneous vanishing point in the pixels of
    a ``width`` x ``height`` frame: atan(f / signed distance above the centre)."""
    x, y, z = vanishing_px
    nx, ny, nz = x - width / 2 * z, y - height / 2 * z, z * height
    up = 1.0 if ny <= 0 else -1.0
    return float(np.degrees(np.arctan(FOCAL_IN_HEIGHTS * nz / (up * np.hypot(nx, ny)))))


@pytest.mark.parametrize("tilt", [25.0, -25.0, 30.0])
def test_strong_pitch_is_straightened_part_way_and_keeps_the_frame(tilt):
    """The full correction of a strongly pitched shot would keep ~80 % of the frame: a
    partial one keeps >= 85 %, the lines come out straighter, and the residual reported
    is the one the keystone really leaves (carried through the reported matrix)."""
    w, h = 1600, 1200
    rgb = room_photo(w, h, tilt_deg=tilt, seed=4).rgb
    est = estimate_verticals(resize_long_side(rgb, 1024))
    out = correct_verticals(rgb, est)
    rep = out["report"]
    assert out["applied"], rep
    assert rep["full_kept_share"] < MIN_KEPT_SHARE
    assert MIN_CORRECTION_FRACTION <= rep["correction_fraction"] < 1.0
    oh, ow = out["rgb"].shape[:2]
    assert [ow, oh] == rep["output_size"] and ow * oh / (w * h) >= MIN_KEPT_SHARE
    assert abs(ow / oh - w / h) < 0.002
    # The synthetic keystone's own vanishing point (not the estimate's), through the warp.
    shrink = np.tan(np.radians(abs(tilt))) * w / 4
    apex = h - h * (w / 2) / shrink if tilt > 0 else h * (w / 2) / shrink
    truth = _tilt_in_frame(np.array(rep["matrix"]) @ [w / 2, apex, 1.0], ow, oh)
    again = estimate_verticals(resize_long_side(out["rgb"], 1024))
    assert abs(again["tilt_deg"] - truth) < 0.5, (again, truth)
    for reported in (rep["residual_tilt_deg"], rep["expected_residual_tilt_deg"]):
        assert abs(reported - again["tilt_deg"]) < 0.5, (rep, again)
    assert abs(again["roll_deg"]) < 0.3
    # Straighter, by about the fraction applied: the lean at the frame's edge (what a
    # viewer sees, independent of the crop's height) shrinks with the residual.
    assert np.sign(again["tilt_deg"]) == np.sign(tilt) and abs(again["tilt_deg"]) < 0.5 * abs(est["tilt_deg"])
    assert abs(again["edge_lean_deg"]) < (1.0 - rep["correction_fraction"] + 0.1) * abs(est["edge_lean_deg"])
    assert rep["reason"].startswith(f"straightened {rep['correction_fraction']:.0%} of tilt")
    # No empty corner in the crop.
    sentinel = cv2.warpPerspective(np.full((h, w), 255, np.uint8), np.array(rep["matrix"]), (ow, oh),
                                   flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    assert int(sentinel.min()) == 255
    json.dumps(rep)


def test_moderate_pitch_is_still_fully_corrected():
    rgb = room_photo(1600, 1200, tilt_deg=12.0, seed=5).rgb
    est = estimate_verticals(resize_long_side(rgb, 1024))
    assert 12.0 < est["tilt_deg"] < 14.0, est
    out = correct_verticals(rgb, est)
    rep = out["report"]
    assert out["applied"] and rep["correction_fraction"] == 1.0, rep
    assert MIN_KEPT_SHARE <= rep["kept_share"] == rep["full_kept_share"] < 0.95
    assert abs(rep["applied_tilt_deg"] - est["tilt_deg"]) < 1e-3
    assert abs(rep["expected_residual_tilt_deg"]) < 0.01
    assert abs(rep["residual_tilt_deg"]) < 0.5 and abs(rep["residual_roll_deg"]) < 0.5
    assert rep["reason"].startswith("straightened tilt")


@pytest.mark.parametrize("size", [(1500, 1000), (1600, 1200), (1000, 1500), (1920, 1080)])
@pytest.mark.parametrize("tilt, roll", [(30.0, 0.0), (-35.0, 0.0), (-22.0, 2.5), (4.0, 6.0)])
def test_the_fraction_is_the_largest_that_keeps_the_share(size, tilt, roll):
    w, h = size
    plan = plan_verticals_crop(w, h, tilt, roll)
    assert plan is not None and plan["full_kept_share"] < MIN_KEPT_SHARE
    f = plan["correction_fraction"]
    assert 0.3 < f < 1.0 and plan["kept_share"] >= MIN_KEPT_SHARE
    assert verticals_crop(w, h, tilt, roll, f + 0.001)["kept_share"] < MIN_KEPT_SHARE
    # The bisection's premise: the kept share falls as the fraction grows.
    kept = [verticals_crop(w, h, tilt, roll, x)["kept_share"] for x in np.linspace(0.0, 1.0, 21)]
    assert np.all(np.diff(kept) <= 1e-3), kept
    assert abs(np.tan(np.radians(plan["applied_tilt_deg"])) - f * np.tan(np.radians(tilt))) < 1e-9
    assert abs(plan["applied_roll_deg"] - f * roll) < 1e-9
