"""Running a Serve scenario in its own interpreter (its own Ray instance, apart from the
session cluster of the other Serve tests) and reading back its one ``PROBE_RESULT=`` line."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_probe(module: str, *, timeout_s: float, drop_env: tuple[str, ...] = ()) -> dict:
    """Run ``python -m module`` from the repository root and return its JSON result.

    drop_env: variables removed first (a stale ``RAY_ADDRESS`` would attach the probe to
    another cluster; an empty ``CUDA_VISIBLE_DEVICES`` makes Ray refuse logical GPUs).
    """
    env = dict(os.environ)
    for key in ("RAY_ADDRESS", "RAY_SERVE_THROUGHPUT_OPTIMIZED", *drop_env):
        env.pop(key, None)
    # The probes live under tests/, which is not an installed package.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, check=False,
                          capture_output=True, text=True, timeout=timeout_s)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE_RESULT=")]
    assert proc.returncode == 0 and lines, f"probe failed (rc {proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(lines[-1].removeprefix("PROBE_RESULT="))
