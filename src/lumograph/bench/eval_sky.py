"""Sky matte quality on ``shared/eval/sky_masks`` and a look at the listing exteriors.

Metric, precisely:

* every ``NAME.jpg`` with a ``NAME.mask.png`` is read; the ground truth is
  ``mask >= 128`` (an all-black mask = the image has no sky);
* the image is resized (area) to 1024 px long side when larger, ``segment_sky`` runs on
  it, and its matte is resized (bilinear) back to the mask's grid; predicted sky is
  ``matte >= 0.5``;
* ``miou``: mean over the images whose mask has sky of IoU = |pred & gt| / |pred | gt|
  (an image where nothing is predicted scores 0, it is not dropped);
* ``miou_given_exterior``: the same, with ``segment_sky(proxy, scene="exterior")`` (what
  the listing graph can pass, since it asks for the sky of exteriors only);
* ``false_sky_rate``: share of the images whose mask is empty for which the predicted
  sky covers more than ``FALSE_SKY_FRACTION`` (0.5 %) of the frame. 0.5 % of a 12 MP
  frame is 60 000 px, a patch a retoucher would see replaced; below it the graph would
  not replace anything anyway (``MIN_REPLACE_FRACTION`` = 3 %).

``eval_sky_masks`` also writes contact sheets when ``sheets`` is given:
``sky_masks.png`` (image | ground truth | predicted matte | replace_sky result) and
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
from lumograph.models.sky import day_to_dusk, replace_sky, segment_sky

#: Predicted sky share above which an image without sky counts as a false sky.
FALSE_SKY_FRACTION = 0.005
FALSE_SKY_DEFINITION = (
    "an image whose ground-truth mask has no pixel >= 128 counts as a false sky when the "
    "predicted sky (segment_sky matte >= 0.5, resized to the mask grid) covers more than 0.5% of the frame"
)
PROXY_LONG_SIDE = 1024
#: Listing exteriors shown on the second sheet.
LISTING_EXTERIORS = 8


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(path)
    return np.ascontiguousarray(bgr[:, :, ::-1])


def _proxy(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = PROXY_LONG_SIDE / max(h, w)
    if s >= 1.0:
        return rgb
    return cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def eval_sky_masks(folder: Path, sheets: Path | None = None) -> dict:
    """Score ``segment_sky`` on a folder of ``NAME.jpg`` + ``NAME.mask.png`` pairs.

    folder: the ``sky_masks`` directory; sheets: a directory for the PNG contact sheets
    or None. Returns {"n", "n_with_sky", "n_without_sky", "miou", "miou_given_exterior"
    (the same images segmented with ``scene="exterior"``: matte quality without the
    sky/no-sky decision), "false_sky_rate",
    "false_sky_definition", "median_ms", "per_image": {name: {"iou" (None without sky),
    "pred_fraction", "gt_fraction", "condition"}}}. Fractions are shares of the frame.
    """
    folder = Path(folder)
    per_image: dict[str, dict] = {}
    rows = []
    ious, ious_told, false_flags, times = [], [], [], []
    for img_path in sorted(folder.glob("*.jpg")):
        mask_path = img_path.with_name(img_path.stem + ".mask.png")
        if not mask_path.exists():
            continue
        rgb = _read_rgb(img_path)
        gt = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) >= 128
        proxy = _proxy(rgb)
        t0 = time.perf_counter()
        result = segment_sky(proxy)
        times.append(1000 * (time.perf_counter() - t0))
        matte = cv2.resize(result["matte"], (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
        pred = matte >= 0.5
        entry = {"iou": None, "pred_fraction": round(float(pred.mean()), 4),
                 "gt_fraction": round(float(gt.mean()), 4), "condition": result["condition"]}
        if gt.any():
            entry["iou"] = round(float((pred & gt).sum() / max(1, (pred | gt).sum())), 4)
            ious.append(entry["iou"])
            # The matte alone, when the caller already knows the photo is an exterior
            # (the listing graph asks for the sky of exteriors only).
            told = segment_sky(proxy, scene="exterior")["matte"]
            told = cv2.resize(told, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR) >= 0.5
            entry["iou_given_exterior"] = round(float((told & gt).sum() / max(1, (told | gt).sum())), 4)
            ious_told.append(entry["iou_given_exterior"])
        else:
            false_flags.append(float(pred.mean()) > FALSE_SKY_FRACTION)
        per_image[img_path.stem] = entry
        if sheets is not None:
            replaced = replace_sky(rgb, result["matte"], "light_clouds", 1)["rgb"] if result["fraction"] > 0 else rgb
            label = f"{img_path.stem[-8:]} iou={entry['iou']}" if entry["iou"] is not None else \
                f"{img_path.stem[-8:]} no sky, pred={entry['pred_fraction']:.3f}"
            rows.append([tile(rgb, label, 200), tile(gt.astype(np.float32), "gt", 200),
                         tile(matte, f"{result['condition']}", 200), tile(replaced, "replaced", 200)])
    out = {
        "n": len(per_image),
        "n_with_sky": len(ious),
        "n_without_sky": len(false_flags),
        "miou": round(float(np.mean(ious)), 4) if ious else None,
        "miou_given_exterior": round(float(np.mean(ious_told)), 4) if ious_told else None,
        "false_sky_rate": round(float(np.mean(false_flags)), 4) if false_flags else None,
        "false_sky_definition": FALSE_SKY_DEFINITION,
        "median_ms": round(float(np.median(times)), 1) if times else None,
        "per_image": per_image,
    }
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
    for the first ``limit`` ``*_frontal.jpg`` (all are scored); returns per-image figures
    and the interiors' sky verdicts ({"interiors_with_sky": [...], "exteriors_without_sky": [...]})."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    rows, figures = [], {}
    exteriors_without, interiors_with = [], []
    for path in sorted(folder.glob("*.jpg")):
        rgb = _read_rgb(path)
        seg = segment_sky(_proxy(rgb))
        exterior = path.stem.endswith("_frontal")
        if not exterior:
            if seg["condition"] != "none":
                interiors_with.append(path.stem)
            continue
        if seg["condition"] == "none":
            exteriors_without.append(path.stem)
        figures[path.stem] = {"fraction": seg["fraction"], "condition": seg["condition"]}
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
