"""A contact sheet of a whole job: every item's output as a thumbnail, labelled with its
number, state and verdict, under a header with the job's consistency numbers, as PNG."""
from __future__ import annotations

import json

import cv2
import numpy as np

from lumograph.jobs.retry import failing_checks
from lumograph.jobs.storage import Storage
from lumograph.jobs.store import JobStore

THUMB = 220
COLUMNS = 8
LABEL = 22
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_COLOURS = {"pass": (40, 140, 40), "review": (0, 140, 230), "fail": (30, 30, 200)}


def _tile(row) -> np.ndarray:
    tile = np.full((THUMB + LABEL, THUMB, 3), 235, np.uint8)
    if row.output_uri:
        img = cv2.imdecode(np.frombuffer(Storage.read(row.output_uri), np.uint8), cv2.IMREAD_REDUCED_COLOR_4)
        if img is not None:
            h, w = img.shape[:2]
            scale = THUMB / max(h, w)
            img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
            y, x = (THUMB - img.shape[0]) // 2, (THUMB - img.shape[1]) // 2
            tile[y:y + img.shape[0], x:x + img.shape[1]] = img
    else:
        cv2.putText(tile, row.state, (10, THUMB // 2 - 12), _FONT, 0.6, (60, 60, 60), 1, cv2.LINE_AA)
        cv2.putText(tile, _why(row)[:30], (10, THUMB // 2 + 12), _FONT, 0.42, (30, 30, 200), 1, cv2.LINE_AA)
    label = f"{row.n} {row.verdict or row.state}"
    cv2.putText(tile, label, (4, THUMB + 16), _FONT, 0.5, _COLOURS.get(row.verdict, (60, 60, 60)), 1, cv2.LINE_AA)
    return tile


def _why(row) -> str:
    """What stopped an item: its error code, or the first check it failed."""
    if row.error:
        return str(row.error.get("code", "error"))
    if row.report_uri:
        report = json.loads(Storage.read(row.report_uri)).get("report", {})
        failed = failing_checks(report)
        if failed:
            return failed[0]["name"]
    return ""


def _header(lines: list[str], width: int) -> np.ndarray:
    head = np.full((24 * len(lines) + 8, width, 3), 255, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(head, line, (8, 20 + 24 * i), _FONT, 0.55, (20, 20, 20), 1, cv2.LINE_AA)
    return head


def consistency_lines(consistency: dict | None) -> list[str]:
    if not consistency:
        return ["consistency: not measured yet"]

    def std(key: str) -> str:
        stats = consistency.get(key)
        return f"{stats['std']:.4f}" if stats else "-"

    lines = [(f"lock: {consistency.get('lock') or 'off'}   canvas sides: {consistency.get('canvas_sides')}   "
              f"delivered: {consistency.get('n_delivered')}"),
             (f"std fill {std('fill_ratio')}   shadow {std('shadow_strength')}   background "
              f"{std('background_tone')}   light az {consistency.get('light_azimuth_spread_deg')} deg   "
              f"white point {consistency.get('white_point_spread_deg')} deg")]
    for metal, tone in (consistency.get("metal_tone") or {}).items():
        lines.append(f"metal {metal}: n {tone['n']}  a* std {tone['a_std']}  b* std {tone['b_std']}")
    return lines


def job_sheet(store: JobStore, job_id: str) -> bytes:
    job = store.job_row(job_id)
    rows = store.item_rows(job_id)
    tiles = [_tile(r) for r in rows] or [np.full((THUMB + LABEL, THUMB, 3), 235, np.uint8)]
    while len(tiles) % COLUMNS and len(tiles) > COLUMNS:
        tiles.append(np.full_like(tiles[0], 255))
    per_row = min(COLUMNS, len(tiles))
    grid = np.vstack([np.hstack(tiles[i:i + per_row]) for i in range(0, len(tiles), per_row)])
    summary = (job.summary or {}).get("consistency")
    head = _header([f"job {job_id}  {job.vertical}  {job.state}  {len(rows)} items"]
                   + consistency_lines(summary), grid.shape[1])
    ok, png = cv2.imencode(".png", np.vstack([head, grid]))
    assert ok
    return png.tobytes()
