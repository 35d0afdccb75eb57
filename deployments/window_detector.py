"""Window detector deployment: windows of a listing interior and how blown out they are."""
from __future__ import annotations

from ray import serve

from lumograph.deployments._replica import ModuleReplica
from lumograph.models.window_detector.core import WindowDetectorCore


@serve.deployment(name="WindowDetector")
class WindowDetector(ModuleReplica):
    core_class = WindowDetectorCore
    module = "window_detector"

    def probe(self, rgb):
        return self.core.detect_windows(rgb, rgb.shape[:2])

    def detect_windows(self, proxy_rgb, source_hw):
        return self.core.detect_windows(proxy_rgb, source_hw)
