"""The ingress metrics count what an operator watches: verdicts, billing, failed checks,
backends and latency (recorded on fakes of ``ray.serve.metrics``)."""
from __future__ import annotations

from collections import Counter

import pytest

from lumograph.serve import metrics as ingress_metrics


class FakeMetric:
    seen: Counter = Counter()

    def __init__(self, name, description="", tag_keys=None, boundaries=None):
        self.name = name

    def inc(self, value=1.0, tags=None):
        FakeMetric.seen[(self.name, tuple(sorted((tags or {}).items())))] += value

    def observe(self, value, tags=None):
        FakeMetric.seen[(self.name, tuple(sorted((tags or {}).items())))] += 1


@pytest.fixture
def metrics(monkeypatch):
    from ray.serve import metrics as serve_metrics

    FakeMetric.seen = Counter()
    monkeypatch.setattr(serve_metrics, "Counter", FakeMetric)
    monkeypatch.setattr(serve_metrics, "Histogram", FakeMetric)
    return ingress_metrics.IngressMetrics("listing")


def test_a_listing_report_is_counted(metrics):
    report = {"verdict": "review", "billing": {"tier": "premium", "billable": True},
              "checks": [{"name": "halo", "passed": False, "severity": "review"},
                         {"name": "structure", "passed": True, "severity": "fail"}],
              "backends": {"segmenter": "sam", "grader": "classical"}}
    metrics.record_report(report)
    metrics.record_latency("/listing/enhance", 200, 1.2)
    seen = FakeMetric.seen
    assert seen[("lumograph_verdicts_total", (("verdict", "review"), ("vertical", "listing")))] == 1
    assert seen[("lumograph_billed_total", (("tier", "premium"), ("vertical", "listing")))] == 1
    assert seen[("lumograph_failed_checks_total", (("check", "halo"), ("severity", "review"),
                                                   ("vertical", "listing")))] == 1
    assert not any(k[0] == "lumograph_failed_checks_total" and ("check", "structure") in k[1] for k in seen)
    assert seen[("lumograph_module_backend_total", (("backend", "sam"), ("module", "segmenter")))] == 1
    assert seen[("lumograph_request_latency_ms", (("route", "/listing/enhance"), ("status", "200")))] == 1


def test_a_jewelry_fail_is_not_billed_and_a_broken_report_never_raises(metrics):
    metrics.vertical = "jewelry"
    metrics.record_report({"verdict": "fail", "billable": False,
                           "output_checks": [{"name": "output_border_white", "passed": False, "severity": "fail"}]})
    assert not any(k[0] == "lumograph_billed_total" for k in FakeMetric.seen)
    metrics.record_report({"verdict": "pass", "billable": True})
    assert FakeMetric.seen[("lumograph_billed_total", (("tier", "lightbox"), ("vertical", "jewelry")))] == 1
    metrics.record_report(None)  # a bug upstream must not fail the request
