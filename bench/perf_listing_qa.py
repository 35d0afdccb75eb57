"""The listing QA stage on real photos: the checks one after another against
``QACore.check_listing`` (the people scan in a thread beside the others), interleaved
photo by photo so both see the same machine load.

Each photo of the folder is reduced to the graph's proxy (1024 px) and checked as the
graph checks an edit that changed nothing visible (before = after): the structure,
clipping, crushed-black, halo and colour checks, branding (PP-OCRv4) and people (the
shipped face detector, ``mls.people_detector()``). ``serial`` calls them in order;
``side_by_side`` is the product path. Per photo the order of the two alternates. Reported:
medians per path, the ratio of medians, the medians of the people scan and of the rest
alone, and of the other face detector's people scan (``people_<detector>_alone``: BlazeFace
against the LBP cascade, timed in the same run).

Run: ``python -m lumograph.bench.perf_listing_qa --data ../shared/eval/listing_photos
--json out/perf_listing_qa.json`` (about a minute and a half on two cores).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from lumograph.graphs.jewelry import PROXY_LONG_SIDE
from lumograph.models.common.imageio import decode_image, resize_long_side
from lumograph.models.qa import mls
from lumograph.models.qa.core import QACore
from lumograph.models.qa.listing import check_listing
from lumograph.models.qa.text import load_text_detector


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(folder: Path, photos: int = 24, repeats: int = 2) -> dict:
    detector = load_text_detector()
    core = QACore(text_detector=detector)
    paths = sorted(Path(folder).glob("*.jpg"))[:photos]
    if not paths:
        raise SystemExit(f"no .jpg photos in {folder}")
    proxies = [resize_long_side(decode_image(p.read_bytes(), filename=p.name).rgb, PROXY_LONG_SIDE) for p in paths]

    def serial(rgb):
        check_listing(rgb, rgb, [], None)
        mls.check_branding(rgb, detector)
        mls.check_people(rgb)

    def beside(rgb):
        core.check_listing(rgb, rgb, [])

    # Warm up: the models are loaded and the thread started before anything is timed.
    serial(proxies[0])
    beside(proxies[0])
    other = "cascade" if mls.people_detector() == "blazeface" else "blazeface"
    other_key = f"people_{other}_alone"
    times: dict[str, list[float]] = {"serial": [], "side_by_side": [], "people_alone": [], "rest_alone": [],
                                     other_key: []}
    for r in range(repeats):
        for i, rgb in enumerate(proxies):
            order = (serial, beside) if (i + r) % 2 == 0 else (beside, serial)
            for fn in order:
                times["serial" if fn is serial else "side_by_side"].append(_seconds(lambda: fn(rgb)))
            times["people_alone"].append(_seconds(lambda: mls.check_people(rgb)))
            times[other_key].append(_seconds(lambda: mls.find_people(rgb, detector=other)))
            times["rest_alone"].append(_seconds(lambda: (check_listing(rgb, rgb, [], None),
                                                         mls.check_branding(rgb, detector))))
    med = {k: round(float(np.median(v)), 4) for k, v in times.items()}
    return {
        "photos": len(proxies), "repeats": repeats, "proxy_long_side": PROXY_LONG_SIDE, "source": str(folder),
        "cores": os.cpu_count(), "machine": platform.platform(), "people_detector": mls.people_detector(),
        "median_s": med, "side_by_side_over_serial": round(med["side_by_side"] / med["serial"], 3),
        "runs": {k: [round(x, 4) for x in v] for k, v in times.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a folder of listing photos")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    result = run(args.data, args.photos, args.repeats)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
