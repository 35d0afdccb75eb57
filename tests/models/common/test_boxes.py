"""Box overlap: intersection over the smaller box, for pixel and fractional boxes alike."""

from lumograph.models.common.boxes import box_area, overlap_of_smaller


def test_overlap_is_over_the_smaller_box():
    outer, pane = (0, 0, 100, 100), (10, 10, 30, 40)
    assert overlap_of_smaller(outer, pane) == overlap_of_smaller(pane, outer) == 1.0
    assert overlap_of_smaller((0, 0, 10, 10), (5, 0, 25, 10)) == 0.5  # half of the smaller
    assert overlap_of_smaller((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_fractional_and_empty_boxes():
    assert abs(overlap_of_smaller((0.1, 0.1, 0.2, 0.2), (0.15, 0.1, 0.5, 0.2)) - 0.5) < 1e-9
    assert overlap_of_smaller((5, 5, 5, 9), (0, 0, 10, 10)) == 0.0  # empty: no overlap, no error
    assert box_area((3, 3, 1, 9)) == 0
