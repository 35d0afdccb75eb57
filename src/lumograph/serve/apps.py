"""Application builders named by the Serve YAML configs (``import_path``).

``modules``: every shared module deployment, deployed once for all verticals.
``jewelry``: the jewelry ingress and graph, reaching the modules by name.
Resources, replicas and ``user_config`` come from the YAML, not from here.
"""
from __future__ import annotations

from typing import Any

from ray.serve import Application

from lumograph.deployments.classifier import Classifier
from lumograph.deployments.compositor import Compositor
from lumograph.deployments.directory import ModuleDirectory
from lumograph.deployments.grader import ColourGrader
from lumograph.deployments.qa import QualityGate
from lumograph.deployments.segmenter import Segmenter
from lumograph.serve.jewelry_ingress import JewelryIngress


def modules_app(args: dict[str, Any] | None = None) -> Application:
    return ModuleDirectory.bind(
        classifier=Classifier.bind(),
        segmenter=Segmenter.bind(),
        grader=ColourGrader.bind(),
        compositor=Compositor.bind(),
        qa=QualityGate.bind(),
    )


def jewelry_app(args: dict[str, Any] | None = None) -> Application:
    return JewelryIngress.bind(**(args or {}))
