"""Frontal faces, classical and shipped inside a wheel (shared by the mirror clean-up and the
listing QA's people check).

The installed OpenCV 5 wheel ships neither the HOG people detector (``cv2.HOGDescriptor``
is absent) nor Haar cascades, and ``cv2.FaceDetectorYN`` needs a model file we may not
download. scikit-image ships OpenCV's LBP frontal-face cascade inside its wheel
(``skimage/data/lbpcascade_frontalface_opencv.xml``, through
``skimage.data.lbp_frontal_face_cascade_filename()``); it is read from there, nothing is
downloaded.

The cascade's false alarms (wood grain, tiles, towels, framed pictures) are lone or weakly
supported windows; a real face gathers many overlapping windows. :func:`find_faces` scans
once with a loose grouping and then asks, around each hit only (cheap), for ever more
agreeing neighbours: the strictest level still answering is the hit's ``agreement``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

#: Cascade scan: window growth per scale step, and the loose grouping of the first pass.
SCALE_FACTOR = 1.15
LOOSE_NEIGHBOURS = 3
#: The agreement levels asked around a hit (more agreeing neighbour windows = surer).
AGREEMENT_LEVELS = (6, 10, 16)

#: One cascade per thread: replicas run calls in a thread pool and the cascade object
#: keeps per-detection state.
_local = threading.local()


def face_cascade():
    """This thread's scikit-image ``Cascade`` over the LBP frontal-face file in its wheel."""
    cascade = getattr(_local, "face_cascade", None)
    if cascade is None:
        from skimage.data import lbp_frontal_face_cascade_filename
        from skimage.feature import Cascade

        cascade = _local.face_cascade = Cascade(lbp_frontal_face_cascade_filename())
    return cascade


@dataclass(frozen=True)
class FaceHit:
    """One face window. box: (x0, y0, x1, y1) pixels of the scanned image, exclusive ends.
    agreement: the largest of ``LOOSE_NEIGHBOURS`` and ``AGREEMENT_LEVELS`` at which the
    cascade still finds a face around it (int)."""

    box: tuple[int, int, int, int]
    agreement: int


def find_faces(rgb: np.ndarray, *, min_face: int, max_face: int, min_agreement: int = LOOSE_NEIGHBOURS,
               limit: int = 8, scale_factor: float = SCALE_FACTOR, step_ratio: float = 1.0) -> list[FaceHit]:
    """Frontal faces in ``rgb`` (HxWx3 uint8 RGB or HxW uint8, scanned as given).

    min_face, max_face: window sides in pixels. scale_factor: window growth per scale
    step (a coarser step scans fewer scales: faster, and it may miss a face between two
    steps). step_ratio: the sliding window's stride, in cascade cells (1: every cell; 1.5
    is about three times faster and fewer neighbouring windows agree on a face). Hits are
    confirmed largest first (a face nearer the camera) up to ``limit`` of them; those reaching ``min_agreement`` are
    returned, most agreeing first. Does not modify ``rgb``.
    """
    h, w = rgb.shape[:2]
    if min(h, w) < min_face:
        return []
    max_face = max(min_face + 1, int(max_face))
    cascade = face_cascade()
    size = dict(min_size=(min_face, min_face), max_size=(max_face, max_face))
    hits = cascade.detect_multi_scale(img=rgb, scale_factor=scale_factor, step_ratio=step_ratio,
                                      min_neighbor_number=LOOSE_NEIGHBOURS, **size)
    found = []
    for d in sorted(hits, key=lambda d: -d["width"] * d["height"])[:limit]:
        pad = d["width"]
        r0, c0 = max(0, d["r"] - pad), max(0, d["c"] - pad)
        around = rgb[r0:d["r"] + d["height"] + pad, c0:d["c"] + d["width"] + pad]
        agreement = LOOSE_NEIGHBOURS
        for neighbours in AGREEMENT_LEVELS:
            if not cascade.detect_multi_scale(img=around, scale_factor=scale_factor, step_ratio=step_ratio,
                                              min_neighbor_number=neighbours, **size):
                break
            agreement = neighbours
        if agreement >= min_agreement:
            found.append(FaceHit((int(d["c"]), int(d["r"]), int(d["c"] + d["width"]), int(d["r"] + d["height"])),
                                 agreement))
    found.sort(key=lambda f: -f.agreement)
    return found
