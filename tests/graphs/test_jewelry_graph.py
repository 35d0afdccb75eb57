"""The jewelry graph hosted in-process: order of steps, the input floor, the outcome."""
import asyncio
from dataclasses import replace

import numpy as np
import pytest

from lumograph.bench.synthetic import ring_photo
from lumograph.graphs.jewelry import run_lightbox
from lumograph.graphs.local import LocalModules
from lumograph.models.common.imageio import decode_image

OPTIONS = {
    "marketplace": "amazon", "size": 1200, "format": "jpeg", "transparent": False, "shadow": "soft",
    "metal": "auto", "fill_ratio": None, "quality": 92, "min_short_side": None,
}


@pytest.fixture(scope="module")
def modules():
    return LocalModules.build()


def _run(modules, rgb, options=OPTIONS, calls=None):
    steps = modules.jewelry_steps()
    if calls is not None:
        def spy(name, fn):
            async def wrapped(*a, **k):
                calls.append(name)
                return await fn(*a, **k)
            return wrapped
        steps = replace(steps, **{f: spy(f, getattr(steps, f)) for f in steps.__dataclass_fields__})
    return asyncio.run(run_lightbox(rgb, dict(options), steps, request_id="t"))


def test_ring_becomes_a_lightbox_image(modules):
    # A plain ring product shot (the chain variant is a segmentation test: ring + chain is
    # not a ring listing).
    photo = ring_photo(1600, 1200, with_chain=False)
    rgb = photo.rgb.copy()
    rgb.setflags(write=False)
    calls = []
    outcome = _run(modules, rgb, calls=calls)
    assert calls == ["locate", "classify", "check_input", "segment", "grade", "compose", "check_output"]
    rep = outcome.report
    assert rep["verdict"] in {"pass", "review"}, rep
    assert rep["billable"] == (rep["verdict"] == "pass")
    out = decode_image(outcome.encoded).rgb
    assert out.shape == (1200, 1200, 3)
    border = np.concatenate([out[0], out[-1], out[:, 0], out[:, -1]])
    assert (border == 255).all()
    assert rep["classification"]["category"] == "ring"
    assert set(rep["backends"].values()) == {"classical"}
    assert rep["timings_s"]["total"] >= rep["timings_s"]["segment"] > 0
    # The ring's hole stays background: the canvas centre is (near) white.
    c = out[600, 600].astype(int)
    assert c.min() > 225, c


def test_input_floor_stops_before_expensive_steps(modules):
    small = ring_photo(800, 600).rgb
    calls = []
    outcome = _run(modules, small, calls=calls)
    assert outcome.encoded is None
    assert outcome.report["verdict"] == "fail" and outcome.report["billable"] is False
    assert "segment" not in calls and "compose" not in calls
    failed = [c for c in outcome.report["input_checks"] if not c["passed"]]
    assert any(c["name"] == "input_resolution" and c["value"] == 600 for c in failed)


def test_min_short_side_override_lets_a_smaller_photo_through(modules):
    small = ring_photo(800, 600).rgb
    outcome = _run(modules, small, options=OPTIONS | {"min_short_side": 500})
    assert outcome.report["verdict"] != "fail" or not any(
        c["name"] == "input_resolution" and not c["passed"] for c in outcome.report["input_checks"]
    )


def test_same_input_same_output(modules):
    rgb = ring_photo(1600, 1200, with_chain=False, seed=3).rgb
    a = _run(modules, rgb)
    b = _run(modules, rgb)
    # Compare delivered images: two refusals (None == None) would prove nothing.
    assert a.report["verdict"] != "fail" and a.encoded is not None, a.report
    assert a.encoded == b.encoded


def test_an_output_that_fails_qa_is_never_returned(modules):
    steps = modules.jewelry_steps()
    seen = {}

    async def failing_output_qa(encoded, fmt, marketplace, prior_checks, cutout):
        seen["encoded"] = encoded
        check = {"name": "output_border_white", "passed": False, "severity": "fail",
                 "value": 12, "limit": 0, "message": "12 border pixels are not pure white"}
        return {"verdict": "fail", "score": 0.5, "output_checks": [check], "backend": "classical"}

    rgb = ring_photo(1600, 1200, with_chain=False).rgb
    outcome = asyncio.run(run_lightbox(rgb, dict(OPTIONS), replace(steps, check_output=failing_output_qa),
                                       request_id="t"))
    assert seen["encoded"]  # the graph did compose an image...
    assert outcome.encoded is None and outcome.media_type is None  # ...and withheld it
    assert outcome.report["verdict"] == "fail" and outcome.report["billable"] is False
    assert outcome.report["output_checks"][0]["name"] == "output_border_white"
