"""Text, watermark and logo lettering in a delivered image: a learned text detector and the
rule that decides which text counts (shared by both verticals).

Detector: PaddleOCR's PP-OCRv4 text-detection network (DB, "Real-time Scene Text
Detection with Differentiable Binarization", Liao et al. 2020), as the ONNX file that the
``rapidocr-onnxruntime`` wheel ships (``rapidocr_onnxruntime/models/
ch_PP-OCRv4_det_infer.onnx``, 4.7 MB, Apache-2.0). Only that file is used, run directly with
onnxruntime: rapidocr's Python code is never imported (it needs ``opencv-python``, which
would clash with our ``opencv-python-headless``, and pyclipper/shapely). The file is found
from the installed distribution's record, never from an absolute path, and nothing is
downloaded. It finds text lines of any script; it does not read them.

Rule (:func:`text_outside`): a text box counts when a substantial share of its area
(``OUTSIDE_SHARE``) lies outside the regions where text is allowed. For the jewelry
lightbox the allowed region is the piece itself: a hallmark stamped in the metal ("S925")
or an engraving is the product, while text on the backdrop, a watermark or a logo laid
over the piece and running past it is not. The listing vertical can reuse
:meth:`TextDetector.find_text` and :func:`text_outside` with its own mask of allowed
regions (e.g. signage that belongs to the property) for MLS branding rules.

One detector per replica: the QA deployment and ``graphs/local.py`` build it once with
:func:`load_text_detector` and hand it to the core; ``onnxruntime`` sessions are safe to
run from several threads at once.
"""
from __future__ import annotations

import importlib.metadata
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lumograph.models.common.errors import BackendUnavailable, InvalidImage
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.marketplaces import MarketplaceProfile
from lumograph.models.qa.checks import Check, not_measured

logger = logging.getLogger(__name__)

#: The wheel that ships the detection network, and the file inside it.
DET_MODEL_DISTRIBUTION = "rapidocr-onnxruntime"
DET_MODEL_FILE = "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx"

#: The network's input: longest side capped here (sides rounded to multiples of 32, the
#: network's stride; smaller images are not enlarged). PaddleOCR's default cap is 960;
#: 640 costs ~115 ms instead of ~290 ms on one core (a 2000 px canvas) and still finds
#: lettering with a cap height >= 28 px on a 2000 px canvas (1.4% of the side; 960 finds
#: >= 20 px), measured with four captions per height, side by side.
DET_LONG_SIDE = 640
#: PaddleOCR's det normalisation (ImageNet statistics), applied to BGR channels in that
#: order, exactly as the network was trained (PaddleOCR decodes images with OpenCV).
DET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], np.float32)

# DB post-processing (PaddleOCR's defaults for the det model).
#: A probability-map pixel above this is text.
DB_THRESH = 0.3
#: A candidate box is kept when the mean probability inside it reaches this.
DB_BOX_THRESH = 0.6
#: DB shrinks text regions in training; boxes are grown back by area * ratio / perimeter.
DB_UNCLIP_RATIO = 1.5
#: Candidate boxes whose short side (on the probability map) is under this are noise.
DB_MIN_SIDE = 3
DB_MAX_CANDIDATES = 1000

#: A box counts as added text when at least this share of its area lies outside the
#: allowed region: a hallmark near a band's edge touches the outline by a few pixels; a
#: caption beside the piece (~100%) or a watermark running past it is well over.
OUTSIDE_SHARE = 0.25
#: Darkness (levels below white in the darkest channel) under which a pixel is white,
#: the colour of the backdrop: pale metal is not, nor are the compositor's shadows (10-41
#: levels), so text lying on a shadow that the piece encloses is not counted (the
#: cautious side).
PALE_LEVELS = 12
#: A white hole enclosed by the piece is the piece's (a highlight) up to this many times
#: the area of the text box over it, and backdrop beyond (a ring's hole).
POCKET_MAX_BOXES = 4.0

CHECK_NAME = "output_text_watermark"


@dataclass(frozen=True)
class TextBox:
    """One text line. points: 4x2 float32 (x, y) corners in image pixels, clockwise from
    top-left (a rotated rectangle): the line's extent (DB's region grown back by the
    unclip). score: mean text probability inside, in [0, 1]."""

    points: np.ndarray
    score: float

    @property
    def area(self) -> float:
        """Area in image pixels squared."""
        return float(cv2.contourArea(self.points.astype(np.float32)))

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """Axis-aligned (x0, y0, x1, y1), exclusive ends, in image pixels."""
        x0, y0 = np.floor(self.points.min(axis=0)).astype(int)
        x1, y1 = np.ceil(self.points.max(axis=0)).astype(int)
        return int(x0), int(y0), int(x1) + 1, int(y1) + 1

    def mask(self, shape: tuple[int, int], origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        """The box filled on an HxW bool canvas of ``shape`` whose top-left pixel is the
        image's ``origin`` (x, y): the whole image, or a crop of it."""
        m = np.zeros(shape, np.uint8)
        cv2.fillPoly(m, [np.round(self.points - np.asarray(origin)).astype(np.int32)], 1)
        return m.astype(bool)


@dataclass(frozen=True)
class TextDetectorUnavailable:
    """Stands in for a detector that could not be loaded; ``reason`` says why (reported by
    the check as "not measured")."""

    reason: str


def default_det_model_path() -> Path:
    """The det network inside the installed ``rapidocr-onnxruntime`` wheel.

    Found through the distribution's metadata (its installed location), so rapidocr's own
    package is never imported. Raises ``BackendUnavailable`` naming what is missing.
    """
    try:
        dist = importlib.metadata.distribution(DET_MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise BackendUnavailable(
            f"the text detector's model ships in {DET_MODEL_DISTRIBUTION}==1.4.4, which is not installed "
            f"(pip install --no-deps {DET_MODEL_DISTRIBUTION}==1.4.4)"
        ) from None
    path = Path(str(dist.locate_file(DET_MODEL_FILE)))
    if not path.is_file():
        raise BackendUnavailable(f"the text detector's model is missing: {path}")
    return path


class TextDetector:
    """PP-OCRv4 text detection on one onnxruntime session (load once per replica).

    model_path: the det ``.onnx`` file (default: the one in the installed wheel).
    threads: onnxruntime intra-op threads (a replica's share of the CPUs; 1 keeps packed
    replicas from spinning against each other). long_side: cap of the network input.
    Raises ``BackendUnavailable`` when the file or onnxruntime is missing.
    """

    def __init__(self, model_path: str | Path | None = None, *, threads: int = 1, long_side: int = DET_LONG_SIDE):
        path = Path(model_path) if model_path is not None else default_det_model_path()
        if not path.is_file():
            raise BackendUnavailable(f"the text detector's model is missing: {path}")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailable(f"the text detector needs onnxruntime: {exc}") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Idle threads sleep instead of spinning: the replica's other work shares the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.model_path = path
        self.threads = max(1, int(threads))
        self.long_side = int(long_side)

    def probability_map(self, rgb: np.ndarray, *, long_side: int | None = None) -> np.ndarray:
        """The network's text probability map for ``rgb`` (HxWx3 uint8 RGB), at the network's
        input size (h', w' multiples of 32, long side <= ``long_side``, default the
        detector's): float32 in [0, 1]. A caller that magnified a crop on purpose (the
        listing branding check's border bands) passes its own cap."""
        require_rgb_u8(rgb, "rgb")
        h, w = rgb.shape[:2]
        cap = self.long_side if long_side is None else int(long_side)
        scale = min(1.0, cap / max(h, w))
        rh = max(32, round(h * scale / 32.0) * 32)
        rw = max(32, round(w * scale / 32.0) * 32)
        interp = cv2.INTER_AREA if rh < h else cv2.INTER_LINEAR
        small = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), (rw, rh), interpolation=interp)
        x = (small.astype(np.float32) * (1.0 / 255.0) - DET_MEAN) / DET_STD
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        out = self.session.run(None, {self.input_name: x})[0]
        return out[0, 0].astype(np.float32, copy=False)

    def find_text(self, rgb: np.ndarray) -> list[TextBox]:
        """Text lines in ``rgb`` (HxWx3 uint8 RGB, any size), as rotated boxes in its pixel
        coordinates, best score first. Does not modify ``rgb``."""
        prob = self.probability_map(rgb)
        return boxes_from_probability(prob, rgb.shape[:2])


def load_text_detector(model_path: str | Path | None = None, *,
                       threads: int = 1) -> TextDetector | TextDetectorUnavailable:
    """Build the detector once (per replica); when its model or onnxruntime is missing,
    return a ``TextDetectorUnavailable`` with the reason instead of raising, so the QA gate
    still runs and reports the text check as "not measured"."""
    try:
        return TextDetector(model_path, threads=threads)
    except BackendUnavailable as exc:
        logger.warning("text detector unavailable: %s", exc.message)
        return TextDetectorUnavailable(exc.message)


# ------------------------------------------------------------------ DB post-processing


def _mini_box(contour: np.ndarray) -> tuple[np.ndarray, float]:
    """minAreaRect corners ordered clockwise from top-left, and the short side."""
    rect = cv2.minAreaRect(contour)
    pts = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
    left = sorted(pts[:2], key=lambda p: p[1])
    right = sorted(pts[2:], key=lambda p: p[1])
    box = np.array([left[0], right[0], right[1], left[1]], np.float32)
    return box, float(min(rect[1]))


def _box_score(prob: np.ndarray, box: np.ndarray) -> float:
    """Mean probability inside the box polygon."""
    h, w = prob.shape
    x0 = int(np.clip(np.floor(box[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(box[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(box[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(box[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [np.round(box - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def _unclip(box: np.ndarray, ratio: float) -> np.ndarray:
    """Grow a rectangle by DB's offset d = area * ratio / perimeter on every side. For a
    rectangle, pyclipper's rounded offset followed by minAreaRect is exactly this."""
    rect = cv2.minAreaRect(box)
    (cx, cy), (rw, rh), angle = rect
    area, perimeter = rw * rh, 2.0 * (rw + rh)
    d = area * ratio / max(perimeter, 1e-6)
    return cv2.boxPoints(((cx, cy), (rw + 2 * d, rh + 2 * d), angle)).astype(np.float32)


def boxes_from_probability(
    prob: np.ndarray,
    image_hw: tuple[int, int],
    *,
    thresh: float = DB_THRESH,
    box_thresh: float = DB_BOX_THRESH,
    unclip_ratio: float = DB_UNCLIP_RATIO,
) -> list[TextBox]:
    """DB post-processing: threshold the probability map (h'xw' float32 in [0, 1]), take a
    minAreaRect per contour, score it by the mean probability inside, grow it back
    (unclip) and scale it to ``image_hw`` (H, W). Returns boxes, best score first."""
    ph, pw = prob.shape
    h, w = image_hw
    bitmap = (prob > thresh).astype(np.uint8)
    # PaddleOCR's use_dilation: a 2x2 dilation joins characters of one line.
    bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    sx, sy = w / pw, h / ph
    boxes = []
    for contour in contours[:DB_MAX_CANDIDATES]:
        box, short = _mini_box(contour)
        if short < DB_MIN_SIDE:
            continue
        score = _box_score(prob, box)
        if score < box_thresh:
            continue
        grown, short = _mini_box(_unclip(box, unclip_ratio))
        if short < DB_MIN_SIDE + 2:
            continue
        grown = np.clip(grown * np.array([sx, sy], np.float32), 0, [w, h]).astype(np.float32)
        boxes.append(TextBox(grown, round(score, 4)))
    boxes.sort(key=lambda b: -b.score)
    return boxes


# ------------------------------------------------------------------ the rule


def outside_share(box: TextBox, allowed: np.ndarray) -> float:
    """Share of ``box``'s area, in [0, 1], where ``allowed`` (HxW bool) is False."""
    h, w = allowed.shape
    x0, y0, x1, y1 = box.bbox
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return 0.0
    inside = box.mask((y1 - y0, x1 - x0), (x0, y0))
    n = int(inside.sum())
    if n == 0:
        return 0.0
    return float((inside & ~allowed[y0:y1, x0:x1]).sum()) / n


def text_outside(
    boxes: list[TextBox], allowed: np.ndarray | None, *, min_share: float = OUTSIDE_SHARE
) -> list[tuple[TextBox, float]]:
    """The counting rule: the boxes with at least ``min_share`` of their area outside
    ``allowed`` (HxW bool, True where text belongs to the subject; None: nowhere), with
    that share, in the order given. Reusable by any vertical with its own mask of allowed
    regions (e.g. listing photos: ``detector.find_text(rgb)`` then this)."""
    if allowed is None:
        return [(b, 1.0) for b in boxes]
    allowed = np.asarray(allowed, bool)
    counted = []
    for b in boxes:
        share = outside_share(b, allowed)
        if share >= min_share:
            counted.append((b, share))
    return counted


def piece_mask_around_text(
    non_white: np.ndarray, boxes: list[TextBox], *, white: np.ndarray | None = None
) -> np.ndarray:
    """The piece on a plain white canvas, measured from its pixels, with the lettering
    sorted out: where the text found on it is the piece's own.

    non_white: HxW bool, the pixels that are product by the caller's rule (the lightbox:
    ``SUBJECT_LEVELS`` below white): the marks. boxes: the text found on the same canvas.
    white: HxW bool, the backdrop's colour (the lightbox: within ``PALE_LEVELS`` of 255;
    pale metal and shadows are not white), or None for ``~non_white``.

    Worked out in each box's neighbourhood (its bbox grown by its height) and written into
    the box; elsewhere the result is ``non_white`` (the rule only looks inside the boxes,
    and a canvas without text costs nothing here; with text, one pass over the canvas
    finds the white open to its border):

    1. Lettering: a connected part of the marks lying >= 90% inside the text boxes and not
       running on past the neighbourhood stands on the backdrop by itself (a caption, the
       letters of a watermark beyond the piece, set stones standing apart) and is taken
       out. Marks joined to the piece (a hallmark in the metal) stay.
    2. The rest (pale metal, white, the room of removed lettering) splits into regions.
       One touching white that is open to the canvas border, or a white hole more than
       ``POCKET_MAX_BOXES`` times the box's area (a ring's hole), is backdrop, so text
       placed there counts; a region the piece encloses (a blown-out highlight around a
       hallmark, a pale band around its stones) joins it.

    Returns HxW bool.
    """
    non_white = np.asarray(non_white, bool)
    piece = non_white.copy()
    if not boxes:
        return piece
    shape = non_white.shape
    in_text = np.zeros(shape, np.uint8)
    for b in boxes:
        in_text |= b.mask(shape).view(np.uint8)
    # Grow the boxes a little: a glyph's anti-aliased edge may poke past the box.
    pad = max(1, round(0.002 * max(shape)))
    in_text = cv2.dilate(in_text, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8)) > 0
    white = ~non_white if white is None else np.asarray(white, bool)
    # The white of the whole canvas in 4-connected regions, at half size (a 2x2 block is
    # white when all four pixels are, so thin lines still divide): the backdrop is the
    # white open to the border.
    h2, w2 = shape[0] // 2 * 2, shape[1] // 2 * 2
    half = white[0:h2:2, 0:w2:2] & white[1:h2:2, 0:w2:2] & white[0:h2:2, 1:w2:2] & white[1:h2:2, 1:w2:2]
    _, regions, stats, _ = cv2.connectedComponentsWithStats(half.astype(np.uint8), connectivity=4)
    region_area = 4.0 * stats[:, cv2.CC_STAT_AREA]
    open_region = np.zeros(len(stats), bool)
    open_region[np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]]))] = True
    open_region[0] = False  # label 0: not white
    for b in boxes:
        margin = int(max(4 * pad, min(cv2.minAreaRect(b.points)[1])))
        x0, y0, x1, y1 = b.bbox
        x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
        x1, y1 = min(shape[1], x1 + margin), min(shape[0], y1 + margin)
        if x1 <= x0 or y1 <= y0:
            continue
        # Marks: the product pixels and, near the text, anything not white (pale metal joins
        # set stones to their band, light-grey lettering stands on its own).
        marks = non_white[y0:y1, x0:x1] | ~white[y0:y1, x0:x1]
        local = marks & ~_lettering(marks, in_text[y0:y1, x0:x1])
        # What is not a mark here is white, or the room of removed lettering. A part of it
        # that touches white open to the canvas border, or a white hole much larger than
        # the text (a ring's hole), is backdrop; the rest is a pocket the piece encloses
        # (a blown-out highlight around a hallmark) and joins the piece.
        backdrop_region = open_region | (region_area > POCKET_MAX_BOXES * b.area)
        backdrop_region[0] = False
        rows = np.minimum(np.arange(y0, y1) // 2, regions.shape[0] - 1)
        cols = np.minimum(np.arange(x0, x1) // 2, regions.shape[1] - 1)
        is_open = backdrop_region[regions[np.ix_(rows, cols)]]
        n, labels = cv2.connectedComponents((~local).astype(np.uint8), connectivity=4)
        if n > 1:
            opens = np.bincount(labels.ravel(), weights=is_open.ravel().astype(np.float64), minlength=n)
            enclosed = opens == 0
            enclosed[0] = False  # label 0: the marks
            local |= enclosed[labels]
        inside = b.mask(local.shape, (x0, y0))
        piece[y0:y1, x0:x1][inside] = local[inside]
    return piece


def _lettering(marks: np.ndarray, in_text: np.ndarray) -> np.ndarray:
    """HxW bool: the connected parts of ``marks`` lying >= 90% inside ``in_text`` (both
    HxW bool, a crop) that do not reach the crop's edge (those run on past the text)."""
    n, labels = cv2.connectedComponents(marks.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(marks.shape, bool)
    covered = np.bincount(labels.ravel(), weights=in_text.ravel().astype(np.float64), minlength=n)
    area = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
    lettering = covered >= 0.9 * area
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    lettering[edge] = False
    lettering[0] = False  # the background label
    return lettering[labels]


def forbids_text(profile: MarketplaceProfile) -> bool:
    """Whether the marketplace's main-image rules forbid text or watermarks."""
    return any("text" in c or "watermark" in c for c in profile.forbidden_content)


def check_text_watermark(
    rgb: np.ndarray,
    piece_mask: np.ndarray | None,
    detector: TextDetector | TextDetectorUnavailable | None,
    profile: MarketplaceProfile,
    *,
    boxes: list[TextBox] | None = None,
    name: str = CHECK_NAME,
) -> Check:
    """No text, watermark or logo lettering outside the product.

    rgb: the delivered HxWx3 uint8 RGB image. piece_mask: HxW bool, True on the product
    (text there is the product's: a hallmark, an engraving); None means no product, so all
    text counts. detector: a loaded ``TextDetector``; None or ``TextDetectorUnavailable``
    gives an honest "not measured". boxes: the detector's boxes when already found on
    ``rgb`` (saves a second run). Value: the number of counted text boxes; severity
    "fail" where the profile forbids text or watermarks, else "info".
    """
    what = ", ".join(profile.forbidden_content) or "text or watermarks"
    if detector is None:
        return not_measured(name, f"no text detector was given (rule: no {what})")
    if isinstance(detector, TextDetectorUnavailable):
        return not_measured(name, detector.reason)
    if boxes is None:
        boxes = detector.find_text(rgb)
    h, w = rgb.shape[:2]
    if piece_mask is not None and np.asarray(piece_mask).shape != (h, w):
        raise InvalidImage(f"piece mask {np.asarray(piece_mask).shape} does not match the image {(h, w)}")
    counted = text_outside(boxes, piece_mask)
    forbidden = forbids_text(profile)
    frame = sum(b.area for b, _ in counted) / float(h * w)
    inside = len(boxes) - len(counted)
    limit = f"0 text boxes with >= {OUTSIDE_SHARE:.0%} of their area outside the piece"
    if counted:
        where = ", ".join(f"{list(b.bbox)} ({share:.0%} outside)" for b, share in counted[:5])
        more = f" and {len(counted) - 5} more" if len(counted) > 5 else ""
        message = (f"{len(counted)} text box(es) outside the piece cover {frame:.2%} of the frame: {where}{more}"
                   + (f"; {profile.display_name} forbids {what}" if forbidden else " (no rule against text)"))
    else:
        message = "no text outside the piece"
    if inside:
        message += f"; {inside} text box(es) on the piece itself ignored (hallmark, engraving, set stones)"
    return Check(name, not counted, "fail" if forbidden else "info", len(counted),
                 limit if forbidden else None, message)
