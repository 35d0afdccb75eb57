"""Mask metrics for the evaluations: plain IoU, and IoU inside a band around the
ground-truth boundary (where a matte is won or lost).
"""
from __future__ import annotations

import cv2
import numpy as np

from lumograph.models.common.errors import InvalidOptions

# --------------------------------------------------------------------------- evaluation


def mask_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks of equal shape (1.0 when both are empty)."""
    pred = np.asarray(pred, bool)
    truth = np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise InvalidOptions(f"mask shapes differ: {pred.shape} vs {truth.shape}")
    union = np.logical_or(pred, truth).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, truth).sum() / union)


def mask_iou_band(pred: np.ndarray, truth: np.ndarray, band_px: float | None = None) -> float:
    """IoU of two HxW boolean masks, ignoring pixels within ``band_px`` of the truth's outline.

    Hand-drawn ground truth sits a few pixels off the real edge; this scores the shape rather
    than the brush. ``band_px`` defaults to max(3, 1% of the longest side).
    """
    return band_scores(pred, truth, band_px)["iou"]


def band_scores(pred: np.ndarray, truth: np.ndarray, band_px: float | None = None) -> dict[str, float]:
    """IoU, recall and precision of ``pred`` against ``truth`` outside the boundary band.

    recall: share of the truth's (piece) pixels that ``pred`` keeps: a cut-out that loses
    metal scores low here whatever it adds. precision: share of ``pred`` that is piece.
    Each is 1.0 when its denominator is empty. ``band_px`` as in :func:`mask_iou_band`.
    """
    pred = np.asarray(pred, bool)
    truth = np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise InvalidOptions(f"mask shapes differ: {pred.shape} vs {truth.shape}")
    if band_px is None:
        band_px = max(3.0, 0.01 * max(truth.shape))
    inside = cv2.distanceTransform(truth.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~truth).astype(np.uint8), cv2.DIST_L2, 5)
    scored = np.where(truth, inside, outside) > band_px
    pred, truth = pred[scored], truth[scored]
    kept = float(np.logical_and(pred, truth).sum())
    return {
        "iou": mask_iou(pred, truth),
        "recall": 1.0 if not truth.any() else kept / float(truth.sum()),
        "precision": 1.0 if not pred.any() else kept / float(pred.sum()),
    }
