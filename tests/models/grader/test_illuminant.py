"""The scene illuminant estimator: the robust three-cue consensus and the margin around
clipped light sources, on synthetic scenes with known light."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lumograph.models.common.errors import InvalidOptions
from lumograph.models.grader import illuminant
from tests.models.grader.test_colour import WARM, _grey_mondrian, _under


def _lamp_scene() -> np.ndarray:
    """Linear 480x640 grey Mondrian under ``WARM`` with a clipped bulb in a bright
    orange shade: the shade is lit by the bulb, not the colour of the light."""
    scene = _under(WARM, _grey_mondrian(seed=0)) * np.float32(0.5)
    h, w = scene.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - 120, xx - 320)
    shade = r < 32
    scene[shade] = np.array([0.95, 0.55, 0.2], np.float32) * np.clip(1.2 - r[shade] / 32, 0.3, 1.0)[:, None]
    scene[r < 10] = 1.0
    return scene


def _foliage_scene(seed: int = 0) -> np.ndarray:
    """Linear 480x640 scene under ``WARM`` that is almost all one green (textured,
    shaded leaves) with small glints of the light's own colour: a strong single-colour
    scene where the grey index takes the evenly coloured leaves for grey."""
    rng = np.random.default_rng(seed)
    h, w = 480, 640
    texture = cv2.GaussianBlur(rng.uniform(0.2, 1.0, (h, w)).astype(np.float32), (0, 0), 2)
    purity = cv2.GaussianBlur(rng.uniform(0.7, 1.0, (h, w)).astype(np.float32), (0, 0), 4)[..., None]
    green = np.array([0.18, 0.5, 0.12], np.float32)
    scene = _under(WARM, texture[..., None] * (purity * green + (1 - purity) * 0.35)) * np.float32(0.6)
    glint = (np.asarray(WARM, np.float32) / max(WARM) * 0.85).tolist()
    for _ in range(300):
        y, x = rng.integers(5, h - 5), rng.integers(5, w - 5)
        cv2.circle(scene, (int(x), int(y)), int(rng.integers(2, 5)), glint, -1)
    scene = cv2.GaussianBlur(scene, (3, 3), 0) + rng.normal(0, 0.002, (h, w, 3)).astype(np.float32)
    return np.clip(scene, 0, 1)


# ------------------------------------------------------------- margin around clipping


def test_the_shade_around_a_clipped_lamp_is_ignored(monkeypatch):
    scene = _lamp_scene()
    estimate = illuminant.estimate_illuminant(scene, saturation=1.0)
    assert illuminant.angular_error_deg(estimate, WARM) < 1.0
    # The scene is a real test: with only the one-pixel blooming margin the shade pulls.
    monkeypatch.setattr(illuminant, "CLIP_MARGIN_SHARE", 0.0)
    assert illuminant.angular_error_deg(illuminant.estimate_illuminant(scene, saturation=1.0), WARM) > 3.0


def test_clip_margin_is_a_share_of_the_reduced_long_side():
    linear = np.full((1500, 2000, 3), 0.4, np.float32)
    linear[750, 1000] = 1.0  # one clipped pixel; the reduced image is 384x512
    _, one_pixel = illuminant.prepare_for_estimation(linear, saturation=1.0)
    _, wide = illuminant.prepare_for_estimation(linear, saturation=1.0, clip_margin_share=0.04)
    assert one_pixel.shape == (384, 512)
    assert (one_pixel == 0).sum() == 9  # the clipped pixel and its blooming ring
    radius = round(0.04 * 512)
    assert (wide == 0).sum() == (2 * radius + 1) ** 2


def test_clip_margin_shrinks_rather_than_take_much_of_the_scene():
    # Glints all over (or a blown-out sky): a full margin would leave almost nothing,
    # or only what lies far from the clipping (foliage under the sky).
    linear = _under(WARM, _grey_mondrian(size=(384, 512), seed=5))
    linear[::24, ::24] = 1.0
    _, one_pixel = illuminant.prepare_for_estimation(linear, saturation=1.0)
    _, wide = illuminant.prepare_for_estimation(linear, saturation=1.0, clip_margin_share=0.04)
    loss = 1.0 - wide.sum() / one_pixel.sum()
    assert 0.0 < loss <= illuminant.CLIP_MARGIN_MAX_LOSS


def test_clip_margin_falls_back_to_blooming_when_it_leaves_too_little():
    linear = np.full((40, 40, 3), 0.4, np.float32)
    linear[::6, ::6] = 1.0  # clipped pixels everywhere: a wide margin would leave nothing
    _, weight = illuminant.prepare_for_estimation(linear, saturation=1.0, clip_margin_share=0.1)
    _, one_pixel = illuminant.prepare_for_estimation(linear, saturation=1.0)
    assert weight.sum() >= 64
    assert np.array_equal(weight, one_pixel)


def test_only_the_scene_estimate_uses_the_wide_margin(monkeypatch):
    # A lightbox backdrop is often partly blown out; the paper next to the hot spot is
    # the cleanest backdrop there is, so the backdrop prior keeps the blooming margin only.
    margins = []
    prepare = illuminant.prepare_for_estimation

    def spy(*args, **kwargs):
        margins.append(kwargs.get("clip_margin_share", 0.0))
        return prepare(*args, **kwargs)

    monkeypatch.setattr(illuminant, "prepare_for_estimation", spy)
    scene = _lamp_scene()
    mask = np.ones(scene.shape[:2], np.float32)
    illuminant.estimate_illuminant(scene, mask=mask)
    illuminant.estimate_backdrop_illuminant(scene, mask)
    illuminant.estimate_illuminant(scene)
    illuminant.estimate_illuminant(scene, method="grey_world")
    assert margins == [0.0, 0.0, illuminant.CLIP_MARGIN_SHARE, illuminant.CLIP_MARGIN_SHARE]


# ------------------------------------------------------------------- the consensus


def test_default_scene_estimator_is_the_consensus():
    assert illuminant.DEFAULT_METHOD == "grey_bright_consensus"
    scene = _under(WARM, _grey_mondrian(seed=4))
    img, weight = illuminant.prepare_for_estimation(scene, clip_margin_share=illuminant.CLIP_MARGIN_SHARE)
    expected = illuminant.fuse_consensus(illuminant.consensus_cues(img, weight))
    assert illuminant.angular_error_deg(illuminant.estimate_illuminant(scene), expected) < 1e-6


@pytest.mark.parametrize("seed", [0, 1])
def test_consensus_survives_a_cue_fooled_by_a_single_colour_scene(seed):
    scene = _foliage_scene(seed)
    error = illuminant.angular_error_deg(illuminant.estimate_illuminant(scene, saturation=1.0), WARM)
    fooled = illuminant.angular_error_deg(
        illuminant.estimate_illuminant(scene, method="grayness_index", saturation=1.0), WARM
    )
    previous = illuminant.angular_error_deg(
        illuminant.estimate_illuminant(scene, method="grey_index_with_bright_dark", saturation=1.0), WARM
    )
    assert fooled > 15.0 and previous > 8.0  # the scene is hard for the grey index
    assert error < 3.0


def test_fuse_estimates_plain_and_robust():
    a = illuminant.fuse_estimates([[1, 0, 0], [0, 2, 0]], [1.0, 1.0])
    assert np.allclose(a, [2**-0.5, 2**-0.5, 0])
    assert np.allclose(illuminant.fuse_estimates([[1, 0, 0], [0, 1, 0]], [1.0, 0.0]), [1, 0, 0], atol=1e-6)
    # Two cues agree, a third is 20 deg off: the plain mean moves ~7 deg, the robust one stays.
    agree = np.array([1.0, 0.8, 0.55]) / np.linalg.norm([1.0, 0.8, 0.55])
    off = np.array([0.5, 1.0, 0.4])
    assert illuminant.angular_error_deg(off, agree) > 15.0
    plain = illuminant.fuse_estimates([agree, agree * 2, off], [1, 1, 1])
    robust = illuminant.fuse_estimates([agree, agree * 2, off], [1, 1, 1], scale_deg=5.0)
    assert illuminant.angular_error_deg(plain, agree) > 5.0
    assert illuminant.angular_error_deg(robust, agree) < 1.0
    # Cues that agree within a few degrees are averaged almost as they are.
    close = [agree + t for t in (0.0, 0.05, 0.1)]  # 1-2 deg apart
    assert illuminant.angular_error_deg(
        illuminant.fuse_estimates(close, [1, 1, 1], scale_deg=5.0), illuminant.fuse_estimates(close, [1, 1, 1])
    ) < 0.05
    with pytest.raises(InvalidOptions):
        illuminant.fuse_estimates([agree, off], [1.0])
