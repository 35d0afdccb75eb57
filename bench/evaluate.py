"""``lumograph eval``: quality on an eval folder laid out like ``../shared/eval``.

Runs every task whose folder exists, in-process (no cluster), and writes one JSON file
plus PNG contact sheets. Photos are read where they lie and never copied.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from lumograph.bench.eval_constancy import evaluate_color_constancy
from lumograph.bench.metrics import band_scores, mask_iou
from lumograph.bench.sheets import tile, write_sheet
from lumograph.graphs.jewelry import run_lightbox
from lumograph.graphs.local import LocalModules
from lumograph.models.common.errors import LumographError
from lumograph.models.common.imageio import decode_image
from lumograph.models.common.marketplaces import get_profile
from lumograph.models.qa.lightbox import check_output
from lumograph.models.segmenter.jewelry_matte import matte_to_full_frame

SHEET_ROWS = 8
LIGHTBOX_DEFAULTS = {
    "marketplace": "amazon", "size": None, "format": "jpeg", "transparent": False, "shadow": "soft",
    "metal": "auto", "fill_ratio": None, "quality": 92, "min_short_side": None,
}


class _CapturingRun:
    """Runs the jewelry graph in-process and keeps the matte for contact sheets."""

    def __init__(self, modules: LocalModules):
        self.base = modules.jewelry_steps()
        self.matte = None

    async def _segment(self, *args, **kwargs):
        result = await self.base.segment(*args, **kwargs)
        self.matte = result["matte"]
        return result

    def __call__(self, rgb: np.ndarray, options: dict[str, Any], info: dict[str, Any]):
        self.matte = None
        steps = replace(self.base, segment=self._segment)
        return asyncio.run(run_lightbox(rgb, options, steps, request_id=uuid.uuid4().hex, input_info=info))


#: A cut-out whose band IoU is under this is bad: QA must not pass it (issue 10).
GOOD_CUTOUT_IOU_BAND = 0.85


def eval_jewelry_masks(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None) -> dict:
    """Each packshot (``NAME.jpg`` + hand-drawn ``NAME.mask.jpg``) through the whole lightbox
    graph at the product's defaults, as ``POST /jewelry/lightbox`` runs it.

    The graph's own matte is scored against the mask outside the boundary band (IoU,
    recall: share of the piece kept, precision), and its QA verdict is held against that
    score: ``bad_cutouts_passed`` counts cut-outs under ``GOOD_CUTOUT_IOU_BAND`` that QA
    passed (the gate failed the customer), ``good_cutouts_failed`` good ones it failed.
    The sheet shows input | alpha | errors | cut-out on white | cut-out on black (a band
    that went missing shows on black).
    """
    run = _CapturingRun(modules)
    per_image: dict[str, dict] = {}
    mattes: dict = {}
    rows = []
    images = sorted(p for p in folder.glob("*.jpg") if not p.name.endswith(".mask.jpg"))[:limit]
    for path in images:
        gt_path = path.with_name(path.stem + ".mask.jpg")
        if not gt_path.exists():
            continue
        data = path.read_bytes()
        decoded = decode_image(data, filename=path.name)
        rgb = decoded.rgb
        gt = cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE) >= 128
        outcome = run(rgb, dict(LIGHTBOX_DEFAULTS), {"format": decoded.source_format, "bytes": len(data)})
        rep = outcome.report
        matte = run.matte
        if matte is None:
            # Refused before segmentation (e.g. too small for the canvas): the mask is still
            # scored, from the segmenter alone, so every image has its figure.
            try:
                matte = modules.segmenter.segment_jewelry(rgb, (rgb.shape[0], rgb.shape[1]))["matte"]
            except LumographError:
                matte = None
        alpha = (matte_to_full_frame(matte, rgb.shape[:2]) if matte is not None
                 else np.zeros(rgb.shape[:2], np.float32))
        if alpha.shape != gt.shape:
            alpha = cv2.resize(alpha, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_LINEAR)
        pred = alpha >= 0.5
        band = max(3, round(0.01 * max(gt.shape)))
        scores = band_scores(pred, gt, band)
        failed = [c["name"] for c in rep.get("input_checks", []) + rep.get("output_checks", []) if not c["passed"]]
        entry = {
            "iou": float(mask_iou(pred, gt)),
            "iou_band": scores["iou"],
            "recall_band": scores["recall"],
            "precision_band": scores["precision"],
            "band_px": band,
            "verdict": rep["verdict"],
            "score": rep["score"],
            "failed_checks": failed,
            "category": rep["classification"].get("category"),
            "segment_s": rep["timings_s"].get("segment"),
            "scored_outside_graph": run.matte is None,
            "total_s": rep["timings_s"]["total"],
        }
        entry.update(_clipped_shares(rep))
        complete = next((c for c in rep.get("output_checks", []) if c["name"] == "cutout_complete"), None)
        if complete is not None:
            entry["cutout_complete"] = {"value": complete["value"], "passed": complete["passed"]}
        per_image[path.name] = entry
        if matte is not None:
            mattes[path.name] = matte
        if sheets:
            rows.append(_mask_sheet_row(path.name, rgb, alpha, pred, gt, matte, entry))
    if sheets and rows:
        write_sheet(rows, sheets / "jewelry_masks.png")
        # The highlight stage's before/after sheet on the same cut-outs (its figures per
        # image are in the entries above, from the graph's grade report).
        from lumograph.bench.eval_highlights import eval_highlights

        eval_highlights(folder, sheets, modules=modules, limit=limit, mattes=mattes)
    values = list(per_image.values())

    def mean(key: str) -> float | None:
        return float(np.mean([m[key] for m in values])) if values else None

    def lowest(key: str) -> float | None:
        return float(min(m[key] for m in values)) if values else None

    good = [m["iou_band"] >= GOOD_CUTOUT_IOU_BAND for m in values]
    return {
        "n": len(values),
        "miou": mean("iou"),
        "miou_band": mean("iou_band"),
        "min_iou_band": lowest("iou_band"),
        "recall_band": mean("recall_band"),
        "min_recall_band": lowest("recall_band"),
        "precision_band": mean("precision_band"),
        "min_precision_band": lowest("precision_band"),
        "good_cutout_iou_band": GOOD_CUTOUT_IOU_BAND,
        "bad_cutouts_passed": sum(1 for m, ok in zip(values, good) if not ok and m["verdict"] == "pass"),
        "good_cutouts_failed": sum(1 for m, ok in zip(values, good) if ok and m["verdict"] == "fail"),
        "verdicts": {v: sum(1 for m in values if m["verdict"] == v) for v in ("pass", "review", "fail")},
        **_clipped_summary(values),
        "per_image": per_image,
    }


def _clipped_shares(report: dict) -> dict:
    """The grade's highlight figures: share of the piece's pixels clipped before/after."""
    found = report.get("grading", {}).get("highlights") or {}
    if "clipped_share_before" not in found:
        return {}
    return {"clipped_share_before": found["clipped_share_before"], "clipped_share_after": found["clipped_share_after"]}


def _clipped_summary(values: list[dict]) -> dict:
    measured = [m for m in values if "clipped_share_before" in m]
    if not measured:
        return {}
    return {"median_clipped_share_before": float(np.median([m["clipped_share_before"] for m in measured])),
            "median_clipped_share_after": float(np.median([m["clipped_share_after"] for m in measured]))}


def _mask_sheet_row(name: str, rgb: np.ndarray, alpha: np.ndarray, pred: np.ndarray, gt: np.ndarray,
                    matte, entry: dict) -> list[np.ndarray]:
    err = np.zeros(gt.shape + (3,), np.uint8)
    err[pred & gt] = (255, 255, 255)
    err[pred & ~gt] = (255, 60, 60)
    err[~pred & gt] = (60, 120, 255)
    row = [tile(rgb, name), tile(alpha, "alpha"),
           tile(err, f"band IoU {entry['iou_band']:.3f} recall {entry['recall_band']:.3f}\n"
                     f"red=extra blue=missed\n{entry['verdict']} {','.join(entry['failed_checks'])[:40]}")]
    if matte is not None:
        fg = matte.foreground.astype(np.float32)
        a = matte.alpha[:, :, None]
        for level, label in ((255.0, "cut-out on white"), (0.0, "cut-out on black")):
            row.append(tile(np.clip(fg * a + level * (1.0 - a) + 0.5, 0, 255).astype(np.uint8), label))
    return row


def eval_color_constancy(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None) -> dict:
    """Angular error of the illuminant estimator on linear camera RGB with ground truth."""
    return evaluate_color_constancy(folder)


#: What each jewelry_photos file shows (labelled by eye): on_model, lifestyle, product or
#: unreadable. Photos the file does not name are reported as "unlabelled".
SCOPE_LABELS = Path(__file__).parent / "labels" / "jewelry_photos_scope.tsv"


def _scope_labels() -> dict[str, str]:
    if not SCOPE_LABELS.exists():
        return {}
    rows = [line.split("\t") for line in SCOPE_LABELS.read_text().splitlines()
            if line and not line.startswith("#")]
    return {name: scope for name, scope in rows[1:]}


def eval_jewelry_photos(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None) -> dict:
    """The whole lightbox graph on real shop photos (profile ``amazon``, product defaults):
    verdicts, out-of-scope refusals against the labels (``out_of_scope``: on-model shots
    refused; ``wrongly_refused``: product shots refused as out of scope), and whether every
    ``pass`` output passes its profile when re-measured from its bytes."""
    result = _eval_photos(folder, modules, sheets, limit, dict(LIGHTBOX_DEFAULTS))
    labels = _scope_labels()
    scope: dict[str, dict[str, int]] = {}
    for name, entry in result["per_image"].items():
        label = labels.get(name, "unlabelled")
        entry["scope"] = label
        counts = scope.setdefault(label, {"n": 0, "refused_out_of_scope": 0, "pass": 0, "review": 0, "fail": 0,
                                          "error": 0})
        counts["n"] += 1
        if entry.get("error") == "out_of_scope":
            counts["refused_out_of_scope"] += 1
        elif "error" in entry:
            counts["error"] += 1
        else:
            counts[entry["verdict"]] += 1
    on_model = scope.get("on_model", {})
    result["by_scope"] = scope
    result["out_of_scope"] = {"on_model_caught": on_model.get("refused_out_of_scope", 0),
                              "on_model_total": on_model.get("n", 0),
                              "lifestyle_refused": scope.get("lifestyle", {}).get("refused_out_of_scope", 0),
                              "lifestyle_total": scope.get("lifestyle", {}).get("n", 0)}
    result["wrongly_refused"] = scope.get("product", {}).get("refused_out_of_scope", 0)
    result["product_total"] = scope.get("product", {}).get("n", 0)
    return result


def _eval_photos(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None, options: dict) -> dict:
    run = _CapturingRun(modules)
    profile = get_profile("amazon")
    verdicts = {"pass": 0, "review": 0, "fail": 0}
    per_image: dict[str, dict] = {}
    rows: list[list[np.ndarray]] = []
    remeasured_ok = 0
    totals = []
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    for path in photos[:limit]:
        data = path.read_bytes()
        try:
            decoded = decode_image(data, filename=path.name)
            outcome = run(decoded.rgb, dict(options), {"format": decoded.source_format, "bytes": len(data)})
        except LumographError as err:
            per_image[path.name] = {"error": err.code, "message": err.message}
            verdicts["fail"] += 1
            continue
        rep = outcome.report
        verdicts[rep["verdict"]] += 1
        totals.append(rep["timings_s"]["total"])
        failed = [c["name"] for c in rep.get("input_checks", []) + rep.get("output_checks", []) if not c["passed"]]
        entry = {"verdict": rep["verdict"], "score": rep["score"], "failed_checks": failed,
                 "category": rep["classification"].get("category"), "metal": rep["classification"].get("metal"),
                 "total_s": rep["timings_s"]["total"], **_clipped_shares(rep)}
        if rep["verdict"] == "pass":
            recheck = check_output(outcome.encoded, "jpeg", profile)
            entry["remeasured_pass"] = all(c.passed for c in recheck if c.severity != "info")
            remeasured_ok += int(entry["remeasured_pass"])
        per_image[path.name] = entry
        if sheets:
            out = decode_image(outcome.encoded).rgb if outcome.encoded else np.full((64, 64, 3), 90, np.uint8)
            alpha = matte_to_full_frame(run.matte, decoded.rgb.shape[:2]) if run.matte is not None else np.zeros((64, 64), np.float32)
            label = f"{rep['verdict']} {rep['score']:.2f}\n" + ",".join(failed)[:60]
            rows.append([tile(decoded.rgb, path.name[:40]), tile(alpha, "alpha"), tile(out, label)])
    if sheets:
        for page, start in enumerate(range(0, len(rows), SHEET_ROWS)):
            write_sheet(rows[start:start + SHEET_ROWS], sheets / f"jewelry_photos_{page:02d}.png")
    n_pass = verdicts["pass"]
    return {
        **_clipped_summary([e for e in per_image.values() if "verdict" in e]),
        "n": len(per_image),
        "verdicts": verdicts,
        "compliance_pass_rate": (remeasured_ok / n_pass) if n_pass else None,
        "median_total_s": float(np.median(totals)) if totals else None,
        "per_image": per_image,
    }


def eval_sky(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None) -> dict:
    """Sky matte IoU and false-sky rate against ADE20K sky mattes, all-data and k-fold
    (``bench/fit_sky.py`` re-fits the matte's thresholds per fold)."""
    from lumograph.bench.eval_sky import eval_sky_masks

    return eval_sky_masks(folder, sheets, kfold=True)


def eval_specular_task(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None) -> dict:
    """PSNR against polarisation-measured highlight-free images, before and after glare removal."""
    from lumograph.bench.eval_specular import eval_specular

    return eval_specular(folder, sheets)


def eval_hdr_task(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None) -> dict:
    """Bracket merges of real exposure sets, and a single-frame window pull."""
    from lumograph.bench.eval_hdr import eval_hdr_brackets

    return eval_hdr_brackets(folder, sheets)


def eval_listing_task(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None) -> dict:
    """The listing graph at tier auto over labelled MLS photos."""
    from lumograph.bench.eval_listing import eval_listing_photos

    return eval_listing_photos(folder, modules, sheets, limit)


def eval_scene_task(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None) -> dict:
    """The scene classifier alone over labelled MLS photos: all-data accuracy with the
    shipped parameters and 5-fold-by-house accuracy with parameters re-fitted per fold."""
    from lumograph.bench.eval_scene import evaluate_scene_photos

    return evaluate_scene_photos(folder, limit=limit)


def eval_windows_task(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None) -> dict:
    """The classical window detector on the labelled bright regions of the MLS interiors:
    all-data precision/recall with the shipped fit and 5-fold by house with the weights and
    threshold re-fitted per fold (``bench/fit_windows.py``)."""
    from lumograph.bench.fit_windows import fit

    result = fit(folder.parent)
    shipped = result["all_data"]
    return {
        "precision": shipped["precision"], "recall": shipped["recall"], "f_beta": shipped["f_beta"],
        "precision_kfold": result["kfold"]["precision"], "recall_kfold": result["kfold"]["recall"],
        "f_beta_kfold": result["kfold"]["f_beta"], "f_beta_kfold_worst": result["kfold"]["worst_fold_f_beta"],
        **result,
    }


def eval_glare_task(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None) -> dict:
    """The glare detector on the labelled hot-spot candidates of the MLS interiors (glare,
    shine, other): all-data and 5-fold-by-house counts with the thresholds re-fitted per
    fold, shine kept, and the specular and synthetic-flash constraints
    (``bench/fit_glare.py``)."""
    from lumograph.bench.fit_glare import fit

    result = fit(folder.parent)
    shipped, held = result["all_data"], result["kfold"]
    return {
        "precision": shipped["precision"], "recall": shipped["recall"], "wrong_edits": shipped["fp"],
        "shine_kept": shipped["shine_kept"], "precision_kfold": held["precision"], "recall_kfold": held["recall"],
        "wrong_edits_kfold": held["fp"], "shine_kept_kfold": held["shine_kept"], **result,
    }


def eval_dusk_task(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None) -> dict:
    """Day-to-dusk on the MLS exteriors: shadow depth before and after, windows lit (and
    of the windows labelled by eye), and the facade-window detector's all-data and
    5-fold-by-house figures with its weights and threshold re-fitted per fold
    (``bench/fit_facade_windows.py``)."""
    from lumograph.bench.eval_dusk import eval_dusk
    from lumograph.bench.fit_facade_windows import fit

    result = eval_dusk(folder, Path(sheets) / "dusk.png" if sheets is not None else None)
    facade = fit(folder.parent)
    shipped, held = facade["all_data"], facade["kfold"]
    return {
        **result,
        "facade_window_recall": shipped["recall"], "facade_box_precision": shipped["box_precision"],
        "facade_window_recall_kfold": held["recall"], "facade_box_precision_kfold": held["box_precision"],
        "facade_windows": facade,
    }


def eval_mirrors_task(folder: Path, modules: LocalModules, sheets: Path | None, limit: int | None) -> dict:
    """The mirror clean-up's detectors (BlazeFace, the LBP cascade) on the eval's real
    mirrors (wrong clean-ups) and on people pasted into them (found, covered)."""
    from lumograph.bench.eval_mirror_cleanup import eval_mirror_cleanup

    return eval_mirror_cleanup(folder, Path(sheets) / "mirrors.png" if sheets is not None else None)


TASKS: dict[str, Callable[..., dict]] = {
    "jewelry_masks": eval_jewelry_masks,
    "color_constancy": eval_color_constancy,
    "jewelry_photos": eval_jewelry_photos,
    "listing_photos": eval_listing_task,
    "listing_scene": eval_scene_task,
    "listing_windows": eval_windows_task,
    "listing_glare": eval_glare_task,
    "listing_dusk": eval_dusk_task,
    "listing_mirrors": eval_mirrors_task,
    "sky_masks": eval_sky,
    "specular": eval_specular_task,
    "hdr_brackets": eval_hdr_task,
}
#: Tasks that read another task's folder (default: the folder named like the task).
TASK_FOLDERS = {"listing_scene": "listing_photos", "listing_windows": "listing_photos",
                "listing_glare": "listing_photos", "listing_dusk": "listing_photos",
                "listing_mirrors": "listing_photos"}


def run_eval(data: Path, *, json_out: Path, sheets_dir: Path | None = None, limit: int | None = None,
             tasks: list[str] | None = None) -> dict:
    """Run every known task found under ``data`` (or only ``tasks``); write and return the
    JSON result."""
    if not data.is_dir():
        raise SystemExit(f"eval data folder not found: {data}")
    modules = LocalModules.build()
    result: dict[str, Any] = {"data": str(data), "backends": modules.backends()}
    unknown = sorted(set(tasks or []) - set(TASKS))
    if unknown:
        raise SystemExit(f"unknown eval task(s) {unknown}; known: {sorted(TASKS)}")
    for name, task in TASKS.items():
        if tasks and name not in tasks:
            continue
        folder = data / TASK_FOLDERS.get(name, name)
        if not folder.is_dir():
            continue
        t0 = time.perf_counter()
        result[name] = task(folder, modules, sheets_dir, limit)
        result[name]["wall_s"] = round(time.perf_counter() - t0, 2)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2))
    return result
