"""Sky module: matte, condition, generated skies, replacement and day-to-dusk.

Synthetic images with known answers (``bench.synthetic_listing``) plus a regression
floor on the real ADE20K sky masks (tests/eval_data.py: skipped when absent, failed in CI).
"""

import cv2
import numpy as np
import pytest

from lumograph.bench.synthetic_listing import exterior_photo, room_photo
from lumograph.models.common.errors import InvalidImage, InvalidOptions
from lumograph.models.compositor.dusk import day_to_dusk, detect_facade_windows
from lumograph.models.compositor.sky_replace import SKY_STYLES, generate_sky, replace_sky
from lumograph.models.segmenter.sky_matte import segment_sky
from tests.eval_data import require_eval

PROXY = (1024, 768)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@pytest.fixture(scope="module")
def exterior():
    ex = exterior_photo(1600, 1200, seed=0)
    proxy = cv2.resize(ex.rgb, PROXY, interpolation=cv2.INTER_AREA)
    sky = cv2.resize(ex.sky, PROXY, interpolation=cv2.INTER_AREA)
    return ex, _readonly(proxy), sky


@pytest.fixture(scope="module")
def exterior_seg(exterior):
    return segment_sky(exterior[1], scene="exterior")


def _clear_sky_exterior(w: int = 1024, h: int = 768, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A blue graded sky over a textured green/brown ground with a bushy tree: rgb, sky mask."""
    rng = np.random.default_rng(seed)
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    img = np.zeros((h, w, 3), np.float32)
    sky_col = np.array([60, 120, 210], np.float32) * (1 - yy[..., None] * 0.6) + \
        np.array([180, 210, 240], np.float32) * (yy[..., None] * 0.6)
    img[:] = sky_col
    sky = np.zeros((h, w), np.uint8)
    horizon = int(0.5 * h)
    sky[:horizon] = 1
    bush = np.zeros((h, w), np.uint8)
    for _ in range(40):  # a lumpy tree crown
        cx, cy = int(rng.uniform(0.6, 0.8) * w), int(rng.uniform(0.3, 0.5) * h)
        cv2.circle(bush, (cx, cy), int(rng.uniform(0.03, 0.06) * w), 1, -1)
    sky[bush.astype(bool)] = 0
    ground = ~sky.astype(bool)
    tex = rng.uniform(0.7, 1.3, (h, w, 1)).astype(np.float32)
    img[ground] = (np.array([70, 110, 50], np.float32) * tex)[ground]
    img[horizon + 40:] = (np.array([120, 95, 70], np.float32) * tex[horizon + 40:])
    img += rng.normal(0, 1.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), sky.astype(np.float32)


def _iou(matte: np.ndarray, gt: np.ndarray) -> float:
    pred, ref = matte >= 0.5, gt >= 0.5
    return float((pred & ref).sum() / max(1, (pred | ref).sum()))


# ------------------------------------------------------------------ segment_sky


def test_matte_matches_the_known_sky(exterior, exterior_seg):
    _, proxy, sky = exterior
    matte = exterior_seg["matte"]
    assert matte.shape == proxy.shape[:2] and matte.dtype == np.float32
    assert 0.0 <= float(matte.min()) and float(matte.max()) <= 1.0
    assert _iou(matte, sky) > 0.9
    assert abs(exterior_seg["fraction"] - float((sky >= 0.5).mean())) < 0.03


def test_wire_is_not_sky_at_full_strength(exterior, exterior_seg):
    _, proxy, _ = exterior
    h, w = proxy.shape[:2]
    wire = np.zeros((h, w), np.uint8)
    cv2.line(wire, (0, int(0.12 * h)), (w, int(0.2 * h)), 1, 1)
    # Away from the roof and the tree, where the wire crosses open sky.
    wire[:, int(0.1 * w):] = 0
    on_wire = exterior_seg["matte"][wire.astype(bool)]
    assert on_wire.size > 20
    assert float(on_wire.mean()) < 0.8


def test_grey_sky_needs_replacement(exterior_seg):
    assert exterior_seg["condition"] in ("grey", "overcast")
    assert exterior_seg["needs_replacement"] is True
    for key in ("mean_saturation", "blue_share", "luminance", "texture"):
        assert isinstance(exterior_seg["measures"][key], float)


def test_clear_blue_sky_is_clear_and_kept():
    rgb, sky = _clear_sky_exterior()
    result = segment_sky(_readonly(rgb))
    assert result["condition"] == "clear"
    assert result["needs_replacement"] is False
    assert _iou(result["matte"], sky) > 0.9


def test_blown_sky_over_an_overexposed_exterior_is_found():
    # The whole frame is bright (white house, white concrete: median L above 90): a sky
    # clipped to white cannot stand 10 L above it, and must still be found and replaced.
    rng = np.random.default_rng(0)
    h, w = 600, 900
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:] = (236, 234, 228)  # pale concrete and siding
    rgb[270:330] = (120, 110, 100)  # a darker roof band along the skyline
    rgb[330:] += rng.normal(0, 6, (h - 330, w, 3))
    rgb[:270] = 255.0
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    sky = np.zeros((h, w), np.float32)
    sky[:270] = 1.0
    result = segment_sky(_readonly(rgb), scene="exterior")
    assert _iou(result["matte"], sky) > 0.9
    assert result["needs_replacement"] is True


def test_interior_has_no_sky():
    room = room_photo(1024, 768, tilt_deg=0.0, seed=0)
    result = segment_sky(_readonly(room.rgb))
    assert result["condition"] == "none"
    assert result["needs_replacement"] is False
    assert result["fraction"] == 0.0
    assert float(result["matte"].max()) == 0.0


def _tree_under_white_sky(w: int = 1024, h: int = 768, seed: int = 0):
    """An overcast white sky over a facade (dark roof band), a dense tree crown whose
    small gaps show the sky, a white wall under the roof reaching the ground and a
    white vent under the roof near the tree. Returns rgb, sky, gaps, wall, vent masks."""
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.float32)
    img[:] = (246, 247, 249)
    horizon = int(0.45 * h)
    sky = np.zeros((h, w), bool)
    sky[:horizon] = True
    tex = cv2.resize(rng.uniform(0.85, 1.15, (h // 8, w // 8)).astype(np.float32), (w, h))[..., None]
    img[horizon:] = np.array([150, 128, 105], np.float32) * tex[horizon:]
    img[horizon:horizon + int(0.05 * h)] = (70, 60, 55)
    wall = np.zeros((h, w), bool)
    wall[horizon + int(0.05 * h):, int(0.05 * w):int(0.2 * w)] = True
    img[wall] = (238, 239, 240)
    vent = np.zeros((h, w), bool)
    vent[horizon + int(0.08 * h):horizon + int(0.12 * h), int(0.55 * w):int(0.57 * w)] = True
    img[vent] = (244, 245, 246)
    crown = np.zeros((h, w), np.uint8)
    cv2.ellipse(crown, (int(0.72 * w), int(0.27 * h)), (int(0.17 * w), int(0.18 * h)), 0, 0, 360, 1, -1)
    leaves = np.zeros((h, w), np.uint8)
    for _ in range(5000):
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        if crown[cy, cx]:
            cv2.circle(leaves, (cx, cy), int(rng.integers(3, 8)), 1, -1)
    leaves = leaves.astype(bool) & crown.astype(bool)
    shade = cv2.resize(rng.uniform(0.5, 1.4, (h // 3, w // 3)).astype(np.float32), (w, h))[..., None]
    img[leaves] = (np.array([55, 85, 40], np.float32) * shade)[leaves]
    cv2.line(img, (int(0.72 * w), int(0.45 * h)), (int(0.72 * w), h), (60, 45, 35), 14)
    gaps = crown.astype(bool) & ~leaves
    img += rng.normal(0, 1.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), (sky & ~leaves) | gaps, gaps, wall, vent


def test_sky_seen_through_foliage_joins_the_matte_and_walls_stay_out():
    rgb, sky, gaps, wall, vent = _tree_under_white_sky()
    result = segment_sky(_readonly(rgb), scene="exterior")
    pred = result["matte"] >= 0.5
    # Without the foliage step only ~40 % of the gaps (those next to the open sky) join.
    assert pred[gaps].mean() >= 0.8
    assert result["measures"]["sky_behind_foliage"] > 0.0
    assert _iou(result["matte"], sky.astype(np.float32)) >= 0.95
    # A white wall under the roof and a white vent beside the tree are not sky.
    assert pred[wall].mean() <= 0.01 and not pred[vent].any()
    assert float(result["matte"].min()) >= 0.0 and float(result["matte"].max()) <= 1.0


def test_bad_inputs_raise_typed_errors():
    with pytest.raises(InvalidImage):
        segment_sky(np.zeros((100, 100), np.uint8))
    with pytest.raises(InvalidImage):
        segment_sky(np.zeros((100, 100, 3), np.float32))
    with pytest.raises(InvalidImage):
        segment_sky(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InvalidOptions):
        segment_sky(np.zeros((64, 64, 3), np.uint8), scene="garden")


# ---------------------------------------------------------------- generate_sky


def test_generated_skies_are_deterministic_graded_and_distinct():
    skies = {s: generate_sky(s, 640, 360, seed=3) for s in SKY_STYLES}
    for style, sky in skies.items():
        assert sky.shape == (360, 640, 3) and sky.dtype == np.uint8
        np.testing.assert_array_equal(sky, generate_sky(style, 640, 360, seed=3))
        top, bottom = sky[:40].astype(float).mean((0, 1)), sky[-40:].astype(float).mean((0, 1))
        assert top[2] > top[0] + 40, style  # blue at the zenith
        assert bottom.mean() > top.mean(), style  # paler toward the horizon
        assert float(sky.std()) > 8.0  # not a flat fill
    assert not np.array_equal(skies["clear_blue"], skies["light_clouds"])
    assert not np.array_equal(skies["light_clouds"], skies["high_clouds"])
    assert not np.array_equal(generate_sky("light_clouds", 640, 360, seed=4), skies["light_clouds"])
    # Clouds add local texture that a clear sky does not have.
    lap = {s: float(np.abs(cv2.Laplacian(cv2.GaussianBlur(sky, (0, 0), 2).astype(np.float32), cv2.CV_32F)).mean())
           for s, sky in skies.items()}
    assert lap["light_clouds"] > lap["clear_blue"]


def test_generate_sky_rejects_bad_options():
    with pytest.raises(InvalidOptions):
        generate_sky("sunset_orange", 100, 100, 0)
    with pytest.raises(InvalidOptions):
        generate_sky("clear_blue", 0, 100, 0)


# ----------------------------------------------------------------- replace_sky


def test_replace_sky_swaps_sky_keeps_foreground_and_leaves_no_halo(exterior, exterior_seg):
    ex = exterior[0]
    rgb = _readonly(ex.rgb)
    before = rgb.copy()
    result = replace_sky(rgb, exterior_seg["matte"], "light_clouds", 7)
    np.testing.assert_array_equal(rgb, before)
    out = result["rgb"]
    assert out.shape == rgb.shape and out.dtype == np.uint8
    sky = ex.sky.astype(bool)
    deep_sky = cv2.erode(ex.sky.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    # The grey sky became blue.
    new = out[deep_sky].astype(float).mean(0)
    old = rgb[deep_sky].astype(float).mean(0)
    assert new[2] - new[0] > 30 and abs(old[2] - old[0]) < 10
    # Far from the edge, the foreground moves only a little (gentle relight).
    far_fg = cv2.erode((~sky).astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    diff = np.abs(out[far_fg].astype(int) - rgb[far_fg].astype(int))
    assert float(diff.mean()) < 10.0 and float(np.percentile(diff, 99)) < 25
    assert 0.0 <= result["halo"] < 0.1
    report = result["report"]
    assert report["style"] == "light_clouds" and report["seed"] == 7
    assert 0.25 < report["sky_fraction"] < 0.45
    assert set(report["relight"]) >= {"gains", "stops", "contrast"}
    assert max(abs(g - 1) for g in report["relight"]["gains"]) <= 0.061


def test_replace_sky_is_deterministic_and_rejects_bad_input(exterior_seg):
    rgb, _ = _clear_sky_exterior(320, 240)
    matte = cv2.resize(exterior_seg["matte"], (320, 240))
    a = replace_sky(rgb, matte, "high_clouds", 1)["rgb"]
    np.testing.assert_array_equal(a, replace_sky(rgb, matte, "high_clouds", 1)["rgb"])
    with pytest.raises(InvalidOptions):
        replace_sky(rgb, matte, "stormy", 1)
    with pytest.raises(InvalidOptions):
        replace_sky(rgb, np.zeros((240, 900), np.float32), "clear_blue", 1)
    with pytest.raises(InvalidOptions):
        replace_sky(rgb, matte, "clear_blue", "1")
    with pytest.raises(InvalidImage):
        replace_sky(rgb.astype(np.float32), matte, "clear_blue", 1)


# ----------------------------------------------------------------- day_to_dusk


def test_day_to_dusk_darkens_ground_and_lights_the_windows(exterior, exterior_seg):
    ex = exterior[0]
    rgb = _readonly(ex.rgb)
    h, w = rgb.shape[:2]
    boxes = [(int(x0 * w), int(0.52 * h), int((x0 + 0.08) * w), int(0.66 * h)) for x0 in (0.3, 0.62)]
    result = day_to_dusk(rgb, exterior_seg["matte"], [{"bbox": list(b)} for b in boxes])
    out = result["rgb"]
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert result["report"]["windows_lit"] >= 2 and result["report"]["windows_given"] == 2
    assert result["report"]["exposure_stops"] <= -1.0
    ground = np.zeros((h, w), bool)
    ground[int(0.8 * h):] = True
    assert out[ground].mean() < 0.75 * rgb[ground].mean()
    for x0, y0, x1, y1 in boxes:
        cx0, cy0 = x0 + (x1 - x0) // 4, y0 + (y1 - y0) // 4
        before = rgb[cy0:y1 - (y1 - y0) // 4, cx0:x1 - (x1 - x0) // 4].astype(float).mean((0, 1))
        after = out[cy0:y1 - (y1 - y0) // 4, cx0:x1 - (x1 - x0) // 4].astype(float).mean((0, 1))
        assert after.mean() > before.mean() + 50  # glowing
        assert after[0] - after[2] > before[0] - before[2] + 40  # warm
    # The sky is a twilight gradient: deep blue at the top, warmer near the horizon.
    top = out[: int(0.05 * h)].astype(float).mean((0, 1))
    assert top[2] > top[0] and top.mean() < 110


def _sunlit_wall_with_shadows(w: int = 960, h: int = 720) -> tuple[np.ndarray, tuple, tuple]:
    """A sunlit warm wall with a cast shadow (darker and bluer: lit by the sky only) and a
    dark brown door (darker, not bluer), under a blue sky band; plus their boxes."""
    rng = np.random.default_rng(3)
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:] = (222, 208, 186)
    rgb[: h // 5] = (95, 150, 225)
    shadow = (int(0.12 * w), int(0.45 * h), int(0.42 * w), int(0.85 * h))
    door = (int(0.6 * w), int(0.45 * h), int(0.72 * w), int(0.85 * h))
    x0, y0, x1, y1 = shadow
    rgb[y0:y1, x0:x1] = (88, 92, 104)
    x0, y0, x1, y1 = door
    rgb[y0:y1, x0:x1] = (70, 48, 32)
    rgb += rng.normal(0, 3, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), shadow, door


def test_day_to_dusk_softens_sun_shadows_not_dark_surfaces():
    from lumograph.models.compositor.dusk import shadow_contrast, shadow_mask

    rgb, shadow, door = _sunlit_wall_with_shadows()
    h, w = rgb.shape[:2]
    sky = np.zeros((h, w), np.float32)
    sky[: h // 5] = 1.0
    mask, _ = shadow_mask(rgb, sky)
    x0, y0, x1, y1 = shadow
    assert mask[y0 + 20:y1 - 20, x0 + 20:x1 - 20].mean() > 0.9
    x0, y0, x1, y1 = door
    assert mask[y0:y1, x0:x1].mean() < 0.05  # dark, but not bluer: not a shadow
    result = day_to_dusk(_readonly(rgb), sky, [])
    out = result["rgb"]
    assert result["report"]["shadows_softened_share"] > 0.05
    before, after = shadow_contrast(rgb, mask), shadow_contrast(out, mask)
    assert before > 1.0 and after < 0.6 * before
    # The door keeps its depth against the wall: same ratio as the plain dusk tone gives
    # (the same call without softening; whatever else dusk does to the door, such as
    # taking it for a window, it does to both).
    wall = (slice(int(0.45 * h), int(0.85 * h)), slice(int(0.8 * w), int(0.95 * w)))
    door_px = (slice(door[1] + 10, door[3] - 10), slice(door[0] + 10, door[2] - 10))
    plain = day_to_dusk(_readonly(rgb), sky, [], soften_shadows=False)["rgb"]
    ratio_plain = plain[door_px].mean() / plain[wall].mean()
    ratio_after = out[door_px].mean() / out[wall].mean()
    assert abs(ratio_after - ratio_plain) < 0.08


def test_dusk_leaves_a_tree_against_the_sky_dark_and_lifts_the_cast_shadow():
    from lumograph.models.compositor.dusk import shadow_mask

    rgb, shadow, _ = _sunlit_wall_with_shadows()
    h, w = rgb.shape[:2]
    rng = np.random.default_rng(4)
    crown = (slice(h // 5, int(0.45 * h)), slice(int(0.76 * w), int(0.96 * w)))
    leaves = np.asarray((58, 84, 80), np.float32) + rng.normal(0, 28, (crown[0].stop - crown[0].start,
                                                                      crown[1].stop - crown[1].start, 1))
    rgb[crown] = np.clip(leaves, 0, 255).astype(np.uint8)
    sky = np.zeros((h, w), np.float32)
    sky[: h // 5] = 1.0
    mask, _ = shadow_mask(rgb, sky)
    assert mask[crown].mean() < 0.05  # a silhouette, not a shadow
    x0, y0, x1, y1 = shadow
    assert mask[y0 + 20:y1 - 20, x0 + 20:x1 - 20].mean() > 0.9
    plain = day_to_dusk(_readonly(rgb), sky, [], soften_shadows=False)["rgb"].astype(np.float32)
    out = day_to_dusk(_readonly(rgb), sky, [])["rgb"].astype(np.float32)
    inner = (slice(crown[0].start + 10, crown[0].stop - 10), slice(crown[1].start + 10, crown[1].stop - 10))
    assert abs(out[inner].mean() - plain[inner].mean()) < 2  # the crown stays as dark as dusk makes it
    assert out[y0 + 20:y1 - 20, x0 + 20:x1 - 20].mean() > plain[y0 + 20:y1 - 20, x0 + 20:x1 - 20].mean() + 10


def test_day_to_dusk_finds_windows_and_matte_itself():
    # A real exterior (the facade-window fit reads real windows: frames, trim, panes),
    # its windows labelled by eye in bench/labels.
    from lumograph.bench.fit_facade_windows import box_px, read_labels
    from lumograph.models.common.imageio import decode_image, resize_long_side

    path = require_eval("listing_photos", "house77_frontal.jpg")
    small = _readonly(resize_long_side(decode_image(path.read_bytes()).rgb, 1024))
    glass = np.zeros(small.shape[:2], bool)
    for label in read_labels()["house77_frontal"]:
        x0, y0, x1, y1 = box_px(label["box"], small.shape[:2])
        glass[y0:y1, x0:x1] = True
    found = detect_facade_windows(small)
    on_glass = [f for f in found if glass[f["bbox"][1]:f["bbox"][3], f["bbox"][0]:f["bbox"][2]].mean() >= 0.5]
    assert len(on_glass) >= 3
    result = day_to_dusk(small, None, [])
    assert result["report"]["window_source"] == "detected"
    assert result["report"]["windows_lit"] >= 3
    assert result["report"]["sky_fraction"] > 0.1


def test_day_to_dusk_does_not_light_a_box_too_large_for_a_window():
    # The interior window detector can take a blown white sky the matte missed for glass:
    # a box over a third of the frame is no facade window, and must not glow orange.
    rgb = np.full((300, 400, 3), 150, np.uint8)
    rgb[:120] = 250
    sky = np.zeros((300, 400), np.float32)
    result = day_to_dusk(_readonly(rgb), sky, [{"bbox": [0, 0, 400, 120]}, {"bbox": [200, 180, 230, 220]}])
    assert result["report"]["windows_given"] == 1
    assert [200, 180, 230, 220] in result["report"]["window_boxes"]
    top = result["rgb"][10:110].astype(np.float32)
    assert abs(float(top[..., 0].mean() - top[..., 2].mean())) < 40  # toned, not glowing warm


def _wall_with_fixture(w: int = 800, h: int = 600) -> tuple[np.ndarray, tuple]:
    """A light stucco wall under a sky band, a small dark lantern on it; its box."""
    rng = np.random.default_rng(5)
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:] = (205, 196, 180)
    rgb[: h // 6] = (120, 160, 215)
    box = (390, 300, 410, 330)
    x0, y0, x1, y1 = box
    rgb[y0:y1, x0:x1] = (40, 38, 36)
    rgb[y0 + 4:y1 - 4, x0 + 4:x1 - 4] = (150, 150, 145)  # the lantern's glass by day
    rgb += rng.normal(0, 2, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), box


def test_a_lamp_glows_and_washes_the_wall_around_it():
    from lumograph.models.compositor.lamp_glow import light_lamp

    rgb, box = _wall_with_fixture()
    toned = (rgb.astype(np.float32) * 0.45).astype(np.uint8)  # a dusk-dark frame
    out = toned.copy()
    assert light_lamp(out, _readonly(rgb), box) >= 0.25
    a, b = toned.astype(np.float32), out.astype(np.float32)
    x0, y0, x1, y1 = box
    glass = (slice(y0 + 8, y1 - 8), slice(x0 + 7, x1 - 7))
    assert b[glass].mean() > a[glass].mean() + 80  # the bulb is on
    assert b[glass][..., 0].mean() - b[glass][..., 2].mean() > 20  # warm
    # The wall takes a warm wash that fades: strong beside the fixture, gone far away.
    beside = (slice(y0 - 10, y1 + 10), slice(x1 + 8, x1 + 20))
    assert b[beside].mean() > 1.4 * a[beside].mean()
    assert b[beside][..., 0].mean() / b[beside][..., 2].mean() > a[beside][..., 0].mean() / a[beside][..., 2].mean()
    far = (slice(y0, y1), slice(x0 - 300, x0 - 250))
    assert np.array_equal(b[far], a[far])
    # Texture survives the wash (a gain, not paint).
    assert b[beside].std() > 0.8 * a[beside].std()


def test_day_to_dusk_switches_on_given_lamps_of_fixture_size():
    rgb, box = _wall_with_fixture()
    h, w = rgb.shape[:2]
    sky = np.zeros((h, w), np.float32)
    sky[: h // 6] = 1.0
    lamp = (600, 320, 614, 340)
    plain = day_to_dusk(_readonly(rgb), sky, [], soften_shadows=False)
    lit = day_to_dusk(_readonly(rgb), sky, [], [{"bbox": list(lamp)}], soften_shadows=False)
    assert lit["report"]["lamps_given"] == 1 and lit["report"]["lamps_lit"] == 1
    assert lit["report"]["lamp_boxes"] == [list(lamp)] and plain["report"]["lamps_lit"] == 0
    x0, y0, x1, y1 = lamp
    assert lit["rgb"][y0:y1, x0:x1].mean() > plain["rgb"][y0:y1, x0:x1].mean() + 60
    big = day_to_dusk(_readonly(rgb), sky, [], [{"bbox": [0, 200, 300, 400]}], soften_shadows=False)
    assert big["report"]["lamps_given"] == 0 and np.array_equal(big["rgb"], plain["rgb"])


def test_day_to_dusk_rejects_bad_windows(exterior_seg):
    rgb = np.full((120, 160, 3), 128, np.uint8)
    with pytest.raises(InvalidOptions):
        day_to_dusk(rgb, None, [{"box": [0, 0, 10, 10]}])
    with pytest.raises(InvalidOptions):
        day_to_dusk(rgb, None, "windows")
    with pytest.raises(InvalidOptions):
        day_to_dusk(rgb, None, [], [{"box": [0, 0, 4, 4]}])
    with pytest.raises(InvalidOptions):
        day_to_dusk(rgb, None, [], "lamps")


# ------------------------------------------------------------------- real data


@pytest.mark.data
def test_sky_masks_regression_floor():
    from lumograph.bench.eval_sky import eval_sky_masks

    result = eval_sky_masks(require_eval("sky_masks"), None)
    assert result["n_with_sky"] >= 5 and result["n_without_sky"] >= 5
    # Measured 2026-12-01 (python -m lumograph.bench.eval_sky), the product pipeline
    # (classify_scene, then segment_sky(scene=that scene) for exteriors): mIoU 0.767 over
    # 7 images with sky (0.572 before the fog and through-foliage work; the narrow alley
    # is still classified interior), false sky in 0 of 12 images without sky; the matte
    # alone (scene="exterior") 0.846. With the thresholds fitted by bench/fit_sky.py
    # (2026-12-05): 0.778 all-data, 5-fold 0.756; unchanged (2026-12-06) since the classifier's
    # exterior table is fitted on these photos too, which makes this figure's scene decision
    # in-sample (fit_sky's k-fold classifies each with a fold model). The floors leave a small margin, and one false sky
    # (0.083) so a harmless change does not fail the suite.
    assert result["miou"] >= 0.73, result["per_image"]
    assert result["miou_given_exterior"] >= 0.81, result["per_image"]
    assert result["miou_sky_model_alone"] is not None
    assert result["false_sky_rate"] <= 0.09, result["per_image"]


def test_replace_sky_without_sky_changes_nothing():
    room = room_photo(640, 480, tilt_deg=0.0, seed=1)
    rgb = _readonly(room.rgb)
    result = replace_sky(rgb, np.zeros((240, 320), np.float32), "clear_blue", 0)
    assert result["report"]["sky_fraction"] == 0.0 and result["halo"] == 0.0
    assert int(np.abs(result["rgb"].astype(int) - rgb.astype(int)).max()) <= 1


def test_replace_sky_takes_a_learned_plate_through_the_same_matte(exterior, exterior_seg):
    ex = exterior[0]
    rgb = _readonly(ex.rgb)
    h, w = rgb.shape[:2]
    plate = np.zeros((64, 128, 3), np.uint8)
    plate[:] = (200, 60, 40)  # an unmistakable colour: where it lands is where the plate went
    result = replace_sky(rgb, exterior_seg["matte"], "light_clouds", 7,
                         {"plate": plate, "box_norm": [0.0, 0.0, 1.0, 0.6]})
    assert result["report"]["sky_source"] == "learned"
    deep_sky = cv2.erode(ex.sky.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    new = result["rgb"][deep_sky].astype(float).mean(0)
    assert new[0] > 180 and new[2] < 60
    far_fg = cv2.erode((~ex.sky.astype(bool)).astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    assert float(np.abs(result["rgb"][far_fg].astype(int) - rgb[far_fg].astype(int)).mean()) < 10.0
    assert replace_sky(rgb, exterior_seg["matte"], "light_clouds", 7, None)["report"]["sky_source"] == "procedural"
    assert replace_sky(rgb, exterior_seg["matte"], "light_clouds", 7,
                       {"plate": None, "box_norm": None})["report"]["sky_source"] == "procedural"
    with pytest.raises(InvalidOptions, match="full width"):
        replace_sky(rgb, exterior_seg["matte"], "light_clouds", 7, {"plate": plate, "box_norm": [0.1, 0, 1, 0.5]})
    with pytest.raises(InvalidImage, match="uint8"):
        replace_sky(rgb, exterior_seg["matte"], "light_clouds", 7,
                    {"plate": plate.astype(np.float32), "box_norm": [0, 0, 1, 0.5]})
