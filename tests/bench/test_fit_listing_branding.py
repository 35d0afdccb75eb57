"""The branding fit's choice over pass settings (``bench/fit_listing_branding.py``), on
hand-made candidates: the better pairing wins, ties keep the cheaper passes, and the
shipped point always keeps the border bands."""
from lumograph.bench import fit_listing_branding as fit
from lumograph.models.qa.mls import FoundText

LABELS = {
    "house1_bedroom.jpg": {"overlay": "watermark", "where": "bottom-right", "lettering": "yes"},
    "house2_bedroom.jpg": {"overlay": "watermark", "where": "bottom-right", "lettering": "yes"},
    "house3_bedroom.jpg": {"overlay": "none", "where": "", "lettering": ""},
}
NAMES = sorted(LABELS)
MARK = FoundText((0.8, 0.9, 0.95, 0.97), 0.9, 0.02, "bottom-right corner")
BANDS_ONLY = (0.12, 1024, 0.0, 0.0, 0)
CORNERS = (0.12, 1024, 0.08, 0.3, 1024)
NO_BANDS = (0.0, 0, 0.08, 0.3, 1024)


def _cands(found_in: list[str]) -> dict:
    return {n: [MARK] if n in found_in else [] for n in NAMES}


def test_the_pairing_that_finds_more_marks_is_chosen():
    cands = {BANDS_ONLY: _cands(["house1_bedroom.jpg"]), CORNERS: _cands(NAMES[:2])}
    point, t = fit.best_point(cands, LABELS, NAMES)
    assert point[:5] == CORNERS and t["found"] == 2 and t["false_flags"] == 0


def test_a_tie_keeps_the_cheaper_passes():
    same = _cands(NAMES[:2])
    point, _ = fit.best_point({CORNERS: same, BANDS_ONLY: same}, LABELS, NAMES)
    assert point[:5] == BANDS_ONLY
    assert fit._cost(BANDS_ONLY) < fit._cost(CORNERS)


def test_the_shipped_point_keeps_the_bands():
    cands = {NO_BANDS: _cands(NAMES[:2]), BANDS_ONLY: _cands([])}
    assert set(fit.searched(cands)) == {BANDS_ONLY}
    point, _ = fit.best_point(fit.searched(cands), LABELS, NAMES)
    assert point[0] > 0


def test_a_cache_of_other_passes_or_photos_is_not_reused(tmp_path, monkeypatch):
    """--cache: the stored candidates are used only for the same grid and photo names."""
    calls = []

    def fake_candidates(photos, detector):
        calls.append(sorted(photos))
        marks = {n: [MARK] if n in NAMES[:2] else [] for n in photos}
        return {b + c: marks for b in fit.BANDS for c in fit.CORNERS}, {"frame": 0.0}

    monkeypatch.setattr(fit, "candidates", fake_candidates)
    photos = dict.fromkeys(NAMES)
    cache = tmp_path / "cands.pkl"
    fit.fit(photos, LABELS, detector=None, cache=cache)
    fit.fit(photos, LABELS, detector=None, cache=cache)
    assert len(calls) == 1  # the second run read the cache
    fit.fit({**photos, "house4_bedroom.jpg": None}, {**LABELS, "house4_bedroom.jpg": LABELS[NAMES[2]]},
            detector=None, cache=cache)
    assert len(calls) == 2  # other photos: measured again
