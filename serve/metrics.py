"""Product metrics each ingress exports through Ray Serve (``ray.serve.metrics``), beside
Serve's own ``ray_serve_*`` series, on every node's metrics port (Prometheus text at
``http://<node>:<metrics-export-port>/metrics``; Ray prefixes each name with ``ray_``).
Serve tags each series with its deployment, replica and application.

* ``lumograph_verdicts_total{vertical, verdict}``: outcomes of the QA gate;
* ``lumograph_billed_total{vertical, tier}``: billable results by tier (jewelry: ``pass``);
* ``lumograph_failed_checks_total{vertical, check, severity}``: which QA checks fail;
* ``lumograph_module_backend_total{module, backend}``: which backend served each module;
* ``lumograph_request_latency_ms{route, status}``: wall time of each request at the ingress.
"""
from __future__ import annotations

#: Latency buckets (ms): interactive calls to 12 MP premium edits and bundles.
LATENCY_BOUNDARIES_MS = [50, 100, 250, 500, 1000, 1500, 2000, 3000, 5000, 8000, 15000, 30000, 60000, 120000]


class IngressMetrics:
    """Built in each ingress replica (Ray must be running); ``record_*`` never raise."""

    def __init__(self, vertical: str) -> None:
        from ray.serve import metrics

        self.vertical = vertical
        self.verdicts = metrics.Counter("lumograph_verdicts_total", "QA verdicts by vertical.",
                                        tag_keys=("vertical", "verdict"))
        self.billed = metrics.Counter("lumograph_billed_total", "Billable results by vertical and tier.",
                                      tag_keys=("vertical", "tier"))
        self.failed_checks = metrics.Counter("lumograph_failed_checks_total", "Failed QA checks by name.",
                                             tag_keys=("vertical", "check", "severity"))
        self.backends = metrics.Counter("lumograph_module_backend_total", "Backend that served each module.",
                                        tag_keys=("module", "backend"))
        self.latency = metrics.Histogram("lumograph_request_latency_ms", "Ingress wall time per request.",
                                         boundaries=LATENCY_BOUNDARIES_MS, tag_keys=("route", "status"))

    def record_report(self, report: dict) -> None:
        """Count one graph report (a lightbox or listing ``report`` dict)."""
        try:
            verdict = str(report.get("verdict", "unknown"))
            self.verdicts.inc(tags={"vertical": self.vertical, "verdict": verdict})
            if "billing" in report:  # listing: the tier that covers what ran
                bill = report["billing"]
                tier = bill.get("tier") if bill.get("billable") else None
            else:  # jewelry: a pass is billed
                tier = "lightbox" if report.get("billable") else None
            if tier and tier != "none":
                self.billed.inc(tags={"vertical": self.vertical, "tier": str(tier)})
            checks = report.get("checks") or [*report.get("input_checks", []), *report.get("output_checks", [])]
            for check in checks:
                if not check.get("passed", True) and check.get("severity") != "info":
                    self.failed_checks.inc(tags={"vertical": self.vertical, "check": str(check.get("name")),
                                                 "severity": str(check.get("severity"))})
            for module, backend in (report.get("backends") or {}).items():
                self.backends.inc(tags={"module": str(module), "backend": str(backend)})
        except Exception:  # noqa: BLE001 - metrics must never fail a request
            pass

    def record_latency(self, route: str, status: int, seconds: float) -> None:
        try:
            self.latency.observe(seconds * 1000.0, tags={"route": route, "status": str(status)})
        except Exception:  # noqa: BLE001
            pass
