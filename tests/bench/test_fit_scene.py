"""The scene classifier's fit (``bench/fit_scene.py``): it re-fits deterministically, its
k-fold never lets a held-out house fit its own parameters, what it writes is what the
classifier loads, and the eval scores the classifier's own answers.

Synthetic measurements (no photos) except for the last test; the figures on the real
listing photos are checked in tests/data/test_eval_data.py."""
from __future__ import annotations

import copy
import json

import cv2
import numpy as np
import pytest

from lumograph.bench import fit_scene
from lumograph.bench.eval_scene import evaluate_scene_photos
from lumograph.bench.synthetic_listing import exterior_photo, room_photo
from lumograph.models.classifier import scene
from lumograph.models.classifier.scene import LAYOUT_INPUTS, SceneMeasurements, SceneModel, classify_scene

LABELS = ("frontal", "kitchen", "bathroom", "bedroom")


def _measurements(label: str, rng: np.random.Generator) -> SceneMeasurements:
    """Made-up measurements whose distributions depend on the label (exteriors: foliage
    and sky; kitchens: long lines; bedrooms: curved edges low in the frame)."""
    ext = label == "frontal"
    sky = float(rng.uniform(0.1, 0.4)) if ext else float(rng.uniform(0.0, 0.03))
    exterior = {
        "foliage_share": float(rng.uniform(0.05, 0.3) if ext else rng.uniform(0.0, 0.02)),
        "straight_edge_share": float(rng.uniform(0.15, 0.35) if ext else rng.uniform(0.35, 0.7)),
        "orientation_coherence": float(rng.uniform(0.5, 0.65) if ext else rng.uniform(0.65, 0.85)),
        "edge_density": float(rng.uniform(0.08, 0.2)),
        "top_strip_b": float(rng.normal(-2, 3) if ext else rng.normal(10, 4)),
        "sky_share": sky, "ground_weight": 1.0 - sky,
        "dominant_sky_share": 0.0, "dominant_sky_contrast": 0.0,
    }
    room = {
        "counter_line_length": float(rng.uniform(2, 5) if label == "kitchen" else rng.uniform(0, 2)),
        "long_line_length": float(rng.uniform(12, 25) if label == "kitchen" else rng.uniform(5, 15)),
        "vertical_line_length": float(rng.uniform(4, 9)),
        "bottom_straight_share": float(rng.uniform(0.1, 0.35) if label == "bedroom" else rng.uniform(0.35, 0.7)),
        "wood_share": float(rng.uniform(0.0, 0.3)),
        "mirror_confidence": float(rng.uniform(0.4, 1.0) if label == "bathroom" else rng.uniform(0.0, 0.5)),
    }
    layout = rng.uniform(0.05, 0.5, len(LAYOUT_INPUTS)).astype(np.float32)
    return SceneMeasurements(exterior, room, layout)


def _photos(n_houses: int = 8, seed: int = 5) -> list[fit_scene.Photo]:
    rng = np.random.default_rng(seed)
    return [fit_scene.Photo(f"house{h}_{label}.jpg", f"house{h}", label, _measurements(label, rng))
            for h in range(1, n_houses + 1) for label in LABELS]


def test_the_fit_is_deterministic_and_learns_the_signs():
    photos = _photos()
    a, b = fit_scene.fit_params(photos), fit_scene.fit_params(photos)
    assert a == b  # bit for bit: L-BFGS from zeros, folds by house number, no randomness
    ext = np.asarray(a["exterior"]["coef"])
    toward_exterior = dict(zip(a["exterior"]["inputs"], ext[:, 1] - ext[:, 0]))
    assert toward_exterior["foliage"] > 0 and toward_exterior["sky"] > 0
    assert toward_exterior["straight_edges"] < 0 and toward_exterior["top_warmth"] < 0
    assert a["exterior"]["l2"] in fit_scene.L2_GRID and a["room"]["l2"] in fit_scene.L2_GRID
    assert a["room"]["n"] == 3 * 8 and a["exterior"]["n"] == 4 * 8
    # The fitted parameters classify the photos they were fitted on.
    result = fit_scene.score(photos, SceneModel.from_params(a))
    assert result["exterior_acc"] == 1.0 and result["room_acc"] >= 0.9, result


def test_the_penalty_is_chosen_with_whole_houses_held_out(monkeypatch):
    photos = _photos()
    d = fit_scene.design(photos)
    x, weight, y, groups = d["exterior"]
    x = x.copy()
    x[:, 1] = np.arange(len(x)) / 1000.0  # tag each row (an input of its own) to find it again
    trained_on = []
    real = fit_scene.fit_softmax

    def spy(xs, *args):
        trained_on.append({groups[int(round(v * 1000))] for v in xs[:, 1]} if len(xs) < len(x) else None)
        rows = [int(round(v * 1000)) for v in xs[:, 1]]
        for house in trained_on[-1] or ():
            assert sum(groups[r] == house for r in rows) == 4, house  # all four photos, or none
        return real(xs, *args)

    monkeypatch.setattr(fit_scene, "fit_softmax", spy)
    l2 = fit_scene.choose_l2(x, weight, y, groups, 2)
    assert l2 in fit_scene.L2_GRID
    assert len(trained_on) == len(fit_scene.L2_GRID) * fit_scene.INNER_FOLDS
    assert all(len(houses) == 6 for houses in trained_on)  # 8 houses, 4 folds: 2 held out each time
    monkeypatch.setattr(fit_scene, "fit_softmax", real)
    # Houses, not rows, are dealt into folds: the photos' order does not change the fit.
    a = fit_scene.fit_params(photos)
    b = fit_scene.fit_params(list(reversed(photos)))
    for table in ("exterior", "room"):
        assert b[table]["l2"] == a[table]["l2"]
        np.testing.assert_allclose(b[table]["coef"], a[table]["coef"], atol=1e-4)


def test_kfold_holds_each_house_out_of_its_own_fit(monkeypatch):
    photos = _photos()
    seen = []
    real = fit_scene.fit_params

    def spy(train):
        seen.append({p.house for p in train})
        return real(train)

    monkeypatch.setattr(fit_scene, "fit_params", spy)
    result = fit_scene.kfold(photos, 4)
    assert len(seen) == 4 and len(result["per_fold"]) == 4
    for fold, train_houses in zip(result["per_fold"], seen):
        assert not set(fold["houses"]) & train_houses  # a held-out house never fits its own parameters
        assert len(fold["houses"]) == 2 and fold["n"] == 8
    assert sorted(h for f in result["per_fold"] for h in f["houses"]) == sorted({p.house for p in photos})
    monkeypatch.setattr(fit_scene, "fit_params", real)
    assert fit_scene.kfold(photos, 4) == result  # and re-fits the same way every time
    for key in ("exterior_acc", "room_acc"):
        figures = [f[key] for f in result["per_fold"]]
        assert result[key]["worst"] == min(figures)
        assert result[key]["mean"] == pytest.approx(np.mean(figures), abs=1e-4)
    json.dumps(result)


def test_written_parameters_are_what_the_classifier_loads(tmp_path):
    photos = _photos()
    params = fit_scene.rounded_params(fit_scene.fit_params(photos))
    figures = {"n": 32, "folds": 4, "exterior_acc": 1.0, "room_acc": 1.0,
               "exterior_kfold": {"mean": 1.0, "worst": 1.0}, "room_kfold": {"mean": 0.9, "worst": 0.8}}
    source = fit_scene.params_source(params, figures)
    assert fit_scene.COMMAND in source
    namespace: dict = {}
    exec(compile(source, "scene_params.py", "exec"), namespace)
    assert namespace["PARAMS"] == params
    model = SceneModel.from_params(namespace["PARAMS"])
    assert fit_scene.score(photos, model) == fit_scene.score(photos, SceneModel.from_params(params))


def test_the_shipped_parameters_load_and_match_the_inputs():
    from lumograph.models.classifier.scene_params import PARAMS

    model = scene.shipped_model()
    assert model.exterior.inputs == scene.EXTERIOR_INPUTS and model.room.inputs == scene.ROOM_INPUTS
    assert set(model.room.classes) == set(scene.FITTED_ROOMS)
    assert PARAMS["exterior"]["l2"] in fit_scene.L2_GRID and PARAMS["room"]["l2"] in fit_scene.L2_GRID
    stale = {**PARAMS, "room": {**PARAMS["room"], "inputs": PARAMS["room"]["inputs"][:-1]}}
    with pytest.raises(ValueError, match="fit_scene"):
        SceneModel.from_params(stale)


def test_eval_scores_what_classify_scene_says(tmp_path):
    rng = np.random.default_rng(0)
    for h in (1, 2):
        for label in LABELS:
            maker = exterior_photo if label == "frontal" else room_photo
            rgb = maker(320, 240, seed=int(rng.integers(100))).rgb
            cv2.imwrite(str(tmp_path / f"house{h}_{label}.jpg"), rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    (tmp_path / "house3_garage.jpg").write_bytes(b"not a photo, and not a label the eval knows")
    result = evaluate_scene_photos(tmp_path, folds=2)
    assert result["n"] == 8 and result["kfold"]["folds"] == 2
    expected = []
    for path in sorted(tmp_path.glob("house[12]_*.jpg")):
        got = classify_scene(np.ascontiguousarray(cv2.imread(str(path))[:, :, ::-1]))
        expected.append(got.scene == ("exterior" if "frontal" in path.name else "interior"))
    assert result["exterior_acc"] == round(sum(expected) / len(expected), 4)
    assert result["exterior_acc_kfold"] == result["kfold"]["exterior_acc"]["mean"]
    assert result["room_acc_kfold_worst"] == result["kfold"]["room_acc"]["worst"]
    json.dumps(result)
    assert evaluate_scene_photos(tmp_path, folds=3)["kfold"] is None  # fewer houses than folds


def _sky_photos(n: int = 10, seed: int = 9) -> list[fit_scene.Photo]:
    """Made-up sky_masks photos: alternately an exterior (mask with sky) and a room."""
    rng = np.random.default_rng(seed)
    return [fit_scene.Photo(f"ADE_val_{i:08d}", f"ADE_val_{i:08d}", "sky" if i % 2 else "no_sky",
                            _measurements("frontal" if i % 2 else "bathroom", rng), "sky_masks")
            for i in range(n)]


def test_sky_masks_photos_fit_the_exterior_table_and_are_held_out_by_fit_skys_folds(monkeypatch):
    listing, sky = _photos(), _sky_photos()
    leafless = [fit_scene.Photo(p.name, p.house, p.label, copy.deepcopy(p.measurements), "leafless")
                for p in listing if p.label == "frontal"]
    params = fit_scene.fit_params(listing + sky)
    assert params["exterior"]["n"] == len(listing) + len(sky)  # the rooms of sky_masks have no room label:
    assert params["room"]["n"] == 3 * 8  # the room table stays on the listing rooms
    fold_of = fit_scene.outer_folds(listing + sky + leafless, 4)
    # The sky_masks photos are dealt as bench/fit_sky.py deals them: with sky first, by name.
    with_sky = sorted(p.name for p in sky if p.label == "sky")
    without = sorted(p.name for p in sky if p.label == "no_sky")
    assert {p.name: fold_of[p.house] for p in sky} == fit_scene.sky_mask_folds(with_sky, without, 4)
    # Listing houses keep the folds they had before sky_masks photos joined.
    assert {h: fold_of[h] for h in {p.house for p in listing}} == fit_scene.house_folds([p.house for p in listing], 4)
    seen = []
    real = fit_scene.fit_params

    def spy(train):
        seen.append(train)
        return real(train)

    used: dict = {}
    classify = fit_scene.classify_measurements

    def classify_spy(measurements, model=None):
        used.setdefault(id(measurements), []).append(model)
        return classify(measurements, model)

    monkeypatch.setattr(fit_scene, "fit_params", spy)
    monkeypatch.setattr(fit_scene, "classify_measurements", classify_spy)
    result = fit_scene.kfold(listing + sky + leafless, 4)
    assert len(seen) == 4
    for k, train in enumerate(seen):
        assert all(p.source != "leafless" for p in train)  # stress copies are never fitted on
        assert all(fold_of[p.house] != k for p in train)  # nor is a held-out photo, of either source
        assert sum(p.source == "sky_masks" for p in train) == sum(fold_of[p.house] != k for p in sky)
    # Each held-out sky_masks photo and stress copy is scored once, by its own fold's model.
    for p in sky + leafless:
        [model] = used[id(p.measurements)]
        own = real(seen[fold_of[p.house]])["exterior"]
        np.testing.assert_allclose(model.exterior.coef, np.asarray(own["coef"]))
        np.testing.assert_allclose(model.exterior.bias, np.asarray(own["bias"]))
    assert result["sky_masks"]["n"] == len(sky) and result["leafless"]["n"] == len(leafless)
    assert result["per_fold"][0]["houses"] and all(h.startswith("house") for f in result["per_fold"]
                                                    for h in f["houses"])
    # The listing figures are the listing photos' alone.
    assert sum(f["n"] for f in result["per_fold"]) == len(listing)
    json.dumps(result)


def test_the_shipped_fit_reads_listing_and_sky_masks_photos_but_never_a_stress_copy():
    listing, sky = _photos(5), _sky_photos(6)
    leafless = [fit_scene.Photo(p.name, p.house, p.label, p.measurements, "leafless")
                for p in listing if p.label == "frontal"]
    result = fit_scene.fit(listing + sky + leafless)
    assert result["params"]["exterior"]["n"] == len(listing) + len(sky)
    assert result["params"]["room"]["n"] == 3 * 5
    assert result["all_data"]["n"] == len(listing)  # the listing figures are the listing photos'
    assert result["all_data"]["leafless"]["n"] == len(leafless) == result["kfold"]["leafless"]["n"]


def test_a_room_without_a_room_label_is_right_when_its_scene_is():
    listing, sky = _photos(), _sky_photos()
    model = SceneModel.from_params(fit_scene.fit_params(listing + sky))
    result = fit_scene.score(sky, model)
    wrong = [p.name for p in sky if scene.classify_measurements(p.measurements, model).scene != p.scene]
    assert result["errors"] == wrong and result["room_acc"] is None


def test_leafless_takes_the_green_out_of_leaves_and_leaves_other_colours():
    rgb = np.zeros((8, 30, 3), np.uint8)
    rgb[:, :10] = (60, 140, 50)  # leaves
    rgb[:, 10:20] = (170, 90, 60)  # brick
    rgb[:, 20:] = (90, 140, 220)  # blue sky (hue ~215: outside the greens)
    out = fit_scene.leafless(rgb)
    hsv_in = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(float)
    hsv_out = cv2.cvtColor(out, cv2.COLOR_RGB2HSV).astype(float)
    assert hsv_out[4, 4, 1] < 0.3 * hsv_in[4, 4, 1]  # the leaves lose their colour
    # Brick and sky, away from the one-pixel feather at the leaves' edge, are as they were.
    assert np.abs(out[:, 14:].astype(int) - rgb[:, 14:]).max() <= 2
