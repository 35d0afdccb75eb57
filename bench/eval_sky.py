"""Sky matte quality on ``shared/eval/sky_masks`` and a look at the listing exteriors.

Three figures are reported side by side; only the first is what a customer gets:

* ``miou`` / ``false_sky_rate`` (**the product pipeline**, as ``graphs/listing.py`` runs
  it): the image is resized (area) to ``PROXY_LONG_SIDE`` = 1024 px long side with
  ``resize_long_side``, ``classify_scene`` decides exterior/interior on that proxy, and
  only an exterior gets ``segment_sky(proxy, scene="exterior")``; an interior has no sky;
* ``miou_given_exterior``: the matte alone, ``segment_sky(proxy, scene="exterior")`` on
  every image with sky (what the pipeline would score with a perfect scene classifier);
* ``miou_sky_model_alone`` / ``false_sky_rate_sky_model_alone``: ``segment_sky(proxy)``
  with ``scene=None`` (the sky module deciding sky/no-sky itself, with the classifier's
  log-odds as one of its terms). Not what the product runs; kept for comparison.

Metric, precisely: every ``NAME.jpg`` with a ``NAME.mask.png`` is read; the ground truth
is ``mask >= 128`` (an all-black mask = the image has no sky); the predicted matte is
resized (bilinear) back to the mask's grid and predicted sky is ``matte >= 0.5``. mIoU
is the mean over the images whose mask has sky of IoU = |pred & gt| / |pred | gt| (an
image where nothing is predicted scores 0, it is not dropped). The false-sky rate is the
share of the images whose mask is empty for which the predicted sky covers more than
``FALSE_SKY_FRACTION`` (0.5 %) of the frame: 0.5 % of a 12 MP frame is 60 000 px, a
patch a retoucher would see replaced; below it the graph would not replace anything
anyway (``MIN_REPLACE_FRACTION`` = 3 %).

``eval_sky_masks`` also writes contact sheets when ``sheets`` is given:
``sky_masks.png`` (image | ground truth | product matte | replace_sky result) and
``listing_exteriors_sky.png`` (before | matte | replace_sky clear_blue | day_to_dusk)
for a few ``*_frontal.jpg`` in the sibling ``listing_photos`` folder.

Run: ``python -m lumograph.bench.eval_sky [EVAL_DIR] [SHEETS_DIR]``.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from lumograph.bench.sheets import tile, write_sheet
from lumograph.models.classifier.scene import classify_scene
from lumograph.models.common.imageio import resize_long_side
from lumograph.models.compositor.dusk import day_to_dusk
from lumograph.models.compositor.sky_replace import replace_sky
from lumograph.models.segmenter.sky_matte import segment_sky

#: Predicted sky share above which an image without sky counts as a false sky.
FALSE_SKY_FRACTION = 0.005
FALSE_SKY_DEFINITION = (
    "an image whose ground-truth mask has no pixel >= 128 counts as a false sky when the "
    "predicted sky (matte >= 0.5, resized to the mask grid) covers more than 0.5% of the frame"
)
#: What each figure measures (written into the JSON next to the numbers).
FIGURES = {
    "miou": "product pipeline (graphs/listing.py): classify_scene on the 1024 px proxy, then "
            "segment_sky(proxy, scene='exterior') for exteriors, no sky for interiors; mean IoU "
            "over the images with sky. The classifier's exterior table is fitted on these photos "
            "too (bench/fit_scene.py), so the scene decision here is in-sample: miou_kfold is the "
            "held-out figure",
    "false_sky_rate": "product pipeline, share of the images without sky that get a false sky",
    "miou_given_exterior": "the matte alone: segment_sky(proxy, scene='exterior') on every image "
                           "with sky (a perfect scene classifier)",
    "miou_sky_model_alone": "segment_sky(proxy) with scene=None (the sky module decides sky/no-sky "
                            "itself); not what the product runs",
    "false_sky_rate_sky_model_alone": "the same scene=None call on the images without sky",
    "miou_kfold": "the product pipeline's mIoU with the matte's thresholds re-fitted per fold "
                  "(bench/fit_sky.py, 5 folds), each photo with sky scored once by a fit that did not see it",
    "false_sky_rate_kfold": "the same, over the held-out photos without sky (sky_masks and listing interiors)",
}
#: Same proxy as the listing graph (``graphs.jewelry.PROXY_LONG_SIDE``).
PROXY_LONG_SIDE = 1024
#: Listing exteriors shown on the second sheet.
LISTING_EXTERIORS = 8


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(path)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _pipeline_sky(proxy: np.ndarray) -> tuple[str, float, dict]:
    """The listing graph's sky step: (scene, exterior log-odds, segment_sky result or the
    empty result an interior gets)."""
    scene = classify_scene(proxy)
    if scene.scene == "exterior":
        result = segment_sky(proxy, scene="exterior")
    else:
        h, w = proxy.shape[:2]
        result = {"matte": np.zeros((h, w), np.float32), "fraction": 0.0, "condition": "none"}
    return scene.scene, float(scene.features["exterior_log_odds"]), result


def _on_grid(matte: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(matte, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR) >= 0.5


def _iou(pred: np.ndarray, gt: np.ndarray) -> float:
    return round(float((pred & gt).sum() / max(1, (pred | gt).sum())), 4)


def _mean(values: list) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


def eval_sky_masks(folder: Path, sheets: Path | None = None, kfold: bool = False) -> dict:
    """Score the listing pipeline's sky step on a folder of ``NAME.jpg`` + ``NAME.mask.png``.

    folder: the ``sky_masks`` directory; sheets: a directory for the PNG contact sheets
    or None. Returns {"n", "n_with_sky", "n_without_sky", "miou", "false_sky_rate" (the
    product pipeline: classify_scene, then segment_sky(scene=that scene) for exteriors),
    "miou_given_exterior" (segment_sky(scene="exterior") on every image with sky),
    "miou_sky_model_alone", "false_sky_rate_sky_model_alone" (segment_sky with
    scene=None), "figures" (what each figure measures), "false_sky_definition",
    "median_ms" (classify + matte per proxy), "per_image": {name: {"scene",
    "exterior_log_odds", "iou" (None without sky), "iou_given_exterior",
    "iou_sky_model_alone", "pred_fraction", "gt_fraction", "condition"}}}. Fractions are
    shares of the frame; IoUs and fractions are rounded to 4 places.
    kfold: also re-fit the matte's thresholds per fold (``fit_sky.kfold``, about a
    minute) and add "miou_kfold", "miou_kfold_worst", "false_sky_rate_kfold" (the
    product pipeline scored on held-out photos; the false sky counts the listing
    interiors of the sibling ``listing_photos`` as well) and "fit" (the all-data fit's
    figures, on the same photos as the k-fold).
    """
    folder = Path(folder)
    per_image: dict[str, dict] = {}
    rows = []
    ious, ious_told, ious_alone, false_flags, false_alone, times = [], [], [], [], [], []
    for img_path in sorted(folder.glob("*.jpg")):
        mask_path = img_path.with_name(img_path.stem + ".mask.png")
        if not mask_path.exists():
            continue
        rgb = _read_rgb(img_path)
        gt = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) >= 128
        proxy = resize_long_side(rgb, PROXY_LONG_SIDE)
        t0 = time.perf_counter()
        scene, log_odds, result = _pipeline_sky(proxy)
        times.append(1000 * (time.perf_counter() - t0))
        pred = _on_grid(result["matte"], gt.shape)
        alone = _on_grid(segment_sky(proxy)["matte"], gt.shape)
        entry = {"scene": scene, "exterior_log_odds": round(log_odds, 3), "iou": None,
                 "pred_fraction": round(float(pred.mean()), 4), "gt_fraction": round(float(gt.mean()), 4),
                 "condition": result["condition"]}
        if gt.any():
            entry["iou"] = _iou(pred, gt)
            told = pred if scene == "exterior" else _on_grid(segment_sky(proxy, scene="exterior")["matte"], gt.shape)
            entry["iou_given_exterior"] = _iou(told, gt)
            entry["iou_sky_model_alone"] = _iou(alone, gt)
            ious.append(entry["iou"])
            ious_told.append(entry["iou_given_exterior"])
            ious_alone.append(entry["iou_sky_model_alone"])
        else:
            entry["pred_fraction_sky_model_alone"] = round(float(alone.mean()), 4)
            false_flags.append(float(pred.mean()) > FALSE_SKY_FRACTION)
            false_alone.append(float(alone.mean()) > FALSE_SKY_FRACTION)
        per_image[img_path.stem] = entry
        if sheets is not None:
            matte = cv2.resize(result["matte"], (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
            replaced = replace_sky(rgb, result["matte"], "light_clouds", 1)["rgb"] if result["fraction"] > 0 else rgb
            label = f"{img_path.stem[-8:]} iou={entry['iou']}" if entry["iou"] is not None else \
                f"{img_path.stem[-8:]} no sky, pred={entry['pred_fraction']:.3f}"
            rows.append([tile(rgb, label, 200), tile(gt.astype(np.float32), "gt", 200),
                         tile(matte, f"{scene} {result['condition']}", 200), tile(replaced, "replaced", 200)])
    out = {
        "n": len(per_image),
        "n_with_sky": len(ious),
        "n_without_sky": len(false_flags),
        "miou": _mean(ious),
        "false_sky_rate": _mean(false_flags),
        "miou_given_exterior": _mean(ious_told),
        "miou_sky_model_alone": _mean(ious_alone),
        "false_sky_rate_sky_model_alone": _mean(false_alone),
        "figures": FIGURES,
        "false_sky_definition": FALSE_SKY_DEFINITION,
        "median_ms": round(float(np.median(times)), 1) if times else None,
        "per_image": per_image,
    }
    if kfold:
        from lumograph.bench.fit_sky import fit

        fitted = fit(folder.parent)
        out.update(miou_kfold=fitted["kfold"]["miou"], miou_kfold_worst=fitted["kfold"]["miou_worst_fold"],
                   false_sky_rate_kfold=fitted["kfold"]["false_sky_rate"],
                   fit={k: fitted[k] for k in ("params", "all_data", "n", "objective")},
                   kfold=fitted["kfold"])
    if sheets is not None:
        sheets = Path(sheets)
        # Two images per sheet row keeps the PNG readable.
        paired = [rows[i] + (rows[i + 1] if i + 1 < len(rows) else []) for i in range(0, len(rows), 2)]
        write_sheet(paired, sheets / "sky_masks.png")
        out["listing"] = listing_exteriors_sheet(folder.parent / "listing_photos", sheets)
        (sheets / "sky_masks.json").write_text(json.dumps(out, indent=2))
    return out


def listing_exteriors_sheet(folder: Path, sheets: Path, limit: int = LISTING_EXTERIORS) -> dict:
    """Write ``listing_exteriors_sky.png``: before | matte | replace_sky(clear_blue) | day_to_dusk
    for the first ``limit`` ``*_frontal.jpg``, through the product pipeline (classify, then
    the matte for exteriors). Returns {"per_image": {stem: {"scene", "fraction",
    "condition", ...}} for every frontal photo, "interiors_with_sky": room photos the
    pipeline gives a sky, "exteriors_without_sky": frontal photos it gives none}."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    rows, figures = [], {}
    exteriors_without, interiors_with = [], []
    for path in sorted(folder.glob("*.jpg")):
        rgb = _read_rgb(path)
        proxy = resize_long_side(rgb, PROXY_LONG_SIDE)
        scene, _, seg = _pipeline_sky(proxy)
        exterior = path.stem.endswith("_frontal")
        if not exterior:
            if seg["condition"] != "none":
                interiors_with.append(path.stem)
            continue
        if seg["condition"] == "none":
            exteriors_without.append(path.stem)
        figures[path.stem] = {"scene": scene, "fraction": seg["fraction"], "condition": seg["condition"]}
        if len(rows) < limit:
            replaced = replace_sky(rgb, seg["matte"], "clear_blue", 0)
            dusk = day_to_dusk(rgb, seg["matte"] if seg["fraction"] > 0 else None, [])
            figures[path.stem].update(halo=replaced["halo"], windows_lit=dusk["report"]["windows_lit"])
            rows.append([tile(rgb, path.stem, 260), tile(seg["matte"], seg["condition"], 260),
                         tile(replaced["rgb"], f"clear_blue halo={replaced['halo']:.3f}", 260),
                         tile(dusk["rgb"], f"dusk windows={dusk['report']['windows_lit']}", 260)])
    write_sheet(rows, Path(sheets) / "listing_exteriors_sky.png")
    return {"per_image": figures, "interiors_with_sky": interiors_with, "exteriors_without_sky": exteriors_without}


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[4] / "shared" / "eval"
    out_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("out/sky")
    result = eval_sky_masks(root / "sky_masks", out_dir)
    print(json.dumps({k: v for k, v in result.items() if k != "per_image"}, indent=2))
