"""The YOLO window detector backend, through the production loader, fully offline.

A tiny random-weight detection model is built from ultralytics' own YOLO11 model YAML
(scale ``n``, two classes) and saved with ``YOLO.save`` under a temp weights directory
(``yolo.save_random_weights``), and loaded by ``WindowDetectorCore`` exactly as a replica would. Random
weights find nothing meaningful, so properties are asserted, not boxes; a second
checkpoint with its class biases raised gives many boxes of both classes, to exercise
the window/mirror split and the exposure measurements. Sockets are blocked for the
whole module: nothing may reach for the network.
"""
import json
import math
import socket

import cv2
import numpy as np
import pytest

from lumograph.bench.synthetic_listing import room_photo
from lumograph.models.common.errors import BackendUnavailable, LumographError
from lumograph.models.common.imageio import resize_long_side
from lumograph.models.window_detector import BACKENDS, yolo
from lumograph.models.window_detector.classical import detect_windows
from lumograph.models.window_detector.core import WindowDetectorCore

#: OpenCV's thread count before anything here imports ultralytics (which zeroes it).
CV2_THREADS_BEFORE = cv2.getNumThreads()
WINDOW_KEYS = {"bbox", "bbox_norm", "stops_over_interior", "clipped_share", "blown_share", "area_share",
               "confidence", "edge_stops"}


#: Every network attempt, even one a library catches and ignores.
NETWORK_ATTEMPTS = []


def _no_network(*args, **kwargs):
    NETWORK_ATTEMPTS.append(repr(args)[:200])
    raise OSError(f"network access attempted during an offline test: {args!r}")


@pytest.fixture(scope="module", autouse=True)
def offline():
    with pytest.MonkeyPatch.context() as mp:
        for name in ("connect", "connect_ex", "sendto"):
            mp.setattr(socket.socket, name, _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        mp.setattr(socket, "getaddrinfo", _no_network)
        yield mp


@pytest.fixture(autouse=True)
def nothing_reached_for_the_network(offline):
    yield
    assert NETWORK_ATTEMPTS == []


@pytest.fixture(scope="module")
def plain_weights(tmp_path_factory):
    weights = tmp_path_factory.mktemp("yolo_plain") / "weights"
    path = yolo.save_random_weights(weights)
    assert path == weights / "yolo" / "windows.pt" and path.is_file()
    return weights


@pytest.fixture(scope="module")
def busy_weights(tmp_path_factory):
    # Random head weights are small, so the bias sets every score: nothing on the
    # stride-8 output, "mirror" (0.9975) on stride 16, "window" (0.9991) on stride 32.
    # NMS keeps the windows first, then mirrors up to MAX_DETECTIONS.
    weights = tmp_path_factory.mktemp("yolo_busy") / "weights"
    yolo.save_random_weights(weights, class_bias=[[-9.0, -9.0], [-9.0, 6.0], [7.0, -9.0]])
    return weights


@pytest.fixture(scope="module")
def room():
    photo = room_photo(1200, 900, tilt_deg=0.0, seed=2)
    rgb = photo.rgb
    proxy = resize_long_side(rgb, 1024)
    rgb.setflags(write=False)
    proxy.setflags(write=False)
    return photo, proxy


@pytest.fixture(scope="module")
def no_plotting():
    """ultralytics' plotting fetches a font: make any use of it fail loudly."""
    from ultralytics.engine.results import Results

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Results, "plot", lambda *a, **k: pytest.fail("ultralytics plotting was called"))
        yield


def _check_box(bbox, hw):
    h, w = hw
    assert all(isinstance(v, int) for v in bbox)
    x0, y0, x1, y1 = bbox
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h


def _check_contract(out, hw):
    h, w = hw
    assert {"windows", "max_stops", "interior_mean_luminance", "mirrors", "others"} <= set(out)
    assert out["backend"] == "yolo" and out["detector"] == "yolo"
    assert 0.0 < out["interior_mean_luminance"] <= 1.0
    stops = [wd["stops_over_interior"] for wd in out["windows"]]
    assert out["max_stops"] == (max(stops) if stops else 0.0)
    areas = []
    for wd in out["windows"]:
        assert set(wd) == WINDOW_KEYS
        _check_box(wd["bbox"], hw)
        x0, y0, x1, y1 = wd["bbox"]
        assert wd["bbox_norm"] == [round(x0 / w, 4), round(y0 / h, 4), round(x1 / w, 4), round(y1 / h, 4)]
        for key in ("clipped_share", "area_share", "confidence"):
            assert 0.0 <= wd[key] <= 1.0
        assert math.isfinite(wd["stops_over_interior"]) and math.isfinite(wd["edge_stops"])
        areas.append((x1 - x0) * (y1 - y0))
    assert areas == sorted(areas, reverse=True)
    for m in out["mirrors"]:
        assert set(m) == {"bbox", "bbox_norm", "confidence"}
        _check_box(m["bbox"], hw)
        assert all(0.0 <= v <= 1.0 for v in m["bbox_norm"]) and 0.0 <= m["confidence"] <= 1.0
    json.dumps(out)  # plain JSON-able types only


def test_registered_and_described(plain_weights, tmp_path):
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9))  # the block is in place
    NETWORK_ATTEMPTS.pop()
    assert BACKENDS["yolo"].code() is yolo
    missing = yolo.describe_weights(tmp_path)
    assert missing["ready"] is False and str(tmp_path / "yolo" / "windows.pt") in missing["problems"][0]
    present = yolo.describe_weights(plain_weights)
    assert present["ready"] is True and present["problems"] == []
    assert present["files"][0]["bytes"] > 100_000 and present["files"][1]["present"] is False
    assert present["classes"] == ["window", "mirror"] and present["classes_source"] == "default"


def test_yolo_backend_runs_offline_with_the_contract(plain_weights, room, no_plotting):
    photo, proxy = room
    before = proxy.copy()
    torch = yolo._import_ultralytics()[0]
    torch_threads = torch.get_num_threads()
    core = WindowDetectorCore(backend="yolo", weights_dir=str(plain_weights))
    assert core.selection.name == "yolo" and core.model is not None
    facts = core.model.describe()
    assert facts["device"] == ("cuda" if torch.cuda.is_available() else "cpu") and facts["imgsz"] == 640
    assert facts["classes"] == ["window", "mirror"] and facts["path"].endswith("yolo/windows.pt")
    first = core.detect_windows(proxy, photo.rgb.shape[:2])
    second = core.detect_windows(proxy, photo.rgb.shape[:2])
    _check_contract(first, photo.rgb.shape[:2])
    assert first == second
    assert np.array_equal(proxy, before)
    # Loading ultralytics must not change the replica's OpenCV or torch threads.
    assert cv2.getNumThreads() == CV2_THREADS_BEFORE and torch.get_num_threads() == torch_threads
    for bad in (lambda: core.detect_windows(np.zeros((10, 10), np.uint8), (10, 10)),
                lambda: core.detect_windows(proxy, (0, 5)),
                lambda: core.model.detect(proxy, (900, 1200), conf=2.0)):
        with pytest.raises(LumographError) as info:
            bad()
        assert info.value.code and info.value.message


def test_many_boxes_split_into_windows_and_mirrors(busy_weights, room, no_plotting):
    photo, proxy = room
    hw = photo.rgb.shape[:2]
    core = WindowDetectorCore(backend="yolo", weights_dir=str(busy_weights))
    raw = core.model.detect(proxy, hw)
    assert 10 <= len(raw) <= yolo.MAX_DETECTIONS
    assert {d["class"] for d in raw} == {"window", "mirror"}
    scores = [d["score"] for d in raw]
    assert scores == sorted(scores, reverse=True) and min(scores) >= yolo.DEFAULT_CONF
    for d in raw:
        _check_box(d["bbox"], hw)
        x0, y0, x1, y1 = d["bbox_proxy"]
        assert 0 <= x0 < x1 <= proxy.shape[1] and 0 <= y0 < y1 <= proxy.shape[0]
    out = core.detect_windows(proxy, hw)
    _check_contract(out, hw)
    assert len(out["windows"]) == sum(d["class"] == "window" for d in raw)
    assert len(out["mirrors"]) == sum(d["class"] == "mirror" for d in raw) and out["others"] == []
    assert out == core.detect_windows(proxy, hw)


def test_box_measurements_follow_the_classical_maths(room):
    """Boxes on the known windows read as blown windows, a box on the wall does not."""
    photo, proxy = room
    hw = photo.rgb.shape[:2]
    k = proxy.shape[1] / hw[1]
    detections = [{"class": "window", "class_id": 0, "score": 0.9, "bbox": list(b),
                   "bbox_proxy": [v * k for v in b]} for b in photo.windows]
    wall = (int(0.3 * hw[1]), int(0.15 * hw[0]), int(0.45 * hw[1]), int(0.35 * hw[0]))
    wall_only = [{"class": "window", "class_id": 0, "score": 0.5, "bbox": list(wall),
                  "bbox_proxy": [v * k for v in wall]}]
    out = yolo.windows_report(proxy, hw, detections)
    classical = detect_windows(proxy, hw)
    assert len(out["windows"]) == 2 and len(classical["windows"]) == 2
    for mine, ref in zip(out["windows"], classical["windows"], strict=True):
        assert mine["bbox"] == list(photo.windows[out["windows"].index(mine)])
        # The box holds the frame and mullion too, so a little less bright than the
        # classical region, and it is measured against the same room.
        assert abs(mine["stops_over_interior"] - ref["stops_over_interior"]) < 0.2
        assert mine["clipped_share"] > 0.8 and mine["edge_stops"] > 1.5 and mine["confidence"] == 0.9
        assert abs(mine["area_share"] - ref["area_share"]) < 0.02
    assert abs(out["interior_mean_luminance"] - classical["interior_mean_luminance"]) < 0.01
    on_wall = yolo.windows_report(proxy, hw, wall_only)["windows"][0]
    assert on_wall["clipped_share"] == 0.0 and on_wall["stops_over_interior"] < 0.5


def test_auto_picks_yolo_only_when_the_file_exists(plain_weights, tmp_path, room):
    photo, proxy = room
    auto = WindowDetectorCore(backend="auto", weights_dir=str(plain_weights))
    assert auto.selection.name == "yolo" and auto.model is not None
    empty = WindowDetectorCore(backend="auto", weights_dir=str(tmp_path))
    assert empty.selection.name == "classical" and empty.model is None
    out = empty.detect_windows(proxy, photo.rgb.shape[:2])
    assert out["backend"] == "classical" and len(out["windows"]) == 2 and "detector" not in out


def test_named_yolo_without_weights_fails_naming_the_path(tmp_path):
    with pytest.raises(BackendUnavailable) as info:
        WindowDetectorCore(backend="yolo", weights_dir=str(tmp_path))
    assert info.value.code == "weights_missing" and str(tmp_path / "yolo" / "windows.pt") in info.value.message
    with pytest.raises(BackendUnavailable):
        WindowDetectorCore(backend="yolo", weights_dir=None)


def test_bad_weights_fail_at_start_up_naming_the_file(plain_weights, tmp_path):
    corrupt = tmp_path / "corrupt"
    yolo.weights_path(corrupt).parent.mkdir(parents=True)
    yolo.weights_path(corrupt).write_bytes(b"not a checkpoint")
    with pytest.raises(BackendUnavailable) as info:
        WindowDetectorCore(backend="yolo", weights_dir=str(corrupt))
    assert info.value.code == "weights_invalid" and str(yolo.weights_path(corrupt)) in info.value.message

    three = tmp_path / "three"
    (three / "yolo").mkdir(parents=True)
    (three / "yolo" / "windows.pt").write_bytes(yolo.weights_path(plain_weights).read_bytes())
    (three / "yolo" / "classes.json").write_text(json.dumps(["window", "mirror", "door"]))
    with pytest.raises(BackendUnavailable) as info:
        WindowDetectorCore(backend="yolo", weights_dir=str(three))
    assert info.value.code == "weights_invalid" and "classes.json" in info.value.message

    (three / "yolo" / "classes.json").write_text('{"0": "window"}')
    assert yolo.describe_weights(three)["ready"] is False
    with pytest.raises(BackendUnavailable) as info:
        yolo.read_classes(three)
    assert "classes.json" in info.value.message

    (three / "yolo" / "classes.json").write_text(json.dumps(["pane", "looking_glass"]))
    renamed = WindowDetectorCore(backend="yolo", weights_dir=str(three))
    assert renamed.model.classes == ["pane", "looking_glass"] and renamed.model.classes_source == "classes.json"


def test_random_weights_with_more_classes_name_them(tmp_path):
    weights = tmp_path / "weights"
    yolo.save_random_weights(weights, classes=("window", "mirror", "door"), seed=1,
                                     class_bias=[[-9.0, -9.0, 6.0]] * 3)
    facts = yolo.describe_weights(weights)
    assert facts["ready"] and facts["classes"] == ["window", "mirror", "door"]
    assert facts["classes_source"] == "classes.json" and facts["files"][1]["present"]
    core = WindowDetectorCore(backend="auto", weights_dir=str(weights))
    out = core.detect_windows(np.full((300, 400, 3), 128, np.uint8), (600, 800))
    assert core.model.classes == ["window", "mirror", "door"] and out["backend"] == "yolo"
    assert out["others"] and all(o["class"] == "door" for o in out["others"])
    assert out["windows"] == [] and out["mirrors"] == [] and out["lamps"] == [] and out["max_stops"] == 0.0


def test_a_model_naming_lamps_reports_them(tmp_path):
    weights = tmp_path / "weights"
    yolo.save_random_weights(weights, classes=("window", "mirror", "Lamp"), seed=1,
                             class_bias=[[-9.0, -9.0, 6.0]] * 3)
    core = WindowDetectorCore(backend="auto", weights_dir=str(weights))
    out = core.detect_windows(np.full((300, 400, 3), 128, np.uint8), (600, 800))
    assert out["lamps"] and all(lamp["class"] == "Lamp" for lamp in out["lamps"])
    assert out["others"] == [] and out["windows"] == []


def test_fixture_person_and_capitalised_classes_are_sorted_for_their_users(room):
    photo, proxy = room
    hw = photo.rgb.shape[:2]
    k = proxy.shape[1] / hw[1]
    boxes = {"Lamp": (100, 80, 120, 110), "street_light": (300, 40, 316, 70), "door": (200, 100, 260, 220),
             "lampshade": (50, 50, 60, 60), "Person": (400, 100, 440, 230), "Human_body": (10, 150, 40, 230),
             "Window": tuple(photo.windows[0])}
    detections = [{"class": c, "class_id": i, "score": 0.8, "bbox": list(b), "bbox_proxy": [v * k for v in b]}
                  for i, (c, b) in enumerate(boxes.items())]
    out = yolo.windows_report(proxy, hw, detections)
    assert sorted(lamp["class"] for lamp in out["lamps"]) == ["Lamp", "street_light"]
    assert out["lamps"][0]["bbox"] == [100, 80, 120, 110] and out["lamps"][0]["confidence"] == 0.8
    assert sorted(o["class"] for o in out["others"]) == ["door", "lampshade"]
    # Open Images' capitalised names read as the report's classes.
    assert [p["class"] for p in out["people"]] == ["Person", "Human_body"]
    assert out["people"][0]["bbox"] == [400, 100, 440, 230]
    assert len(out["windows"]) == 1 and out["windows"][0]["bbox"] == list(photo.windows[0])
