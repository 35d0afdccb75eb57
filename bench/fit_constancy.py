"""Fit the scene illuminant estimator's parameter and say how well the fit carries to
photos it has not seen.

The scene estimator (``illuminant.DEFAULT_METHOD``, ``grey_bright_consensus``: the
robust mean direction of grey-index, bright/dark-PCA and white-patch estimates) has one
fitted parameter, ``CLIP_MARGIN_SHARE`` (the margin dropped around clipped pixels),
searched from 0 to 2% of the long side: the extent of a halo around a lamp. (Wider
margins fit this folder better still, but mostly because its clip level is each image's
maximum, so its "clipped" pixels are often just the brightest surface, e.g. a yellow
shirt; on listing JPEGs with real clipping they raised the estimated casts.)

Two more are priors, not fitted: the bright cue's weight ``BRIGHT_PIXEL_WEIGHT`` (equal
votes; the structure check also chooses it, 0 = the previous grey-index + PCA pair or
1, inside the folds, to show what that choice costs on held-out images) and the fusion
scale ``FUSION_SCALE_DEG`` (the sensitivity table shows other scales; None = a plain
mean).

For a folder laid out like ``color_constancy/`` (see ``eval_constancy``) this reports,
beside the all-data figures, k-fold cross-validated ones: for each fold the grid point
with the lowest mean angular error on the other folds is chosen and scored on the
held-out images, and the held-out errors of all folds are summarised like an
evaluation. A k-fold figure much worse than the all-data one means the parameter fits
the sample, not the method.

Run: ``python -m lumograph.bench.fit_constancy --data ../shared/eval/color_constancy
--json /tmp/fit_constancy.json`` (about a second on the shared folder).
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np

from lumograph.models.grader import illuminant

#: The grid the fit searches. A margin of 0 is the one-pixel blooming margin alone.
MARGINS = (0.0, 0.005, 0.01, 0.015, 0.02)
GRID = {"clip_margin_share": MARGINS, "bright_weight": (1.0,)}
#: The structure check: the bright cue in (1) or out (0) is chosen inside the folds too.
STRUCTURE_GRID = {"clip_margin_share": MARGINS, "bright_weight": (0.0, 1.0)}
#: The scene estimator before the fit: grey index + bright/dark PCA, no margin.
PREVIOUS = {"clip_margin_share": 0.0, "bright_weight": 0.0}
#: Fusion scales shown in the sensitivity table (None: a plain mean).
SCALES = (None, 2.0, 3.0, 5.0, 8.0, 12.0)
#: What a fit minimises, over the images it sees.
OBJECTIVE = "mean_deg"
DEFAULT_FOLDS = 5


def shipped_parameters() -> dict[str, float]:
    """The parameters ``illuminant.estimate_illuminant`` uses now."""
    return {
        "clip_margin_share": float(illuminant.CLIP_MARGIN_SHARE),
        "bright_weight": float(illuminant.BRIGHT_PIXEL_WEIGHT),
    }


def summarise(errors) -> dict[str, float]:
    """Median, mean and worst-quarter mean (the mean of the worst ceil(n/4) errors,
    as in the literature) of angular errors in degrees."""
    errors = np.sort(np.asarray(list(errors), dtype=np.float64))[::-1]
    if not len(errors):
        return {"median_deg": float("nan"), "mean_deg": float("nan"), "worst25_deg": float("nan")}
    worst = errors[: max(1, math.ceil(len(errors) / 4))]
    return {
        "median_deg": float(np.median(errors)),
        "mean_deg": float(errors.mean()),
        "worst25_deg": float(worst.mean()),
    }


def read_folder(data_dir) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(file, HxWx3 float32 linear camera RGB, (3,) float64 true illuminant) per row of
    ``gt.csv``, in file-name order."""
    from lumograph.bench.eval_constancy import read_linear_png

    data_dir = Path(data_dir)
    with open(data_dir / "gt.csv", newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda row: row["file"])
    return [
        (row["file"], read_linear_png(data_dir / row["file"]), np.array([float(row[c]) for c in "rgb"]))
        for row in rows
    ]


def member_estimates(linear_rgb: np.ndarray, margins=MARGINS) -> dict[float, list[np.ndarray]]:
    """For each clip margin: the three ``illuminant.consensus_cues``, so that every
    bright weight can be scored without estimating again."""
    members = {}
    for margin in margins:
        img, weight = illuminant.prepare_for_estimation(linear_rgb, clip_margin_share=margin)
        members[margin] = illuminant.consensus_cues(img, weight)
    return members


def error_table(images, grid=GRID, members=None) -> tuple[list[dict[str, float]], np.ndarray]:
    """(grid points, errors[point, image] in degrees) for ``images`` from ``read_folder``;
    ``members`` (one ``member_estimates`` per image) saves estimating again."""
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    if members is None:
        members = [member_estimates(linear, grid["clip_margin_share"]) for _, linear, _ in images]
    errors = np.zeros((len(points), len(images)))
    for j, (_, _, truth) in enumerate(images):
        for i, point in enumerate(points):
            estimate = illuminant.fuse_consensus(members[j][point["clip_margin_share"]], point["bright_weight"])
            errors[i, j] = illuminant.angular_error_deg(estimate, truth)
    return points, errors


def best_point(errors: np.ndarray, columns) -> int:
    """Index of the grid point with the lowest ``OBJECTIVE`` over the image ``columns``
    (the first in grid order on a tie: the grid starts from the simpler settings)."""
    scores = [summarise(row[list(columns)])[OBJECTIVE] for row in errors]
    return int(np.argmin(np.round(scores, 9)))


def cross_validate(points, errors: np.ndarray, folds: int) -> dict:
    """k-fold figures: fit on k-1 folds (image j is in fold j % k), score the held-out
    fold; the held-out errors of all folds are summarised together."""
    n = errors.shape[1]
    folds = max(2, min(folds, n))
    held_out = np.zeros(n)
    chosen = []
    for fold in range(folds):
        test = [j for j in range(n) if j % folds == fold]
        train = [j for j in range(n) if j % folds != fold]
        best = best_point(errors, train)
        held_out[test] = errors[best, test]
        chosen.append(points[best])
    return {"folds": folds, **summarise(held_out), "chosen_per_fold": chosen, "held_out_deg": held_out.tolist()}


def fit(data_dir, folds: int = DEFAULT_FOLDS) -> dict:
    """Score the grid on ``data_dir`` and cross-validate. Returns a JSON-able dict:
    ``shipped`` (figures at the parameters in use), ``previous`` (the estimator before
    the fit), ``all_data_fit`` (the best grid point on every image, and its figures:
    optimistic), ``kfold`` and ``leave_one_out`` (held-out figures of the fit),
    ``structure_kfold`` (held-out figures when the bright cue is chosen in the folds
    too), ``scale_sensitivity`` (shipped margin, other fusion scales), ``per_image``
    (shipped error per file) and ``grid`` (every point's figures)."""
    images = read_folder(data_dir)
    if not images:
        raise ValueError(f"{data_dir} has no images in gt.csv")
    members = [member_estimates(linear) for _, linear, _ in images]
    points, errors = error_table(images, STRUCTURE_GRID, members)
    margin, weights = float(illuminant.CLIP_MARGIN_SHARE), [1.0, 1.0, illuminant.BRIGHT_PIXEL_WEIGHT]
    sensitivity = []
    for scale in SCALES if margin in MARGINS else ():
        scale_errors = [
            illuminant.angular_error_deg(illuminant.fuse_estimates(cues[margin], weights, scale_deg=scale), truth)
            for cues, (_, _, truth) in zip(members, images)
        ]
        sensitivity.append({"scale_deg": scale, **summarise(scale_errors)})
    in_fit = [i for i, point in enumerate(points) if point["bright_weight"] in GRID["bright_weight"]]
    fit_points, fit_errors = [points[i] for i in in_fit], errors[in_fit]
    shipped = shipped_parameters()
    if shipped not in fit_points:
        raise ValueError(f"the shipped parameters {shipped} are not on the grid {GRID}")
    shipped_row = fit_errors[fit_points.index(shipped)]
    best = best_point(fit_errors, range(len(images)))
    return {
        "data": str(data_dir),
        "n": len(images),
        "objective": OBJECTIVE,
        "shipped": {"parameters": shipped, **summarise(shipped_row)},
        "previous": {"parameters": PREVIOUS, **summarise(errors[points.index(PREVIOUS)])},
        "all_data_fit": {"parameters": fit_points[best], **summarise(fit_errors[best])},
        "kfold": cross_validate(fit_points, fit_errors, folds),
        "leave_one_out": cross_validate(fit_points, fit_errors, len(images)),
        "structure_kfold": cross_validate(points, errors, folds),
        "scale_sensitivity": sensitivity,
        "per_image": {name: round(float(e), 4) for (name, _, _), e in zip(images, shipped_row)},
        "grid": [{**point, **summarise(row)} for point, row in zip(points, errors)],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a color_constancy folder (gt.csv + linear PNGs)")
    parser.add_argument("--json", help="write the full result here")
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS)
    args = parser.parse_args(argv)
    result = fit(Path(args.data), folds=args.folds)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    brief = {k: v for k, v in result.items() if k not in ("grid", "per_image")}
    print(json.dumps(brief, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
