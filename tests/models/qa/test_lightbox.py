import datetime as dt
import json
from dataclasses import asdict

import cv2
import numpy as np
import pytest

from lumograph.models.common.errors import InvalidImage
from lumograph.models.common.imageio import encode_image
from lumograph.models.common.marketplaces import get_profile, plan_canvas
from lumograph.models.compositor.lightbox import compose_lightbox
from lumograph.models.qa.checks import Check, verdict
from lumograph.models.qa.lightbox import check_input, check_output

GOLD = (205, 160, 70)
BEFORE_2027 = dt.date(2026, 6, 1)
AFTER_2027 = dt.date(2027, 6, 1)


def _ring_crop(size=600):
    fg = np.zeros((size, size, 3), np.uint8)
    fg[:] = GOLD
    a = np.zeros((size, size), np.uint8)
    c = size // 2
    cv2.circle(a, (c, c), int(0.45 * size), 255, -1, cv2.LINE_AA)
    cv2.circle(a, (c, c), int(0.33 * size), 0, -1, cv2.LINE_AA)
    return fg, a.astype(np.float32) / 255


def _jpeg(rgb, quality=92):
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def _composite(**kw):
    fg, alpha = _ring_crop()
    return compose_lightbox(fg, alpha, **kw)


def _by_name(checks):
    return {c.name: c for c in checks}


def _failed(checks):
    return {c.name for c in checks if not c.passed}


# ---------------------------------------------------------------- output


@pytest.mark.parametrize("style", ["soft", "contact", "drop", "reflection", "none"])
def test_good_composite_passes_amazon(style):
    comp = _composite(fill=0.88, shadow_style=style)
    checks = check_output(_jpeg(comp.rgb), "jpeg", get_profile("amazon"), filename_ext=".jpg")
    report = verdict(checks)
    assert report.verdict == "pass", [asdict(c) for c in checks if not c.passed]
    assert report.score == 1.0
    fill = _by_name(checks)["output_fill_ratio"]
    # A reflection's first rows read as product in the pixels: it adds about 1%.
    assert fill.value == pytest.approx(0.88, abs=0.015 if style == "reflection" else 0.01)
    assert _by_name(checks)["output_border_white"].value == 0


def test_lead_encoder_444_passes_too():
    comp = _composite()
    checks = check_output(encode_image(comp.rgb, "jpeg", quality=92), "jpeg", get_profile("amazon"))
    assert verdict(checks).verdict == "pass"


def test_grey_border_fails():
    comp = _composite()
    framed = comp.rgb.copy()
    cv2.rectangle(framed, (0, 0), (1999, 1999), (200, 200, 200), 12)
    checks = check_output(_jpeg(framed), "jpeg", get_profile("amazon"))
    border = _by_name(checks)["output_border_white"]
    assert not border.passed and border.severity == "fail" and border.value > 1000
    assert verdict(checks).verdict == "fail"
    google = check_output(_jpeg(framed), "jpeg", get_profile("google"), today=BEFORE_2027)
    frame = _by_name(google)["output_frame_border"]
    assert not frame.passed and frame.severity == "fail" and frame.value == 4


@pytest.mark.parametrize("row", [0, 1, 2])
def test_one_off_white_pixel_anywhere_in_the_three_px_border_ring_fails(row):
    rgb = _composite().rgb.copy()
    assert (rgb[:3] == 255).all()
    rgb[row, 1000] = (254, 254, 254)  # one level off, invisible, still not #FFFFFF
    png = encode_image(rgb, "png")  # lossless: the 254 survives as is
    border = _by_name(check_output(png, "png", get_profile("amazon")))["output_border_white"]
    assert not border.passed and border.severity == "fail" and border.value == 1
    rgb[row, 1000] = 255
    rgb[3, 1000] = (254, 254, 254)  # just inside the ring: not the border
    inside = _by_name(check_output(encode_image(rgb, "png"), "png", get_profile("amazon")))
    assert inside["output_border_white"].passed


def test_inset_keyline_frame_is_detected():
    comp = _composite(fill=0.8)
    framed = comp.rgb.copy()
    cv2.rectangle(framed, (40, 40), (1959, 1959), (30, 30, 30), 4)
    checks = _by_name(check_output(_jpeg(framed), "jpeg", get_profile("ebay")))
    assert not checks["output_frame_border"].passed
    clean = _by_name(check_output(_jpeg(comp.rgb), "jpeg", get_profile("ebay")))
    assert clean["output_frame_border"].passed


def test_small_fill_fails():
    comp = _composite(fill=0.6)
    checks = _by_name(check_output(_jpeg(comp.rgb), "jpeg", get_profile("amazon")))
    fill = checks["output_fill_ratio"]
    assert not fill.passed and fill.severity == "fail"
    assert fill.value == pytest.approx(0.6, abs=0.01) and fill.limit == ">= 0.85"


def test_small_image_fails_amazon():
    comp = _composite(canvas_wh=(800, 800))
    checks = check_output(_jpeg(comp.rgb), "jpeg", get_profile("amazon"))
    assert "output_min_long_side" in _failed(checks)
    assert _by_name(checks)["output_min_long_side"].value == 800
    assert verdict(checks).verdict == "fail"


def test_too_large_for_amazon_jewelry():
    comp = _composite(canvas_wh=(2400, 2400), fill=0.85)
    checks = check_output(_jpeg(comp.rgb), "jpeg", get_profile("amazon_jewelry"))
    assert _failed(checks) == {"output_max_long_side"}


def test_google_minimum_depends_on_today():
    comp = _composite(canvas_wh=(300, 300))
    data = _jpeg(comp.rgb)
    before = check_output(data, "jpeg", get_profile("google"), filename_ext="jpg", today=BEFORE_2027)
    after = check_output(data, "jpeg", get_profile("google"), filename_ext="jpg", today=AFTER_2027)
    assert verdict(before).verdict == "pass"
    assert "output_min_side" in _failed(after)
    assert "500x500" in _by_name(after)["output_min_side"].limit


def test_format_and_extension_mismatch():
    data = _jpeg(_composite().rgb)
    checks = _by_name(check_output(data, "png", get_profile("amazon")))
    assert not checks["output_format"].passed and checks["output_format"].value == "jpeg"
    google = _by_name(check_output(data, "jpeg", get_profile("google"), filename_ext=".png", today=BEFORE_2027))
    assert not google["output_extension"].passed and google["output_extension"].severity == "fail"
    etsy = _by_name(check_output(data, "jpeg", get_profile("etsy"), filename_ext=".png"))
    assert etsy["output_extension"].severity == "review"


def test_etsy_recommendation_is_a_review():
    comp = _composite(canvas_wh=(1500, 1200), fill=0.8)
    checks = check_output(_jpeg(comp.rgb), "jpeg", get_profile("etsy"))
    assert _failed(checks) == {"output_recommended_short_side"}
    assert verdict(checks).verdict == "review"
    odd = _composite(canvas_wh=(2400, 2000), fill=0.8)  # 6:5 is not an allowed aspect
    assert "output_aspect_ratio" in _failed(check_output(_jpeg(odd.rgb), "jpeg", get_profile("etsy")))


def test_transparent_png_fails_a_white_background_rule():
    comp = _composite(transparent=True)
    data = encode_image(comp.rgb, "png", alpha=comp.alpha)
    amazon = _by_name(check_output(data, "png", get_profile("amazon")))
    assert not amazon["output_transparency"].passed and amazon["output_transparency"].severity == "fail"
    shopify = check_output(data, "png", get_profile("shopify"))
    assert verdict(shopify).verdict == "pass"


def test_blank_image_has_no_product():
    blank = np.full((2000, 2000, 3), 255, np.uint8)
    checks = _by_name(check_output(_jpeg(blank), "jpeg", get_profile("shopify")))
    assert not checks["output_fill_ratio"].passed and checks["output_fill_ratio"].severity == "fail"


def test_unmeasured_rules_are_info_not_passes_by_assumption():
    checks = _by_name(check_output(_jpeg(_composite().rgb), "jpeg", get_profile("amazon")))
    text = checks["output_text_watermark"]
    assert text.severity == "info" and text.value is None and "not measured" in text.message


def test_undecodable_bytes_raise():
    with pytest.raises(InvalidImage):
        check_output(b"not an image", "jpeg", get_profile("amazon"))
    with pytest.raises(InvalidImage):
        check_output(b"", "jpeg", get_profile("amazon"))


# ---------------------------------------------------------------- input


def _product_photo(size=(768, 1024), blur=0.0, exposure=1.0, radius=200):
    """A gold ring on light-grey paper with a known mask."""
    h, w = size
    rgb = np.full((h, w, 3), 200, np.float32)
    a = np.zeros((h, w), np.uint8)
    cv2.circle(a, (w // 2, h // 2), radius, 255, -1, cv2.LINE_AA)
    cv2.circle(a, (w // 2, h // 2), int(radius * 0.7), 0, -1, cv2.LINE_AA)
    alpha = a.astype(np.float32) / 255
    yy, xx = np.mgrid[0:h, 0:w]
    shade = 0.7 + 0.3 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    metal = np.dstack([210 * shade, 165 * shade, 80 * shade])
    rgb = rgb * (1 - alpha[:, :, None]) + metal * alpha[:, :, None]
    if blur:
        rgb = cv2.GaussianBlur(rgb, (0, 0), blur)
    rgb = np.clip(rgb * exposure, 0, 255).astype(np.uint8)
    rgb.setflags(write=False)
    return rgb, alpha


def test_good_input_passes():
    rgb, alpha = _product_photo()
    plan = plan_canvas(get_profile("amazon"), 1500)
    checks = check_input(rgb, source_wh=(4000, 3000), subject_alpha_proxy=alpha, canvas=plan)
    assert verdict(checks).verdict == "pass", [asdict(c) for c in checks if not c.passed]
    assert _by_name(checks)["input_sharpness"].value < 1.0


def test_a_fixed_floor_fails_a_tiny_upload_only_when_one_is_set():
    rgb, alpha = _product_photo()
    checks = _by_name(check_input(rgb, source_wh=(640, 480), subject_alpha_proxy=alpha, min_short_side=1024))
    res = checks["input_resolution"]
    assert not res.passed and res.severity == "fail" and res.value == 480
    assert "input_resolution" not in _by_name(check_input(rgb, source_wh=(640, 480), subject_alpha_proxy=alpha))


def test_the_floor_is_the_magnification_at_the_delivered_size():
    rgb, alpha = _product_photo()
    amazon = get_profile("amazon")
    # A 300 px piece: even Amazon's 1000 px minimum canvas enlarges it ~2.9x.
    soft = _by_name(check_input(rgb, source_wh=(640, 480), subject_alpha_proxy=alpha,
                                canvas=plan_canvas(amazon, 300)))["input_magnification"]
    assert not soft.passed and soft.severity == "fail" and soft.value > 2.0
    # A 600 px piece from the same small upload is delivered sharp on a smaller canvas.
    plan = plan_canvas(amazon, 600)
    sharp = _by_name(check_input(rgb, source_wh=(800, 640), subject_alpha_proxy=alpha, canvas=plan))
    assert sharp["input_magnification"].passed and plan.side < 2000 and plan.magnification <= 2.0
    assert _by_name(check_input(rgb, source_wh=(800, 640)))["input_magnification"].severity == "info"


def test_blurred_input_is_flagged():
    rgb, alpha = _product_photo(blur=2.0)
    soft = _by_name(check_input(rgb, source_wh=(4000, 3000), subject_alpha_proxy=alpha))["input_sharpness"]
    assert not soft.passed and soft.severity == "review"
    rgb, alpha = _product_photo(blur=5.0)
    mush = _by_name(check_input(rgb, source_wh=(4000, 3000), subject_alpha_proxy=alpha))["input_sharpness"]
    assert not mush.passed and mush.severity == "fail"
    assert mush.value > soft.value


def test_clipped_input_is_flagged():
    rgb, alpha = _product_photo(exposure=2.2)
    checks = _by_name(check_input(rgb, source_wh=(4000, 3000), subject_alpha_proxy=alpha))
    clip = checks["input_exposure_clipping"]
    assert not clip.passed and clip.severity == "review" and clip.value > 0.2


def test_small_subject_is_flagged():
    rgb, alpha = _product_photo(radius=60)
    review = _by_name(check_input(rgb, source_wh=(4000, 3000), subject_alpha_proxy=alpha))["input_subject_size"]
    assert not review.passed and review.severity == "review"
    rgb, alpha = _product_photo(radius=25)
    fail = _by_name(check_input(rgb, source_wh=(4000, 3000), subject_alpha_proxy=alpha))["input_subject_size"]
    assert not fail.passed and fail.severity == "fail"


def test_subject_cut_by_the_frame_is_flagged():
    rgb, alpha = _product_photo()
    cut = np.zeros_like(alpha)
    cut[300:, 700:] = 1.0  # runs off the bottom and the right
    checks = _by_name(check_input(rgb, source_wh=(4000, 3000), subject_alpha_proxy=cut))
    assert not checks["input_subject_cut_by_frame"].passed


def test_missing_mask_means_not_measured():
    rgb, _ = _product_photo()
    checks = _by_name(check_input(rgb, source_wh=(4000, 3000)))
    assert checks["input_subject_size"].severity == "info" and checks["input_subject_size"].value is None
    assert checks["input_exposure_clipping"].severity == "info"


def test_input_rejects_bad_arrays():
    with pytest.raises(InvalidImage):
        check_input(np.zeros((10, 10), np.uint8), source_wh=(10, 10))
    rgb, _ = _product_photo()
    with pytest.raises(InvalidImage):
        check_input(rgb, source_wh=(4000, 3000), subject_alpha_proxy=np.zeros((5, 5), np.float32))


# ---------------------------------------------------------------- verdict


def test_verdict_rules_and_score():
    ok = Check("a", True, "fail", 1.0, ">= 1", "")
    review = Check("b", False, "review", 0.5, ">= 1", "")
    fail = Check("c", False, "fail", 0.1, ">= 1", "")
    info = Check("d", False, "info", None, None, "not measured")
    assert verdict([ok, info]).verdict == "pass" and verdict([ok, info]).score == 1.0
    assert verdict([ok, review]).verdict == "review" and verdict([ok, review]).score == pytest.approx(0.85)
    assert verdict([review, fail]).verdict == "fail" and verdict([review, fail]).score == pytest.approx(0.35)
    assert verdict([fail, fail, fail]).score == 0.0


def test_reports_are_json_and_roundtrip():
    rgb, alpha = _product_photo()
    checks = check_input(rgb, source_wh=(4000, 3000), subject_alpha_proxy=alpha)
    checks += check_output(_jpeg(_composite().rgb), "jpeg", get_profile("google"), today=AFTER_2027)
    report = verdict(checks)
    json.dumps(report.to_dict())
    assert [Check(**asdict(c)) for c in report.checks] == report.checks
