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
    # Issue 10's targets on the five rings of 2026-12-04 (white metal on white, pairs,
    # pave): miou_band >= 0.92 and >= 0.85 on every image (0.93 / 0.875 today); the naive
    # border-colour + Otsu baseline gets plain IoU 0.49. recall_band is not at its 0.97
    # target (0.89 on ring_test_1): this floor keeps it from sliding.
    assert result["miou_band"] >= 0.92, result["per_image"]
    assert result["min_iou_band"] >= 0.85, result["per_image"]
    assert result["min_recall_band"] >= 0.85, result["per_image"]
    # The QA gate never passes a cut-out under 0.85.
    assert result["bad_cutouts_passed"] == 0, result["per_image"]


def test_illuminant_estimate_beats_grey_world(modules, EVAL):
    result = eval_color_constancy(EVAL / "color_constancy", modules, None, None)
    assert result["n"] >= 5
    assert result["median_deg"] <= 2.0, result  # grey-world: 2.6


@pytest.fixture(scope="module")
def photos(modules, EVAL):
    return eval_jewelry_photos(EVAL / "jewelry_photos", modules, None, None)


def test_every_pass_output_passes_its_profile_when_remeasured(photos):
    result = photos
    assert result["n"] >= 40
    assert sum(result["verdicts"].values()) == result["n"]
    # With the floor judged by magnification, the photos under 1024 px that hold a large
    # enough piece go through; every one delivered as a pass re-measures as compliant.
    assert result["verdicts"]["pass"] >= 1, result["verdicts"]
    assert result["compliance_pass_rate"] == 1.0, result["per_image"]


def test_on_model_shots_are_refused_and_product_shots_are_not(photos):
    result = photos
    caught = result["out_of_scope"]
    # 25 of 25 today; a product shot refused as out of scope would be a customer lost.
    assert caught["on_model_total"] >= 20
    assert caught["on_model_caught"] >= 0.9 * caught["on_model_total"], result["by_scope"]
    assert result["wrongly_refused"] == 0, result["by_scope"]


def test_listing_scene_classifier_keeps_its_accuracy(EVAL):
    from lumograph.bench.eval_scene import evaluate_scene

    result = evaluate_scene(EVAL)
    assert result["n"] >= 100
    # Issue 13: the weights are fitted (bench/fit_scene.py), so the figure that counts is
    # 5-fold by house, each fold scored with parameters re-fitted on the other four.
    # Measured 2026-12-06 with the shipped model (its exterior table also fitted on the
    # sky_masks photos; the sky cue judged against the ground): all-data exterior 1.0, rooms
    # 0.956; k-fold exterior 1.0 (worst fold 1.0), rooms 0.844 (worst fold 0.722). Targets:
    # exterior >= 0.97, rooms >= 0.75 (k-fold). Three room types here; chance is 0.33; the
    # hand-set weights reached 0.66.
    folds = result["kfold"]["per_fold"]
    # Photos unlike the listing sample: the sky_masks scenes held out by fold (18 of 19; the
    # alley is called a room) and leafless copies of the exteriors, the same houses in a
    # season without leaves (0.77 held out; 0.53 when the exterior table is fitted on the
    # listing photos alone, 0.47 before the sky cue was judged against the ground).
    assert result["sky_masks_scene_acc_kfold"] >= 0.89, result["kfold"]["sky_masks"]
    assert result["leafless_exterior_acc_kfold"] >= 0.7, result["kfold"]["leafless"]
    assert result["exterior_acc"] >= 0.97, result["errors"]
    assert result["exterior_acc_kfold"] >= 0.97, folds
    assert result["exterior_acc_kfold_worst"] >= 0.93, folds
    assert result["room_acc"] >= 0.9, result["confusion"]
    assert result["room_acc_kfold"] >= 0.78, folds
    assert result["room_acc_kfold_worst"] >= 0.66, folds


def test_listing_graph_runs_on_real_photos_and_delivers(modules, EVAL):
    from lumograph.bench.eval_listing import eval_listing_photos

    result = eval_listing_photos(EVAL / "listing_photos", modules, None, 12)
    assert result["n"] == 12
    assert sum(result["verdicts"].values()) == 12
    assert result["verdicts"]["fail"] <= 1, result["per_image"]
    assert result["modules_run"]["colour_grade"] >= 1


def test_vertical_correction_keeps_the_frame_and_straightens_on_real_photos(EVAL):
    """Issue 13: every straightened listing photo keeps >= 85 % of its frame; the strongly
    pitched ones are corrected part of the way (straighter than shot), not refused."""
    from lumograph.bench.eval_verticals import eval_verticals
    from lumograph.models.compositor.verticals import MIN_KEPT_SHARE

    result = eval_verticals(EVAL / "listing_photos")
    photos = result["per_image"].values()
    applied = [f for f in photos if f["applied"]]
    assert len(applied) >= 75, result["summary"]
    assert all(f["kept_share"] >= MIN_KEPT_SHARE for f in applied)
    assert not [f for f in photos if f["before_applied"] and not f["applied"]]  # nothing lost
    partial = [f for f in applied if f["correction_fraction"] < 1.0]
    assert len(partial) >= 10, result["summary"]
    assert min(f["full_kept_share"] for f in partial) < 0.8  # the issue's ~75 % cases are in
    for f in partial:
        assert abs(f["expected_residual_tilt_deg"]) < abs(f["tilt_deg"]), f
        assert abs(f["residual_tilt_deg"]) < abs(f["tilt_deg"]), f
