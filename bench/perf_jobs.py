"""``lumograph bench jobs``: the same N jewelry photos (synthetic rings, 2-4 MP) through the
ways the product runs a batch, measured side by side in one run, in this order:

(a) the job API on a local cluster deployed from ``configs/local.yaml``: one job of N
    photos (``POST /v1/jobs``), polled until it is done; its items run on the jobs
    replica's workers (``concurrency`` of the ``jobs`` app, 2) through the module deployments;
(b) the synchronous route ``POST /jewelry/lightbox`` on the same cluster, one photo per
    request, from as many concurrent clients as the job has workers;
(a') the same job API with the jobs app redeployed with ``steps: actors``: the jobs
    replica hands each item to a pool of Ray actors holding in-process cores, as the bulk
    command does, instead of calling the module deployments;
(c) ``lumograph batch`` (``jobs.bulk.run_bulk``, Ray Data actors holding in-process cores)
    on a fresh local Ray after the Serve cluster is shut down, so the paths never compete
    for the cores.

Per path: wall time, photos per minute (wall, and steady: between the first and the last
finished photo), p50/p95 item latency, states and verdicts, system-wide CPU utilisation
(sampled), the CPU seconds the path's own processes spent, and peak PSS of the local Ray
cluster. Ratios job/bulk (target >= 0.90; for both job modes) and job/sync. Writes JSON and
a PNG chart.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import requests

from lumograph.bench.keyed import keyed_session
from lumograph.bench.perf_jewelry import BackgroundSampler, PeakPSS
from lumograph.bench.sheets import save_result
from lumograph.bench.synthetic import ring_photo
from lumograph.models.common.imageio import encode_image
from lumograph.serve.cluster import free_port

#: Photo sizes (4:3), cycled: 2.0, 2.4, 3.0, 3.5 and 4.0 MP.
SIZES: tuple[tuple[int, int], ...] = ((1640, 1230), (1800, 1350), (2000, 1500), (2160, 1620), (2300, 1725))
CASTS = ((1.0, 0.92, 0.78), (1.0, 0.96, 0.9), (0.93, 0.96, 1.0), (1.0, 0.9, 0.85))
METALS = ("white_metal", "yellow_gold", "rose_gold")
#: The job path keeps at least this share of the Ray Data path's throughput.
TARGET_JOB_OVER_BULK = 0.90
PATHS = ("jobs", "jobs_actors", "sync", "bulk")
#: Bulk actors: two when the machine has this much memory available, else one.
BULK_MEMORY_FOR_TWO_GB = 6.0
#: Titles of pooled Ray workers before they become an actor or run a task.
IDLE_TITLES = ("ray::IDLE", "python default_worker.py")
#: Peak PSS is summed over every Ray process each sample; reading smaps costs CPU, so
#: not too often.
PSS_INTERVAL_S = 1.0


# --- photos ---------------------------------------------------------------------------


def photo_spec(i: int, sizes: Sequence[tuple[int, int]] = SIZES) -> dict[str, Any]:
    w, h = sizes[i % len(sizes)]
    return {"name": f"ring_{i:04d}.jpg", "width": w, "height": h, "seed": 1000 + i,
            "with_chain": i % 3 == 0, "cast": CASTS[i % len(CASTS)], "metal": METALS[(i // 2) % len(METALS)]}


def _write_photo(args: tuple[dict[str, Any], str]) -> dict[str, Any]:
    spec, folder = args
    rgb = ring_photo(spec["width"], spec["height"], seed=spec["seed"], with_chain=spec["with_chain"],
                     cast=spec["cast"], metal=spec["metal"]).rgb
    data = encode_image(rgb, "jpeg", quality=92)
    (Path(folder) / spec["name"]).write_bytes(data)
    return {**spec, "bytes": len(data)}


def make_photos(folder: Path, n: int, sizes: Sequence[tuple[int, int]] = SIZES) -> list[dict[str, Any]]:
    """Write ``n`` synthetic ring JPEGs (quality 92) to ``folder``; their specs and sizes.
    Made in child processes before any phase starts (nothing is timed here)."""
    folder.mkdir(parents=True, exist_ok=True)
    specs = [(photo_spec(i, sizes), str(folder)) for i in range(n)]
    with ProcessPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 4))) as pool:
        return list(pool.map(_write_photo, specs))


# --- measuring ------------------------------------------------------------------------


class CpuMeter(BackgroundSampler):
    """While the block runs: system-wide CPU utilisation (mean of ``psutil.cpu_percent``
    samples, percent of all cores, whoever uses them), and the CPU seconds spent by this
    process's descendants (the local Ray cluster) and by this process (the bench's clients
    and samplers), so another load on a shared machine shows as the difference."""

    def __init__(self, interval_s: float = 0.5):
        self.samples: list[float] = []
        self._me = psutil.Process()
        self._labels: dict[tuple[int, float], str] = {}
        self._base: dict[tuple[int, float], float] = {}
        self._last: dict[tuple[int, float], float] = {}
        self._self0 = 0.0
        self.self_cpu_s = 0.0
        self.wall_s = 0.0
        self._system0 = None
        self.system_busy_percent = 0.0
        super().__init__(interval_s)

    def _children_times(self) -> dict[tuple[int, float], float]:
        out = {}
        for proc in self._me.children(recursive=True):
            try:
                with proc.oneshot():
                    t = proc.cpu_times()
                    key = (proc.pid, proc.create_time())
                    out[key] = t.user + t.system
                    if self._labels.get(key, "ray::IDLE") in IDLE_TITLES:
                        # A pooled Ray worker takes its actor's or task's title once it has one.
                        self._labels[key] = _process_label(proc.cmdline())
            except psutil.Error:
                continue
        return out

    def __enter__(self):
        self._base = self._children_times()
        self._last = dict(self._base)
        t = self._me.cpu_times()
        self._self0 = t.user + t.system
        self._system0 = psutil.cpu_times()
        self._t0 = time.perf_counter()
        return super().__enter__()

    def _loop(self) -> None:
        psutil.cpu_percent(None)
        while not self._stop.wait(self.interval_s):
            self.samples.append(psutil.cpu_percent(None))
            self._last.update(self._children_times())

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        self.wall_s = time.perf_counter() - self._t0
        self._last.update(self._children_times())
        t = self._me.cpu_times()
        self.self_cpu_s = t.user + t.system - self._self0
        s0, s1 = self._system0, psutil.cpu_times()
        span = _total(s1) - _total(s0)
        self.system_busy_percent = round(100.0 * (_busy(s1) - _busy(s0)) / span, 1) if span > 0 else 0.0

    @property
    def cluster_cpu_s(self) -> float:
        """CPU seconds of the descendants (a process that ended between two samples loses
        its last interval)."""
        return sum(max(0.0, t - self._base.get(key, 0.0)) for key, t in self._last.items())

    def by_process(self, top: int = 12) -> dict[str, float]:
        """CPU seconds per kind of process (Ray's process titles; several replicas of one
        deployment add up), the ``top`` largest."""
        totals: Counter = Counter()
        for key, t in self._last.items():
            totals[self._labels.get(key, "?")] += max(0.0, t - self._base.get(key, 0.0))
        return {label: round(seconds, 1) for label, seconds in totals.most_common(top) if seconds >= 0.05}

    def summary(self, n_photos: int) -> dict[str, Any]:
        cores = os.cpu_count() or 1
        cluster = self.cluster_cpu_s
        return {
            "cpu_utilisation_percent": round(float(np.mean(self.samples)), 1) if self.samples else 0.0,
            "cpu_utilisation_exact_percent": self.system_busy_percent,
            "cpu_samples": len(self.samples),
            "cluster_cpu_s": round(cluster, 1),
            "cluster_cpu_percent": round(100.0 * cluster / (self.wall_s * cores), 1) if self.wall_s else 0.0,
            "cluster_cpu_s_per_photo": round(cluster / n_photos, 3) if n_photos else None,
            "bench_process_cpu_s": round(self.self_cpu_s, 1),
            "other_load_percent": round(max(0.0, self.system_busy_percent
                                            - 100.0 * (cluster + self.self_cpu_s) / (self.wall_s * cores)), 1)
            if self.wall_s else 0.0,
            "cluster_cpu_s_by_process": self.by_process(),
        }


def _busy(t) -> float:
    """Busy CPU seconds of ``psutil.cpu_times()`` (all cores)."""
    return t.user + t.nice + t.system + sum(getattr(t, f, 0.0) for f in ("irq", "softirq", "steal"))


def _total(t) -> float:
    return _busy(t) + t.idle + getattr(t, "iowait", 0.0)


def _process_label(cmdline: list[str]) -> str:
    """``ray::ServeReplica:modules:Segmenter`` for a Ray worker (its title without the
    method it runs), the script or program name otherwise."""
    if not cmdline:
        return "?"
    first = cmdline[0]
    if first.startswith("ray::"):
        return first.split(" ")[0].split(".")[0]
    name = os.path.basename(first)
    if name.startswith("python"):
        script = next((a for a in cmdline[1:] if not a.startswith("-")), "")
        return f"python {os.path.basename(script)}" if script else name
    return name


def _pct(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(list(values), q)), 3) if len(values) else None


def _p50_p95(values: Sequence[float]) -> dict[str, float | None]:
    return {"p50": _pct(values, 50), "p95": _pct(values, 95), "max": round(max(values), 3) if values else None}


def _steady_rate(finish_times: Sequence[float]) -> float | None:
    """Photos per minute between the first and the last finished photo."""
    t = sorted(finish_times)
    if len(t) < 3 or t[-1] <= t[0]:
        return None
    return round((len(t) - 1) * 60.0 / (t[-1] - t[0]), 2)


def _stage_medians(reports: list[dict[str, Any]]) -> dict[str, float]:
    """Median per graph stage (``timings_s`` of the delivered attempt's report)."""
    stages: dict[str, list[float]] = {}
    for report in reports:
        for name, value in (report.get("timings_s") or {}).items():
            if isinstance(value, (int, float)):
                stages.setdefault(name, []).append(float(value))
    return {name: round(float(np.median(v)), 4) for name, v in stages.items()}


def _retries(reports: list[dict[str, Any]]) -> int:
    return sum(1 for r in reports if (r.get("retry") or {}).get("made"))


def _wait_for_no_children(timeout_s: float = 30.0) -> int:
    """Wait until the processes of the last cluster have exited (the next phase must not
    share the cores with them); returns how many are still there."""
    deadline = time.monotonic() + timeout_s
    left = psutil.Process().children(recursive=True)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = [p for p in psutil.Process().children(recursive=True) if p.is_running()]
    return len(left)


def _replicas() -> dict[str, int]:
    """Running replicas per module deployment (autoscaling moves them under load)."""
    from ray import serve

    out = {}
    for app_name, app in serve.status().applications.items():
        for name, dep in app.deployments.items():
            out[f"{app_name}.{name}"] = int(dep.replica_states.get("RUNNING", 0))
    return out


# --- the three paths -----------------------------------------------------------------


def _wait_for_steps(client: requests.Session, base: str, steps: str, timeout_s: float = 300.0) -> None:
    """Wait until the redeployed jobs replica answers with ``steps``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if client.get(f"{base}/v1/healthz", timeout=30).json().get("steps") == steps:
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(1.0)
    raise RuntimeError(f"the jobs app did not come back with steps={steps!r}")


def run_job_path(client: requests.Session, base: str, photos: list[tuple[str, bytes]], data_dir: Path, concurrency: int) -> dict[str, Any]:
    """(a) One job of every photo through ``/v1/jobs``; figures from the job's status and
    its database rows (``started_at``/``finished_at``/``seconds`` per item)."""
    from lumograph.jobs.db import make_engine, sqlite_url
    from lumograph.jobs.storage import Storage
    from lumograph.jobs.store import JobStore

    files = [("image", (name, data, "image/jpeg")) for name, data in photos]
    polls = 0
    with PeakPSS(PSS_INTERVAL_S) as mem, CpuMeter() as cpu:
        t_submit = time.time()
        p0 = time.perf_counter()
        answer = client.post(f"{base}/v1/jobs", files=files, data={"vertical": "jewelry"}, timeout=1200)
        submit_s = time.perf_counter() - p0
        if answer.status_code != 202:
            raise RuntimeError(f"job submit failed: {answer.status_code} {answer.text[:300]}")
        job_id = answer.json()["id"]
        deadline = time.monotonic() + 3600
        while True:
            state = client.get(f"{base}/v1/jobs/{job_id}", params={"items": "false"}, timeout=60).json()["state"]
            polls += 1
            if state in ("done", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} not finished after an hour: {state}")
            time.sleep(0.5)
        seen_done_s = time.time() - t_submit
    status = client.get(f"{base}/v1/jobs/{job_id}", timeout=120).json()
    store = JobStore(make_engine(sqlite_url(data_dir)))
    job = store.job_row(job_id)
    rows = store.item_rows(job_id)
    reports = []
    for row in rows:
        if row.report_uri:
            reports.append(json.loads(Storage.read(row.report_uri)).get("report") or {})
    finished = [r.finished_at for r in rows if r.finished_at is not None]
    started = [r.started_at for r in rows if r.started_at is not None]
    wall_s = (job.finished_at or max(finished)) - t_submit
    item_s = [float(r.seconds) for r in rows if r.seconds is not None]
    held = [r.finished_at - r.started_at for r in rows if r.finished_at and r.started_at]
    busy_span = (max(finished) - min(started)) if finished and started else 0.0
    n = len(photos)
    return {
        "photos": n,
        "processed": sum(1 for r in rows if r.finished_at is not None),
        "job_id": job_id,
        "job_state": status["state"],
        "concurrency": concurrency,
        "submit_s": round(submit_s, 3),
        "created_after_submit_start_s": round(job.created_at - t_submit, 3),
        "first_item_started_after_submit_start_s": round(min(started) - t_submit, 3) if started else None,
        "wall_s": round(wall_s, 3),
        "wall_measure": "job finished_at (database) minus the start of the submit request (upload included)",
        "done_seen_by_poll_s": round(seen_done_s, 3),
        "polls": polls,
        "photos_per_minute": round(60.0 * n / wall_s, 2),
        "steady_photos_per_minute": _steady_rate(finished),
        "latency_s": _p50_p95(item_s),
        "latency_measure": "item `seconds` as the job API reports it (the worker's read + decode + graph "
                           "(+ smart retry), and, where the store measures it from claim to finish, the "
                           "output and report writes)",
        "end_to_end_s": _p50_p95([f - job.created_at for f in finished]),
        "end_to_end_measure": "item finished_at - job created_at (queue wait included)",
        "claim_to_finish_s": _p50_p95(held),
        "close_s": round(job.finished_at - max(finished), 3) if job.finished_at and finished else None,
        "close_measure": "job finished_at - last item finished_at (closing the job: its summary)",
        "worker_occupancy": round(sum(held) / (concurrency * busy_span), 3) if busy_span else None,
        "states": dict(Counter(r.state for r in rows)),
        "verdicts": dict(Counter(r.verdict for r in rows if r.verdict)),
        "errors": dict(Counter((r.error or {}).get("code") for r in rows if r.error)),
        "smart_retries": _retries(reports),
        "stage_medians_s": _stage_medians(reports),
        "peak_pss_gb": round(mem.peak_gb, 3),
        **cpu.summary(n),
        "_items": [{"n": r.n, "state": r.state, "verdict": r.verdict, "seconds": r.seconds,
                    "started": round(r.started_at - t_submit, 3) if r.started_at else None,
                    "finished": round(r.finished_at - t_submit, 3) if r.finished_at else None} for r in rows],
    }


def run_sync_path(client: requests.Session, base: str, photos: list[tuple[str, bytes]], clients: int) -> dict[str, Any]:
    """(b) ``POST /jewelry/lightbox`` per photo from ``clients`` concurrent clients."""

    def one(photo: tuple[str, bytes]) -> dict[str, Any]:
        name, data = photo
        t0 = time.perf_counter()
        r = client.post(f"{base}/jewelry/lightbox", files={"image": (name, data, "image/jpeg")}, timeout=600)
        seconds = time.perf_counter() - t0
        entry = {"name": name, "status": r.status_code, "seconds": round(seconds, 3), "end": time.perf_counter()}
        if r.status_code == 200:
            entry.update(state="done", verdict=r.headers.get("X-Lumograph-Verdict"))
        else:
            try:
                body = r.json()
            except ValueError:
                body = {}
            code = body.get("code")
            verdict = ((body.get("details") or {}).get("report") or {}).get("verdict")
            entry.update(state="rejected" if code == "quality_rejected" else "error", verdict=verdict, code=code)
        return entry

    with PeakPSS(PSS_INTERVAL_S) as mem, CpuMeter() as cpu, ThreadPoolExecutor(max_workers=clients) as pool:
        t0 = time.perf_counter()
        results = list(pool.map(one, photos))
        wall_s = time.perf_counter() - t0
    n = len(photos)
    return {
        "photos": n,
        "processed": len(results),
        "concurrency": clients,
        "wall_s": round(wall_s, 3),
        "wall_measure": "first request sent to last answer received",
        "photos_per_minute": round(60.0 * n / wall_s, 2),
        "steady_photos_per_minute": _steady_rate([r["end"] for r in results]),
        "latency_s": _p50_p95([r["seconds"] for r in results]),
        "latency_measure": "client-side request time: upload + decode + graph + image download",
        "http_statuses": dict(Counter(str(r["status"]) for r in results)),
        "states": dict(Counter(r["state"] for r in results)),
        "verdicts": dict(Counter(r["verdict"] for r in results if r.get("verdict"))),
        "errors": dict(Counter(r["code"] for r in results if r.get("code"))),
        "smart_retries": 0,
        "peak_pss_gb": round(mem.peak_gb, 3),
        **cpu.summary(n),
        "_items": [{k: v for k, v in r.items() if k != "end"} for r in results],
    }


def run_bulk_path(photo_dir: Path, out_dir: Path, ray_dir: str, concurrency: int) -> dict[str, Any]:
    """(c) ``run_bulk`` (what ``lumograph batch`` runs) on a fresh local Ray of the same
    size as the Serve cluster's; the Ray start is outside the timed block, the actors'
    start-up (building the in-process modules) inside it."""
    import ray

    from lumograph.jobs.bulk import run_bulk
    from lumograph.serve import cluster
    from lumograph.serve.schemas import LightboxOptions

    options = LightboxOptions().model_dump(mode="json")
    t0 = time.perf_counter()
    cluster.start_ray(num_cpus=os.cpu_count() or 2, object_store_mb=256, dashboard=False, temp_dir=ray_dir)
    ray_start_s = time.perf_counter() - t0
    try:
        with PeakPSS(PSS_INTERVAL_S) as mem, CpuMeter() as cpu:
            t0 = time.perf_counter()
            report = run_bulk(str(photo_dir), str(out_dir), "jewelry", options, concurrency=concurrency,
                              progress=False)
            wall_s = time.perf_counter() - t0
    finally:
        ray.shutdown()
    rows = report.get("items") or []
    item_s = [float(r["seconds"]) for r in rows if r.get("seconds") is not None]
    reports = [r.get("report") or {} for r in rows]
    n = len(rows)
    return {
        "photos": report.get("photos_listed", n),
        "processed": report.get("run", {}).get("photos", n),
        "concurrency": concurrency,
        "ray_start_s": round(ray_start_s, 3),
        "wall_s": round(wall_s, 3),
        "wall_measure": "the run_bulk call: listing, Ray Data actor start-up (modules built per actor), "
                        "every photo, the manifest and the report (Ray itself started before)",
        "bulk_reported_wall_s": report.get("wall_s"),
        "first_photo_s": report.get("run", {}).get("first_photo_s"),
        "photos_per_minute": round(60.0 * n / wall_s, 2) if wall_s else 0.0,
        "steady_photos_per_minute": report.get("run", {}).get("steady_photos_per_minute"),
        "latency_s": _p50_p95(item_s),
        "latency_measure": "row `seconds` in the actor: read + decode + graph (+ smart retry) + output write",
        "states": report.get("states", {}),
        "verdicts": report.get("verdicts", {}),
        "errors": report.get("errors", {}),
        "smart_retries": _retries(reports),
        "stage_medians_s": _stage_medians(reports),
        "peak_pss_gb": round(mem.peak_gb, 3),
        **cpu.summary(n),
        "_items": [{"input": r.get("input"), "state": r.get("state"), "verdict": r.get("verdict"),
                    "seconds": r.get("seconds")} for r in rows],
    }


def bulk_concurrency(requested: int | None) -> tuple[int, str]:
    available = psutil.virtual_memory().available / 1e9
    if requested is not None:
        return requested, f"as asked ({available:.1f} GB available)"
    if available >= BULK_MEMORY_FOR_TWO_GB:
        return 2, f"2 actors: {available:.1f} GB available >= {BULK_MEMORY_FOR_TWO_GB} GB"
    return 1, f"1 actor: only {available:.1f} GB available (< {BULK_MEMORY_FOR_TWO_GB} GB for two)"


# --- the run --------------------------------------------------------------------------


def run(json_path: Path, chart_path: Path | None = None, *, n_photos: int = 200,
        sizes: Sequence[tuple[int, int]] = SIZES, bulk_actors: int | None = None,
        keep_dir: bool = False) -> dict[str, Any]:
    """Measure the job API, the synchronous route and the bulk command on the same
    ``n_photos`` photos (see the module docstring); writes ``json_path`` and its chart
    (``chart_path``, default next to the JSON) and returns the result.

    sizes: photo sizes (width, height) cycled over the photos (default 2-4 MP).
    bulk_actors: Ray Data actors for the bulk path; None: 2 when memory allows, else 1.
    keep_dir: keep the temporary folder (photos, job data, bulk outputs).
    """
    from lumograph.serve import cluster

    json_path, chart_path = Path(json_path), Path(chart_path) if chart_path else None
    if n_photos < 1:
        raise ValueError(f"n_photos must be >= 1, got {n_photos}")
    import ray

    if ray.is_initialized():
        # The bench starts and shuts down its own clusters; it must not take over another.
        raise RuntimeError("Ray is already initialised in this process; run the bench in its own process")
    work = Path(tempfile.mkdtemp(prefix="lg-bench-jobs-", dir="/tmp"))
    photo_dir, data_dir, bulk_out = work / "photos", work / "jobs-data", work / "bulk-out"
    data_dir_actors = work / "jobs-data-actors"
    try:
        t0 = time.perf_counter()
        specs = make_photos(photo_dir, n_photos, sizes)
        make_s = time.perf_counter() - t0
        photos = [(s["name"], (photo_dir / s["name"]).read_bytes()) for s in specs]

        port = free_port()
        config = cluster.load_serve_config(cluster.DEFAULT_CONFIG, http_port=port)
        jobs_app = next(app for app in config.applications if app.name == "jobs")
        # The first job phase goes through the module deployments whatever the config says.
        jobs_app.args = {**jobs_app.args, "steps": "modules"}
        client = keyed_session(config, data_dir)
        job_workers = int(jobs_app.args.get("concurrency", 2))
        base = f"http://127.0.0.1:{port}"
        conditions: dict[str, Any] = {"load_average_before": {}, "replicas_after": {}}
        t0 = time.perf_counter()
        cluster.start_ray(num_cpus=os.cpu_count() or 2, object_store_mb=512, dashboard=False,
                          temp_dir=str(work / "ray-serve"), config=config)
        try:
            cluster.deploy_config(config, timeout_s=300)
            # Warm-up, as a running service is: the modules' replicas answer, the jobs
            # replica has started its workers. Not one of the measured photos.
            warm_jpeg = encode_image(ring_photo(*sizes[0], seed=1, with_chain=False).rgb, "jpeg", quality=92)
            warm = client.post(f"{base}/jewelry/lightbox", files={"image": ("warm.jpg", warm_jpeg, "image/jpeg")},
                                 timeout=300)
            if warm.status_code not in (200, 422):
                raise RuntimeError(f"warm-up failed: {warm.status_code} {warm.text[:300]}")
            client.get(f"{base}/v1/healthz", timeout=120).raise_for_status()
            serve_start_s = time.perf_counter() - t0
            conditions["replicas_before"] = _replicas()

            conditions["load_average_before"]["jobs"] = [round(x, 2) for x in os.getloadavg()]
            jobs = run_job_path(client, base, photos, data_dir, job_workers)
            conditions["replicas_after"]["jobs"] = _replicas()
            conditions["load_average_before"]["sync"] = [round(x, 2) for x in os.getloadavg()]
            sync = run_sync_path(client, base, photos, job_workers)
            conditions["replicas_after"]["sync"] = _replicas()
            # The same job API with the jobs replica's actor pool (jobs app arg steps:
            # actors): the Serve app is redeployed with that one arg changed.
            jobs_app.args = {**jobs_app.args, "steps": "actors"}
            client = keyed_session(config, data_dir_actors)
            cluster.deploy_config(config, timeout_s=300)
            _wait_for_steps(client, base, "actors")
            conditions["load_average_before"]["jobs_actors"] = [round(x, 2) for x in os.getloadavg()]
            jobs_actors = run_job_path(client, base, photos, data_dir_actors, job_workers)
            conditions["replicas_after"]["jobs_actors"] = _replicas()
        finally:
            cluster.shutdown()
        conditions["serve_processes_left"] = _wait_for_no_children()

        actors, why = bulk_concurrency(bulk_actors)
        conditions["load_average_before"]["bulk"] = [round(x, 2) for x in os.getloadavg()]
        bulk = run_bulk_path(photo_dir, bulk_out, str(work / "ray-bulk"), actors)
        bulk["concurrency_reason"] = why
        conditions["bulk_processes_left"] = _wait_for_no_children()
    finally:
        if not keep_dir:
            shutil.rmtree(work, ignore_errors=True)

    paths = {"jobs": jobs, "jobs_actors": jobs_actors, "sync": sync, "bulk": bulk}
    items = {name: path.pop("_items") for name, path in paths.items()}

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    pixels = [s["width"] * s["height"] for s in specs]
    ratios = {
        "job_over_bulk_throughput": ratio(jobs["photos_per_minute"], bulk["photos_per_minute"]),
        "job_over_sync_throughput": ratio(jobs["photos_per_minute"], sync["photos_per_minute"]),
        "job_over_bulk_steady_throughput": ratio(jobs["steady_photos_per_minute"], bulk["steady_photos_per_minute"]),
        "job_over_sync_steady_throughput": ratio(jobs["steady_photos_per_minute"], sync["steady_photos_per_minute"]),
        "job_over_bulk_cluster_cpu_s_per_photo": ratio(jobs["cluster_cpu_s_per_photo"],
                                                       bulk["cluster_cpu_s_per_photo"]),
        "job_actors_over_bulk_throughput": ratio(jobs_actors["photos_per_minute"], bulk["photos_per_minute"]),
        "job_actors_over_bulk_steady_throughput": ratio(jobs_actors["steady_photos_per_minute"],
                                                           bulk["steady_photos_per_minute"]),
        "job_actors_over_job_throughput": ratio(jobs_actors["photos_per_minute"], jobs["photos_per_minute"]),
    }
    result = {
        "photos": {
            "n": n_photos,
            "source": "synthetic rings (lumograph.bench.synthetic.ring_photo: seed, chain on every third, "
                      "4 casts, 3 metals), JPEG quality 92",
            "sizes": sorted({f"{w}x{h}" for w, h in sizes}),
            "megapixels": {"min": round(min(pixels) / 1e6, 2), "max": round(max(pixels) / 1e6, 2),
                           "mean": round(float(np.mean(pixels)) / 1e6, 2)},
            "bytes_total": sum(s["bytes"] for s in specs),
            "bytes_mean": round(float(np.mean([s["bytes"] for s in specs]))),
            "made_in_s": round(make_s, 1),
        },
        "vertical": "jewelry",
        "options": "LightboxOptions defaults (amazon, jpeg, soft shadow); jobs and bulk run smart retry "
                   "(their default), the synchronous route does not",
        "order": "jobs (steps: modules), then sync, then jobs_actors (the jobs app redeployed with steps: "
                 "actors) on the same Serve cluster; then bulk on a fresh Ray after the Serve cluster was "
                 "shut down",
        "paths": paths,
        "ratios": ratios,
        "target": {"job_over_bulk_throughput": TARGET_JOB_OVER_BULK},
        "meets_target": bool(ratios["job_over_bulk_throughput"] is not None
                             and ratios["job_over_bulk_throughput"] >= TARGET_JOB_OVER_BULK),
        "meets_target_actors": bool(ratios["job_actors_over_bulk_throughput"] is not None
                                       and ratios["job_actors_over_bulk_throughput"] >= TARGET_JOB_OVER_BULK),
        "conditions": {
            "cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
            "machine": platform.platform(),
            "python": platform.python_version(),
            "ray": _ray_version(),
            "serve_config": "configs/local.yaml (jobs app data_dir in a temporary folder)",
            "serve_start_s": round(serve_start_s, 1),
            "concurrency": {"jobs": f"{job_workers} workers in the JobsIngress replica (jobs app arg concurrency)",
                            "jobs_actors": f"{job_workers + 1} workers in the JobsIngress replica, each item on one "
                                           f"of {job_workers} Ray actors holding in-process cores",
                            "sync": f"{job_workers} concurrent HTTP clients",
                            "bulk": f"{bulk['concurrency']} Ray Data actors ({bulk['concurrency_reason']})"},
            **conditions,
            "cpu_measures": "cpu_utilisation_percent: mean of psutil.cpu_percent samples every 0.5 s "
                            "(system-wide, every core, whoever uses it); cluster_cpu_s: CPU seconds of the "
                            "bench's Ray processes during the phase; other_load_percent: system-wide busy "
                            "share not spent by the bench (another load on a shared machine)",
            "peak_pss_measure": f"sum of PSS over the local Ray cluster's processes, sampled every "
                                f"{PSS_INTERVAL_S} s during the phase",
        },
        "items": items,
    }
    return save_result(result, json_path, chart_path, draw_chart)


def _ray_version() -> str:
    import ray

    return ray.__version__


def draw_chart(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = result["paths"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    x = np.arange(len(PATHS))
    wall = [paths[p]["photos_per_minute"] for p in PATHS]
    steady = [paths[p]["steady_photos_per_minute"] or 0 for p in PATHS]
    ax1.bar(x - 0.2, wall, 0.4, label="wall", color="#47a")
    ax1.bar(x + 0.2, steady, 0.4, label="steady (first to last photo)", color="#9bd")
    target = TARGET_JOB_OVER_BULK * paths["bulk"]["photos_per_minute"]
    ax1.axhline(target, color="r", linestyle="--", label=f"{TARGET_JOB_OVER_BULK:.0%} of bulk (wall)")
    labels = [f"{p}\n(x{paths[p]['concurrency']}, CPU {paths[p]['cpu_utilisation_percent']:.0f}%,\n"
              f"PSS {paths[p]['peak_pss_gb']:.1f} GB)" for p in PATHS]
    ax1.set_xticks(x, labels)
    ax1.set_ylabel("photos per minute")
    ratio = result["ratios"]["job_over_bulk_throughput"]
    ax1.set_title(f"{result['photos']['n']} photos, {result['photos']['megapixels']['min']}-"
                  f"{result['photos']['megapixels']['max']} MP: job/bulk = {ratio}")
    ax1.legend(fontsize=8)
    p50 = [paths[p]["latency_s"]["p50"] or 0 for p in PATHS]
    p95 = [paths[p]["latency_s"]["p95"] or 0 for p in PATHS]
    ax2.bar(x - 0.2, p50, 0.4, label="p50", color="#4a7")
    ax2.bar(x + 0.2, p95, 0.4, label="p95", color="#ad8")
    ax2.set_xticks(x, ["jobs (item s)", "jobs actors (item s)", "sync (request)", "bulk (row s)"])
    ax2.set_ylabel("seconds per photo")
    ax2.set_title("item latency")
    ax2.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
