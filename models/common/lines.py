"""Straight line segments (OpenCV's LSD, parameter-free by design), one detector per
scale and per thread: replicas run calls in a thread pool, and an OpenCV algorithm
object is not safe to share between threads."""
from __future__ import annotations

import threading

import cv2
import numpy as np

#: OpenCV's default LSD scale (the image is resampled by it before detection).
DEFAULT_SCALE = 0.8

_local = threading.local()


def line_segment_detector(scale: float = DEFAULT_SCALE) -> cv2.LineSegmentDetector:
    """This thread's LSD (standard refinement) at ``scale``, built once."""
    cache = getattr(_local, "detectors", None)
    if cache is None:
        cache = _local.detectors = {}
    key = round(scale, 3)
    if key not in cache:
        cache[key] = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD, key)
    return cache[key]


def line_segments(gray: np.ndarray, scale: float = DEFAULT_SCALE) -> np.ndarray:
    """(N, 4) float32 x1, y1, x2, y2 in ``gray``'s pixels. gray: HxW uint8."""
    found = line_segment_detector(scale).detect(gray)[0]
    return np.zeros((0, 4), np.float32) if found is None else found.reshape(-1, 4).astype(np.float32)
