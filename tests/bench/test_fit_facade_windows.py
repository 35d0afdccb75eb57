"""bench/fit_facade_windows.py: candidates are labelled by how much of them is glass, a
window counts as lit only when the kept boxes cover it, the fit finds the input that
separates windows from walls and the k-fold scores each house with a fit that never saw
it; the labels name the eval's exteriors."""

import numpy as np
import pytest

from lumograph.bench import fit_facade_windows as fit
from lumograph.models.compositor.facade_windows import FACADE_INPUTS, SHAPE_INPUTS
from tests.eval_data import require_eval


def _photo(house: int, rng: np.random.Generator) -> dict:
    """A 200x300 'photo' with three labelled windows; candidates: each window (dark: step
    ~ -1), a pane inside each, and four wall boxes (step ~ 0); the other scalar inputs are
    noise, the shape descriptor blank (144 noise inputs over 80 candidates would be fitted
    as well as the one that separates)."""
    shape = (200, 300)
    labels = [{"box": (x / 300, 0.3, (x + 40) / 300, 0.6), "kind": "window", "occluded": False} for x in (30, 130, 230)]
    glass = fit._glass_mask(labels, shape)
    candidates = []

    def add(box, step):
        measures = ({k: float(rng.normal()) for k in FACADE_INPUTS} | dict.fromkeys(SHAPE_INPUTS, 0.0)
                    | {"step": step + float(rng.normal(0, 0.15))})
        candidates.append({"bbox": list(box), "measures": measures, "y": fit.candidate_label(box, labels, glass)})
    for x in (30, 130, 230):
        add((x, 60, x + 40, 120), -1.0)
        add((x + 5, 65, x + 18, 80), -0.9)
    for x in (0, 75, 180, 275):
        add((x, 140, x + 20, 180), 0.0)
    return {"photo": f"house{house}_frontal", "house": f"house{house}", "shape": shape, "labels": labels,
            "glass": glass, "candidates": candidates}


def test_candidate_labels_follow_the_glass():
    labels = [{"box": (0.1, 0.1, 0.5, 0.5), "kind": "window", "occluded": False}]
    glass = fit._glass_mask(labels, (100, 100))
    assert fit.candidate_label((10, 10, 50, 50), labels, glass) == 1
    assert fit.candidate_label((60, 60, 90, 90), labels, glass) == 0
    assert fit.candidate_label((30, 30, 70, 70), labels, glass) is None  # a quarter glass: left out
    assert fit.candidate_label((10, 10, 14, 14), labels, glass) is None  # a corner of a pane: too small


def test_a_window_is_lit_only_when_covered_and_boxes_off_glass_count_against():
    rng = np.random.default_rng(0)
    photo = _photo(0, rng)
    covered = fit.score_boxes(photo, [[30, 60, 70, 120], [130, 60, 148, 120]])
    assert covered["labelled"] == 3 and covered["found"] == 1  # the second covers 45%: not lit
    assert fit.score_boxes(photo, [[30, 60, 70, 120], [130, 60, 152, 120]])["found"] == 2
    wall = fit.score_boxes(photo, [[0, 140, 20, 180]])
    assert wall["boxes"] == 1 and wall["boxes_on_label"] == 0
    occluded = dict(photo, labels=[dict(lab, occluded=True) for lab in photo["labels"]])
    assert fit.score_boxes(occluded, [])["labelled"] == 0


def test_the_fit_finds_the_separating_input_and_scores_held_out_houses():
    rng = np.random.default_rng(1)
    photos = [_photo(h, rng) for h in range(10)]
    params = fit.fit_params(photos)
    coef = np.asarray(params["coef"])
    assert int(np.abs(coef[:, 1] - coef[:, 0]).argmax()) == FACADE_INPUTS.index("step")
    assert fit.score_photos(photos, params)["recall"] == 1.0
    folded = fit.kfold(photos)
    assert folded["recall"] >= 0.9 and folded["box_precision"] >= 0.9
    assert sum(len(f["houses"]) for f in folded["per_fold"]) == 10


def test_the_labels_are_well_formed():
    labels = fit.read_labels()
    assert len(labels) == 30 and all(name.endswith("_frontal") for name in labels)
    boxes = [lab for v in labels.values() for lab in v]
    assert len(boxes) >= 100 and {lab["kind"] for lab in boxes} <= {"window", "door", "garage"}


@pytest.mark.data
def test_the_labels_name_the_eval_exteriors_and_their_windows_are_candidates():
    folder = require_eval("listing_photos")
    assert set(fit.read_labels()) == {p.stem for p in folder.glob("*_frontal.jpg")}
    stems = ["house113_frontal", "house322_frontal", "house471_frontal"]  # three labellers' photos
    photos = fit.measure(folder.parent, stems)
    assert [p["photo"] for p in photos] == stems
    for p in photos:  # every photo's windows are among its candidates
        assert sum(c["y"] == 1 for c in p["candidates"]) >= 2, p["photo"]
