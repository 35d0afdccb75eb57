"""Colour-constancy evaluation: angular error of an illuminant estimator on linear
camera-raw images with measured illuminants (``color_constancy/gt.csv``).
"""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from lumograph.bench.fit_constancy import DEFAULT_FOLDS, fit, summarise
from lumograph.models.common.errors import InvalidImage
from lumograph.models.grader.illuminant import DEFAULT_METHOD, angular_error_deg, estimate_illuminant

# ------------------------------------------------------------------- evaluation


def read_linear_png(path: Path) -> np.ndarray:
    """A 16-bit linear PNG as HxWx3 float32 RGB in its raw counts (0..65535)."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.ndim != 3:
        raise InvalidImage(f"{path} is not a colour image")
    return np.ascontiguousarray(raw[..., 2::-1]).astype(np.float32)


def evaluate_color_constancy(data_dir, method: str = DEFAULT_METHOD, *, folds: int | None = DEFAULT_FOLDS) -> dict:
    """Score an estimator on a folder of linear images with ground truth.

    data_dir: folder with ``gt.csv`` (``file,r,g,b``) and 16-bit linear PNGs (black
    level removed). Saturation is taken as each image's maximum (the folder's
    metadata carries no clip level). Returns ``{"method", "n", "median_deg",
    "mean_deg", "worst25_deg", "per_image": {file: deg}}`` where ``worst25_deg`` is
    the mean of the worst quarter of errors, as in the literature. For the default
    method and ``folds`` set, ``"kfold"`` adds the ``folds``-fold cross-validated
    figures of its fitted parameter (``lumograph.bench.fit_constancy``; the photos
    are estimated once per grid margin, ~5x the evaluation's cost).
    """
    data_dir = Path(data_dir)
    with open(data_dir / "gt.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    per_image: dict[str, float] = {}
    for row in rows:
        truth = np.array([float(row["r"]), float(row["g"]), float(row["b"])])
        estimate = estimate_illuminant(read_linear_png(data_dir / row["file"]), method=method)
        per_image[row["file"]] = round(angular_error_deg(estimate, truth), 4)
    result = {"method": method, "n": len(per_image), **summarise(per_image.values()), "per_image": per_image}
    if folds and method == DEFAULT_METHOD and len(per_image) >= 2:
        result["kfold"] = _kfold_summary(data_dir, folds)
    return result


def _kfold_summary(data_dir: Path, folds: int) -> dict:
    result = fit(data_dir, folds=folds)
    figures = ("median_deg", "mean_deg", "worst25_deg")
    return {
        "folds": result["kfold"]["folds"],
        **{k: result["kfold"][k] for k in figures},
        "all_data_fit": result["all_data_fit"],
        "shipped_parameters": result["shipped"]["parameters"],
    }
