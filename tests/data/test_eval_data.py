"""Regression floors on the real evaluation photos (tests/eval_data.py finds them;
skipped when absent, failed in CI where ``.ci/run`` says they must be there).

The figures quoted in issue notes come from `lumograph eval`; these tests only keep the
product from sliding below what it already reaches (and well above the naive baselines).
"""
import pytest

from lumograph.bench.evaluate import eval_color_constancy, eval_jewelry_masks, eval_jewelry_photos
from lumograph.graphs.local import LocalModules
from tests.eval_data import require_eval

pytestmark = [pytest.mark.data]


@pytest.fixture(scope="module")
def EVAL():  # noqa: N802 - reads like the folder it is
    return require_eval()


@pytest.fixture(scope="module")
def modules():
    return LocalModules.build()


def test_ring_masks_follow_the_metal(modules, EVAL):
    result = eval_jewelry_masks(EVAL / "jewelry_masks", modules, None, None)
    assert result["n"] >= 5
    # A floor under today's figure, not the target: with the five rings of 2026-12-04
    # (white metal on white, pairs, pave) the classical matte reaches miou_band 0.73
    # (0.95 on the first two alone); issue 10 lifts it to >= 0.92. The naive
    # border-colour + Otsu baseline gets plain IoU 0.49 on these five.
    assert result["miou_band"] >= 0.70, result["per_image"]


def test_illuminant_estimate_beats_grey_world(modules, EVAL):
    result = eval_color_constancy(EVAL / "color_constancy", modules, None, None)
    assert result["n"] >= 5
    assert result["median_deg"] <= 2.0, result  # grey-world: 2.6


def test_every_pass_output_passes_its_profile_when_remeasured(modules, EVAL):
    result = eval_jewelry_photos(EVAL / "jewelry_photos", modules, None, None)
    assert result["n"] >= 40
    assert sum(result["verdicts"].values()) == result["n"]
    # Most shop photos are 800 px: at the product's 1024 px floor none gets through, so
    # the re-measurement is exercised where the floor is lowered (640 px, 1000 px canvas).
    lowered = result["lowered_floor"]
    assert lowered["verdicts"]["pass"] >= 1, lowered["verdicts"]
    assert lowered["compliance_pass_rate"] == 1.0, lowered["per_image"]
    if result["verdicts"]["pass"]:
        assert result["compliance_pass_rate"] == 1.0, result["per_image"]


def test_listing_scene_classifier_keeps_its_accuracy(EVAL):
    from lumograph.bench.eval_scene import evaluate_scene

    result = evaluate_scene(EVAL)
    assert result["n"] >= 100
    assert result["exterior_acc"] >= 0.97, result["errors"]  # the target
    # Three room types here; chance is 0.33. The classical backend is weak on rooms.
    assert result["room_acc"] >= 0.55, result["confusion"]


def test_listing_graph_runs_on_real_photos_and_delivers(modules, EVAL):
    from lumograph.bench.eval_listing import eval_listing_photos

    result = eval_listing_photos(EVAL / "listing_photos", modules, None, 12)
    assert result["n"] == 12
    assert sum(result["verdicts"].values()) == 12
    assert result["verdicts"]["fail"] <= 1, result["per_image"]
    assert result["modules_run"]["colour_grade"] >= 1
