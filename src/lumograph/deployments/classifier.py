"""Classifier deployment: product category, metal and scene flags."""
from __future__ import annotations

from ray import serve

from lumograph.deployments._replica import ModuleReplica
from lumograph.models.classifier_core import ClassifierCore


@serve.deployment(name="Classifier")
class Classifier(ModuleReplica):
    core_class = ClassifierCore
    module = "classifier"

    async def classify_jewelry(self, proxy_rgb):
        return self.core.classify_jewelry(proxy_rgb)
