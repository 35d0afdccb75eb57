import cv2
import numpy as np
import pytest

from lumograph.models.common.imageio import encode_image
from lumograph.models.compositor.lightbox import compose_lightbox
from lumograph.models.qa.checks import Check, verdict
from lumograph.models.qa.core import QACore
from lumograph.models.qa.cutout import check_complete, check_cutout, count_pieces


def _alpha_with_blobs(n, size=400):
    a = np.zeros((size, size), np.float32)
    for i in range(n):
        cv2.circle(a, (60 + i * 110, 200), 40, 1.0, -1)
    return a


def test_count_pieces_counts_separate_objects_and_ignores_specks():
    assert count_pieces(_alpha_with_blobs(1)) == 1
    assert count_pieces(_alpha_with_blobs(3)) == 3
    a = _alpha_with_blobs(1)
    a[10:12, 10:12] = 1.0  # a speck of dust
    assert count_pieces(a) == 1
    assert count_pieces(np.zeros((50, 50), np.float32)) == 0


def test_chain_with_pendant_is_one_piece():
    a = np.zeros((400, 400), np.float32)
    cv2.line(a, (20, 50), (200, 250), 1.0, 2)
    cv2.circle(a, (205, 265), 20, 1.0, -1)
    assert count_pieces(a) == 1


def test_cutout_checks_flag_props_enlargement_and_busy_backdrops():
    ok = {c.name: c for c in check_cutout(pieces=2, category="earring", magnification=1.2, busy_background=False)}
    assert all(c.passed for c in ok.values())
    bad = {c.name: c for c in check_cutout(pieces=3, category="ring", magnification=3.1, busy_background=True,
                                           background_complexity=0.8)}
    assert not bad["cutout_single_product"].passed and bad["cutout_single_product"].value == 3
    assert not bad["cutout_magnification"].passed and bad["cutout_magnification"].value == 3.1
    assert not bad["cutout_backdrop"].passed
    assert all(c.severity == "review" for c in bad.values())


def test_transparent_request_turns_transparency_into_information():
    fg = np.full((300, 300, 3), 120, np.uint8)
    alpha = np.zeros((300, 300), np.float32)
    cv2.circle(alpha, (150, 150), 120, 1.0, -1)
    comp = compose_lightbox(fg, alpha, canvas_wh=(1000, 1000), fill=0.88, transparent=True)
    png = encode_image(comp.rgb, "png", alpha=comp.alpha)
    qa = QACore()
    plain = qa.check_jewelry_output(png, "png", "amazon")
    assert plain["verdict"] == "fail"
    asked = qa.check_jewelry_output(png, "png", "amazon", cutout={"transparent": True})
    by_name = {c["name"]: c for c in asked["checks"]}
    assert by_name["output_transparency"]["severity"] == "info"
    assert asked["verdict"] == "pass", [c for c in asked["checks"] if not c["passed"]]


@pytest.mark.parametrize("magnification, passed", [(1.99, True), (2.0, True), (2.01, False), (2.6, False)])
def test_magnification_is_flagged_above_twice_the_source_pixels(magnification, passed):
    checks = {c.name: c for c in check_cutout(pieces=1, category="ring", magnification=magnification,
                                              busy_background=False)}
    assert checks["cutout_magnification"].passed is passed
    assert checks["cutout_magnification"].limit == "<= 2.0x source pixels per canvas pixel"


def test_the_verdict_weighs_each_failed_severity():
    failed = [Check("a", False, "review"), Check("b", False, "review"), Check("c", False, "info")]
    report = verdict(failed)
    assert report.verdict == "review" and report.score == pytest.approx(0.7)
    assert report.to_dict()["score"] == report.score and len(report.to_dict()["checks"]) == 3
    assert verdict([*failed, Check("d", False, "fail")]).score == pytest.approx(0.2)


def test_only_an_earring_may_come_as_two_pieces():
    def single(category, pieces):
        checks = check_cutout(pieces=pieces, category=category, magnification=1.0, busy_background=False)
        return next(c for c in checks if c.name == "cutout_single_product")
    assert single("earring", 2).passed and not single("earring", 3).passed
    assert single("ring", 1).passed and not single("ring", 2).passed
    assert not single("necklace", 2).passed


def _ring_with_alpha():
    from lumograph.bench.synthetic import ring_photo
    from lumograph.models.common.imageio import resize_long_side

    photo = ring_photo(1600, 1200, with_chain=False)
    proxy = resize_long_side(photo.rgb, 1024)
    alpha = cv2.resize(photo.mask, (proxy.shape[1], proxy.shape[0]), interpolation=cv2.INTER_AREA)
    return proxy, alpha


def test_a_whole_cut_out_is_complete():
    proxy, alpha = _ring_with_alpha()
    check = check_complete(proxy, alpha)
    assert check.passed and check.value < 0.02, check


def test_a_cut_out_that_lost_half_the_piece_fails_and_one_that_lost_a_part_is_flagged():
    proxy, alpha = _ring_with_alpha()
    rows = np.flatnonzero((alpha >= 0.5).any(axis=1))
    half = alpha.copy()
    half[: (rows[0] + rows[-1]) // 2] = 0.0
    lost_half = check_complete(proxy, half)
    assert not lost_half.passed and lost_half.severity == "fail", lost_half
    part = alpha.copy()
    cols = np.flatnonzero((alpha >= 0.5).any(axis=0))
    part[:, cols[-1] - (cols[-1] - cols[0]) // 8:] = 0.0  # the band's right edge is gone
    lost_part = check_complete(proxy, part)
    assert not lost_part.passed and lost_part.value > lost_half.value * 0.1, lost_part
    empty = check_complete(proxy, np.zeros_like(alpha))
    assert not empty.passed and empty.severity == "fail"


def test_qa_core_runs_the_completeness_check_when_given_the_proxy():
    proxy, alpha = _ring_with_alpha()
    core = QACore()
    fg = np.full((200, 200, 3), 120, np.uint8)
    a = np.zeros((200, 200), np.float32)
    cv2.circle(a, (100, 100), 60, 1.0, -1)
    comp = compose_lightbox(fg, a, canvas_wh=(1000, 1000), fill=0.85)
    encoded = encode_image(comp.rgb, "jpeg")
    half = alpha.copy()
    half[: alpha.shape[0] // 2] = 0.0
    rep = core.check_jewelry_output(encoded, "jpeg", "amazon", None,
                                    {"pieces": 1, "category": "ring", "magnification": 1.0,
                                     "busy_background": False, "proxy_rgb": proxy, "proxy_alpha": half})
    complete = next(c for c in rep["output_checks"] if c["name"] == "cutout_complete")
    assert complete["passed"] is False and rep["verdict"] == "fail"
