"""Deploy-time guarantees that need no cluster: module methods run in the replica's thread
pool (plain ``def``), every ``user_config`` is validated with a message quoting the key,
app builders take typed args, and only public Ray APIs are used."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from lumograph.deployments import (
    classifier,
    compositor,
    grader,
    inpainter,
    qa,
    segmenter,
    window_detector,
)
from lumograph.deployments.user_config import USER_CONFIGS, validate_user_config
from lumograph.serve import cluster
from lumograph.serve.apps import jewelry_app, listing_app
from lumograph.serve.schemas import JewelryAppArgs

ROOT = Path(__file__).resolve().parents[2]
MODULE_DEPLOYMENTS = [classifier.Classifier, compositor.Compositor, grader.ColourGrader, inpainter.Inpainter,
                      qa.QualityGate, segmenter.Segmenter, window_detector.WindowDetector]


@pytest.mark.parametrize("deployment", MODULE_DEPLOYMENTS, ids=lambda d: d.name)
def test_module_methods_are_plain_def_so_serve_runs_them_in_its_thread_pool(deployment):
    cls = deployment.func_or_class
    methods = {n: m for n, m in inspect.getmembers(cls, inspect.isfunction) if not n.startswith("_")}
    assert "backend" in methods and len(methods) > 2
    blocking_the_loop = [n for n, m in methods.items() if inspect.iscoroutinefunction(m)]
    assert not blocking_the_loop, f"{deployment.name}: async def without an await blocks the replica's loop"
    assert USER_CONFIGS[deployment.name].module == cls.module


def test_every_shipped_user_config_validates():
    for name in ("local.yaml", "gpu.yaml"):
        config = cluster.load_serve_config(name)
        for app in config.applications:
            for dep in app.deployments:
                if dep.name in USER_CONFIGS:
                    validate_user_config(dep.name, dep.user_config)


@pytest.mark.parametrize("user_config, quoted", [
    ({"backend": "auto", "target_long_sid": 2048}, "target_long_sid"),
    ({"backend": "samm"}, "'samm'"),
    ({"target_long_side": 99999}, "target_long_side"),
])
def test_a_bad_user_config_fails_quoting_the_key(user_config, quoted):
    with pytest.raises(ValueError) as info:
        validate_user_config("Segmenter", user_config)
    assert quoted in str(info.value) and "Segmenter" in str(info.value)


def test_deploy_refuses_a_typo_before_anything_is_deployed():
    raw = yaml.safe_load((ROOT / "configs" / "local.yaml").read_text())
    for app in raw["applications"]:
        for dep in app.get("deployments", []):
            if dep["name"] == "QualityGate":
                dep["user_config"]["min_short_sde"] = 800
    with pytest.raises(ValueError, match="min_short_sde"):
        cluster.deploy_config(ServeDeploySchema.model_validate(raw), check_resources=False)


def test_app_builders_take_typed_args():
    with pytest.raises(Exception, match="max_pixel"):
        jewelry_app({"max_pixel": 10})
    with pytest.raises(Exception, match="bundle_concurrency"):
        listing_app({"bundle_concurrency": 0})
    assert jewelry_app(JewelryAppArgs(max_pixels=1_000_000)) is not None


def test_only_public_ray_apis():
    offenders = []
    for folder in ("serve", "graphs", "deployments", "models", "bench", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            if re.search(r"ray\.serve\._private|from ray\._private|import ray\._private", path.read_text()):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
