"""A module's health is its core really running: the probe photo through the core's
ordinary path, cached per replica; Serve replaces a replica whose core breaks, not one
that is merely configured without weights; ``/healthz`` is 200 only when every module
answered ok from some live replica."""
import asyncio

import pytest
from ray.exceptions import ActorDiedError

from lumograph.deployments import (
    _replica,
    classifier,
    compositor,
    directory,
    grader,
    inpainter,
    qa,
    segmenter,
    window_detector,
)
from lumograph.models.common.errors import BackendUnavailable

DEPLOYMENTS = [classifier.Classifier, segmenter.Segmenter, window_detector.WindowDetector,
               inpainter.Inpainter, grader.ColourGrader, compositor.Compositor, qa.QualityGate]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d.name)
def test_every_module_runs_its_probe_through_the_core(deployment):
    replica = deployment.func_or_class()
    state = replica.health()
    assert state["ok"] is True and state["backend"] == "classical" and state["probe_ms"] >= 0
    replica.check_health()


def test_the_probe_is_cached_and_a_broken_core_gets_the_replica_replaced(monkeypatch):
    replica = classifier.Classifier.func_or_class()
    calls = []

    def broken(rgb, room_hint=None):
        calls.append(rgb.shape)
        raise RuntimeError("CUDA error: device-side assert")

    replica.core.classify_scene = broken
    first = replica.health()
    assert first["ok"] is False and "device-side assert" in first["error"] and calls
    assert replica.health()["ok"] is False and len(calls) == 1  # cached, not probed again
    with pytest.raises(RuntimeError, match="health probe failed"):
        replica.check_health()
    monkeypatch.setattr(_replica, "HEALTH_TTL_S", 0.0)
    replica.core.classify_scene = lambda rgb, room_hint=None: {"scene": "interior"}
    assert replica.health()["ok"] is True  # probed afresh once the answer is stale


def test_a_typed_error_is_reported_but_restarts_nothing():
    replica = inpainter.Inpainter.func_or_class()

    def no_weights(rgb):
        raise BackendUnavailable("weights missing at /models/inpainter", code="weights_missing")

    replica.core.remove_glare = no_weights
    state = replica.health()
    assert state["ok"] is False and state["expected"] is True
    replica.check_health()  # a restart cannot bring weights: no exception


class FakeHandle:
    """``handle.health.remote()`` answering from a script of outcomes."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.health = self

    def remote(self):
        outcome = self.outcomes.pop(0)

        async def answer():
            if isinstance(outcome, BaseException):
                raise outcome
            if outcome == "hang":
                await asyncio.sleep(60)
            return outcome
        return answer()


def test_the_directory_asks_again_when_a_replica_dies_and_never_raises(monkeypatch):
    monkeypatch.setattr(directory, "HEALTH_TIMEOUT_S", 0.2)
    ok = {"ok": True, "backend": "classical"}
    d = directory.ModuleDirectory.func_or_class(
        classifier=FakeHandle(ActorDiedError(), ok),          # one replica died: the other answers
        segmenter=FakeHandle(ActorDiedError(), ActorDiedError()),  # none left
        grader=FakeHandle("hang"))
    got = asyncio.run(d.health())
    assert got["classifier"] == ok
    assert got["segmenter"]["ok"] is False and "ActorDied" in got["segmenter"]["error"]
    assert got["grader"]["ok"] is False and "no answer" in got["grader"]["error"]
