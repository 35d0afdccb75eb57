"""The mirror clean-up's detectors on real mirrors: how often each would wrongly inpaint a
clean mirror, and how often it finds and covers a person reflected in one.

Mirrors: every interior (not ``*_frontal``) of a ``listing_photos`` folder in which the
classifier finds a mirror (``scene.detect_mirror`` on the 1024 px proxy, as the listing
graph's classifier step does); the clean-up runs on the photo at ``WORK_LONG_SIDE`` px
(the graph gives it the full photo; faces are searched on a reduced crop either way).
Looked at one by one (``bench/labels/listing_photos_compliance.tsv``, column ``people``)
no photo shows a person or a photographer in a mirror, so every clean-up applied to a
real photo is a wrong one (``wrong_cleanups``).

Positives: a person pasted into each mirror box (at a seeded random place, the face in
the mirror's upper half, the torso cut by the mirror's edge; the people check's stand-ins shipped inside
installed wheels: the astronaut's head and shoulders, then ``PEOPLE_PHOTOS`` cycling:
a portrait, a photographer at his camera, two men photographed in passing), the face
``FACE_SHARES`` of the mirror's width wide (a photographer a metre or two from a vanity
mirror). ``found``: the clean-up applied and its face box matches the pasted face
(intersection over union >= ``fit_listing_people.FOUND_IOU``); ``covered``: found, and
the inpainted head-and-torso box holds the whole pasted face (what a viewer would
otherwise still see). Pasted people are a stand-in: they measure what each detector
finds in a mirror's surroundings, not how often listings show a photographer.

Detectors: ``cascade`` (OpenCV's LBP cascade, scikit-image's wheel; clean-up from
``mirror.PERSON_CONFIDENCE_MIN``) and ``blazeface`` (the people check's fitted scan and
bar), both as ``mirror.mirror_cleanup(..., detector=...)`` runs them. Nothing is fitted
here: both use constants chosen elsewhere, so the figures are held-out as they stand.

    python -m lumograph.bench.eval_mirror_cleanup --data ../shared/eval/listing_photos --json OUT.json
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np

from lumograph.bench import fit_listing_people as people
from lumograph.bench.fit_output import emit_fit
from lumograph.bench.sheets import tile, write_sheet
from lumograph.models.classifier.scene import detect_mirror
from lumograph.models.common import blazeface
from lumograph.models.common.imageio import decode_image, resize_long_side
from lumograph.models.inpainter.mirror import mirror_box_pixels, mirror_cleanup

PROXY_LONG_SIDE = 1024
WORK_LONG_SIDE = 2048
FACE_SHARES = (0.12, 0.2)
SEED = 21
SHEET_TILE_H = 200


def mirrors(folder: Path) -> list[tuple[str, np.ndarray, dict]]:
    """(name, photo at ``WORK_LONG_SIDE``, the classifier's mirror dict) for every interior
    with a mirror."""
    out = []
    for path in sorted(Path(folder).glob("*.jpg")):
        if path.stem.endswith("_frontal"):
            continue
        rgb = resize_long_side(decode_image(path.read_bytes()).rgb, WORK_LONG_SIDE)
        proxy = resize_long_side(rgb, PROXY_LONG_SIDE)
        found = detect_mirror(proxy)
        if found.present and found.bbox is not None:
            h, w = proxy.shape[:2]
            x0, y0, x1, y1 = found.bbox
            out.append((path.stem, rgb, {"present": True, "confidence": found.confidence,
                                         "bbox_norm": [x0 / w, y0 / h, x1 / w, y1 / h]}))
    return out


def _pasted(rgb: np.ndarray, mirror: dict, patch, share: float, rng) -> tuple[np.ndarray, tuple]:
    """A copy of ``rgb`` with ``patch`` (image, alpha, face box) pasted inside the mirror, its
    face ``share`` of the mirror's width wide, its top in the upper half of the mirror, the
    torso cut where the mirror ends (a vanity mirror shows a photographer from the chest
    up); returns the copy and the face box in fractions of the photo."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = mirror_box_pixels(mirror, (h, w))
    image, alpha, face = patch
    s = share * (x1 - x0) / (face[2] - face[0])
    ph, pw = max(4, round(image.shape[0] * s)), max(4, round(image.shape[1] * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    p = cv2.resize(image, (pw, ph), interpolation=interp).astype(np.float32)
    a = cv2.resize(alpha, (pw, ph), interpolation=cv2.INTER_LINEAR)[..., None]
    fx0, fy0, fx1, fy1 = (v * s for v in face)
    # Face inside the mirror, left to right at random; its top in the upper half.
    left = int(rng.integers(int(x0 - fx0 + 0.05 * (x1 - x0)), max(int(x0 - fx0 + 0.05 * (x1 - x0)) + 1,
                                                                  int(x1 - fx1 - 0.05 * (x1 - x0)))))
    top = int(rng.integers(int(y0 - fy0 + 0.05 * (y1 - y0)), max(int(y0 - fy0 + 0.05 * (y1 - y0)) + 1,
                                                                 int(y0 - fy0 + 0.5 * (y1 - y0)))))
    # What of the patch falls inside the mirror.
    cx0, cy0 = max(x0, left), max(y0, top)
    cx1, cy1 = min(x1, left + pw), min(y1, top + ph)
    out = rgb.copy()
    region = out[cy0:cy1, cx0:cx1].astype(np.float32)
    pp = p[cy0 - top:cy1 - top, cx0 - left:cx1 - left]
    aa = a[cy0 - top:cy1 - top, cx0 - left:cx1 - left]
    out[cy0:cy1, cx0:cx1] = np.clip(region * (1 - aa) + pp * aa + 0.5, 0, 255).astype(np.uint8)
    return out, ((left + fx0) / w, (top + fy0) / h, (left + fx1) / w, (top + fy1) / h)


def _holds(outer, inner) -> bool:
    return outer[0] <= inner[0] + 1e-3 and outer[1] <= inner[1] + 1e-3 and \
        outer[2] >= inner[2] - 1e-3 and outer[3] >= inner[3] - 1e-3


def _crop_tile(img: np.ndarray, mirror: dict, label: str) -> np.ndarray:
    h, w = img.shape[:2]
    x0, y0, x1, y1 = mirror_box_pixels(mirror, (h, w))
    return tile(img[y0:y1, x0:x1], label, SHEET_TILE_H)


def eval_mirror_cleanup(folder: Path, sheet: Path | None = None) -> dict:
    found_mirrors = mirrors(folder)
    rng = np.random.default_rng(SEED)
    patches = [people.astronaut_patch()] + people.people_patches()
    cases = []  # (name, image, mirror, pasted face or None, set name)
    for i, (name, rgb, mirror) in enumerate(found_mirrors):
        cases.append((name, rgb, mirror, None, "real"))
        for share in FACE_SHARES:
            img, face = _pasted(rgb, mirror, patches[i % len(patches)], share, rng)
            cases.append((name, img, mirror, face, f"pasted_{share:g}"))
    detectors = ["cascade"] + (["blazeface"] if blazeface.available() else [])
    shown: dict[int, list] = {}
    result: dict = {"n_photos_with_mirror": len(found_mirrors), "mirrors": [n for n, _, _ in found_mirrors],
                    "work_long_side": WORK_LONG_SIDE, "face_shares_of_mirror_width": list(FACE_SHARES),
                    "detectors": {}}
    for detector in detectors:
        tallies: dict[str, dict] = {}
        seconds = []
        for k, (name, img, mirror, face, set_name) in enumerate(cases):
            t0 = time.perf_counter()
            out = mirror_cleanup(img, mirror, detector=detector)
            seconds.append(time.perf_counter() - t0)
            rep = out["report"]
            if sheet is not None and face is not None:
                row = shown.setdefault(k, [_crop_tile(img, mirror, f"{name} {set_name}")])
                row.append(_crop_tile(out["rgb"], mirror, f"{detector}: {'cleaned' if out['applied'] else 'left'}"))
            t = tallies.setdefault(set_name, {"n": 0, "applied": 0, "found": 0, "covered": 0, "wrong": []})
            t["n"] += 1
            t["applied"] += int(out["applied"])
            if face is None:
                if out["applied"]:
                    t["wrong"].append(name)
                continue
            hit = out["applied"] and people.box_iou(rep["face_box_norm"], face) >= people.FOUND_IOU
            t["found"] += int(hit)
            t["covered"] += int(hit and _holds(rep["person_box_norm"], face))
        real = tallies.get("real", {"n": 0, "applied": 0, "wrong": []})
        pasted = [t for k, t in tallies.items() if k != "real"]
        n_pasted = sum(t["n"] for t in pasted)
        result["detectors"][detector] = {
            "wrong_cleanups": real["applied"], "wrong_cleanup_photos": real["wrong"],
            "wrong_cleanup_rate": round(real["applied"] / real["n"], 3) if real["n"] else None,
            "found": sum(t["found"] for t in pasted), "covered": sum(t["covered"] for t in pasted),
            "pasted": n_pasted,
            "found_rate": round(sum(t["found"] for t in pasted) / n_pasted, 3) if n_pasted else None,
            "covered_rate": round(sum(t["covered"] for t in pasted) / n_pasted, 3) if n_pasted else None,
            "per_set": {k: {kk: vv for kk, vv in t.items() if kk != "wrong"} for k, t in tallies.items()},
            "median_seconds": round(float(np.median(seconds)), 3) if seconds else None,
        }
    if sheet is not None and shown:
        rows = list(shown.values())
        write_sheet([rows[i] + rows[i + 1] if i + 1 < len(rows) else rows[i] for i in range(0, len(rows), 2)], sheet)
    return result


def main(argv: list[str] | None = None) -> int:
    default = Path(os.environ.get("LUMOGRAPH_EVAL_DIR", "../shared/eval")) / "listing_photos"
    parser = argparse.ArgumentParser(description="the mirror clean-up's detectors on the eval's real mirrors")
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--sheet", type=Path, help="PNG: each pasted mirror, then each detector's output")
    args = parser.parse_args(argv)
    result = eval_mirror_cleanup(args.data, args.sheet)
    emit_fit(result, args.json, drop=("mirrors",))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
