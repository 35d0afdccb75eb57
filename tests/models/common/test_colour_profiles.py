"""'Any camera' input and sRGB output: embedded ICC profiles are converted to sRGB on decode
(expected values from colour-science), HEIC/HEIF and AVIF decode, a missing profile means
sRGB untouched, a broken one falls back with a note, and every encoded file carries sRGB
with a pure-white background surviving the round trip exactly.

The profiles are written here by a small ICC v2 matrix/TRC writer (Pillow can only create
sRGB), so the tests need no profile files on the machine.
"""
from __future__ import annotations

import io
import struct
import time

import colour
import cv2
import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageCms

from lumograph.models.common.errors import UnsupportedInput
from lumograph.models.common.imageio import SRGB_ICC, decode_image, encode_image, sniff_format

pillow_heif.register_heif_opener()  # to write HEIC fixtures (decode_image registers it to read)

# --- a tiny ICC v2 writer: header, tag table, desc / wtpt / colorants / TRCs -------------

_D50 = (0.9642, 1.0, 0.8249)  # the ICC profile connection space white


def _s15f16(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz_tag(xyz) -> bytes:
    return b"XYZ " + b"\0" * 4 + b"".join(_s15f16(v) for v in xyz)


def _desc_tag(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    # textDescriptionType: ASCII part, then empty Unicode and ScriptCode parts.
    return b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * 8 + b"\0" * 3 + b"\0" * 67


def _curv_gamma(gamma: float) -> bytes:
    return b"curv" + b"\0" * 4 + struct.pack(">IH", 1, round(gamma * 256))


def _curv_table(values) -> bytes:
    table = np.clip(np.round(np.asarray(values) * 65535), 0, 65535).astype(">u2")
    return b"curv" + b"\0" * 4 + struct.pack(">I", table.size) + table.tobytes()


def _icc_v2(space: bytes, tags: list[tuple[bytes, bytes]], description: str) -> bytes:
    """Header (size, CMM, version 2.1, display class, colour space, PCS XYZ, date, 'acsp',
    platform, flags, maker, model, attributes, intent, D50 illuminant, creator, ID,
    reserved), tag count, tag table (signature, offset, size), tag data 4-byte aligned."""
    tags = [(b"desc", _desc_tag(description)), (b"wtpt", _xyz_tag(_D50))] + tags
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (struct.pack(">I", offset + len(body)) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntr" + space
              + b"XYZ " + b"\0" * 12 + b"acsp" + b"APPL" + b"\0" * 24 + b"".join(_s15f16(v) for v in _D50)
              + b"\0" * 48)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


_SRGB_TRC = _curv_table(colour.models.eotf_sRGB(np.linspace(0.0, 1.0, 4096)))
_TRCS = {"Display P3": _SRGB_TRC, "sRGB": _SRGB_TRC, "Adobe RGB (1998)": _curv_gamma(563 / 256)}


def rgb_profile(space_name: str, description: str | None = None) -> bytes:
    """A matrix/TRC profile for colour-science's ``space_name``, colorants Bradford-adapted
    to D50 as the ICC asks."""
    space = colour.RGB_COLOURSPACES[space_name]
    to_d50 = colour.adaptation.matrix_chromatic_adaptation_VonKries(
        colour.xy_to_XYZ(space.whitepoint), np.array(_D50), transform="Bradford")
    m = to_d50 @ space.matrix_RGB_to_XYZ
    trc = _TRCS[space_name]
    tags = [(b"rXYZ", _xyz_tag(m[:, 0])), (b"gXYZ", _xyz_tag(m[:, 1])), (b"bXYZ", _xyz_tag(m[:, 2])),
            (b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc)]
    return _icc_v2(b"RGB ", tags, description or space_name)


def grey_profile(gamma: float = 1.8) -> bytes:
    return _icc_v2(b"GRAY", [(b"kTRC", _curv_gamma(gamma))], f"Gray Gamma {gamma}")


# --- images --------------------------------------------------------------------------------

#: Flat patches (16x16 px each, so lossy codecs keep their centres): saturated red, three
#: mid-saturated colours, mid grey, white, black.
PATCHES = np.array([[255, 0, 0], [200, 120, 80], [30, 160, 90], [90, 110, 190],
                    [128, 128, 128], [255, 255, 255], [0, 0, 0]], np.uint8)
_P = 16


def patch_image() -> np.ndarray:
    return np.ascontiguousarray(np.repeat(np.repeat(PATCHES[None], _P, axis=0), _P, axis=1))


def patch_centres(rgb: np.ndarray) -> np.ndarray:
    return rgb[_P // 2, _P // 2::_P].astype(int)


def expected_srgb(space_name: str) -> np.ndarray:
    """What each patch should become in sRGB: colour-science's colorimetric conversion
    (Bradford, as the ICC's D50 PCS implies), clipped to the sRGB gamut."""
    out = colour.RGB_to_RGB(PATCHES / 255.0, colour.RGB_COLOURSPACES[space_name], colour.RGB_COLOURSPACES["sRGB"],
                            chromatic_adaptation_transform="Bradford",
                            apply_cctf_decoding=True, apply_cctf_encoding=True)
    return np.round(np.clip(out, 0.0, 1.0) * 255.0).astype(int)


def save(rgb: np.ndarray, fmt: str, icc: bytes | None = None, **kw) -> bytes:
    buf = io.BytesIO()
    if icc is not None:
        kw["icc_profile"] = icc
    if fmt == "JPEG":
        kw.setdefault("quality", 100)
        kw.setdefault("subsampling", 0)
    if fmt == "WEBP":
        kw.setdefault("lossless", True)
    if fmt == "HEIF":
        kw.setdefault("quality", -1)  # lossless
        kw.setdefault("chroma", 444)
    if fmt == "AVIF":
        kw.setdefault("quality", 100)
        kw.setdefault("subsampling", "4:4:4")
    Image.fromarray(rgb).save(buf, fmt, **kw)
    return buf.getvalue()


# --- decode: profiles converted to sRGB ----------------------------------------------------

@pytest.mark.parametrize("space_name, fmt, tol", [
    ("Display P3", "JPEG", 2),        # iPhone JPEG
    ("Display P3", "PNG", 1),         # screenshots, exports
    ("Display P3", "WEBP", 1),
    ("Adobe RGB (1998)", "JPEG", 2),  # DSLR set to Adobe RGB
    ("Adobe RGB (1998)", "TIFF", 1),
])
def test_an_embedded_profile_is_converted_to_the_srgb_colours_colour_science_expects(space_name, fmt, tol):
    naive = PATCHES.astype(int)
    expected = expected_srgb(space_name)
    # The fixture itself must tell the rule apart: converting moves mid colours a lot.
    assert np.abs(expected[1:4] - naive[1:4]).max() >= 8

    decoded = decode_image(save(patch_image(), fmt, rgb_profile(space_name)))
    got = patch_centres(decoded.rgb)
    assert np.abs(got - expected).max() <= tol, (got.tolist(), expected.tolist())
    # Saturated red is outside sRGB: clipped to (255, 0, 0), not desaturated (relative
    # colorimetric); white stays exactly white.
    assert np.abs(got[0] - [255, 0, 0]).max() <= tol
    assert (got[5] == 255).all()
    assert f"colour profile {space_name!r} converted to sRGB (relative colorimetric)" in decoded.notes, decoded.notes


@pytest.mark.parametrize("mode", ["L", "LA"])
def test_a_grey_profile_is_converted_through_its_own_curve(mode):
    ramp = np.repeat(np.arange(0, 256, 8, dtype=np.uint8)[None], 4, axis=0)
    img = Image.fromarray(ramp)
    if mode == "LA":
        img.putalpha(255)
    buf = io.BytesIO()
    img.save(buf, "PNG", icc_profile=grey_profile(1.8))
    decoded = decode_image(buf.getvalue())
    assert decoded.source_mode == mode
    # Gamma 1.8 grey -> linear -> sRGB's curve: mid greys come out lighter than read naively.
    expected = np.round(colour.models.eotf_inverse_sRGB((ramp[0] / 255.0) ** 1.8) * 255).astype(int)
    got = decoded.rgb[0].astype(int)
    assert (got == got[:, :1]).all(), "grey must stay neutral"
    assert np.abs(got[:, 0] - expected).max() <= 1, (got[:, 0].tolist(), expected.tolist())
    assert np.abs(expected - ramp[0]).max() >= 10
    assert "colour profile 'Gray Gamma 1.8' converted to sRGB (relative colorimetric)" in decoded.notes


def test_an_rgba_png_with_a_profile_keeps_its_alpha_and_flattens_onto_srgb_white():
    rgba = np.dstack([patch_image(), np.full(patch_image().shape[:2], 255, np.uint8)])
    rgba[:, :_P, 3] = 0  # the red patch fully transparent
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG", icc_profile=rgb_profile("Display P3"))
    decoded = decode_image(buf.getvalue())
    got = patch_centres(decoded.rgb)
    assert (got[0] == 255).all()  # transparent -> white
    assert np.abs(got[1:] - expected_srgb("Display P3")[1:]).max() <= 1
    assert "transparency flattened onto white" in decoded.notes


# --- HEIC / HEIF and AVIF ------------------------------------------------------------------

@pytest.mark.parametrize("fmt, sniffed, tol", [("HEIF", "heic", 3), ("AVIF", "avif", 3)])
def test_heic_and_avif_decode_and_their_profile_is_converted(fmt, sniffed, tol):
    data = save(patch_image(), fmt, rgb_profile("Display P3"))
    assert sniff_format(data) == sniffed
    decoded = decode_image(data, filename=f"IMG_0001.{sniffed}")
    assert decoded.source_format == fmt
    assert decoded.rgb.shape == patch_image().shape and decoded.rgb.dtype == np.uint8
    got = patch_centres(decoded.rgb)
    assert np.abs(got - expected_srgb("Display P3")).max() <= tol, got.tolist()
    assert "colour profile 'Display P3' converted to sRGB (relative colorimetric)" in decoded.notes


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heic_and_avif_without_a_profile_decode_as_srgb(fmt):
    decoded = decode_image(save(patch_image(), fmt))
    assert np.abs(patch_centres(decoded.rgb) - PATCHES.astype(int)).max() <= 3
    assert not any("profile" in n for n in decoded.notes), decoded.notes


def test_a_heic_holding_several_images_decodes_its_primary_image():
    # Phones store bursts, depth and edits as more top-level images; that is no animation.
    first, second = patch_image(), patch_image()[::-1].copy()
    buf = io.BytesIO()
    Image.fromarray(first).save(buf, "HEIF", quality=-1, chroma=444, save_all=True,
                                append_images=[Image.fromarray(second)])
    decoded = decode_image(buf.getvalue())
    assert np.abs(decoded.rgb.astype(int) - first.astype(int)).max() <= 3


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = b"ftyp" + major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 4 + len(body)) + body + b"\0\0\0\x08meta"


@pytest.mark.parametrize("data, fmt", [
    (_ftyp(b"heic", b"mif1", b"heic"), "heic"),
    (_ftyp(b"mif1", b"mif1", b"heic"), "heic"),   # Apple-style generic major brand
    (_ftyp(b"heix", b"mif1"), "heic"),
    (_ftyp(b"avif", b"avif", b"mif1", b"miaf"), "avif"),
    (_ftyp(b"mif1", b"avif", b"miaf"), "avif"),
    (_ftyp(b"avis", b"msf1"), "avif"),
    (_ftyp(b"mif1", b"mif1", b"miaf"), "heif"),   # a HEIF of unnamed codec
    (_ftyp(b"isom", b"isom", b"mp41"), None),     # an MP4 video is not an image
    (_ftyp(b"qt  "), None),
])
def test_sniff_format_tells_the_heif_family_apart_by_ftyp_brands(data, fmt):
    assert sniff_format(data) == fmt


def test_a_format_outside_the_list_still_answers_unsupported_format():
    buf = io.BytesIO()
    Image.fromarray(patch_image()).save(buf, "PPM")  # Pillow reads it; we do not accept it
    with pytest.raises(UnsupportedInput) as info:
        decode_image(buf.getvalue())
    assert info.value.code == "unsupported_format"
    assert "HEIC" in info.value.message and "AVIF" in info.value.message


# --- no profile, an sRGB profile, a broken profile ------------------------------------------

@pytest.mark.parametrize("icc", [None, SRGB_ICC, rgb_profile("sRGB", "sRGB IEC61966-2.1 (v2 matrix/TRC)")],
                         ids=["no-profile", "our-srgb", "another-srgb"])
def test_srgb_or_no_profile_leaves_the_pixels_exactly_as_stored(icc):
    rgb = patch_image()
    rng = np.random.default_rng(3)
    rgb[::3, ::5] = rng.integers(0, 256, rgb[::3, ::5].shape, dtype=np.uint8)  # many colours, not just 7
    decoded = decode_image(save(rgb, "PNG", icc))
    assert np.array_equal(decoded.rgb, rgb)
    assert not any("profile" in n for n in decoded.notes), decoded.notes


@pytest.mark.parametrize("icc", [b"not an ICC profile at all" * 20, rgb_profile("Display P3")[:300]],
                         ids=["garbage", "truncated"])
def test_a_broken_profile_falls_back_to_srgb_with_a_note(icc):
    rgb = patch_image()
    decoded = decode_image(save(rgb, "PNG", icc))
    assert np.array_equal(decoded.rgb, rgb)
    assert any(n.startswith("embedded colour profile unreadable") and "taken as sRGB" in n
               for n in decoded.notes), decoded.notes


def test_a_profile_that_does_not_fit_the_pixels_is_noted_and_not_applied():
    grey = np.repeat(np.arange(0, 256, 8, dtype=np.uint8)[None], 4, axis=0)
    decoded = decode_image(save(grey, "PNG", rgb_profile("Display P3")))  # RGB profile, L pixels
    assert np.array_equal(decoded.rgb[:, :, 0], grey)
    assert any("does not fit L pixels" in n for n in decoded.notes), decoded.notes


# --- output carries sRGB; pure white survives ----------------------------------------------

@pytest.mark.parametrize("fmt, with_alpha", [("jpeg", False), ("png", False), ("webp", False),
                                             ("png", True), ("webp", True)])
def test_every_output_carries_the_srgb_profile_and_stays_readable(fmt, with_alpha):
    rgb = patch_image()
    alpha = None
    if with_alpha:
        alpha = np.ones(rgb.shape[:2], np.float32)
        alpha[:, :_P] = 0.0
    data = encode_image(rgb, fmt, alpha=alpha, quality=95)
    assert sniff_format(data) == fmt
    img = Image.open(io.BytesIO(data))
    icc = img.info.get("icc_profile")
    assert icc == SRGB_ICC
    assert ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space.strip() == "RGB"
    assert "sRGB" in ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.profile_description
    # Pillow and OpenCV (the QA gate re-decodes with cv2.imdecode) both read the pixels.
    pil = np.asarray(img.convert("RGBA" if with_alpha else "RGB"))
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert bgr is not None and bgr.shape[2] == (4 if with_alpha else 3)
    cv = cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGBA if with_alpha else cv2.COLOR_BGR2RGB)
    assert np.abs(pil.astype(int) - cv.astype(int)).max() <= 1
    assert np.abs(pil[:, :, :3].astype(int)[:, _P:] - rgb.astype(int)[:, _P:]).mean() < 4
    if with_alpha:
        assert pil[0, 0, 3] == 0 and pil[0, -1, 3] == 255


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_pure_white_survives_encode_then_decode_exactly(fmt):
    canvas = np.full((256, 256, 3), 255, np.uint8)
    cv2.circle(canvas, (128, 128), 40, (212, 175, 55), -1)  # a gold piece on the sweep
    decoded = decode_image(encode_image(canvas, fmt, quality=92))
    assert not any("profile" in n for n in decoded.notes), decoded.notes  # our sRGB is not re-converted
    background = np.ones(canvas.shape[:2], bool)
    cv2.circle(background.view(np.uint8), (128, 128), 60, 0, -1)
    assert (decoded.rgb[background] == 255).all()


def test_the_same_image_encodes_to_the_same_bytes_in_two_processes():
    """The embedded profile must not carry the moment a process made it (LittleCMS stamps
    one): a job item retried on another replica, or after a restart, must give the same
    file as an uninterrupted run."""
    import subprocess
    import sys

    code = ("import hashlib, numpy as np\n"
            "from lumograph.models.common.imageio import encode_image\n"
            "rgb = (np.arange(64 * 48 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)\n"
            "print(hashlib.sha256(encode_image(rgb, 'jpeg', quality=90)).hexdigest())\n")
    digests = set()
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
        digests.add(done.stdout.strip())
        time.sleep(1.1)  # the profile's date field counts seconds
    assert len(digests) == 1
