"""QA deployment: the jewelry input floor, marketplace compliance and the verdict; the
listing output checks."""
from __future__ import annotations

from functools import partial

from ray import serve

from lumograph.deployments._replica import ModuleReplica
from lumograph.models.qa.core import QACore
from lumograph.models.qa.text import load_text_detector


@serve.deployment(name="QualityGate")
class QualityGate(ModuleReplica):
    core_class = QACore
    module = "qa"

    def __init__(self, **config):
        # The text detector's onnxruntime session is loaded once per replica and handed to
        # every core ``reconfigure`` builds (an instance attribute shadows ``core_class``).
        self.text_detector = load_text_detector()
        self.core_class = partial(QACore, text_detector=self.text_detector)
        super().__init__(**config)

    def probe(self, rgb):
        return self.core.check_listing(rgb, rgb, [])

    def check_jewelry_input(self, proxy_rgb, source_wh, **kwargs):
        return self.core.check_jewelry_input(proxy_rgb, source_wh, **kwargs)

    def check_jewelry_output(self, encoded, fmt, marketplace, prior_checks=None, cutout=None):
        return self.core.check_jewelry_output(encoded, fmt, marketplace, prior_checks, cutout)

    def check_listing(self, before_proxy, after_proxy, applied, halo=None, warp=None, people=None):
        return self.core.check_listing(before_proxy, after_proxy, applied, halo, warp, people)
