"""Fit the glare detector's test thresholds (``models/inpainter/glare_params.py``) on
labelled hot-spot candidates of the eval photos, and say how well the fit carries to houses
it has not seen.

The detector (``models/inpainter/hotspots.py``) seeds bright spots of the minimum channel,
grows them into regions and measures each (brightness against the frame, size, fill,
place, clipped core and halo, dome, edge steepness, plateau, the ring around it); a
region is glare when it passes every test (``hotspots.reject_reason``). The tests'
thresholds are fitted here: a steepest-ascent search over ``GRID`` (each step takes the
single threshold change that gains most and keeps the constraints; until none gains),
starting from the hand-set values (``hotspots.HAND_SET``), maximising the net gain of the
accepted regions on the labelled photos, ``tp - FP_COST * fp`` (a retouched chrome knob or
a lamp turned grey spoils a photo that was fine, a hot-spot left in leaves it as shot: a
wrong edit costs twice a missed one, as F0.5 weighs precision; F-scores are reported, but
with a handful of glare regions they reward any hit whatever the wrong edits around it),
subject to the specular constraint: ``remove_glare`` under the point must raise PSNR
against the polarisation ground truth on every image of ``../shared/eval/specular``
(highlights on objects that the "specular" eval asks to remove), and every synthetic room
of ``bench/synthetic_listing.py`` (``ROOMS``: seeds and sizes; a flash hot-spot on a glossy
cabinet, the case the listing bench and tests measure, and the only flash hot-spot the fit
sees: the eval's interiors have none) must keep its flash spot found; ties keep the current
value.

Labels: ``bench/labels/listing_glare.tsv``: every region of the eval's interiors that the
loosest grid point (``LOOSEST``: each threshold at its most permissive grid value) accepts,
labelled by eye as glare, shine (a highlight that belongs to chrome, glass or a glossy
object and must stay) or other. Regions the loosest point rejects are rejected by every
grid point, so they need no label. A region is matched to its label by its box on the
analysis grid (the candidates are deterministic on the 1024 px proxy). Glare removal runs
on interiors only (``graphs/listing.py``), so only interiors are labelled.

The auto-select bar (``auto_min_region_share``: glare removal runs on a photo whose largest
accepted hot-spot covers at least that share of the frame, ``graphs/listing.py``) is fitted
next, per photo: over ``AUTO_GRID``, the smallest bar with the best net gain of the regions
it lets through, under which every synthetic room still triggers.

Figures: ``all_data`` (fit and score on every region: optimistic), ``kfold`` (the houses
in ``FOLDS`` folds by ``fit_scene.house_folds``, each scored with thresholds re-fitted on
the other four, the specular constraint on all four specular images; pooled counts,
precision, recall, F0.5, net gain and the worst fold), ``specular_loo`` (each specular
image scored with thresholds fitted under the constraint on the other three: improved or
not) and the same for the hand-set thresholds (not fitted: their k-fold is their all-data
figure). ``shine_kept`` is the share of shine regions not accepted (chrome keeps its
shine); ``found_by_size`` splits the glare regions found by area (small: < ``SMALL_SHARE`` of the frame). Shipped:
the fitted thresholds when their held-out net gain beats the hand-set one, else the
hand-set.

Run: ``python -m lumograph.bench.fit_glare --data ../shared/eval --json out/fit_glare.json``
(about 15 s on two cores; ``--sheet PNG`` adds a minute); ``--write`` rewrites
``glare_params.py``.
"""
from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from lumograph.bench import fit_scene
from lumograph.bench.eval_specular import _pairs, _read_rgb, psnr
from lumograph.bench.fit_output import emit_fit
from lumograph.bench.fit_windows import _prf
from lumograph.bench.synthetic_listing import room_photo
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.common.imageio import decode_image, resize_long_side
from lumograph.models.inpainter import hotspots
from lumograph.models.inpainter.glare import remove_glare
from lumograph.models.inpainter.hotspots import FITTED_KEYS, HAND_SET, reject_reason

LABELS = Path(__file__).with_name("labels") / "listing_glare.tsv"
PARAMS_PATH = Path(hotspots.__file__).with_name("glare_params.py")
COMMAND = "python -m lumograph.bench.fit_glare --data ../shared/eval --write"
FOLDS = 5
#: A wrong edit costs this many missed hot-spots.
FP_COST = 2
ROUNDS = 30
SMALL_SHARE = 2e-4
#: Synthetic rooms whose flash hot-spot (centred at ``FLASH_AT`` of the width and height)
#: must stay found: (width, height, seed).
ROOMS = tuple((w, h, seed) for w, h in ((800, 600), (1600, 1200), (4000, 3000)) for seed in range(3))
FLASH_AT = (0.2, 0.55)
#: The auto-select bar's grid: the largest hot-spot's share of the frame.
AUTO_GRID = (0.0, 0.0001, 0.0003, 0.0005, 0.001, 0.002)
#: Each threshold's grid (the hand-set value included).
GRID = {
    "seed_contrast": (0.10, 0.13, 0.16, 0.20, 0.25),
    "peak_relative": (0.90, 0.94, 0.97, 0.99),
    "max_region_share": (0.003, 0.006, 0.01, 0.02),
    "rect_fill": (0.75, 0.85, 0.95),
    "light_source_top": (0.0, 0.2, 0.35, 0.5),
    "softness_min": (1.8, 2.2, 2.6, 3.0, 3.5),
    "clipped_halo_min": (2.0, 3.0, 4.0, 6.0),
    "step_edge_max": (0.25, 0.3, 0.36, 0.45, 0.6),
    "plateau_max": (0.3, 0.4, 0.5, 0.6, 0.7),
    "ring_cv_max": (0.1, 0.15, 0.2, 0.3),
    "ring_std_max": (0.04, 0.06, 0.075, 0.09),
    "sky_blue_margin": (0.03, 0.06, 0.1),
    "dark_surround": (0.06, 0.12, 0.2),
}
#: Thresholds a region must reach (a lower value accepts more); the others it must stay
#: under (a higher value accepts more).
FLOORS = {"seed_contrast", "peak_relative", "light_source_top", "softness_min", "clipped_halo_min",
          "dark_surround"}
LOOSEST = {k: (min(v) if k in FLOORS else max(v)) for k, v in GRID.items()}
#: The auto-select bar before the fit (0.03 %; it then applied to the total hot-spot share,
#: here to the largest hot-spot, as the shipped bar does).
HAND_SET_AUTO = 0.0003


def loosest(rgb: np.ndarray) -> hotspots.Analysis:
    """``rgb``'s analysis under the loosest grid point, its ``candidates`` cut to those that
    point accepts, fully measured: all a grid point can accept (a photo's labelled set)."""
    a = hotspots.analyse(rgb, LOOSEST, measure_all=True)
    return replace(a, candidates=[c for c in a.candidates if reject_reason(c.features, LOOSEST) is None])


def _kept(accepted: int, total: int) -> float | None:
    """Share of ``total`` shine regions not accepted."""
    return round(1 - accepted / total, 4) if total else None


def read_labels(path: Path = LABELS) -> dict[str, dict[tuple[int, int, int, int], str]]:
    out: dict[str, dict] = {}
    with open(path, newline="") as f:
        lines = [line for line in f if not line.startswith("#")]
    for row in csv.DictReader(lines, delimiter="\t"):
        box = tuple(int(row[k]) for k in ("x0", "y0", "x1", "y1"))
        out.setdefault(row["photo"], {})[box] = row["label"]
    return out


def measure(data: Path, labels: dict | None = None) -> list[dict]:
    """Every labelled region: {"photo", "house", "features", "label", "area_share"}."""
    labels = read_labels() if labels is None else labels
    folder = Path(data) / "listing_photos"
    out = []
    for photo, labelled in sorted(labels.items()):
        path = folder / photo
        if not path.exists():
            raise InvalidOptions(f"labelled photo missing from the eval folder, got {str(path)!r}")
        proxy = resize_long_side(decode_image(path.read_bytes(), filename=photo).rgb, 1024)
        found = {c.region.box: c for c in loosest(proxy).candidates}
        if set(found) != set(labelled):
            raise InvalidOptions(f"the candidates of {photo} changed ({len(found)} found, {len(labelled)} "
                                 "labelled): relabel")
        for box, label in labelled.items():
            f = found[box].features
            out.append({"photo": photo, "house": fit_scene.house_of(photo), "features": f, "label": label,
                        "area_share": f["area_share"]})
    return out


def score(rows: list[dict], params: dict) -> dict:
    accepted = [reject_reason(r["features"], params) is None for r in rows]
    glare = [r["label"] == "glare" for r in rows]
    tp = sum(a and g for a, g in zip(accepted, glare))
    fp = sum(a and not g for a, g in zip(accepted, glare))
    fn = sum(g and not a for a, g in zip(accepted, glare))
    shine = [a for a, r in zip(accepted, rows) if r["label"] == "shine"]
    small = [a for a, r in zip(accepted, rows) if r["label"] == "glare" and r["area_share"] < SMALL_SHARE]
    large = [a for a, r in zip(accepted, rows) if r["label"] == "glare" and r["area_share"] >= SMALL_SHARE]
    return {**_prf(tp, fp, fn), "net": tp - FP_COST * fp, "shine": len(shine), "shine_accepted": sum(shine),
            "shine_kept": _kept(sum(shine), len(shine)),
            "found_by_size": {"small": f"{sum(small)}/{len(small)}", "large": f"{sum(large)}/{len(large)}"}}


class Specular:
    """The specular constraint: the eval's specular images, their candidates under
    ``LOOSEST`` and the PSNR of ``remove_glare`` per accepted set (cached: a point only
    matters through which regions it accepts and its seed level)."""

    def __init__(self, folder: Path):
        self.images = []
        for name, path, gt_path in _pairs(Path(folder)):
            rgb, gt = _read_rgb(path), _read_rgb(gt_path)
            self.images.append({"name": name, "rgb": rgb, "gt": gt, "before": float(psnr(rgb, gt)),
                                "candidates": loosest(rgb).candidates})
        self._cache: dict = {}

    def after(self, i: int, params: dict) -> tuple[float, list]:
        im = self.images[i]
        kept = [c for c in im["candidates"] if reject_reason(c.features, params) is None]
        key = (i, params["seed_contrast"], frozenset(c.region.box for c in kept))
        if key not in self._cache:
            self._cache[key] = (float(psnr(remove_glare(im["rgb"], params=params)["rgb"], im["gt"])) if kept
                                else im["before"])
        return self._cache[key], kept

    def improved(self, params: dict, which) -> bool:
        return all(self.after(i, params)[0] > self.images[i]["before"] for i in which)

    def report(self, params: dict) -> dict:
        out = {}
        for i, im in enumerate(self.images):
            after, kept = self.after(i, params)
            out[im["name"]] = {"psnr_before": round(im["before"], 3), "psnr_after": round(after, 3),
                               "regions": len(kept),
                               "small_regions": sum(c.features["area_share"] < SMALL_SHARE for c in kept)}
        return {"improved_all": all(v["psnr_after"] > v["psnr_before"] for v in out.values()), "per_image": out}


class Rooms:
    """The synthetic-room constraint: each room's candidates under ``LOOSEST`` that cover
    its flash spot."""

    def __init__(self):
        self.spots = []
        for w, h, seed in ROOMS:
            a = loosest(room_photo(w, h, seed=seed).rgb)
            gh, gw = a.grid_hw
            fx, fy = FLASH_AT[0] * gw, FLASH_AT[1] * gh
            self.spots.append([c for c in a.candidates
                               if c.region.box[0] <= fx < c.region.box[2] and c.region.box[1] <= fy < c.region.box[3]])

    def found(self, params: dict) -> int:
        return sum(any(reject_reason(c.features, params) is None for c in cands) for cands in self.spots)

    def all_found(self, params: dict) -> bool:
        return self.all_trigger(params, 0.0)

    def all_trigger(self, params: dict, bar: float) -> bool:
        """Every room's flash spot is accepted and at least ``bar`` of its frame."""
        return all(any(reject_reason(c.features, params) is None and c.features["area_share"] >= bar
                       for c in cands) for cands in self.spots)


def _key(s: dict) -> tuple:
    return s["net"], s["tp"]


def fit_params(rows: list[dict], specular: Specular | None = None, which=None, rooms: Rooms | None = None) -> dict:
    """Thresholds fitted on ``rows`` by the steepest-ascent search (module doc); with
    ``specular``, only points improving its images ``which`` (default all) are taken, with
    ``rooms`` only points finding every synthetic flash spot."""
    which = range(len(specular.images)) if specular is not None and which is None else which
    p = dict(HAND_SET)
    best = _key(score(rows, p))
    for _ in range(ROUNDS):
        trials = sorted(((_key(score(rows, {**p, k: v})), k, v) for k in FITTED_KEYS for v in GRID[k]
                         if v != p[k]), key=lambda t: t[0], reverse=True)
        step = None
        for s, k, v in trials:
            if s <= best:
                break
            trial = {**p, k: v}
            if (rooms is None or rooms.all_found(trial)) and (
                    specular is None or specular.improved(trial, which)):
                step = (trial, s)
                break
        if step is None:
            break
        p, best = step
    return p


def auto_score(rows: list[dict], params: dict, bar: float) -> dict:
    """Photos whose largest accepted region reaches ``bar`` are edited: their accepted
    regions count (tp glare, fp the rest)."""
    by_photo: dict[str, list[dict]] = {}
    for r in rows:
        if reject_reason(r["features"], params) is None:
            by_photo.setdefault(r["photo"], []).append(r)
    tp = fp = photos = 0
    for regions in by_photo.values():
        if max(r["area_share"] for r in regions) >= bar:
            photos += 1
            tp += sum(r["label"] == "glare" for r in regions)
            fp += sum(r["label"] != "glare" for r in regions)
    return {"photos_edited": photos, "tp": tp, "fp": fp, "net": tp - FP_COST * fp}


def fit_auto(rows: list[dict], params: dict, rooms: Rooms | None = None) -> float:
    """The smallest ``AUTO_GRID`` bar with the best net gain; with ``rooms`` only bars that
    every synthetic room's flash spot still reaches."""
    allowed = [b for b in AUTO_GRID if rooms is None or rooms.all_trigger(params, b)] or [0.0]
    return max(allowed, key=lambda b: (auto_score(rows, params, b)["net"], -b))


def kfold(rows: list[dict], specular: Specular | None, rooms: Rooms | None, fitted: bool = True) -> dict:
    fold_of = fit_scene.house_folds([r["house"] for r in rows], FOLDS)
    per_fold, tp, fp, fn, shine, shine_acc = [], 0, 0, 0, 0, 0
    auto_tp = auto_fp = auto_photos = 0
    for k in range(FOLDS):
        train = [r for r in rows if fold_of[r["house"]] != k]
        test = [r for r in rows if fold_of[r["house"]] == k]
        params = fit_params(train, specular, rooms=rooms) if fitted else dict(HAND_SET)
        bar = fit_auto(train, params, rooms) if fitted else HAND_SET_AUTO
        auto = auto_score(test, params, bar)
        auto_tp, auto_fp, auto_photos = auto_tp + auto["tp"], auto_fp + auto["fp"], auto_photos + auto["photos_edited"]
        s = score(test, params)
        tp, fp, fn = tp + s["tp"], fp + s["fp"], fn + s["fn"]
        shine, shine_acc = shine + s["shine"], shine_acc + s["shine_accepted"]
        changed = {key: v for key, v in params.items() if v != HAND_SET[key]}
        per_fold.append({"fold": k, "n": len(test), "glare": sum(r["label"] == "glare" for r in test),
                         "changed_from_hand_set": changed, "auto_min_region_share": bar, "auto": auto, **s})
    pooled = _prf(tp, fp, fn)
    return {"folds": FOLDS, **pooled, "net": tp - FP_COST * fp,
            "auto": {"photos_edited": auto_photos, "tp": auto_tp, "fp": auto_fp, "net": auto_tp - FP_COST * auto_fp},
            "shine_kept": _kept(shine_acc, shine),
            "worst_fold_f_beta": min(f["f_beta"] for f in per_fold), "per_fold": per_fold}


def specular_loo(rows: list[dict], specular: Specular, rooms: Rooms) -> dict:
    """Each specular image scored with thresholds fitted (all labelled rows) under the
    constraint on the other specular images."""
    out = {}
    for i, im in enumerate(specular.images):
        others = [j for j in range(len(specular.images)) if j != i]
        params = fit_params(rows, specular, others, rooms)
        after, kept = specular.after(i, params)
        out[im["name"]] = {"psnr_before": round(im["before"], 3), "psnr_after": round(after, 3),
                           "improved": bool(after > im["before"]), "regions": len(kept)}
    return {"improved": sum(v["improved"] for v in out.values()), "n": len(out), "per_image": out}


def fit(data: Path) -> dict:
    rows = measure(data)
    specular = Specular(Path(data) / "specular")
    rooms = Rooms()
    fitted = fit_params(rows, specular, rooms=rooms)
    folded = {"fitted": kfold(rows, specular, rooms, True), "hand_set": kfold(rows, specular, rooms, False)}
    better = folded["fitted"]["net"] > folded["hand_set"]["net"]
    chosen = "fitted" if better else "hand_set"
    params = fitted if better else dict(HAND_SET)
    bar = fit_auto(rows, params, rooms) if better else HAND_SET_AUTO
    all_data = score(rows, params)
    return {
        "chosen": chosen,
        "params": params,
        "auto_min_region_share": bar,
        "auto_all_data": auto_score(rows, params, bar),
        "auto_by_bar": {str(b): auto_score(rows, params, b) for b in AUTO_GRID},
        "changed_from_hand_set": {k: v for k, v in fitted.items() if v != HAND_SET[k]},
        "all_data": all_data,
        "kfold": folded[chosen],
        "specular": specular.report(params),
        "specular_loo": specular_loo(rows, specular, rooms) if chosen == "fitted" else None,
        "synthetic_flash_found": f"{rooms.found(params)}/{len(ROOMS)}",
        "models": {
            "fitted": {"all_data": score(rows, fitted),
                       "kfold": {k: v for k, v in folded["fitted"].items() if k != "per_fold"},
                       "specular": specular.report(fitted),
                       "synthetic_flash_found": f"{rooms.found(fitted)}/{len(ROOMS)}"},
            "hand_set": {"all_data": score(rows, HAND_SET),
                         "kfold": {k: v for k, v in folded["hand_set"].items() if k != "per_fold"},
                         "specular": specular.report(HAND_SET),
                         "synthetic_flash_found": f"{rooms.found(HAND_SET)}/{len(ROOMS)}"},
        },
        "n": {"regions": len(rows), "glare": sum(r["label"] == "glare" for r in rows),
              "shine": sum(r["label"] == "shine" for r in rows),
              "photos": len({r["photo"] for r in rows}), "houses": len({r["house"] for r in rows}),
              "specular_images": len(specular.images)},
        "fp_cost": FP_COST,
        "beta": 0.5,
    }


def write_sheet(data: Path, result: dict, path: Path, limit: int = 24) -> Path:
    """Every eval interior region the hand-set or the shipped thresholds accept, one row
    each: the input around it (the region boxed), the hand-set output, the shipped output,
    with its label. Crops of the 1024 px proxy the fit measures."""
    import cv2

    from lumograph.bench.sheets import tile
    from lumograph.bench.sheets import write_sheet as save

    labels = read_labels()
    rows = []
    for photo, labelled in sorted(labels.items()):
        proxy = resize_long_side(decode_image((Path(data) / "listing_photos" / photo).read_bytes(),
                                              filename=photo).rgb, 1024)
        outs = {name: remove_glare(proxy, params=p) for name, p in
                (("hand-set", HAND_SET), ("shipped", result["params"]))}
        boxes = {b for o in outs.values() for b in _grid_boxes(o["report"]["boxes_norm"], proxy.shape[:2])}
        for box in sorted(boxes):
            x0, y0, x1, y1 = box
            half = max(40, 2 * max(x1 - x0, y1 - y0))
            cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
            X0, Y0 = max(0, cx - half), max(0, cy - half)
            X1, Y1 = min(proxy.shape[1], cx + half), min(proxy.shape[0], cy + half)
            shown = proxy[Y0:Y1, X0:X1].copy()
            cv2.rectangle(shown, (x0 - X0 - 2, y0 - Y0 - 2), (x1 - X0 + 1, y1 - Y0 + 1), (255, 0, 255), 1)
            label = labelled.get(box, "?")
            rows.append([tile(shown, f"{photo}\nlabel: {label}", 200)]
                        + [tile(o["rgb"][Y0:Y1, X0:X1], name, 200) for name, o in outs.items()])
    return save(rows[:limit], path)


def _grid_boxes(boxes_norm, hw) -> list[tuple[int, int, int, int]]:
    h, w = hw
    return [(round(b[0] * w), round(b[1] * h), round(b[2] * w), round(b[3] * h)) for b in boxes_norm]


def write_params(result: dict, path: Path = PARAMS_PATH) -> None:
    a, k, n, auto = result["all_data"], result["kfold"], result["n"], result["auto_all_data"]
    hand = result["models"]["hand_set"]["kfold"]
    fitted = result["models"]["fitted"]["kfold"]
    body = ",\n".join(f'        "{key}": {float(result["params"][key])!r}' for key in FITTED_KEYS)
    path.write_text(f'''"""Fitted thresholds of the hot-spot tests (``hotspots.py``).

Written by ``{COMMAND}``
(``bench/fit_glare.py``); do not edit by hand: re-run it after changing a measurement.
Shipped: "{result["chosen"]}" (the fitted thresholds ship only when their held-out net gain
(tp - {FP_COST} fp) beats the hand-set one: fitted k-fold tp {fitted["tp"]}, fp {fitted["fp"]}, net {fitted["net"]};
hand-set tp {hand["tp"]}, fp {hand["fp"]}, net {hand["net"]}). Specular improved on every image:
{result["specular"]["improved_all"]}; synthetic flash spots found {result["synthetic_flash_found"]}.

At fit time, on {n["regions"]} labelled regions ({n["glare"]} glare, {n["shine"]} shine) of {n["photos"]} interiors:
all-data precision {a["precision"]}, recall {a["recall"]}, shine kept {a["shine_kept"]};
{k["folds"]}-fold by house precision {k["precision"]}, recall {k["recall"]}, shine kept {k["shine_kept"]}.
Auto-select (largest hot-spot >= auto_min_region_share of the frame): {auto["photos_edited"]} of the
interiors edited ({auto["tp"]} glare, {auto["fp"]} wrong regions); 5-fold {k["auto"]["photos_edited"]} \
({k["auto"]["tp"]} glare, {k["auto"]["fp"]} wrong).
"""

PARAMS = {{
    "model": "{result["chosen"]}",
    "thresholds": {{
{body},
    }},
    "auto_min_region_share": {float(result["auto_min_region_share"])!r},
}}
''')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the shared eval folder")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write", action="store_true", help="rewrite glare_params.py with the chosen thresholds")
    parser.add_argument("--sheet", type=Path, help="PNG: every region the hand-set or shipped thresholds edit")
    args = parser.parse_args(argv)
    result = fit(args.data)
    emit_fit(result, args.json)
    if args.sheet:
        write_sheet(args.data, result, args.sheet)
    if args.write:
        write_params(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
