"""Fit the classical window detector's weights and threshold
(``models/window_detector/window_params.py``) on labelled regions of the eval photos, and
say how well the fit carries to houses it has not seen.

The detector (``window_detector/classical.py``) finds every bright region large enough to
be a window (``_window_candidates``) and measures it (``WINDOW_INPUTS``: the step down to
its surroundings, box fill, straight outline, brightness, clipped and blown shares,
warmth, roundness, size, place, shape and four yes/no rules). Here those measurements
are fitted as a two-class logistic regression with an L2 penalty (``fit_scene.fit_table``:
standardised inputs, the penalty chosen by grouped cross-validation by house inside the
training photos), and the reporting threshold is chosen on the training photos to
maximise F0.5 over ``THRESHOLDS`` (precision counts twice recall: a lit wall or a white
door pulled down to grey spoils a photo that was fine, a window left bright only leaves
it as shot).

Labels: ``bench/labels/listing_windows.tsv`` (every candidate region of the eval's
interiors, labelled by eye: daylight glass or not). A region is matched to its label by
its rectangle on the analysis grid (the candidates are deterministic).

Two models are fitted and compared held-out: ``votes`` (the detector's cue votes,
``classical.vote_confidence``: logistic votes whose centres were set by reasoning, before
these labels existed; only the threshold is fitted) and ``logistic`` (the weights fitted as
above). The one shipped has the better k-fold F0.5; within ``F_TIE`` of each other, the
more precise one.

Figures: ``all_data`` (fit and score on every region: optimistic) and ``kfold``: the houses
in ``FOLDS`` folds (``fit_scene.house_folds``), each scored with weights, penalty and
threshold re-fitted on the other four; precision, recall and F0.5 pooled over the
held-out regions, and the worst fold; ``models`` holds both models' figures. Recall counts
the windows among the candidates: a window that is not bright enough to be a candidate
(not blown, nothing to pull) is not counted.

Run: ``python -m lumograph.bench.fit_windows --data ../shared/eval --json out/fit_windows.json``
(about a minute on two cores); ``--write`` rewrites ``window_params.py``.
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
from lumograph.models.window_detector import classical
from lumograph.models.window_detector.classical import WINDOW_INPUTS, window_analysis_maps, window_confidence

LABELS = Path(__file__).with_name("labels") / "listing_windows.tsv"
PARAMS_PATH = Path(classical.__file__).with_name("window_params.py")
COMMAND = "python -m lumograph.bench.fit_windows --data ../shared/eval --write"
FOLDS = 5
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.2, 0.81, 0.05))
BETA = 0.5
#: The models compared, and how close two held-out F0.5 figures count as a tie.
MODELS = ("votes", "logistic")
F_TIE = 0.02


def read_labels(path: Path = LABELS) -> dict[str, list[tuple[tuple[int, int, int, int], int]]]:
    rows: dict[str, list] = {}
    with open(path, newline="") as f:
        lines = [line for line in f if not line.startswith("#")]
    for row in csv.DictReader(lines, delimiter="\t"):
        rect = tuple(int(row[k]) for k in ("x", "y", "w", "h"))
        rows.setdefault(row["photo"], []).append((rect, int(row["window"])))
    return rows


def measure(data: Path) -> list[dict]:
    """Every labelled candidate region: {"photo", "house", "x" (inputs), "y" (label)}."""
    labels = read_labels()
    folder = Path(data) / "listing_photos"
    out = []
    for stem, labelled in sorted(labels.items()):
        path = folder / f"{stem}.jpg"
        if not path.exists():
            raise InvalidOptions(f"labelled photo missing from the eval folder, got {str(path)!r}")
        proxy = resize_long_side(decode_image(path.read_bytes()).rgb, 1024)
        small, lum, vmax = window_analysis_maps(proxy)
        found = {tuple(int(v) for v in c["rect"]): c for c in classical._window_candidates(small, lum, vmax)}
        for rect, label in labelled:
            c = found.get(rect)
            if c is None:
                raise InvalidOptions(f"labelled region {rect} of {stem} is no longer a candidate: relabel "
                                     f"(the candidates changed)")
            out.append({"photo": stem, "house": fit_scene.house_of(stem + ".jpg"),
                        "x": [c["measures"][k] for k in WINDOW_INPUTS], "y": label})
    return out


def fit_params(rows: list[dict], model: str = "logistic") -> dict:
    """One model's parameters fitted on ``rows``: "votes" (the cue votes; only the
    threshold is fitted) or "logistic" (weights by ``fit_scene.fit_table``); the threshold
    is the F0.5-best of ``THRESHOLDS`` on ``rows``."""
    y = np.asarray([r["y"] for r in rows])
    if model == "votes":
        table: dict = {"model": "votes", "inputs": list(WINDOW_INPUTS), "n": len(rows)}
    else:
        x = np.asarray([r["x"] for r in rows], np.float64)
        table = {"model": "logistic",
                 **fit_scene.fit_table(x, np.ones_like(x), y, ("other", "window"), WINDOW_INPUTS,
                                       [r["house"] for r in rows])}
    probs = [window_confidence(dict(zip(WINDOW_INPUTS, r["x"])), table) for r in rows]
    best = max(THRESHOLDS, key=lambda t: (score(probs, y, t)["f_beta"], -abs(t - 0.5)))
    return {**table, "threshold": float(best)}


def score(probs, labels, threshold: float) -> dict:
    found = np.asarray(probs) >= threshold
    labels = np.asarray(labels).astype(bool)
    return _prf(int((found & labels).sum()), int((found & ~labels).sum()), int((~found & labels).sum()))


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    b2 = BETA * BETA
    f = (1 + b2) * precision * recall / (b2 * precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(precision, 4), "recall": round(recall, 4),
            "f_beta": round(f, 4)}


def _score_rows(rows: list[dict], params: dict) -> dict:
    probs = [window_confidence(dict(zip(WINDOW_INPUTS, r["x"])), params) for r in rows]
    return score(probs, [r["y"] for r in rows], params["threshold"])


def kfold(rows: list[dict], model: str = "logistic") -> dict:
    fold_of = fit_scene.house_folds([r["house"] for r in rows], FOLDS)
    per_fold, tp, fp, fn = [], 0, 0, 0
    for k in range(FOLDS):
        train = [r for r in rows if fold_of[r["house"]] != k]
        test = [r for r in rows if fold_of[r["house"]] == k]
        params = fit_params(train, model)
        s = _score_rows(test, params)
        tp, fp, fn = tp + s["tp"], fp + s["fp"], fn + s["fn"]
        per_fold.append({"fold": k, "n": len(test), "l2": params.get("l2"), "threshold": params["threshold"], **s})
    pooled = _prf(tp, fp, fn)
    return {"folds": FOLDS, **pooled, "worst_fold_f_beta": min(f["f_beta"] for f in per_fold),
            "worst_fold_precision": min(f["precision"] for f in per_fold), "per_fold": per_fold}


def choose_model(folded: dict[str, dict]) -> str:
    """The model with the best held-out F0.5; within ``F_TIE`` of it, the one with the
    higher held-out precision (a lamp or a white door pulled grey spoils a photo that was
    fine; a window left bright leaves it as shot)."""
    best = max(f["f_beta"] for f in folded.values())
    close = [m for m, f in folded.items() if f["f_beta"] >= best - F_TIE]
    return max(close, key=lambda m: (folded[m]["precision"], folded[m]["f_beta"]))


def fit(data: Path) -> dict:
    rows = measure(data)
    folded = {m: kfold(rows, m) for m in MODELS}
    chosen = choose_model(folded)
    params = fit_params(rows, chosen)
    return {
        "model": chosen,
        "params": params,
        "all_data": _score_rows(rows, params),
        "kfold": folded[chosen],
        "models": {m: {"all_data": _score_rows(rows, fit_params(rows, m)),
                       "kfold": {k: v for k, v in folded[m].items() if k != "per_fold"}} for m in MODELS},
        "n": {"regions": len(rows), "windows": sum(r["y"] for r in rows),
              "photos": len({r["photo"] for r in rows}), "houses": len({r["house"] for r in rows})},
        "beta": BETA,
    }


def _number(v: float) -> str:
    return repr(float(f"{v:.6g}"))


def write_params(result: dict, path: Path = PARAMS_PATH) -> None:
    p, a, k = result["params"], result["all_data"], result["kfold"]
    if p["model"] == "votes":
        body = f'''    "model": "votes",
    "inputs": {json.dumps(list(p["inputs"]))},
    "n": {p["n"]},
    "threshold": {p["threshold"]},'''
    else:
        coef = ",\n".join(f"        [{_number(r[0])}, {_number(r[1])}]" for r in p["coef"])
        body = f'''    "model": "logistic",
    "inputs": {json.dumps(list(p["inputs"]))},
    "l2": {p["l2"]},
    "n": {p["n"]},
    "mean": [{", ".join(_number(v) for v in p["mean"])}],
    "scale": [{", ".join(_number(v) for v in p["scale"])}],
    "coef": [
{coef},
    ],
    "bias": [{", ".join(_number(v) for v in p["bias"])}],
    "threshold": {p["threshold"]},'''
    others = "; ".join(f"{m}: k-fold precision {v['kfold']['precision']}, recall {v['kfold']['recall']}, "
                       f"F0.5 {v['kfold']['f_beta']}" for m, v in result["models"].items())
    path.write_text(f'''"""Fitted parameters of the classical window detector (``classical.py``).

Written by ``{COMMAND}``
(``bench/fit_windows.py``); do not edit by hand: re-run it after changing a measurement.
model "votes": the cue votes of ``classical.vote_confidence`` (only the threshold fitted);
"logistic": logits = bias + clip(standardise(inputs), +-4) @ coef. A region is reported
when its confidence reaches ``threshold``. Shipped: the model with the better held-out F0.5,
the more precise one within {F_TIE} ({others}).

At fit time, on {result["n"]["regions"]} labelled regions ({result["n"]["windows"]} windows) of \
{result["n"]["photos"]} interiors: all-data precision {a["precision"]}, recall {a["recall"]};
{k["folds"]}-fold by house precision {k["precision"]}, recall {k["recall"]} (worst fold F0.5 {k["worst_fold_f_beta"]}).
"""

PARAMS = {{
{body}
}}
''')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared eval folder")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write", action="store_true", help="rewrite window_params.py with the all-data fit")
    args = parser.parse_args(argv)
    result = fit(args.data)
    emit_fit(result, args.json, params_keys=("model", "l2", "threshold", "n"))
    if args.write:
        write_params(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
