"""Specular-removal quality on ``shared/eval/specular``: PSNR against the polarisation
ground truth, before and after ``remove_glare``.

Files are ``NAME.ext`` with ``NAME.gt.ext`` (``.png`` or ``.bmp``), read with OpenCV at
run time (never copied into the repository).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

from lumograph.bench.sheets import tile, write_sheet
from lumograph.models.inpainter.glare import find_hotspots, remove_glare

_EXTENSIONS = (".png", ".bmp")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two uint8 images of one shape (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def _pairs(folder: Path) -> list[tuple[str, Path, Path]]:
    pairs = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in _EXTENSIONS or p.stem.endswith(".gt"):
            continue
        gt = p.with_name(f"{p.stem}.gt{p.suffix}")
        if gt.exists():
            pairs.append((p.stem, p, gt))
    return pairs


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {str(path)!r}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def eval_specular(folder: Path, sheets: Path | None = None) -> dict:
    """PSNR(output, gt) vs PSNR(input, gt) for every pair in ``folder``.

    Returns ``{"n", "psnr_before" (mean dB), "psnr_after" (mean dB), "improved_all": bool
    (after > before on every image), "per_image": {name: {"psnr_before", "psnr_after",
    "share"}}}``; with ``sheets``, writes ``sheets/specular.png`` (rows: input | detected
    mask | output | ground truth). Raises FileNotFoundError when the folder has no pairs.
    """
    folder = Path(folder)
    pairs = _pairs(folder) if folder.is_dir() else []
    if not pairs:
        raise FileNotFoundError(f"no NAME.ext + NAME.gt.ext pairs in {str(folder)!r}")
    per_image: dict[str, dict] = {}
    rows = []
    for name, path, gt_path in pairs:
        rgb, gt = _read_rgb(path), _read_rgb(gt_path)
        result = remove_glare(rgb)
        before, after = psnr(rgb, gt), psnr(result["rgb"], gt)
        per_image[name] = {"psnr_before": round(before, 3), "psnr_after": round(after, 3),
                           "share": result["report"]["share"]}
        if sheets is not None:
            mask = find_hotspots(rgb)["mask"]
            rows.append([tile(rgb, f"{name} input\n{before:.2f} dB"),
                         tile(cv2.resize(mask, rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST),
                              f"mask {result['report']['share']:.2%}\n{result['report']['method']}"),
                         tile(result["rgb"], f"output\n{after:.2f} dB"),
                         tile(gt, "ground truth")])
    if sheets is not None:
        write_sheet(rows, Path(sheets) / "specular.png")
    return {
        "n": len(per_image),
        "psnr_before": round(float(np.mean([v["psnr_before"] for v in per_image.values()])), 3),
        "psnr_after": round(float(np.mean([v["psnr_after"] for v in per_image.values()])), 3),
        "improved_all": all(v["psnr_after"] > v["psnr_before"] for v in per_image.values()),
        "per_image": per_image,
    }


if __name__ == "__main__":  # python -m lumograph.bench.eval_specular FOLDER [SHEETS]
    args = sys.argv[1:]
    print(json.dumps(eval_specular(Path(args[0]), Path(args[1]) if len(args) > 1 else None), indent=1))
