"""The ``lumograph`` console script: serve, process (jewelry), enhance (listing), batch (a folder
on Ray Data), plan check
(will a Serve config fit the GPUs/CPUs) and weights check (is a weights folder complete).

``eval``, ``bench`` and ``sample`` come from ``lumograph.bench`` through the
``lumograph.commands`` entry point group: this module never imports ``bench``. Options of
``process`` and ``enhance`` are generated from the request schemas (their choices, limits
and descriptions), so the CLI and the HTTP API cannot drift apart."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import Literal, get_args, get_origin


def _cmd_serve(args: argparse.Namespace) -> int:
    from lumograph.serve import cluster
    from lumograph.serve.plan import PlanDoesNotFit

    config = cluster.load_serve_config(args.config, http_port=args.port)
    if args.host:
        config.http_options.host = args.host
    made = cluster.first_start_key(config)
    cluster.start_ray(
        num_cpus=args.num_cpus, num_gpus=args.num_gpus, object_store_mb=args.object_store_mb,
        dashboard=True, dashboard_port=args.dashboard_port, metrics_port=args.metrics_port, config=config,
    )
    try:
        cluster.deploy_config(config)
    except PlanDoesNotFit as err:
        # Ray would wait forever for resources this machine does not have.
        print(f"lumograph: refusing to deploy {args.config}: {err}", file=sys.stderr, flush=True)
        cluster.shutdown()
        return 2
    port = config.http_options.port
    host = config.http_options.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    where = f" (every interface: {host})" if host in ("0.0.0.0", "::") else ""
    print(f"lumograph: serving on http://{shown}:{port}{where} (API docs: http://{shown}:{port}/docs; jewelry: "
          f"/jewelry/lightbox; listing: /listing/enhance, /listing/bundle; /healthz). Metrics (Prometheus): "
          f"http://127.0.0.1:{args.metrics_port}/metrics. Ray dashboard: http://127.0.0.1:{args.dashboard_port} "
          f"(its 'Authentication Token Required' dialog takes the token `ray get-auth-token` prints; the Serve "
          f"tab shows each deployment's replicas and queue). Ctrl-C stops.", flush=True)
    if made:
        key, path = made
        print(f"lumograph: first start: an API key for tenant 'local' (shown once; kept in {path}, mode 0600):\n"
              f"  {key}\n  send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'; "
              f"more: lumograph keys --help", flush=True)
    stop = threading.Event()

    def first_stop(*_):
        # A second Ctrl-C or SIGTERM ends at once, without waiting for requests in flight.
        for again in (signal.SIGINT, signal.SIGTERM):
            signal.signal(again, signal.default_int_handler)
        stop.set()

    # Ray installs its own handlers; make Ctrl-C and SIGTERM end the foreground loop.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, first_stop)
    stop.wait()
    print("lumograph: shutting down: requests in flight finish first (each ingress's "
          "graceful_shutdown_timeout_s; Ctrl-C again to stop at once)", flush=True)
    cluster.shutdown()
    return 0


def _inputs_of(path: str) -> list[Path]:
    """The photos to process: the file itself, or the image files of a folder (sorted)."""
    from lumograph.models.common.imageio import IMAGE_SUFFIXES  # the decoder's formats

    p = Path(path)
    if p.is_dir():
        return sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    return [p]


def _progress(items: list, what: str):
    """A progress bar on stderr for folders (tqdm), the plain list for one file."""
    if len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=what, unit="photo", file=sys.stderr)


def _option_fields(args: argparse.Namespace, model) -> dict:
    """The options given on the command line, by schema field name."""
    return {name: getattr(args, name) for name in model.model_fields
            if getattr(args, name, None) is not None}


def _cmd_process(args: argparse.Namespace) -> int:
    from lumograph.graphs.jewelry import run_lightbox
    from lumograph.graphs.local import LocalModules
    from lumograph.models.common.errors import LumographError
    from lumograph.models.common.imageio import FORMAT_EXTENSIONS, decode_image
    from lumograph.serve.schemas import LightboxOptions, LightboxReport
    from lumograph.serve.uploads import parse_options

    try:
        options = parse_options(LightboxOptions, _option_fields(args, LightboxOptions))
    except LumographError as err:
        print(json.dumps({"code": err.code, "message": err.message}), file=sys.stderr)
        return 2
    modules = LocalModules.build(backend=args.backend, weights_dir=args.weights_dir)

    def run_one(paths: list[Path]) -> tuple[bytes | None, dict]:
        data = paths[0].read_bytes()
        decoded = decode_image(data, filename=paths[0].name)
        outcome = asyncio.run(run_lightbox(
            decoded.rgb, options.model_dump(), modules.jewelry_steps(), request_id=uuid.uuid4().hex,
            input_info={"format": decoded.source_format, "mode": decoded.source_mode,
                        "bytes": len(data), "filename": paths[0].name, "conversions": list(decoded.notes)},
        ))
        return outcome.encoded, LightboxReport.model_validate(outcome.report).model_dump(mode="json")

    folder = Path(args.input).is_dir()
    return _run_each(args, [[p] for p in _inputs_of(args.input)], folder, FORMAT_EXTENSIONS[options.format][0],
                     "lightbox", run_one, lambda r: {"verdict": r["verdict"], "score": r["score"]})


def _run_each(args: argparse.Namespace, jobs: list[list[Path]], folder: bool, suffix: str, what: str,
              run_one, summary) -> int:
    """``run_one(paths) -> (encoded or None, report)`` for each job (a photo, or the frames of
    one bracket set); writes each output and report, prints a JSON line per job and returns
    the worst exit code: 0 delivered, 2 an input error, 3 QA failed."""
    from lumograph.models.common.errors import LumographError

    if folder:
        Path(args.output).mkdir(parents=True, exist_ok=True)
    worst = 0
    for paths in _progress(jobs, what):
        first = paths[0]
        out = Path(args.output) / (first.stem + suffix) if folder else Path(args.output)
        report_path = (Path(args.report) / f"{first.stem}.json" if folder else Path(args.report)) if args.report else None
        try:
            encoded, report = run_one(paths)
        except (LumographError, OSError) as err:
            code, message = getattr(err, "code", "unreadable_file"), getattr(err, "message", str(err))
            print(json.dumps({"input": str(first), "code": code, "message": message}), file=sys.stderr)
            worst = max(worst, 2)
            continue
        _write_outputs(out, report_path, encoded, report)
        print(json.dumps({"input": str(first), **summary(report), "output": str(out) if encoded else None,
                          "timings_s": report["timings_s"]}))
        worst = max(worst, 3 if report["verdict"] == "fail" else 0)
    return worst


def _write_outputs(output: Path, report_path: Path | None, encoded: bytes | None, report: dict) -> None:
    """The delivered image to ``output`` (none on ``fail``), the report to ``report_path``."""
    if encoded is not None:
        output.write_bytes(encoded)
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(json.dumps(report, indent=2))


def _cmd_enhance(args: argparse.Namespace) -> int:
    from lumograph.graphs.listing import run_enhance
    from lumograph.graphs.local import LocalModules
    from lumograph.models.common.errors import LumographError
    from lumograph.models.common.imageio import FORMAT_EXTENSIONS, decode_image
    from lumograph.serve.schemas import EnhanceOptions, ListingReport
    from lumograph.serve.uploads import parse_options

    fields = _option_fields(args, EnhanceOptions)
    if args.modules:
        fields["modules"] = [m.strip() for m in args.modules.split(",") if m.strip()]
    try:
        options = parse_options(EnhanceOptions, fields)
    except LumographError as err:
        print(json.dumps({"code": err.code, "message": err.message}), file=sys.stderr)
        return 2
    modules = LocalModules.build(backend=args.backend, weights_dir=args.weights_dir)

    def run_one(paths: list[Path]) -> tuple[bytes | None, dict]:
        frames = [decode_image(p.read_bytes(), filename=p.name).rgb for p in paths]
        outcome = asyncio.run(run_enhance(frames, options.model_dump(), modules.listing_steps(),
                                          request_id=uuid.uuid4().hex, input_info={"filename": paths[0].name}))
        return outcome.encoded, ListingReport.model_validate(outcome.report).model_dump(mode="json")

    # A folder: each photo on its own. Several files: the exposures of one bracket set.
    folder = len(args.inputs) == 1 and Path(args.inputs[0]).is_dir()
    jobs = [[p] for p in _inputs_of(args.inputs[0])] if folder else [[Path(f) for f in args.inputs]]
    return _run_each(args, jobs, folder, FORMAT_EXTENSIONS[options.format][0], "enhance", run_one,
                     lambda r: {"verdict": r["verdict"], "modules_applied": r["modules_applied"],
                                "billing": r["billing"], "disclosures": r["disclosures"]})


def _cmd_batch(args: argparse.Namespace) -> int:
    """A folder (or fsspec URI) through one vertical on Ray Data; resumable (``jobs/bulk.py``)."""
    from lumograph.jobs.bulk import REPORT_NAME, run_bulk
    from lumograph.models.common.errors import LumographError
    from lumograph.serve.schemas import EnhanceOptions, LightboxOptions
    from lumograph.serve.uploads import parse_options

    if args.concurrency < 1 or (args.limit is not None and args.limit < 0):
        print(json.dumps({"code": "invalid_arguments", "message": f"--concurrency must be >= 1 and --limit >= 0, "
                                                                   f"got {args.concurrency} and {args.limit}"}),
              file=sys.stderr)
        return 2
    model = LightboxOptions if args.vertical == "jewelry" else EnhanceOptions
    try:
        fields = json.loads(Path(args.options).read_text()) if args.options else {}
        options = parse_options(model, fields)
    except LumographError as err:
        print(json.dumps({"code": err.code, "message": f"{args.options}: {err.message}"}), file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError) as err:  # an unreadable or non-JSON options file
        print(json.dumps({"code": "invalid_options", "message": f"{args.options}: {err}"}), file=sys.stderr)
        return 2
    try:
        report = run_bulk(args.input, args.output, args.vertical, options.model_dump(mode="json"),
                          concurrency=args.concurrency, limit=args.limit, progress=not args.no_progress,
                          address=args.address, retry_failed=args.retry_failed, backend=args.backend,
                          weights_dir=args.weights_dir)
    except LumographError as err:  # IN does not exist
        print(json.dumps({"code": err.code, "message": err.message}), file=sys.stderr)
        return 2
    run = report["run"]
    states = ", ".join(f"{state} {n}" for state, n in sorted(report["states"].items())) or "nothing finished"
    steady = (f" (first photo after {run['first_photo_s']} s, then {run['steady_photos_per_minute']})"
              if run["steady_photos_per_minute"] else "")
    print(f"lumograph batch: ran {run['photos']}, skipped {run['skipped']}, pending {report['pending']}; "
          f"all finished: {states}; billable {report['billable']}; "
          f"{report['photos_per_minute']} photos/minute over {report['wall_s']} s{steady}")
    print(f"report: {args.output.rstrip('/')}/{REPORT_NAME}")
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


def _add_schema_options(parser: argparse.ArgumentParser, model, skip: tuple[str, ...] = ()) -> None:
    """One ``--option`` per field of a request schema: its choices (a ``Literal``), its type,
    its description and default as help. Values are validated by the schema itself."""
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        flag = "--" + name.replace("_", "-")
        annotation = field.annotation
        choices = _literal_choices(annotation)
        default = field.get_default()
        text = f"{field.description or ''} (default: {default if default is not None else 'see description'})"
        text = text.replace("%", "%%")  # argparse formats help with %
        if annotation is bool:
            parser.add_argument(flag, dest=name, action="store_const", const=True, default=None, help=text)
            continue
        kind = next((t for t in (int, float) if t in (annotation, *get_args(annotation))), str)
        if choices:
            kind = type(choices[0])
        limits = [f"{key} {getattr(m, key)}" for m in field.metadata for key in ("ge", "le")
                  if getattr(m, key, None) is not None]
        if limits:
            text += "; " + ", ".join(limits)
        parser.add_argument(flag, dest=name, type=kind, choices=choices, default=None, help=text)


def _literal_choices(annotation) -> list | None:
    """The values of a ``Literal`` (also inside ``X | None``), else None."""
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    for arg in get_args(annotation):
        if get_origin(arg) is Literal:
            return list(get_args(arg))
    return None


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default="auto",
                        help="auto (learned where weights are complete), classical, or a learned backend's name")
    parser.add_argument("--weights-dir", default=None, help="the weights folder (see README: Backends and weights)")


def _plugin_commands():
    """``register(subparsers)`` functions of the installed ``lumograph.commands`` entry points."""
    from importlib.metadata import entry_points

    return [(ep.name, ep.load) for ep in sorted(entry_points(group="lumograph.commands"), key=lambda e: e.name)]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lumograph")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    from lumograph.serve.schemas import EnhanceOptions, LightboxOptions, ListingModule

    parser = argparse.ArgumentParser(prog="lumograph", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"lumograph {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="start a local Ray cluster and deploy a Serve config (foreground)")
    s.add_argument("--config", default="local.yaml",
                   help="a Serve YAML path, or a shipped config: local.yaml (default), gpu.yaml")
    s.add_argument("--port", type=int, default=None, help="HTTP port (default: the config's, 8000)")
    s.add_argument("--host", default=None, help="HTTP address (default: the config's; local.yaml: 127.0.0.1). "
                                                "0.0.0.0 serves every interface: every API route needs a key")
    s.add_argument("--dashboard-port", type=int, default=8265)
    s.add_argument("--metrics-port", type=int, default=8080,
                   help="Prometheus metrics port of the local node (Serve's and lumograph's series)")
    s.add_argument("--num-cpus", type=int, default=None)
    s.add_argument("--num-gpus", type=float, default=None,
                   help="GPUs Ray may schedule (default: detected; logical GPUs work for trying gpu.yaml)")
    s.add_argument("--object-store-mb", type=int, default=512)
    s.set_defaults(func=_cmd_serve)

    p = sub.add_parser("process", help="turn a photo (or every photo of a folder) into a lightbox image "
                                       "in-process (no cluster); exit 0 delivered, 2 an input error, 3 QA failed")
    p.add_argument("input", help="a photo, or a folder of photos")
    p.add_argument("output", help="the output file (a folder when the input is a folder)")
    _add_schema_options(p, LightboxOptions)
    p.add_argument("--report", default=None, help="write the JSON report here (a folder for a folder input)")
    _add_backend_options(p)
    p.set_defaults(func=_cmd_process)

    n = sub.add_parser("enhance", help="enhance a listing photo, a bracket set (several files of one shot) "
                                       "or every photo of a folder, in-process")
    n.add_argument("inputs", nargs="+", help="one photo, several exposures of one shot, or one folder")
    n.add_argument("--output", "-o", required=True, help="the output file (a folder for a folder input)")
    _add_schema_options(n, EnhanceOptions, skip=("modules",))
    n.add_argument("--modules", default=None,
                   help="explicit comma-separated module list among: " + ", ".join(get_args(ListingModule)))
    n.add_argument("--report", default=None, help="write the JSON report here (a folder for a folder input)")
    _add_backend_options(n)
    n.set_defaults(func=_cmd_enhance)

    b = sub.add_parser("batch", help="run a vertical over every photo under a folder (or fsspec URI) on Ray "
                                     "Data; resumes (a second run skips finished photos); exit 0 when the run "
                                     "completed, even with error photos, 2 bad arguments")
    b.add_argument("input", help="a folder or URI of photos (recursive)")
    b.add_argument("output", help="a folder or URI for the outputs, lumograph-batch.jsonl and the report")
    b.add_argument("--vertical", choices=("jewelry", "listing"), required=True)
    b.add_argument("--options", default=None,
                   help="a JSON file of options (LightboxOptions for jewelry, EnhanceOptions for listing)")
    b.add_argument("--concurrency", type=int, default=1, help="Ray Data actors (one pipeline each)")
    b.add_argument("--limit", type=int, default=None, help="at most this many photos this run")
    b.add_argument("--retry-failed", action="store_true", help="run error and rejected photos again")
    b.add_argument("--address", default=None,
                   help="a Ray cluster to join (auto); default: $RAY_ADDRESS if set, else a local Ray")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_backend_options(b)
    b.set_defaults(func=_cmd_batch)

    pl = sub.add_parser("plan", help="check a Serve config's resources before deploying it")
    pl_sub = pl.add_subparsers(dest="plan_command", required=True)
    pc = pl_sub.add_parser("check", help="does the config fit N GPUs and M CPUs at max replicas? "
                                         "(JSON report; exit 0 fits, 1 does not, 2 invalid config)")
    pc.add_argument("config")
    pc.add_argument("--gpus", type=float, required=True, help="GPUs in the cluster (whole devices)")
    pc.add_argument("--cpus", type=float, required=True, help="CPUs Ray may schedule on")
    pc.set_defaults(func=_cmd_plan_check)

    from lumograph.serve.keys_cli import register as register_keys

    register_keys(sub)

    w = sub.add_parser("weights", help="model weights folder tools")
    w_sub = w.add_subparsers(dest="weights_command", required=True)
    wc = w_sub.add_parser("check", help="which learned backends' weights are under DIR, without loading "
                                        "them (JSON; exit 0 ok, 1 a backend is partially present, 2 no DIR)")
    wc.add_argument("dir")
    wc.set_defaults(func=_cmd_weights_check)

    for name, load in _plugin_commands():
        try:
            load()(sub)
        except Exception as err:  # noqa: BLE001 - a broken plugin must not take the CLI down
            print(f"lumograph: commands from {name!r} are unavailable: {type(err).__name__}: {err}",
                  file=sys.stderr)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
