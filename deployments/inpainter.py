"""Inpainter deployment: flash and glare hot-spots, a photographer in a mirror, virtual
staging (learned backend only)."""
from __future__ import annotations

from ray import serve

from lumograph.deployments._replica import ModuleReplica
from lumograph.models.inpainter.core import InpainterCore


@serve.deployment(name="Inpainter")
class Inpainter(ModuleReplica):
    core_class = InpainterCore
    module = "inpainter"

    def probe(self, rgb):
        return self.core.remove_glare(rgb)

    def remove_glare(self, rgb, seed=0):
        return self.core.remove_glare(rgb, seed)

    def mirror_cleanup(self, rgb, mirror, seed=0):
        return self.core.mirror_cleanup(rgb, mirror, seed)

    def stage_room(self, rgb, room_type, style, seed=0):
        return self.core.stage_room(rgb, room_type, style, seed)

    def synthesize_window_views(self, rgb, windows, glass_masks=None, seed=0):
        return self.core.synthesize_window_views(rgb, windows, glass_masks, seed)

    def sky_plate(self, proxy_rgb, proxy_matte, style, seed=0):
        return self.core.sky_plate(proxy_rgb, proxy_matte, style, seed)
