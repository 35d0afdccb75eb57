"""``lumograph bench concurrency``: does a module replica serve more than one call at a time?

Module methods are plain ``def`` over synchronous numpy/OpenCV/torch work, which Serve
runs in each replica's thread pool (``RAY_SERVE_RUN_SYNC_IN_THREADPOOL=1``, the Ray 2.60
default). The same methods on the replica's event loop, where ``async def`` methods
without an ``await`` used to run them, serve one call at a time: ``max_ongoing_requests``
buys nothing and a health probe waits behind a long call.

One run measures both, side by side, on the same local cluster config
(``configs/local.yaml`` with every module pinned to ONE replica, so autoscaling cannot
hide the difference):

* ``event_loop``: the ``modules`` application deployed with
  ``RAY_SERVE_RUN_SYNC_IN_THREADPOOL=0`` in its runtime env (sync methods on the loop:
  the behaviour before this change);
* ``thread_pool``: the default.

For each: requests/s and median latency of ``Segmenter.segment_jewelry`` (a 12 MP
synthetic ring, through a deployment handle) at 1, 4 and 8 calls in flight; the same
for ``POST /jewelry/lightbox`` over HTTP; and, while the segmenter holds 4 calls, the
latency of the segmenter's own ``backend`` probe (a trivial method on the busy replica)
and of ``GET /jewelry/healthz`` (which asks every module) while the segmenter holds 1
call (a slot left for the probe) and 4 calls (both slots taken: the probe also queues
for a slot), against the same probes idle.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml

from lumograph.bench.keyed import keyed_session
from lumograph.bench.sheets import save_result
from lumograph.bench.synthetic import ring_photo
from lumograph.models.common.imageio import encode_image, resize_long_side
from lumograph.serve.cluster import free_port

IN_FLIGHT = (1, 4, 8)
#: Calls held on the segmenter while the health probes are timed: one leaves the probe a
#: free slot (Segmenter max_ongoing_requests is 2), so only the event loop can delay it;
#: four fill both slots and queue, so the probe also waits for a slot in Serve's router.
BUSY_LEVELS = (1, 4)
PROBES = 8
#: Single requests whose per-stage timings are kept (the graph's own clock, inside the ingress).
STAGE_REPEATS = 5
VARIANTS = {"event_loop": {"RAY_SERVE_RUN_SYNC_IN_THREADPOOL": "0"}, "thread_pool": {}}


def _requests_for(n: int, scale: int) -> int:
    return scale * n + 2


def _load(call, n: int, total: int) -> dict:
    """``total`` calls of ``call()``, ``n`` in flight; wall time, req/s, latencies."""
    latencies: list[float] = []

    def one(_):
        t0 = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n) as pool:
        list(pool.map(one, range(total)))
    wall = time.perf_counter() - t0
    return {"in_flight": n, "requests": total, "wall_s": round(wall, 3), "req_per_s": round(total / wall, 3),
            "median_latency_s": round(statistics.median(latencies), 3)}


def _probe(call, n: int = PROBES, gap_s: float = 0.15) -> dict:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
        time.sleep(gap_s)
    return {"median_ms": round(1000 * statistics.median(times), 1), "max_ms": round(1000 * max(times), 1)}


def _config(port: int, env_vars: dict[str, str]):
    from ray.serve.schema import ServeDeploySchema

    from lumograph.serve.cluster import resolve_config

    raw = yaml.safe_load(resolve_config("local.yaml").read_text())
    raw.setdefault("http_options", {})["port"] = port
    for app in raw["applications"]:
        for dep in app.get("deployments", []):
            if "autoscaling_config" in dep:
                dep.pop("autoscaling_config")
                dep["num_replicas"] = 1
        if app["name"] == "modules" and env_vars:
            app["runtime_env"] = {"env_vars": dict(env_vars)}
    return ServeDeploySchema.model_validate(raw)


def _measure_variant(name: str, scale: int) -> dict:
    import ray
    from ray import serve

    from lumograph.serve import cluster

    env_vars = VARIANTS[name]
    photo = ring_photo(4000, 3000)
    jpeg = encode_image(photo.rgb, "jpeg", quality=92)
    temp_dir = tempfile.mkdtemp(prefix="lg-bench-conc-", dir="/tmp")
    port = free_port()
    base = f"http://127.0.0.1:{port}/jewelry"
    config = _config(port, env_vars)
    client = keyed_session(config, Path(temp_dir) / "data")
    cluster.start_ray(object_store_mb=768, dashboard=False, temp_dir=temp_dir, config=config)
    try:
        cluster.deploy_config(config, timeout_s=240)
        seg = serve.get_deployment_handle("Segmenter", app_name="modules")
        rgb_ref = ray.put(photo.rgb)
        proxy_hw = resize_long_side(photo.rgb, 1024).shape[:2]

        def segment():
            seg.segment_jewelry.remote(rgb_ref, proxy_hw).result(timeout_s=300)

        def lightbox():
            r = client.post(f"{base}/lightbox", files={"image": ("ring.jpg", jpeg, "image/jpeg")}, timeout=300)
            if r.status_code != 200:
                raise RuntimeError(f"lightbox answered {r.status_code}: {r.text[:200]}")

        def backend_probe():
            seg.backend.remote().result(timeout_s=120)

        def healthz():
            r = client.get(f"{base}/healthz", timeout=120)
            if r.status_code != 200:
                raise RuntimeError(f"healthz answered {r.status_code}: {r.text[:200]}")

        for warm_up in (segment, lightbox, healthz):  # code paths, caches, connections
            warm_up()
        result: dict = {"env_vars": env_vars}
        result["segmenter"] = [_load(segment, n, _requests_for(n, scale)) for n in IN_FLIGHT]
        result["lightbox_http"] = [_load(lightbox, n, _requests_for(n, scale)) for n in IN_FLIGHT]
        # Where a single request's time goes, per graph stage, one request at a time.
        stages: dict[str, list[float]] = {}
        for _ in range(STAGE_REPEATS):
            r = client.post(f"{base}/lightbox", files={"image": ("ring.jpg", jpeg, "image/jpeg")},
                              params={"report": "json"}, timeout=300)
            for stage, seconds in r.json()["report"]["timings_s"].items():
                stages.setdefault(stage, []).append(seconds)
        result["lightbox_stages_median_s"] = {k: round(statistics.median(v), 4) for k, v in stages.items()}
        result["health"] = {"idle": {"segmenter_backend": _probe(backend_probe), "healthz_http": _probe(healthz)}}
        for busy_calls in BUSY_LEVELS:
            with ThreadPoolExecutor(max_workers=busy_calls) as pool:
                running = [pool.submit(lambda: [segment() for _ in range(6)]) for _ in range(busy_calls)]
                time.sleep(0.5)
                result["health"][f"segmenter_busy_{busy_calls}"] = {
                    "segmenter_backend": _probe(backend_probe), "healthz_http": _probe(healthz)}
                for f in running:
                    f.result()
        print(f"bench concurrency: {name}: {result}", flush=True)
        return result
    finally:
        cluster.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _run_variant_in_child(name: str, scale: int, timeout_s: float = 1200.0) -> dict:
    """One variant in a fresh process: a second local Ray in one process does not start
    reliably after the first was shut down."""
    with tempfile.TemporaryDirectory(prefix="lg-conc-") as tmp:
        out = Path(tmp) / "variant.json"
        subprocess.run([sys.executable, "-m", "lumograph.bench.perf_concurrency", "--variant", name,
                        "--scale", str(scale), "--out", str(out)], check=True, timeout=timeout_s)
        return json.loads(out.read_text())


def run_bench_concurrency(*, json_out: Path, chart: Path | None = None, scale: int = 2) -> dict:
    """Both variants in one run, each on its own fresh local cluster (see the module
    docstring); writes ``json_out`` and a chart. scale: requests per level are
    ``scale * in_flight + 2``."""
    variants = {name: _run_variant_in_child(name, scale) for name in VARIANTS}
    gains = {}
    for what in ("segmenter", "lightbox_http"):
        before = {r["in_flight"]: r["req_per_s"] for r in variants["event_loop"][what]}
        after = {r["in_flight"]: r["req_per_s"] for r in variants["thread_pool"][what]}
        gains[what] = {str(n): round(after[n] / before[n], 3) for n in IN_FLIGHT}
    result = {
        "photo": "synthetic ring 4000x3000 (bench.synthetic.ring_photo), JPEG q92 for HTTP",
        "cores": os.cpu_count(),
        "machine": platform.platform(),
        "config": "configs/local.yaml, every module pinned to 1 replica (autoscaling off)",
        "in_flight": list(IN_FLIGHT),
        "variants": variants,
        "throughput_ratio_thread_pool_over_event_loop": gains,
        "lightbox_stages_median_s": {v: variants[v]["lightbox_stages_median_s"] for v in variants},
        "probe_median_ms": {v: {level: {probe: r["median_ms"] for probe, r in probes.items()}
                                    for level, probes in variants[v]["health"].items()} for v in variants},
    }
    return save_result(result, json_out, chart, draw_chart)


def draw_chart(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    colours = {"event_loop": "#c55", "thread_pool": "#47a"}
    for ax, what, title in ((axes[0], "segmenter", "Segmenter.segment_jewelry (handle)"),
                            (axes[1], "lightbox_http", "POST /jewelry/lightbox (HTTP)")):
        for name, v in result["variants"].items():
            ax.plot([r["in_flight"] for r in v[what]], [r["req_per_s"] for r in v[what]], "o-",
                    color=colours[name], label=name)
        ax.set_xlabel("calls in flight")
        ax.set_ylabel("requests / s")
        ax.set_title(title)
        ax.legend()
    names = list(result["variants"])
    x = np.arange(len(names))
    levels = list(result["variants"][names[0]]["health"])
    width = 0.8 / len(levels)
    for i, level in enumerate(levels):
        vals = [result["variants"][n]["health"][level]["segmenter_backend"]["median_ms"] for n in names]
        axes[2].bar(x + width * i, vals, width, label=level)
    axes[2].set_xticks(x + 0.4 - width / 2, names)
    axes[2].set_yscale("log")
    axes[2].set_ylabel("median probe latency, ms (log)")
    axes[2].set_title("Segmenter.backend probe: idle and busy")
    axes[2].legend()
    fig.suptitle(f"{result['cores']} cores; every module one replica")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="one variant of the concurrency bench (a child process)")
    parser.add_argument("--variant", choices=list(VARIANTS), required=True)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.write_text(json.dumps(_measure_variant(args.variant, args.scale)))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
