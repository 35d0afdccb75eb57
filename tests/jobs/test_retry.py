"""Smart retry: the plan from failing checks (pure), and one real retry through the graph
that turns a fail into a pass and keeps both attempts in the report."""
from __future__ import annotations

import asyncio

from lumograph.jobs.retry import better, plan_retry
from lumograph.jobs.runner import PhotoRunner
from lumograph.serve.schemas import EnhanceOptions, LightboxOptions
from tests.jobs.conftest import jpeg


def check(name, severity="fail", value=None):
    return {"name": name, "passed": False, "severity": severity, "value": value}


def lightbox(**kw):
    return LightboxOptions(**kw).model_dump(mode="json")


def test_fill_under_the_marketplace_minimum_is_retried_at_its_default():
    plan = plan_retry("jewelry", lightbox(marketplace="amazon", fill_ratio=0.8),
                      {"output_checks": [check("output_fill_ratio", value=0.81)]})
    assert plan.changes == {"fill_ratio": 0.88} and plan.options["fill_ratio"] == 0.88
    assert "0.85" in plan.reasons[0]


def test_a_grey_border_gets_a_smaller_shadow_then_none():
    report = {"output_checks": [check("output_border_white")]}
    assert plan_retry("jewelry", lightbox(shadow="drop"), report).changes == {"shadow": "contact"}
    assert plan_retry("jewelry", lightbox(shadow="contact"), report).changes == {"shadow": "none"}
    assert plan_retry("jewelry", lightbox(shadow="none"), report) is None


def test_an_oversize_file_gets_a_lower_quality_and_png_is_left_alone():
    report = {"output_checks": [check("output_file_size")]}
    assert plan_retry("jewelry", lightbox(quality=92), report).changes == {"quality": 80}
    assert plan_retry("jewelry", lightbox(format="png"), report) is None


def test_defects_of_the_photo_are_not_retried():
    for name in ("input_magnification", "cutout_single_product", "output_text_watermark", "cutout_complete"):
        assert plan_retry("jewelry", lightbox(), {"input_checks": [check(name)]}) is None
    assert plan_retry("jewelry", lightbox(), {"output_checks": [{"name": "output_fill_ratio", "passed": True,
                                                                 "severity": "fail"}]}) is None


def test_a_listing_sky_halo_drops_only_the_sky():
    options = EnhanceOptions().model_dump(mode="json")
    report = {"checks": [check("listing_sky_halo", "review")],
              "modules_applied": ["verticals", "sky_replacement", "colour_grade"]}
    assert plan_retry("listing", options, report).changes == {"modules": ["verticals", "colour_grade"]}


def test_better_prefers_the_verdict_then_the_score():
    assert better({"verdict": "fail", "score": 0.9}, {"verdict": "review", "score": 0.1})
    assert not better({"verdict": "pass", "score": 0.5}, {"verdict": "review", "score": 0.99})
    assert better({"verdict": "review", "score": 0.5}, {"verdict": "review", "score": 0.6})


def test_a_retry_through_the_graph_delivers_the_pass_and_keeps_both_attempts(modules):
    runner = PhotoRunner("jewelry", modules.jewelry_steps())
    result = asyncio.run(runner.run(jpeg(0), "ring.jpg", lightbox(fill_ratio=0.8), request_id="t"))
    assert result.state == "done" and result.verdict == "pass" and result.billable
    report = result.report
    assert report["delivered_attempt"] == 1 and report["retry"]["changes"] == {"fill_ratio": 0.88}
    first, second = report["attempts"]
    assert first["verdict"] == "fail" and first["failed_checks"] == ["output_fill_ratio"]
    assert second["verdict"] == "pass" and second["options"]["fill_ratio"] == 0.88
    without = PhotoRunner("jewelry", modules.jewelry_steps(), smart_retry=False)
    plain = asyncio.run(without.run(jpeg(0), "ring.jpg", lightbox(fill_ratio=0.8), request_id="t"))
    assert plain.state == "rejected" and "attempts" not in plain.report
