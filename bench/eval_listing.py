"""``lumograph eval`` task ``listing_photos``: the whole listing graph on real MLS photos.

Each ``houseN_LABEL.jpg`` (LABEL: ``frontal`` = exterior, ``bathroom`` | ``bedroom`` |
``kitchen``) runs through the graph in-process at tier ``auto`` (what the product does
when a client says nothing): scene and room accuracy of the classifier's guess with the
confusion matrix, how often each module ran and was applied, verdicts, the MLS checks
(photos flagged for branding and for people; with ``bench/labels/listing_photos_compliance.tsv``,
how many of the labelled watermarks the branding check found and how many clean photos it
flagged) and contact sheets (before | after | modules applied, the MLS checks' boxes drawn on
the after image: branding magenta, people cyan). Photos are read where they lie.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import cv2
import numpy as np

from lumograph.bench.eval_scene import EVAL_LABELS
from lumograph.bench.fit_listing_branding import LABELS as COMPLIANCE_LABELS
from lumograph.bench.fit_listing_branding import in_region, load_labels
from lumograph.bench.sheets import tile, write_sheet
from lumograph.graphs.listing import MODULE_ORDER, run_enhance
from lumograph.graphs.local import LocalModules
from lumograph.models.common.errors import LumographError
from lumograph.models.common.imageio import decode_image
from lumograph.models.qa import mls
from lumograph.serve.schemas import EnhanceOptions

SHEET_ROWS = 6
#: The MLS checks whose boxes the sheet draws, and their colours (RGB).
BOX_COLOURS = {"listing_branding": (255, 0, 255), "listing_people": (0, 255, 255)}


def draw_check_boxes(rgb: np.ndarray, checks: list[dict]) -> np.ndarray:
    """A copy of ``rgb`` (HxWx3 uint8) with the boxes of the MLS checks drawn (fractions of
    the checked proxy, drawn on this image's frame), thick enough to survive the tile."""
    out = np.ascontiguousarray(rgb.copy())
    h, w = out.shape[:2]
    thickness = max(2, round(max(h, w) / 300))
    for c in checks:
        colour = BOX_COLOURS.get(c.get("name"))
        for b in (c.get("boxes") or []) if colour else []:
            x0, y0, x1, y1 = b["box"]
            cv2.rectangle(out, (int(x0 * w), int(y0 * h)), (int(round(x1 * w)) - 1, int(round(y1 * h)) - 1), colour,
                          thickness)
    return out


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.median(values)), 4) if values else None


def compliance_summary(per_image: dict[str, dict], labels: dict[str, dict] | None) -> dict:
    """Photos flagged by the MLS checks and, with labels, the branding check against them:
    a labelled overlay with letters counts as found when a box has its centre in one of
    its labelled regions (``fit_listing_branding.in_region``)."""
    scored = {n: e for n, e in per_image.items() if "error" not in e}
    out = {
        "branding_flagged": sorted(n for n, e in scored.items() if e.get("branding_boxes")),
        "people_flagged": sorted(n for n, e in scored.items() if e.get("people_boxes")),
    }
    out["branding_flagged_n"] = len(out["branding_flagged"])
    out["people_flagged_n"] = len(out["people_flagged"])
    if labels:
        marked = [n for n in scored if n in labels and labels[n]["overlay"] != "none"
                  and labels[n]["lettering"] == "yes"]
        clean = [n for n in scored if n in labels and labels[n]["overlay"] == "none"]
        found = [n for n in marked if any(in_region(b["box"], r) for b in scored[n].get("branding_boxes") or []
                                          for r in labels[n]["where"].split(";") if r)]
        # A watermark the vertical correction's crop removed is not in the delivered photo.
        cropped = [n for n in marked if n not in found and scored[n].get("branding_cropped_away")]
        out["watermarks_labelled"] = len(marked)
        out["watermarks_found"] = len(found)
        out["watermarks_cropped_away"] = sorted(cropped)
        out["watermarks_missed"] = sorted(set(marked) - set(found) - set(cropped))
        out["clean_labelled"] = len(clean)
        out["clean_flagged"] = sorted(n for n in clean if scored[n].get("branding_boxes"))
        out["people_labelled"] = sum(1 for n in scored if n in labels and labels[n]["people"] != "none")
    return out


def eval_listing_photos(folder: Path, modules: LocalModules, sheets: Path | None,
                        limit: int | None) -> dict:
    """Run the listing graph (tier ``auto``) over ``folder``'s labelled photos.

    Returns ``{"n", "exterior_acc", "room_acc" (over true interiors; an interior called
    exterior counts as wrong), "confusion": {true: {pred: count}}, "modules_run":
    {module: count}, "modules_applied": {module: count}, "verdicts", "median_total_s",
    "errors": [misclassified file names], "fully_blown_photos" (where a generative
    inpainter would generate a window view), "mls_compliance" (``compliance_summary``),
    "per_image"}``.
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
        mls_checks = {c["name"]: c for c in rep["checks"] if c["name"] in BOX_COLOURS}
        per_image[path.name] = {
            "label": label, "pred": pred, "verdict": rep["verdict"],
            "modules_applied": rep["modules_applied"], "failed_checks": failed,
            "signals": {k: rep["signals"].get(k) for k in
                        ("max_window_stops", "blown_windows", "fully_blown_windows", "sky_condition",
                         "hotspot_share", "mirror_present", "tilt_deg", "cast_deg", "median_luminance")},
            "total_s": rep["timings_s"]["total"],
            "qa_s": rep["timings_s"].get("qa"),
            "branding_boxes": (mls_checks.get("listing_branding") or {}).get("boxes") or [],
            "branding_cropped_away": mls.CROPPED_AWAY in (mls_checks.get("listing_branding") or {}).get("message", ""),
            "people_boxes": (mls_checks.get("listing_people") or {}).get("boxes") or [],
        }
        if sheets:
            after = decode_image(outcome.encoded).rgb if outcome.encoded else np.full((64, 64, 3), 90, np.uint8)
            # The boxes are fractions of the delivered frame (carried through the warp).
            after = draw_check_boxes(after, list(mls_checks.values()))
            sig = rep["signals"]
            # The verticals module's own signal: no number when its lines were unreliable.
            tilt = (rep.get("modules", {}).get("verticals") or {}).get("signal")
            label_after = (f"{rep['verdict']} {','.join(rep['modules_applied']) or 'none'}\n"
                           f"win {sig.get('max_window_stops', 0):.1f}st sky {sig.get('sky_condition')} "
                           + (f"tilt {tilt:+.1f}\n" if isinstance(tilt, (int, float)) else "tilt unreliable\n")
                           + ",".join(failed)[:50])
            rows.append([tile(decoded.rgb, f"{path.name} -> {pred}"), tile(after, label_after)])
    if sheets:
        for page, start in enumerate(range(0, len(rows), SHEET_ROWS)):
            write_sheet(rows[start:start + SHEET_ROWS], sheets / f"listing_photos_{page:02d}.png")
    scored = len(per_image) - sum(1 for e in per_image.values() if "error" in e)
    labels = load_labels(COMPLIANCE_LABELS) if COMPLIANCE_LABELS.exists() else None
    return {
        "n": scored,
        "exterior_acc": round(scene_ok / scored, 4) if scored else None,
        "room_acc": round(room_ok / n_rooms, 4) if n_rooms else None,
        "confusion": confusion,
        "modules_run": ran,
        "modules_applied": applied,
        "verdicts": verdicts,
        "median_total_s": round(float(np.median(totals)), 4) if totals else None,
        # The QA step (structure checks and the MLS checks) per photo.
        "median_qa_s": _median([e.get("qa_s") for e in per_image.values()]),
        "errors": errors,
        # Photos where a generative inpainter would generate a window view (premium):
        # at least one window with its view lost (``exposure.window_fully_blown``).
        "fully_blown_photos": sorted(n for n, e in per_image.items()
                                     if (e.get("signals") or {}).get("fully_blown_windows")),
        # The MLS checks (listing_branding, listing_people): photos flagged and, against the
        # labels, watermarks found and clean photos flagged.
        "mls_compliance": compliance_summary(per_image, labels),
        "per_image": per_image,
    }
