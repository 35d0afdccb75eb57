"""Contact sheets (rows of labelled tiles written as PNG, for looking at outputs) and the
one way a benchmark writes its JSON and chart."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

TILE_H = 300


def tile(img: np.ndarray, label: str = "", height: int = TILE_H) -> np.ndarray:
    """Fit an RGB uint8 image, a float [0,1] mask or an RGBA image into a labelled tile.

    Returns HxWx3 uint8 RGB of the given height. RGBA is shown over a checkerboard so
    transparency is visible.
    """
    if img.ndim == 2:
        img = np.repeat((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)[:, :, None], 3, axis=2)
    elif img.shape[2] == 4:
        a = img[:, :, 3:4].astype(np.float32) / 255.0
        yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]]
        checker = np.where(((yy // 16 + xx // 16) % 2)[:, :, None] == 0, 200, 150).astype(np.float32)
        img = (img[:, :, :3] * a + checker * (1 - a)).astype(np.uint8)
    h, w = img.shape[:2]
    width = max(1, round(w * height / h))
    out = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR)
    out = np.ascontiguousarray(out)
    if label:
        for line_no, line in enumerate(label.split("\n")[:3]):
            y = 18 + 18 * line_no
            cv2.putText(out, line, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, line, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
    return out


def write_sheet(rows: list[list[np.ndarray]], path: Path, *, gap: int = 6) -> Path:
    """Stack rows of tiles (each row's tiles side by side) into one PNG at ``path``."""
    if not rows:
        return path
    row_imgs = [np.concatenate(_pad_row(r, gap), axis=1) for r in rows]
    width = max(r.shape[1] for r in row_imgs)
    padded = [np.pad(r, ((0, gap), (0, width - r.shape[1]), (0, 0)), constant_values=40) for r in row_imgs]
    sheet = np.concatenate(padded, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    return path


def _pad_row(tiles: list[np.ndarray], gap: int) -> list[np.ndarray]:
    out = []
    for t in tiles:
        out.append(t)
        out.append(np.full((t.shape[0], gap, 3), 40, np.uint8))
    return out[:-1]


def save_result(result: dict, json_out: Path, chart: Path | None,
                draw: Callable[[dict, Path], Path]) -> dict:
    """Write a benchmark's ``result`` as JSON to ``json_out`` and its chart with ``draw``
    (to ``chart``, default: the JSON's name with ``.png``); returns ``result``."""
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2, default=float))
    draw(result, chart or json_out.with_suffix(".png"))
    return result
