"""Every learned backend through its deployment and through both graphs over HTTP on a
local Ray cluster: configs/local.yaml with ``backend: auto`` over tiny random-weight
models (tests.tiny_models). Random weights say nothing about quality; this proves the
loading, routing and reporting, end to end, offline.

The cluster runs in a subprocess (tests/serve/_learned_http_probe.py) so it never meets
the session cluster of the other Serve tests.
"""

import pytest

from lumograph.models.common.backends import MODULES, learned_backends
from tests.serve.probes import run_probe

pytestmark = [pytest.mark.serve, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def probe() -> dict:
    return run_probe("tests.serve._learned_http_probe", timeout_s=400)


def test_auto_picks_every_learned_backend_whose_weights_are_there(probe):
    health = probe["healthz"]
    for module in MODULES:
        backends = learned_backends(module)
        if backends:
            assert health[module]["backend"] in backends, (module, health[module])
            assert "weights found" in health[module]["reason"]


def test_listing_graph_runs_on_the_learned_backends(probe):
    enhance = probe["enhance"]
    assert enhance["status"] == 200, enhance
    assert enhance["backends"]["classifier"] == "clip"
    assert enhance["backends"]["window_detector"] == "yolo"
    assert enhance["windows"] > 0  # the tiny detector's biased head reports boxes
    if "window_pull" in enhance["modules_run"]:  # YOLO's boxes feed SAM for glass masks
        assert enhance["glass_masks"]["backend"] == "sam"


def test_listing_sky_is_generated_by_the_inpainter_deployment(probe):
    exterior = probe["exterior"]
    assert exterior["status"] in (200, 422), exterior  # random weights may fail QA, never a 500
    assert exterior["sky_ran"] is True
    assert exterior["sky_backend"] == "diffusers" and exterior["sky_source"] == "learned"
    assert exterior["disclosures"] == ["Sky digitally replaced."]


def test_staging_runs_on_the_diffusers_backend(probe):
    stage = probe["stage"]
    assert stage["status"] == 200, stage
    assert stage["backend"] == "diffusers" and "Virtually staged" in stage["disclosure"]
    assert stage["size"] == [640, 480]


def test_jewelry_graph_answers_on_the_learned_backends(probe):
    lightbox = probe["lightbox"]
    assert lightbox["status"] in (200, 422), lightbox  # random weights may fail QA, never a 500
    assert lightbox["backends"]["classifier"] == "clip"
