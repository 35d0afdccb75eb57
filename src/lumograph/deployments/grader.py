"""Colour grader deployment: neutral studio light and per-metal tones."""
from __future__ import annotations

from ray import serve

from lumograph.deployments._replica import ModuleReplica
from lumograph.models.grader_core import GraderCore


@serve.deployment(name="ColourGrader")
class ColourGrader(ModuleReplica):
    core_class = GraderCore
    module = "grader"

    async def grade_jewelry(self, foreground, alpha, proxy_rgb, proxy_alpha, metal):
        return self.core.grade_jewelry(foreground, alpha, proxy_rgb, proxy_alpha, metal)
