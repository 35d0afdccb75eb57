"""The highlight evaluation: figures per photo, a sheet, and no second cut-out when the
caller hands its own over."""
from __future__ import annotations

import cv2
import pytest

from lumograph.bench.eval_highlights import eval_highlights
from lumograph.bench.synthetic import ring_photo
from lumograph.graphs.local import LocalModules


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("photos")
    rgb = ring_photo(800, 600, with_chain=False).rgb
    cv2.imwrite(str(path / "ring.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_reports_clipped_shares_and_writes_a_sheet(folder, tmp_path):
    result = eval_highlights(folder, tmp_path)
    entry = result["per_image"]["ring.jpg"]
    assert result["n"] == 1 and not result["skipped"]
    assert 0.0 <= entry["clipped_share_after"] <= entry["clipped_share_before"] <= 1.0
    assert (tmp_path / f"highlights_{folder.name}.png").exists()


def test_cut_outs_handed_over_are_not_segmented_again(folder):
    modules = LocalModules.build()
    matte = modules.segmenter.segment_jewelry(cv2.cvtColor(cv2.imread(str(folder / "ring.jpg")),
                                                           cv2.COLOR_BGR2RGB), (600, 800))["matte"]

    class NoSegmenter:
        def segment_jewelry(self, *args, **kwargs):
            raise AssertionError("segmented again")

    class Modules:
        segmenter = NoSegmenter()

    result = eval_highlights(folder, None, modules=Modules(), mattes={"ring.jpg": matte})
    assert result["n"] == 1
