"""Shadow/compositor deployment: lightbox canvas, contact shadow, encoded file; listing
sky replacement, day-to-dusk, vertical correction and the encoded photo."""
from __future__ import annotations

from ray import serve

from lumograph.deployments._replica import ModuleReplica
from lumograph.models.compositor.core import CompositorCore


@serve.deployment(name="Compositor")
class Compositor(ModuleReplica):
    core_class = CompositorCore
    module = "compositor"

    def probe(self, rgb):
        return self.core.encode_photo(rgb, "jpeg", 90)

    def compose_lightbox(self, foreground, alpha, proxy_rgb, proxy_alpha, options):
        return self.core.compose_lightbox(foreground, alpha, proxy_rgb, proxy_alpha, options)

    def replace_sky(self, rgb, proxy_matte, style, seed, sky_plate=None):
        return self.core.replace_sky(rgb, proxy_matte, style, seed, sky_plate)

    def day_to_dusk(self, rgb, proxy_matte, windows, lamps=None):
        return self.core.day_to_dusk(rgb, proxy_matte, windows, lamps)

    def correct_verticals(self, rgb, estimate):
        return self.core.correct_verticals(rgb, estimate)

    def encode_photo(self, rgb, fmt, quality, max_long_side=None):
        return self.core.encode_photo(rgb, fmt, quality, max_long_side)
