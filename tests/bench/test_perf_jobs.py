"""``lumograph bench jobs`` at 4 small photos: the same photos through the job API, the
synchronous route and the bulk command; the JSON holds every path's figures and each path
processed every photo. Timings are not asserted, only the report's shape.

The bench starts and shuts down its own Ray clusters, so it runs in a child process: a
Serve test cluster of this pytest session is never taken over or shut down."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lumograph.bench import perf_jobs
from lumograph.serve.cli import build_parser

pytestmark = pytest.mark.serve

N = 4
PATH_KEYS = {"photos", "processed", "concurrency", "wall_s", "photos_per_minute", "steady_photos_per_minute",
             "latency_s", "states", "verdicts", "peak_pss_gb", "cpu_utilisation_percent", "cluster_cpu_s",
             "cluster_cpu_s_per_photo", "cluster_cpu_s_by_process"}
RATIOS = {"job_over_bulk_throughput", "job_over_sync_throughput", "job_over_bulk_steady_throughput",
          "job_actors_over_bulk_throughput"}


@pytest.fixture(scope="module")
def small_bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-jobs")
    out = root / "jobs.json"
    code = ("from pathlib import Path\n"
            "from lumograph.bench.perf_jobs import run\n"
            f"run(Path({str(out)!r}), n_photos={N}, sizes=((800, 600), (960, 720)))\n")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=420, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    return root, json.loads(out.read_text())


def test_every_path_processed_every_photo(small_bench):
    _, result = small_bench
    assert result["photos"]["n"] == N
    assert set(result["paths"]) == set(perf_jobs.PATHS)
    for name, path in result["paths"].items():
        assert PATH_KEYS <= set(path), (name, PATH_KEYS - set(path))
        assert path["photos"] == N and path["processed"] == N, (name, path["states"])
        assert sum(path["states"].values()) == N, (name, path["states"])
        assert path["photos_per_minute"] > 0 and path["wall_s"] > 0
        assert path["latency_s"]["p50"] <= path["latency_s"]["p95"]
        assert 0 < path["peak_pss_gb"] < 24 and path["cluster_cpu_s"] > 0
        assert len(result["items"][name]) == N
    jobs = result["paths"]["jobs"]
    assert jobs["job_state"] in ("done", "failed") and jobs["concurrency"] == 2
    assert result["paths"]["jobs_actors"]["job_state"] in ("done", "failed")
    assert result["paths"]["sync"]["concurrency"] == 2
    assert result["paths"]["bulk"]["concurrency"] in (1, 2) and result["paths"]["bulk"]["concurrency_reason"]


def test_ratios_conditions_and_chart(small_bench):
    root, result = small_bench
    assert RATIOS <= set(result["ratios"]) and result["ratios"]["job_over_bulk_throughput"] > 0
    assert result["target"]["job_over_bulk_throughput"] == perf_jobs.TARGET_JOB_OVER_BULK
    assert isinstance(result["meets_target"], bool)
    conditions = result["conditions"]
    assert conditions["cores"] >= 1 and set(conditions["concurrency"]) == set(perf_jobs.PATHS)
    assert conditions["serve_processes_left"] == 0
    assert (root / "jobs.png").stat().st_size > 1000


def test_cli_offers_bench_jobs_with_a_photo_count():
    args = build_parser().parse_args(["bench", "jobs", "--json", "x.json", "--photos", "7"])
    assert args.what == "jobs" and args.photos == 7
    assert build_parser().parse_args(["bench", "jobs", "--json", "x.json"]).photos == 200
