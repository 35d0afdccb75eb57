"""Fitted parameters of the facade-window detector (``facade_windows.py``).

Written by ``python -m lumograph.bench.fit_facade_windows --data ../shared/eval --write``
(``bench/fit_facade_windows.py``); do not edit by hand: re-run it after changing a measurement.
logits = bias + clip(standardise(inputs), +-4) @ coef; a candidate is kept when its
confidence reaches ``threshold``.

At fit time, on 30 exteriors (192 labelled windows): all-data windows lit 0.3958, boxes on glass 0.6832;
5-fold by house windows lit 0.3646, boxes on glass 0.6481 (worst fold F0.5 0.4545).
"""

PARAMS = {
    "model": "logistic",
    "inputs": [
        "log_area_share", "log_aspect", "fill", "step", "ring_luminance",
        "inside_luminance", "saturation", "green", "blue", "side_edges",
        "inside_edges", "texture", "centre_y", "sky_inside", "sky_above",
        "dark_source", "outline_source", "grouped_source", "adaptive_source", "axis_edges",
        "size_far", "repeats", "wider_beside", "narrower_beside",
    ],
    "l2": 10.0,
    "n": 33335,
    "mean": [
        -7.62307, 0.0944669, 0.596729, -0.0281768, 0.44908,
        0.439374, 0.326536, 0.164911, 0.135584, 0.964181,
        0.847116, 0.117274, 0.525905, 0.0372785, 0.0825084,
        0.104905, 0.00242988, 0.0920654, 0.642928, 0.530027,
        3.04939, 1.90803, 0.0542673, 0.0539673,
    ],
    "scale": [
        1.24639, 0.536535, 0.177092, 0.26865, 0.180991,
        0.183365, 0.195029, 0.299264, 0.297395, 0.135903,
        0.192526, 0.0635901, 0.261849, 0.141161, 0.228049,
        0.306431, 0.0492339, 0.289118, 0.479136, 0.121436,
        2.4607, 0.650766, 0.226544, 0.225953,
    ],
    "coef": [
        [-0.60172, 0.60172],
        [0.17671, -0.17671],
        [-0.248473, 0.248473],
        [0.162339, -0.162339],
        [-0.21396, 0.21396],
        [0.36399, -0.36399],
        [0.123748, -0.123748],
        [0.116498, -0.116498],
        [-0.150744, 0.150744],
        [-0.437863, 0.437863],
        [-0.223926, 0.223926],
        [0.0319344, -0.0319344],
        [0.373642, -0.373642],
        [0.168274, -0.168274],
        [0.314832, -0.314832],
        [0.155378, -0.155378],
        [0.0487277, -0.0487277],
        [0.228333, -0.228333],
        [0.304839, -0.304839],
        [-0.708268, 0.708268],
        [0.455815, -0.455815],
        [-0.102842, 0.102842],
        [0.154898, -0.154898],
        [0.00214943, -0.00214943],
    ],
    "bias": [3.51799, -3.51799],
    "threshold": 0.55,
}
