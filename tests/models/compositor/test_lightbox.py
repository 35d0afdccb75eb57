import cv2
import numpy as np
import pytest

from lumograph.models.common.errors import InvalidImage, InvalidOptions, SubjectNotFound
from lumograph.models.compositor.lightbox import (
    BACKGROUND_DEPTH_LEVELS,
    compose_lightbox,
    plan_placement,
    subject_bbox,
)
from lumograph.models.compositor.shadow import JPEG_SAFE_MARGIN_PX, SHADOW_STYLES, LightDirection

GOLD = (205, 160, 70)


def _disk(size=900, radius=400, hole=0):
    """A gold disk (optionally a ring with a hole) filling most of a square crop."""
    fg = np.zeros((size, size, 3), np.uint8)
    fg[:] = GOLD
    a = np.zeros((size, size), np.uint8)
    cv2.circle(a, (size // 2, size // 2), radius, 255, -1, cv2.LINE_AA)
    if hole:
        cv2.circle(a, (size // 2, size // 2), hole, 0, -1, cv2.LINE_AA)
    alpha = a.astype(np.float32) / 255
    fg.setflags(write=False)
    alpha.setflags(write=False)
    return fg, alpha


def _jpeg_roundtrip(rgb, quality=92):
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_plan_placement_centres_at_the_fill():
    scale, x0, y0 = plan_placement((1000, 500), (2000, 2000), 0.88)
    assert scale == pytest.approx(1.76)
    assert (x0, y0) == (560, 120)
    _, _, lifted = plan_placement((1000, 500), (2000, 2000), 0.88, vertical_bias=0.5)
    assert lifted == 60
    # Never lifted into the JPEG-safe band.
    _, _, top = plan_placement((1000, 1000), (2000, 2000), 0.95, vertical_bias=1.0)
    assert top >= 2 * JPEG_SAFE_MARGIN_PX or top == round((2000 - 1900) / 2)
    # Wide subject on a tall canvas: width is the tight axis.
    scale, x0, y0 = plan_placement((100, 400), (1000, 2000), 0.9)
    assert scale == pytest.approx(2.25) and x0 == 50 and y0 == 1000 - 112


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.2])
def test_plan_placement_rejects_bad_fill(bad):
    with pytest.raises(InvalidOptions, match=str(bad)):
        plan_placement((10, 10), (100, 100), bad)


@pytest.mark.parametrize("style", SHADOW_STYLES)
def test_border_stays_pure_white_after_jpeg(style):
    fg, alpha = _disk()
    comp = compose_lightbox(fg, alpha, shadow_style=style, light=LightDirection(30, 35, 1.0, "test"))
    for quality in (92, 95):
        decoded = _jpeg_roundtrip(comp.rgb, quality)
        band = np.ones(decoded.shape[:2], bool)
        band[16:-16, 16:-16] = False
        assert (decoded[band] == 255).all(), f"{style} q{quality}: non-white border pixels"


def test_fill_ratio_hits_the_target():
    fg, alpha = _disk()
    for fill in (0.80, 0.88, 0.95):
        comp = compose_lightbox(fg, alpha, fill=fill)
        assert comp.fill_ratio == pytest.approx(fill, abs=0.01)
        decoded = _jpeg_roundtrip(comp.rgb)
        measured = subject_bbox((255 - decoded.min(axis=2).astype(int)) > 48)
        x0, y0, x1, y1 = measured
        assert max(x1 - x0, y1 - y0) / 2000 == pytest.approx(fill, abs=0.01)


def test_upscale_and_downscale_and_non_square_canvas():
    small_fg, small_a = _disk(200, 80)
    comp = compose_lightbox(small_fg, small_a, canvas_wh=(1600, 1200), fill=0.9)
    assert comp.rgb.shape == (1200, 1600, 3) and comp.canvas_size == (1600, 1200)
    assert comp.report["resize_interpolation"] == "cubic"
    assert comp.fill_ratio == pytest.approx(0.9, abs=0.01)
    big_fg, big_a = _disk(3000, 1400)
    comp = compose_lightbox(big_fg, big_a, canvas_wh=(1000, 1000), fill=0.85)
    assert comp.report["resize_interpolation"] == "area"
    assert comp.fill_ratio == pytest.approx(0.85, abs=0.01)


def test_shadow_is_under_the_subject_and_lighter_than_it():
    fg, alpha = _disk()
    comp = compose_lightbox(fg, alpha, shadow_style="soft", background_depth=False)
    x0, y0, x1, y1 = comp.subject_bbox
    cx = (x0 + x1) // 2
    below = comp.rgb[y1 + 4: y1 + 12, cx - 10: cx + 10].astype(float).mean(axis=(0, 1))
    above = comp.rgb[y0 - 12: y0 - 4, cx - 10: cx + 10].astype(float).mean(axis=(0, 1))
    luma = np.array([0.2126, 0.7152, 0.0722])
    assert below.mean() < 245  # a visible shadow under the base
    assert below @ luma > np.array(GOLD, float) @ luma + 10  # lighter than the piece
    assert above.mean() > below.mean() + 8  # and not the same above it
    assert abs(below[0] - below[2]) < 2  # neutral grey, no colour cast


def test_subject_pixels_are_the_foreground_colour():
    fg, alpha = _disk()
    comp = compose_lightbox(fg, alpha)
    centre = comp.rgb[1000, 1000]
    assert np.abs(centre.astype(int) - GOLD).max() <= 1
    assert comp.alpha.dtype == np.float32 and comp.alpha.shape == (2000, 2000)
    assert comp.alpha[1000, 1000] == pytest.approx(1.0) and comp.alpha[5, 5] == 0.0


def test_background_depth_is_subtle_and_behind_the_subject():
    fg, alpha = _disk(900, 420, hole=300)
    with_depth = compose_lightbox(fg, alpha, shadow_style="none")
    hole = with_depth.rgb[1000, 1000]
    assert 255 - BACKGROUND_DEPTH_LEVELS <= hole.min() < 255
    flat = compose_lightbox(fg, alpha, shadow_style="none", background_depth=False)
    assert (flat.rgb[1000, 1000] == 255).all()
    assert (with_depth.rgb[:100] == 255).all()


def test_compose_is_deterministic_and_does_not_mutate():
    fg, alpha = _disk()
    fg_before, alpha_before = fg.copy(), alpha.copy()
    a = compose_lightbox(fg, alpha, shadow_style="reflection")
    b = compose_lightbox(fg, alpha, shadow_style="reflection")
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.alpha, b.alpha)
    assert np.array_equal(fg, fg_before) and np.array_equal(alpha, alpha_before)


def test_transparent_bakes_nothing():
    fg, alpha = _disk()
    comp = compose_lightbox(fg, alpha, transparent=True, shadow_style="soft")
    outside = comp.alpha == 0
    assert (comp.rgb[outside] == 255).all()
    inside = comp.alpha > 0.99
    assert np.abs(comp.rgb[inside].astype(int) - GOLD).max() <= 1
    assert comp.report["shadow_style"] == "none"


def test_report_is_json_able():
    import json

    fg, alpha = _disk()
    comp = compose_lightbox(fg, alpha)
    json.dumps(comp.report)
    assert comp.report["compositing_space"] == "sRGB"


def test_bad_inputs_raise_typed_errors():
    fg, alpha = _disk(100, 40)
    with pytest.raises(SubjectNotFound):
        compose_lightbox(fg, np.zeros_like(alpha))
    with pytest.raises(InvalidOptions, match="'glow'"):
        compose_lightbox(fg, alpha, shadow_style="glow")
    with pytest.raises(InvalidImage):
        compose_lightbox(fg.astype(np.float32), alpha)
    with pytest.raises(InvalidImage):
        compose_lightbox(fg, alpha[:50])


def test_subject_bbox_ignores_specks_but_keeps_pairs():
    m = np.zeros((200, 300), bool)
    m[50:100, 20:70] = True  # left earring
    m[50:100, 200:250] = True  # right earring
    m[190, 290] = True  # a speck
    assert subject_bbox(m) == (20, 50, 250, 100)
    assert subject_bbox(np.zeros((5, 5), bool)) is None
