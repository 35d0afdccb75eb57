"""bench/fit_windows.py: the fit separates what its inputs separate, the threshold favours
precision, the k-fold scores each house with a model that never saw it, and the labels
still name the detector's candidates on the eval photos."""

import numpy as np
import pytest

from lumograph.bench import fit_windows
from lumograph.models.window_detector.classical import WINDOW_INPUTS, window_confidence
from tests.eval_data import require_eval


def _rows(n_houses: int = 10, seed: int = 0) -> list[dict]:
    """Regions whose step down to the wall (edge_stops) tells windows (~1.5) from the rest
    (~0.3); every other input is noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(n_houses):
        for i in range(8):
            window = i % 2
            x = rng.normal(0, 1, len(WINDOW_INPUTS))
            x[WINDOW_INPUTS.index("edge_stops")] = (1.5 if window else 0.3) + rng.normal(0, 0.25)
            rows.append({"photo": f"house{h}_kitchen", "house": f"house{h}", "x": list(x), "y": window})
    return rows


def test_the_fit_finds_the_separating_input_and_scores_held_out_houses():
    rows = _rows()
    params = fit_windows.fit_params(rows)
    assert params["inputs"] == list(WINDOW_INPUTS) and params["threshold"] in fit_windows.THRESHOLDS
    edge = np.abs(np.asarray(params["coef"])[:, 1] - np.asarray(params["coef"])[:, 0])
    assert int(edge.argmax()) == WINDOW_INPUTS.index("edge_stops")
    strong = {k: 0.0 for k in WINDOW_INPUTS} | {"edge_stops": 1.6}
    weak = {k: 0.0 for k in WINDOW_INPUTS} | {"edge_stops": 0.2}
    assert window_confidence(strong, params) > 0.9 > 0.1 > window_confidence(weak, params)
    folded = fit_windows.kfold(rows)
    assert folded["precision"] >= 0.9 and folded["recall"] >= 0.9
    assert sum(f["n"] for f in folded["per_fold"]) == len(rows)


def test_precision_counts_more_than_recall():
    # F0.5: three found of four with none wrong beats four found with two wrong.
    careful = fit_windows._prf(tp=3, fp=0, fn=1)
    greedy = fit_windows._prf(tp=4, fp=2, fn=0)
    assert careful["f_beta"] > greedy["f_beta"]


@pytest.mark.data
def test_the_labels_still_name_the_detectors_candidates():
    rows = fit_windows.measure(require_eval("listing_photos").parent)
    assert len(rows) >= 150 and sum(r["y"] for r in rows) >= 50


def test_the_shipped_model_is_the_better_held_out_one_and_the_more_precise_when_close():
    folded = {"votes": {"f_beta": 0.75, "precision": 0.9}, "logistic": {"f_beta": 0.80, "precision": 0.7}}
    assert fit_windows.choose_model(folded) == "logistic"
    folded["votes"]["f_beta"] = 0.79  # within F_TIE: the more precise one
    assert fit_windows.choose_model(folded) == "votes"
