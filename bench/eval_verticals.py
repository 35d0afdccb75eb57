"""Vertical correction on real listing photos: the frame it keeps and the lean it leaves.

For every photo of a ``listing_photos`` folder that the listing graph's auto-select would
straighten (the classifier's estimate on the graph's proxy, confidence >= 0.3 and tilt or
roll >= ``graphs.listing.TILT_MIN_DEG``): the full correction's crop beside what
``correct_verticals`` does now (issue 13: never under ``MIN_KEPT_SHARE`` of the frame,
partially corrected when the full one would crop more), with the fraction applied, the
residual the estimate predicts and the one re-measured on the output. ``before`` is the
module as it was: the full correction, refused under 70 % kept or when the output
re-measured over max(2, half the tilt). The sheet shows the strongest-pitched photos:
input | full correction | shipped, with thin upright guides to judge the lines against.

    python -m lumograph.bench.eval_verticals --json OUT.json [--sheet OUT.png] [--data FOLDER]

(``--data`` defaults to ``$LUMOGRAPH_EVAL_DIR/listing_photos``, ``../shared/eval`` unset.)

Only the verticals estimate and correction run (no graph, no cluster); photos are read
where they lie.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from lumograph.bench.sheets import tile, write_sheet
from lumograph.graphs.jewelry import PROXY_LONG_SIDE
from lumograph.graphs.listing import TILT_MIN_DEG
from lumograph.models.common.imageio import decode_image, fast_downscale, resize_long_side
from lumograph.models.compositor.verticals import (
    MAX_RESIDUAL_TILT_DEG,
    MAX_ROLL_DEG,
    MAX_TILT_DEG,
    MIN_CONFIDENCE,
    RESIDUAL_LONG_SIDE,
    correct_verticals,
    estimate_verticals,
    verticals_crop,
)

#: The crop floor before issue 13 (a full correction keeping less was refused).
BEFORE_MIN_KEPT_SHARE = 0.70
SHEET_ROWS = 8
TILE_H = 340


def _guides(rgb: np.ndarray, n: int = 7) -> np.ndarray:
    """A copy with ``n`` thin upright guides across the width (for looking only)."""
    out = rgb.copy()
    h, w = out.shape[:2]
    for k in range(1, n + 1):
        x = int(round(k * w / (n + 1)))
        out[:, max(0, x - 1):x + 1] = (0, 255, 255)
    return out


def eval_verticals(folder: Path, sheet: Path | None = None) -> dict:
    """Returns {"n_photos", "n_would_run", "per_image": {stem: figures}, "summary"}."""
    per_image: dict[str, dict] = {}
    images: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    paths = sorted(folder.glob("*.jpg"))
    t0 = time.perf_counter()
    for path in paths:
        rgb = decode_image(path.read_bytes(), filename=path.name).rgb
        est = estimate_verticals(resize_long_side(rgb, PROXY_LONG_SIDE))
        tilt, roll = est["tilt_deg"], est["roll_deg"]
        if est["confidence"] < MIN_CONFIDENCE or max(abs(tilt), abs(roll)) < TILT_MIN_DEG:
            continue
        h, w = rgb.shape[:2]
        out = correct_verticals(rgb, est)
        rep = out["report"]
        full = verticals_crop(w, h, tilt, roll, 1.0)
        full_rgb, full_residual = None, None
        if full is not None:
            full_rgb = cv2.warpPerspective(rgb, full["matrix"], tuple(full["output_size"]),
                                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            full_residual = estimate_verticals(fast_downscale(full_rgb, RESIDUAL_LONG_SIDE))["tilt_deg"]
        within_caps = abs(tilt) <= MAX_TILT_DEG and abs(roll) <= MAX_ROLL_DEG
        before_applied = (within_caps and full is not None and full["kept_share"] >= BEFORE_MIN_KEPT_SHARE
                          and abs(full_residual) <= max(MAX_RESIDUAL_TILT_DEG, 0.5 * abs(tilt)))
        per_image[path.stem] = {
            "tilt_deg": tilt, "roll_deg": roll, "edge_lean_deg": est["edge_lean_deg"],
            "confidence": est["confidence"], "size": [w, h],
            "full_kept_share": None if full is None else round(full["kept_share"], 4),
            "full_residual_tilt_deg": full_residual,
            "before_applied": bool(before_applied),
            "before_kept_share": round(full["kept_share"], 4) if before_applied else 1.0,
            "applied": out["applied"], "kept_share": rep["kept_share"],
            "correction_fraction": rep["correction_fraction"],
            **{k: rep.get(k) for k in ("applied_tilt_deg", "expected_residual_tilt_deg", "residual_tilt_deg",
                                       "residual_roll_deg", "residual_edge_lean_deg")},
            "reason": rep["reason"],
        }
        if full_rgb is not None and within_caps:
            images[path.stem] = (rgb, full_rgb, out["rgb"])
    wall = time.perf_counter() - t0
    rows = list(per_image.items())
    partial = [f for _, f in rows if f["applied"] and f["correction_fraction"] < 1.0]
    summary = {
        "applied": sum(f["applied"] for _, f in rows), "before_applied": sum(f["before_applied"] for _, f in rows),
        "partial": len(partial),
        "min_kept_share_applied": min((f["kept_share"] for _, f in rows if f["applied"]), default=None),
        "min_kept_share_before": min((f["before_kept_share"] for _, f in rows if f["before_applied"]),
                                     default=None),
        "median_fraction_partial": float(np.median([f["correction_fraction"] for f in partial])) if partial
        else None,
        "max_abs_residual_error_deg": max((abs(f["residual_tilt_deg"] - f["expected_residual_tilt_deg"])
                                           for f in partial), default=None),
        "wall_s": round(wall, 2),
    }
    if sheet is not None:
        strongest = sorted((s for s in per_image if s in images), key=lambda s: per_image[s]["full_kept_share"])
        tiles = []
        for stem in strongest[:SHEET_ROWS]:
            f = per_image[stem]
            src, full_rgb, shipped = images[stem]
            tiles.append([
                tile(_guides(src), f"{stem}\ntilt {f['tilt_deg']:+.1f} roll {f['roll_deg']:+.1f} "
                                   f"edge lean {f['edge_lean_deg']:+.1f}", TILE_H),
                tile(_guides(full_rgb), f"full correction\nkeeps {f['full_kept_share']:.0%}", TILE_H),
                tile(_guides(shipped), f"shipped: {f['correction_fraction']:.0%} of it, keeps {f['kept_share']:.0%}\n"
                                       f"residual tilt {f['residual_tilt_deg']:+.1f} "
                                       f"(edge {f['residual_edge_lean_deg'] or 0:+.1f})"
                     if f["applied"] else f"shipped: not applied\n{f['reason'][:44]}", TILE_H),
            ])
        write_sheet(tiles, sheet)
    return {"n_photos": len(paths), "n_would_run": len(per_image), "summary": summary, "per_image": per_image}


def _table(result: dict) -> str:
    head = (f"{'photo':24} {'tilt':>6} {'roll':>5} | {'before':>6} {'full':>5} | {'kept':>5} {'frac':>5} "
            f"{'resid':>6} {'expect':>6} {'edge':>5}")
    lines = [head, "-" * len(head)]
    for stem, f in sorted(result["per_image"].items(), key=lambda kv: kv[1]["full_kept_share"] or 0):
        full = f["full_kept_share"]
        lines.append(
            f"{stem:24} {f['tilt_deg']:+6.1f} {f['roll_deg']:+5.1f} | "
            f"{(f['before_kept_share'] if f['before_applied'] else float('nan')):6.3f} "
            f"{(full if full is not None else float('nan')):5.3f} | "
            + (f"{f['kept_share']:5.3f} {f['correction_fraction']:5.3f} {f['residual_tilt_deg']:+6.1f} "
               f"{f['expected_residual_tilt_deg']:+6.1f} {f['residual_edge_lean_deg']:+5.1f}" if f["applied"]
               else f"not applied: {f['reason'][:60]}"))
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("LUMOGRAPH_EVAL_DIR", "../shared/eval")) / "listing_photos")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--sheet", type=Path, default=None)
    args = parser.parse_args()
    result = eval_verticals(args.data, args.sheet)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(_table(result))
    print(json.dumps(result["summary"], indent=1))
