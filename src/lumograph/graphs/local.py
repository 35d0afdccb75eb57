"""In-process host for the graphs: the module cores called directly, no cluster.

Used by the CLI (``lumograph process`` / ``eval``), the unit tests and batch jobs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from lumograph.graphs.jewelry import JewelrySteps
from lumograph.models.classifier_core import ClassifierCore
from lumograph.models.compositor_core import CompositorCore
from lumograph.models.grader_core import GraderCore
from lumograph.models.qa_core import QACore
from lumograph.models.segmenter_core import SegmenterCore


def _async(fn: Callable[..., Any]) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return call


@dataclass
class LocalModules:
    """One instance of every module core, as a deployment replica would hold it."""

    classifier: ClassifierCore
    segmenter: SegmenterCore
    grader: GraderCore
    compositor: CompositorCore
    qa: QACore

    @classmethod
    def build(cls, backend: str = "auto", weights_dir: str | None = None, min_short_side: int = 1024) -> "LocalModules":
        return cls(
            classifier=ClassifierCore(backend, weights_dir),
            segmenter=SegmenterCore(backend, weights_dir),
            grader=GraderCore(backend, weights_dir),
            compositor=CompositorCore(backend, weights_dir),
            qa=QACore(backend, weights_dir, min_short_side=min_short_side),
        )

    def jewelry_steps(self) -> JewelrySteps:
        return JewelrySteps(
            locate=_async(self.segmenter.locate_jewelry),
            classify=_async(self.classifier.classify_jewelry),
            check_input=_async(self.qa.check_jewelry_input),
            segment=_async(self.segmenter.segment_jewelry),
            grade=_async(self.grader.grade_jewelry),
            compose=_async(self.compositor.compose_lightbox),
            check_output=_async(self.qa.check_jewelry_output),
        )

    def backends(self) -> dict[str, dict[str, str]]:
        return {
            name: getattr(self, name).selection.to_dict()
            for name in ("classifier", "segmenter", "grader", "compositor", "qa")
        }
