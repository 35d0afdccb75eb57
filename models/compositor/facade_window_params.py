"""Fitted parameters of the facade windows detector (``facade_windows.py``).

Written by ``python -m lumograph.bench.fit_facade_windows --data ../shared/eval --write``
(``bench/fit_facade_windows.py``); do not edit by hand: re-run it after changing a measurement.
logits = bias + clip(standardise(inputs), +-4) @ coef; a candidate is kept when its
confidence reaches ``threshold``.

At fit time, on 30 exteriors (192 labelled windows): all-data windows found 0.3958, boxes on them 0.679;
5-fold by house windows found 0.3333, boxes on them 0.6913 (worst fold F0.5 0.4545).
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
        0.847116, 0.117274, 0.525905, 0.0368397, 0.080651,
        0.104905, 0.00242988, 0.0920654, 0.642928, 0.530027,
        3.04939, 1.90803, 0.0542673, 0.0539673,
    ],
    "scale": [
        1.24639, 0.536535, 0.177092, 0.26865, 0.180991,
        0.183365, 0.195029, 0.299264, 0.297395, 0.135903,
        0.192526, 0.0635901, 0.261849, 0.140615, 0.225534,
        0.306431, 0.0492339, 0.289118, 0.479136, 0.121436,
        2.4607, 0.650766, 0.226544, 0.225953,
    ],
    "coef": [
        [-0.598303, 0.598303],
        [0.177405, -0.177405],
        [-0.247219, 0.247219],
        [0.162365, -0.162365],
        [-0.209514, 0.209514],
        [0.362214, -0.362214],
        [0.121725, -0.121725],
        [0.117957, -0.117957],
        [-0.150523, 0.150523],
        [-0.437321, 0.437321],
        [-0.225327, 0.225327],
        [0.0349338, -0.0349338],
        [0.372503, -0.372503],
        [0.170726, -0.170726],
        [0.300498, -0.300498],
        [0.156161, -0.156161],
        [0.0481177, -0.0481177],
        [0.227141, -0.227141],
        [0.305333, -0.305333],
        [-0.709808, 0.709808],
        [0.457149, -0.457149],
        [-0.106409, 0.106409],
        [0.155947, -0.155947],
        [0.00144273, -0.00144273],
    ],
    "bias": [3.51409, -3.51409],
    "threshold": 0.55,
}
