"""Segmenter deployment: the jewelry piece cut out with pixel-level alpha; the sky matte
of a listing exterior."""
from __future__ import annotations

from ray import serve

from lumograph.deployments._replica import ModuleReplica
from lumograph.models.segmenter.core import SegmenterCore


@serve.deployment(name="Segmenter")
class Segmenter(ModuleReplica):
    core_class = SegmenterCore
    module = "segmenter"

    def probe(self, rgb):
        return self.core.sky_matte(rgb)

    def locate_jewelry(self, proxy_rgb):
        return self.core.locate_jewelry(proxy_rgb)

    def segment_jewelry(self, rgb, proxy_hw, target_long_side=None):
        return self.core.segment_jewelry(rgb, proxy_hw, target_long_side)

    def sky_matte(self, proxy_rgb, scene=None):
        return self.core.sky_matte(proxy_rgb, scene)

    def window_glass_masks(self, proxy_rgb, windows, source_hw):
        return self.core.window_glass_masks(proxy_rgb, windows, source_hw)
