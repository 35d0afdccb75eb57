"""Illuminant estimation and jewelry colour grading on synthetic scenes with known light."""
from __future__ import annotations

import csv
import json
from dataclasses import asdict

import cv2
import numpy as np
import pytest

from lumograph.bench import eval_constancy
from lumograph.models.common import colour
from lumograph.models.common.errors import InvalidImage, InvalidOptions
from lumograph.models.grader import illuminant, metal_tone
from tests.arrays import read_only
from tests.eval_data import require_eval

WARM = np.array([1.0, 0.78, 0.52])  # ~4000 K in linear sRGB, 14 deg from neutral
MILD_WARM = np.array([1.0, 0.85, 0.66])  # ~5000 K, 9 deg: a typical leftover cast in a JPEG


def _grey_mondrian(size=(480, 640), seed=0, coloured=False) -> np.ndarray:
    """Linear reflectance image: grey rectangles (edges, shading, noise); optionally a
    few saturated patches so that no estimator is trivially right."""
    rng = np.random.default_rng(seed)
    h, w = size
    img = np.full((h, w, 3), 0.45, np.float32)
    for _ in range(60):
        y, x = rng.integers(0, h - 20), rng.integers(0, w - 20)
        dy, dx = rng.integers(20, 160), rng.integers(20, 160)
        img[y : y + dy, x : x + dx] = rng.uniform(0.05, 0.9)
    if coloured:
        for patch in ([0.7, 0.15, 0.1], [0.1, 0.2, 0.6], [0.2, 0.5, 0.15]):
            y, x = rng.integers(0, h - 80), rng.integers(0, w - 80)
            img[y : y + 70, x : x + 70] = patch
    yy, xx = np.mgrid[0:h, 0:w]
    shading = (0.7 + 0.3 * np.cos(xx / w * 2.0) * np.cos(yy / h * 1.5)).astype(np.float32)
    img = img * shading[..., None]
    img += rng.normal(0, 0.004, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def _under(light, reflectance: np.ndarray) -> np.ndarray:
    light = np.asarray(light, np.float32) / np.max(light)
    return np.clip(reflectance * light * 0.9, 0, 1).astype(np.float32)


def _hue_chroma(rgb_u8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(rgb_u8.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360, np.hypot(lab[..., 1], lab[..., 2])


def _ring_mask(size=(400, 400), centre=(200, 200), radius=120, width=40) -> np.ndarray:
    mask = np.zeros(size, np.uint8)
    cv2.circle(mask, centre, radius, 255, width)
    return (mask > 0).astype(np.float32)


def _ring_image(base_rgb, size=(400, 400), background=(235, 235, 235)) -> tuple[np.ndarray, np.ndarray]:
    """A shaded ring of ``base_rgb`` on a flat backdrop; returns (rgb uint8, alpha)."""
    alpha = _ring_mask(size)
    img = np.empty(size + (3,), np.uint8)
    img[:] = background
    xx = np.mgrid[0 : size[0], 0 : size[1]][1]
    shade = 0.8 + 0.2 * np.sin(xx / 17.0)
    ring = np.clip(np.asarray(base_rgb, np.float32)[None, None] * shade[..., None], 0, 255).astype(np.uint8)
    img[alpha > 0] = ring[alpha > 0]
    return img, alpha


# ------------------------------------------------------------------ sRGB transfer


def test_srgb_round_trip_is_exact_for_every_8bit_value():
    values = np.arange(256, dtype=np.uint8)
    rgb = read_only(np.stack([values] * 3, axis=1).reshape(16, 16, 3))
    lin = colour.srgb_to_linear(rgb)
    assert lin.dtype == np.float32 and lin.shape == rgb.shape
    assert lin.min() >= 0 and lin.max() <= 1
    assert np.array_equal(colour.linear_to_srgb(lin), rgb)


def test_linear_to_srgb_clips_out_of_range_and_nan():
    lin = np.array([[[-0.5, 2.0, np.nan]]], np.float32)
    assert colour.linear_to_srgb(lin).tolist() == [[[0, 255, 0]]]


def test_srgb_to_linear_rejects_float_input():
    with pytest.raises(InvalidImage):
        colour.srgb_to_linear(np.zeros((4, 4, 3), np.float32))


# ------------------------------------------------------------------ estimation


def test_angular_error_basics():
    assert illuminant.angular_error_deg([1, 1, 1], [2, 2, 2]) == pytest.approx(0.0, abs=1e-6)
    assert illuminant.angular_error_deg([1, 0, 0], [0, 1, 0]) == pytest.approx(90.0, abs=1e-4)


@pytest.mark.parametrize("method", sorted(illuminant.ESTIMATORS))
def test_every_estimator_finds_a_warm_light_on_a_grey_scene(method):
    scene = read_only(_under(WARM, _grey_mondrian()))
    estimate = illuminant.estimate_illuminant(scene, method=method)
    assert estimate.shape == (3,) and estimate.dtype == np.float64
    assert np.linalg.norm(estimate) == pytest.approx(1.0, abs=1e-9)
    assert illuminant.angular_error_deg(estimate, WARM) < 2.0


STRONG_METHODS = ["auto", "grayness_index", "bright_dark_pca", "grey_index_with_bright_dark"]


@pytest.mark.parametrize("method", STRONG_METHODS)
def test_strong_estimators_ignore_a_few_coloured_patches(method):
    scene = _under(WARM, _grey_mondrian(coloured=True, seed=3))
    assert illuminant.angular_error_deg(illuminant.estimate_illuminant(scene, method=method), WARM) < 2.0


def test_estimate_is_scale_invariant_and_leaves_input_alone():
    scene = read_only(_under(WARM, _grey_mondrian(seed=1)))
    before = scene.copy()
    a = illuminant.estimate_illuminant(scene)
    b = illuminant.estimate_illuminant(scene * 7.5)
    assert illuminant.angular_error_deg(a, b) < 0.05
    assert np.array_equal(scene, before)


def test_large_inputs_are_reduced_and_still_estimated():
    scene = cv2.resize(_under(WARM, _grey_mondrian()), (2400, 1800), interpolation=cv2.INTER_LINEAR)
    assert illuminant.angular_error_deg(illuminant.estimate_illuminant(scene), WARM) < 2.0


def test_clipped_pixels_are_ignored():
    scene = _under(WARM, _grey_mondrian(seed=2))
    scene[:150, :200] = 1.0  # a blown-out window: neutral white, but it is clipping, not light
    assert illuminant.angular_error_deg(illuminant.estimate_illuminant(scene, saturation=1.0), WARM) < 2.0


def _packshot(light, backdrop_reflectance=(0.85, 0.85, 0.85)):
    """Linear scene: a backdrop and a big gold disc in the middle; returns (linear, backdrop mask)."""
    h, w = 480, 640
    refl = np.empty((h, w, 3), np.float32)
    refl[:] = backdrop_reflectance
    yy, xx = np.mgrid[0:h, 0:w]
    refl *= (0.85 + 0.15 * (1 - yy / h))[..., None]  # a sweep gets darker toward the bottom
    disc = (xx - 320) ** 2 + (yy - 240) ** 2 < 150**2
    refl[disc] = (0.8, 0.55, 0.12)
    mask = (~disc).astype(np.float32)
    return _under(light, refl), mask


def test_backdrop_prior_beats_the_gold_product():
    scene, mask = _packshot(MILD_WARM)
    estimate = illuminant.estimate_illuminant(scene, mask=read_only(mask))
    assert illuminant.angular_error_deg(estimate, MILD_WARM) < 1.0
    # Without the mask, the big gold disc would pull a grey-world answer far off.
    assert illuminant.angular_error_deg(illuminant.estimate_illuminant(scene, method="grey_world"), MILD_WARM) > 3.0


def test_backdrop_prior_is_cautious_with_very_strong_casts():
    strong = np.array([1.0, 0.7, 0.4])  # ~20 deg: a lamp, or kraft paper under white light
    scene, mask = _packshot(strong)
    estimate = illuminant.estimate_illuminant(scene, mask=mask)
    cast = illuminant.angular_error_deg(estimate, [1, 1, 1])
    assert 3.0 < cast < illuminant.angular_error_deg(strong, [1, 1, 1]) - 5.0  # warm, but not all of it


def test_a_coloured_backdrop_is_not_mistaken_for_coloured_light():
    # White light on pink paper: the backdrop prior must not "correct" the paper to grey.
    scene, mask = _packshot([1, 1, 1], backdrop_reflectance=(0.9, 0.45, 0.6))
    estimate = illuminant.estimate_illuminant(scene, mask=mask)
    assert illuminant.angular_error_deg(estimate, [1, 1, 1]) < 3.0


def test_estimate_errors():
    with pytest.raises(InvalidImage):
        illuminant.estimate_illuminant(np.zeros((10, 10), np.float32))
    with pytest.raises(InvalidImage):
        illuminant.estimate_illuminant(np.zeros((32, 32, 3), np.float32))  # black
    with pytest.raises(InvalidOptions):
        illuminant.estimate_illuminant(np.ones((32, 32, 3), np.float32), method="magic")
    with pytest.raises(InvalidOptions):
        illuminant.estimate_illuminant(np.ones((32, 32, 3), np.float32), mask=np.ones((8, 8), np.float32))


def write_constancy_folder(path, lights, *, seed: int = 10, size=(480, 640), coloured: bool = False,
                           blown: bool = False) -> None:
    """A color_constancy-style folder: one 16-bit linear PNG per light plus gt.csv.
    blown: each scene gets a clipped patch (for the clip-margin rules)."""
    rows = []
    for i, light in enumerate(lights):
        scene = _under(light, _grey_mondrian(size=size, seed=seed + i, coloured=coloured))
        if blown:
            scene[10:30, 10:40] = 1.0
        cv2.imwrite(str(path / f"s{i}.png"), (scene[..., ::-1] * 60000).astype(np.uint16))
        rows.append({"file": f"s{i}.png", "r": light[0], "g": light[1], "b": light[2]})
    with open(path / "gt.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "r", "g", "b"])
        writer.writeheader()
        writer.writerows(rows)


def test_evaluate_color_constancy_on_a_synthetic_folder(tmp_path):
    write_constancy_folder(tmp_path, ([1.0, 0.8, 0.5], [0.6, 0.8, 1.0]))
    result = eval_constancy.evaluate_color_constancy(tmp_path)
    assert set(result) >= {"n", "median_deg", "mean_deg", "worst25_deg", "per_image"}
    assert result["n"] == 2 and result["median_deg"] < 2.0
    json.dumps(result)


@pytest.mark.data
def test_default_estimator_quality_on_the_eval_set():
    data = require_eval("color_constancy", "gt.csv").parent
    result = eval_constancy.evaluate_color_constancy(data, folds=None)
    # Measured 1.09 deg median, 2.61 worst quarter (the grey index + PCA pair before it:
    # 1.31 / 3.08; grey-world: 2.6 median); the limits are the targets.
    assert result["median_deg"] <= 1.3
    assert result["worst25_deg"] <= 3.0


# ------------------------------------------------------------------ description


def test_describe_illuminant():
    warm = illuminant.describe_illuminant(WARM)
    assert warm.cast == "warm" and warm.cct_kelvin is not None and warm.cct_kelvin < 5000
    neutral = illuminant.describe_illuminant([1, 1, 1])
    assert neutral.cast == "neutral" and neutral.strength_deg == 0.0 and neutral.tint == "none"
    assert 6300 < neutral.cct_kelvin < 6700
    assert illuminant.describe_illuminant([0.7, 1.0, 0.7]).tint == "green"
    assert illuminant.describe_illuminant([0.8, 0.9, 1.0]).cast == "cool"
    json.dumps(asdict(warm))


# ------------------------------------------------------------------ correction


def test_white_balance_makes_the_grey_patch_neutral():
    reflectance = np.full((64, 64, 3), 0.18, np.float32)
    rgb = read_only(colour.linear_to_srgb(_under(WARM, reflectance)))
    assert int(rgb[0, 0].max()) - int(rgb[0, 0].min()) > 25  # visibly warm before
    corrected = illuminant.correct_white_balance(rgb, WARM)
    assert corrected.dtype == np.uint8 and corrected.shape == rgb.shape
    spread = corrected.max(axis=2).astype(int) - corrected.min(axis=2)
    assert spread.max() < 3


def test_white_balance_with_an_estimated_light():
    scene = _under(WARM, _grey_mondrian(seed=5))
    rgb = colour.linear_to_srgb(scene)
    light = illuminant.estimate_illuminant(colour.srgb_to_linear(rgb))
    corrected = illuminant.correct_white_balance(rgb, light)
    patch = corrected[200:260, 300:360].reshape(-1, 3).astype(float).mean(axis=0)
    assert patch.max() - patch.min() < 6


def test_white_balance_strength_zero_is_identity():
    rgb = colour.linear_to_srgb(_under(WARM, _grey_mondrian()))
    assert np.abs(illuminant.correct_white_balance(rgb, WARM, strength=0.0).astype(int) - rgb).max() <= 1
    with pytest.raises(InvalidOptions):
        illuminant.correct_white_balance(rgb, WARM, strength=1.5)


# ------------------------------------------------------------------ metal tones


def test_tinted_silver_becomes_neutral():
    rgb, alpha = _ring_image((196, 190, 172))  # silver with a yellow tint
    out = metal_tone.normalize_metal_tone(read_only(rgb), read_only(alpha), "white_metal")
    _, chroma = _hue_chroma(out)
    assert chroma[alpha > 0].mean() < 1.5
    spread = out.max(axis=2).astype(int) - out.min(axis=2)
    assert spread[alpha > 0].max() <= 3


def test_gold_stays_gold_and_greenish_gold_is_pulled_back():
    for base in ((212, 175, 80), (190, 185, 70)):  # a good gold, a greenish brass-like gold
        rgb, alpha = _ring_image(base)
        out = metal_tone.normalize_metal_tone(rgb, alpha, "yellow_gold")
        hue, chroma = _hue_chroma(out)
        ring = alpha > 0
        assert np.all((hue[ring] >= 70) & (hue[ring] <= 91))
        assert np.median(chroma[ring]) >= 24


def test_rose_gold_lands_in_its_range():
    rgb, alpha = _ring_image((205, 150, 120))
    hue, _ = _hue_chroma(metal_tone.normalize_metal_tone(rgb, alpha, "rose_gold"))
    assert np.all((hue[alpha > 0] >= 39) & (hue[alpha > 0] <= 63))


@pytest.mark.parametrize("metal", ["yellow_gold", "white_metal", "rose_gold"])
def test_gemstones_and_background_are_left_alone(metal):
    rgb, alpha = _ring_image((212, 175, 80))
    rgb[190:210, 70:90] = (20, 60, 200)  # a sapphire set in the band
    out = metal_tone.normalize_metal_tone(rgb, alpha, metal)
    hue_in, chroma_in = _hue_chroma(rgb[190:210, 70:90])
    hue_out, chroma_out = _hue_chroma(out[190:210, 70:90])
    assert np.abs(hue_out - hue_in).max() < 2.0 and np.abs(chroma_out - chroma_in).max() < 2.0
    assert np.array_equal(out[alpha == 0], rgb[alpha == 0])


def test_metal_none_is_a_copy_and_bad_metal_fails():
    rgb, alpha = _ring_image((200, 200, 200))
    out = metal_tone.normalize_metal_tone(rgb, alpha, "none")
    assert np.array_equal(out, rgb) and out is not rgb
    with pytest.raises(InvalidOptions):
        metal_tone.normalize_metal_tone(rgb, alpha, "bronze")
    with pytest.raises(InvalidOptions):
        metal_tone.normalize_metal_tone(rgb, alpha[:10], "white_metal")


# ------------------------------------------------------------------ grading


def test_grade_jewelry_neutralises_a_warm_silver_ring():
    # A neutral grey ring photographed under warm light.
    linear = _under(WARM, np.full((400, 400, 3), 0.35, np.float32))
    rgb = colour.linear_to_srgb(linear)
    alpha = _ring_mask()
    graded, report = metal_tone.grade_jewelry(read_only(rgb), read_only(alpha), WARM, "white_metal")
    assert graded.dtype == np.uint8 and graded.shape == rgb.shape
    spread = graded.max(axis=2).astype(int) - graded.min(axis=2)
    assert spread[alpha > 0].max() <= 3
    json.dumps(report)
    assert report["illuminant"]["cast"] == "warm" and report["metal"] == "white_metal"


def test_grade_jewelry_adds_gentle_contrast_only_on_the_subject():
    rgb, alpha = _ring_image((150, 150, 150))
    graded, _ = metal_tone.grade_jewelry(rgb, alpha, [1, 1, 1], "none")
    assert np.abs(graded[alpha == 0].astype(int) - rgb[alpha == 0]).max() <= 1
    assert 0 < np.abs(graded[alpha > 0].astype(int) - rgb[alpha > 0]).max() <= 12


def test_grade_jewelry_strength_zero_changes_nothing():
    rgb, alpha = _ring_image((212, 175, 80))
    graded, report = metal_tone.grade_jewelry(rgb, alpha, WARM, "yellow_gold", strength=0.0)
    assert np.abs(graded.astype(int) - rgb).max() <= 1
    assert report["white_balance"]["strength"] == 0.0
    with pytest.raises(InvalidOptions):
        metal_tone.grade_jewelry(rgb, alpha, WARM, "yellow_gold", strength=-0.1)
