"""The classical jewelry classifier on synthetic drawings with known answers."""
from __future__ import annotations

import json
from dataclasses import asdict

import cv2
import numpy as np
import pytest

from lumograph.models.classifier.jewelry import (
    CATEGORIES,
    METALS,
    JewelryClassification,
    build_subject_mask,
    classify_jewelry,
)
from lumograph.models.common.errors import InvalidImage, InvalidOptions
from tests.arrays import read_only

H, W = 600, 800
GOLD = (215, 172, 70)
SILVER = (178, 178, 184)
ROSE = (215, 150, 130)


def _paper(colour=(245, 245, 242)) -> np.ndarray:
    """Off-white paper with a soft vignette, like a sweep in a light tent."""
    yy, xx = np.mgrid[0:H, 0:W]
    vignette = 1 - 0.2 * (((xx - W / 2) / W) ** 2 + ((yy - H / 2) / H) ** 2)
    return np.clip(np.asarray(colour, np.float32) * vignette[..., None], 0, 255).astype(np.uint8)


def _metal(mask: np.ndarray, base, background: np.ndarray | None = None) -> np.ndarray:
    """Paint ``mask`` with a metal that has soft reflections (75-100% brightness)."""
    img = _paper() if background is None else background.copy()
    yy, xx = np.mgrid[0:H, 0:W]
    shade = 0.875 + 0.125 * np.sin(xx / 23.0) * np.cos(yy / 31.0)
    metal = np.clip(np.asarray(base, np.float32) * shade[..., None], 0, 255).astype(np.uint8)
    img[mask > 0] = metal[mask > 0]
    return img


def _ring(base, centre=(400, 300), radius=110, width=30, background=None) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    cv2.circle(mask, centre, radius, 255, width)
    return _metal(mask, base, background)


def test_ring_with_a_hole_on_white():
    result = classify_jewelry(read_only(_ring(SILVER)))
    assert isinstance(result, JewelryClassification)
    assert result.category == "ring" and result.category_confidence >= 0.4
    assert result.metal == "white_metal" and result.metal_confidence >= 0.5
    assert result.n_pieces == 1 and not result.multiple_pieces
    assert not result.on_model and not result.busy_background
    assert result.backend == "classical"


@pytest.mark.parametrize("base, metal", [(GOLD, "yellow_gold"), (SILVER, "white_metal"), (ROSE, "rose_gold")])
def test_metal_follows_the_colour(base, metal):
    assert classify_jewelry(_ring(base)).metal == metal


def test_long_thin_curve_is_a_necklace():
    mask = np.zeros((H, W), np.uint8)
    xs = np.linspace(-50, W + 50, 200)
    ys = 460 - 0.0016 * (xs - W / 2) ** 2
    cv2.polylines(mask, [np.stack([xs, ys], 1).astype(np.int32)], False, 255, 4)
    result = classify_jewelry(_metal(mask, GOLD))
    assert result.category == "necklace" and result.metal == "yellow_gold"


def test_a_similar_pair_side_by_side_is_earrings():
    mask = np.zeros((H, W), np.uint8)
    for x in (270, 530):
        cv2.line(mask, (x, 150), (x, 300), 255, 4)
        cv2.ellipse(mask, (x, 360), (40, 70), 0, 0, 360, 255, -1)
    result = classify_jewelry(_metal(mask, SILVER))
    assert result.category == "earring" and result.n_pieces == 2 and result.multiple_pieces


def test_a_large_thin_loop_is_a_bracelet():
    mask = np.zeros((H, W), np.uint8)
    cv2.ellipse(mask, (400, 300), (300, 140), 15, 0, 360, 255, 14)
    assert classify_jewelry(_metal(mask, GOLD)).category == "bracelet"


def test_separate_pieces_are_counted():
    mask = np.zeros((H, W), np.uint8)
    for centre in ((170, 170), (420, 420), (640, 170)):
        cv2.circle(mask, centre, 70, 255, 20)
    result = classify_jewelry(_metal(mask, GOLD))
    assert result.n_pieces == 3 and result.multiple_pieces


def test_a_big_smooth_skin_blob_means_on_model():
    img = _paper()
    yy, xx = np.mgrid[0:H, 0:W]
    arm = ((xx - 400) / 330) ** 2 + ((yy - 330) / 260) ** 2 < 1
    shading = 0.85 + 0.15 * np.cos((xx - 400) / 400)
    skin = np.clip(np.array([224, 172, 140]) * shading[..., None], 0, 255).astype(np.uint8)
    img[arm] = skin[arm]
    result = classify_jewelry(_ring(SILVER, radius=60, width=12, background=img))
    assert result.on_model and result.skin_fraction > 0.3
    # The skin is not the product: the metal is still read from the ring.
    assert result.metal == "white_metal"


def test_wood_grain_in_skin_colours_is_not_skin():
    yy, xx = np.mgrid[0:H, 0:W]
    grain = 0.85 + 0.15 * np.sin(yy / 4.0 + 3 * np.sin(xx / 90.0))
    wood = np.clip(np.array([205, 150, 105]) * grain[..., None], 0, 255).astype(np.uint8)
    result = classify_jewelry(_ring(SILVER, radius=60, width=12, background=wood))
    assert not result.on_model and result.skin_fraction < 0.02


def test_gold_is_not_skin():
    result = classify_jewelry(_ring(GOLD, radius=220, width=120))
    assert result.skin_fraction < 0.02 and not result.on_model


def test_the_smooth_inner_surface_of_a_polished_gold_band_is_not_skin():
    # A wide band seen from the side: its inner surface is a smooth, pale yellow-gold
    # gradient that sits inside the YCrCb skin box and passes the smoothness guards; only
    # its hue (about 85 degrees, skin 8-80) tells it apart.
    img = _paper((250, 250, 250))
    yy, xx = np.mgrid[0:H, 0:W]
    band = ((xx - 400) / 170) ** 2 + ((yy - 300) / 250) ** 2 < 1
    shade = 0.9 + 0.1 * np.cos((xx - 400) / 120.0)
    gold = np.clip(np.array([204, 173, 107], np.float32) * shade[..., None], 0, 255).astype(np.uint8)
    img[band] = gold[band]
    result = classify_jewelry(img)
    assert not result.on_model and result.skin_fraction < 0.02, result


def test_busy_background_is_flagged():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (H // 8, W // 8, 3)).astype(np.uint8)
    clutter = cv2.resize(noise, (W, H), interpolation=cv2.INTER_NEAREST)
    busy = classify_jewelry(_ring(SILVER, background=clutter))
    calm = classify_jewelry(_ring(SILVER))
    assert busy.busy_background and busy.background_complexity > 0.6
    assert not calm.busy_background and calm.background_complexity < 0.1


def test_a_given_subject_mask_is_used():
    img = _ring(GOLD)
    # Claim the product is a long thin bar: the shape, not the pixels, decides the category.
    bar = np.zeros((H, W), np.float32)
    cv2.line(bar, (20, 300), (780, 320), 1.0, 3)
    assert classify_jewelry(img, subject_mask=read_only(bar)).category != "ring"
    ring = build_subject_mask(img)
    assert ring.dtype == np.float32 and ring.shape == (H, W)
    assert classify_jewelry(img, subject_mask=ring).category == "ring"


def test_subject_mask_finds_the_ring():
    img = _ring(GOLD)
    mask = build_subject_mask(read_only(img))
    truth = np.zeros((H, W), np.uint8)
    cv2.circle(truth, (400, 300), 110, 1, 30)
    iou = np.logical_and(mask > 0.5, truth > 0).sum() / np.logical_or(mask > 0.5, truth > 0).sum()
    assert iou > 0.9


def test_plain_backdrop_has_no_pieces():
    result = classify_jewelry(_paper())
    assert result.n_pieces == 0 and result.category == "other" and result.metal == "none"


def test_output_is_json_able_and_in_vocabulary():
    images = (_ring(GOLD), _paper(), np.zeros((64, 48, 3), np.uint8), np.full((1024, 700, 3), 200, np.uint8))
    for img in images:
        result = classify_jewelry(img)
        assert result.category in CATEGORIES and result.metal in METALS
        assert 0.0 <= result.category_confidence <= 1.0 and 0.0 <= result.metal_confidence <= 1.0
        assert 0.0 <= result.skin_fraction <= 1.0 and 0.0 <= result.background_complexity <= 1.0
        json.dumps(asdict(result))


def test_deterministic_and_input_untouched():
    img = read_only(_ring(ROSE))
    before = img.copy()
    assert classify_jewelry(img) == classify_jewelry(img)
    assert np.array_equal(img, before)


def test_bad_inputs_fail_clearly():
    with pytest.raises(InvalidImage):
        classify_jewelry(np.zeros((100, 100), np.uint8))
    with pytest.raises(InvalidImage):
        classify_jewelry(np.zeros((100, 100, 3), np.float32))
    with pytest.raises(InvalidImage):
        classify_jewelry(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InvalidOptions):
        classify_jewelry(np.zeros((100, 100, 3), np.uint8), subject_mask=np.zeros((50, 50), np.float32))
