"""The listing graph's orchestration with recording fake steps: auto-select decisions,
tiers and billing, disclosures, the primary-exterior rule, bundles."""
import asyncio
import dataclasses

import numpy as np
import pytest

from lumograph.graphs.listing import (
    GLARE_MIN_REGION_SHARE,
    ListingSteps,
    billed_tier,
    plan_modules,
    run_bundle,
    run_enhance,
)
from lumograph.serve.schemas import EnhanceOptions

INTERIOR = {"scene": "interior", "room_type": "kitchen", "room_source": "classifier",
            "signals": {"hotspot_share": 0.0, "mirror_present": False, "tilt_deg": 0.2,
                        "tilt_confidence": 0.8, "cast_deg": 0.5, "median_luminance": 0.5}}
EXTERIOR = {"scene": "exterior", "room_type": None, "room_source": "classifier",
            "signals": {"hotspot_share": 0.0, "mirror_present": False, "tilt_deg": 3.0,
                        "tilt_confidence": 0.9, "cast_deg": 0.5, "median_luminance": 0.5}}


class Fakes:
    """Every step records its call; image steps add 1 to the image so changes show."""

    def __init__(self, scene=INTERIOR, window_stops=3.5, sky_condition="grey", qa="pass",
                 window_clipped=0.0):
        self.calls: list[str] = []
        self.window_clipped = window_clipped
        self.scene, self.window_stops, self.sky_condition, self.qa = (
            scene, window_stops, sky_condition, qa)

    def steps(self) -> ListingSteps:
        def image_step(name):
            async def step(rgb, *args):
                self.calls.append(name)
                if isinstance(rgb, list):  # a bracket set
                    rgb = rgb[len(rgb) // 2]
                return {"rgb": np.clip(rgb.astype(np.int16) + 1, 0, 255).astype(np.uint8),
                        "report": {"step": name}, "backend": "classical",
                        "halo": 0.01 if name == "replace_sky" else None}
            return step

        async def scene(proxy, room_hint):
            self.calls.append("scene")
            out = dict(self.scene)
            if room_hint:
                out.update(room_type=room_hint, room_source="client")
                if room_hint == "exterior":
                    out["scene"] = "exterior"
            return out

        async def windows(proxy, source_hw):
            self.calls.append("windows")
            return {"windows": [{"bbox": [0, 0, 10, 10], "stops_over_interior": self.window_stops,
                                 "clipped_share": self.window_clipped}],
                    "max_stops": self.window_stops, "backend": "classical"}

        async def sky(proxy, scene=None):
            self.calls.append("sky")
            return {"matte": np.zeros(proxy.shape[:2], np.float32), "condition": self.sky_condition,
                    "needs_replacement": self.sky_condition in ("grey", "overcast"),
                    "fraction": 0.3, "backend": "classical"}

        async def encode(rgb, fmt, quality, max_long_side):
            self.calls.append("encode")
            return {"encoded": b"img", "media_type": "image/jpeg", "format": fmt,
                    "width": rgb.shape[1], "height": rgb.shape[0]}

        async def check(before, after, applied, halo, warp, people=None):
            self.calls.append("check")
            self.people_given = people
            return {"verdict": self.qa, "score": 1.0 if self.qa == "pass" else 0.2,
                    "checks": [{"name": "structure", "passed": self.qa != "fail",
                                "severity": "fail", "value": 0.9, "limit": 0.8}],
                    "backend": "classical"}

        return ListingSteps(
            scene=scene, windows=windows, sky=sky, merge_brackets=image_step("merge_brackets"),
            pull_windows=image_step("pull_windows"), remove_glare=image_step("remove_glare"),
            mirror_cleanup=image_step("mirror_cleanup"), verticals=image_step("verticals"),
            replace_sky=image_step("replace_sky"), dusk=image_step("dusk"),
            grade=image_step("grade"), encode=encode, check=check)


def enhance(fakes, frames=None, **options):
    frames = frames or [np.full((60, 80, 3), 100, np.uint8)]
    opts = EnhanceOptions(**options).model_dump()
    return asyncio.run(run_enhance(frames, opts, fakes.steps(), request_id="t"))


def test_interior_with_blown_window_gets_window_pull_and_grade_only():
    fakes = Fakes(scene=INTERIOR, window_stops=3.5)
    out = enhance(fakes, tier="auto")
    rep = out.report
    assert rep["modules_applied"] == ["window_pull", "colour_grade"]
    assert "sky" not in fakes.calls  # interiors never look for sky
    assert rep["modules"]["window_pull"]["signal"] == 3.5
    assert "3.5 stops" in rep["modules"]["window_pull"]["reason"]
    assert rep["modules"]["verticals"]["ran"] is False  # 0.2 deg: nothing to straighten
    assert rep["billing"] == {"tier": "standard", "add_ons": [], "billable": True}
    assert rep["disclosures"] == []
    assert out.encoded == b"img"


def test_blown_window_under_threshold_is_pulled():
    # 8-bit clipping caps the measured gap; a mostly clipped window has lost its view.
    out = enhance(Fakes(window_stops=1.8, window_clipped=0.9), tier="auto")
    assert "window_pull" in out.report["modules_applied"]
    assert out.report["signals"]["blown_windows"] == 1
    assert "1 blown" in out.report["modules"]["window_pull"]["reason"]


def test_default_threshold_is_two_and_a_half_stops_strictly_over():
    assert "window_pull" in enhance(Fakes(window_stops=2.7), tier="auto").report["modules_applied"]
    at = enhance(Fakes(window_stops=2.5), tier="auto").report
    assert "window_pull" not in at["modules_applied"], at["modules"]["window_pull"]
    assert "threshold 2.5" in at["modules"]["window_pull"]["reason"]


def test_window_below_threshold_is_left_alone():
    out = enhance(Fakes(window_stops=1.8), tier="auto")
    assert "window_pull" not in out.report["modules_applied"]
    assert "1.8 stops" in out.report["modules"]["window_pull"]["reason"]


def test_grey_sky_exterior_gets_replaced_and_disclosed_and_straightened_in_premium():
    fakes = Fakes(scene=EXTERIOR, sky_condition="grey")
    out = enhance(fakes, tier="premium")
    rep = out.report
    assert rep["modules_applied"] == ["colour_grade", "sky_replacement", "verticals"]
    assert "windows" not in fakes.calls  # an exterior without dusk needs no window detector
    assert rep["disclosures"] == ["Sky digitally replaced."]
    assert rep["billing"]["tier"] == "premium"


def test_standard_tier_never_runs_premium_modules():
    out = enhance(Fakes(scene=EXTERIOR), tier="standard")
    assert out.report["modules"]["verticals"]["ran"] is False
    assert "tier" in out.report["modules"]["verticals"]["reason"]
    assert out.report["billing"]["tier"] == "standard"


def test_clear_sky_is_kept():
    out = enhance(Fakes(scene=EXTERIOR, sky_condition="clear"), tier="auto")
    assert "sky_replacement" not in out.report["modules_applied"]
    assert out.report["disclosures"] == []


def test_explicit_module_list_wins_over_tier():
    fakes = Fakes(scene=INTERIOR, window_stops=4.0)
    out = enhance(fakes, tier="premium", modules=["colour_grade"])
    assert out.report["modules_applied"] == ["colour_grade"]
    assert out.report["modules"]["window_pull"]["reason"] == "not requested"


def test_client_room_label_wins_and_is_recorded():
    out = enhance(Fakes(scene=INTERIOR), room="bathroom")
    assert out.report["classification"]["room_type"] == "bathroom"
    assert out.report["classification"]["room_source"] == "client"


def test_dusk_asks_the_window_detector_only_when_it_is_learned():
    # The classical detector is fitted on interior glass: on a facade dusk finds its own.
    fakes = Fakes(scene=EXTERIOR)
    enhance(fakes, tier="standard", dusk=True)
    assert "windows" not in fakes.calls
    learned = LearnedFakes(scene=EXTERIOR)
    learned.backend_names["window_detector"] = "yolo"
    enhance(learned, tier="standard", dusk=True)
    assert "windows" in learned.calls
    plain = LearnedFakes(scene=EXTERIOR)  # learned segmenter and inpainter, classical windows
    enhance(plain, tier="standard", dusk=True)
    assert "windows" not in plain.calls


def test_dusk_switches_on_the_lamps_a_learned_detector_names():
    learned = LearnedFakes(scene=EXTERIOR)
    learned.backend_names["window_detector"] = "yolo"
    lamp = {"class": "Lamp", "bbox": [30, 20, 34, 26], "bbox_norm": [0.375, 0.33, 0.425, 0.43], "confidence": 0.7}
    seen = {}
    base = learned.steps

    def steps():
        from dataclasses import replace

        inner = base()

        async def windows(proxy, source_hw):
            out = await inner.windows(proxy, source_hw)
            return {**out, "lamps": [lamp]}

        async def dusk(rgb, matte, windows, lamps):
            seen["lamps"] = lamps
            return {"rgb": rgb, "report": {}, "backend": "classical"}

        return replace(inner, windows=windows, dusk=dusk)

    learned.steps = steps
    out = enhance(learned, tier="standard", dusk=True)
    assert "day_to_dusk" in out.report["modules_applied"] and seen["lamps"] == [lamp]
    plain = Fakes(scene=EXTERIOR)  # classical: no detector run, no lamps to give
    plain_seen = {}
    plain_base = plain.steps

    def plain_steps():
        from dataclasses import replace

        async def dusk(rgb, matte, windows, lamps):
            plain_seen["lamps"] = lamps
            return {"rgb": rgb, "report": {}, "backend": "classical"}

        return replace(plain_base(), dusk=dusk)

    plain.steps = plain_steps
    enhance(plain, tier="standard", dusk=True)
    assert plain_seen["lamps"] == []


def _yolo_windows(inner, people):
    async def windows(proxy, source_hw):
        out = await inner(proxy, source_hw)
        return {**out, "lamps": [], "people": people, "detector": "yolo", "backend": "yolo"}
    return windows


def test_people_a_learned_detector_names_reach_the_people_check():
    from dataclasses import replace

    person = {"class": "Person", "bbox": [5, 5, 20, 50], "bbox_norm": [0.06, 0.08, 0.25, 0.83], "confidence": 0.8}
    for scene in (INTERIOR, EXTERIOR):  # a learned detector runs outdoors too (people, lamps)
        learned = LearnedFakes(scene=scene)
        learned.backend_names["window_detector"] = "yolo"
        base = learned.steps
        learned.steps = lambda base=base: replace(base(), windows=_yolo_windows(base().windows, [person]))
        enhance(learned, tier="standard")
        assert "windows" in learned.calls and learned.people_given == [person]
    classical = Fakes(scene=INTERIOR)  # no detector that names people: the check is told nothing
    enhance(classical, tier="standard")
    assert classical.people_given is None


def test_a_photographer_the_mirror_clean_up_removed_is_not_flagged_again():
    from dataclasses import replace

    mirror_person = {"class": "person", "bbox": [30, 10, 40, 40], "bbox_norm": [0.4, 0.2, 0.5, 0.7], "confidence": 0.9}
    elsewhere = {"class": "person", "bbox": [0, 0, 10, 10], "bbox_norm": [0.0, 0.0, 0.12, 0.2], "confidence": 0.9}
    scene = {**INTERIOR, "signals": {**INTERIOR["signals"], "mirror_present": True,
                                     "mirror": {"present": True, "bbox_norm": [0.3, 0.1, 0.6, 0.8]}}}
    learned = LearnedFakes(scene=scene)
    learned.backend_names["window_detector"] = "yolo"
    base = learned.steps

    async def mirror_cleanup(rgb, mirror):
        return {"rgb": rgb, "applied": True, "backend": "classical",
                "report": {"person_found": True, "person_box_norm": [0.38, 0.15, 0.52, 0.75]}}

    learned.steps = lambda: replace(base(), windows=_yolo_windows(base().windows, [mirror_person, elsewhere]),
                                    mirror_cleanup=mirror_cleanup)
    out = enhance(learned, tier="premium")
    assert "mirror_cleanup" in out.report["modules_applied"]
    assert learned.people_given == [elsewhere]
    # A malformed box is passed on, for the QA step to refuse with a clear error.
    from lumograph.graphs.listing import _people_left

    bad = {"bbox_norm": ["a", 0, 1, 1]}
    cleaned = {"mirror_cleanup": {"applied": True, "report": {"person_box_norm": [0.3, 0.1, 0.6, 0.8]}}}
    assert _people_left({"people": [bad]}, cleaned) == [bad]


def test_dusk_switches_on_the_lamps_the_client_marks_in_source_pixels():
    from dataclasses import replace

    fakes = Fakes(scene=EXTERIOR)  # the laptop path: no detector names lamps
    seen = {}
    base = fakes.steps

    async def dusk(rgb, matte, windows, lamps):
        seen["lamps"], seen["shape"] = lamps, rgb.shape
        return {"rgb": rgb, "report": {}, "backend": "classical"}

    fakes.steps = lambda: replace(base(), dusk=dusk)
    out = enhance(fakes, tier="standard", dusk=True, dusk_lamps="0.25,0.5,0.3,0.6;0.7,0.5,0.75,0.6")
    assert "day_to_dusk" in out.report["modules_applied"]
    h, w = seen["shape"][:2]
    assert seen["lamps"] == [{"bbox": [0.25 * w, 0.5 * h, 0.3 * w, 0.6 * h]},
                             {"bbox": [0.7 * w, 0.5 * h, 0.75 * w, 0.6 * h]}]


def test_dusk_lamps_are_checked_as_fixture_boxes():
    from pydantic import ValidationError

    ok = EnhanceOptions(dusk_lamps=[[0.1, 0.2, 0.15, 0.25]])
    assert ok.dusk_lamps == [[0.1, 0.2, 0.15, 0.25]] and EnhanceOptions(dusk_lamps=" ").dusk_lamps is None
    for bad in ("0.1,0.2,0.15", "a,b,c,d", "0.3,0.2,0.1,0.25", "0.1,0.1,0.4,0.4", [[0, 0, 1.5, 0.1]],
                ";".join(["0.1,0.1,0.11,0.11"] * 25)):
        with pytest.raises(ValidationError):
            EnhanceOptions(dusk_lamps=bad)


def test_dusk_is_an_add_on_with_a_disclosure():
    out = enhance(Fakes(scene=EXTERIOR, sky_condition="grey"), tier="standard", dusk=True)
    rep = out.report
    assert "day_to_dusk" in rep["modules_applied"]
    assert "sky_replacement" not in rep["modules_applied"]  # dusk paints its own sky
    assert rep["billing"]["add_ons"] == ["day_to_dusk"]
    assert any("Twilight" in d for d in rep["disclosures"])


def test_bracket_set_is_merged_first_and_replaces_window_pull():
    fakes = Fakes(scene=INTERIOR, window_stops=4.0)
    frames = [np.full((60, 80, 3), v, np.uint8) for v in (40, 100, 200)]
    out = enhance(fakes, frames=frames)
    assert fakes.calls[0] == "merge_brackets"
    assert out.report["input"]["frames"] == 3
    assert "window_pull" not in out.report["modules_applied"]
    assert "bracket" in out.report["modules"]["window_pull"]["reason"]


def test_failed_qa_returns_no_image():
    out = enhance(Fakes(qa="fail"))
    assert out.encoded is None and out.report["verdict"] == "fail"
    assert out.report["billing"]["billable"] is False


def test_input_is_never_mutated():
    frame = np.full((60, 80, 3), 100, np.uint8)
    frame.setflags(write=False)
    enhance(Fakes(), frames=[frame], tier="premium")
    assert (frame == 100).all()


def test_billed_tier():
    assert billed_tier([]) == "none"
    assert billed_tier(["colour_grade", "window_pull"]) == "standard"
    assert billed_tier(["colour_grade", "glare_removal"]) == "premium"
    assert billed_tier(["day_to_dusk"]) == "none"


@pytest.mark.parametrize("alter", [False, True])
def test_primary_exterior_is_protected_unless_opted_in(alter):
    signals = {**EXTERIOR["signals"], "scene": "exterior", "sky_condition": "grey",
               "sky_needs_replacement": True, "hotspot_share": 0.01, "hotspot_largest_share": 0.01}
    plan = plan_modules(signals, tier="premium", requested=None, dusk=False, primary=True,
                        alter_primary=alter, brackets=False, window_threshold_stops=2.5)
    assert plan["sky_replacement"].run is alter
    assert plan["glare_removal"].run is False  # sun glints outdoors are kept either way
    assert plan["colour_grade"].run and plan["verticals"].run  # exposure/WB/lens are fine
    if not alter:
        assert "primary exterior" in plan["sky_replacement"].reason


def test_bundle_finds_primary_exterior_and_bills_every_photo():
    fakes = Fakes()
    photos = [np.full((60, 80, 3), v, np.uint8) for v in (90, 100, 110)]
    opts = EnhanceOptions(tier="auto").model_dump()
    out = asyncio.run(run_bundle(photos, opts, fakes.steps(), request_id="b",
                                 rooms=[None, "exterior", "bedroom"], concurrency=2))
    assert out.summary["primary_index"] == 1
    reports = [p.report for p in out.photos]
    assert reports[1]["primary"] is True and reports[0]["primary"] is False
    # The primary exterior's grey sky is not replaced without opt-in.
    assert "sky_replacement" not in reports[1]["modules_applied"]
    assert reports[2]["classification"]["room_type"] == "bedroom"
    assert sum(out.summary["billing"]["by_tier"].values()) == 3
    assert out.summary["delivered"] == 3


def test_bundle_primary_is_the_first_exterior():
    photos = [np.full((60, 80, 3), v, np.uint8) for v in (90, 100, 110, 120)]
    opts = EnhanceOptions(tier="auto").model_dump()
    out = asyncio.run(run_bundle(photos, opts, Fakes().steps(), request_id="b",
                                 rooms=["kitchen", "exterior", "bedroom", "exterior"]))
    assert out.summary["primary_index"] == 1
    assert [p.report["primary"] for p in out.photos] == [False, True, False, False]


def test_bundle_dusk_on_primary_is_the_opt_in():
    fakes = Fakes()
    photos = [np.full((60, 80, 3), 100, np.uint8)] * 2
    opts = EnhanceOptions().model_dump()
    out = asyncio.run(run_bundle(photos, opts, fakes.steps(), request_id="b",
                                 rooms=["exterior", "kitchen"], dusk_primary=True))
    assert "day_to_dusk" in out.photos[0].report["modules_applied"]
    assert out.summary["billing"]["add_ons"] == {"day_to_dusk": 1}
    assert out.summary["disclosures"][0]["index"] == 0


def test_bundle_keeps_going_when_one_photo_fails():
    fakes = Fakes()
    steps = fakes.steps()

    async def flaky_grade(rgb, room):
        if rgb[0, 0, 0] == 51:  # the second photo (+1 from window pull)
            raise RuntimeError("boom")
        return {"rgb": rgb, "report": {}, "backend": "classical"}

    from dataclasses import replace
    photos = [np.full((60, 80, 3), v, np.uint8) for v in (100, 50)]
    out = asyncio.run(run_bundle(photos, EnhanceOptions().model_dump(),
                                 replace(steps, grade=flaky_grade), request_id="b"))
    assert isinstance(out.photos[1], RuntimeError)
    assert out.photos[0].encoded == b"img"
    assert out.summary["delivered"] == 1
    assert out.summary["billing"]["by_tier"]["not_billed"] == 1


def test_glare_removal_runs_indoors_only_on_a_large_hot_spot():
    signals = {**INTERIOR["signals"], "scene": "interior", "hotspot_share": 0.01, "hotspot_largest_share": 0.01}
    kw = dict(tier="premium", requested=None, dusk=False, primary=False, alter_primary=False,
              brackets=False, window_threshold_stops=2.5)
    assert plan_modules(signals, **kw)["glare_removal"].run is True
    # Many small glints (a row of drawer pulls) cover as much of the frame but none is a
    # flash spot: left alone.
    glints = {**signals, "hotspot_largest_share": 0.5 * GLARE_MIN_REGION_SHARE}
    assert plan_modules(glints, **kw)["glare_removal"].run is False
    outdoor = plan_modules({**signals, "scene": "exterior"}, **kw)["glare_removal"]
    assert outdoor.run is False and "exterior" in outdoor.reason


def test_an_unreliable_verticals_reading_is_not_reported_as_a_lean():
    kw = dict(tier="premium", requested=None, dusk=False, primary=False, alter_primary=False,
              brackets=False, window_threshold_stops=2.5)
    base = {**INTERIOR["signals"], "scene": "exterior", "tilt_deg": 44.2, "roll_deg": 12.6, "edge_lean_deg": 20.5}
    # Three unrelated lines meeting somewhere (house113's frontal reads this way): the photo
    # is left as shot and the note says the reading is unreliable, not that it leans 44 deg.
    weak = plan_modules({**base, "tilt_confidence": 0.16}, **kw)["verticals"]
    assert weak.run is False
    assert "no reliable vertical lines" in weak.reason and "44" not in weak.reason
    assert weak.signal is None  # the report's "signal that decided it" does not carry it either
    sure = plan_modules({**base, "tilt_deg": 12.0, "tilt_confidence": 0.8}, **kw)["verticals"]
    assert sure.run is True and "+12.0 deg" in sure.reason and sure.signal == 12.0


class LearnedFakes(Fakes):
    """Fakes whose modules report SAM and diffusers: glass masks, generated views and a
    generated sky plate, each recording what it was given."""

    def __init__(self, *args, segmenter="sam", inpainter="diffusers", **kwargs):
        super().__init__(*args, **kwargs)
        self.backend_names = {"segmenter": segmenter, "inpainter": inpainter}
        self.seen: dict = {}

    def steps(self) -> ListingSteps:
        from dataclasses import replace

        base = super().steps()

        async def backends():
            self.calls.append("backends")
            return {m: {"module": m, "backend": b, "reason": "test"} for m, b in self.backend_names.items()}

        async def window_glass_masks(proxy, windows, source_hw):
            self.calls.append("window_glass_masks")
            return {"masks": [np.ones((4, 4), np.float32) for _ in windows],
                    "report": [{"bbox": w["bbox"], "glass_share": 1.0} for w in windows], "backend": "sam"}

        async def window_views(rgb, windows, masks, seed):
            self.calls.append("window_views")
            self.seen["views"] = (len(windows), masks is not None, seed)
            return {"rgb": rgb + 1, "applied": True, "backend": "diffusers",
                    "report": {"windows": [{"bbox": w["bbox"], "synthesized": True} for w in windows],
                               "synthesized": len(windows)}}

        async def pull_windows(rgb, windows, threshold, masks=None):
            self.calls.append("pull_windows")
            self.seen["pull"] = (len(windows), masks)
            return {"rgb": rgb, "applied": bool(windows), "report": {"pulled": len(windows)},
                    "backend": "classical"}

        async def sky_plate(proxy, matte, style, seed):
            self.calls.append("sky_plate")
            self.seen["sky_plate"] = (proxy.shape, matte.shape, style, seed)
            return {"plate": np.zeros((8, 16, 3), np.uint8), "box_norm": [0, 0, 1, 0.5],
                    "report": {"style": style}, "backend": "diffusers"}

        async def replace_sky(rgb, matte, style, seed, plate=None):
            self.calls.append("replace_sky")
            self.seen["replace_sky_plate"] = plate
            return {"rgb": rgb, "report": {"sky_source": "learned" if plate else "procedural"},
                    "halo": 0.01, "backend": "classical"}

        return replace(base, backends=backends, window_glass_masks=window_glass_masks,
                       window_views=window_views, pull_windows=pull_windows, sky_plate=sky_plate,
                       replace_sky=replace_sky)


def test_fully_blown_window_gets_a_generated_view_with_sam_glass_and_a_disclosure():
    fakes = LearnedFakes(window_stops=3.0, window_clipped=0.95)
    out = enhance(fakes, tier="premium", seed=7)
    rep = out.report
    assert rep["modules_applied"][:1] == ["window_view"]
    assert fakes.calls.index("window_glass_masks") < fakes.calls.index("window_views") \
        < fakes.calls.index("pull_windows")
    assert fakes.seen["views"] == (1, True, 7)
    # The pull leaves the window whose view was generated alone.
    assert fakes.seen["pull"] == (0, [])
    assert rep["modules"]["window_view"]["backend"] == "diffusers"
    assert rep["glass_masks"]["backend"] == "sam"
    assert any("Window view digitally generated" in d for d in rep["disclosures"])
    assert rep["billing"]["tier"] == "premium"


def test_generated_view_needs_premium_the_learned_inpainter_and_a_lost_view():
    standard = enhance(LearnedFakes(window_clipped=0.95), tier="standard")
    assert standard.report["modules"]["window_view"]["ran"] is False
    assert "tier" in standard.report["modules"]["window_view"]["reason"]
    classical = LearnedFakes(window_clipped=0.95, segmenter="classical", inpainter="classical")
    out = enhance(classical, tier="premium")
    view = out.report["modules"]["window_view"]
    assert view["ran"] is False and "diffusers" in view["reason"]
    assert "window_glass_masks" not in classical.calls and "window_views" not in classical.calls
    assert classical.seen["pull"] == (1, None)  # box-only pull of the blown window
    assert not any("Window view" in d for d in out.report["disclosures"])
    partly = LearnedFakes(window_clipped=0.3)
    out = enhance(partly, tier="premium")
    assert out.report["modules"]["window_view"]["ran"] is False
    assert partly.seen["pull"][0] == 1 and partly.seen["pull"][1] is not None  # SAM glass in the pull


def test_grey_sky_is_generated_by_the_learned_inpainter_and_composited_by_the_compositor():
    fakes = LearnedFakes(scene=EXTERIOR, sky_condition="grey")
    out = enhance(fakes, tier="standard", sky_style="high_clouds", seed=3)
    rep = out.report
    assert "sky_replacement" in rep["modules_applied"]
    assert fakes.calls.index("sky_plate") < fakes.calls.index("replace_sky")
    shape, matte_shape, style, seed = fakes.seen["sky_plate"]
    assert shape[:2] == matte_shape and style == "high_clouds" and seed == 3
    assert fakes.seen["replace_sky_plate"]["plate"].shape == (8, 16, 3)
    assert rep["modules"]["sky_replacement"]["backend"] == "diffusers"
    assert rep["modules"]["sky_replacement"]["report"]["sky_plate"] == {"style": "high_clouds"}
    assert rep["disclosures"] == ["Sky digitally replaced."]


def test_no_sky_plate_falls_back_to_the_procedural_sky():
    fakes = LearnedFakes(scene=EXTERIOR, sky_condition="grey", inpainter="classical")
    out = enhance(fakes, tier="standard")
    assert "sky_plate" not in fakes.calls and fakes.seen["replace_sky_plate"] is None
    assert out.report["modules"]["sky_replacement"]["backend"] == "classical"


def test_partial_vertical_correction_is_reported_and_qa_sees_the_photo_before_the_warp():
    """A strongly pitched room through the graph with the real verticals core: the warp
    keeps >= 85 % of the frame, its report carries the fraction and the residual, the
    delivered photo is the crop and QA compares the edit before the warp (same shape)."""
    from dataclasses import replace

    from lumograph.bench.synthetic_listing import room_photo
    from lumograph.models.compositor.verticals import MIN_KEPT_SHARE, correct_verticals, estimate_verticals

    rgb = room_photo(800, 600, tilt_deg=25.0, seed=4).rgb
    est = estimate_verticals(rgb)
    scene = {**INTERIOR, "signals": {**INTERIOR["signals"], "verticals": est, "tilt_deg": est["tilt_deg"],
                                     "roll_deg": est["roll_deg"], "tilt_confidence": est["confidence"]}}
    fakes = Fakes(scene=scene, window_stops=1.0)
    seen = {}

    async def verticals(image, estimate):
        return {**correct_verticals(image, estimate), "backend": "classical"}

    async def check(before, after, applied, halo, warp, people=None):
        seen["qa"] = (before.shape, after.shape)
        seen["warp"] = warp
        return {"verdict": "pass", "score": 1.0, "checks": [], "backend": "classical"}

    steps = replace(fakes.steps(), verticals=verticals, check=check)
    out = asyncio.run(run_enhance([rgb], EnhanceOptions(tier="premium").model_dump(), steps, request_id="t"))
    entry = out.report["modules"]["verticals"]
    assert entry["applied"] and "verticals" in out.report["modules_applied"], entry
    rep = entry["report"]
    assert 0.25 <= rep["correction_fraction"] < 1.0 and rep["kept_share"] >= MIN_KEPT_SHARE
    assert 0 < abs(rep["residual_tilt_deg"]) < abs(est["tilt_deg"])
    assert [out.report["output"]["width"], out.report["output"]["height"]] == rep["output_size"]
    assert seen["qa"][0] == seen["qa"][1]  # QA never compares across the warp
    # ... but it gets the warp, to carry its MLS boxes into the delivered frame.
    assert seen["warp"] == {"matrix": rep["matrix"], "input_size": [800, 600], "output_size": rep["output_size"]}


def test_encode_and_qa_run_side_by_side():
    # QA reads the proxies, not the encoded bytes: the graph awaits both together. Each
    # fake waits for the other to have started, so awaiting them one after the other
    # times out instead of passing.
    fakes = Fakes(scene=INTERIOR, window_stops=3.5)
    steps = fakes.steps()
    started = {"encode": asyncio.Event(), "check": asyncio.Event()}

    def meeting(name, other, step):
        async def call(*args):
            started[name].set()
            await asyncio.wait_for(started[other].wait(), timeout=2.0)
            return await step(*args)
        return call

    steps = dataclasses.replace(steps, encode=meeting("encode", "check", steps.encode),
                                check=meeting("check", "encode", steps.check))
    opts = EnhanceOptions(tier="auto").model_dump()
    out = asyncio.run(run_enhance([np.full((60, 80, 3), 100, np.uint8)], opts, steps, request_id="t"))
    assert out.encoded == b"img" and out.report["verdict"] == "pass"
    assert {"encode", "check"} <= set(fakes.calls)
