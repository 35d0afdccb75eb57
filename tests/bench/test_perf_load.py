"""``lumograph bench load`` at a toy size: capacity, two open-loop levels, a short soak, replica
kills under load and a whole-service restart mid-job on the local cluster; the JSON holds
every figure the note quotes, no 5xx other than the intended refusals and no job item lost.
Timings are not asserted. Runs in a child process (its own Ray)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lumograph.bench.perf_load import INTENDED_5XX, slope_mb_per_min, summarise

pytestmark = pytest.mark.serve


def test_summary_counts_statuses_codes_and_unintended_5xx():
    results = [{"status": 200, "code": None, "seconds": 1.0}, {"status": 200, "code": None, "seconds": 3.0},
               {"status": 503, "code": "overloaded", "seconds": 0.01, "retry_after": "2"},
               {"status": 500, "code": "internal_error", "seconds": 0.5},
               {"status": 503, "code": "not_json", "seconds": 0.2}]
    s = summarise(results, rate=2.0, wall_s=2.0, window_s=2.0)
    assert s["delivered"] == 2 and s["achieved_rps"] == 1.0 and s["unintended_5xx"] == 2
    assert s["statuses"] == {"200": 2, "503": 2, "500": 1} and s["codes"]["overloaded"] == 1
    assert s["refusals_with_retry_after"] == 1 and (503, "overloaded") in INTENDED_5XX
    assert slope_mb_per_min([(60 + 6 * i, 1.0 + 0.001 * i) for i in range(20)]) == pytest.approx(10.0)


def test_a_toy_load_run_writes_every_figure(tmp_path):
    out = tmp_path / "load.json"
    code = ("from pathlib import Path\n"
            "from lumograph.bench.perf_load import run_bench_load\n"
            f"run_bench_load(json_out=Path({str(out)!r}), megapixels=2.0, levels=(1.0, 4.0), level_s=4.0,"
            " capacity_requests=3, soak_s=20.0, fault_s=10.0, job_items=4)\n")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=720, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())
    assert set(result["routes"]) == {"jewelry", "listing"}
    for route in result["routes"].values():
        assert route["capacity_rps"] > 0 and set(route["levels"]) == {"1.0", "4.0"}
        for level in route["levels"].values():
            assert level["sent"] > 0 and level["delivered"] > 0, level
            assert level["unintended_5xx"] == 0 and level["connection_errors"] == 0, level
    assert result["soak"]["pss_samples"] and result["soak"]["pss_growth_by_process_mb"]
    assert result["unintended_5xx_total"] == 0
    kills = result["faults"]["replica_kills"]
    assert {k["deployment"] for k in kills["killed"]} == {"Classifier", "Segmenter", "ColourGrader", "Compositor",
                                                           "QualityGate"}
    assert kills["sent"] > 0 and "failed" in kills
    assert kills["healthz"]["polls"] > 0 and sum(kills["healthz"]["by_status"].values()) == kills["healthz"]["polls"]
    restart = result["faults"]["job_restart"]
    assert restart["job_state"] in ("done", "failed") and restart["lost"] == 0 and restart["recorded_twice"] == 0
    # A graceful stop: the requests in flight when it began were answered, not cut.
    assert [r["status"] for r in restart["requests_in_flight_at_stop"]] == [200, 200], restart
    assert (tmp_path / "load.png").stat().st_size > 0
