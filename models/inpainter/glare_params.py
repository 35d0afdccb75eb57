"""Fitted thresholds of the hot-spot tests (``hotspots.py``).

Written by ``python -m lumograph.bench.fit_glare --data ../shared/eval --write``
(``bench/fit_glare.py``); do not edit by hand: re-run it after changing a measurement.
Shipped: "fitted" (the fitted thresholds ship only when their held-out net gain
(tp - 2 fp) beats the hand-set one: fitted k-fold tp 0, fp 9, net -18;
hand-set tp 1, fp 16, net -31). Specular improved on every image:
True; synthetic flash spots found 9/9.

At fit time, on 364 labelled regions (14 glare, 110 shine) of 74 interiors:
all-data precision 0.0, recall 0.0, shine kept 0.9364;
5-fold by house precision 0.0, recall 0.0, shine kept 0.9364.
Auto-select (largest hot-spot >= auto_min_region_share of the frame): 0 of the
interiors edited (0 glare, 0 wrong regions); 5-fold 1 (0 glare, 1 wrong).
"""

PARAMS = {
    "model": "fitted",
    "thresholds": {
        "seed_contrast": 0.16,
        "peak_relative": 0.99,
        "max_region_share": 0.01,
        "rect_fill": 0.85,
        "light_source_top": 0.35,
        "softness_min": 2.6,
        "clipped_halo_min": 3.0,
        "step_edge_max": 0.36,
        "plateau_max": 0.3,
        "ring_cv_max": 0.1,
        "ring_std_max": 0.06,
        "sky_blue_margin": 0.06,
        "dark_surround": 0.12,
    },
    "auto_min_region_share": 0.001,
}
