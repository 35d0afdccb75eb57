"""Classifier deployment: jewelry category, metal and scene flags; listing scene, room
type and the signals that drive auto-select."""
from __future__ import annotations

from ray import serve

from lumograph.deployments._replica import ModuleReplica
from lumograph.models.classifier.core import ClassifierCore


@serve.deployment(name="Classifier")
class Classifier(ModuleReplica):
    core_class = ClassifierCore
    module = "classifier"

    def probe(self, rgb):
        return self.core.classify_scene(rgb)

    def classify_jewelry(self, proxy_rgb):
        return self.core.classify_jewelry(proxy_rgb)

    def classify_scene(self, proxy_rgb, room_hint=None):
        return self.core.classify_scene(proxy_rgb, room_hint)
