"""The listing vertical over real HTTP on the same local Ray cluster as the jewelry tests:
enhance (one photo, a bracket set), bundle, errors, and the shared module replicas."""
import base64
import io
import time

import numpy as np
import pytest
from PIL import Image
from ray import serve

from lumograph.bench.synthetic_listing import exterior_photo, room_photo
from tests import bad_inputs as bad
from tests.serve.http import api

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def room_jpeg():
    return bad.jpeg_bytes(room_photo(1200, 900, seed=3).rgb)


@pytest.fixture(scope="module")
def exterior_jpeg():
    return bad.jpeg_bytes(exterior_photo(1200, 900, seed=4).rgb)


def enhance(url, files, fields=None, params=None):
    if isinstance(files, bytes):
        files = [files]
    return api.post(
        f"{url}/listing/enhance",
        files=[("image", (f"p{i}.jpg", data, "image/jpeg")) for i, data in enumerate(files)],
        data=fields or {}, params=params or {}, timeout=180)


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_listing_and_jewelry_share_one_pool_of_module_replicas(serve_url):
    r = api.get(f"{serve_url}/listing/healthz", timeout=60)
    assert r.status_code == 200
    listing = {m: state["backend"] for m, state in r.json()["modules"].items()}
    jewelry = {m: state["backend"] for m, state in
               api.get(f"{serve_url}/jewelry/healthz", timeout=60).json()["modules"].items()}
    assert listing == jewelry
    assert {"classifier", "segmenter", "window_detector", "inpainter", "grader", "compositor",
            "qa"} == set(listing)
    apps = serve.status().applications
    assert set(apps["listing"].deployments) == {"ListingIngress"}
    assert set(apps["jewelry"].deployments) == {"JewelryIngress"}
    assert {"Classifier", "Segmenter", "WindowDetector", "Inpainter"} <= set(apps["modules"].deployments)


def test_enhance_room_pulls_windows_and_reports_every_module(serve_url, room_jpeg):
    r = enhance(serve_url, room_jpeg, fields={"tier": "auto"}, params={"report": "json"})
    assert r.status_code == 200, r.text[:600]
    body = r.json()
    rep = body["report"]
    assert rep["classification"]["scene"] == "interior"
    assert set(rep["modules"]) == {"window_view", "window_pull", "glare_removal", "mirror_cleanup",
                                   "sky_replacement", "day_to_dusk", "colour_grade", "verticals"}
    # Classical modules: no glass masks, and no view generated in any window.
    assert rep["modules"]["window_view"]["applied"] is False and rep["glass_masks"] == {}
    for entry in rep["modules"].values():
        assert entry["reason"] and "ran" in entry and "applied" in entry
    assert "window_pull" in rep["modules_applied"], rep["modules"]["window_pull"]
    assert rep["signals"]["max_window_stops"] > 2.5
    assert rep["billing"]["tier"] in {"standard", "premium"}
    assert rep["disclosures"] == []  # nothing that needs disclosure on an interior
    assert {"classify", "detect_windows", "window_pull", "encode", "qa", "total"} <= set(rep["timings_s"])
    out = decode(base64.b64decode(body["image_base64"]))
    assert out.shape[2] == 3 and out.shape[0] > 500


def test_enhance_returns_image_with_headers(serve_url, exterior_jpeg):
    r = enhance(serve_url, exterior_jpeg, fields={"tier": "standard"})
    assert r.status_code == 200, r.text[:600]
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["X-Lumograph-Verdict"] in {"pass", "review"}
    assert "sky_replacement" in r.headers["X-Lumograph-Modules"]
    assert "Sky digitally replaced" in r.headers["X-Lumograph-Disclosure"]
    assert decode(r.content).shape == (900, 1200, 3)


def test_iptc_source_type_carries_the_edit_and_the_disclosures(serve_url, exterior_jpeg):
    """An exterior whose grey sky is replaced is a composite; the disclosure rides along
    as dc:description. Without the option no XMP is written."""
    from lumograph.models.common.provenance import COMPOSITE

    fields = {"tier": "standard", "sky_style": "clear_blue"}
    asked = enhance(serve_url, exterior_jpeg, fields={**fields, "iptc_source_type": "true"},
                    params={"report": "json"})
    assert asked.status_code == 200, asked.text[:600]
    rep = asked.json()["report"]
    assert "sky_replacement" in rep["modules_applied"], rep["modules"]["sky_replacement"]
    assert rep["output"]["digital_source_type"] == COMPOSITE and rep["output"]["xmp"] is True
    xmp = Image.open(io.BytesIO(base64.b64decode(asked.json()["image_base64"]))).info["xmp"].decode()
    assert f'DigitalSourceType="{COMPOSITE}"' in xmp and rep["disclosures"][0] in xmp
    plain = enhance(serve_url, exterior_jpeg, fields=fields)
    assert plain.status_code == 200 and "xmp" not in Image.open(io.BytesIO(plain.content)).info


def test_dusk_switches_on_the_lamps_the_client_marks(serve_url, exterior_jpeg):
    r = enhance(serve_url, exterior_jpeg, fields={"tier": "standard", "dusk": "true",
                                                  "dusk_lamps": "0.30,0.55,0.33,0.60;0.62,0.55,0.65,0.60"},
                params={"report": "json"})
    assert r.status_code == 200, r.text[:600]
    dusk = r.json()["report"]["modules"]["day_to_dusk"]["report"]
    assert dusk["lamps_given"] == 2 and dusk["lamps_lit"] == 2
    assert dusk["lamp_boxes"][0] == [360, 495, 396, 540]  # fractions of the 1200x900 photo


def test_bracket_set_is_merged(serve_url):
    base = room_photo(800, 600, tilt_deg=0.0, seed=5).rgb.astype(np.float32)
    frames = [bad.jpeg_bytes(np.clip(base * f, 0, 255).astype(np.uint8)) for f in (0.35, 1.0, 2.2)]
    r = enhance(serve_url, frames, params={"report": "json"})
    assert r.status_code == 200, r.text[:600]
    rep = r.json()["report"]
    assert rep["input"]["frames"] == 3
    assert rep["brackets"]["frames"] == 3
    assert "bracket" in rep["modules"]["window_pull"]["reason"]


def test_bundle_returns_every_photo_with_primary_disclosures_and_bill(serve_url, room_jpeg, exterior_jpeg):
    files = [("image", ("front.jpg", exterior_jpeg, "image/jpeg")),
             ("image", ("kitchen.jpg", room_jpeg, "image/jpeg")),
             ("image", ("broken.jpg", b"not an image", "image/jpeg"))]
    r = api.post(f"{serve_url}/listing/bundle", files=files,
                      data={"rooms": ",kitchen,", "tier": "auto"}, timeout=300)
    assert r.status_code == 200, r.text[:600]
    body = r.json()
    photos = body["photos"]
    assert body["n_photos"] == 3 and len(photos) == 3
    assert [p["status"] for p in photos] == ["ok", "ok", "error"]
    assert photos[2]["error"]["code"] == "invalid_image"
    assert body["primary_index"] == 0
    front = photos[0]["report"]
    assert front["primary"] is True
    assert "sky_replacement" not in front["modules_applied"]  # primary exterior, no opt-in
    assert photos[1]["report"]["classification"]["room_type"] == "kitchen"
    assert photos[1]["report"]["classification"]["room_source"] == "client"
    assert sum(body["billing"]["by_tier"].values()) == 3
    assert body["billing"]["by_tier"].get("not_billed", 0) >= 1


def test_a_bundle_with_nothing_to_deliver_is_not_a_success(serve_url):
    files = [("image", (f"broken{i}.jpg", b"not an image %d" % i, "image/jpeg")) for i in range(2)]
    r = api.post(f"{serve_url}/listing/bundle", files=files, timeout=120)
    assert r.status_code == 422, r.text[:600]
    body = r.json()
    assert body["code"] == "bundle_failed" and body["request_id"]
    assert [p["error"]["code"] for p in body["details"]["photos"]] == ["invalid_image", "invalid_image"]


@pytest.mark.parametrize(
    "files, fields, status, code",
    [
        ([b""], {}, 400, "empty_upload"),
        ([b"garbage"], {}, 400, "invalid_image"),
        ([None], {"tier": "gold"}, 422, "invalid_options"),
        ([None], {"modules": "window_pull,teleport"}, 422, "invalid_options"),
        ([None], {"window_threshold_stops": "99"}, 422, "invalid_options"),
        ([None], {"dusk": "true", "dusk_lamps": "0.1,0.1,0.5,0.5"}, 422, "invalid_options"),
    ],
    ids=["empty", "garbage", "bad-tier", "bad-module", "bad-threshold", "lamp-too-large"],
)
def test_bad_requests_get_json_errors(serve_url, room_jpeg, files, fields, status, code):
    files = [room_jpeg if f is None else f for f in files]
    r = enhance(serve_url, files, fields=fields)
    assert r.status_code == status, r.text[:300]
    body = r.json()
    assert body["code"] == code and body["message"] and body["request_id"]
    for value in fields.values():
        assert value.split(",")[-1] in body["message"]


def test_bracket_frames_of_different_sizes_are_refused(serve_url):
    a = bad.jpeg_bytes(room_photo(400, 300, seed=1).rgb)
    b = bad.jpeg_bytes(room_photo(480, 360, seed=1).rgb)
    r = enhance(serve_url, [a, b])
    assert r.status_code in (400, 422), r.text[:300]
    assert r.json()["code"] == "bracket_size_mismatch" and "size" in r.json()["message"]


@pytest.mark.parametrize(
    "maker", [bad.png16_bytes, bad.cmyk_jpeg, bad.grey_png, bad.palette_png, bad.rgba_png,
              bad.exif_rotated_jpeg, bad.animated_gif, bad.png_bomb_header],
    ids=["png16", "cmyk", "grey", "palette", "rgba", "exif", "animated", "bomb"],
)
def test_awkward_uploads_never_crash_a_replica(serve_url, maker):
    r = enhance(serve_url, maker())
    assert r.status_code in (200, 413, 415, 422), r.text[:300]
    if r.status_code != 200:
        assert r.json()["code"]
    assert api.get(f"{serve_url}/listing/healthz", timeout=60).status_code == 200


def test_staging_without_weights_answers_503_naming_them(serve_url, room_jpeg):
    r = api.post(f"{serve_url}/listing/stage", files={"image": ("room.jpg", room_jpeg, "image/jpeg")},
                      data={"room_type": "bedroom", "style": "scandinavian"}, timeout=60)
    assert r.status_code == 503, r.text[:300]
    body = r.json()
    assert body["code"] == "weights_missing" and "inpaint" in body["message"]
    r = api.post(f"{serve_url}/listing/stage", files={"image": ("room.jpg", room_jpeg, "image/jpeg")},
                      data={"style": "baroque"}, timeout=60)
    assert r.status_code == 422 and "baroque" in r.json()["message"]


def test_a_bundle_over_the_pixel_budget_is_refused_before_any_decode(serve_url):
    """Five photos of 64 MP (a few hundred KB of PNG each) would need gigabytes decoded; the
    headers alone refuse them: 413 request_too_large, at once."""
    big = io.BytesIO()
    Image.new("RGB", (8000, 8000), (200, 200, 200)).save(big, "PNG")
    files = [("image", (f"big{i}.png", big.getvalue(), "image/png")) for i in range(5)]
    t0 = time.monotonic()
    r = api.post(f"{serve_url}/listing/bundle", files=files, timeout=120)
    assert r.status_code == 413 and r.json()["code"] == "request_too_large", r.text[:300]
    assert r.json()["details"]["pixels"] == 5 * 64_000_000 and time.monotonic() - t0 < 10
