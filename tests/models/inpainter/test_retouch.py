"""Retouch: specular hot-spots found and removed, windows and lamps left alone, a face in
a mirror found and filled, contracts (no mutation, typed errors)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lumograph.bench.synthetic_listing import room_photo
from lumograph.models.common.errors import InvalidImage, InvalidOptions
from lumograph.models.inpainter.core import InpainterCore
from lumograph.models.inpainter.glare import find_hotspots, hotspot_share, remove_glare
from lumograph.models.inpainter.mirror import find_person_in_mirror, inpaint_box, mirror_cleanup
from tests.eval_data import require_eval

SPOTS = [(0.25, 0.4), (0.6, 0.3), (0.7, 0.7)]  # (x, y) fractions
SIGMA = 0.012  # share of the width


def _srgb(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0, 1)
    s = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(lin, 1 / 2.4) - 0.055)
    return np.clip(s * 255 + 0.5, 0, 255).astype(np.uint8)


def _textured(w=1200, h=900, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """A warm, softly textured surface (linear light) and the same with Gaussian
    specular spots added; returns (clean, glare) as uint8 sRGB."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 3)
    base = np.array([0.30, 0.18, 0.09], np.float32)[None, None, :] * (1 + 0.25 * noise)[..., None]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    spec = np.zeros((h, w), np.float32)
    for x, y in SPOTS:
        spec += 0.55 * np.exp(-(((xx - x * w) ** 2 + (yy - y * h) ** 2) / (2 * (SIGMA * w) ** 2)))
    return _srgb(base), _srgb(base + spec[..., None])


def _psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255 ** 2 / mse)


def _inside(point, box) -> bool:
    x, y = point
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def test_gaussian_spots_are_found_each_inside_a_box_with_the_right_share():
    clean, glare = _textured()
    found = find_hotspots(glare)
    assert found["regions"] == len(SPOTS)
    for spot in SPOTS:
        assert any(_inside(spot, b) for b in found["boxes_norm"]), (spot, found["boxes_norm"])
    # Each spot shows over roughly a disc of 1.5-3 sigma radius.
    disc = np.pi * (SIGMA * 1200) ** 2 / (1200 * 900)
    assert 1.5 ** 2 * disc * len(SPOTS) <= found["share"] <= 3.5 ** 2 * disc * len(SPOTS)
    gh, gw = found["grid_hw"]
    assert found["mask"].shape == (gh, gw) and found["mask"].dtype == np.float32
    assert max(gh, gw) <= 1024
    assert hotspot_share(cv2.resize(glare, (gw, gh), interpolation=cv2.INTER_AREA)) == pytest.approx(
        found["share"], rel=0.05)


def test_remove_glare_restores_the_surface_and_leaves_the_rest_alone():
    clean, glare = _textured()
    glare.setflags(write=False)
    result = remove_glare(glare)
    assert result["applied"] is True
    out = result["rgb"]
    assert out.shape == glare.shape and out.dtype == np.uint8
    assert _psnr(out, clean) > _psnr(glare, clean) + 3
    h, w = glare.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    far = np.ones((h, w), bool)
    for x, y in SPOTS:
        far &= (xx - x * w) ** 2 + (yy - y * h) ** 2 > (6 * SIGMA * w) ** 2
    assert np.array_equal(out[far], glare[far])
    rep = result["report"]
    assert rep["regions"] == 3 and "specular_subtraction" in rep["method"]
    assert rep["inpainted_share"] == 0.0  # nothing clipped: subtraction only


def test_a_blown_window_is_not_glare_and_nothing_found_leaves_the_image_equal():
    clean, _ = _textured()
    window = clean.copy()
    cv2.rectangle(window, (700, 150), (1050, 500), (255, 255, 255), -1)
    found = find_hotspots(window)
    assert found["regions"] == 0 and found["share"] == 0.0
    result = remove_glare(window)
    assert result["applied"] is False
    assert np.array_equal(result["rgb"], window) and result["rgb"] is not window


def test_room_photo_flash_spot_found_lamp_and_windows_left_alone():
    room = room_photo(1600, 1200)
    found = find_hotspots(room.rgb)
    assert found["regions"] >= 1
    assert any(_inside((0.2, 0.55), b) for b in found["boxes_norm"])
    # The ceiling lamp (0.4 W, 0.05 H) is a light source, the windows are blown areas.
    assert not any(_inside((0.4, 0.05), b) for b in found["boxes_norm"])
    for x0, y0, x1, y1 in room.windows:
        centre = ((x0 + x1) / 2 / 1600, (y0 + y1) / 2 / 1200)
        assert not any(_inside(centre, b) for b in found["boxes_norm"])
    result = remove_glare(room.rgb)
    assert result["applied"] and result["report"]["inpainted_share"] > 0  # clipped core
    x, y = int(0.2 * 1600), int(0.55 * 1200)
    spot_before = room.rgb[y - 8:y + 8, x - 8:x + 8].astype(float).mean()
    spot_after = result["rgb"][y - 8:y + 8, x - 8:x + 8].astype(float).mean()
    assert spot_after < spot_before - 40


def test_mirror_none_or_absent_is_not_applied():
    room = room_photo(640, 480, tilt_deg=0)
    for mirror in (None, {"present": False, "bbox_norm": None, "confidence": 0.1}):
        result = mirror_cleanup(room.rgb, mirror)
        assert result["applied"] is False and result["report"]["person_found"] is False
        assert np.array_equal(result["rgb"], room.rgb)
        assert result["report"]["reason"]


def _room_with_face() -> tuple[np.ndarray, dict, tuple[int, int, int, int]]:
    from skimage.data import astronaut  # public-domain NASA portrait shipped with skimage

    room = room_photo(1600, 1200, tilt_deg=0).rgb.copy()
    room[300:600, 700:950] = astronaut()[0:300, 100:350]
    mirror = {"present": True, "bbox_norm": [0.40, 0.20, 0.65, 0.55], "confidence": 0.8}
    return room, mirror, (640, 240, 1040, 660)


@pytest.mark.parametrize("detector, name", [("cascade", "lbp_face"), ("blazeface", "blazeface")])
def test_a_face_in_the_mirror_is_found_and_filled(detector, name):
    rgb, mirror, box = _room_with_face()
    rgb.setflags(write=False)
    found = find_person_in_mirror(rgb, box, detector)
    assert found is not None and found["detector"] == name and found["confident"]
    fx0, fy0, fx1, fy1 = found["face_box"]
    assert 700 <= fx0 and fx1 <= 950 and 300 <= fy0 and fy1 <= 600  # on the pasted face
    px0, py0, px1, py1 = found["person_box"]
    assert px0 <= fx0 and py0 <= fy0 and px1 >= fx1 and py1 >= fy1  # the fill holds the face
    result = mirror_cleanup(rgb, mirror, detector)
    assert result["applied"] is True and result["report"]["person_found"] is True
    assert result["report"]["detector"] == name
    assert result["report"]["confidence"] >= 0.5
    out = result["rgb"]
    px0, py0, px1, py1 = (int(v * s) for v, s in zip(result["report"]["person_box_norm"], (1600, 1200, 1600, 1200)))
    assert np.abs(out[py0:py1, px0:px1].astype(int) - rgb[py0:py1, px0:px1]).mean() > 10
    x0, y0, x1, y1 = box
    outside = np.ones(rgb.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(out[outside], rgb[outside])  # the fill stays inside the mirror


def test_mirror_clean_up_looks_with_blazeface_and_falls_back_to_the_cascade(monkeypatch):
    from lumograph.models.common import blazeface

    rgb, mirror, box = _room_with_face()
    assert mirror_cleanup(rgb, mirror)["report"]["detector"] == "blazeface"
    monkeypatch.setattr(blazeface, "PACKAGE", "no_such_package_here")
    assert mirror_cleanup(rgb, mirror)["report"]["detector"] == "lbp_face"
    with pytest.raises(InvalidOptions, match="detector"):
        mirror_cleanup(rgb, mirror, "yolo")


def test_inpaint_box_fills_from_the_surroundings():
    flat = np.full((200, 300, 3), (120, 90, 60), np.uint8)
    marked = flat.copy()
    marked[80:120, 130:170] = (10, 200, 10)
    marked.setflags(write=False)
    out = inpaint_box(marked, (125, 75, 175, 125))
    assert np.abs(out[80:120, 130:170].astype(int) - flat[80:120, 130:170]).max() <= 6
    with pytest.raises(InvalidOptions, match="500"):
        inpaint_box(marked, (0, 0, 500, 10))


def test_inputs_are_not_mutated_and_core_reports_backend():
    _, glare = _textured(600, 450)
    glare.setflags(write=False)
    before = glare.copy()
    core = InpainterCore()
    result = core.remove_glare(glare)
    assert result["backend"] == "classical" and result["report"]["backend"] == "classical"
    cleaned = core.mirror_cleanup(glare, None)
    assert cleaned["backend"] == "classical" and cleaned["applied"] is False
    assert np.array_equal(glare, before)


@pytest.mark.parametrize("bad", [np.zeros((50, 50), np.uint8), np.zeros((50, 50, 3), np.float32),
                                 np.zeros((8, 8, 3), np.uint8), "not an image"])
def test_bad_images_raise_invalid_image(bad):
    for fn in (find_hotspots, remove_glare, hotspot_share):
        with pytest.raises(InvalidImage):
            fn(bad)
    with pytest.raises(InvalidImage):
        mirror_cleanup(bad, None)


def test_bad_mirror_raises_invalid_options_quoting_it():
    rgb = np.full((64, 64, 3), 128, np.uint8)
    with pytest.raises(InvalidOptions, match=r"1\.5"):
        mirror_cleanup(rgb, {"present": True, "bbox_norm": [0.1, 0.1, 1.5, 0.5]})
    with pytest.raises(InvalidOptions, match="list"):
        mirror_cleanup(rgb, ["list"])


@pytest.mark.data
def test_specular_eval_psnr_improves_on_every_image(tmp_path):
    specular = require_eval("specular")
    from lumograph.bench.eval_specular import eval_specular

    result = eval_specular(specular, tmp_path)
    assert result["n"] >= 1
    for name, row in result["per_image"].items():
        assert row["psnr_after"] > row["psnr_before"], (name, row)
    assert result["improved_all"] is True
    assert (tmp_path / "specular.png").exists()
