"""Application builders named by the Serve YAML configs (``import_path``).

``modules``: every shared module deployment, deployed once for all verticals.
``jewelry``: the jewelry ingress and graph, reaching the modules by name.
``listing``: the listing ingress and graph, reaching the same module replicas.
Resources, replicas and ``user_config`` come from the YAML, not from here.
"""
from __future__ import annotations

from typing import Any

from ray.serve import Application

from lumograph.deployments.classifier import Classifier
from lumograph.deployments.compositor import Compositor
from lumograph.deployments.directory import ModuleDirectory
from lumograph.deployments.grader import ColourGrader
from lumograph.deployments.inpainter import Inpainter
from lumograph.deployments.qa import QualityGate
from lumograph.deployments.segmenter import Segmenter
from lumograph.deployments.window_detector import WindowDetector
from lumograph.serve.jewelry_ingress import JewelryIngress
from lumograph.serve.listing_ingress import ListingIngress


def modules_app(args: dict[str, Any] | None = None) -> Application:
    return ModuleDirectory.bind(
        classifier=Classifier.bind(),
        segmenter=Segmenter.bind(),
        grader=ColourGrader.bind(),
        compositor=Compositor.bind(),
        qa=QualityGate.bind(),
        window_detector=WindowDetector.bind(),
        inpainter=Inpainter.bind(),
    )


def jewelry_app(args: dict[str, Any] | None = None) -> Application:
    return JewelryIngress.bind(**(args or {}))


def listing_app(args: dict[str, Any] | None = None) -> Application:
    return ListingIngress.bind(**(args or {}))
