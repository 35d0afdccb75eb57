"""Fit the light-backdrop cut-out's fractions, say how well the fit carries to packshots it
has not seen, and show what the ``cutout_complete`` QA check measures on good and broken
cut-outs.

``models/segmenter/light_backdrop.py`` has five fitted parameters (every other level there is
relative to the measured sweep or the piece): ``CRISP_SHARE`` (edge strength, as a share of
the piece's own, that counts as metal), ``CLOSE_FRACTION`` (closing radius, share of the
piece's size), ``SEE_THROUGH_FRACTION`` (narrowest see-through hole) and
``REFLECTION_WEAK_SHARE`` (edge strength under which bottom bands are a floor reflection) and
``GAP_TONE`` (how close to the sweep's tone a bridged gap must be to open again).
Each image is segmented once per grid point; then, leaving one image out at a time, the grid
point with the best mean band IoU on the others is scored on the one left out. A
leave-one-out figure far under the all-data one means the fractions fit the sample, not
packshots.

The QA part segments every packshot three ways: as shipped, with the light-backdrop path
switched off (the general path, which lost white-metal bands), and as shipped with the top
half of the alpha erased; ``cutout_complete``'s measure must separate the cut-outs under
``GOOD_CUTOUT_IOU_BAND`` from the good ones.

Run: ``python -m lumograph.bench.fit_light_backdrop --data ../shared/eval/jewelry_masks
--json out/fit_light_backdrop.json`` (a few minutes on two cores).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from lumograph.bench.evaluate import GOOD_CUTOUT_IOU_BAND
from lumograph.bench.metrics import band_scores
from lumograph.models.common.imageio import decode_image, resize_long_side
from lumograph.models.qa import cutout
from lumograph.models.segmenter import light_backdrop
from lumograph.models.segmenter.jewelry_matte import matte_to_full_frame, segment_jewelry

GRID = {
    "CRISP_SHARE": (0.1, 0.15, 0.2),
    "CLOSE_FRACTION": (0.01, 0.02, 0.03),
    "SEE_THROUGH_FRACTION": (0.01, 0.02),
    "REFLECTION_WEAK_SHARE": (0.0, 0.25, 0.35, 0.45),
    "GAP_TONE": (0.0, 0.5, 1.0),
}


def load(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB, truth mask) for every ``NAME.jpg`` with a ``NAME.mask.jpg``."""
    out = []
    for path in sorted(folder.glob("*.jpg")):
        mask = path.with_name(path.stem + ".mask.jpg")
        if path.name.endswith(".mask.jpg") or not mask.exists():
            continue
        out.append((path.name, decode_image(path.read_bytes()).rgb,
                    cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE) >= 128))
    return out


def _alpha(rgb: np.ndarray) -> np.ndarray:
    return matte_to_full_frame(segment_jewelry(rgb), rgb.shape[:2])


def _with(values: dict, fn):
    saved = {k: getattr(light_backdrop, k) for k in values}
    try:
        for k, v in values.items():
            setattr(light_backdrop, k, v)
        return fn()
    finally:
        for k, v in saved.items():
            setattr(light_backdrop, k, v)


def fit(images) -> dict:
    """All-data and leave-one-out band IoU over ``GRID``."""
    points = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    scores = np.zeros((len(points), len(images)))
    for i, point in enumerate(points):
        for j, (_, rgb, truth) in enumerate(images):
            scores[i, j] = _with(point, lambda rgb=rgb, truth=truth: band_scores(_alpha(rgb) >= 0.5, truth)["iou"])
    shipped = {k: getattr(light_backdrop, k) for k in GRID}
    best = int(np.argmax(scores.mean(axis=1)))
    held_out = {}
    for j, (name, _, _) in enumerate(images):
        others = np.delete(scores, j, axis=1).mean(axis=1)
        pick = int(np.argmax(others))
        held_out[name] = {"iou_band": round(float(scores[pick, j]), 4), "chosen": points[pick]}
    shipped_index = next((i for i, p in enumerate(points) if p == shipped), None)
    return {
        "grid": {k: list(v) for k, v in GRID.items()},
        "shipped": shipped,
        "shipped_in_grid": shipped_index is not None,
        "shipped_per_image": None if shipped_index is None else {
            name: round(float(scores[shipped_index, j]), 4) for j, (name, _, _) in enumerate(images)},
        "all_data_best": {"point": points[best], "miou_band": round(float(scores[best].mean()), 4),
                          "min_iou_band": round(float(scores[best].min()), 4)},
        "leave_one_out": {"miou_band": round(float(np.mean([v["iou_band"] for v in held_out.values()])), 4),
                          "min_iou_band": round(float(min(v["iou_band"] for v in held_out.values())), 4),
                          "per_image": held_out},
    }


def qa_separation(images) -> dict:
    """``cutout_complete``'s measure on shipped, general-path and half-erased cut-outs."""
    rows = []
    for name, rgb, truth in images:
        proxy = resize_long_side(rgb, 1024)
        variants = {
            "shipped": _alpha(rgb),
            "general_path": _with({"LIGHT_MIN_LIGHTNESS": 101.0}, lambda rgb=rgb: _alpha(rgb)),
        }
        erased = variants["shipped"].copy()
        rows_in = np.flatnonzero((erased >= 0.5).any(axis=1))
        erased[: (rows_in[0] + rows_in[-1]) // 2] = 0.0
        variants["top_half_erased"] = erased
        for kind, alpha in variants.items():
            small = cv2.resize(alpha, (proxy.shape[1], proxy.shape[0]), interpolation=cv2.INTER_AREA)
            rows.append({"image": name, "cut_out": kind,
                         "iou_band": round(band_scores(alpha >= 0.5, truth)["iou"], 4),
                         "recall_band": round(band_scores(alpha >= 0.5, truth)["recall"], 4),
                         "missing_share": round(float(cutout.missing_evidence_share(proxy, small)), 4)})
    good = [r["missing_share"] for r in rows if r["iou_band"] >= GOOD_CUTOUT_IOU_BAND]
    bad = [r for r in rows if r["iou_band"] < GOOD_CUTOUT_IOU_BAND]
    return {
        "review_level": cutout.INCOMPLETE_REVIEW_SHARE,
        "fail_level": cutout.INCOMPLETE_FAIL_SHARE,
        "good_max_missing_share": max(good) if good else None,
        "bad_caught": sum(1 for r in bad if r["missing_share"] > cutout.INCOMPLETE_REVIEW_SHARE),
        "bad_total": len(bad),
        "bad_missed": [r for r in bad if r["missing_share"] <= cutout.INCOMPLETE_REVIEW_SHARE],
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a folder laid out like jewelry_masks/")
    parser.add_argument("--json", required=True)
    args = parser.parse_args(argv)
    images = load(Path(args.data))
    if not images:
        print(json.dumps({"code": "no_images", "message": f"no NAME.jpg + NAME.mask.jpg in {args.data}"}),
              file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    result = {"data": args.data, "n": len(images), "fit": fit(images), "qa": qa_separation(images)}
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result["fit"].items() if k != "grid"}, indent=2))
    print(json.dumps({k: v for k, v in result["qa"].items() if k != "rows"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
