"""Shadow/compositor deployment: lightbox canvas, contact shadow, encoded file."""
from __future__ import annotations

from ray import serve

from lumograph.deployments._replica import ModuleReplica
from lumograph.models.compositor_core import CompositorCore


@serve.deployment(name="Compositor")
class Compositor(ModuleReplica):
    core_class = CompositorCore
    module = "compositor"

    async def compose_lightbox(self, foreground, alpha, proxy_rgb, proxy_alpha, options):
        return self.core.compose_lightbox(foreground, alpha, proxy_rgb, proxy_alpha, options)
