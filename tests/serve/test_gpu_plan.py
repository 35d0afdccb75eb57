"""configs/gpu.yaml on a local Ray with one LOGICAL GPU: every GPU deployment schedules,
the fractions pack the way the plan says, and an oversubscribed plan is refused before
Serve is asked to place it (Ray itself would wait forever).

The deploy runs in a subprocess (tests/serve/_gpu_plan_probe.py) so it has its own Ray
instance and never meets the session cluster of the other Serve tests.
"""

import pytest

from tests.serve.probes import run_probe

EXPECTED_GPU = {"Segmenter": 0.25, "Inpainter": 0.5, "WindowDetector": 0.125, "Classifier": 0.125}

pytestmark = [pytest.mark.serve, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def probe() -> dict:
    return run_probe("tests.serve._gpu_plan_probe", timeout_s=240, drop_env=("CUDA_VISIBLE_DEVICES",))


def test_oversubscribed_plan_is_refused_on_the_live_cluster(probe):
    assert probe["cluster_resources"]["GPU"] == 1.0
    assert probe["refused"] and "modules/Inpainter" in probe["refused"]


def test_every_deployment_runs(probe):
    statuses = probe["deployments"]
    assert statuses, probe
    for name, d in statuses.items():
        assert d["status"].endswith("HEALTHY"), (name, d)
        assert d["replicas"].get("RUNNING", 0) >= 1, (name, d)


def test_gpu_replicas_share_the_one_gpu_as_planned(probe):
    (gpu0,) = probe["plan"]["gpu_packing"]
    assert {p["deployment"]: p["num_gpus"] for p in gpu0} == {f"modules/{n}": g for n, g in EXPECTED_GPU.items()}
    for name in EXPECTED_GPU:
        placement = probe["placement"][name]
        assert placement["gpu_ids"] == ["0"], (name, placement)
        assert placement["cuda_visible_devices"] == "0", (name, placement)
        assert placement["backend"] == "classical"
    # 0.25 + 0.5 + 0.125 + 0.125 placed: nothing of the GPU is left.
    assert probe["available_resources"].get("GPU", 0.0) == pytest.approx(0.0, abs=1e-6)
