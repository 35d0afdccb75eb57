"""The ``lumograph`` console script: serve, process (jewelry), enhance (listing), eval, bench,
plan check (will a Serve config fit the GPUs/CPUs) and weights check (is a weights folder complete)."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
import uuid
from pathlib import Path


def _cmd_serve(args: argparse.Namespace) -> int:
    from lumograph.serve import cluster
    from lumograph.serve.plan import PlanDoesNotFit

    config = cluster.load_serve_config(args.config, http_port=args.port)
    cluster.start_ray(
        num_cpus=args.num_cpus, num_gpus=args.num_gpus, object_store_mb=args.object_store_mb,
        dashboard=True, dashboard_port=args.dashboard_port,
    )
    try:
        cluster.deploy_config(config)
    except PlanDoesNotFit as err:
        # Ray would wait forever for resources this machine does not have.
        print(f"lumograph: refusing to deploy {args.config}: {err}", file=sys.stderr, flush=True)
        cluster.shutdown()
        return 2
    port = config.http_options.port
    print(f"lumograph: serving on http://127.0.0.1:{port} (jewelry: /jewelry/lightbox; listing: /listing/enhance, "
          f"/listing/bundle; /jewelry/healthz, /listing/healthz); "
          f"Ray dashboard on http://127.0.0.1:{args.dashboard_port}. Ctrl-C stops.", flush=True)
    stop = threading.Event()
    # Ray installs its own handlers; make Ctrl-C and SIGTERM end the foreground loop.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    print("lumograph: shutting down", flush=True)
    cluster.shutdown()
    return 0


def _cmd_process(args: argparse.Namespace) -> int:
    from lumograph.graphs.jewelry import run_lightbox
    from lumograph.graphs.local import LocalModules
    from lumograph.models.common.errors import LumographError
    from lumograph.models.common.imageio import decode_image
    from lumograph.serve.schemas import LightboxOptions, LightboxReport
    from lumograph.serve.uploads import parse_options

    fields = {k: v for k, v in {
        "marketplace": args.marketplace, "format": args.format, "shadow": args.shadow,
        "size": args.size, "fill_ratio": args.fill_ratio, "metal": args.metal,
        "transparent": args.transparent or None,
    }.items() if v is not None}
    try:
        options = parse_options(LightboxOptions, fields)
        data = Path(args.input).read_bytes()
        decoded = decode_image(data, filename=args.input)
        modules = LocalModules.build(backend=args.backend, weights_dir=args.weights_dir)
        outcome = asyncio.run(run_lightbox(
            decoded.rgb, options.model_dump(), modules.jewelry_steps(), request_id=uuid.uuid4().hex,
            input_info={"format": decoded.source_format, "mode": decoded.source_mode,
                        "bytes": len(data), "filename": args.input, "conversions": list(decoded.notes)},
        ))
    except LumographError as err:
        print(json.dumps({"code": err.code, "message": err.message}), file=sys.stderr)
        return 2
    report = LightboxReport.model_validate(outcome.report).model_dump(mode="json")
    _write_outputs(args, outcome.encoded, report)
    print(json.dumps({"verdict": report["verdict"], "score": report["score"],
                      "output": args.output if outcome.encoded else None, "timings_s": report["timings_s"]}))
    return 0 if report["verdict"] != "fail" else 3


def _write_outputs(args: argparse.Namespace, encoded: bytes | None, report: dict) -> None:
    """The delivered image to ``args.output`` (none on ``fail``), the report to ``args.report``."""
    if encoded is not None:
        Path(args.output).write_bytes(encoded)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2))


def _cmd_enhance(args: argparse.Namespace) -> int:
    from lumograph.graphs.listing import run_enhance
    from lumograph.graphs.local import LocalModules
    from lumograph.models.common.errors import LumographError
    from lumograph.models.common.imageio import decode_image
    from lumograph.serve.schemas import EnhanceOptions, ListingReport
    from lumograph.serve.uploads import parse_options

    fields = {k: v for k, v in {
        "tier": args.tier, "modules": args.modules, "room": args.room, "dusk": args.dusk or None,
        "sky_style": args.sky_style, "format": args.format,
    }.items() if v is not None}
    try:
        options = parse_options(EnhanceOptions, fields)
        frames = [decode_image(Path(f).read_bytes(), filename=f).rgb for f in args.inputs]
        modules = LocalModules.build(backend=args.backend, weights_dir=args.weights_dir)
        outcome = asyncio.run(run_enhance(frames, options.model_dump(), modules.listing_steps(),
                                          request_id=uuid.uuid4().hex,
                                          input_info={"filename": args.inputs[0]}))
    except LumographError as err:
        print(json.dumps({"code": err.code, "message": err.message}), file=sys.stderr)
        return 2
    report = ListingReport.model_validate(outcome.report).model_dump(mode="json")
    _write_outputs(args, outcome.encoded, report)
    print(json.dumps({"verdict": report["verdict"], "modules_applied": report["modules_applied"],
                      "billing": report["billing"], "disclosures": report["disclosures"],
                      "output": args.output if outcome.encoded else None,
                      "timings_s": report["timings_s"]}))
    return 0 if report["verdict"] != "fail" else 3


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


def _cmd_plan_check(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from lumograph.serve import cluster
    from lumograph.serve.plan import check_plan

    try:
        config = cluster.load_serve_config(args.config)
    except (OSError, ValidationError) as err:
        print(json.dumps({"code": "invalid_config", "message": f"{args.config}: {err}".splitlines()[0]}),
              file=sys.stderr)
        return 2
    report = check_plan(config, num_gpus=args.gpus, num_cpus=args.cpus)
    print(json.dumps(report.to_dict(), indent=2))
    return 0 if report.fits else 1


def _weights_status(root: Path, missing: str | None) -> str:
    """``complete`` | ``absent`` (nothing of this backend's folder is there) | ``partial``."""
    if missing is None:
        return "complete"
    try:
        folder = root / Path(missing).relative_to(root).parts[0]
    except (ValueError, IndexError):
        # Not a path under root (e.g. an invalid config.json's reason): something is there.
        return "partial"
    if folder.is_dir() and any(p.is_file() for p in folder.rglob("*")):
        return "partial"
    return "absent" if not folder.is_file() else "partial"


def _cmd_weights_check(args: argparse.Namespace) -> int:
    from lumograph.models.common.backends import MODULES, learned_backends

    root = Path(args.dir)
    if not root.is_dir():
        print(json.dumps({"code": "weights_dir_missing", "message": f"not a directory: {root}"}), file=sys.stderr)
        return 2
    modules: dict[str, dict] = {}
    backends = []
    for module_name in MODULES:
        for name, backend in learned_backends(module_name).items():
            short = backend.module.rsplit(".", 1)[-1]
            try:
                code = backend.code()
            except ImportError as err:
                modules[short] = {"available": False, "error": f"module not available: {err}"}
                continue
            except Exception as err:  # noqa: BLE001 - a broken module must not hide the others' state
                modules[short] = {"available": False, "error": f"import failed: {type(err).__name__}: {err}"}
                continue
            try:
                modules[short] = {"available": True, "describe": code.describe_weights(root)}
            except Exception as err:  # noqa: BLE001 - reported in the JSON, the others still run
                modules[short] = {"available": True, "describe": {"error": f"{type(err).__name__}: {err}"}}
            try:
                missing = backend.missing_weights(root)
            except Exception as err:  # noqa: BLE001 - reported as a partial backend
                missing = f"check failed: {type(err).__name__}: {err}"
            backends.append({"module": module_name, "backend": name,
                             "status": _weights_status(root, missing), "missing": missing})
    backends.sort(key=lambda b: (b["module"], b["backend"]))
    partial = [f"{b['module']}/{b['backend']}" for b in backends if b["status"] == "partial"]
    print(json.dumps({"weights_dir": str(root), "ok": not partial, "partial": partial,
                      "backends": backends, "modules": modules}, indent=2, default=str))
    return 1 if partial else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lumograph", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="start a local Ray cluster and deploy a Serve config (foreground)")
    s.add_argument("--config", default="local.yaml",
                   help="a Serve YAML path, or a shipped config: local.yaml (default), gpu.yaml")
    s.add_argument("--port", type=int, default=None, help="HTTP port (default: the config's, 8000)")
    s.add_argument("--dashboard-port", type=int, default=8265)
    s.add_argument("--num-cpus", type=int, default=None)
    s.add_argument("--num-gpus", type=float, default=None,
                   help="GPUs Ray may schedule (default: detected; logical GPUs work for trying gpu.yaml)")
    s.add_argument("--object-store-mb", type=int, default=512)
    s.set_defaults(func=_cmd_serve)

    p = sub.add_parser("process", help="turn one photo into a lightbox image in-process (no cluster)")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--marketplace", default=None)
    p.add_argument("--format", default=None)
    p.add_argument("--shadow", default=None)
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--fill-ratio", type=float, default=None)
    p.add_argument("--metal", default=None)
    p.add_argument("--transparent", action="store_true")
    p.add_argument("--report", default=None, help="write the full JSON report here")
    p.add_argument("--backend", default="auto")
    p.add_argument("--weights-dir", default=None)
    p.set_defaults(func=_cmd_process)

    n = sub.add_parser("enhance", help="enhance one listing photo (or one bracket set) in-process")
    n.add_argument("inputs", nargs="+", help="one photo, or several exposures of one shot")
    n.add_argument("--output", "-o", required=True)
    n.add_argument("--tier", default=None, help="standard | premium | auto (default auto)")
    n.add_argument("--modules", default=None, help="explicit comma-separated module list")
    n.add_argument("--room", default=None, help="client room label (wins over the guess)")
    n.add_argument("--dusk", action="store_true", help="day-to-dusk (exteriors)")
    n.add_argument("--sky-style", default=None, help="clear_blue | light_clouds | high_clouds")
    n.add_argument("--format", default=None)
    n.add_argument("--report", default=None, help="write the full JSON report here")
    n.add_argument("--backend", default="auto")
    n.add_argument("--weights-dir", default=None)
    n.set_defaults(func=_cmd_enhance)

    e = sub.add_parser("eval", help="quality evaluation over an eval folder (layout of shared/eval)")
    e.add_argument("--data", required=True)
    e.add_argument("--json", required=True)
    e.add_argument("--sheets", default=None, help="folder for PNG contact sheets")
    e.add_argument("--limit", type=int, default=None, help="at most this many photos per task")
    e.add_argument("--task", action="append", default=[],
                   help="run only this task (repeatable); default: every task found in --data")
    e.set_defaults(func=_cmd_eval)

    b = sub.add_parser("bench", help="performance benchmark")
    b.add_argument("what", choices=["jewelry", "listing", "models"])
    b.add_argument("--json", required=True)
    b.add_argument("--chart", default=None, help="PNG chart path (default: next to the JSON)")
    b.add_argument("--repeats", type=int, default=None, help="default: 5 (jewelry), 3 (listing)")
    b.add_argument("--photo", default=None,
                   help="a real photo to upscale to 12 MP (default: a synthetic ring / room)")
    b.add_argument("--bundle-dir", default=None,
                   help="listing: folder of photos for the bundle (default: synthetic photos)")
    b.add_argument("--bundle-size", type=int, default=25)
    b.add_argument("--size", choices=["tiny", "real"], default="real",
                   help="models: random-weight model size (default real: production shapes)")
    b.add_argument("--only", default=None,
                   help="models: comma-separated backends among clip,sam,yolo,inpaint (default all)")
    b.set_defaults(func=_cmd_bench)

    pl = sub.add_parser("plan", help="check a Serve config's resources before deploying it")
    pl_sub = pl.add_subparsers(dest="plan_command", required=True)
    pc = pl_sub.add_parser("check", help="does the config fit N GPUs and M CPUs at max replicas? "
                                         "(JSON report; exit 0 fits, 1 does not, 2 invalid config)")
    pc.add_argument("config")
    pc.add_argument("--gpus", type=float, required=True, help="GPUs in the cluster (whole devices)")
    pc.add_argument("--cpus", type=float, required=True, help="CPUs Ray may schedule on")
    pc.set_defaults(func=_cmd_plan_check)

    w = sub.add_parser("weights", help="model weights folder tools")
    w_sub = w.add_subparsers(dest="weights_command", required=True)
    wc = w_sub.add_parser("check", help="which learned backends' weights are under DIR, without loading "
                                        "them (JSON; exit 0 ok, 1 a backend is partially present, 2 no DIR)")
    wc.add_argument("dir")
    wc.set_defaults(func=_cmd_weights_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
