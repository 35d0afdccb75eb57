"""``lumograph bench load``: the local cluster under open-loop load, then a soak.

1. **Capacity**, per route: closed-loop clients (as many as the graph serves at once, then
   twice that) send photos back to back; capacity is the higher throughput (requests/s).
2. **Open-loop levels**: arrivals at 0.5x, 1x, 2x and 4x of that capacity, Poisson-spaced and
   sent whatever the answers (an asyncio client: a slow service does not slow the offered
   load). Per level: offered and achieved rate, latency p50/p95/p99 of the answers that
   delivered and of all answers, every status and error code, and any 5xx other than the
   intended refusals (503 ``overloaded`` / ``backend_unavailable``, 504 ``deadline_exceeded``).
3. **Soak**: ``soak_s`` at ``soak_load`` x the jewelry capacity, the summed PSS of the
   cluster's processes sampled every few seconds; the slope (MB/min, least squares after the
   first minute) says whether memory grows with time.
4. **Faults**: open-loop load at 0.5x while one replica process of each module the lightbox
   uses is killed (``ray.kill``), one after another: the answers that failed, by status and code;
   then a job is submitted, the whole service (Serve and Ray) is stopped mid-job and started
   again on the same database: the items lost (target 0) and recorded twice.

Photos are synthetic (``bench/synthetic*.py``) at ``megapixels``: the figures are the
service's behaviour under load on this machine, not a 12 MP latency (``bench jewelry``).
The bench tenant's own rate limits are raised out of the way: this measures the service's
capacity and its refusals, not the per-tenant limiter (tested in tests/serve).
"""
from __future__ import annotations

import asyncio
import os
import platform
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from lumograph.bench.keyed import keyed_session
from lumograph.bench.perf_jewelry import BackgroundSampler, pss_by_process_mb
from lumograph.bench.sheets import save_result
from lumograph.bench.synthetic import ring_photo
from lumograph.bench.synthetic_listing import room_photo
from lumograph.models.common.imageio import encode_image

LEVELS = (0.5, 1.0, 2.0, 4.0)
#: Refusals the service means to give under overload; any other 5xx is a defect.
INTENDED_5XX = {(503, "overloaded"), (503, "backend_unavailable"), (504, "deadline_exceeded")}
ROUTES = {"jewelry": "/jewelry/lightbox", "listing": "/listing/enhance"}


class PSSSeries(BackgroundSampler):
    """(seconds, GB) samples of the summed PSS of this process's descendants, and each
    process kind's PSS (MB, by Ray's process title) at the first and the last sample."""

    def __init__(self, interval_s: float = 5.0):
        self.samples: list[tuple[float, float]] = []
        self.first_by_process: dict[str, float] = {}
        self.last_by_process: dict[str, float] = {}
        super().__init__(interval_s)

    def _loop(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            by_process = pss_by_process_mb()
            self.samples.append((time.monotonic() - t0, sum(by_process.values()) / 1e3))
            self.first_by_process = self.first_by_process or by_process
            self.last_by_process = by_process
            self._stop.wait(self.interval_s)

    def growth_mb(self, top: int = 6) -> list[tuple[str, float, float]]:
        """The process kinds whose PSS grew most from the first sample to the last:
        (title, first MB, last MB)."""
        kinds = set(self.first_by_process) | set(self.last_by_process)
        rows = [(k, round(self.first_by_process.get(k, 0.0), 1), round(self.last_by_process.get(k, 0.0), 1))
                for k in kinds]
        return sorted(rows, key=lambda r: r[1] - r[2])[:top]


def photos(megapixels: float) -> dict[str, bytes]:
    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(width * 3 / 4))
    return {"jewelry": encode_image(ring_photo(width, height, seed=3).rgb, "jpeg", quality=90),
            "listing": encode_image(room_photo(width, height, seed=3).rgb, "jpeg", quality=90)}


async def _one(client, url: str, data: bytes, sent_at: float) -> dict[str, Any]:
    try:
        r = await client.post(url, files={"image": ("load.jpg", data, "image/jpeg")})
        code = None
        if r.status_code >= 400:
            try:
                code = r.json().get("code")
            except ValueError:
                code = "not_json"
        return {"status": r.status_code, "code": code, "seconds": time.monotonic() - sent_at,
                "retry_after": r.headers.get("retry-after")}
    except Exception as exc:  # a refused or dropped connection is a result too
        return {"status": 0, "code": type(exc).__name__, "seconds": time.monotonic() - sent_at}


async def _closed_loop(client, url: str, data: bytes, clients: int, n: int) -> float:
    """Requests per second of ``clients`` back-to-back clients over ``n`` requests."""
    remaining = [n]

    async def worker():
        while remaining[0] > 0:
            remaining[0] -= 1
            await _one(client, url, data, time.monotonic())

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return n / (time.monotonic() - t0)


async def _open_loop(client, url: str, data: bytes, rate: float, duration_s: float, seed: int) -> dict:
    rng = random.Random(seed)
    tasks = []
    t0 = time.monotonic()
    next_at = t0
    while next_at - t0 < duration_s:
        delay = next_at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(_one(client, url, data, time.monotonic())))
        next_at += rng.expovariate(rate)
    results = await asyncio.gather(*tasks)
    return summarise(results, rate, time.monotonic() - t0, duration_s)


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def summarise(results: list[dict], rate: float, wall_s: float, window_s: float) -> dict:
    ok = [r["seconds"] for r in results if 200 <= r["status"] < 300]
    every = [r["seconds"] for r in results]
    statuses: dict[str, int] = {}
    codes: dict[str, int] = {}
    for r in results:
        statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
        if r["code"]:
            codes[r["code"]] = codes.get(r["code"], 0) + 1
    unintended = [r for r in results if r["status"] >= 500 and (r["status"], r["code"]) not in INTENDED_5XX]
    refused = [r for r in results if r["status"] in (429, 503)]
    return {
        "offered_rps": round(rate, 3), "sent": len(results), "window_s": window_s, "wall_s": round(wall_s, 2),
        "delivered": len(ok), "achieved_rps": round(len(ok) / wall_s, 3) if wall_s else 0.0,
        "latency_delivered_s": {"p50": _pct(ok, 50), "p95": _pct(ok, 95), "p99": _pct(ok, 99)},
        "latency_all_s": {"p50": _pct(every, 50), "p95": _pct(every, 95), "p99": _pct(every, 99)},
        "refusal_latency_s": {"p50": _pct([r["seconds"] for r in refused], 50),
                              "p99": _pct([r["seconds"] for r in refused], 99)},
        "refusals_with_retry_after": sum(1 for r in refused if r.get("retry_after")),
        "statuses": statuses, "codes": codes, "unintended_5xx": len(unintended),
        "connection_errors": statuses.get("0", 0),
    }


def slope_mb_per_min(samples: list[tuple[float, float]], skip_s: float = 60.0) -> float | None:
    kept = [(t, gb) for t, gb in samples if t >= skip_s]
    if len(kept) < 3:
        return None
    t, gb = np.array(kept).T
    return round(float(np.polyfit(t / 60.0, gb * 1000.0, 1)[0]), 2)


def slopes_over_time(samples: list[tuple[float, float]], window_s: float = 600.0) -> dict:
    """Where growth happens in a soak: the slope in each third, and over its last ``window_s``
    (a warm-up that settles shows a falling slope; a leak keeps it)."""
    if not samples:
        return {}
    end = samples[-1][0]
    thirds = [slope_mb_per_min([s for s in samples if i * end / 3 <= s[0] <= (i + 1) * end / 3], skip_s=0.0)
              for i in range(3)]
    last = slope_mb_per_min([s for s in samples if s[0] >= end - window_s], skip_s=0.0)
    return {"by_third_mb_per_min": thirds, f"last_{int(window_s)}s_mb_per_min": last}


async def _measure(base: str, headers: dict, data: dict[str, bytes], *, levels: tuple[float, ...],
                   level_s: float, capacity_requests: int, soak_s: float, soak_load: float,
                   parallel: int, fault_s: float = 0.0) -> dict:
    import httpx

    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=200)
    async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(300.0), limits=limits) as client:
        out: dict[str, Any] = {"routes": {}}
        for name, route in ROUTES.items():
            url = base + route
            await _one(client, url, data[name], time.monotonic())  # warm-up
            capacity = {str(c): round(await _closed_loop(client, url, data[name], c, capacity_requests), 3)
                        for c in (parallel, 2 * parallel)}
            cap = max(capacity.values())
            runs = {}
            for i, level in enumerate(levels):
                runs[str(level)] = await _open_loop(client, url, data[name], level * cap, level_s, seed=i)
                await asyncio.sleep(3.0)  # let the queue drain between levels
            out["routes"][name] = {"route": route, "capacity_rps_by_clients": capacity, "capacity_rps": cap,
                                   "levels": runs}
        if soak_s > 0:
            cap = out["routes"]["jewelry"]["capacity_rps"]
            with PSSSeries(5.0) as mem:
                soak = await _open_loop(client, base + ROUTES["jewelry"], data["jewelry"], soak_load * cap, soak_s,
                                        seed=99)
            soak["pss_gb"] = {"first": mem.samples[0][1] if mem.samples else None,
                              "last": mem.samples[-1][1] if mem.samples else None,
                              "max": max((gb for _, gb in mem.samples), default=None)}
            soak["pss_slope_mb_per_min"] = slope_mb_per_min(mem.samples)
            soak["pss_slope_over_time"] = slopes_over_time(mem.samples)
            soak["pss_growth_by_process_mb"] = mem.growth_mb()
            soak["pss_samples"] = [(round(t, 1), round(gb, 4)) for t, gb in mem.samples]
            soak["load"] = soak_load
            out["soak"] = soak
        if fault_s > 0:
            cap = out["routes"]["jewelry"]["capacity_rps"]
            out["faults"] = {"replica_kills": await _kill_during_load(client, base, data["jewelry"], 0.5 * cap,
                                                                      fault_s)}
    return out


MODULE_DEPLOYMENTS = ("Classifier", "Segmenter", "ColourGrader", "Compositor", "QualityGate")


def _kill_one_replica(app: str, deployment: str) -> str | None:
    """Kill one replica process of ``app``'s ``deployment`` (``ray.kill``: the process is
    terminated at once, as a crash would); its actor name, or None when there is none."""
    import ray

    found = sorted((a for a in ray.util.list_named_actors(all_namespaces=True)
                    if "REPLICA" in a["name"].upper() and f"{app}#{deployment}#" in a["name"]),
                   key=lambda a: a["name"])
    if not found:
        return None
    ray.kill(ray.get_actor(found[0]["name"], namespace=found[0]["namespace"]), no_restart=True)
    return found[0]["name"]


def _replica_count(app: str, deployment: str) -> int:
    import ray

    return sum(1 for a in ray.util.list_named_actors(all_namespaces=True)
               if "REPLICA" in a["name"].upper() and f"{app}#{deployment}#" in a["name"])


async def _poll_health(client, url: str, polls: list[dict], t0: float, every_s: float = 1.0) -> None:
    """GET ``url`` once a second until cancelled: its status, and the modules it named
    not ok (a 503 names them in ``details.modules``)."""
    while True:
        at = round(time.monotonic() - t0, 1)
        try:
            r = await client.get(url, timeout=30.0)
            entry: dict[str, Any] = {"at_s": at, "status": r.status_code}
            if r.status_code != 200:
                modules = (r.json().get("details") or {}).get("modules") or {}
                entry["not_ok"] = {m: s.get("error") for m, s in modules.items() if not s.get("ok")}
        except Exception as exc:  # noqa: BLE001 - a poll that got no answer is recorded as such
            entry = {"at_s": at, "status": None, "error": type(exc).__name__}
        polls.append(entry)
        await asyncio.sleep(every_s)


async def _kill_during_load(client, base: str, data: bytes, rate: float, duration_s: float) -> dict:
    """Open-loop load on the lightbox while one replica process of each module the lightbox
    uses is killed, one every few seconds; every answer is counted."""
    t0 = time.monotonic()
    load = asyncio.ensure_future(_open_loop(client, base + ROUTES["jewelry"], data, rate, duration_s, seed=7))
    polls: list[dict] = []
    poller = asyncio.ensure_future(_poll_health(client, base + "/jewelry/healthz", polls, t0))
    killed = []
    await asyncio.sleep(min(5.0, duration_s / 6))
    for deployment in MODULE_DEPLOYMENTS:
        left = await asyncio.to_thread(_replica_count, "modules", deployment)
        name = await asyncio.to_thread(_kill_one_replica, "modules", deployment)
        if name:
            killed.append({"deployment": deployment, "replica": name, "replicas_before": left,
                           "at_s": round(time.monotonic() - t0, 1)})
        await asyncio.sleep(min(4.0, duration_s / (2 * len(MODULE_DEPLOYMENTS))))
    summary = await load
    poller.cancel()
    summary["killed"] = killed
    by_status: dict[str, int] = {}
    for poll in polls:
        by_status[str(poll["status"])] = by_status.get(str(poll["status"]), 0) + 1
    summary["healthz"] = {"polls": len(polls), "by_status": by_status,
                          "not_ok": [p for p in polls if p["status"] != 200]}
    summary["failed"] = summary["sent"] - summary["delivered"]
    return summary


def _job_restart(base: str, headers: dict, config, data: bytes, n_items: int, data_dir: Path) -> dict:
    """A job of ``n_items`` photos; once some are done the whole service is stopped (Serve and
    Ray) and started again on the same database; the job must finish with every item
    delivered exactly once."""
    import requests

    from lumograph.jobs.db import make_engine, sqlite_url
    from lumograph.jobs.store import JobStore
    from lumograph.serve import cluster

    session = requests.Session()
    session.headers.update(headers)
    files = [("image", (f"p{i:03d}.jpg", data, "image/jpeg")) for i in range(n_items)]
    answer = session.post(f"{base}/v1/jobs", files=files, data={"vertical": "jewelry"}, timeout=600)
    answer.raise_for_status()
    job_id = answer.json()["id"]
    store = JobStore(make_engine(sqlite_url(data_dir)))
    t_submit = time.monotonic()

    def finished() -> int:
        counts = store.counts(job_id)
        return sum(counts.get(s, 0) for s in ("done", "rejected", "error"))

    while finished() < max(1, n_items // 4) and time.monotonic() < t_submit + 900:
        time.sleep(0.5)
    done_before = finished()
    # Two lightbox requests in flight when the stop begins: a graceful stop lets them finish.
    in_flight: list[dict] = []

    def one_request() -> None:
        t = time.monotonic()
        try:
            r = session.post(f"{base}/jewelry/lightbox", files={"image": ("p.jpg", data, "image/jpeg")}, timeout=300)
            in_flight.append({"status": r.status_code, "code": None if r.ok else r.json().get("code"),
                              "latency_s": round(time.monotonic() - t, 2)})
        except Exception as exc:  # noqa: BLE001 - a dropped connection is a result here
            in_flight.append({"status": None, "error": type(exc).__name__, "latency_s": round(time.monotonic() - t, 2)})

    senders = [threading.Thread(target=one_request) for _ in range(2)]
    for sender in senders:
        sender.start()
    time.sleep(0.5)
    t_stop = time.monotonic()
    cluster.shutdown()
    stop_s = time.monotonic() - t_stop
    for sender in senders:
        sender.join(timeout=300)
    cluster.start_ray(object_store_mb=512, dashboard=False, config=config)
    cluster.deploy_config(config, timeout_s=300)
    restart_s = time.monotonic() - t_stop
    state = "unknown"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        state = session.get(f"{base}/v1/jobs/{job_id}", params={"items": "false"}, timeout=60).json()["state"]
        if state in ("done", "failed", "cancelled"):
            break
        time.sleep(1.0)
    rows = store.item_rows(job_id)
    return {"items": n_items, "finished_before_stop": done_before, "stopped_after_s": round(t_stop - t_submit, 1),
            "restart_s": round(restart_s, 1), "stop_s": round(stop_s, 1),
            "requests_in_flight_at_stop": in_flight,
            "job_state": state, "states": {s: sum(1 for r in rows if r.state == s) for s in {r.state for r in rows}},
            "lost": sum(1 for r in rows if r.state not in ("done", "rejected", "error")),
            "recorded_twice": sum(1 for r in rows if (r.completions or 0) > 1),
            "wall_s": round(time.monotonic() - t_stop, 1)}


def run_bench_load(*, json_out: Path, chart: Path | None = None, megapixels: float = 2.0,
                   levels: tuple[float, ...] = LEVELS, level_s: float = 30.0, capacity_requests: int = 12,
                   soak_s: float = 600.0, soak_load: float = 0.7, faults: bool = True,
                   fault_s: float = 40.0, job_items: int = 24) -> dict:
    from lumograph.serve import cluster

    data = photos(megapixels)
    temp_dir = tempfile.mkdtemp(prefix="lg-bench-load-", dir="/tmp")
    port = cluster.free_port()
    config = cluster.load_serve_config(cluster.DEFAULT_CONFIG, http_port=port)
    session = keyed_session(config, Path(temp_dir) / "data")
    jewelry = next(a for a in config.applications if a.name == "jewelry")
    parallel = int(((jewelry.args or {}).get("shed") or {}).get("parallel", 2))
    t0 = time.perf_counter()
    cluster.start_ray(object_store_mb=512, dashboard=False, temp_dir=temp_dir, config=config)
    try:
        cluster.deploy_config(config, timeout_s=300)
        base = f"http://127.0.0.1:{port}"
        measured = asyncio.run(_measure(base, dict(session.headers), data, levels=levels,
                                        level_s=level_s, capacity_requests=capacity_requests, soak_s=soak_s,
                                        soak_load=soak_load, parallel=parallel, fault_s=fault_s if faults else 0))
        if faults:
            measured["faults"]["job_restart"] = _job_restart(base, dict(session.headers), config, data["jewelry"],
                                                             job_items, Path(temp_dir) / "data")
    finally:
        cluster.shutdown()
    result = {
        "bench": "load", "what": "open-loop load at multiples of the measured capacity, then a soak",
        **measured,
        "conditions": {"machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                       "photo_megapixels": megapixels, "level_s": level_s, "levels": list(levels),
                       "serve_config": "configs/local.yaml", "client": "httpx AsyncClient, Poisson arrivals",
                       "load_average_after": [round(x, 2) for x in os.getloadavg()],
                       "wall_s": round(time.perf_counter() - t0, 1)},
    }
    result["unintended_5xx_total"] = sum(lv["unintended_5xx"] for r in result["routes"].values()
                                         for lv in r["levels"].values()) + result.get("soak", {}).get("unintended_5xx", 0)
    if "faults" in result:
        result["faults"]["unintended_5xx"] = result["faults"]["replica_kills"]["unintended_5xx"]
    return save_result(result, json_out, chart, draw_load)


def draw_load(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    routes = result["routes"]
    fig, axes = plt.subplots(1, len(routes) + (1 if "soak" in result else 0), figsize=(5.5 * (len(routes) + 1), 4.2))
    for ax, (name, r) in zip(axes, routes.items()):
        offered = [lv["offered_rps"] for lv in r["levels"].values()]
        ax.plot(offered, [lv["achieved_rps"] for lv in r["levels"].values()], "o-", label="delivered / s")
        ax.plot(offered, offered, ":", color="grey", label="offered")
        ax.set_xlabel("offered requests / s")
        ax.set_ylabel("requests / s")
        ax2 = ax.twinx()
        for q, style in (("p50", "s--"), ("p99", "^--")):
            ax2.plot(offered, [lv["latency_all_s"][q] for lv in r["levels"].values()], style, label=f"latency {q}")
        ax2.set_ylabel("seconds (all answers)")
        ax.set_title(f"{name}: capacity {r['capacity_rps']:.2f}/s")
        ax.legend(loc="upper left", fontsize=8)
        ax2.legend(loc="lower right", fontsize=8)
    if "soak" in result:
        ax = axes[-1]
        samples = result["soak"]["pss_samples"]
        ax.plot([t / 60 for t, _ in samples], [gb for _, gb in samples])
        ax.set_xlabel("minutes")
        ax.set_ylabel("cluster PSS (GB)")
        ax.set_title(f"soak: {result['soak']['pss_slope_mb_per_min']} MB/min")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
