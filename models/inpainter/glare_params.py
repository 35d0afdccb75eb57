"""Fitted thresholds of the hot-spot tests (``hotspots.py``).

Placeholder until ``python -m lumograph.bench.fit_glare --data ../shared/eval --write`` runs:
the hand-set values.
"""

PARAMS = {
    "thresholds": {
        "seed_contrast": 0.16,
        "peak_relative": 0.97,
        "max_region_share": 0.01,
        "rect_fill": 0.85,
        "light_source_top": 0.35,
        "softness_min": 2.6,
        "clipped_halo_min": 3.0,
        "step_edge_max": 0.36,
        "plateau_max": 0.5,
        "ring_cv_max": 0.15,
        "ring_std_max": 0.06,
        "sky_blue_margin": 0.06,
        "dark_surround": 0.12,
    },
}
