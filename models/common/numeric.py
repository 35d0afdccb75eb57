"""Small numeric helpers shared by the modules (ramps, clamps, report rounding)."""
from __future__ import annotations

import numpy as np


def smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Hermite ramp: 0 at or below ``lo``, 1 at or above ``hi``, smooth between.
    ``x``: float array (the result has its dtype; cast integer input first)."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def clamp(v: float, lo: float, hi: float) -> float:
    """``v`` limited to [lo, hi], as a Python float."""
    return float(min(max(v, lo), hi))


def rounded(v: float, nd: int = 4) -> float:
    """A float rounded for a JSON report."""
    return round(float(v), nd)


def two_class_probability(measures: dict, table: dict, clip: float = 4.0) -> float:
    """Probability of the second class under a fitted two-class logistic table
    (``bench/fit_scene.fit_table``'s format: ``inputs``, ``mean``, ``scale``, ``coef``
    (inputs x 2), ``bias`` (2)): the named ``measures`` are standardised, clipped to
    +-``clip`` and weighted."""
    x = np.asarray([measures[k] for k in table["inputs"]], np.float64)
    z = np.clip((x - np.asarray(table["mean"])) / np.asarray(table["scale"]), -clip, clip)
    logits = z @ np.asarray(table["coef"]) + np.asarray(table["bias"])
    return float(1.0 / (1.0 + np.exp(-(logits[1] - logits[0]))))
