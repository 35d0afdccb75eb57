"""Room-aware colour grade on a synthetic room of known neutral surfaces under a known light."""
import json

import cv2
import numpy as np
import pytest

from lumograph.models.common.errors import InvalidImage, InvalidOptions
from lumograph.models.grader.illuminant import angular_error_deg
from lumograph.models.grader.room_grade import ROOM_LOOKS, ROOM_TYPES, grade_room, measure_cast

WARM = np.array([1.0, 0.80, 0.56])  # tungsten-like light, ~13 deg from neutral
WALL = (slice(40, 150), slice(20, 300))  # neutral white wall (reflectance 0.7)
RAMP_Y = slice(170, 200)
RAMP_STEPS = 16


def _encode(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0, 1)
    s = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.clip(s * 255 + 0.5, 0, 255).astype(np.uint8)


def synthetic_room(light=WARM, exposure: float = 0.3, seed: int = 0) -> np.ndarray:
    """480x640 room: neutral wall, neutral grey ramp, grey floor, wood, coloured cushions
    and a blown window, all lit by ``light``; HxWx3 uint8 sRGB."""
    rng = np.random.default_rng(seed)
    refl = np.zeros((480, 640, 3))
    refl[:] = 0.7  # white paint
    refl[330:] = 0.22  # grey carpet
    refl[WALL] = 0.7
    for k in range(RAMP_STEPS):  # neutral reflectance ramp 0.02 .. 0.9
        refl[RAMP_Y, 20 + 36 * k: 20 + 36 * (k + 1)] = 0.02 + 0.88 * k / (RAMP_STEPS - 1)
    refl[230:320, 40:260] = (0.45, 0.28, 0.14)  # wood sideboard
    refl[250:300, 320:380] = (0.55, 0.08, 0.07)  # red cushion
    refl[250:300, 400:460] = (0.08, 0.35, 0.12)  # green plant
    refl[250:300, 480:540] = (0.10, 0.14, 0.45)  # blue throw
    lin = refl * np.asarray(light) * exposure
    lin[30:150, 380:600] = 3.0  # window: far over the clip level in every channel
    lin *= 1 + 0.01 * rng.standard_normal(lin.shape[:2])[..., None]
    return _encode(lin)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)


def _wall_chroma(rgb: np.ndarray) -> tuple[float, float]:
    lab = _lab(rgb)[WALL]
    return float(lab[..., 1].mean()), float(lab[..., 2].mean())


@pytest.fixture(scope="module")
def room():
    return synthetic_room()


@pytest.fixture(scope="module")
def graded(room):
    return {r: grade_room(room, r) for r in ("kitchen", "living", "bathroom", "bedroom", "dining", "other",
                                             "exterior")}


def test_measure_cast_reads_the_light(room):
    m = measure_cast(room)
    assert set(m) == {"cast_deg", "illuminant_rgb", "median_luminance", "clipped_share", "dark_share"}
    assert m["cast_deg"] > 6.0
    assert angular_error_deg(m["illuminant_rgb"], WARM) < 5.0
    assert 0.0 <= m["median_luminance"] <= 1.0
    assert 0.05 < m["clipped_share"] < 0.15  # the window: 120 x 220 of 480 x 640 = 8.6 %
    json.dumps(m)
    neutral = measure_cast(synthetic_room(light=(1.0, 1.0, 1.0)))
    assert neutral["cast_deg"] < 2.0


def test_grade_reduces_the_cast(graded):
    for room, out in graded.items():
        rep = out["report"]
        assert rep["cast_deg_after"] < rep["cast_deg_before"], (room, rep)
    assert graded["bathroom"]["report"]["cast_deg_after"] < 3.0


def test_kitchen_is_cooler_and_brighter_than_living(graded):
    _, b_kitchen = _wall_chroma(graded["kitchen"]["rgb"])
    _, b_living = _wall_chroma(graded["living"]["rgb"])
    assert b_kitchen < b_living - 3.0
    assert (graded["kitchen"]["report"]["median_luminance_after"]
            > graded["living"]["report"]["median_luminance_after"])


def test_living_stays_warm_but_less_than_the_raw_light(room, graded):
    _, b_raw = _wall_chroma(room)
    _, b_living = _wall_chroma(graded["living"]["rgb"])
    assert 0.0 < b_living < b_raw


def test_bathroom_is_the_most_neutral(graded):
    chroma = {r: float(np.hypot(*_wall_chroma(o["rgb"]))) for r, o in graded.items()}
    assert min(chroma, key=chroma.get) == "bathroom", chroma
    assert chroma["bathroom"] < 3.0


def test_exposure_is_lifted_toward_the_room_target(room, graded):
    before = graded["kitchen"]["report"]["median_luminance_before"]
    assert before < ROOM_LOOKS["kitchen"].target_median
    assert graded["kitchen"]["report"]["median_luminance_after"] > before + 0.05


def test_no_new_clipping(room, graded):
    clipped_before = float((room == 255).any(axis=2).mean())
    for room_type, out in graded.items():
        clipped_after = float((out["rgb"] == 255).any(axis=2).mean())
        assert clipped_after <= clipped_before + 0.002, room_type
        # The blown window stays pure white: it is not tinted by the white balance.
        assert (out["rgb"][40:140, 390:590] == 255).all(), room_type


def test_grey_levels_keep_their_order(graded):
    for room_type, out in graded.items():
        grey = cv2.cvtColor(out["rgb"], cv2.COLOR_RGB2GRAY).astype(np.float64)
        steps = [grey[RAMP_Y, 20 + 36 * k + 8: 20 + 36 * (k + 1) - 8].mean() for k in range(RAMP_STEPS)]
        assert np.all(np.diff(steps) > 0), (room_type, steps)


def test_report_is_jsonable_and_complete(graded):
    rep = graded["kitchen"]["report"]
    for key in ("room_type", "params", "cast_deg_before", "cast_deg_after", "median_luminance_before",
                "median_luminance_after"):
        assert key in rep
    assert {"wb_strength", "white_cct_k", "exposure_ev", "channel_gains", "why"} <= set(rep["params"])
    json.dumps(rep)


def test_every_accepted_room_grades_and_keeps_the_shape(room):
    assert set(ROOM_TYPES) == {"kitchen", "bathroom", "bedroom", "living", "dining", "other", "interior",
                               "exterior"}
    out = grade_room(room, "interior")
    assert out["rgb"].shape == room.shape and out["rgb"].dtype == np.uint8


def test_read_only_input_is_not_mutated(room):
    frozen = room.copy()
    frozen.setflags(write=False)
    grade_room(frozen, "kitchen")
    measure_cast(frozen)
    assert np.array_equal(frozen, room)


def test_unknown_room_is_rejected_with_its_name(room):
    with pytest.raises(InvalidOptions, match="garage"):
        grade_room(room, "garage")
    with pytest.raises(InvalidOptions):
        grade_room(room, None)


@pytest.mark.parametrize("bad", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.float32),
                                 np.zeros((4, 64, 3), np.uint8)])
def test_bad_image_raises(bad):
    with pytest.raises(InvalidImage):
        grade_room(bad, "kitchen")
    with pytest.raises(InvalidImage):
        measure_cast(bad)


def test_black_frame_does_not_crash():
    out = grade_room(np.zeros((64, 64, 3), np.uint8), "living")
    assert out["rgb"].shape == (64, 64, 3)
