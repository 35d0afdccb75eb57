"""bench/fit_sky.py: the grid choice weighs false skies, and the k-fold never scores a
photo with parameters chosen on it (synthetic per-photo results, no photos needed)."""

import numpy as np

from lumograph.bench import fit_sky
from lumograph.bench.fit_sky import Measured, choose, grid_points, kfold, score


def _photo(name: str, fold: int, has_sky: bool, scene: str, good_key: tuple, base: float = 3.0) -> Measured:
    """A photo whose prediction is perfect at ``good_key`` and half wrong elsewhere; a photo
    without sky gets a 10 % false sky at ``good_key`` when its evidence passes."""
    gt = np.zeros((20, 20), bool)
    if has_sky:
        gt[:8] = True
    preds, log_odds = {}, {}
    for key in grid_points():
        if has_sky:
            pred = gt.copy() if key == good_key else np.zeros_like(gt)
            if key != good_key:
                pred[:4] = True
        else:
            pred = np.zeros_like(gt)
            pred[:2] = True
        preds[key] = pred
        log_odds[key] = base
    return Measured(name, "sky_masks", fold, gt, scene, scene, log_odds, preds)


def test_choose_prefers_the_best_matte_and_refuses_false_skies():
    keys = grid_points()
    good = keys[5]
    photos = [_photo(f"s{i}", i % 5, True, "exterior", good) for i in range(5)]
    # A photo without sky that the classifier calls exterior, whose region's evidence is 0:
    # at an exterior threshold of 0 it gets a false sky, at 1 it does not.
    photos.append(_photo("n0", 0, False, "exterior", good, base=-1.5))
    key, accept, s = choose(photos)
    assert key == good
    assert s["false_skies"] == 0 and accept > -1.5 + fit_sky.EXTERIOR_TERM
    assert s["miou"] == 1.0
    # Scored at the accepting threshold, the false sky is counted and costs the objective.
    loose = score(photos, good, min(fit_sky.ACCEPT_GRID))
    assert loose["false_skies"] == 1 and loose["objective"] < s["objective"]


def test_interior_calls_get_no_sky_and_the_kfold_holds_each_fold_out():
    keys = grid_points()
    photos = [_photo(f"s{i}", i, True, "exterior", keys[i]) for i in range(5)]
    photos.append(_photo("alley", 0, True, "interior", keys[0]))
    s = score(photos, keys[0], 0.0)
    assert s["ious"][-1] == 0.0  # classified interior: no matte at all
    folded = kfold(photos)
    # Each photo is best at its own grid point; held out, its fold's choice comes from the
    # other photos, so no held-out photo scores 1.0 through its own result.
    for f in folded["per_fold"]:
        held = [p for p in photos if p.fold == f["fold"] and p.name != "alley"]
        chosen = tuple(f["params"][k] for k in fit_sky.MATTE_GRID)
        assert all(chosen != k for k in (keys[int(p.name[1:])] for p in held))
    assert folded["miou"] < 1.0
