"""The listing eval's MLS part: boxes drawn on the contact sheet's after image, and the counts
(photos flagged, labelled watermarks found, clean photos flagged)."""
import numpy as np

from lumograph.bench.eval_listing import BOX_COLOURS, compliance_summary, draw_check_boxes


def test_boxes_of_the_mls_checks_are_drawn_in_their_colours_and_the_input_is_kept():
    rgb = np.full((300, 400, 3), 128, np.uint8)
    checks = [{"name": "listing_branding", "boxes": [{"box": [0.5, 0.8, 0.9, 0.95], "score": 0.9}]},
              {"name": "listing_people", "boxes": [{"box": [0.1, 0.1, 0.3, 0.6]}]},
              {"name": "listing_structure", "boxes": [{"box": [0.0, 0.0, 1.0, 1.0]}]}]
    out = draw_check_boxes(rgb, checks)
    assert (rgb == 128).all()  # the input is not drawn on
    assert tuple(out[240, 300]) == BOX_COLOURS["listing_branding"]  # top edge of the branding box
    assert tuple(out[150, 40]) == BOX_COLOURS["listing_people"]  # left edge of the person box
    assert tuple(out[255, 300]) == (128, 128, 128)  # inside the box: untouched
    assert tuple(out[0, 0]) == (128, 128, 128)  # other checks' boxes are not drawn


def test_compliance_counts_against_the_labels():
    per_image = {
        "a.jpg": {"branding_boxes": [{"box": [0.8, 0.9, 0.95, 0.98]}], "people_boxes": []},  # in its corner
        "b.jpg": {"branding_boxes": [{"box": [0.4, 0.4, 0.5, 0.5]}], "people_boxes": []},  # wrong place
        "c.jpg": {"branding_boxes": [{"box": [0.1, 0.1, 0.2, 0.2]}], "people_boxes": [{"box": [0, 0, 1, 1]}]},
        "d.jpg": {"branding_boxes": [], "people_boxes": []},
        "e.jpg": {"error": "invalid_image", "message": "bad"},
        # The vertical correction's crop removed its watermark: not in the delivered photo.
        "f.jpg": {"branding_boxes": [], "people_boxes": [], "branding_cropped_away": True},
    }
    labels = {
        "a.jpg": {"overlay": "watermark", "where": "bottom-right", "lettering": "yes", "people": "none"},
        "b.jpg": {"overlay": "watermark", "where": "bottom-right", "lettering": "yes", "people": "none"},
        "c.jpg": {"overlay": "none", "where": "", "lettering": "", "people": "none"},
        "d.jpg": {"overlay": "none", "where": "", "lettering": "", "people": "none"},
        "f.jpg": {"overlay": "watermark", "where": "bottom-right", "lettering": "yes", "people": "none"},
    }
    out = compliance_summary(per_image, labels)
    assert out["branding_flagged"] == ["a.jpg", "b.jpg", "c.jpg"] and out["branding_flagged_n"] == 3
    assert out["people_flagged"] == ["c.jpg"] and out["people_flagged_n"] == 1
    assert out["watermarks_labelled"] == 3 and out["watermarks_found"] == 1 and out["watermarks_missed"] == ["b.jpg"]
    assert out["watermarks_cropped_away"] == ["f.jpg"]
    assert out["clean_labelled"] == 2 and out["clean_flagged"] == ["c.jpg"]
    assert "watermarks_found" not in compliance_summary(per_image, None)
