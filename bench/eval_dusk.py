"""Day-to-dusk on the real listing exteriors: does it read as dusk?

For every ``*_frontal.jpg`` of a ``listing_photos`` folder, the listing graph's dusk path
as it runs on the laptop (the 1024 px proxy; the classifier's scene call; the sky matte
with ``scene="exterior"``; ``day_to_dusk`` with no given windows, since the graph asks the
window detector on an exterior only when it is a learned one, so the facade windows dusk
finds itself are the ones lit) and, per photo:

* ``windows_detected`` / ``windows_lit``: the windows dusk lit (its ``window_boxes``), and those whose glass is
  lit in the output (median luminance of the box's inner 60 % at least 1.5 x what the dusk
  tone alone, ``dusk.dusk_luts``, gives it, and warm: red over blue >= 1.15; a white blind
  is already bright in daylight, so the input itself is no reference). ``windows_lit_share`` = lit / detected; the sheet
  shows every box, so the windows the detector misses can be counted by eye.
* ``labelled_windows`` / ``labelled_windows_lit``: the windows and door glass labelled by
  eye (``bench/labels/listing_facade_windows.tsv``, not occluded), and those lit in the
  output by the same rule: what a photographer sees, whichever boxes the detector drew.
* ``labelled_lamps`` / ``labelled_lamps_lit``: the exterior light fixtures labelled by eye
  (``bench/labels/listing_facade_lamps.tsv``, not occluded) and those lit in the product's
  output by the windows' rule (the laptop path has no lamp detector: a fixture glows only
  when the facade-window finder took it for a window). ``labelled_lamps_lit_given`` and
  ``lamp_wash_gain``: the same dusk with the labelled boxes given as ``lamps`` (what a
  learned detector that finds every fixture hands it: a measure of the lamp renderer,
  not of a detector), lit fixtures by the same rule, and the median luminance gain of the
  wall around each fixture (the ring from 1 to 2 fixture sizes out) over the product's
  output.
* ``shadow_share`` and ``shadow_contrast_before`` / ``after``: the sun shadows found on
  the input (``dusk.shadow_mask``: at least ``SHADOW_MIN_STOPS`` under the lit
  surroundings and bluer than them) and their median depth in stops on the input and on
  the output, on the same pixels (a soft twilight source leaves shallow shadows);
  ``shadow_contrast_unsoftened``: the same on ``day_to_dusk(..., soften_shadows=False)``
  (the module before shadows were softened: its tone curve alone).
* ``sky_fraction``, ``halo`` (``day_to_dusk``'s report) and ``sky_top_blue`` /
  ``sky_horizon_warm``: blue over red in the top tenth of the sky, red over blue in its
  lowest tenth (a twilight gradient runs from deep blue to a warm horizon).
* ``foliage_orange``: the share of foliage-textured pixels next to the sky whose hue
  the dusk turned orange (hue 10-45 degrees, saturation > 0.35, not so before): trees
  against the sky must not be tinted by the horizon's glow. ``foliage_lift_stops``: the
  mean log2 luminance of the same pixels on the output over the unsoftened output (a
  crown against the sky is a silhouette: softening the shadows must not turn it pale).

Writes ``dusk.png`` (input with the detected windows in magenta, the labelled ones in
green, the labelled lamps in orange and the shadow outline | output | output with the
labelled lamps given, for a photo with lamps).

    python -m lumograph.bench.eval_dusk --json OUT.json [--sheet OUT.png] [--data FOLDER]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np

from lumograph.bench import fit_facade_windows
from lumograph.bench.fit_output import emit_fit
from lumograph.bench.sheets import tile, write_sheet
from lumograph.models.classifier.scene import classify_scene
from lumograph.models.common.colour import luminance
from lumograph.models.common.imageio import decode_image, resize_long_side
from lumograph.models.compositor.dusk import day_to_dusk, dusk_luts, shadow_contrast, shadow_mask
from lumograph.models.segmenter.sky_matte import segment_sky

PROXY_LONG_SIDE = 1024
TILE_H = 300
LIT_GAIN = 1.5
LIT_WARMTH = 1.15
LAMP_LABELS = Path(fit_facade_windows.__file__).with_name("labels") / "listing_facade_lamps.tsv"


def _box_stats(rgb: np.ndarray, box: list[int]) -> tuple[float, float]:
    """(median luminance, median red/blue) of the inner 60 % of ``box``."""
    x0, y0, x1, y1 = box
    mx, my = int(0.2 * (x1 - x0)), int(0.2 * (y1 - y0))
    crop = rgb[y0 + my:max(y0 + my + 1, y1 - my), x0 + mx:max(x0 + mx + 1, x1 - mx)].astype(np.float32) + 1.0
    lum = 0.2126 * crop[..., 0] + 0.7152 * crop[..., 1] + 0.0722 * crop[..., 2]
    return float(np.median(lum)), float(np.median(crop[..., 0] / crop[..., 2]))


def _orange(rgb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hue = hsv[..., 0] * 360.0 / 256.0
    return (hue >= 10) & (hue <= 45) & (hsv[..., 1] > 0.35 * 255)


def _foliage_next_to_sky(proxy: np.ndarray, sky: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(proxy, cv2.COLOR_RGB2GRAY).astype(np.float32)
    texture = cv2.blur(np.abs(cv2.Laplacian(gray, cv2.CV_32F)), (5, 5))
    near = cv2.dilate((sky >= 0.5).astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    return near & (sky < 0.5) & (texture > 12.0)


def _lit(toned: np.ndarray, after: np.ndarray, box: list[int]) -> bool:
    """Lit: the box is ``LIT_GAIN`` x brighter than the dusk tone alone leaves it, and warm."""
    lum_toned, _ = _box_stats(toned, box)
    lum_after, warmth = _box_stats(after, box)
    return lum_after >= LIT_GAIN * lum_toned and warmth >= LIT_WARMTH


def _luma(px: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of (N, 3) 8-bit RGB pixels, float32 (N,)."""
    return luminance(np.ascontiguousarray(px, np.float32).reshape(-1, 1, 3)).ravel()


def _ring_luminance(rgb: np.ndarray, box: list[int]) -> float:
    """Median luminance of the ring from 1 to 2 box sizes around ``box``."""
    x0, y0, x1, y1 = box
    size = max(x1 - x0, y1 - y0)
    h, w = rgb.shape[:2]
    outer = np.zeros((h, w), bool)
    outer[max(0, y0 - 2 * size):y1 + 2 * size, max(0, x0 - 2 * size):x1 + 2 * size] = True
    outer[max(0, y0 - size):y1 + size, max(0, x0 - size):x1 + size] = False
    px = rgb[outer]
    return float(np.median(_luma(px))) if px.size else 0.0


def _lamp_figures(rgb, sky, toned, out_proxy, lamps: list[dict]) -> tuple[dict, np.ndarray | None]:
    """The lamp figures of one photo (see the module docstring) and the dusk with the
    labelled fixtures given (proxy size), or None without any."""
    proxy_hw = toned.shape[:2]
    counted = [fit_facade_windows.box_px(lab["box"], proxy_hw) for lab in lamps if not lab["occluded"]]
    figures = {"labelled_lamps": len(counted),
               "labelled_lamps_lit": sum(int(_lit(toned, out_proxy, list(b))) for b in counted)}
    if not counted:
        return figures, None
    h, w = rgb.shape[:2]
    given = [{"bbox": list(fit_facade_windows.box_px(lab["box"], (h, w)))} for lab in lamps]
    lit = resize_long_side(day_to_dusk(rgb, sky, [], given)["rgb"], PROXY_LONG_SIDE)
    figures["labelled_lamps_lit_given"] = sum(int(_lit(toned, lit, list(b))) for b in counted)
    figures["lamp_wash_gain"] = [round(_ring_luminance(lit, list(b)) / max(1.0, _ring_luminance(out_proxy, list(b))), 3)
                                 for b in counted]
    return figures, lit


def eval_photo(path: Path, labels: list[dict] | None = None,
               lamps: list[dict] | None = None) -> tuple[dict, list]:
    rgb = decode_image(path.read_bytes()).rgb
    proxy = resize_long_side(rgb, PROXY_LONG_SIDE)
    scene = classify_scene(proxy)
    sky = segment_sky(proxy, scene="exterior")
    given: list[dict] = []
    t0 = time.perf_counter()
    out = day_to_dusk(rgb, sky["matte"], given)
    seconds = time.perf_counter() - t0
    out_proxy = resize_long_side(out["rgb"], PROXY_LONG_SIDE)
    s = proxy.shape[1] / rgb.shape[1]
    windows = [{"bbox": [int(round(v * s)) for v in box]} for box in out["report"]["window_boxes"]]
    toned = cv2.LUT(proxy, dusk_luts())
    lit = sum(int(_lit(toned, out_proxy, w["bbox"])) for w in windows)
    counted = [fit_facade_windows.box_px(lab["box"], proxy.shape[:2]) for lab in labels or []
               if lab["kind"] in fit_facade_windows.COUNTED_KINDS and not lab["occluded"]]
    mask, _ = shadow_mask(proxy, sky["matte"])
    unsoftened = resize_long_side(day_to_dusk(rgb, sky["matte"], given, soften_shadows=False)["rgb"],
                                  PROXY_LONG_SIDE)
    matte = sky["matte"]
    entry = {
        "scene": scene.scene, "seconds": round(seconds, 3),
        "windows_detected": len(windows), "windows_lit": lit,
        "windows_lit_share": round(lit / len(windows), 3) if windows else None,
        "labelled_windows": len(counted) if labels is not None else None,
        "labelled_windows_lit": (sum(int(_lit(toned, out_proxy, list(b))) for b in counted)
                                 if labels is not None else None),
        "shadow_share": round(float(mask.mean()), 4),
        "shadow_contrast_before": shadow_contrast(proxy, mask),
        "shadow_contrast_after": shadow_contrast(out_proxy, mask),
        "shadow_contrast_unsoftened": shadow_contrast(unsoftened, mask),
        "sky_fraction": out["report"]["sky_fraction"], "halo": out["report"]["halo"],
    }
    lamp_figures, with_lamps = _lamp_figures(rgb, matte, toned, out_proxy, lamps) if lamps is not None else ({}, None)
    entry.update(lamp_figures)
    rows = np.nonzero((matte >= 0.5).mean(axis=1) > 0.2)[0]
    if rows.size >= 10:
        band = max(1, rows.size // 10)
        top = out_proxy[rows[:band]][matte[rows[:band]] >= 0.5].astype(np.float32) + 1
        low = out_proxy[rows[-band:]][matte[rows[-band:]] >= 0.5].astype(np.float32) + 1
        entry["sky_top_blue"] = round(float(np.median(top[:, 2] / top[:, 0])), 3) if top.size else None
        entry["sky_horizon_warm"] = round(float(np.median(low[:, 0] / low[:, 2])), 3) if low.size else None
    foliage = _foliage_next_to_sky(proxy, matte)
    if foliage.sum() >= 200:
        turned = _orange(out_proxy) & ~_orange(proxy) & foliage
        entry["foliage_orange"] = round(float(turned.sum() / foliage.sum()), 4)
        lum_out, lum_plain = _luma(out_proxy[foliage]) + 1.0, _luma(unsoftened[foliage]) + 1.0
        entry["foliage_lift_stops"] = round(float(np.mean(np.log2(lum_out / lum_plain))), 4)
    drawn = proxy.copy()
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(drawn, contours, -1, (0, 255, 255), 1)
    for x0, y0, x1, y1 in counted:
        cv2.rectangle(drawn, (x0, y0), (x1, y1), (0, 255, 0), 1)
    for w in windows:
        x0, y0, x1, y1 = w["bbox"]
        cv2.rectangle(drawn, (x0, y0), (x1, y1), (255, 0, 255), 2)
    for lab in lamps or []:
        x0, y0, x1, y1 = fit_facade_windows.box_px(lab["box"], proxy.shape[:2])
        cv2.rectangle(drawn, (x0 - 2, y0 - 2), (x1 + 2, y1 + 2), (255, 140, 0), 2)
    labelled = f", labelled {entry['labelled_windows_lit']}/{len(counted)} lit" if labels is not None else ""
    label = (f"{path.stem} windows {lit}/{len(windows)} lit{labelled}, shadows "
             f"{entry['shadow_contrast_before']} -> {entry['shadow_contrast_after']} stops")
    shown = [tile(drawn, label, TILE_H), tile(out_proxy, "dusk", TILE_H)]
    if with_lamps is not None:
        shown.append(tile(with_lamps, f"dusk, {lamp_figures['labelled_lamps']} labelled lamps given", TILE_H))
    return entry, shown


def _share(values: list[dict]) -> float | None:
    total = sum(v["labelled_windows"] for v in values)
    return round(sum(v["labelled_windows_lit"] for v in values) / total, 3) if total else None


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.median(values)), 4) if values else None


def eval_dusk(folder: Path, sheet: Path | None = None) -> dict:
    per_image, rows = {}, []
    labels = fit_facade_windows.read_labels()
    lamp_labels = fit_facade_windows.read_labels(LAMP_LABELS)
    for path in sorted(Path(folder).glob("*_frontal.jpg")):
        entry, row = eval_photo(path, labels.get(path.stem), lamp_labels.get(path.stem))
        per_image[path.stem] = entry
        rows.append(row)
    values = list(per_image.values())
    detected = sum(v["windows_detected"] for v in values)
    with_shadow = [v for v in values if v["shadow_contrast_before"] is not None]
    if sheet is not None:
        paired = [rows[i] + (rows[i + 1] if i + 1 < len(rows) else []) for i in range(0, len(rows), 2)]
        write_sheet(paired, sheet)
    return {
        "n": len(values),
        "windows_detected": detected,
        "windows_lit": sum(v["windows_lit"] for v in values),
        "windows_lit_share": round(sum(v["windows_lit"] for v in values) / detected, 3) if detected else None,
        "photos_without_windows": sum(1 for v in values if not v["windows_detected"]),
        "labelled_windows": sum(v["labelled_windows"] or 0 for v in values),
        "labelled_windows_lit": sum(v["labelled_windows_lit"] or 0 for v in values),
        "labelled_windows_lit_share": _share([v for v in values if v["labelled_windows"] is not None]),
        "labelled_lamps": sum(v.get("labelled_lamps", 0) for v in values),
        "labelled_lamps_lit": sum(v.get("labelled_lamps_lit", 0) for v in values),
        "labelled_lamps_lit_given": sum(v.get("labelled_lamps_lit_given", 0) for v in values),
        "lamp_wash_gain_median": _median([g for v in values for g in v.get("lamp_wash_gain", [])]),
        "photos_with_shadows": len(with_shadow),
        "shadow_contrast_before_median": _median([v["shadow_contrast_before"] for v in with_shadow]),
        "shadow_contrast_after_median": _median([v["shadow_contrast_after"] for v in with_shadow]),
        "shadow_contrast_unsoftened_median": _median([v["shadow_contrast_unsoftened"] for v in with_shadow]),
        "sky_top_blue_median": _median([v.get("sky_top_blue") for v in values]),
        "sky_horizon_warm_median": _median([v.get("sky_horizon_warm") for v in values]),
        "foliage_orange_median": _median([v.get("foliage_orange") for v in values]),
        "foliage_orange_max": max((v["foliage_orange"] for v in values if "foliage_orange" in v), default=None),
        "foliage_lift_stops_median": _median([v.get("foliage_lift_stops") for v in values]),
        "foliage_lift_stops_max": max((v["foliage_lift_stops"] for v in values if "foliage_lift_stops" in v),
                                      default=None),
        "dusk_seconds_median": _median([v["seconds"] for v in values]),
        "per_image": per_image,
    }


def main(argv: list[str] | None = None) -> int:
    default = Path(os.environ.get("LUMOGRAPH_EVAL_DIR", "../shared/eval")) / "listing_photos"
    parser = argparse.ArgumentParser(description="day-to-dusk on the real listing exteriors")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--sheet", type=Path)
    parser.add_argument("--data", type=Path, default=default)
    args = parser.parse_args(argv)
    result = eval_dusk(args.data, args.sheet)
    emit_fit(result, args.json, drop=("per_image",))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
