"""Window detection, window pull and bracket merging on synthetic photos with known answers."""

import cv2
import numpy as np
import pytest

from lumograph.bench.synthetic_listing import room_photo
from lumograph.models.common.errors import BackendUnavailable, InvalidImage, InvalidOptions
from lumograph.models.common.imageio import resize_long_side
from lumograph.models.grader.brackets import clipped_share, dark_share, merge_brackets
from lumograph.models.grader.window_pull import pull_windows
from lumograph.models.window_detector.classical import detect_windows
from lumograph.models.window_detector.core import WindowDetectorCore
from tests.arrays import read_only
from tests.eval_data import require_eval


def _iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


@pytest.fixture(scope="module")
def room():
    return room_photo(1600, 1200, seed=3)


@pytest.fixture(scope="module")
def room_windows(room):
    return detect_windows(read_only(resize_long_side(room.rgb, 1024)), room.rgb.shape[:2])


def _room_without_windows(room) -> np.ndarray:
    """The synthetic room with its windows painted over in the wall colour (lamp kept)."""
    rgb = room.rgb.copy()
    for x0, y0, x1, y1 in room.windows:
        wall = rgb[y1 + 20:y1 + 60, x0:x1].reshape(-1, 3).mean(axis=0)
        cv2.rectangle(rgb, (x0 - 10, y0 - 10), (x1 + 10, y1 + 10), tuple(float(v) for v in wall), -1)
    return rgb


# ------------------------------------------------------------------- detection


def test_both_windows_found_separately_with_matching_boxes(room, room_windows):
    found = room_windows["windows"]
    assert len(found) == 2, found
    for truth in room.windows:
        best = max(_iou(truth, w["bbox"]) for w in found)
        assert best > 0.7, (truth, [w["bbox"] for w in found])
    # Each detection matches a different window.
    matches = {max(range(2), key=lambda i: _iou(room.windows[i], w["bbox"])) for w in found}
    assert matches == {0, 1}


def test_windows_are_measured_in_stops_over_the_room(room, room_windows):
    h, w = room.rgb.shape[:2]
    for window in room_windows["windows"]:
        assert window["stops_over_interior"] > 2.5, window  # drawn ~2.7 stops over the room
        assert 0.5 < window["clipped_share"] <= 1.0
        assert 0.0 < window["area_share"] < 0.5
        assert 0.5 <= window["confidence"] <= 1.0
        x0, y0, x1, y1 = window["bbox"]
        assert all(isinstance(v, int) for v in window["bbox"])
        assert window["bbox_norm"] == pytest.approx([x0 / w, y0 / h, x1 / w, y1 / h], abs=1e-3)
    assert room_windows["max_stops"] == max(wd["stops_over_interior"] for wd in room_windows["windows"])
    assert 0.0 < room_windows["interior_mean_luminance"] < 0.5


def test_ceiling_lamp_is_not_a_window(room, room_windows):
    h, w = room.rgb.shape[:2]
    lamp = (0.4 * w, 0.05 * h)
    for x0, y0, x1, y1 in (wd["bbox"] for wd in room_windows["windows"]):
        assert not (x0 <= lamp[0] <= x1 and y0 <= lamp[1] <= y1)


def test_room_without_bright_window_reports_none(room):
    rgb = _room_without_windows(room)
    result = detect_windows(resize_long_side(rgb, 1024), rgb.shape[:2])
    assert result["windows"] == []
    assert result["max_stops"] == 0.0


def test_boxes_scale_to_the_source_resolution(room):
    proxy = resize_long_side(room.rgb, 800)
    small = detect_windows(proxy, proxy.shape[:2])
    big = detect_windows(proxy, (proxy.shape[0] * 5, proxy.shape[1] * 5))
    assert len(small["windows"]) == len(big["windows"]) == 2
    for a, b in zip(small["windows"], big["windows"]):
        assert b["bbox"] == pytest.approx([5 * v for v in a["bbox"]], abs=6)
        assert a["bbox_norm"] == pytest.approx(b["bbox_norm"], abs=2e-3)


def test_detector_rejects_bad_input(room):
    with pytest.raises(InvalidImage, match="float32"):
        detect_windows(room.rgb.astype(np.float32), room.rgb.shape[:2])
    with pytest.raises(InvalidOptions, match="source_hw"):
        detect_windows(room.rgb, (0, 100))
    with pytest.raises(InvalidOptions, match="source_hw"):
        detect_windows(room.rgb, "big")


def test_window_detector_core_reports_its_backend(room):
    core = WindowDetectorCore()
    result = core.detect_windows(resize_long_side(room.rgb, 1024), room.rgb.shape[:2])
    assert result["backend"] == "classical"
    assert len(result["windows"]) == 2
    with pytest.raises(BackendUnavailable, match="yolo"):
        WindowDetectorCore(backend="yolo")


# ------------------------------------------------------------------ window pull


def _local_std(grey: np.ndarray, k: int = 9) -> np.ndarray:
    g = grey.astype(np.float32)
    mean = cv2.blur(g, (k, k))
    return np.sqrt(np.maximum(cv2.blur(g * g, (k, k)) - mean * mean, 0.0))


def test_pull_recovers_detail_inside_the_windows(room, room_windows):
    rgb = read_only(room.rgb)
    result = pull_windows(rgb, room_windows["windows"], 2.5)
    assert result["applied"] is True
    assert result["rgb"].shape == rgb.shape and result["rgb"].dtype == np.uint8
    before_grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    after_grey = cv2.cvtColor(result["rgb"], cv2.COLOR_RGB2GRAY)
    for window in room_windows["windows"]:
        x0, y0, x1, y1 = window["bbox"]
        # The view (trees in the lower half) was near-clipped: the pull brings out its texture.
        # (left pane only: the mullion's edges would dominate the measure).
        view = (slice((y0 + y1) // 2 + 12, y1 - 12), slice(x0 + 12, (x0 + x1) // 2 - 12))
        assert _local_std(after_grey)[view].mean() > 1.3 * _local_std(before_grey)[view].mean()
        # It stays the brightest thing in the room: a soft white, never a grey smear.
        inside = (slice(y0 + 10, y1 - 10), slice(x0 + 10, x1 - 10))
        assert after_grey[inside].mean() > 190
        assert after_grey[inside].mean() < before_grey[inside].mean()
    report = result["report"]
    assert report["pulled"] == 2
    for entry in report["windows"]:
        assert entry["pulled"] is True and "stops" in entry["reason"]
        assert 0.0 <= entry["clipped_share"] <= 1.0 and 0.0 <= entry["recovered_share"] <= 1.0
        assert entry["clipped_share"] + entry["recovered_share"] <= 1.0


def test_blown_glass_gets_an_even_blue_grey_tone_not_mottled_white(room):
    # A window blown to a mottled soft white (clipped, with patches just under the clip):
    # the classical pull has no view to recover and gives the glass one even tone.
    rgb = room.rgb.copy()
    x0, y0, x1, y1 = room.windows[0]
    rng = np.random.default_rng(5)
    patches = cv2.resize(rng.uniform(238, 285, ((y1 - y0) // 24, (x1 - x0) // 24)), (x1 - x0, y1 - y0),
                         interpolation=cv2.INTER_CUBIC)
    rgb[y0:y1, x0:x1] = np.clip(patches, 0, 255).astype(np.uint8)[..., None]
    window = {"bbox": [x0, y0, x1, y1], "stops_over_interior": 3.0, "clipped_share": 0.8}
    result = pull_windows(read_only(rgb), [window], 2.5)
    entry = result["report"]["windows"][0]
    assert entry["pulled"] and entry["glass_tone"] == "whole glass"
    m = max(8, (x1 - x0) // 8)
    inside = result["rgb"][y0 + m:y1 - m, x0 + m:x1 - m].astype(np.float32)
    before = rgb[y0 + m:y1 - m, x0 + m:x1 - m].astype(np.float32)
    # Even: the mottling's spread is gone (a gentle top-to-bottom gradient is allowed).
    rows_removed = inside - inside.mean(axis=1, keepdims=True)
    assert rows_removed.std() < 0.25 * (before - before.mean(axis=1, keepdims=True)).std()
    # Slightly blue-grey and still the brightest thing in the room, not grey.
    r, g, b = inside.reshape(-1, 3).mean(axis=0)
    assert b >= r + 3 and 215 <= g <= 245


def test_pull_leaves_the_room_untouched(room, room_windows):
    rgb = read_only(room.rgb)
    snapshot = rgb.copy()
    out = pull_windows(rgb, room_windows["windows"], 2.5)["rgb"]
    np.testing.assert_array_equal(rgb, snapshot)  # input not mutated
    far = np.ones(rgb.shape[:2], bool)
    for x0, y0, x1, y1 in (w["bbox"] for w in room_windows["windows"]):
        margin = int(0.15 * max(x1 - x0, y1 - y0)) + 2
        far[max(0, y0 - margin):y1 + margin, max(0, x0 - margin):x1 + margin] = False
    np.testing.assert_array_equal(out[far], rgb[far])


def test_pull_skips_windows_below_the_threshold(room, room_windows):
    # Barely clipped windows under the threshold are left alone.
    windows = [{**w, "clipped_share": 0.1} for w in room_windows["windows"]]
    result = pull_windows(room.rgb, windows, 4.0)
    assert result["applied"] is False
    np.testing.assert_array_equal(result["rgb"], room.rgb)
    assert all(not e["pulled"] and "threshold" in e["reason"] for e in result["report"]["windows"])
    assert result["rgb"] is not room.rgb


def test_blown_windows_are_pulled_even_under_the_threshold(room, room_windows):
    # Clipped glass reads only a lower bound of its stops: mostly clipped = view lost.
    from lumograph.models.grader.window_pull import window_needs_pull

    blown = {"bbox": [0, 0, 10, 10], "stops_over_interior": 1.8, "clipped_share": 0.8}
    pull, reason = window_needs_pull(blown, 2.5)
    assert pull and "lower bound" in reason
    assert not window_needs_pull({**blown, "clipped_share": 0.2}, 2.5)[0]
    assert not window_needs_pull({**blown, "stops_over_interior": 0.6}, 2.5)[0]  # a white wall
    # Strictly over the threshold: a window exactly at it is left alone.
    assert not window_needs_pull({"stops_over_interior": 2.5, "clipped_share": 0.0}, 2.5)[0]
    assert window_needs_pull({"stops_over_interior": 2.51, "clipped_share": 0.0}, 2.5)[0]
    result = pull_windows(room.rgb, [{**w, "stops_over_interior": 2.0, "clipped_share": 0.9}
                                     for w in room_windows["windows"]], 2.5)
    assert result["applied"] and all(e["pulled"] for e in result["report"]["windows"])


def test_pull_rejects_bad_input(room):
    with pytest.raises(InvalidOptions, match="bbox"):
        pull_windows(room.rgb, [{"bbox": [10, 10, 10, 10], "stops_over_interior": 3.0}], 2.5)
    with pytest.raises(InvalidOptions, match="bbox"):
        pull_windows(room.rgb, [{"stops_over_interior": 3.0}], 2.5)
    with pytest.raises(InvalidOptions, match="-1"):
        pull_windows(room.rgb, [], -1)
    with pytest.raises(InvalidImage):
        pull_windows(room.rgb[:, :, 0], [], 2.5)


# --------------------------------------------------------------- bracket merging


def _linear_scene(h: int = 540, w: int = 720, seed: int = 0) -> np.ndarray:
    """Linear HxWx3 radiance of a room: a shadowed corner (~0.002, fading in smoothly),
    a lit wall (~0.2) and a window view (~1.5, blown at 0 EV) with a frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    texture = (1.0 + 0.3 * np.sin(xx / 5.0) * np.sin(yy / 7.0))[..., None]
    noise = (1.0 + 0.04 * rng.standard_normal((h, w, 1))).astype(np.float32)
    # Shadow: 1/100 of the wall's light in the left 40%, over a soft 80 px ramp.
    shade = 0.01 + 0.99 * np.clip((xx - 0.4 * w) / 80.0, 0.0, 1.0)
    scene = np.array([0.20, 0.17, 0.13], np.float32) * shade[..., None]
    y0, y1, x0, x1 = h // 6, 2 * h // 3, w // 2, 9 * w // 10
    scene[y0:y1, x0:x1] = np.array([1.3, 1.5, 1.8], np.float32)
    scene[y0 - 8:y0, x0 - 8:x1 + 8] = scene[y1:y1 + 8, x0 - 8:x1 + 8] = 0.12  # frame
    scene[y0:y1, x0 - 8:x0] = scene[y0:y1, x1:x1 + 8] = 0.12
    return scene * texture * noise


def _expose(scene: np.ndarray, ev: float) -> np.ndarray:
    lin = np.clip(scene * 2.0 ** ev, 0.0, 1.0)
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(lin, 1 / 2.4) - 0.055)
    return np.clip(srgb * 255 + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def brackets():
    scene = _linear_scene()
    frames = [_expose(scene, ev) for ev in (0.0, -2.0, 2.0)]  # deliberately not in order
    bright = frames[2]
    frames[2] = cv2.warpAffine(bright, np.float32([[1, 0, 3], [0, 1, 2]]), bright.shape[1::-1],
                               borderMode=cv2.BORDER_REPLICATE)
    return scene, frames


def test_merge_recovers_both_ends(brackets):
    scene, frames = brackets
    frozen = [read_only(f) for f in frames]
    result = merge_brackets(frozen)
    out, report = result["rgb"], result["report"]
    middle = frames[0]
    assert out.shape == middle.shape and out.dtype == np.uint8
    assert report["frames"] == 3 and report["method"] == "mertens"
    assert report["order_by_brightness"] == [1, 0, 2]
    assert report["reference"] == 0
    # The +2 EV frame was shifted by (3, 2): the alignment finds it back.
    assert report["shifts"][0] == [0, 0]
    assert abs(report["shifts"][1][0]) <= 1 and abs(report["shifts"][1][1]) <= 1
    assert report["shifts"][2] == [-3, -2]
    # Bright end: the view, blown in the middle frame, comes back with its texture.
    assert report["clipped_share_after"] < 0.5 * report["clipped_share_before"]
    assert report["clipped_share_before"] == pytest.approx(clipped_share(middle), abs=1e-4)
    h, w = scene.shape[:2]
    view = (slice(h // 6 + 12, 2 * h // 3 - 12), slice(w // 2 + 12, 9 * w // 10 - 12))
    grey_out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
    assert grey_out[view].std() > 3 * cv2.cvtColor(middle, cv2.COLOR_RGB2GRAY)[view].std()
    # Dark end: the corner, crushed in the middle frame, is lifted out of black.
    corner = (slice(8, -8), slice(8, w // 4 - 8))
    assert dark_share(middle[corner]) > 0.5
    assert dark_share(out[corner]) < 0.5 * dark_share(middle[corner])
    assert report["dark_share_after"] < report["dark_share_before"]
    # Natural, not flat: the merge keeps a real tonal range.
    assert np.percentile(grey_out, 99) - np.percentile(grey_out, 1) > 150
    for f, orig in zip(frozen, frames):
        np.testing.assert_array_equal(f, orig)


def test_merge_reduced_resolution_path_matches_full(brackets, monkeypatch):
    import lumograph.models.grader.brackets as bracket_merge

    scene, frames = brackets
    big = [cv2.resize(f, (1440, 1080), interpolation=cv2.INTER_LINEAR) for f in frames]
    full = merge_brackets(big)
    monkeypatch.setattr(bracket_merge, "FUSE_LONG_SIDE", 720)
    reduced = merge_brackets(big)
    assert reduced["report"]["fuse_scale"] == pytest.approx(0.5)
    diff = np.abs(full["rgb"].astype(np.int16) - reduced["rgb"].astype(np.int16))
    assert diff.mean() < 12
    assert reduced["report"]["clipped_share_after"] < 0.5 * reduced["report"]["clipped_share_before"]


def test_merge_rejects_bad_input(brackets):
    _, frames = brackets
    with pytest.raises(InvalidOptions, match="got 1"):
        merge_brackets(frames[:1])
    with pytest.raises(InvalidOptions, match="got 10"):
        merge_brackets([frames[0]] * 10)
    with pytest.raises(InvalidOptions, match="list"):
        merge_brackets(frames[0])
    with pytest.raises(InvalidImage, match="same size"):
        merge_brackets([frames[0], frames[1][:-2]])
    with pytest.raises(InvalidImage, match="float64"):
        merge_brackets([frames[0], frames[1].astype(np.float64)])
    with pytest.raises(InvalidImage, match=r"frames\[1\]"):
        merge_brackets([frames[0], frames[1][:, :, :2].copy()])


@pytest.mark.data
def test_real_bracket_set_beats_its_extreme_frames():
    house = require_eval("hdr_brackets", "house")
    frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)
              for p in sorted(house.iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    assert len(frames) >= 2
    result = merge_brackets(frames)
    out = result["rgb"]
    brightest = max(frames, key=lambda f: float(f.mean()))
    darkest = min(frames, key=lambda f: float(f.mean()))
    assert clipped_share(out) < clipped_share(brightest)
    assert dark_share(out) < dark_share(darkest)
    assert result["report"]["clipped_share_after"] < result["report"]["clipped_share_before"]


def test_glass_mask_confines_the_pull_to_the_glass(room, room_windows):
    # A box that also covers a bright wall: with a mask of the left half as the glass, the
    # right half (and its feather) keeps its pixels; without a mask both halves change.
    rgb = read_only(room.rgb)
    window = max(room_windows["windows"], key=lambda w: w["area_share"])
    x0, y0, x1, y1 = window["bbox"]
    glass = np.zeros(((y1 - y0) // 4, (x1 - x0) // 4), np.float32)
    glass[:, : glass.shape[1] // 2] = 1.0
    masked = pull_windows(rgb, [window], 2.5, [glass])
    boxed = pull_windows(rgb, [window], 2.5, None)
    entry = masked["report"]["windows"][0]
    assert entry["glass"] == "mask" and 0.45 <= entry["glass_share"] <= 0.55
    assert boxed["report"]["windows"][0]["glass"] == "box"
    right = (slice(y0, y1), slice((x0 + x1) // 2 + 40, x1 + 20))
    left = (slice(y0 + 12, y1 - 12), slice(x0 + 12, (x0 + x1) // 2 - 40))
    np.testing.assert_array_equal(masked["rgb"][right], rgb[right])
    assert not np.array_equal(boxed["rgb"][right], rgb[right])
    assert not np.array_equal(masked["rgb"][left], rgb[left])
    # A mask that found (almost) no glass is not believed: the box is used.
    empty = pull_windows(rgb, [window], 2.5, [np.zeros((8, 8), np.float32)])
    assert empty["report"]["windows"][0]["glass"] == "box"
    # OpenCV's threaded Mertens fusion can round a handful of pixels one level apart
    # between two identical calls (seen: 4 of 5.8 M values), so equal means within 1.
    assert int(np.abs(empty["rgb"].astype(np.int16) - boxed["rgb"]).max()) <= 1


def test_glass_masks_are_validated(room, room_windows):
    windows = room_windows["windows"]
    with pytest.raises(InvalidOptions, match="one entry"):
        pull_windows(room.rgb, windows, 2.5, [None])
    with pytest.raises(InvalidOptions, match=r"glass_masks\[0\]"):
        pull_windows(room.rgb, windows, 2.5, [np.ones((4, 4, 3), np.float32)] + [None] * (len(windows) - 1))
    with pytest.raises(InvalidOptions, match=r"\[0, 1\]"):
        pull_windows(room.rgb, windows, 2.5, [np.full((4, 4), 2.0, np.float32)] + [None] * (len(windows) - 1))


def test_fully_blown_means_every_channel_clipped():
    from lumograph.models.grader.window_pull import window_fully_blown

    # A window whose blue sky alone clips still holds a view; one clipped white has none.
    assert not window_fully_blown({"stops_over_interior": 2.8, "clipped_share": 0.96, "blown_share": 0.5})
    assert window_fully_blown({"stops_over_interior": 2.8, "clipped_share": 0.99, "blown_share": 0.99})
    assert not window_fully_blown({"stops_over_interior": 0.5, "clipped_share": 1.0, "blown_share": 1.0})
    # A blown strip the full height of the frame is a door edge or a lit wall, not a window.
    edge = {"stops_over_interior": 2.2, "clipped_share": 1.0, "blown_share": 1.0, "bbox_norm": [0, 0, 0.13, 1.0]}
    assert not window_fully_blown(edge)
    assert window_fully_blown({**edge, "bbox_norm": [0, 0.2, 0.13, 0.75]})


def test_detector_reports_the_blown_share(room):
    rgb = room.rgb.copy()
    x0, y0, x1, y1 = room.windows[0]
    rgb[y0 + 8:y1 - 8, x0 + 8:x1 - 8] = 252
    found = detect_windows(resize_long_side(rgb, 1024), rgb.shape[:2])["windows"]
    blown = max(found, key=lambda w: w["area_share"])
    assert blown["blown_share"] > 0.9 and blown["clipped_share"] >= blown["blown_share"]
    other = min(found, key=lambda w: w["area_share"])
    assert other["blown_share"] < 0.6 < other["clipped_share"]
