"""The ``diffusers`` inpainter backend on a tiny random-weight pipeline built here.

The pipeline (UNet with 9 input channels, a two-block VAE, a two-layer CLIP text encoder,
a byte-level CLIP tokenizer built from an in-memory vocabulary, a DDIM scheduler) is
assembled from the libraries' own classes, saved with ``save_pretrained`` under
``tmp/weights/inpaint`` and loaded back through the production loader via
``InpainterCore``. Sockets are blocked for the whole module: building, saving, loading
and running must not touch the network. Random weights give noise, not fills, so the
assertions are about contracts: shapes, dtypes, determinism, untouched pixels, routing.
"""
import json
import socket

import cv2
import numpy as np
import pytest
import torch

from lumograph.bench.synthetic_listing import room_photo
from lumograph.models.common.errors import BackendUnavailable, InvalidImage, InvalidOptions
from lumograph.models.inpainter import BACKENDS, diffusion
from lumograph.models.inpainter.core import InpainterCore
from tests.tiny_models import build_tiny_inpaint, network_blocked

STEPS = 2


@pytest.fixture(scope="module", autouse=True)
def no_network():
    """Every connection attempt in this module fails loudly."""
    with network_blocked():
        yield


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Other test processes share these CPU cores: torch's intra-op threads then spin
    against each other (measured 4-9 s per tiny call at 2 threads under load, 0.15 s at
    one), so this module runs torch single-threaded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def weights(tmp_path_factory, no_network):
    root = tmp_path_factory.mktemp("w") / "weights"
    build_tiny_inpaint(root)
    return root


@pytest.fixture(scope="module")
def core(weights):
    return InpainterCore(backend="diffusers", weights_dir=str(weights), diffusion_steps=STEPS)


@pytest.fixture(scope="module")
def room():
    rgb = room_photo(800, 600, seed=1).rgb
    rgb.setflags(write=False)
    return rgb


def test_network_is_blocked():
    with pytest.raises(OSError, match="network access attempted"):
        socket.create_connection(("example.com", 80), timeout=1)


def test_registered_and_weights_described_without_loading(weights, tmp_path):
    assert BACKENDS["diffusers"].code() is diffusion
    info = diffusion.describe_weights(weights)
    assert info["ready"] is True and info["missing"] is None
    assert info["pipeline_class"] == "StableDiffusionInpaintPipeline"
    assert {"unet", "vae", "text_encoder", "tokenizer", "scheduler"} <= set(info["components"])
    assert all(c["present"] and c["files"] > 0 for c in info["components"].values())
    assert info["total_bytes"] > 0
    json.dumps(info)
    empty = diffusion.describe_weights(tmp_path)
    assert empty["ready"] is False and empty["missing"].endswith("inpaint/model_index.json")


def test_a_component_folder_missing_is_named(weights, tmp_path):
    (tmp_path / "inpaint").mkdir()
    index = json.loads((weights / "inpaint" / "model_index.json").read_text())
    (tmp_path / "inpaint" / "model_index.json").write_text(json.dumps(index))
    missing = diffusion.missing_weights(tmp_path)
    assert missing is not None and missing.startswith(str(tmp_path / "inpaint"))


def test_auto_picks_diffusers_with_weights_and_classical_without(weights, tmp_path):
    auto = InpainterCore(backend="auto", weights_dir=str(weights), diffusion_steps=STEPS)
    assert auto.selection.name == "diffusers" and auto.learned is not None
    assert auto.learned.describe()["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert auto.learned.native_size == 64
    assert auto.learned is InpainterCore(backend="diffusers", weights_dir=str(weights)).learned  # loaded once
    for weights_dir in (str(tmp_path), None):
        fallback = InpainterCore(backend="auto", weights_dir=weights_dir)
        assert fallback.selection.name == "classical" and fallback.learned is None


def test_explicit_diffusers_without_weights_fails_naming_the_path(tmp_path):
    with pytest.raises(BackendUnavailable) as info:
        InpainterCore(backend="diffusers", weights_dir=str(tmp_path))
    assert info.value.code == "weights_missing"
    assert str(tmp_path / "inpaint" / "model_index.json") in info.value.message
    with pytest.raises(BackendUnavailable):
        InpainterCore(backend="diffusers", weights_dir=None)


def test_remove_glare_fills_clipped_pixels_with_the_model(core, room):
    before = room.copy()
    classical = InpainterCore(backend="classical").remove_glare(room)
    out = core.remove_glare(room, seed=5)
    assert set(out) == {"rgb", "report", "applied", "backend"}
    assert out["backend"] == "diffusers" and out["report"]["backend"] == "diffusers"
    assert out["rgb"].shape == room.shape and out["rgb"].dtype == np.uint8 and out["applied"] is True
    report = out["report"]
    assert report["method"] == "specular_subtraction+diffusion_fill"
    assert report["regions"] == classical["report"]["regions"] == 1
    assert 0 < report["inpainted_share"] < 0.01
    diff = report["diffusion"]
    assert diff["task"] == "glare" and diff["steps"] == STEPS and diff["seed"] == 5 and diff["crops"]
    json.dumps(report)
    # Outside the model's crops the result is the classical one, and far from the
    # hot-spot both are bit-identical to the input.
    outside = np.ones(room.shape[:2], bool)
    for x0, y0, x1, y1 in (c["box"] for c in diff["crops"]):
        outside[y0:y1, x0:x1] = False
    assert np.array_equal(out["rgb"][outside], classical["rgb"][outside])
    assert not np.array_equal(out["rgb"], classical["rgb"])
    bx0, by0, bx1, by1 = report["boxes_norm"][0]
    far = np.ones(room.shape[:2], bool)
    far[int(by0 * 600) - 40:int(by1 * 600) + 40, int(bx0 * 800) - 40:int(bx1 * 800) + 40] = False
    assert np.array_equal(out["rgb"][far], room[far])
    assert np.array_equal(room, before)
    again = core.remove_glare(room, seed=5)
    assert np.array_equal(again["rgb"], out["rgb"])
    other = core.remove_glare(room, seed=6)
    assert not np.array_equal(other["rgb"], out["rgb"])


def test_inpaint_changes_only_the_feathered_hole_and_is_repeatable(core):
    rng = np.random.default_rng(0)
    rgb = (rng.random((96, 128, 3)) * 200).astype(np.uint8)
    rgb.setflags(write=False)
    mask = np.zeros((96, 128), np.float32)
    mask[40:56, 30:50] = 1.0
    mask[70:80, 100:110] = 1.0  # a second hole: its context overlaps, one crop or two
    mask.setflags(write=False)
    learned = core.learned
    first = learned.fill(rgb, mask, "sky", seed=1, steps=STEPS)
    assert first["rgb"].shape == rgb.shape and first["rgb"].dtype == np.uint8
    assert first["report"]["applied"] and first["report"]["hole_share"] == pytest.approx(mask.mean(), abs=1e-6)
    changed = np.any(first["rgb"] != rgb, axis=2)
    assert changed[mask >= 0.5].mean() > 0.9
    # Nothing further than the hole grow plus the feather's reach (~3 sigma) changes.
    near = cv2.dilate((mask >= 0.5).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    assert not changed[~near].any()
    assert np.array_equal(learned.fill(rgb, mask, "sky", seed=1, steps=STEPS)["rgb"], first["rgb"])
    # Context crops stay inside ``within``; the hole is only what lies inside it too.
    inside = learned.inpaint(rgb, mask, "a wall", seed=1, steps=STEPS, within=(20, 30, 64, 66))
    assert len(inside["report"]["crops"]) == 1  # the second hole lies outside ``within``
    for x0, y0, x1, y1 in (c["box"] for c in inside["report"]["crops"]):
        assert 20 <= x0 < x1 <= 64 and 30 <= y0 < y1 <= 66
    outside_within = np.ones((96, 128), bool)
    outside_within[30:66, 20:64] = False
    assert np.array_equal(inside["rgb"][outside_within], rgb[outside_within])
    nothing = learned.inpaint(rgb, np.zeros((96, 128), np.float32), "x", seed=0, steps=STEPS)
    assert nothing["report"]["applied"] is False and np.array_equal(nothing["rgb"], rgb)


def test_bad_requests_raise_typed_errors_quoting_the_value(core):
    learned = core.learned
    rgb = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(InvalidImage, match=r"\(32, 32\)"):
        learned.inpaint(rgb, np.zeros((32, 32), np.float32), "x")
    with pytest.raises(InvalidImage):
        learned.inpaint(np.zeros((64, 64), np.uint8), np.zeros((64, 64), np.float32), "x")
    with pytest.raises(InvalidOptions, match="0"):
        learned.inpaint(rgb, np.zeros((64, 64), np.float32), "x", steps=0)
    with pytest.raises(InvalidOptions, match="-1"):
        learned.inpaint(rgb, np.zeros((64, 64), np.float32), "x", seed=-1)
    with pytest.raises(InvalidOptions, match="'rainbow'"):
        learned.fill(rgb, np.zeros((64, 64), np.float32), "rainbow")
    with pytest.raises(InvalidOptions, match="'castle'"):
        core.stage_room(rgb, "castle", "modern", 0)
    with pytest.raises(InvalidOptions, match="'baroque'"):
        core.stage_room(rgb, "living", "baroque", 0)


def test_stage_room_generates_on_the_floor_only_and_is_repeatable(core):
    empty = room_photo(256, 192, seed=3).rgb
    empty.setflags(write=False)
    out = core.stage_room(empty, "living", "scandinavian", seed=11)
    assert set(out) == {"rgb", "report", "applied", "backend"} and out["backend"] == "diffusers"
    assert out["rgb"].shape == empty.shape and out["rgb"].dtype == np.uint8 and out["applied"] is True
    report = out["report"]
    assert report["room_type"] == "living" and report["style"] == "scandinavian"
    assert report["disclosure"] and "scandinavian" in report["prompt"] and report["backend"] == "diffusers"
    json.dumps(report)
    top = int(diffusion.STAGING_TOP * 192) - 10
    assert np.array_equal(out["rgb"][:top], empty[:top])  # walls, ceiling, windows stay
    assert not np.array_equal(out["rgb"][top + 20:], empty[top + 20:])
    assert np.array_equal(core.stage_room(empty, "living", "scandinavian", seed=11)["rgb"], out["rgb"])
    win = core.learned.synthesize_window_view(empty, (140, 30, 236, 118), seed=2, steps=STEPS)
    assert win["report"]["task"] == "window_view" and win["rgb"].shape == empty.shape


def test_classical_stage_room_is_unavailable_naming_the_weights(tmp_path):
    classical = InpainterCore(backend="classical", weights_dir=str(tmp_path))
    with pytest.raises(BackendUnavailable) as info:
        classical.stage_room(np.zeros((64, 64, 3), np.uint8), "bedroom", "modern", 0)
    assert info.value.code == "weights_missing"
    assert str(tmp_path / "inpaint" / "model_index.json") in info.value.message
    with pytest.raises(BackendUnavailable, match="model_index.json"):
        InpainterCore(backend="classical").stage_room(np.zeros((64, 64, 3), np.uint8), "bedroom", "modern", 0)


def test_mirror_cleanup_refills_the_person_from_the_mirror_only(core):
    # A public-domain NASA portrait shipped with scikit-image: a face the cascade finds.
    from skimage.data import astronaut

    rgb = room_photo(1600, 1200, tilt_deg=0).rgb.copy()
    rgb[300:600, 700:950] = astronaut()[0:300, 100:350]
    rgb.setflags(write=False)
    mirror = {"present": True, "bbox_norm": [0.40, 0.20, 0.65, 0.55], "confidence": 0.8}
    out = core.mirror_cleanup(rgb, mirror, seed=4)
    assert out["applied"] is True and out["backend"] == "diffusers" and out["report"]["person_found"]
    assert out["report"]["diffusion"]["task"] == "reflection" and "diffusion" in out["report"]["reason"]
    x0, y0, x1, y1 = 640, 240, 1040, 660  # the mirror box in pixels
    outside = np.ones(rgb.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out["rgb"][outside], rgb[outside])
    assert not np.array_equal(out["rgb"][y0:y1, x0:x1], rgb[y0:y1, x0:x1])
    none = core.mirror_cleanup(rgb, None)
    assert none["applied"] is False and none["backend"] == "diffusers" and np.array_equal(none["rgb"], rgb)


def test_staging_schema_matches_the_prompts():
    # The HTTP schema and the prompt tables must name the same rooms and styles.
    from typing import get_args

    from lumograph.serve.schemas import StagingRoom, StagingStyle

    assert set(get_args(StagingRoom)) == set(diffusion.STAGING_ROOMS)
    assert set(get_args(StagingStyle)) == set(diffusion.STAGING_STYLES)


def _blown_room():
    room = room_photo(320, 240, seed=2)
    rgb = room.rgb.copy()
    x0, y0, x1, y1 = room.windows[0]
    rgb[y0 + 4:y1 - 4, x0 + 4:x1 - 4] = 253
    rgb.setflags(write=False)
    return rgb, room.windows


def test_fully_blown_windows_get_a_generated_view_inside_the_glass_only(core):
    rgb, boxes = _blown_room()
    windows = [{"bbox": list(boxes[0]), "stops_over_interior": 2.8, "clipped_share": 1.0, "blown_share": 1.0},
               {"bbox": list(boxes[1]), "stops_over_interior": 2.8, "clipped_share": 0.9, "blown_share": 0.4}]
    out = core.synthesize_window_views(rgb, windows, None, seed=5)
    assert out["applied"] is True and out["backend"] == "diffusers"
    first, second = out["report"]["windows"]
    assert first["synthesized"] is True and first["diffusion"]["task"] == "window_view"
    assert first["diffusion"]["glass"] == "box" and second["synthesized"] is False
    assert out["report"]["synthesized"] == 1 and "generated" in out["report"]["disclosure"]
    x0, y0, x1, y1 = boxes[0]
    outside = np.ones(rgb.shape[:2], bool)
    feather = 12  # the hole's grow and the paste's feather
    outside[y0 - feather:y1 + feather, x0 - feather:x1 + feather] = False
    assert np.array_equal(out["rgb"][outside], rgb[outside])
    assert not np.array_equal(out["rgb"][y0 + 8:y1 - 8, x0 + 8:x1 - 8], rgb[y0 + 8:y1 - 8, x0 + 8:x1 - 8])
    assert np.array_equal(core.synthesize_window_views(rgb, windows, None, seed=5)["rgb"], out["rgb"])
    # A glass mask of the left half keeps the right half of the box the camera's.
    glass = np.zeros((20, 20), np.float32)
    glass[:, :10] = 1.0
    masked = core.synthesize_window_views(rgb, windows[:1], [glass], seed=5)
    assert masked["report"]["windows"][0]["diffusion"]["glass"] == "mask"
    right = (slice(y0, y1), slice((x0 + x1) // 2 + feather, x1))
    assert np.array_equal(masked["rgb"][right], rgb[right])
    with pytest.raises(InvalidOptions, match="one entry per window"):
        core.synthesize_window_views(rgb, windows, [None], seed=5)


def test_classical_inpainter_generates_no_view_and_no_sky(tmp_path):
    rgb, boxes = _blown_room()
    classical = InpainterCore(backend="classical", weights_dir=str(tmp_path))
    window = {"bbox": list(boxes[0]), "stops_over_interior": 2.8, "clipped_share": 1.0, "blown_share": 1.0}
    out = classical.synthesize_window_views(rgb, [window], None, seed=0)
    assert out["applied"] is False and out["rgb"] is rgb
    assert "diffusers" in out["report"]["windows"][0]["reason"]
    plate = classical.sky_plate(rgb, np.ones(rgb.shape[:2], np.float32), "clear_blue", 0)
    assert plate["plate"] is None and "procedural" in plate["report"]["reason"]


def test_sky_plate_spans_the_width_down_past_the_sky_and_is_repeatable(core):
    from lumograph.bench.synthetic_listing import exterior_photo

    ext = exterior_photo(320, 240, seed=1)
    rgb = ext.rgb.copy()
    rgb.setflags(write=False)
    matte = ext.sky.astype(np.float32)
    out = core.sky_plate(rgb, matte, "high_clouds", seed=9)
    plate, box = out["plate"], out["box_norm"]
    assert plate.dtype == np.uint8 and plate.ndim == 3 and plate.shape[2] == 3
    assert box[:3] == [0.0, 0.0, 1.0] and 0.0 < box[3] <= 1.0
    bottom = np.nonzero(matte.max(axis=1) > 0)[0][-1] / 240
    assert box[3] >= bottom
    assert out["report"]["style"] == "high_clouds" and "cirrus" in out["report"]["prompt"]
    assert max(plate.shape[:2]) == core.learned.native_size and plate.shape[0] % 8 == 0
    assert np.array_equal(core.sky_plate(rgb, matte, "high_clouds", seed=9)["plate"], plate)
    # A matte on a grid one pixel off is resized by the core; no sky, no plate.
    assert core.sky_plate(rgb, np.ones((239, 320), np.float32), "clear_blue", 0)["plate"] is not None
    none = core.sky_plate(rgb, np.zeros((240, 320), np.float32), "clear_blue", 0)
    assert none["plate"] is None and none["box_norm"] is None
    with pytest.raises(InvalidOptions, match="'sunset'"):
        core.sky_plate(rgb, matte, "sunset", 0)
