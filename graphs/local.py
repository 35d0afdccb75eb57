"""In-process host for the graphs: the module cores called directly, no cluster.

Used by the CLI (``lumograph process`` / ``eval``), the unit tests and batch jobs.
"""
from __future__ import annotations

import asyncio
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


def _inline(fn: Callable[..., Any]) -> Callable[..., Any]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return call


def _threaded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run the core in a worker thread, as a Serve replica runs its sync methods: the event
    loop stays free (a job worker's lease heartbeat, other items in flight)."""
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

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

    def jewelry_steps(self, threaded: bool = False) -> JewelrySteps:
        """threaded: each step in a worker thread (hosts that keep their event loop free)."""
        wrap = _threaded if threaded else _inline
        return JewelrySteps(
            locate=wrap(self.segmenter.locate_jewelry),
            classify=wrap(self.classifier.classify_jewelry),
            check_input=wrap(self.qa.check_jewelry_input),
            segment=wrap(self.segmenter.segment_jewelry),
            grade=wrap(self.grader.grade_jewelry),
            compose=wrap(self.compositor.compose_lightbox),
            check_output=wrap(self.qa.check_jewelry_output),
        )

    def listing_steps(self, threaded: bool = False) -> ListingSteps:
        wrap = _threaded if threaded else _inline
        return ListingSteps(
            scene=wrap(self.classifier.classify_scene),
            windows=wrap(self.window_detector.detect_windows),
            sky=wrap(self.segmenter.sky_matte),
            merge_brackets=wrap(self.grader.merge_brackets),
            pull_windows=wrap(self.grader.pull_windows),
            remove_glare=wrap(self.inpainter.remove_glare),
            mirror_cleanup=wrap(self.inpainter.mirror_cleanup),
            verticals=wrap(self.compositor.correct_verticals),
            replace_sky=wrap(self.compositor.replace_sky),
            dusk=wrap(self.compositor.day_to_dusk),
            grade=wrap(self.grader.grade_room),
            encode=wrap(self.compositor.encode_photo),
            check=wrap(self.qa.check_listing),
            backends=_inline(self.backends),
            window_glass_masks=wrap(self.segmenter.window_glass_masks),
            window_views=wrap(self.inpainter.synthesize_window_views),
            sky_plate=wrap(self.inpainter.sky_plate),
        )

    def backends(self) -> dict[str, dict[str, str]]:
        return {
            name: getattr(self, name).selection.to_dict()
            for name in ("classifier", "segmenter", "grader", "compositor", "qa",
                         "window_detector", "inpainter")
        }
