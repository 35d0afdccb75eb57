import cv2
import numpy as np
import pytest

from lumograph.models.common.errors import InvalidImage, InvalidOptions
from lumograph.models.compositor.shadow import (
    JPEG_SAFE_MARGIN_PX,
    SHADOW_STYLES,
    LightDirection,
    estimate_light_direction,
    reflection_layer,
    safe_border_taper,
    synthesize_contact_shadow,
)


def _disk_alpha(h=800, w=800, r=300):
    a = np.zeros((h, w), np.uint8)
    cv2.circle(a, (w // 2, h // 2), r, 255, -1, cv2.LINE_AA)
    a = a.astype(np.float32) / 255
    a.setflags(write=False)
    return a


def _photo_with_cast_shadow(shadow_dx, shadow_dy, h=600, w=800):
    """A dark product on light-grey paper, its blurred shadow offset by (dx, dy)."""
    paper = np.full((h, w), 215.0, np.float32)
    shadow = np.zeros((h, w), np.float32)
    cv2.circle(shadow, (w // 2 + shadow_dx, h // 2 + shadow_dy), 110, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 12)
    lum = paper * (1 - 0.45 * shadow)
    rgb = np.repeat(lum[:, :, None], 3, axis=2)
    mask = np.zeros((h, w), np.uint8)
    cv2.circle(mask, (w // 2, h // 2), 110, 255, -1, cv2.LINE_AA)
    alpha = mask.astype(np.float32) / 255
    rgb[alpha > 0] = (60, 50, 30)
    rng = np.random.default_rng(0)
    rgb = np.clip(rgb + rng.normal(0, 2, rgb.shape), 0, 255).astype(np.uint8)
    return rgb, alpha


def _angle_diff(a, b):
    return abs((a - b + 180) % 360 - 180)


@pytest.mark.parametrize(
    "dx,dy,expected",
    [(-45, 45, 45.0), (45, 45, 135.0), (0, 60, 90.0), (60, 0, 180.0)],
)
def test_light_direction_from_cast_shadow(dx, dy, expected):
    rgb, alpha = _photo_with_cast_shadow(dx, dy)
    rgb.setflags(write=False)
    light = estimate_light_direction(rgb, alpha)
    assert light.method == "cast_shadow"
    assert light.confidence > 0.3
    assert _angle_diff(light.azimuth_deg, expected) < 30
    assert 0 <= light.elevation_deg <= 90


def test_light_direction_defaults_without_a_shadow():
    rgb, alpha = _photo_with_cast_shadow(0, 0)
    flat = rgb.copy()
    flat[alpha == 0] = 215
    light = estimate_light_direction(flat, alpha)
    assert (light.azimuth_deg, light.elevation_deg, light.confidence) == (90.0, 60.0, 0.0)
    assert estimate_light_direction(flat, None).method == "default"


def test_light_direction_rejects_bad_input():
    with pytest.raises(InvalidImage):
        estimate_light_direction(np.zeros((10, 10), np.uint8), None)
    with pytest.raises(InvalidImage):
        estimate_light_direction(np.zeros((10, 10, 3), np.uint8), np.zeros((5, 5), np.float32))


def test_shadow_vector_points_away_from_the_light():
    dx, dy = LightDirection(azimuth_deg=45).shadow_vector()
    assert dx < 0 and dy > 0  # light from the upper right -> shadow to the lower left


@pytest.mark.parametrize("style", SHADOW_STYLES)
def test_shadow_fields_are_soft_bounded_and_clear_of_the_border(style):
    alpha = _disk_alpha(1000, 1000, 420)
    shadow = synthesize_contact_shadow(alpha, LightDirection(45, 40), style)
    assert shadow.shape == alpha.shape and shadow.dtype == np.float32
    assert 0.0 <= shadow.min() and shadow.max() <= 0.9
    m = JPEG_SAFE_MARGIN_PX
    assert not shadow[:m].any() and not shadow[-m:].any()
    assert not shadow[:, :m].any() and not shadow[:, -m:].any()
    if style == "none":
        assert not shadow.any()
        return
    assert shadow.max() > 0.05
    # Soft: no step between neighbouring pixels larger than a few percent of opacity.
    steps = max(np.abs(np.diff(shadow, axis=0)).max(), np.abs(np.diff(shadow, axis=1)).max())
    assert steps < 0.08


def test_contact_shadow_sits_under_the_base():
    alpha = _disk_alpha(1000, 1000, 300)
    shadow = synthesize_contact_shadow(alpha, None, "contact")
    below = shadow[802:808, 490:510].mean()  # just under the disk's bottom at y=800
    above = shadow[192:198, 490:510].mean()  # just over its top
    assert below > 0.15 and below > 5 * above


def test_soft_shadow_falls_away_from_the_light():
    alpha = _disk_alpha(1000, 1000, 250)
    from_left = synthesize_contact_shadow(alpha, LightDirection(180, 45), "soft")
    right = from_left[500, 760:800].mean()
    left = from_left[500, 200:240].mean()
    assert right > 2 * left


def test_shadow_rejects_unknown_style_and_does_not_mutate():
    alpha = _disk_alpha()
    before = alpha.copy()
    with pytest.raises(InvalidOptions, match="'hard'"):
        synthesize_contact_shadow(alpha, None, "hard")
    synthesize_contact_shadow(alpha, None, "soft")
    assert np.array_equal(alpha, before)


def test_reflection_layer_mirrors_below_and_fades():
    alpha = np.zeros((1000, 1000), np.float32)
    alpha[200:600, 300:700] = 1.0
    premult = np.zeros((1000, 1000, 3), np.float32)
    premult[200:600, 300:700] = (200, 100, 50)
    premult.setflags(write=False)
    layer, layer_alpha = reflection_layer(premult, alpha, opacity=0.25)
    assert layer.shape == (1000, 1000, 3) and layer_alpha.shape == (1000, 1000)
    assert layer_alpha[:590].max() < 1e-3  # nothing above the base (blur aside)
    assert 0.15 < layer_alpha[603, 500] <= 0.25
    assert layer_alpha[603, 500] > layer_alpha[650, 500] > layer_alpha[690, 500]
    assert np.all(layer <= 255.0 * layer_alpha[:, :, None] + 1e-3)
    assert not layer_alpha[-JPEG_SAFE_MARGIN_PX:].any()


def test_safe_border_taper():
    t = safe_border_taper((300, 400), margin_px=24)
    assert t[:24].max() == 0 and t[:, -24:].max() == 0
    assert t[150, 200] == 1.0
    assert np.all(np.diff(t[:150, 200]) >= 0)


def test_contact_blur_on_its_row_band_equals_the_full_blur():
    """The contact shadow blurs only the rows it occupies; the result must be the
    full-frame Gaussian blur exactly, at the frame edges too."""
    from lumograph.models.compositor.shadow import blur_row_band

    rng = np.random.default_rng(7)
    for top, rows, sigma in ((400, 30, 6.0), (0, 12, 2.0), (980, 20, 1.2), (300, 1, 0.8)):
        field = np.zeros((1000, 800), np.float32)
        field[top:top + rows, 50:750] = rng.random((min(rows, 1000 - top), 700), dtype=np.float32)
        expected = cv2.GaussianBlur(field, (0, 0), sigmaX=2.5 * sigma, sigmaY=sigma)
        assert np.array_equal(blur_row_band(field, 2.5 * sigma, sigma), expected)
    assert not blur_row_band(np.zeros((50, 60), np.float32), 3.0, 1.0).any()
