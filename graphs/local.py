"""In-process host for the graphs: the module cores called directly, no cluster.

Used by the CLI (``lumograph process`` / ``eval``), the unit tests and batch jobs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from lumograph.graphs.jewelry import JewelrySteps
from lumograph.graphs.listing import ListingSteps
from lumograph.models.classifier.core import ClassifierCore
from lumograph.models.compositor.core import CompositorCore
from lumograph.models.grader.core import GraderCore
from lumograph.models.inpainter.core import InpainterCore
from lumograph.models.qa.core import QACore
from lumograph.models.qa.text import load_text_detector
from lumograph.models.segmenter.core import SegmenterCore
from lumograph.models.window_detector.core import WindowDetectorCore


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
    window_detector: WindowDetectorCore
    inpainter: InpainterCore

    @classmethod
    def build(cls, backend: str = "auto", weights_dir: str | None = None,
              min_short_side: int | None = None) -> "LocalModules":
        return cls(
            classifier=ClassifierCore(backend, weights_dir),
            segmenter=SegmenterCore(backend, weights_dir),
            grader=GraderCore(backend, weights_dir),
            compositor=CompositorCore(backend, weights_dir),
            qa=QACore(backend, weights_dir, min_short_side=min_short_side, text_detector=load_text_detector()),
            window_detector=WindowDetectorCore(backend, weights_dir),
            inpainter=InpainterCore(backend, weights_dir),
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

    def listing_steps(self) -> ListingSteps:
        return ListingSteps(
            scene=_async(self.classifier.classify_scene),
            windows=_async(self.window_detector.detect_windows),
            sky=_async(self.segmenter.sky_matte),
            merge_brackets=_async(self.grader.merge_brackets),
            pull_windows=_async(self.grader.pull_windows),
            remove_glare=_async(self.inpainter.remove_glare),
            mirror_cleanup=_async(self.inpainter.mirror_cleanup),
            verticals=_async(self.compositor.correct_verticals),
            replace_sky=_async(self.compositor.replace_sky),
            dusk=_async(self.compositor.day_to_dusk),
            grade=_async(self.grader.grade_room),
            encode=_async(self.compositor.encode_photo),
            check=_async(self.qa.check_listing),
            backends=_async(self.backends),
            window_glass_masks=_async(self.segmenter.window_glass_masks),
            window_views=_async(self.inpainter.synthesize_window_views),
            sky_plate=_async(self.inpainter.sky_plate),
        )

    def backends(self) -> dict[str, dict[str, str]]:
        return {
            name: getattr(self, name).selection.to_dict()
            for name in ("classifier", "segmenter", "grader", "compositor", "qa",
                         "window_detector", "inpainter")
        }
