import dataclasses
import datetime as dt

import pytest

from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.marketplaces import PROFILES, fill_ratio, get_profile

EXPECTED = {"amazon", "amazon_jewelry", "etsy", "shopify", "google", "ebay"}


def test_every_marketplace_has_a_profile():
    assert set(PROFILES) == EXPECTED
    for name in EXPECTED:
        assert get_profile(name).name == name


def test_unknown_name_quotes_the_bad_value():
    with pytest.raises(InvalidOptions) as err:
        get_profile("amazom")
    assert "'amazom'" in str(err.value)
    assert err.value.code == "unknown_marketplace"


def test_profiles_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_profile("amazon").min_fill = 0.1


def test_amazon_rules():
    p = get_profile("amazon")
    assert p.background_rgb == (255, 255, 255)
    assert p.min_fill == 0.85 and p.min_long_side == 1000 and p.max_long_side == 10000


def test_amazon_jewelry_rules():
    p = get_profile("amazon_jewelry")
    assert p.min_fill == 0.80 and (p.min_long_side, p.max_long_side) == (500, 2100)
    assert p.closeups_fade_to_white and "mannequin" in p.forbidden_content


def test_google_minimum_depends_on_the_date():
    p = get_profile("google")
    assert p.min_side_on(dt.date(2026, 6, 1)) == 100
    assert p.min_side_on(dt.date(2027, 1, 30)) == 100
    assert p.min_side_on(dt.date(2027, 1, 31)) == 500
    assert p.max_megapixels == 64 and p.max_file_bytes == 16 * 1024 * 1024
    assert p.extension_must_match and p.forbid_borders


def test_etsy_shopify_ebay_rules():
    etsy = get_profile("etsy")
    assert etsy.recommended_min_short_side == 2000 and (5, 4) in etsy.allowed_aspects
    shopify = get_profile("shopify")
    assert (shopify.max_width, shopify.max_height, shopify.recommended_wh) == (4472, 4472, (2048, 2048))
    ebay = get_profile("ebay")
    assert ebay.min_long_side == 500 and ebay.forbid_borders


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_defaults_pass_their_own_rules(name):
    p = get_profile(name)
    w, h = p.default_canvas
    if p.min_fill is not None:
        assert p.min_fill < p.default_fill <= 0.95
    if p.min_long_side:
        assert max(w, h) >= p.min_long_side
    if p.max_long_side:
        assert max(w, h) <= p.max_long_side
    if p.max_width:
        assert w <= p.max_width and h <= p.max_height
    if p.recommended_min_short_side:
        assert min(w, h) >= p.recommended_min_short_side
    if p.recommended_wh:
        assert (w, h) == p.recommended_wh
    if p.allowed_aspects:
        assert any(abs(w / h - a / b) < 1e-6 for a, b in p.allowed_aspects)
    assert min(w, h) >= (p.min_side_on(dt.date(2030, 1, 1)) or 0)


def test_fill_ratio_is_the_tightest_axis():
    assert fill_ratio((100, 100, 1860, 1500), (2000, 2000)) == pytest.approx(0.88)
    # Wide box on a tall canvas: width is the tight axis.
    assert fill_ratio((0, 0, 900, 300), (1000, 2000)) == pytest.approx(0.9)
    # Tall box on a wide canvas whose long side is horizontal: height is still tight.
    assert fill_ratio((0, 0, 1500, 1400), (2000, 1500)) == pytest.approx(1400 / 1500)


def test_the_canvas_is_lowered_to_keep_a_small_piece_sharp_but_never_below_the_floor():
    from lumograph.models.common.marketplaces import MAX_MAGNIFICATION, MIN_CANVAS_SIDE, plan_canvas

    amazon = get_profile("amazon")
    big = plan_canvas(amazon, 3000)
    assert big.side == amazon.default_canvas[0] and not big.reduced and big.magnification < 1.0
    small = plan_canvas(amazon, 700)  # 0.88 * 2000 / 700 = 2.5x at the default canvas
    assert small.reduced and MIN_CANVAS_SIDE <= small.side < 2000
    assert small.magnification <= MAX_MAGNIFICATION
    tiny = plan_canvas(amazon, 200)
    assert tiny.side == max(MIN_CANVAS_SIDE, amazon.min_long_side) and tiny.magnification > MAX_MAGNIFICATION
    asked = plan_canvas(amazon, 200, size=1600)
    assert asked.side == 1600 and not asked.reduced
    assert plan_canvas(amazon, None).magnification is None
