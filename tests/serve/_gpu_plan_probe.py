"""Deploy configs/gpu.yaml on a local Ray with one LOGICAL GPU and print what got placed.

Run by tests/serve/test_gpu_plan.py in its own interpreter (its own Ray instance, apart
from the session cluster of the other Serve tests). Prints one line ``PROBE_RESULT=<json>``.

Changes to the config, all made here: every backend is forced to ``classical`` (no
weights on this machine), the inpainter starts at one replica so its 0.5 GPU is placed,
the HTTP port is a free one, and the ``modules`` app is built by ``modules_app`` below:
the same deployments with the same names and options, each with one extra method,
``placement()``, that answers from inside the replica which GPU Ray gave it.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from lumograph.serve.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
GPU_DEPLOYMENTS = ("Segmenter", "Inpainter", "WindowDetector", "Classifier")


async def _placement(self) -> dict:
    import ray

    return {
        "gpu_ids": [str(i) for i in ray.get_runtime_context().get_accelerator_ids().get("GPU", [])],
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "backend": self.core.selection.name,
    }


def modules_app(args=None, deployment_options=None):
    """``lumograph.serve.apps.modules_app`` with ``placement()`` added to each module."""
    from ray import serve

    from lumograph.serve import apps

    def probed(deployment):
        cls = deployment.func_or_class
        return serve.deployment(name=deployment.name)(type(cls.__name__, (cls,), {"placement": _placement}))

    return apps.modules_app(args, deployment_options, wrap=probed)


def _probe_config() -> dict:
    import yaml

    raw = yaml.safe_load((ROOT / "configs" / "gpu.yaml").read_text())
    raw["http_options"]["port"] = free_port()
    for app in raw["applications"]:
        if app["name"] == "modules":
            app["import_path"] = "tests.serve._gpu_plan_probe:modules_app"
        for d in app.get("deployments", []):
            if "user_config" in d:
                d["user_config"]["backend"] = "classical"
            if d["name"] == "Inpainter":
                d["autoscaling_config"]["min_replicas"] = 1
    return raw


def main() -> int:
    import copy

    from ray.serve.schema import ServeDeploySchema

    from lumograph.serve import cluster
    from lumograph.serve.plan import PlanDoesNotFit, check_plan

    raw = _probe_config()
    config = ServeDeploySchema.model_validate(raw)
    num_gpus, num_cpus = 1, 8
    plan = check_plan(config, num_gpus=num_gpus, num_cpus=num_cpus).to_dict()

    oversubscribed = copy.deepcopy(raw)
    for d in oversubscribed["applications"][0]["deployments"]:
        if d["name"] == "Inpainter":
            d["ray_actor_options"]["num_gpus"] = 0.75
            d["autoscaling_config"]["max_replicas"] = 2

    result: dict = {"plan": plan}
    temp_dir = tempfile.mkdtemp(prefix="lg-gpu-", dir="/tmp")
    t0 = time.monotonic()
    try:
        cluster.start_ray(num_cpus=num_cpus, num_gpus=num_gpus, object_store_mb=150, temp_dir=temp_dir)
        import ray
        from ray import serve

        result["cluster_resources"] = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
        # The check runs against the live cluster and refuses before Serve would hang.
        try:
            cluster.deploy_config(ServeDeploySchema.model_validate(oversubscribed), timeout_s=30)
            result["refused"] = None
        except PlanDoesNotFit as err:
            result["refused"] = str(err)
        t1 = time.monotonic()
        cluster.deploy_config(config, timeout_s=150)
        result["deploy_s"] = round(time.monotonic() - t1, 1)
        status = serve.status()
        result["deployments"] = {
            f"{app_name}/{name}": {"status": str(d.status), "replicas": {str(getattr(k, "value", k)): v for k, v in d.replica_states.items()}}
            for app_name, app in status.applications.items() for name, d in app.deployments.items()
        }
        result["placement"] = {
            name: serve.get_deployment_handle(name, app_name="modules").placement.remote().result(timeout_s=60)
            for name in GPU_DEPLOYMENTS
        }
        result["available_resources"] = {k: v for k, v in ray.available_resources().items() if k in ("CPU", "GPU")}
    finally:
        cluster.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
    result["total_s"] = round(time.monotonic() - t0, 1)
    print("PROBE_RESULT=" + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
