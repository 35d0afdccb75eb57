"""The ``lumograph`` subcommands that live with the benchmarks: ``eval`` (quality on an
evaluation folder), ``bench`` (performance) and ``sample`` (synthetic photos to try the
API with). ``serve/cli.py`` finds them through the ``lumograph.commands`` entry point
group (pyproject), so ``serve`` never imports ``bench``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_eval(args: argparse.Namespace) -> int:
    from lumograph.bench.evaluate import run_eval

    result = run_eval(Path(args.data), json_out=Path(args.json), sheets_dir=Path(args.sheets) if args.sheets else None,
                      limit=args.limit, tasks=args.task or None)
    print(json.dumps(_without_per_image(result), indent=2))
    return 0


def _without_per_image(value):
    if isinstance(value, dict):
        return {k: _without_per_image(v) for k, v in value.items() if k not in ("per_image", "backends")}
    return value


def _cmd_bench(args: argparse.Namespace) -> int:
    chart = Path(args.chart) if args.chart else None
    photo = Path(args.photo) if args.photo else None
    if args.what == "models":
        from lumograph.bench.perf_models import run_bench_models

        only = [b.strip() for b in args.only.split(",") if b.strip()] if args.only else None
        try:
            result = run_bench_models(json_out=Path(args.json), size=args.size, only=only,
                                      repeats=args.repeats, chart=chart)
        except ValueError as err:
            print(json.dumps({"code": "invalid_options", "message": str(err)}), file=sys.stderr)
            return 2
        print(json.dumps(result, indent=2, default=str))
        return 0
    if args.what == "concurrency":
        from lumograph.bench.perf_concurrency import run_bench_concurrency

        result = run_bench_concurrency(json_out=Path(args.json), chart=chart)
        print(json.dumps({k: v for k, v in result.items() if k != "variants"}, indent=2))
        return 0
    if args.what == "jobs":
        from lumograph.bench.perf_jobs import run

        result = run(Path(args.json), chart, n_photos=args.photos)
        print(json.dumps({k: v for k, v in result.items() if k != "items"}, indent=2))
        return 0
    if args.what == "load":
        from lumograph.bench.perf_load import run_bench_load

        result = run_bench_load(json_out=Path(args.json), chart=chart, soak_s=args.soak_s, level_s=args.level_s)
        print(json.dumps({k: v for k, v in result.items() if k != "soak"}, indent=2))
        return 0
    if args.what == "jewelry":
        from lumograph.bench.perf_jewelry import run_bench_jewelry

        result = run_bench_jewelry(json_out=Path(args.json), repeats=args.repeats or 5,
                                   chart=chart, photo=photo)
    else:
        from lumograph.bench.perf_listing import run_bench_listing

        result = run_bench_listing(json_out=Path(args.json), repeats=args.repeats or 3, chart=chart,
                                   photo=photo, bundle_dir=Path(args.bundle_dir) if args.bundle_dir else None,
                                   bundle_size=args.bundle_size)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    return 0


def _cmd_sample(args: argparse.Namespace) -> int:
    import numpy as np

    from lumograph.bench.synthetic import ring_photo
    from lumograph.bench.synthetic_listing import exterior_photo, room_photo
    from lumograph.models.common.colour import linear_to_srgb, srgb_to_linear
    from lumograph.models.common.imageio import encode_image

    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    ring = ring_photo(3000, 2250, with_chain=False).rgb
    room = room_photo(3000, 2250).rgb
    photos = {"ring.jpg": ring, "kitchen.jpg": room, "front.jpg": exterior_photo(3000, 2250).rgb}
    lin = srgb_to_linear(room)
    for name, ev in (("dark.jpg", -2.0), ("mid.jpg", 0.0), ("bright.jpg", 1.0)):
        photos[name] = linear_to_srgb(lin * np.float32(2.0 ** ev))
    for name, rgb in photos.items():
        (out / name).write_bytes(encode_image(rgb, "jpeg", quality=92))
    print(json.dumps({"dir": str(out), "files": sorted(photos),
                      "what": "synthetic photos made by lumograph.bench (a ring on grey paper, a room with "
                              "a bright window, an exterior under a grey sky, and a 3-frame bracket set "
                              "of the room); no real photo is shipped"}, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``eval``, ``bench`` and ``sample`` to the ``lumograph`` command's subparsers."""
    e = sub.add_parser("eval", help="quality evaluation over an eval folder (layout of shared/eval)")
    e.add_argument("--data", required=True, help="the evaluation folder (its README's layout)")
    e.add_argument("--json", required=True)
    e.add_argument("--sheets", default=None, help="folder for PNG contact sheets")
    e.add_argument("--limit", type=int, default=None, help="at most this many photos per task")
    e.add_argument("--task", action="append", default=[],
                   help="run only this task (repeatable); default: every task found in --data")
    e.set_defaults(func=_cmd_eval)

    b = sub.add_parser("bench", help="performance benchmark")
    b.add_argument("what", choices=["jewelry", "listing", "models", "concurrency", "jobs", "load"],
                   help="jewelry/listing: 12 MP floor vs in-process vs HTTP; models: learned backends; "
                        "concurrency: replica thread pool vs event loop; jobs: N photos through the job "
                        "API, the synchronous route and the bulk command; load: open-loop load at 0.5-4x of "
                        "the measured capacity on the jewelry and listing routes, then a memory soak")
    b.add_argument("--json", required=True)
    b.add_argument("--chart", default=None, help="PNG chart path (default: next to the JSON)")
    b.add_argument("--repeats", type=int, default=None, help="default: 5 (jewelry), 3 (listing)")
    b.add_argument("--photo", default=None,
                   help="a real photo to upscale to 12 MP (default: a synthetic ring / room)")
    b.add_argument("--bundle-dir", default=None,
                   help="listing: folder of photos for the bundle (default: synthetic photos)")
    b.add_argument("--bundle-size", type=int, default=25)
    b.add_argument("--photos", type=int, default=200,
                   help="jobs: photos (synthetic rings, 2-4 MP) through each path (default 200)")
    b.add_argument("--size", choices=["tiny", "real"], default="real",
                   help="models: random-weight model size (default real: production shapes)")
    b.add_argument("--soak-s", type=float, default=600.0, help="load: soak duration in seconds (default 600)")
    b.add_argument("--level-s", type=float, default=30.0, help="load: seconds per offered-load level (default 30)")
    b.add_argument("--only", default=None,
                   help="models: comma-separated backends among clip,sam,yolo,inpaint (default all)")
    b.set_defaults(func=_cmd_bench)

    sm = sub.add_parser("sample", help="write synthetic photos to try the API with (ring, rooms, a bracket set)")
    sm.add_argument("dir", help="folder to write them to (created)")
    sm.set_defaults(func=_cmd_sample)
