"""The listing graph on the learned extras, in process: SAM glass masks feeding the
window pull, diffusers views in fully blown windows and a diffusers sky composited by
the compositor, all on tiny random-weight models loaded through the production loaders
with the network blocked. Random weights give noise, so the assertions are about routing,
reports, disclosures and untouched pixels, never about how the fills look."""
import asyncio

import pytest
import torch

from lumograph.bench.synthetic_listing import exterior_photo, room_photo
from lumograph.graphs.listing import run_enhance
from lumograph.graphs.local import LocalModules
from lumograph.models.classifier.core import ClassifierCore
from lumograph.models.compositor.core import CompositorCore
from lumograph.models.grader.core import GraderCore
from lumograph.models.inpainter.core import InpainterCore
from lumograph.models.qa.core import QACore
from lumograph.models.segmenter.core import SegmenterCore
from lumograph.models.window_detector.core import WindowDetectorCore
from lumograph.serve.schemas import EnhanceOptions
from tests.tiny_models import build_tiny_inpaint, build_tiny_sam, network_blocked


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    """SAM and diffusers learned; the classifier and the window detector stay classical
    so that the scene and the blown window are the known ones of the synthetic photos."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with network_blocked():
        weights = tmp_path_factory.mktemp("listing-learned") / "weights"
        build_tiny_sam(weights)
        build_tiny_inpaint(weights)
        w = str(weights)
        yield LocalModules(
            classifier=ClassifierCore("classical"), segmenter=SegmenterCore("auto", w),
            grader=GraderCore("auto", w), compositor=CompositorCore("auto", w),
            qa=QACore("auto", w, min_short_side=256), window_detector=WindowDetectorCore("classical"),
            inpainter=InpainterCore("auto", w, diffusion_steps=2))
    torch.set_num_threads(threads)


def _enhance(modules, rgb, **options):
    opts = EnhanceOptions(**options).model_dump()
    return asyncio.run(run_enhance([rgb], opts, modules.listing_steps(), request_id="learned"))


def test_blown_window_gets_a_generated_view_and_the_other_a_sam_masked_pull(modules):
    assert modules.segmenter.selection.name == "sam" and modules.inpainter.selection.name == "diffusers"
    room = room_photo(640, 480, seed=2)
    rgb = room.rgb.copy()
    x0, y0, x1, y1 = room.windows[0]
    rgb[y0 + 6:y1 - 6, x0 + 6:x1 - 6] = 253  # fully blown: no view left to pull
    rgb.setflags(write=False)
    out = _enhance(modules, rgb, tier="premium", room="kitchen", seed=4)
    rep = out.report
    assert rep["signals"]["fully_blown_windows"] == 1 and rep["signals"]["view_synthesis"] is True
    view = rep["modules"]["window_view"]
    assert view["applied"] is True and view["backend"] == "diffusers"
    assert [w["synthesized"] for w in view["report"]["windows"]] == [True, False]
    assert rep["glass_masks"]["backend"] == "sam" and len(rep["glass_masks"]["windows"]) == 2
    pull = rep["modules"]["window_pull"]
    # Only the window that kept its view is pulled, on SAM's glass mask or (a random-weight
    # mask that missed the glass) on its box.
    assert [w["bbox"] for w in pull["report"]["windows"]] == [rep["windows"][1]["bbox"]]
    assert pull["report"]["windows"][0]["glass"] in {"mask", "box"}
    assert any("Window view digitally generated" in d for d in rep["disclosures"])
    assert rep["backends"]["window_view"] == "diffusers"


def test_standard_tier_keeps_the_blown_window_soft_white(modules):
    room = room_photo(640, 480, seed=2)
    rgb = room.rgb.copy()
    x0, y0, x1, y1 = room.windows[0]
    rgb[y0 + 6:y1 - 6, x0 + 6:x1 - 6] = 253
    out = _enhance(modules, rgb, tier="standard", room="kitchen")
    assert out.report["modules"]["window_view"]["ran"] is False
    assert not any("Window view" in d for d in out.report["disclosures"])


def test_grey_sky_is_generated_by_diffusers_and_composited_through_the_matte(modules):
    ext = exterior_photo(640, 480, seed=1)
    rgb = ext.rgb.copy()
    rgb.setflags(write=False)
    out = _enhance(modules, rgb, tier="standard", room="exterior", sky_style="light_clouds", seed=2)
    sky = out.report["modules"]["sky_replacement"]
    assert sky["ran"] is True, sky["reason"]
    assert sky["backend"] == "diffusers" and sky["report"]["sky_source"] == "learned"
    assert sky["report"]["sky_plate"]["style"] == "light_clouds"
    assert out.report["disclosures"] == ["Sky digitally replaced."]
    again = _enhance(modules, rgb, tier="standard", room="exterior", sky_style="light_clouds", seed=2)
    assert again.encoded == out.encoded  # a fixed seed gives the same photo
