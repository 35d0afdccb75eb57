"""Fitted parameters of the classical window detector (``classical.py``).

Written by ``python -m lumograph.bench.fit_windows --data ../shared/eval --write``
(``bench/fit_windows.py``); do not edit by hand: re-run it after changing a measurement.
model "votes": the cue votes of ``classical.vote_confidence`` (only the threshold fitted);
"logistic": logits = bias + clip(standardise(inputs), +-4) @ coef. A region is reported
when its confidence reaches ``threshold``. Shipped: the model with the better held-out F0.5,
the more precise one within 0.02 (votes: k-fold precision 0.881, recall 0.4805, F0.5 0.7551; logistic: k-fold precision 0.7917, recall 0.7403, F0.5 0.7808).

At fit time, on 199 labelled regions (77 windows) of 76 interiors: all-data precision 0.8553, recall 0.8442;
5-fold by house precision 0.7917, recall 0.7403 (worst fold F0.5 0.679).
"""

PARAMS = {
    "model": "logistic",
    "inputs": ["edge_stops", "box_fill", "straight", "mean_vmax", "clipped_share", "blown_share", "warmth", "circularity", "log_area_share", "top", "bottom", "log_aspect", "round_small", "in_ceiling", "below_window_line", "thin_strip"],
    "l2": 10.0,
    "n": 199,
    "mean": [0.94184, 0.568311, 0.898206, 241.812, 0.41681, 0.204558, 14.7669, 0.394715, -4.24269, 0.280011, 0.496834, 0.190564, 0.00502513, 0.190955, 0.160804, 0.0954774],
    "scale": [0.538258, 0.181054, 0.0699326, 9.16423, 0.303119, 0.271208, 49.2505, 0.190559, 0.894214, 0.240755, 0.27023, 0.901111, 0.0707098, 0.393053, 0.36735, 0.293873],
    "coef": [
        [-0.25017, 0.25017],
        [-0.365256, 0.365256],
        [-0.0252421, 0.0252421],
        [0.195426, -0.195426],
        [0.091088, -0.091088],
        [-0.0967322, 0.0967322],
        [0.413085, -0.413085],
        [-0.0909125, 0.0909125],
        [-0.0189999, 0.0189999],
        [-0.0826291, 0.0826291],
        [0.0856824, -0.0856824],
        [0.254999, -0.254999],
        [0.045117, -0.045117],
        [0.255575, -0.255575],
        [0.339841, -0.339841],
        [0.140267, -0.140267],
    ],
    "bias": [0.481133, -0.481133],
    "threshold": 0.5,
}
