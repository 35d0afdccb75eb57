"""Segmenter deployment: the piece cut out with pixel-level alpha."""
from __future__ import annotations

from ray import serve

from lumograph.deployments._replica import ModuleReplica
from lumograph.models.segmenter_core import SegmenterCore


@serve.deployment(name="Segmenter")
class Segmenter(ModuleReplica):
    core_class = SegmenterCore
    module = "segmenter"

    async def locate_jewelry(self, proxy_rgb):
        return self.core.locate_jewelry(proxy_rgb)

    async def segment_jewelry(self, rgb, proxy_hw, target_long_side=None):
        return self.core.segment_jewelry(rgb, proxy_hw, target_long_side)
