"""Colour-constancy evaluation: angular error of an illuminant estimator on linear
camera-raw images with measured illuminants (``color_constancy/gt.csv``).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np

from lumograph.models.common.errors import InvalidImage
from lumograph.models.grader.illuminant import DEFAULT_METHOD, angular_error_deg, estimate_illuminant

# ------------------------------------------------------------------- evaluation


def _read_linear_png(path: Path) -> np.ndarray:
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.ndim != 3:
        raise InvalidImage(f"{path} is not a colour image")
    return np.ascontiguousarray(raw[..., 2::-1]).astype(np.float32)


def evaluate_color_constancy(data_dir, method: str = DEFAULT_METHOD) -> dict:
    """Score an estimator on a folder of linear images with ground truth.

    data_dir: folder with ``gt.csv`` (``file,r,g,b``) and 16-bit linear PNGs (black
    level removed). Saturation is taken as each image's maximum (the folder's
    metadata carries no clip level). Returns ``{"method", "n", "median_deg",
    "mean_deg", "worst25_deg", "per_image": {file: deg}}`` where ``worst25_deg`` is
    the mean of the worst quarter of errors, as in the literature.
    """
    data_dir = Path(data_dir)
    with open(data_dir / "gt.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    per_image: dict[str, float] = {}
    for row in rows:
        truth = np.array([float(row["r"]), float(row["g"]), float(row["b"])])
        estimate = estimate_illuminant(_read_linear_png(data_dir / row["file"]), method=method)
        per_image[row["file"]] = round(angular_error_deg(estimate, truth), 4)
    errors = np.sort(np.array(list(per_image.values())))[::-1]
    worst = errors[: max(1, math.ceil(len(errors) / 4))]
    return {
        "method": method,
        "n": int(len(errors)),
        "median_deg": float(np.median(errors)) if len(errors) else float("nan"),
        "mean_deg": float(errors.mean()) if len(errors) else float("nan"),
        "worst25_deg": float(worst.mean()) if len(errors) else float("nan"),
        "per_image": per_image,
    }
