"""Colour grader deployment: neutral studio light and per-metal tones; listing exposure
(bracket merge, window pull) and the room-aware grade."""
from __future__ import annotations

from ray import serve

from lumograph.deployments._replica import ModuleReplica
from lumograph.models.grader.core import GraderCore


@serve.deployment(name="ColourGrader")
class ColourGrader(ModuleReplica):
    core_class = GraderCore
    module = "grader"

    def probe(self, rgb):
        return self.core.grade_room(rgb, "living")

    def grade_jewelry(self, foreground, alpha, proxy_rgb, proxy_alpha, metal, illuminant=None):
        return self.core.grade_jewelry(foreground, alpha, proxy_rgb, proxy_alpha, metal, illuminant)

    def merge_brackets(self, frames):
        return self.core.merge_brackets(frames)

    def pull_windows(self, rgb, windows, threshold_stops, glass_masks=None):
        return self.core.pull_windows(rgb, windows, threshold_stops, glass_masks)

    def grade_room(self, rgb, room_type):
        return self.core.grade_room(rgb, room_type)
