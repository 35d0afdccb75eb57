"""The listing's MLS checks (``qa.mls``): branding (text, watermarks) with the real PP-OCRv4
det network, people with the real BlazeFace network and the real face cascade on a real face shipped in
scikit-image's wheel, and the plumbing: review (never fail), the rule named, the boxes reported, nothing
edited."""
from dataclasses import asdict

import cv2
import numpy as np
import pytest

from lumograph.bench.synthetic_listing import room_photo
from lumograph.models.common import blazeface
from lumograph.models.common.faces import FaceHit
from lumograph.models.common.imageio import decode_image, resize_long_side
from lumograph.models.qa import mls
from lumograph.models.qa.checks import Check, verdict
from lumograph.models.qa.core import QACore
from lumograph.models.qa.text import TextDetector, TextDetectorUnavailable
from lumograph.serve.schemas import CheckModel
from tests.eval_data import require_eval

FONT = cv2.FONT_HERSHEY_SIMPLEX


@pytest.fixture(scope="module")
def detector():
    return TextDetector()


@pytest.fixture(scope="module")
def room():
    """A synthetic room at the listing proxy's size (long side 1024), no text in it."""
    return room_photo(1024, 768, tilt_deg=0.0).rgb


def _put(rgb, text, org, height, colour, thickness, outline=None):
    """Draw ``text`` with its baseline at ``org``; returns its box (x0, y0, x1, y1) px."""
    scale = cv2.getFontScaleFromHeight(FONT, height, thickness)
    if outline is not None:
        cv2.putText(rgb, text, org, FONT, scale, outline, thickness + 3, cv2.LINE_AA)
    cv2.putText(rgb, text, org, FONT, scale, colour, thickness, cv2.LINE_AA)
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    return org[0], org[1] - th, org[0] + tw, org[1] + base


def _centre_inside(box_norm, box_px, hw, margin=4):
    h, w = hw
    cx, cy = (box_norm[0] + box_norm[2]) / 2 * w, (box_norm[1] + box_norm[3]) / 2 * h
    x0, y0, x1, y1 = box_px
    return x0 - margin <= cx <= x1 + margin and y0 - margin <= cy <= y1 + margin


def _with_agent_branding(room):
    """The room with a phone number and a URL in the bottom-right corner, as agents add
    them (white with a dark outline); returns the photo and the two text boxes."""
    rgb = room.copy()
    phone = _put(rgb, "555-0123", (700, 700), 22, (255, 255, 255), 2, (0, 0, 0))
    url = _put(rgb, "www.agent-homes.com", (700, 740), 18, (255, 255, 255), 2, (0, 0, 0))
    return rgb, [phone, url]


def test_clean_room_passes_branding(room, detector):
    check = mls.check_branding(room, detector)
    assert check.name == mls.BRANDING_CHECK and check.passed, check
    assert check.value == 0 and check.boxes is None
    assert check.rule == mls.RULE_BRANDING and check.severity == "review"


def test_phone_number_and_url_in_a_corner_are_flagged_review_with_their_boxes(room, detector):
    rgb, texts = _with_agent_branding(room)
    before = rgb.copy()
    check = mls.check_branding(rgb, detector)
    assert not check.passed and check.severity == "review", check
    assert check.rule == mls.RULE_BRANDING
    assert check.value == len(check.boxes) >= 2
    # Every drawn line has a reported box over it, and every box lies on drawn text.
    for text in texts:
        assert any(_centre_inside(b["box"], text, rgb.shape[:2]) for b in check.boxes), (text, check.boxes)
    for b in check.boxes:
        assert any(_centre_inside(b["box"], t, rgb.shape[:2]) for t in texts), (b, texts)
        x0, y0, x1, y1 = b["box"]
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    assert "nothing was removed" in check.message
    np.testing.assert_array_equal(rgb, before)  # flagged, never edited


def test_a_small_faint_corner_watermark_is_found_by_a_magnified_pass(room, detector):
    """A 10 px semi-transparent copyright line (what MLS boards stamp): too small for the
    whole-frame pass at the network's 640 px cap, found in the magnified bottom band or corner."""
    overlay = room.copy()
    mark = _put(overlay, "(c) 2024 MLS", (12, 758), 10, (255, 255, 255), 1)
    rgb = cv2.addWeighted(overlay, 0.6, room, 0.4, 0)
    frame_only = mls.keep_branding(mls.frame_text(rgb, detector))
    assert not frame_only, frame_only
    check = mls.check_branding(rgb, detector)
    assert not check.passed and check.severity == "review"
    assert any(_centre_inside(b["box"], mark, rgb.shape[:2]) and b["found_in"] in ("bottom band", "bottom-left corner")
               for b in check.boxes), check.boxes


def test_a_small_line_centred_at_the_bottom_is_found_by_the_band(room, detector):
    """An agent's line in the middle of the bottom edge: outside every corner and too small
    for the whole-frame pass; the bottom band (why the fit keeps the bands) finds it."""
    overlay = room.copy()
    mark = _put(overlay, "(c) 2024 MLS", (450, 758), 10, (255, 255, 255), 1)
    rgb = cv2.addWeighted(overlay, 0.6, room, 0.4, 0)
    assert not mls.keep_branding(mls.frame_text(rgb, detector) + mls.corner_text(rgb, detector))
    check = mls.check_branding(rgb, detector)
    assert not check.passed
    assert any(_centre_inside(b["box"], mark, rgb.shape[:2]) and b["found_in"] == "bottom band"
               for b in check.boxes), check.boxes


class _BlobDetector:
    """Stands in for the network: text probability 1 in the middle ninth of whatever it
    is shown, at the size shown; records the input sizes."""

    def __init__(self):
        self.shapes = []

    def probability_map(self, rgb, *, long_side=None):
        h, w = rgb.shape[:2]
        self.shapes.append((h, w))
        prob = np.zeros((h, w), np.float32)
        prob[h // 3: 2 * h // 3, w // 3: 2 * w // 3] = 1.0
        return prob


def test_corner_boxes_map_back_to_their_corners():
    rgb = np.full((683, 1024, 3), 120, np.uint8)
    found = mls.corner_text(rgb, _BlobDetector())
    ch, cw = round(mls.CORNER_HEIGHT * 683), round(mls.CORNER_WIDTH * 1024)
    centres = {"top-left corner": (cw / 2, ch / 2), "top-right corner": (1024 - cw / 2, ch / 2),
               "bottom-left corner": (cw / 2, 683 - ch / 2), "bottom-right corner": (1024 - cw / 2, 683 - ch / 2)}
    assert sorted(f.where for f in found) == sorted(centres)
    for f in found:
        cx, cy = (f.box[0] + f.box[2]) / 2 * 1024, (f.box[1] + f.box[3]) / 2 * 683
        assert abs(cx - centres[f.where][0]) <= 2 and abs(cy - centres[f.where][1]) <= 2, (f, centres[f.where])


@pytest.mark.parametrize("hw", [(16, 16), (20, 1024), (1024, 20), (1024, 40)])
def test_odd_frames_give_boxes_inside_the_frame_and_crops_no_taller_than_wide(hw):
    detector = _BlobDetector()
    found = mls.text_candidates(np.full((*hw, 3), 120, np.uint8), detector, box_thresh=0.5)
    for f in found:
        assert 0 <= f.box[0] < f.box[2] <= 1 and 0 <= f.box[1] < f.box[3] <= 1, f
    # Only the whole frame may be as tall as it is; a band or corner never grows past its width.
    pad = 2 * mls.BAND_PAD
    for h, w in detector.shapes[1:]:
        assert h - pad <= max(mls.BAND_WIDTH, mls.CORNER_MAGNIFIED), (h, w)


def test_a_faint_board_mark_cut_by_the_frame_edge_is_found_by_the_corner_pass(room, detector):
    """What the eval's CRMLS photos carry: a board's name, small and a little lighter than the
    floor under it, cut by the right edge. At the proxy's own scale (the bands of a 1024 px
    frame are not magnified) the network scores it about 0.5; the magnified corner about 0.85."""
    overlay = room.copy()
    mark = _put(overlay, "CRMLS", (995, 758), 8, (255, 255, 255), 1)
    rgb = cv2.addWeighted(overlay, 0.25, room, 0.75, 0)
    plain = mls.keep_branding(mls.frame_text(rgb, detector) + mls.band_text(rgb, detector))
    assert not any(_centre_inside(f.box, mark, rgb.shape[:2]) for f in plain), plain
    check = mls.check_branding(rgb, detector)
    assert not check.passed and check.severity == "review"
    assert any(_centre_inside(b["box"], mark, rgb.shape[:2]) and b["found_in"] == "bottom-right corner"
               for b in check.boxes), check.boxes


def test_branding_is_not_measured_without_a_detector(room):
    for detector, why in ((None, "no text detector"), (TextDetectorUnavailable("model missing"), "model missing")):
        check = mls.check_branding(room, detector)
        assert check.passed and check.severity == "info" and check.value is None
        assert why in check.message and check.rule == mls.RULE_BRANDING


def test_people_plumbing_reports_the_person_box_around_the_face(room, monkeypatch):
    """The cascade path: a stub face at (200, 100)-(240, 140) px of the scan: flagged review,
    with the face and a head-and-torso box containing it, in fractions."""
    seen = {}

    def fake_find_faces(rgb, *, min_face, max_face, min_agreement, scale_factor, step_ratio):
        seen.update(shape=rgb.shape, min_agreement=min_agreement, scale_factor=scale_factor, step_ratio=step_ratio)
        return [FaceHit((200, 100, 240, 140), 16)]

    monkeypatch.setattr(mls, "PEOPLE_DETECTOR", "cascade")
    monkeypatch.setattr(mls, "find_faces", fake_find_faces)
    check = mls.check_people(room)
    assert seen["min_agreement"] == mls.MIN_AGREEMENT and max(seen["shape"][:2]) == mls.PEOPLE_LONG_SIDE
    assert seen["scale_factor"] == mls.PEOPLE_SCALE_FACTOR and seen["step_ratio"] == mls.PEOPLE_STEP_RATIO
    assert not check.passed and check.severity == "review" and check.value == 1
    assert check.rule == mls.RULE_PEOPLE
    (found,) = check.boxes
    assert found["detector"] == "cascade" and found["agreement"] == 16
    sh, sw = seen["shape"][:2]
    assert found["face"] == pytest.approx([200 / sw, 100 / sh, 240 / sw, 140 / sh], abs=1e-4)
    px0, py0, px1, py1 = found["box"]
    fx0, fy0, fx1, fy1 = found["face"]
    assert px0 < fx0 and py0 < fy0 and px1 > fx1 and py1 > fy1 + 2 * (fy1 - fy0)  # the torso below
    monkeypatch.setattr(mls, "find_faces", lambda rgb, **kw: [])
    assert mls.check_people(room).passed


def test_people_plumbing_with_blazeface_passes_its_fitted_scan(room, monkeypatch):
    """The BlazeFace path gets the fitted tile size and bar and reports the face's score."""
    seen = {}

    def fake_detect(rgb, *, tile_long_side, min_score, mirrored):
        seen.update(shape=rgb.shape, tile=tile_long_side, bar=min_score, mirrored=mirrored)
        return [blazeface.FaceBox((0.4, 0.3, 0.45, 0.37), 0.9)]

    monkeypatch.setattr(mls.blazeface, "detect_faces", fake_detect)
    check = mls.check_people(room)
    assert seen == {"shape": room.shape, "tile": mls.BLAZEFACE_TILE_LONG_SIDE, "bar": mls.BLAZEFACE_MIN_SCORE,
                    "mirrored": mls.BLAZEFACE_MIRRORED}
    (found,) = check.boxes
    assert not check.passed and check.value == 1 and check.severity == "review"
    assert found["detector"] == "blazeface" and found["score"] == 0.9
    assert found["face"] == [0.4, 0.3, 0.45, 0.37]
    assert found["box"][0] < 0.4 and found["box"][3] > 0.37 + 2 * 0.07


def test_people_check_falls_back_to_the_cascade_without_the_blazeface_model(room, monkeypatch):
    monkeypatch.setattr(blazeface, "PACKAGE", "no_such_package_here")
    assert not blazeface.available() and mls.people_detector() == "cascade"
    rgb, face = _paste_astronaut(room, 80)
    check = mls.check_people(rgb)
    assert not check.passed and "not installed" in check.message and "cascade" in check.limit
    assert all(b["detector"] == "cascade" for b in check.boxes)
    assert any(_centre_inside(b["face"], face, rgb.shape[:2], margin=8) for b in check.boxes), (face, check.boxes)


def _paste_astronaut(room, face_width):
    """The astronaut photograph shipped in scikit-image's wheel (a real face), head and
    shoulders pasted into the room with its face ``face_width`` px wide; returns the photo
    and the face box (x0, y0, x1, y1) px."""
    from skimage.data import astronaut

    src = astronaut()
    fx0, fy0, fx1 = 177, 68, 271  # the face (94 px square) in the 512x512 photograph
    fw = fx1 - fx0
    crop = src[fy0 - fw // 2:fy0 + 3 * fw, fx0 - fw // 2:fx1 + fw // 2]
    s = face_width / fw
    crop = cv2.resize(crop, (round(crop.shape[1] * s), round(crop.shape[0] * s)), interpolation=cv2.INTER_AREA)
    rgb = room.copy()
    x, y = 380, 300
    rgb[y:y + crop.shape[0], x:x + crop.shape[1]] = crop
    left, top = x + (fw // 2) * s, y + (fw // 2) * s
    return rgb, (left, top, left + face_width, top + face_width)


@pytest.mark.parametrize("detector", ["blazeface", "cascade"])
def test_a_real_face_in_the_room_is_flagged_with_its_box(room, detector, monkeypatch):
    monkeypatch.setattr(mls, "PEOPLE_DETECTOR", detector)
    rgb, face = _paste_astronaut(room, 80)
    assert mls.check_people(room).passed  # the empty room
    check = mls.check_people(rgb)
    assert not check.passed and check.severity == "review", check
    assert all(b["detector"] == detector for b in check.boxes)
    assert any(_centre_inside(b["face"], face, rgb.shape[:2], margin=8) for b in check.boxes), (face, check.boxes)


def test_qa_core_flags_review_not_fail_and_names_the_rules(room, detector):
    core = QACore(text_detector=detector)
    rgb, _ = _with_agent_branding(room)
    rep = core.check_listing(rgb, rgb, [])
    by = {c["name"]: c for c in rep["checks"]}
    assert by[mls.BRANDING_CHECK]["rule"] == mls.RULE_BRANDING and by[mls.PEOPLE_CHECK]["rule"] == mls.RULE_PEOPLE
    assert not by[mls.BRANDING_CHECK]["passed"] and by[mls.BRANDING_CHECK]["boxes"]
    assert rep["verdict"] == "review"
    clean = core.check_listing(room, room, [])
    assert clean["verdict"] == "pass", [c for c in clean["checks"] if not c["passed"]]
    # A warped photo's boxes are carried into the delivered frame: a crop that keeps the
    # top-left three quarters drops the agent's lettering at the bottom right.
    h, w = rgb.shape[:2]
    crop = {"matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "input_size": [w, h], "output_size": [w * 3 // 4, h * 3 // 4]}
    warped = core.check_listing(rgb, rgb, ["verticals"], None, crop)
    branding = {c["name"]: c for c in warped["checks"]}[mls.BRANDING_CHECK]
    assert branding["passed"] and "outside the delivered frame" in branding["message"]
    assert warped["verdict"] == "pass"


def test_the_rule_and_boxes_survive_the_report_schema(room, detector):
    rgb, _ = _with_agent_branding(room)
    check = asdict(mls.check_branding(rgb, detector))
    dumped = CheckModel.model_validate(check).model_dump(mode="json")
    assert dumped["rule"] == mls.RULE_BRANDING and dumped["boxes"] == check["boxes"]


def test_review_of_an_mls_check_never_fails_the_photo(room, detector):
    rgb, _ = _with_agent_branding(room)
    assert verdict([mls.check_branding(rgb, detector)]).verdict == "review"


# --------------------------------------------------------------- real MLS photos


def _eval_proxy(name):
    path = require_eval("listing_photos", name)
    return resize_long_side(decode_image(path.read_bytes(), filename=name).rgb, 1024)


def test_real_mls_watermark_is_found_in_its_corner(detector):
    """house48's photos carry "GJARA" in the bottom-right corner (labelled by eye in
    bench/labels/listing_photos_compliance.tsv); house113's bedroom carries nothing."""
    rgb = _eval_proxy("house48_bedroom.jpg")
    check = mls.check_branding(rgb, detector)
    assert not check.passed and check.severity == "review"
    assert any((b["box"][0] + b["box"][2]) / 2 > 0.6 and (b["box"][1] + b["box"][3]) / 2 > 0.75
               for b in check.boxes), check.boxes
    assert mls.check_branding(_eval_proxy("house113_bedroom.jpg"), detector).passed


def test_figures_that_are_not_people_pass_the_people_check():
    """Real listing photos with figures in them (labelled by eye): a painting of a reclining
    woman, framed drawings of women, a Minecraft wall decal; no person."""
    for name in ("house118_bathroom.jpg", "house222_bathroom.jpg", "house233_bedroom.jpg"):
        assert mls.check_people(_eval_proxy(name)).passed, name


def _flagged(*boxes, name=mls.BRANDING_CHECK) -> Check:
    return Check(name, False, "review", len(boxes), "0 text boxes", "found", rule=mls.RULE_BRANDING,
                 boxes=[{"box": list(b), "score": 0.9} for b in boxes])


#: A crop 100 px in and 50 px down of a 1000 x 800 photo, 800 x 700 px delivered.
CROP = {"matrix": [[1, 0, -100], [0, 1, -50], [0, 0, 1]], "input_size": [1000, 800], "output_size": [800, 700]}


def test_mls_boxes_are_carried_into_the_delivered_frame_and_cropped_ones_dropped():
    check = mls.to_delivered_frame(_flagged((0.5, 0.5, 0.6, 0.6), (0.0, 0.0, 0.05, 0.05)), CROP)
    assert not check.passed and check.value == 1 and len(check.boxes) == 1
    assert check.boxes[0]["box"] == pytest.approx([400 / 800, 350 / 700, 500 / 800, 430 / 700], abs=1e-4)
    assert check.boxes[0]["score"] == 0.9 and "cropped away" in check.message
    # A box the crop cuts in two stays, clipped to the frame.
    edge = mls.to_delivered_frame(_flagged((0.05, 0.5, 0.2, 0.6)), CROP)
    assert not edge.passed and edge.boxes[0]["box"][0] == 0.0


def test_an_mls_check_whose_boxes_were_all_cropped_away_passes():
    check = mls.to_delivered_frame(_flagged((0.0, 0.0, 0.05, 0.05)), CROP)
    assert check.passed and check.value == 0 and not check.boxes and "outside the delivered frame" in check.message
    assert mls.to_delivered_frame(_flagged((0.0, 0.0, 0.05, 0.05)), None).passed is False  # no warp: as found


def test_a_person_keeps_the_face_inside_the_moved_box():
    person = Check(mls.PEOPLE_CHECK, False, "review", 1, "0 faces", "found", rule=mls.RULE_PEOPLE,
                   boxes=[{"box": [0.4, 0.3, 0.6, 0.9], "face": [0.45, 0.3, 0.55, 0.4], "agreement": 16}])
    (moved,) = mls.to_delivered_frame(person, CROP).boxes
    assert moved["face"] == pytest.approx([350 / 800, 190 / 700, 450 / 800, 270 / 700], abs=1e-4)
    assert moved["box"][0] <= moved["face"][0] and moved["box"][3] >= moved["face"][3]


# --------------------------------------------------------- a learned detector's people


def test_a_person_seen_from_behind_is_flagged_from_the_learned_detector(room):
    back = {"class": "Person", "bbox_norm": [0.1, 0.3, 0.22, 0.9], "confidence": 0.72}
    check = mls.check_people(room, detected=[back])
    assert not check.passed and check.value == 1 and check.severity == "review"
    (found,) = check.boxes
    assert found == {"box": [0.1, 0.3, 0.22, 0.9], "face": None, "detector": "yolo", "score": 0.72}
    assert CheckModel.model_validate(asdict(check)).model_dump(mode="json")["boxes"] == check.boxes
    clean = mls.check_people(room, detected=[])
    assert clean.passed and "learned detector" in clean.message


def test_a_person_found_by_face_and_by_the_detector_is_one_person(room):
    rgb, face = _paste_astronaut(room, 80)
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = face
    body = {"bbox_norm": [max(0.0, (x0 - 40) / w), max(0.0, (y0 - 20) / h), min(1.0, (x1 + 40) / w),
                          min(1.0, (y1 + 200) / h)], "confidence": 0.9}
    faces_only = mls.check_people(rgb)
    both = mls.check_people(rgb, detected=[body])
    assert faces_only.value >= 1 and both.value == faces_only.value
    assert all(b["detector"] != "yolo" for b in both.boxes)


def test_malformed_detected_people_are_refused_before_the_checks_run(room):
    from lumograph.models.common.errors import InvalidOptions

    core = QACore(text_detector=None)
    for bad in ("people", [{"bbox": [0, 0, 10, 10]}], [{"bbox_norm": [0.5, 0.2, 0.3, 0.9]}]):
        with pytest.raises(InvalidOptions):
            core.check_listing(room, room, [], None, None, bad)


def test_detected_people_survive_the_perspective_warp_and_count_once(room):
    # One person seen from behind, as an Open Images model names it three times over.
    person = [{"class": c, "bbox_norm": b, "confidence": s} for c, b, s in
              (("Person", [0.1, 0.3, 0.22, 0.9], 0.8), ("Man", [0.11, 0.31, 0.22, 0.88], 0.6),
               ("Human body", [0.1, 0.35, 0.21, 0.9], 0.5))]
    check = mls.check_people(room, detected=person)
    assert check.value == 1 and check.boxes[0]["score"] == 0.8
    h, w = room.shape[:2]
    shift = {"matrix": [[1, 0, -0.05 * w], [0, 1, 0], [0, 0, 1]], "input_size": [w, h], "output_size": [w, h]}
    moved = mls.to_delivered_frame(check, shift)
    (box,) = moved.boxes
    assert box["face"] is None and abs(box["box"][0] - 0.05) < 0.01 and not moved.passed
