"""Classical jewelry segmentation on synthetic packshots with known masks."""
from __future__ import annotations

import json
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from lumograph.bench.metrics import mask_iou, mask_iou_band
from lumograph.models.common.errors import InvalidImage, InvalidOptions, SubjectNotFound
from lumograph.models.segmenter.jewelry_matte import (
    Matte,
    locate_subject,
    matte_to_full_frame,
    segment_jewelry,
)

WARM_PAPER = (214, 206, 190)
WHITE_SWEEP = (255, 255, 255)


@dataclass(frozen=True)
class Scene:
    rgb: np.ndarray  # HxWx3 uint8
    subject: np.ndarray  # HxW bool, ring band + chain
    hole: np.ndarray  # HxW bool, ring interior (3 px inside the inner edge)
    chain: np.ndarray  # HxW bool, core of the 2-px chain line
    highlight: np.ndarray  # HxW bool, the white specular arc on the band


def draw_ring_scene(height: int = 600, width: int = 800, *, paper=WARM_PAPER,
                    metal=(150, 150, 158), vignette: float = 0.12, noise: float = 2.0,
                    seed: int = 0) -> Scene:
    """A metal-grey ring with a white highlight and a 2-px chain on paper with a soft shadow."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width * 0.45, height * 0.5
    r_out, r_in = min(height, width) * 0.30, min(height, width) * 0.21
    radial = np.hypot((xx - cx) / (width / 2), (yy - cy) / (height / 2))
    image = np.array(paper, np.float32) * (1.0 - vignette * radial[..., None] ** 2)

    # Soft shadow cast down-right by the ring.
    shadow = np.zeros((height, width), np.float32)
    centre = (int(cx + r_out * 0.12), int(cy + r_out * 0.15))
    cv2.circle(shadow, centre, int(r_out), 1.0, -1)
    cv2.circle(shadow, centre, int(r_in), 0.0, -1)
    image *= (1.0 - 0.18 * cv2.GaussianBlur(shadow, (0, 0), r_out * 0.08))[..., None]

    ring_u8 = np.zeros((height, width), np.uint8)
    cv2.circle(ring_u8, (int(cx), int(cy)), int(r_out), 255, -1, cv2.LINE_AA)
    cv2.circle(ring_u8, (int(cx), int(cy)), int(r_in), 0, -1, cv2.LINE_AA)
    ring = ring_u8.astype(np.float32) / 255.0
    across = np.clip((np.hypot(xx - cx, yy - cy) - r_in) / (r_out - r_in), 0.0, 1.0)
    metal_image = np.array(metal, np.float32) * (0.75 + 0.35 * np.sin(across * np.pi))[..., None]
    arc = np.zeros((height, width), np.uint8)
    cv2.ellipse(arc, (int(cx), int(cy)), (int((r_in + r_out) / 2),) * 2, 0, 200, 250, 255,
                max(2, int((r_out - r_in) * 0.25)), cv2.LINE_AA)
    specular = cv2.GaussianBlur(arc.astype(np.float32) / 255.0, (0, 0), 1.0) * ring
    metal_image = metal_image * (1 - specular[..., None]) + 250.0 * specular[..., None]
    image = image * (1 - ring[..., None]) + metal_image * ring[..., None]

    chain_u8 = np.zeros((height, width), np.uint8)
    start = int(cx + r_out * 0.9)
    points = [(int(start + t * (width * 0.95 - start)),
               int(height * 0.15 + t * height * 0.7 + 10 * np.sin(t * 9)))
              for t in np.linspace(0.0, 1.0, 60)]
    cv2.polylines(chain_u8, [np.array(points, np.int32)], False, 255, 2, cv2.LINE_AA)
    chain = chain_u8.astype(np.float32) / 255.0
    image = image * (1 - chain[..., None]) + np.array((120, 110, 80), np.float32) * chain[..., None]

    image += rng.normal(0.0, noise, image.shape).astype(np.float32)
    rgb = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    return Scene(rgb=rgb, subject=(ring >= 0.5) | (chain >= 0.5),
                 hole=np.hypot(xx - cx, yy - cy) < r_in - 3, chain=chain_u8 >= 200,
                 highlight=(ring >= 0.99) & (specular >= 0.9))


@pytest.fixture(scope="module")
def paper_scene() -> Scene:
    return draw_ring_scene()


@pytest.fixture(scope="module")
def paper_matte(paper_scene) -> Matte:
    return segment_jewelry(paper_scene.rgb)


@pytest.fixture(scope="module")
def paper_alpha(paper_scene, paper_matte) -> np.ndarray:
    return matte_to_full_frame(paper_matte, paper_scene.rgb.shape[:2])


def test_ring_on_warm_paper_matches_known_mask(paper_scene, paper_alpha):
    assert mask_iou(paper_alpha >= 0.5, paper_scene.subject) > 0.95


def test_ring_hole_is_background(paper_scene, paper_alpha):
    assert paper_alpha[paper_scene.hole].mean() < 0.1
    assert np.quantile(paper_alpha[paper_scene.hole], 0.99) < 0.1


def test_two_pixel_chain_survives(paper_scene, paper_alpha):
    assert paper_alpha[paper_scene.chain].mean() > 0.5


def test_highlight_on_metal_is_not_punched(paper_scene, paper_alpha):
    assert paper_scene.highlight.sum() > 500
    assert paper_alpha[paper_scene.highlight].mean() > 0.9


def test_cast_shadow_stays_background(paper_scene, paper_alpha):
    near_ring = cv2.dilate(paper_scene.subject.astype(np.uint8), np.ones((9, 9), np.uint8))
    backdrop = ~near_ring.astype(bool)
    assert paper_alpha[backdrop].mean() < 0.01


def test_matte_shapes_dtypes_and_ranges(paper_scene, paper_matte):
    height, width = paper_scene.rgb.shape[:2]
    matte = paper_matte
    h, w = matte.alpha.shape
    assert matte.alpha.dtype == np.float32
    assert matte.foreground.dtype == np.uint8 and matte.foreground.shape == (h, w, 3)
    assert 0.0 <= matte.alpha.min() and matte.alpha.max() <= 1.0
    x0, y0, x1, y1 = matte.bbox
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    assert 0.0 < matte.scale <= 1.0
    assert (h, w) == (round((y1 - y0) * matte.scale), round((x1 - x0) * matte.scale))
    assert matte.backend == "classical"
    json.dumps(matte.stats)
    assert matte.stats["holes_cleared"] >= 1
    # The backdrop estimate is the paper, within its vignetting.
    assert np.abs(np.array(matte.background_rgb) - np.array(WARM_PAPER)).max() < 25


def test_full_frame_alpha_is_zero_outside_the_crop(paper_scene, paper_matte, paper_alpha):
    assert paper_alpha.shape == paper_scene.rgb.shape[:2] and paper_alpha.dtype == np.float32
    x0, y0, x1, y1 = paper_matte.bbox
    outside = np.ones(paper_alpha.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert not paper_alpha[outside].any()
    with pytest.raises(InvalidOptions):
        matte_to_full_frame(paper_matte, (10, 10))


def test_foreground_edges_are_decontaminated():
    # Dark metal on a white sweep: semi-transparent edge pixels must not keep the white.
    scene = draw_ring_scene(paper=WHITE_SWEEP, metal=(90, 90, 96), vignette=0.0, noise=0.0)
    matte = segment_jewelry(scene.rgb)
    edge = (matte.alpha > 0.2) & (matte.alpha < 0.8)
    assert edge.sum() > 100
    x0, y0, x1, y1 = matte.bbox
    observed = scene.rgb[y0:y1, x0:x1][edge].astype(float).mean()
    assert observed > 150  # the raw edge pixels are half white
    assert matte.foreground[edge].astype(float).mean() < 120


def test_white_sweep_highlight_and_hole():
    scene = draw_ring_scene(paper=WHITE_SWEEP, metal=(175, 175, 182), vignette=0.0, noise=0.0)
    alpha = matte_to_full_frame(segment_jewelry(scene.rgb), scene.rgb.shape[:2])
    assert mask_iou(alpha >= 0.5, scene.subject) > 0.95
    assert alpha[scene.hole].mean() < 0.1
    assert alpha[scene.highlight].mean() > 0.9


def test_read_only_input_is_not_mutated(paper_scene, paper_matte):
    rgb = paper_scene.rgb.copy()
    before = rgb.copy()
    rgb.setflags(write=False)
    matte = segment_jewelry(rgb)
    np.testing.assert_array_equal(rgb, before)
    # Deterministic: the same input gives the same matte.
    np.testing.assert_array_equal(matte.alpha, paper_matte.alpha)
    np.testing.assert_array_equal(matte.foreground, paper_matte.foreground)
    assert matte.bbox == paper_matte.bbox


def test_working_resolution_is_capped():
    scene = draw_ring_scene(900, 1200, seed=1)
    matte = segment_jewelry(scene.rgb, target_long_side=256)
    assert max(matte.alpha.shape) <= 256 and matte.scale < 1.0
    alpha = matte_to_full_frame(matte, scene.rgb.shape[:2])
    assert alpha[scene.hole].mean() < 0.1
    assert mask_iou(alpha >= 0.5, scene.subject) > 0.85


def test_locate_subject_on_proxy(paper_scene):
    mask, (x0, y0, x1, y1) = locate_subject(paper_scene.rgb)
    assert mask.shape == paper_scene.rgb.shape[:2] and mask.dtype == np.float32
    assert set(np.unique(mask)) <= {0.0, 1.0}
    rows, cols = np.nonzero(paper_scene.subject)
    assert x0 <= cols.min() + 2 and x1 >= cols.max() - 2
    assert y0 <= rows.min() + 2 and y1 >= rows.max() - 2
    assert mask[paper_scene.hole].mean() < 0.05


def test_flat_image_has_no_subject():
    rng = np.random.default_rng(3)
    flat = np.clip(rng.normal(200.0, 2.0, (300, 400, 3)), 0, 255).astype(np.uint8)
    with pytest.raises(SubjectNotFound):
        segment_jewelry(flat)
    with pytest.raises(SubjectNotFound):
        locate_subject(np.full((64, 64, 3), 255, np.uint8))


@pytest.mark.parametrize("bad", [
    np.zeros((100, 100), np.uint8),
    np.zeros((100, 100, 4), np.uint8),
    np.zeros((100, 100, 3), np.float32),
    np.zeros((8, 100, 3), np.uint8),
    [[0, 0, 0]],
])
def test_invalid_images_are_rejected(bad):
    with pytest.raises(InvalidImage):
        segment_jewelry(bad)


@pytest.mark.parametrize("options", [{"target_long_side": 10}, {"target_long_side": 512.0},
                                     {"margin": -0.1}, {"margin": 0.9}])
def test_invalid_options_are_rejected(paper_scene, options):
    with pytest.raises(InvalidOptions):
        segment_jewelry(paper_scene.rgb, **options)


def test_mask_metrics():
    truth = np.zeros((100, 100), bool)
    truth[20:80, 20:80] = True
    assert mask_iou(truth, truth) == 1.0
    assert mask_iou(np.zeros_like(truth), np.zeros_like(truth)) == 1.0
    shifted = np.roll(truth, 2, axis=1)
    assert mask_iou(shifted, truth) == pytest.approx(58 * 60 / (62 * 60))
    # A 2-px shift lies within the default 3-px band and is forgiven there.
    assert mask_iou_band(shifted, truth) == 1.0
    assert mask_iou_band(shifted, truth, band_px=0.5) < 1.0
    with pytest.raises(InvalidOptions):
        mask_iou(truth, truth[:50])


def test_flat_grey_ring_darker_than_paper_is_kept_by_its_sharp_outline():
    # Colour alone calls this band a shadow (darker backdrop, same hue); its crisp outline
    # says it is metal. The hole stays backdrop.
    height, width = 900, 1200
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    paper = 205.0 - 10.0 * (((xx - 600) / width) ** 2 + ((yy - 450) / height) ** 2)
    rgb = np.repeat(paper[..., None], 3, axis=2)
    truth = np.zeros((height, width), np.uint8)
    cv2.circle(truth, (600, 450), 190, 1, thickness=70, lineType=cv2.LINE_AA)
    rgb[truth.astype(bool)] = 160.0
    rgb += np.random.default_rng(3).normal(0, 1.2, rgb.shape)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    matte = segment_jewelry(rgb)
    alpha = matte_to_full_frame(matte, rgb.shape)
    assert mask_iou(alpha >= 0.5, truth.astype(bool)) > 0.9
    assert alpha[450, 600] < 0.1  # the ring's hole


def test_segmenter_core_reuses_the_locate_step_exactly():
    """The core keeps the locate step's localisation for the cut-out of the same photo:
    used once, and the matte is identical to a cold cut-out."""
    from lumograph.models.common.imageio import resize_long_side
    from lumograph.models.segmenter.core import SegmenterCore

    scene = draw_ring_scene(1500, 2000)
    scene.rgb.setflags(write=False)
    proxy = resize_long_side(scene.rgb, 1024)
    cold = SegmenterCore().segment_jewelry(scene.rgb, proxy.shape[:2])
    core = SegmenterCore()
    located = core.locate_jewelry(proxy)
    assert located["bbox"] is not None and len(core._recent) == 1
    warm = core.segment_jewelry(scene.rgb, proxy.shape[:2])
    assert len(core._recent) == 0  # used up: a repeat of the photo localises afresh
    assert np.array_equal(warm["matte"].alpha, cold["matte"].alpha)
    assert np.array_equal(warm["matte"].foreground, cold["matte"].foreground)
    assert warm["matte"].bbox == cold["matte"].bbox
    assert np.array_equal(warm["proxy_alpha"], cold["proxy_alpha"])
