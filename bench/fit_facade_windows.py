"""Fit the facade-window detector of day-to-dusk (``models/compositor/facade_windows.py`` →
``facade_window_params.py``) on windows labelled by eye, and say how well the fit carries
to houses it has not seen.

Labels: ``bench/labels/listing_facade_windows.tsv``: the glass of every window on the
buildings of the 30 exteriors of ``<data>/listing_photos`` (fractions of the frame;
``kind`` window / door / garage; ``occluded`` 1 when more than half of it is hidden).

Each photo is analysed as day-to-dusk does it (1024 px proxy, ``segment_sky`` for an
exterior), every candidate box (``facade_candidates``) measured once. A candidate is a
window (1) when at least ``GLASS_POSITIVE`` of it lies on labelled glass and it covers at
least ``COVER_POSITIVE`` of one labelled box (not a stray pane corner); not a window (0)
when less than ``GLASS_NEGATIVE`` of it is glass; the ones between are left out of the fit.

Fit: a two-class logistic regression with an L2 penalty (``fit_scene.fit_table``:
standardised inputs, the penalty chosen by grouped cross-validation by house) over
``FACADE_INPUTS``, then the threshold of ``THRESHOLDS`` that maximises F0.5 of the
product figures below on the training photos (a glowing patch of wall spoils a dusk shot
more than a window left dark: precision counts twice).

Product figures, as the detector runs (threshold, then overlapping boxes dropped,
``select_windows``):

* ``recall`` (``found`` of ``labelled``): share of the labelled windows and door glass
  (not occluded) whose area is at least half covered by kept boxes: the windows dusk lights;
* ``box_precision`` (``boxes_on_label`` of ``boxes``): share of kept boxes at least half
  of which is labelled glass (any kind, occluded too): the rest glow on a wall, a roof or
  a bush.

``all_data``: fitted and scored on every photo (optimistic); ``kfold``: the houses in
``FOLDS`` folds (``fit_scene.house_folds``), each scored by a fit (penalty and threshold
too) on the other four; pooled counts and the worst fold.

Run: ``python -m lumograph.bench.fit_facade_windows --data ../shared/eval --json out/fit_facade.json``
(about 8 minutes on two cores: the 168 inputs, 144 of them the shape descriptor, make each
penalty choice slow); ``--write`` rewrites ``facade_window_params.py``.

The shape descriptor's layout (``facade_windows.SHAPE_CELLS`` x ``SHAPE_CELLS`` cells, the
``SHAPE_MARGIN`` around the box) was chosen among six variants (2, 3 and 4 cells a side;
margins 0.25, 0.5 and 1; with and without a blur before the gradients) by this fit's
k-fold figure: the figure of the chosen one is slightly optimistic for that choice.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from lumograph.bench import fit_scene
from lumograph.bench.fit_output import emit_fit
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.imageio import decode_image, resize_long_side
from lumograph.models.compositor import facade_windows
from lumograph.models.compositor.facade_windows import FACADE_INPUTS, facade_candidates, select_windows
from lumograph.models.segmenter.sky_matte import segment_sky

FOLDS = 5
BETA = 0.5
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.2, 0.91, 0.05))
GLASS_POSITIVE = 0.6
COVER_POSITIVE = 0.25
GLASS_NEGATIVE = 0.2
#: A labelled window counts as lit when kept boxes cover this share of it; a kept box
#: counts as on glass when this share of it is labelled glass.
LIT_COVER = 0.5
ON_GLASS = 0.5
#: The kinds a window's recall counts (garage-door lites may stay dark at dusk).
COUNTED_KINDS = ("window", "door")


LABELS = Path(__file__).with_name("labels") / "listing_facade_windows.tsv"
PARAMS_PATH = Path(facade_windows.__file__).with_name("facade_window_params.py")
COMMAND = "python -m lumograph.bench.fit_facade_windows --data ../shared/eval --write"


def read_labels(path: Path = LABELS) -> dict[str, list[dict]]:
    """photo stem -> [{"box": (x0, y0, x1, y1) fractions, "kind", "occluded"}]; a photo
    labelled with no window maps to []."""
    with open(path, newline="") as f:
        lines = [line for line in f if not line.startswith("#")]
    out: dict[str, list[dict]] = {}
    for row in csv.DictReader(lines, delimiter="\t"):
        boxes = out.setdefault(row["photo"], [])
        if row["kind"] == "none":
            continue
        box = tuple(float(row[k]) for k in ("x0", "y0", "x1", "y1"))
        if not (0 <= box[0] < box[2] <= 1 and 0 <= box[1] < box[3] <= 1):
            raise InvalidOptions(f"label box out of the frame in {row['photo']}: {box}")
        boxes.append({"box": box, "kind": row["kind"], "occluded": row["occluded"] == "1"})
    return out


def _glass_mask(labels: list[dict], shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    mask = np.zeros((h, w), bool)
    for lab in labels:
        x0, y0, x1, y1 = box_px(lab["box"], shape)
        mask[y0:y1, x0:x1] = True
    return mask


def box_px(box, shape) -> tuple[int, int, int, int]:
    """A box in fractions of the frame, in pixels of a ``shape`` (h, w) grid (at least 1 px)."""
    h, w = shape
    return (int(round(box[0] * w)), int(round(box[1] * h)), max(int(round(box[2] * w)), int(round(box[0] * w)) + 1),
            max(int(round(box[3] * h)), int(round(box[1] * h)) + 1))


def _share(mask: np.ndarray, box) -> float:
    x0, y0, x1, y1 = box
    crop = mask[y0:y1, x0:x1]
    return float(crop.mean()) if crop.size else 0.0


def candidate_label(box, labels: list[dict], glass: np.ndarray) -> int | None:
    on_glass = _share(glass, box)
    if on_glass < GLASS_NEGATIVE:
        return 0
    if on_glass < GLASS_POSITIVE:
        return None
    area = lambda b: max(1, (b[2] - b[0]) * (b[3] - b[1]))  # noqa: E731
    for lab in labels:
        lb = box_px(lab["box"], glass.shape)
        iw = max(0, min(box[2], lb[2]) - max(box[0], lb[0]))
        ih = max(0, min(box[3], lb[3]) - max(box[1], lb[1]))
        if iw * ih >= COVER_POSITIVE * area(lb):
            return 1
    return None


def measure(data: Path, stems: list[str] | None = None) -> list[dict]:
    """Per labelled photo (or only ``stems``): {"photo", "house", "shape", "labels",
    "glass", "candidates" (each with "bbox", "measures", "y")}."""
    labels = read_labels()
    folder = Path(data) / "listing_photos"
    photos = []
    for stem, labelled in sorted(labels.items()):
        if stems is not None and stem not in stems:
            continue
        path = folder / f"{stem}.jpg"
        if not path.exists():
            raise InvalidOptions(f"labelled photo missing from the eval folder, got {str(path)!r}")
        proxy = resize_long_side(decode_image(path.read_bytes()).rgb, 1024)
        sky = segment_sky(proxy, scene="exterior")["matte"]
        candidates = facade_candidates(proxy, sky)
        glass = _glass_mask(labelled, proxy.shape[:2])
        for c in candidates:
            c["y"] = candidate_label(c["bbox"], labelled, glass)
        photos.append({"photo": stem, "house": fit_scene.house_of(stem + ".jpg"), "shape": proxy.shape[:2],
                       "labels": labelled, "glass": glass, "candidates": candidates})
    return photos


def score_boxes(photo: dict, kept: list[list[int]]) -> dict:
    """Product figures of one photo's kept boxes (proxy px)."""
    h, w = photo["shape"]
    lit = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in kept:
        lit[y0:y1, x0:x1] = True
    counted = [lab for lab in photo["labels"] if lab["kind"] in COUNTED_KINDS and not lab["occluded"]]
    found = sum(1 for lab in counted if _share(lit, box_px(lab["box"], (h, w))) >= LIT_COVER)
    on_glass = sum(1 for b in kept if _share(photo["glass"], b) >= ON_GLASS)
    return {"labelled": len(counted), "found": found, "boxes": len(kept), "boxes_on_label": on_glass}


def _figures(counts: list[dict]) -> dict:
    labelled = sum(c["labelled"] for c in counts)
    found = sum(c["found"] for c in counts)
    boxes = sum(c["boxes"] for c in counts)
    good = sum(c["boxes_on_label"] for c in counts)
    recall = found / labelled if labelled else 1.0
    precision = good / boxes if boxes else 1.0
    b2 = BETA * BETA
    f = (1 + b2) * precision * recall / (b2 * precision + recall) if precision + recall else 0.0
    return {"labelled": labelled, "found": found, "recall": round(recall, 4), "boxes": boxes,
            "boxes_on_label": good, "box_precision": round(precision, 4), "f_beta": round(f, 4)}


def score_photos(photos: list[dict], params: dict) -> dict:
    return _figures([score_boxes(p, [k["bbox"] for k in select_windows(p["candidates"], params)])
                     for p in photos])


def fit_params(photos: list[dict]) -> dict:
    rows = [(c["measures"], c["y"], p["house"]) for p in photos for c in p["candidates"] if c["y"] is not None]
    x = np.asarray([[m[k] for k in FACADE_INPUTS] for m, _, _ in rows], np.float64)
    y = np.asarray([lab for _, lab, _ in rows])
    table = fit_scene.fit_table(x, np.ones_like(x), y, ("other", "window"), FACADE_INPUTS,
                                [g for _, _, g in rows])
    best = max(THRESHOLDS, key=lambda t: (score_photos(photos, {**table, "threshold": t})["f_beta"],
                                          -abs(t - 0.5)))
    return {**table, "threshold": float(best)}


def kfold(photos: list[dict]) -> dict:
    fold_of = fit_scene.house_folds([p["house"] for p in photos], FOLDS)
    per_fold, counts = [], []
    for k in range(FOLDS):
        train = [p for p in photos if fold_of[p["house"]] != k]
        test = [p for p in photos if fold_of[p["house"]] == k]
        params = fit_params(train)
        fold_counts = [score_boxes(p, [b["bbox"] for b in select_windows(p["candidates"], params)])
                       for p in test]
        counts += fold_counts
        per_fold.append({"fold": k, "houses": sorted({p["house"] for p in test}), "l2": params["l2"],
                         "threshold": params["threshold"], **_figures(fold_counts)})
    return {"folds": FOLDS, **_figures(counts), "worst_fold_f_beta": min(f["f_beta"] for f in per_fold),
            "worst_fold_recall": min(f["recall"] for f in per_fold), "per_fold": per_fold}


def fit(data: Path) -> dict:
    photos = measure(data)
    params = fit_params(photos)
    ys = [c["y"] for p in photos for c in p["candidates"]]
    labels = [lab for p in photos for lab in p["labels"]]
    counted = [lab for lab in labels if lab["kind"] in COUNTED_KINDS and not lab["occluded"]]
    # A labelled window no candidate covers cannot be found by any fit.
    reachable = 0
    for p in photos:
        cands = np.zeros(p["shape"], bool)
        for c in p["candidates"]:
            x0, y0, x1, y1 = c["bbox"]
            cands[y0:y1, x0:x1] = True
        reachable += sum(1 for lab in p["labels"] if lab["kind"] in COUNTED_KINDS and not lab["occluded"]
                         and _share(cands, box_px(lab["box"], p["shape"])) >= LIT_COVER)
    return {
        "params": params,
        "all_data": score_photos(photos, params),
        "kfold": kfold(photos),
        "n": {"photos": len(photos), "labelled_boxes": len(labels), "counted": len(counted),
              "counted_any_candidate_covers": reachable, "candidates": len(ys),
              "candidates_window": sum(1 for v in ys if v == 1), "candidates_other": sum(1 for v in ys if v == 0),
              "candidates_left_out": sum(1 for v in ys if v is None)},
        "beta": BETA,
    }


def _number(v: float) -> str:
    return repr(float(f"{v:.6g}"))


def _wrapped(items: list[str], per_line: int = 5) -> str:
    return "\n".join("        " + ", ".join(items[i:i + per_line]) + ","
                     for i in range(0, len(items), per_line))


def write_params(result: dict) -> None:
    p, a, k = result["params"], result["all_data"], result["kfold"]
    coef = ",\n".join(f"        [{_number(r[0])}, {_number(r[1])}]" for r in p["coef"])
    PARAMS_PATH.write_text(f'''"""Fitted parameters of the facade-window detector (``facade_windows.py``).

Written by ``{COMMAND}``
(``bench/fit_facade_windows.py``); do not edit by hand: re-run it after changing a measurement.
logits = bias + clip(standardise(inputs), +-4) @ coef; a candidate is kept when its
confidence reaches ``threshold``.

At fit time, on {result["n"]["photos"]} exteriors ({result["n"]["counted"]} labelled windows): all-data \
windows lit {a["recall"]}, boxes on glass {a["box_precision"]};
{k["folds"]}-fold by house windows lit {k["recall"]}, boxes on glass {k["box_precision"]} \
(worst fold F0.5 {k["worst_fold_f_beta"]}).
"""

PARAMS = {{
    "model": "logistic",
    "inputs": [
{_wrapped([json.dumps(v) for v in p["inputs"]])}
    ],
    "l2": {p["l2"]},
    "n": {p["n"]},
    "mean": [
{_wrapped([_number(v) for v in p["mean"]])}
    ],
    "scale": [
{_wrapped([_number(v) for v in p["scale"]])}
    ],
    "coef": [
{coef},
    ],
    "bias": [{", ".join(_number(v) for v in p["bias"])}],
    "threshold": {p["threshold"]},
}}
''')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared eval folder")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write", action="store_true", help="rewrite facade_window_params.py with the all-data fit")
    args = parser.parse_args(argv)
    result = fit(args.data)
    emit_fit(result, args.json, params_keys=("l2", "threshold", "n"))
    if args.write:
        write_params(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
