"""The mirror clean-up eval pastes its stand-in person where it says it did."""
from __future__ import annotations

import numpy as np

from lumograph.bench import fit_listing_people as people
from lumograph.bench.eval_mirror_cleanup import _pasted
from lumograph.bench.synthetic_listing import room_photo
from lumograph.models.inpainter.mirror import mirror_box_pixels, mirror_cleanup


def test_the_pasted_face_lies_where_reported_inside_the_mirror_and_is_cleaned():
    rgb = room_photo(1200, 900, tilt_deg=0).rgb
    mirror = {"present": True, "bbox_norm": [0.35, 0.15, 0.7, 0.6], "confidence": 0.8}
    h, w = rgb.shape[:2]
    mx0, my0, mx1, my1 = mirror_box_pixels(mirror, (h, w))
    img, face = _pasted(rgb, mirror, people.astronaut_patch(), 0.2, np.random.default_rng(1))
    changed = np.abs(img.astype(int) - rgb).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert mx0 <= xs.min() and xs.max() < mx1 and my0 <= ys.min() and ys.max() < my1  # only the mirror
    fx0, fy0, fx1, fy1 = (int(face[0] * w), int(face[1] * h), int(face[2] * w), int(face[3] * h))
    assert changed[fy0:fy1, fx0:fx1].mean() > 0.95  # the reported face box is pasted over
    assert abs((fx1 - fx0) - 0.2 * (mx1 - mx0)) <= 2
    out = mirror_cleanup(img, mirror)
    assert out["applied"] and people.box_iou(out["report"]["face_box_norm"], face) >= people.FOUND_IOU
