"""Axis-aligned boxes ``(x0, y0, x1, y1)`` (pixels or fractions of the frame): area and
overlap, shared by the detectors that merge or compare boxes."""
from __future__ import annotations


def box_area(box) -> float:
    """Area of ``box``; 0 for an empty or inverted one."""
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def overlap_of_smaller(a, b) -> float:
    """Intersection of ``a`` and ``b`` over the smaller box's area (1.0 when one holds the
    other, 0.0 when they are apart or one is empty)."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min(box_area(a), box_area(b))
    return iw * ih / smaller if smaller > 0 else 0.0
