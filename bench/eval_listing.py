"""``lumograph eval`` task ``listing_photos``: the whole listing graph on real MLS photos.

Each ``houseN_LABEL.jpg`` (LABEL: ``frontal`` = exterior, ``bathroom`` | ``bedroom`` |
``kitchen``) runs through the graph in-process at tier ``auto`` (what the product does
when a client says nothing): scene and room accuracy of the classifier's guess with the
confusion matrix, how often each module ran and was applied, verdicts, and contact
sheets (before | after | modules applied). Photos are read where they lie.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import numpy as np

from lumograph.bench.eval_scene import EVAL_LABELS
from lumograph.bench.sheets import tile, write_sheet
from lumograph.graphs.listing import MODULE_ORDER, run_enhance
from lumograph.graphs.local import LocalModules
from lumograph.models.common.errors import LumographError
from lumograph.models.common.imageio import decode_image
from lumograph.serve.schemas import EnhanceOptions

SHEET_ROWS = 6


def eval_listing_photos(folder: Path, modules: LocalModules, sheets: Path | None,
                        limit: int | None) -> dict:
    """Run the listing graph (tier ``auto``) over ``folder``'s labelled photos.

    Returns ``{"n", "exterior_acc", "room_acc" (over true interiors; an interior called
    exterior counts as wrong), "confusion": {true: {pred: count}}, "modules_run":
    {module: count}, "modules_applied": {module: count}, "verdicts", "median_total_s",
    "errors": [misclassified file names], "fully_blown_photos" (where a generative
    inpainter would generate a window view), "per_image"}``.
    """
    steps = modules.listing_steps()
    options = EnhanceOptions(tier="auto").model_dump()
    paths = [p for p in sorted(folder.glob("house*_*.jpg")) if p.stem.rsplit("_", 1)[-1] in EVAL_LABELS]
    paths = paths[:limit]
    confusion: dict[str, dict[str, int]] = {}
    ran = {m: 0 for m in MODULE_ORDER}
    applied = {m: 0 for m in MODULE_ORDER}
    verdicts = {"pass": 0, "review": 0, "fail": 0}
    per_image: dict[str, dict] = {}
    rows: list[list[np.ndarray]] = []
    totals: list[float] = []
    scene_ok = room_ok = n_rooms = 0
    errors = []
    for path in paths:
        label = path.stem.rsplit("_", 1)[-1]
        true_scene, true_room = EVAL_LABELS[label]
        try:
            decoded = decode_image(path.read_bytes(), filename=path.name)
            t0 = time.perf_counter()
            outcome = asyncio.run(run_enhance([decoded.rgb], dict(options), steps,
                                              request_id=uuid.uuid4().hex))
            totals.append(time.perf_counter() - t0)
        except LumographError as err:
            per_image[path.name] = {"error": err.code, "message": err.message}
            continue
        rep = outcome.report
        cls = rep["classification"]
        pred = "exterior" if cls["scene"] == "exterior" else cls["room_type"]
        confusion.setdefault(label, {})
        confusion[label][pred] = confusion[label].get(pred, 0) + 1
        scene_ok += cls["scene"] == true_scene
        if true_room is not None:
            n_rooms += 1
            room_ok += pred == true_room
        if pred != (true_room or "exterior"):
            errors.append(path.name)
        for m in rep["modules_run"]:
            ran[m] += 1
        for m in rep["modules_applied"]:
            applied[m] += 1
        verdicts[rep["verdict"]] += 1
        failed = [c["name"] for c in rep["checks"] if not c["passed"]]
        per_image[path.name] = {
            "label": label, "pred": pred, "verdict": rep["verdict"],
            "modules_applied": rep["modules_applied"], "failed_checks": failed,
            "signals": {k: rep["signals"].get(k) for k in
                        ("max_window_stops", "blown_windows", "fully_blown_windows", "sky_condition",
                         "hotspot_share", "mirror_present", "tilt_deg", "cast_deg", "median_luminance")},
            "total_s": rep["timings_s"]["total"],
        }
        if sheets:
            after = decode_image(outcome.encoded).rgb if outcome.encoded else np.full((64, 64, 3), 90, np.uint8)
            sig = rep["signals"]
            label_after = (f"{rep['verdict']} {','.join(rep['modules_applied']) or 'none'}\n"
                           f"win {sig.get('max_window_stops', 0):.1f}st sky {sig.get('sky_condition')} "
                           f"tilt {sig.get('tilt_deg', 0):+.1f}\n" + ",".join(failed)[:50])
            rows.append([tile(decoded.rgb, f"{path.name} -> {pred}"), tile(after, label_after)])
    if sheets:
        for page, start in enumerate(range(0, len(rows), SHEET_ROWS)):
            write_sheet(rows[start:start + SHEET_ROWS], sheets / f"listing_photos_{page:02d}.png")
    scored = len(per_image) - sum(1 for e in per_image.values() if "error" in e)
    return {
        "n": scored,
        "exterior_acc": round(scene_ok / scored, 4) if scored else None,
        "room_acc": round(room_ok / n_rooms, 4) if n_rooms else None,
        "confusion": confusion,
        "modules_run": ran,
        "modules_applied": applied,
        "verdicts": verdicts,
        "median_total_s": round(float(np.median(totals)), 4) if totals else None,
        "errors": errors,
        # Photos where a generative inpainter would generate a window view (premium):
        # at least one window with its view lost (``exposure.window_fully_blown``).
        "fully_blown_photos": sorted(n for n, e in per_image.items()
                                     if (e.get("signals") or {}).get("fully_blown_windows")),
        "per_image": per_image,
    }
