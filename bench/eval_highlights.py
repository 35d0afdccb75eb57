"""Controlled highlights on real photos: the clipped share inside the piece before and
after ``control_highlights``, per image and median, with a contact sheet.

Each photo (``*.jpg`` in the folder, ``*.mask.jpg`` ignored) is decoded as the API
decodes it, cut out by the in-process segmenter (``LocalModules``) and its cut-out
(the matte's foreground and alpha, at working resolution) goes through the highlight
stage alone, so the figures are the stage's own (the grade's white balance is left out).
Photos are read where they lie and never copied. A photo the segmenter cannot cut out
is listed under ``skipped`` with the reason.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from lumograph.bench.sheets import tile, write_sheet
from lumograph.graphs.jewelry import PROXY_LONG_SIDE
from lumograph.graphs.local import LocalModules
from lumograph.models.common.errors import LumographError
from lumograph.models.common.imageio import decode_image, resize_long_side
from lumograph.models.grader.highlights import CLIP_LEVEL, PIECE_ALPHA, control_highlights, find_hotspots

#: Colour clipped piece pixels are painted on the "before" and "after (clipped)" tiles.
TINT = np.array([255, 0, 255], np.uint8)


def _on_white(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The cut-out as the catalog shows it: over #FFFFFF by its alpha."""
    a = np.clip(alpha.astype(np.float32), 0.0, 1.0)[:, :, None]
    return np.clip(rgb.astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)


def _tinted(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """On white, with the piece's clipped pixels (max channel >= CLIP_LEVEL) in ``TINT``."""
    shown = _on_white(rgb, alpha)
    shown[(alpha >= PIECE_ALPHA) & (rgb.max(axis=2) >= CLIP_LEVEL)] = TINT
    return shown


def _zoom_box(found: dict, shape: tuple[int, int]) -> tuple[slice, slice] | None:
    """A square around the largest hot-spot (full-image slices), or None without one."""
    if not found["spots"]:
        return None
    y0, _, x0, _ = found["box"]
    f = found["factor"]  # the regions lie on the analysis grid: f x f blocks of the cut-out
    spot = max(found["spots"], key=lambda s: s["core_px"])
    ys, xs = np.nonzero(spot["region"])
    rows, cols = spot["sub"]
    top, bottom = (y0 + rows.start + ys.min()) * f, (y0 + rows.start + ys.max() + 1) * f
    left, right = (x0 + cols.start + xs.min()) * f, (x0 + cols.start + xs.max() + 1) * f
    side = int(min(max(48, 2.0 * max(bottom - top, right - left)), max(shape)))
    cy, cx = (top + bottom) // 2, (left + right) // 2
    top = max(0, min(shape[0] - side, cy - side // 2))
    left = max(0, min(shape[1] - side, cx - side // 2))
    return slice(top, min(shape[0], top + side)), slice(left, min(shape[1], left + side))


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.jpg") if not p.name.endswith(".mask.jpg"))


def _median(values: list[float]) -> float | None:
    return round(float(np.median(values)), 5) if values else None


def eval_highlights(folder, sheets_dir=None, *, modules: LocalModules | None = None,
                    limit: int | None = None, mattes: dict | None = None) -> dict:
    """Clipped share inside the piece before/after the highlight stage, per photo.

    folder: a folder of jewelry photos (``*.jpg``; ``*.mask.jpg`` ignored). sheets_dir:
    where ``highlights_<folder name>.png`` goes (one row per photo: input crop |
    before on white, clipped pixels tinted | after on white | after, clipped tinted |
    zoom before | zoom after on the largest hot-spot), or None for no sheet. modules: the
    in-process cores to reuse (built when None). mattes: {file name: Matte} already cut
    out (``lumograph eval`` hands over the lightbox graph's own), so those photos are not
    segmented again. Returns ``{"folder", "n", "median_before",
    "median_after", "median_ms", "per_image": {name: {"clipped_share_before",
    "clipped_share_after", "hotspots", "softened_px", "piece_px", "min_area_px",
    "cutout_hw", "ms"}}, "skipped": {name: reason}}``. Raises
    FileNotFoundError when the folder holds no photo.
    """
    folder = Path(folder)
    images = _images(folder)[:limit] if folder.is_dir() else []
    if not images:
        raise FileNotFoundError(f"no *.jpg photos in {str(folder)!r}")
    mattes = mattes or {}
    if len(mattes) < len(images):
        modules = modules or LocalModules.build()
    per_image: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    rows = []
    for path in images:
        try:
            matte = mattes.get(path.name) or _segment(path, modules)
        except LumographError as err:
            skipped[path.name] = f"{type(err).__name__}: {err}"
            continue
        fg, alpha = matte.foreground, matte.alpha
        t0 = time.perf_counter()
        out, report = control_highlights(fg, alpha)
        ms = (time.perf_counter() - t0) * 1000.0
        per_image[path.name] = {**report, "cutout_hw": list(fg.shape[:2]), "ms": round(ms, 1)}
        if sheets_dir is not None:
            rows.append(_sheet_row(path.stem, fg, alpha, out, report))
    if sheets_dir is not None and rows:
        write_sheet(rows, Path(sheets_dir) / f"highlights_{folder.name}.png")
    values = list(per_image.values())
    return {
        "folder": folder.name,
        "n": len(values),
        "median_before": _median([v["clipped_share_before"] for v in values]),
        "median_after": _median([v["clipped_share_after"] for v in values]),
        "median_ms": round(float(np.median([v["ms"] for v in values])), 1) if values else None,
        "per_image": per_image,
        "skipped": skipped,
    }


def _segment(path: Path, modules: LocalModules):
    rgb = decode_image(path.read_bytes(), filename=path.name).rgb
    return modules.segmenter.segment_jewelry(rgb, resize_long_side(rgb, PROXY_LONG_SIDE).shape[:2])["matte"]


def _sheet_row(name: str, fg: np.ndarray, alpha: np.ndarray, out: np.ndarray, report: dict) -> list[np.ndarray]:
    before, after = report["clipped_share_before"], report["clipped_share_after"]
    row = [
        tile(fg, f"{name[:28]}\ninput crop"),
        tile(_tinted(fg, alpha), f"before: clipped {before:.2%}\n(magenta)"),
        tile(_on_white(out, alpha), f"after: {report['hotspots']} hot-spot(s)\n{report['softened_px']} px softened"),
        tile(_tinted(out, alpha), f"after: clipped {after:.2%}\n(sparkles, glints kept)"),
    ]
    zoom = _zoom_box(find_hotspots(fg, alpha), fg.shape[:2])
    if zoom is not None:
        row += [tile(_on_white(fg[zoom], alpha[zoom]), "zoom before"),
                tile(_on_white(out[zoom], alpha[zoom]), "zoom after")]
    return row


if __name__ == "__main__":  # python -m lumograph.bench.eval_highlights JSON SHEETS FOLDER...
    json_out, sheets, *folders = sys.argv[1:]
    shared = LocalModules.build()
    result = {Path(f).name: eval_highlights(Path(f), Path(sheets), modules=shared) for f in folders}
    Path(json_out).write_text(json.dumps(result, indent=1))
    print(json.dumps({k: {m: v[m] for m in ("n", "median_before", "median_after", "median_ms")}
                      for k, v in result.items()}, indent=1))
