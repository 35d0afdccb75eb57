"""Facade windows for day-to-dusk: the candidates hold every pane of a facade, the
selection keeps the most confident box of a window and drops panes inside it and boxes
under the threshold, and the shipped fit finds the windows of a plain facade and
nothing on its wall."""

import numpy as np
import pytest

from lumograph.models.common.errors import InvalidImage
from lumograph.models.compositor.facade_windows import (
    FACADE_INPUTS,
    SHAPE_BINS,
    SHAPE_CELLS,
    SHAPE_INPUTS,
    _box_maps,
    _shape_descriptors,
    detect_facade_windows,
    facade_candidates,
    facade_window_confidence,
    select_windows,
)


def _facade(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, int]]]:
    """1024x683 daylight facade: blue sky over a beige wall with four framed windows of
    dark glass (white trim, a white muntin cross), a lawn below. rgb, sky, glass boxes."""
    rng = np.random.default_rng(seed)
    h, w = 683, 1024
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:] = (214, 200, 176)
    rgb[:170] = (90, 150, 230)
    rgb[560:] = (70, 130, 60)
    glass = []
    for x0, y0 in ((180, 260), (420, 260), (660, 260), (420, 420)):
        bw, bh = 90, 120
        rgb[y0 - 8:y0 + bh + 8, x0 - 8:x0 + bw + 8] = (245, 245, 240)
        rgb[y0:y0 + bh, x0:x0 + bw] = (70, 78, 88)
        rgb[y0 + bh // 2 - 2:y0 + bh // 2 + 2, x0:x0 + bw] = (245, 245, 240)
        rgb[y0:y0 + bh, x0 + bw // 2 - 2:x0 + bw // 2 + 2] = (245, 245, 240)
        glass.append((x0, y0, x0 + bw, y0 + bh))
    rgb += rng.normal(0, 3, rgb.shape)
    sky = np.zeros((h, w), np.float32)
    sky[:170] = 1.0
    return np.clip(rgb, 0, 255).astype(np.uint8), sky, glass


def _iou(a, b) -> float:
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - iw * ih
    return iw * ih / union


def test_candidates_hold_every_window_and_are_measured():
    rgb, sky, glass = _facade()
    candidates = facade_candidates(rgb, sky)
    for box in glass:
        assert max(_iou(box, c["bbox"]) for c in candidates) >= 0.7
    for c in candidates:
        assert set(c["measures"]) == set(FACADE_INPUTS)
        assert all(np.isfinite(v) for v in c["measures"].values())
    rgb.setflags(write=False)
    assert [c["bbox"] for c in facade_candidates(rgb, sky)] == [c["bbox"] for c in candidates]


def test_the_shipped_fit_finds_the_windows_and_nothing_on_the_wall():
    rgb, sky, glass = _facade(seed=1)
    found = detect_facade_windows(rgb, sky)
    # As the fit and the eval count it: a window is lit when the kept boxes (the whole
    # window, or its panes) cover at least half of its glass.
    lit = np.zeros(rgb.shape[:2], bool)
    for f in found:
        x0, y0, x1, y1 = f["bbox"]
        lit[y0:y1, x0:x1] = True
    hits = sum(1 for x0, y0, x1, y1 in glass if lit[y0:y1, x0:x1].mean() >= 0.5)
    assert hits >= 3
    for f in found:  # every box lies on a window (its glass or trim)
        cx, cy = (f["bbox"][0] + f["bbox"][2]) / 2, (f["bbox"][1] + f["bbox"][3]) / 2
        assert any(x0 - 10 <= cx <= x1 + 10 and y0 - 10 <= cy <= y1 + 10 for x0, y0, x1, y1 in glass), f


def _table(threshold: float = 0.5) -> dict:
    """A hand-made table: confidence = sigmoid(-4 x step) (darker than the ring: a window),
    every other input ignored."""
    coef = [[0.0, 0.0] for _ in FACADE_INPUTS]
    coef[FACADE_INPUTS.index("step")] = [0.0, -4.0]
    return {"inputs": list(FACADE_INPUTS), "mean": [0.0] * len(FACADE_INPUTS),
            "scale": [1.0] * len(FACADE_INPUTS), "coef": coef, "bias": [0.0, 0.0], "threshold": threshold}


def _candidate(box, step: float) -> dict:
    return {"bbox": list(box), "measures": {k: 0.0 for k in FACADE_INPUTS} | {"step": step}}


def test_selection_keeps_the_best_box_of_a_window_and_drops_weak_ones():
    table = _table()
    window = _candidate((100, 100, 200, 220), -1.0)  # dark: confident
    pane = _candidate((110, 110, 150, 160), -0.5)  # inside it, less confident
    wall = _candidate((400, 100, 480, 200), 0.3)  # under the threshold
    other = _candidate((300, 100, 380, 220), -0.8)
    assert facade_window_confidence(window["measures"], table) > facade_window_confidence(pane["measures"], table)
    both = _candidate((95, 95, 385, 225), -0.9)  # around two windows and the wall between
    kept = select_windows([pane, wall, other, window, both], table)
    assert [k["bbox"] for k in kept] == [window["bbox"], other["bbox"]]
    assert kept[0]["score"] >= kept[1]["score"]
    # A lower threshold lets the wall box in; the pane stays out (it is the same window).
    assert len(select_windows([pane, wall, other, window], _table(threshold=0.2))) == 3
    # A pane more confident than its window grows to the window; a box around two kept
    # windows (and the wall between them) is dropped whatever its confidence.
    sure_pane = _candidate((110, 110, 150, 160), -1.5)
    kept = select_windows([window, sure_pane, other, both], table)
    assert sorted(k["bbox"] for k in kept) == sorted([window["bbox"], other["bbox"]])


def test_bad_input_is_refused():
    with pytest.raises(InvalidImage):
        facade_candidates(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InvalidImage):
        detect_facade_windows(np.zeros((64, 64), np.uint8))


def test_shutters_and_rows_of_windows_are_measured_as_such():
    rgb, sky, glass = _facade(seed=2)
    x0, y0, x1, y1 = glass[0]
    rgb[y0:y1, x0 - 40:x0 - 12] = (60, 90, 70)  # a dark green shutter left of the first window
    candidates = facade_candidates(rgb, sky)

    def best(box):
        return max(candidates, key=lambda c: _iou(box, c["bbox"]))
    window = best(glass[0])["measures"]
    shutter = best((x0 - 40, y0, x0 - 12, y1))["measures"]
    assert window["narrower_beside"] == 1.0 and window["wider_beside"] == 0.0
    assert shutter["wider_beside"] == 1.0
    assert best(glass[1])["measures"]["repeats"] >= np.log1p(2)  # a row of three, and one below


def _descriptor(rgb: np.ndarray, box) -> np.ndarray:
    """The shape descriptor of ``box`` on ``rgb``, as (cells, bins)."""
    return _shape_descriptors(_box_maps(rgb, None), [box])[0].reshape(SHAPE_CELLS * SHAPE_CELLS, SHAPE_BINS)


def test_shape_descriptor_tells_louvres_from_a_framed_pane():
    # A shutter's louvres are level lines: their gradients point up/down (the 80-100 degree
    # bin); a muntin's plumb bar and the frame's sides add the 0 degree bin.
    h, w = 300, 400
    wall = np.full((h, w, 3), 200, np.uint8)
    louvres = wall.copy()
    louvres[100:200, 150:200] = 60
    louvres[100:200:8, 150:200] = 230  # level slats every 8 px
    box = (150, 100, 200, 200)
    level, plumb = SHAPE_BINS // 2, 0
    inner = [r * SHAPE_CELLS + c for r in (1, 2) for c in (1, 2)]  # the cells on the box
    d_louvres = _descriptor(louvres, box)[inner]
    pane = wall.copy()
    pane[100:200, 150:200] = 60
    pane[100:200, 173:177] = 230  # one plumb muntin
    d_pane = _descriptor(pane, box)[inner]
    assert d_louvres[:, level].sum() > 1.5 * d_pane[:, level].sum()
    assert d_pane[:, plumb].sum() > 1.5 * d_louvres[:, plumb].sum()
    assert (d_louvres[:, level] > d_louvres[:, plumb]).all()
    # Each cell is normalised: the pattern counts, not the contrast.
    faint = (wall.astype(np.int16) + ((louvres.astype(np.int16) - wall) // 4)).astype(np.uint8)
    np.testing.assert_allclose(_descriptor(faint, box)[inner], _descriptor(louvres, box)[inner], atol=0.05)
    # A flat wall has no pattern; inputs are named per cell and bin.
    assert np.abs(_descriptor(wall, box)).max() < 1e-6
    assert len(SHAPE_INPUTS) == SHAPE_CELLS * SHAPE_CELLS * SHAPE_BINS
    assert set(SHAPE_INPUTS) <= set(FACADE_INPUTS)
