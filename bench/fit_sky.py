"""Fit the sky matte's thresholds (``models/segmenter/sky_params.py``) and say how well
the fit carries to photos it has not seen.

What is fitted, on a grid (``GRID``), for the product pipeline as ``graphs/listing.py``
runs it (``classify_scene`` on the 1024 px proxy; an exterior gets
``segment_sky(proxy, scene="exterior")``, an interior no sky):

* ``grow_lab_distance`` and ``grow_texture``: how far (Lab units) from the local sky
  colour, and how smooth (mean |grad L|), a pixel may be to join the growing region;
* ``likeness_far``: the colour distance past which a boundary pixel is no longer sky;
* ``exterior_accept_log_odds``: the evidence the found region needs on a photo the
  classifier calls an exterior (roofs of white vans, pale facades, skyless streets).

Photos: ``<data>/sky_masks`` (ADE20K: ``NAME.jpg`` + ``NAME.mask.png``; with sky: IoU of
``matte >= 0.5`` against ``mask >= 128``; without: a false sky when the prediction covers
more than ``FALSE_SKY_FRACTION`` of the frame) and the interiors of
``<data>/listing_photos`` (no sky may be painted on a room; false sky as above). The
interiors reach the matte only where the classifier calls them exteriors (only those are
segmented), so their
classifier answers matter: in the k-fold each held-out house, and each held-out sky_masks
photo (the classifier's exterior table is fitted on those too), is classified by a scene
model re-fitted without its fold (``fit_scene.held_out_params``), as in ``fit_scene.kfold``.

Objective: mean IoU over the photos with sky minus ``FALSE_SKY_COST`` x the false-sky
rate over the photos without (a sky painted on a wall ruins a delivered photo, a sky left
as shot costs little; 3:1 as in ``sky_matte.ACCEPT_LOG_ODDS``). Ties go to the
parameters nearest the previous (hand-set) ones.

Figures: ``all_data`` (fit and score on every photo: optimistic) and ``kfold``: the
sky_masks photos in ``FOLDS`` folds (with-sky and without dealt round-robin by name) and
the listing houses in ``FOLDS`` folds (``fit_scene.house_folds``), fold k of each held
out together; the grid is re-chosen on the other folds and scored on the held-out one.
``miou`` pooled over the held-out photos with sky (each scored once, by a fit that did
not see it) and per fold (mean and worst; a fold holds one or two photos with sky). Not
strictly nested: when the grid is chosen for fold k, the training photos are classified by
their own folds' scene models, which saw fold k's photos (a per-pair model would remove
that; with 5 thresholds chosen on a grid it moves little).

Every photo is segmented once per grid point and the results kept (``Measured``); the
choices then run in memory. About 70 s on two cores (a cache: ``--cache``).

Run: ``python -m lumograph.bench.fit_sky --data ../shared/eval --json out/fit_sky.json``;
add ``--write`` to rewrite ``sky_params.py`` with the all-data fit.
"""
from __future__ import annotations

import argparse
import itertools
import math
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lumograph.bench import fit_scene
from lumograph.bench.eval_sky import FALSE_SKY_FRACTION, PROXY_LONG_SIDE, _read_rgb
from lumograph.bench.fit_output import emit_fit
from lumograph.models.classifier import scene, scene_params
from lumograph.models.classifier.scene import SceneModel, classify_measurements
from lumograph.models.common.imageio import resize_long_side
from lumograph.models.segmenter import sky_matte
from lumograph.models.segmenter.sky_params import PARAMS as SHIPPED

FALSE_SKY_COST = 3.0
FOLDS = 5
#: Matte grid (each point segments every photo once) and decision grid (in memory).
MATTE_GRID = {
    "grow_lab_distance": (9.0, 12.0, 15.0, 18.0),
    "grow_texture": (2.5, 3.0, 3.5),
    "likeness_far": (18.0, 22.0, 26.0),
}
#: The values the matte had before the fit (ties in the grid go to the point nearest them).
HAND_SET = {"grow_lab_distance": 12.0, "grow_texture": 2.5, "likeness_far": 18.0, "exterior_accept_log_odds": 0.0}
ACCEPT_GRID = (-2.0, -1.0, 0.0, 1.0, 2.0)
#: The scene term segment_sky adds when told "exterior" (the evidence without it is
#: what the region itself shows).
EXTERIOR_TERM = 2.0
COMMAND = "python -m lumograph.bench.fit_sky --data ../shared/eval --write"
PARAMS_PATH = Path(sky_matte.__file__).with_name("sky_params.py")
#: Matte grid size on the mask grid kept per photo (enough for IoU to 3 places).
SCORE_LONG_SIDE = 512


@dataclass
class Measured:
    """One photo's results at every matte grid point."""
    name: str
    source: str  # "sky_masks" | "listing"
    fold: int
    gt: np.ndarray | None  # bool on the scoring grid; None for listing interiors (no sky)
    scene_all: str  # classifier answer, shipped model
    scene_held: str  # classifier answer, model fitted without this photo's fold
    region_log_odds: dict  # grid key -> evidence without the scene term
    pred: dict  # grid key -> bool prediction on the scoring grid (None: nothing found)

    @property
    def has_sky(self) -> bool:
        return self.gt is not None and bool(self.gt.any())


def grid_points() -> list[tuple[float, float, float]]:
    return list(itertools.product(*MATTE_GRID.values()))


def _params_of(key: tuple[float, float, float], accept: float) -> dict:
    return {**dict(zip(MATTE_GRID, key)), "exterior_accept_log_odds": accept}


def _score_grid(shape: tuple[int, int]) -> tuple[int, int]:
    h, w = shape
    s = min(1.0, SCORE_LONG_SIDE / max(h, w))
    return max(1, int(round(h * s))), max(1, int(round(w * s)))


def _segment_all(proxy: np.ndarray, grid_hw: tuple[int, int], floor: float) -> tuple[dict, dict]:
    """segment_sky(scene="exterior") at every matte grid point; the matte is drawn only
    where the region's evidence reaches ``floor`` (the least any decision would ask)."""
    log_odds, preds = {}, {}
    for key in grid_points():
        out = sky_matte.segment_sky(proxy, scene="exterior", params=_params_of(key, floor + EXTERIOR_TERM))
        terms = out.get("log_odds") or {}
        log_odds[key] = (sum(terms.values()) - terms.get("scene", 0.0)) if terms else -math.inf
        if out["fraction"] > 0:
            m = cv2.resize(out["matte"], (grid_hw[1], grid_hw[0]), interpolation=cv2.INTER_LINEAR) >= 0.5
            preds[key] = m
        else:
            preds[key] = None
    return log_odds, preds


def measure(data: Path, cache: Path | None = None) -> list[Measured]:
    """Segment every sky_masks photo and listing interior at every matte grid point."""
    if cache is not None and cache.exists():
        rows = pickle.loads(cache.read_bytes())
        if rows and rows[0] == _cache_key():
            return rows[1]
    out: list[Measured] = []
    sky_dir = Path(data) / "sky_masks"
    named = [(p, p.with_name(p.stem + ".mask.png")) for p in sorted(sky_dir.glob("*.jpg"))]
    named = [(p, m) for p, m in named if m.exists()]
    gts = {p.stem: cv2.imread(str(m), cv2.IMREAD_GRAYSCALE) >= 128 for p, m in named}
    with_sky = [p for p, _ in named if gts[p.stem].any()]
    without = [p for p, _ in named if not gts[p.stem].any()]
    fold_of = fit_scene.sky_mask_folds([p.stem for p in with_sky], [p.stem for p in without], FOLDS)
    listing = Path(data) / "listing_photos"
    photos = fit_scene.measure_photos(listing)
    # The scene classifier's exterior table is fitted on these sky_masks photos too: a
    # held-out photo is classified by a model fitted without its fold (same folds).
    scene_photos = photos + fit_scene.sky_mask_photos(sky_dir)
    house_fold = fit_scene.outer_folds(scene_photos, FOLDS)
    held_models = {k: SceneModel.from_params(v) for k, v in fit_scene.held_out_params(scene_photos, FOLDS).items()}
    for path, _ in named:
        rgb = _read_rgb(path)
        proxy = resize_long_side(rgb, PROXY_LONG_SIDE)
        gt_full = gts[path.stem]
        hw = _score_grid(gt_full.shape)
        gt = cv2.resize(gt_full.astype(np.uint8), (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST).astype(bool)
        measured = fit_scene.measure_scene(proxy)
        scene_all = classify_measurements(measured).scene
        scene_held = classify_measurements(measured, held_models[fold_of[path.stem]]).scene
        lo, preds = _segment_all(proxy, hw, min(ACCEPT_GRID) - EXTERIOR_TERM)
        out.append(Measured(path.stem, "sky_masks", fold_of[path.stem], gt, scene_all, scene_held, lo, preds))
    for photo in photos:
        if photo.scene != "interior":
            continue
        k = house_fold[photo.house]
        scene_all = classify_measurements(photo.measurements).scene
        scene_held = classify_measurements(photo.measurements, held_models[k]).scene
        if "exterior" not in (scene_all, scene_held):
            # Classified interior either way: the pipeline draws no sky on it at any grid point.
            out.append(Measured(photo.name, "listing", k, None, scene_all, scene_held,
                                dict.fromkeys(grid_points(), -math.inf), dict.fromkeys(grid_points())))
            continue
        rgb = _read_rgb(listing / photo.name)
        proxy = resize_long_side(rgb, PROXY_LONG_SIDE)
        lo, preds = _segment_all(proxy, _score_grid(proxy.shape[:2]), min(ACCEPT_GRID) - EXTERIOR_TERM)
        out.append(Measured(photo.name, "listing", k, None, scene_all, scene_held, lo, preds))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps((_cache_key(), out)))
    return out


def _cache_key() -> tuple:
    """What the cached results depend on: the grids, the matte's source and the scene
    classifier's (its shipped parameters and its per-fold fits)."""
    sources = (sky_matte.__file__, scene.__file__, scene_params.__file__, fit_scene.__file__)
    return (*(Path(f).read_bytes() for f in sources), MATTE_GRID, ACCEPT_GRID)


def _prediction(m: Measured, key: tuple, accept: float, held: bool) -> np.ndarray | None:
    """The product pipeline's prediction: a sky only on a photo classified exterior whose
    region's evidence (with the exterior term) reaches ``accept``."""
    scene = m.scene_held if held else m.scene_all
    if scene != "exterior" or m.region_log_odds[key] + EXTERIOR_TERM < accept:
        return None
    return m.pred[key]


def score(photos: list[Measured], key: tuple, accept: float, held: bool = False) -> dict:
    ious, false = [], []
    for m in photos:
        pred = _prediction(m, key, accept, held)
        if m.has_sky:
            ious.append(0.0 if pred is None else float((pred & m.gt).sum() / max(1, (pred | m.gt).sum())))
        else:
            false.append(pred is not None and float(pred.mean()) > FALSE_SKY_FRACTION)
    miou = float(np.mean(ious)) if ious else None
    rate = float(np.mean(false)) if false else 0.0
    return {"miou": miou, "false_sky_rate": rate, "n_with_sky": len(ious), "n_without_sky": len(false),
            "false_skies": int(sum(false)), "ious": ious,
            "objective": (miou or 0.0) - FALSE_SKY_COST * rate}


def _distance_to_hand_set(key: tuple, accept: float) -> float:
    now = _params_of(key, accept)
    return sum(abs(now[k] - v) / v if v else abs(now[k] - v) for k, v in HAND_SET.items())


def choose(photos: list[Measured], held: bool = False) -> tuple[tuple, float, dict]:
    """The grid point with the best objective on ``photos`` (ties: nearest the hand-set)."""
    best = None
    for key in grid_points():
        for accept in ACCEPT_GRID:
            s = score(photos, key, accept, held)
            rank = (-s["objective"], _distance_to_hand_set(key, accept))
            if best is None or rank < best[0]:
                best = (rank, key, accept, s)
    return best[1], best[2], best[3]


def kfold(photos: list[Measured]) -> dict:
    per_fold, pooled_ious = [], []
    for k in range(FOLDS):
        train = [m for m in photos if m.fold != k]
        test = [m for m in photos if m.fold == k]
        key, accept, _ = choose(train, held=True)
        s = score(test, key, accept, held=True)
        pooled_ious += s["ious"]
        per_fold.append({"fold": k, "params": _params_of(key, accept), "miou": _r(s["miou"]),
                         "false_sky_rate": _r(s["false_sky_rate"]), "n_with_sky": s["n_with_sky"],
                         "n_without_sky": s["n_without_sky"], "false_skies": s["false_skies"],
                         "held_out": sorted(m.name for m in test if m.source == "sky_masks")})
    n_without = sum(f["n_without_sky"] for f in per_fold)
    fold_mious = [f["miou"] for f in per_fold if f["miou"] is not None]
    return {
        "folds": FOLDS,
        "miou": _r(float(np.mean(pooled_ious))),
        "miou_fold_mean": _r(float(np.mean(fold_mious))),
        "miou_worst_fold": _r(min(fold_mious)),
        "false_sky_rate": _r(sum(f["false_skies"] for f in per_fold) / max(1, n_without)),
        "false_sky_rate_worst_fold": _r(max(f["false_sky_rate"] for f in per_fold)),
        "per_fold": per_fold,
    }


def _r(v: float | None) -> float | None:
    return None if v is None else round(float(v), 4)


def _by_source(photos: list[Measured], key: tuple, accept: float) -> dict:
    return {src: {k: (_r(v) if isinstance(v, float) else v) for k, v in score(
        [m for m in photos if m.source == src], key, accept).items() if k != "ious"}
        for src in ("sky_masks", "listing")}


def fit(data: Path, cache: Path | None = None) -> dict:
    photos = measure(data, cache)
    key, accept, s = choose(photos)
    shipped_key = tuple(SHIPPED[k] for k in MATTE_GRID)
    before = score(photos, shipped_key, SHIPPED["exterior_accept_log_odds"]) if shipped_key in grid_points() \
        else None
    return {
        "params": _params_of(key, accept),
        "all_data": {"miou": _r(s["miou"]), "false_sky_rate": _r(s["false_sky_rate"]),
                     "by_source": _by_source(photos, key, accept)},
        "shipped_before": None if before is None else {
            "params": dict(SHIPPED), "miou": _r(before["miou"]), "false_sky_rate": _r(before["false_sky_rate"])},
        "kfold": kfold(photos),
        "n": {"sky_masks_with_sky": sum(1 for m in photos if m.has_sky),
              "sky_masks_without_sky": sum(1 for m in photos if m.source == "sky_masks" and not m.has_sky),
              "listing_interiors": sum(1 for m in photos if m.source == "listing")},
        "objective": f"mean IoU (photos with sky) - {FALSE_SKY_COST} x false-sky rate (photos without)",
        "grid": {**{k: list(v) for k, v in MATTE_GRID.items()}, "exterior_accept_log_odds": list(ACCEPT_GRID)},
    }


def write_params(result: dict, path: Path = PARAMS_PATH) -> None:
    p, a, k = result["params"], result["all_data"], result["kfold"]
    body = "\n".join(f"    {name!r}: {float(v)!r}," for name, v in p.items())
    path.write_text(f'''"""Fitted thresholds of the classical sky matte (``sky_matte.py``).

Written by ``{COMMAND}``
(``bench/fit_sky.py``); do not edit by hand: re-run it after changing the matte.
At fit time, product pipeline (classify, then the matte for exteriors) on
{result["n"]["sky_masks_with_sky"]} sky_masks photos with sky, {result["n"]["sky_masks_without_sky"]} without and \
{result["n"]["listing_interiors"]} listing interiors:
all-data mIoU {a["miou"]}, false sky {a["false_sky_rate"]};
{k["folds"]}-fold mIoU {k["miou"]} (worst fold {k["miou_worst_fold"]}), false sky {k["false_sky_rate"]}.
"""

PARAMS = {{
{body}
}}
''')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared eval folder")
    parser.add_argument("--json", type=Path, help="write the result here")
    parser.add_argument("--cache", type=Path, help="pickle of the per-photo results")
    parser.add_argument("--write", action="store_true", help="rewrite sky_params.py with the all-data fit")
    args = parser.parse_args(argv)
    result = fit(args.data, args.cache)
    emit_fit(result, args.json)
    if args.write:
        write_params(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
