"""The text / watermark / logo check: a real PP-OCRv4 det network (the file shipped in the
rapidocr-onnxruntime wheel) on rendered canvases, and the rule that only text outside the
piece counts."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from lumograph.models.common.marketplaces import get_profile
from lumograph.models.compositor.lightbox import compose_lightbox
from lumograph.models.qa.core import QACore
from lumograph.models.qa.lightbox import check_output
from lumograph.models.qa.text import (
    CHECK_NAME,
    TextBox,
    TextDetector,
    TextDetectorUnavailable,
    check_text_watermark,
    default_det_model_path,
    load_text_detector,
    text_outside,
)

SIZE = 1200
CENTRE = (SIZE // 2, SIZE // 2)
OUTER, INNER = 470, 310  # the ring's band is 160 px wide
PIECE_GREY = (150, 150, 150)
FONT = cv2.FONT_HERSHEY_SIMPLEX


@pytest.fixture(scope="module")
def detector():
    return TextDetector()


def _ring_canvas():
    rgb = np.full((SIZE, SIZE, 3), 255, np.uint8)
    cv2.circle(rgb, CENTRE, (OUTER + INNER) // 2, PIECE_GREY, OUTER - INNER, cv2.LINE_AA)
    return rgb


def _put(rgb, text, org, height, colour, thickness):
    scale = cv2.getFontScaleFromHeight(FONT, height, thickness)
    cv2.putText(rgb, text, org, FONT, scale, colour, thickness, cv2.LINE_AA)
    return rgb


def _piece(rgb):
    return rgb.min(axis=2) < 207


def _png(rgb):
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def _text_check(rgb, detector, marketplace="amazon"):
    checks = {c.name: c for c in check_output(_png(rgb), "png", get_profile(marketplace), text_detector=detector)}
    return checks[CHECK_NAME]


def test_model_file_comes_from_the_installed_wheel():
    path = default_det_model_path()
    assert path.name == "ch_PP-OCRv4_det_infer.onnx" and path.parent.parent.name == "rapidocr_onnxruntime"
    assert path.stat().st_size > 1_000_000


def test_sale_text_on_the_backdrop_fails_amazon(detector):
    rgb = _put(_ring_canvas(), "SALE 50%", (60, 110), 60, (200, 30, 30), 6)
    check = _text_check(rgb, detector)
    assert not check.passed and check.severity == "fail" and check.value >= 1, check
    assert "outside the piece" in check.message and "of the frame" in check.message


def test_url_on_the_backdrop_is_information_where_text_is_allowed(detector):
    rgb = _put(_ring_canvas(), "www.myshop.com", (300, 1170), 36, (60, 60, 60), 3)
    amazon = _text_check(rgb, detector, "amazon")
    etsy = _text_check(rgb, detector, "etsy")
    assert not amazon.passed and amazon.severity == "fail"
    assert not etsy.passed and etsy.severity == "info" and etsy.value == amazon.value


def test_clean_canvas_passes(detector):
    check = _text_check(_ring_canvas(), detector)
    assert check.passed and check.value == 0 and check.severity == "fail", check


def test_hallmark_stamped_in_the_metal_passes(detector):
    rgb = _put(_ring_canvas(), "S925", (540, 1015), 44, (70, 70, 70), 5)
    # The detector does see the hallmark: the rule, not a miss, lets it through.
    boxes = detector.find_text(rgb)
    assert any(b.bbox[1] > 900 for b in boxes), [b.bbox for b in boxes]
    check = _text_check(rgb, detector)
    assert check.passed and check.value == 0, check
    assert "on the piece itself ignored" in check.message


def test_hallmark_on_a_blown_out_highlight_passes(detector):
    # Polished metal burns out to white around the stamp: a white pocket the piece
    # encloses, not the backdrop.
    rgb = _ring_canvas()
    cv2.ellipse(rgb, (600, 990), (120, 45), 0, 0, 360, (253, 253, 253), -1, cv2.LINE_AA)
    _put(rgb, "S925", (545, 1012), 40, (90, 90, 90), 5)
    assert any(b.bbox[1] > 900 for b in detector.find_text(rgb)), "the detector no longer sees the hallmark"
    check = _text_check(rgb, detector)
    assert check.passed and check.value == 0, check


def test_text_in_the_rings_hole_fails(detector):
    # The hole is enclosed by the piece but is backdrop, far larger than the text in it.
    rgb = _put(_ring_canvas(), "SALE", (480, 630), 60, (200, 30, 30), 6)
    check = _text_check(rgb, detector)
    assert not check.passed and check.value >= 1, check


def test_watermark_across_the_piece_and_beyond_fails(detector):
    # Starts on the band's lower right and runs off the ring onto the backdrop.
    rgb = _put(_ring_canvas(), "PROOF COPY", (720, 960), 56, (40, 40, 40), 6)
    check = _text_check(rgb, detector)
    assert not check.passed and check.severity == "fail" and check.value >= 1, check


def test_pale_watermark_on_the_backdrop_fails(detector):
    # Light grey lettering is no darker than the product threshold: it must still count.
    rgb = _put(_ring_canvas(), "www.myshop.com", (300, 1170), 40, (215, 215, 215), 4)
    check = _text_check(rgb, detector)
    assert not check.passed and check.value >= 1, check


@pytest.mark.parametrize("band", ["wide, outlined", "narrow, melting into the backdrop"])
def test_pave_row_on_pale_metal_passes(detector, band):
    # A row of set stones on a pale (white-gold) band reads as a text line to the
    # detector; the piece holds it, so it is the product. Both bands are lighter than the
    # product threshold. The wide one, far larger than the row, is told from a hole in the
    # piece by its colour; the narrow one has no outline, its edge fades into the white.
    rgb = np.full((SIZE, SIZE, 3), 255, np.uint8)
    if band == "wide, outlined":
        cv2.rectangle(rgb, (200, 420), (1000, 780), (225, 225, 225), -1)
        cv2.rectangle(rgb, (200, 420), (1000, 780), (120, 120, 120), 2)
        for y in (570, 630):
            cv2.line(rgb, (210, y), (990, y), (200, 200, 200), 3)
    else:
        cv2.rectangle(rgb, (200, 570), (1000, 630), (235, 235, 235), -1)
    for x in range(230, 980, 28):
        cv2.circle(rgb, (x, 600), 11, (150, 150, 150), -1, cv2.LINE_AA)
        cv2.circle(rgb, (x, 600), 7, (250, 250, 250), -1, cv2.LINE_AA)
    assert any(540 < b.bbox[1] < 600 for b in detector.find_text(rgb)), "the detector no longer sees the row"
    check = _text_check(rgb, detector)
    assert check.passed and check.value == 0, check


def test_caption_on_a_real_composite_fails_and_the_composite_alone_passes(detector):
    fg = np.zeros((600, 600, 3), np.uint8)
    fg[:] = (205, 160, 70)
    alpha = np.zeros((600, 600), np.uint8)
    cv2.circle(alpha, (300, 300), 270, 255, -1, cv2.LINE_AA)
    cv2.circle(alpha, (300, 300), 198, 0, -1, cv2.LINE_AA)
    comp = compose_lightbox(fg, alpha.astype(np.float32) / 255, shadow_style="soft").rgb
    assert _text_check(comp, detector).passed
    h = comp.shape[0]
    captioned = _put(comp.copy(), "FREE SHIPPING", (40, h - 40), h // 30, (30, 30, 30), max(2, h // 300))
    check = _text_check(captioned, detector)
    assert not check.passed and check.severity == "fail", check


def test_no_detector_is_not_measured_not_a_pass(detector):
    rgb = _put(_ring_canvas(), "SALE 50%", (60, 110), 60, (200, 30, 30), 6)
    check = _text_check(rgb, None)
    assert check.passed and check.severity == "info" and check.value is None
    assert check.message.startswith("not measured")


def test_missing_model_file_is_not_measured_not_a_crash(tmp_path: Path):
    loaded = load_text_detector(tmp_path / "absent.onnx")
    assert isinstance(loaded, TextDetectorUnavailable) and "absent.onnx" in loaded.reason
    check = _text_check(_ring_canvas(), loaded)
    assert check.severity == "info" and check.message.startswith("not measured") and "absent.onnx" in check.message


def test_qa_core_uses_the_detector_it_is_given(detector):
    rgb = _put(_ring_canvas(), "SALE 50%", (60, 110), 60, (200, 30, 30), 6)
    report = QACore(text_detector=detector).check_jewelry_output(_png(rgb), "png", "amazon")
    text = next(c for c in report["output_checks"] if c["name"] == CHECK_NAME)
    assert not text["passed"] and report["verdict"] == "fail"
    bare = QACore().check_jewelry_output(_png(rgb), "png", "amazon")
    assert next(c for c in bare["output_checks"] if c["name"] == CHECK_NAME)["value"] is None


def test_primitive_counts_text_outside_an_allowed_mask(detector):
    # The listing vertical's entry point: find_text + text_outside with its own mask.
    rgb = _put(_ring_canvas(), "SALE 50%", (60, 110), 60, (200, 30, 30), 6)
    boxes = detector.find_text(rgb)
    assert boxes and all(isinstance(b, TextBox) and 0.0 <= b.score <= 1.0 for b in boxes)
    x0, y0, x1, y1 = boxes[0].bbox
    assert x0 < 80 and y1 > 100 and x1 > 300, boxes[0].bbox
    allowed = np.zeros(rgb.shape[:2], bool)
    assert len(text_outside(boxes, allowed)) == len(boxes)
    allowed[max(0, y0 - 5):y1 + 5, max(0, x0 - 5):x1 + 5] = True
    assert all(b is not boxes[0] for b, _ in text_outside(boxes, allowed))
    # A box half outside counts; one 10% outside does not.
    box = TextBox(np.array([[100, 100], [300, 100], [300, 140], [100, 140]], np.float32), 0.9)
    half = np.zeros((400, 400), bool)
    half[:, :200] = True
    mostly = np.zeros((400, 400), bool)
    mostly[:, :280] = True
    assert [s for _, s in text_outside([box], half)] == [pytest.approx(0.5, abs=0.03)]
    assert text_outside([box], mostly) == []


def test_check_with_an_explicit_piece_mask(detector):
    rgb = _put(_ring_canvas(), "S925", (540, 1015), 44, (70, 70, 70), 5)
    piece = _piece(rgb)
    assert check_text_watermark(rgb, piece, detector, get_profile("google")).passed
    nowhere = check_text_watermark(rgb, np.zeros_like(piece), detector, get_profile("google"))
    assert not nowhere.passed and nowhere.severity == "fail"
