"""Fitted thresholds of the classical sky matte (``sky_matte.py``).

Written by ``python -m lumograph.bench.fit_sky --data ../shared/eval --write``
(``bench/fit_sky.py``); do not edit by hand: re-run it after changing the matte.
At fit time, product pipeline (classify, then the matte for exteriors) on
7 sky_masks photos with sky, 12 without and 90 listing interiors:
all-data mIoU 0.778, false sky 0.0;
5-fold mIoU 0.7556 (worst fold 0.0), false sky 0.0.
"""

PARAMS = {
    'grow_lab_distance': 15.0,
    'grow_texture': 3.5,
    'likeness_far': 26.0,
    'exterior_accept_log_odds': 0.0,
}
