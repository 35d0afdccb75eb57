"""Bracket merging and single-frame window pull on the real exposure sets in shared/eval.

``hdr_brackets/`` holds one folder per bracket set (``house/``: an interior looking out
of a bright window, 4 frames; ``memorial/``: 16 frames 32 s to 1/1024 s, listed in
``exposure_times.csv``). Every set is merged (a long sequence is subsampled to
``MAX_FRAMES`` frames spread evenly over its exposure range) and scored on how much of
the picture is blown or crushed before (the middle frame) and after. The house set's
middle frame also goes through the single-exposure path (detect + pull), to compare
what one frame can give with what the real brackets give.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

import cv2
import numpy as np

from lumograph.bench.sheets import tile, write_sheet
from lumograph.models.common.imageio import resize_long_side
from lumograph.models.grader.brackets import clipped_share, dark_share, merge_brackets
from lumograph.models.grader.window_pull import pull_windows
from lumograph.models.window_detector.classical import detect_windows

#: Frames merged per set at most; longer sequences are subsampled over their range.
MAX_FRAMES = 5
#: The product's default window-pull threshold (``EnhanceOptions.window_threshold_stops``).
WINDOW_THRESHOLD_STOPS = 2.5
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


def _read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _exposure_order(folder: Path, files: list[Path]) -> list[Path]:
    """Frames sorted longest exposure first when ``exposure_times.csv`` says, else by name."""
    times_csv = folder / "exposure_times.csv"
    if not times_csv.is_file():
        return sorted(files)
    with times_csv.open() as fh:
        times = {row["file"]: float(row["exposure_s"]) for row in csv.DictReader(fh)}
    known = [f for f in files if f.name in times]
    return sorted(known, key=lambda f: -times[f.name]) + sorted(f for f in files if f.name not in times)


def _subsample(files: list[Path], n: int) -> list[Path]:
    if len(files) <= n:
        return files
    picks = np.unique(np.round(np.linspace(0, len(files) - 1, n)).astype(int))
    return [files[i] for i in picks]


def eval_hdr_brackets(folder: Path, sheets: Path | None) -> dict:
    """Merge every bracket set under ``folder`` and score it; pull the house's windows.

    folder: ``shared/eval/hdr_brackets`` (one subfolder per set, frames .jpg/.png).
    sheets: a folder for ``hdr_brackets.png`` (rows: each frame | merged; then the
    house's middle frame before | after a single-frame window pull), or None.

    Returns ``{"n": sets merged, "sets": {name: {"frames", "frames_available",
    "files", "clipped_share_middle", "clipped_share_merged", "dark_share_middle",
    "dark_share_merged", "merge_s", "shifts"}}, "single_frame_pull": {"frame",
    "windows", "max_stops", "applied", "threshold_stops", "pull_s", "report"}}``.
    Shares are 0-1 (clipped: some channel >= 250; dark: luma <= 8).
    """
    folder = Path(folder)
    sets: dict[str, dict] = {}
    rows: list[list[np.ndarray]] = []
    single: dict = {}
    for set_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = [p for p in set_dir.iterdir() if p.suffix.lower() in FRAME_SUFFIXES]
        if len(files) < 2:
            continue
        chosen = _subsample(_exposure_order(set_dir, files), MAX_FRAMES)
        frames = [_read_rgb(p) for p in chosen]
        t0 = time.perf_counter()
        merged = merge_brackets(frames)
        merge_s = time.perf_counter() - t0
        report = merged["report"]
        middle = frames[report["reference"]]
        sets[set_dir.name] = {
            "frames": len(frames),
            "frames_available": len(files),
            "files": [p.name for p in chosen],
            "clipped_share_middle": round(clipped_share(middle), 4),
            "clipped_share_merged": round(clipped_share(merged["rgb"]), 4),
            "dark_share_middle": round(dark_share(middle), 4),
            "dark_share_merged": round(dark_share(merged["rgb"]), 4),
            "merge_s": round(merge_s, 3),
            "shifts": report["shifts"],
        }
        if sheets is not None:
            rows.append(_frame_columns([tile(f, p.name, 160) for f, p in zip(frames, chosen)])
                        + [tile(merged["rgb"], f"{set_dir.name}: merged\nclipped "
                                f"{sets[set_dir.name]['clipped_share_middle']:.1%} -> "
                                f"{sets[set_dir.name]['clipped_share_merged']:.1%}", 320)])
        if set_dir.name == "house":
            single, pull_row = _single_frame_pull(middle, chosen[report["reference"]].name)
            if sheets is not None:
                rows.append(pull_row)
    if sheets is not None and rows:
        write_sheet(rows, Path(sheets) / "hdr_brackets.png")
    result = {"n": len(sets), "sets": sets}
    if single:
        result["single_frame_pull"] = single
    return result


def _frame_columns(tiles: list[np.ndarray]) -> list[np.ndarray]:
    """Small frame tiles stacked two to a column, so a row of them is one big tile high."""
    columns = []
    for i in range(0, len(tiles), 2):
        pair = tiles[i:i + 2]
        width = max(t.shape[1] for t in pair)
        padded = [np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0)), constant_values=40) for t in pair]
        if len(padded) == 1:
            padded.append(np.full_like(padded[0], 40))
        columns.append(np.concatenate(padded, axis=0))
    return columns


def _single_frame_pull(frame: np.ndarray, name: str) -> tuple[dict, list[np.ndarray]]:
    """Detect and pull the windows of one exposure, as if no brackets had been shot."""
    t0 = time.perf_counter()
    detected = detect_windows(resize_long_side(frame, 1024), frame.shape[:2])
    pulled = pull_windows(frame, detected["windows"], WINDOW_THRESHOLD_STOPS)
    pull_s = time.perf_counter() - t0
    if not pulled["applied"] and detected["windows"]:
        # Below the product threshold: still show what a pull would do at 0 stops.
        shown = pull_windows(frame, detected["windows"], 0.0)["rgb"]
        after_label = f"after pull (forced: below {WINDOW_THRESHOLD_STOPS} stops)"
    else:
        shown = pulled["rgb"]
        after_label = "after pull" if pulled["applied"] else "no window to pull"
    boxed = frame.copy()
    for window in detected["windows"]:
        x0, y0, x1, y1 = window["bbox"]
        cv2.rectangle(boxed, (x0, y0), (x1, y1), (0, 255, 0), max(2, frame.shape[1] // 300))
    stops = ", ".join(f"{w['stops_over_interior']:.1f}" for w in detected["windows"]) or "none"
    summary = {
        "frame": name,
        "windows": len(detected["windows"]),
        "max_stops": detected["max_stops"],
        "stops": [w["stops_over_interior"] for w in detected["windows"]],
        "clipped_shares": [w["clipped_share"] for w in detected["windows"]],
        "applied": bool(pulled["applied"]),
        "threshold_stops": WINDOW_THRESHOLD_STOPS,
        "pull_s": round(pull_s, 3),
        "report": pulled["report"],
    }
    row = [tile(boxed, f"house {name}, single frame\nstops (lower bound): {stops}", 320),
           tile(shown, after_label, 320)]
    return summary, row


def time_exposure_12mp(repeats: int = 3) -> dict:
    """Median wall times (s) at 4000x3000 of the exposure module's three functions.

    Synthetic inputs (no eval data): ``room_photo`` for detect (on its 1024 px proxy)
    and pull; a 4-frame bracket set made from it at -2/-1/0/+1 EV for the merge, timed
    with the reduced-size fusion (the default) and, once, with full-size Mertens for
    comparison (``merge_full_size_s``; ``full_vs_reduced_mean_abs_diff`` in 8-bit levels).
    """
    import lumograph.models.grader.brackets as brackets
    from lumograph.bench.synthetic_listing import room_photo
    from lumograph.models.common.colour import linear_to_srgb, srgb_to_linear

    room = room_photo(4000, 3000)
    proxy = resize_long_side(room.rgb, 1024)
    lin = srgb_to_linear(room.rgb)
    frames = [linear_to_srgb(lin * np.float32(2.0 ** ev)) for ev in (-2.0, -1.0, 0.0, 1.0)]

    def median_time(fn) -> tuple[float, object]:
        times, out = [], None
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        return float(np.median(times)), out

    detect_s, detected = median_time(lambda: detect_windows(proxy, room.rgb.shape[:2]))
    pull_s, pulled = median_time(lambda: pull_windows(room.rgb, detected["windows"], 2.5))
    merge_s, merged = median_time(lambda: merge_brackets(frames))
    saved = brackets.FUSE_LONG_SIDE
    try:
        brackets.FUSE_LONG_SIDE = 10**6
        t0 = time.perf_counter()
        full = merge_brackets(frames)
        full_s = time.perf_counter() - t0
    finally:
        brackets.FUSE_LONG_SIDE = saved
    diff = np.abs(full["rgb"].astype(np.int16) - merged["rgb"].astype(np.int16))
    return {
        "detect_windows_s": round(detect_s, 4),
        "pull_windows_s": round(pull_s, 3),
        "pull_windows_pulled": pulled["report"]["pulled"],
        "merge_brackets_4x12mp_s": round(merge_s, 3),
        "merge_timings_ms": merged["report"]["timings_ms"],
        "merge_full_size_s": round(full_s, 3),
        "full_vs_reduced_mean_abs_diff": round(float(diff.mean()), 2),
        "clipped_share_after": {"reduced": merged["report"]["clipped_share_after"],
                                "full": full["report"]["clipped_share_after"]},
        "repeats": repeats,
    }


def eval_window_pull(folder: Path, sheets: Path | None, threshold_stops: float = WINDOW_THRESHOLD_STOPS) -> dict:
    """Detect and pull windows on the interiors of ``listing_photos`` (exteriors skipped).

    folder: ``shared/eval/listing_photos`` (``houseN_LABEL.jpg``; ``frontal`` = exterior).
    sheets: a folder for ``window_pull_K.png`` (rows: detections with their stops |
    after the pull | the largest window before | after), or None.
    Returns ``{"n": interiors, "with_windows": photos with a window found, "pulled":
    photos where a window cleared ``threshold_stops``, "threshold_stops", "max_stops":
    {name: stops}, "detect_ms_median"}``.
    """
    rows, max_stops, detect_ms = [], {}, []
    with_windows = pulled_photos = n = 0
    for path in sorted(Path(folder).glob("*.jpg")):
        if "frontal" in path.stem:
            continue
        n += 1
        rgb = _read_rgb(path)
        proxy = resize_long_side(rgb, 1024)
        t0 = time.perf_counter()
        detected = detect_windows(proxy, rgb.shape[:2])
        detect_ms.append((time.perf_counter() - t0) * 1000)
        result = pull_windows(rgb, detected["windows"], threshold_stops)
        max_stops[path.stem] = detected["max_stops"]
        with_windows += bool(detected["windows"])
        pulled_photos += bool(result["applied"])
        if sheets is None or not detected["windows"]:
            continue
        boxed = rgb.copy()
        for window in detected["windows"]:
            x0, y0, x1, y1 = window["bbox"]
            cv2.rectangle(boxed, (x0, y0), (x1, y1), (0, 255, 0), 2)
            cv2.putText(boxed, f"{window['stops_over_interior']:.1f}", (x0 + 3, y0 + 20),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 0), 2, cv2.LINE_AA)
        x0, y0, x1, y1 = max(detected["windows"], key=lambda w: w["area_share"])["bbox"]
        crop = (slice(max(0, y0 - 20), y1 + 20), slice(max(0, x0 - 20), x1 + 20))
        rows.append([tile(boxed, f"{path.stem} max {detected['max_stops']:.1f} stops", 300),
                     tile(result["rgb"], "pulled" if result["applied"] else "below threshold: untouched", 300),
                     tile(rgb[crop], "window before", 300), tile(result["rgb"][crop], "after", 300)])
    if sheets is not None:
        for k in range(0, len(rows), 8):
            write_sheet(rows[k:k + 8], Path(sheets) / f"window_pull_{k // 8}.png")
    return {"n": n, "with_windows": with_windows, "pulled": pulled_photos,
            "threshold_stops": threshold_stops, "max_stops": max_stops,
            "detect_ms_median": round(float(np.median(detect_ms)), 2) if detect_ms else None}


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3].parent / "shared" / "eval"
                        / "hdr_brackets")
    parser.add_argument("--sheets", type=Path, default=None)
    parser.add_argument("--speed", action="store_true", help="time the module at 12 MP instead")
    parser.add_argument("--listing", type=Path, default=None,
                        help="detect and pull windows on this listing_photos folder instead")
    parser.add_argument("--threshold", type=float, default=WINDOW_THRESHOLD_STOPS)
    args = parser.parse_args()
    if args.speed:
        result = time_exposure_12mp()
    elif args.listing is not None:
        result = eval_window_pull(args.listing, args.sheets, args.threshold)
    else:
        result = eval_hdr_brackets(args.data, args.sheets)
    print(json.dumps(result, indent=1))
