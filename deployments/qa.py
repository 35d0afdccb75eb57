"""QA deployment: the jewelry input floor, marketplace compliance and the verdict; the
listing output checks."""
from __future__ import annotations

from ray import serve

from lumograph.deployments._replica import ModuleReplica
from lumograph.models.qa.core import QACore


@serve.deployment(name="QualityGate")
class QualityGate(ModuleReplica):
    core_class = QACore
    module = "qa"

    def check_jewelry_input(self, proxy_rgb, source_wh, **kwargs):
        return self.core.check_jewelry_input(proxy_rgb, source_wh, **kwargs)

    def check_jewelry_output(self, encoded, fmt, marketplace, prior_checks=None, cutout=None):
        return self.core.check_jewelry_output(encoded, fmt, marketplace, prior_checks, cutout)

    def check_listing(self, before_proxy, after_proxy, applied, halo=None):
        return self.core.check_listing(before_proxy, after_proxy, applied, halo)
