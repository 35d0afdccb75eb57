import numpy as np
import pytest

from lumograph.models.common.errors import InvalidImage, InvalidOptions, UnsupportedInput
from lumograph.models.common.imageio import decode_image, encode_image, resize_long_side, sniff_format
from tests import bad_inputs as bad


@pytest.mark.parametrize(
    "data, exc, code",
    [
        (b"", InvalidImage, "empty_upload"),
        (b"this is not an image at all", InvalidImage, "invalid_image"),
        (bad.truncated_jpeg(), InvalidImage, "truncated_image"),
        (bad.png_bomb_header(), UnsupportedInput, "image_too_large"),
        (bad.animated_gif(), UnsupportedInput, "animated_image"),
    ],
    ids=["zero-bytes", "not-an-image", "truncated-jpeg", "decompression-bomb", "animated-gif"],
)
def test_bad_uploads_raise_typed_errors(data, exc, code):
    with pytest.raises(exc) as info:
        decode_image(data)
    assert info.value.code == code
    assert info.value.message


def test_oversize_upload_is_refused_before_decoding():
    with pytest.raises(UnsupportedInput) as info:
        decode_image(b"\xff\xd8\xff" + b"0" * 2000, max_bytes=1000)
    assert info.value.code == "upload_too_large"


@pytest.mark.parametrize(
    "maker", [bad.png16_bytes, bad.cmyk_jpeg, bad.grey_png, bad.palette_png, bad.rgba_png],
    ids=["png16", "cmyk", "grey", "palette", "rgba"],
)
def test_awkward_modes_decode_to_rgb8(maker):
    decoded = decode_image(maker())
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape == (48, 64, 3)
    assert decoded.rgb.flags.c_contiguous


def test_16bit_png_keeps_its_values():
    decoded = decode_image(bad.png16_bytes())
    assert np.abs(decoded.rgb.astype(int) - bad.rgb_image().astype(int)).max() <= 1
    assert "16-bit reduced to 8-bit" in decoded.notes, decoded.notes
    assert not any("orientation" in n for n in decoded.notes)


def test_cmyk_colours_survive():
    decoded = decode_image(bad.cmyk_jpeg())
    assert np.abs(decoded.rgb.astype(int) - bad.rgb_image().astype(int)).mean() < 12
    assert "CMYK converted to RGB" in decoded.notes


def test_rgba_is_flattened_on_white():
    decoded = decode_image(bad.rgba_png())
    assert (decoded.rgb[:, :20] == 255).all()
    assert "transparency flattened onto white" in decoded.notes


def test_the_pixel_cap_is_64_megapixels():
    with pytest.raises(UnsupportedInput) as info:
        decode_image(bad.png_bomb_header(8001, 8000))  # 64,008,000 px
    assert info.value.code == "image_too_large" and "64000000" in info.value.message
    with pytest.raises(InvalidImage):  # exactly 64 MP passes the cap (then fails to decode)
        decode_image(bad.png_bomb_header(8000, 8000))


def test_orientation_is_reported_only_when_the_photo_had_one():
    decoded = decode_image(bad.jpeg_bytes(bad.rgb_image()))
    assert decoded.rgb.shape == (48, 64, 3)
    assert not any("orientation" in n for n in decoded.notes), decoded.notes


def test_exif_orientation_is_applied():
    decoded = decode_image(bad.exif_rotated_jpeg())
    assert decoded.rgb.shape == (64, 48, 3)  # rotated from 48x64
    # The red top-left block of the stored image lands top-right after a 90-degree CW turn.
    assert decoded.rgb[2, -3, 0] > 200 and decoded.rgb[2, -3, 1] < 60
    assert "EXIF orientation applied" in decoded.notes


def test_wrong_extension_decodes_by_content():
    decoded = decode_image(bad.jpeg_bytes(bad.rgb_image()), filename="photo.png")
    assert decoded.source_format == "JPEG"


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_encode_round_trip(fmt):
    rgb = bad.rgb_image()
    rgb.setflags(write=False)
    data = encode_image(rgb, fmt, quality=95)
    assert sniff_format(data) == fmt
    back = decode_image(data).rgb
    assert back.shape == rgb.shape
    assert np.abs(back.astype(int) - rgb.astype(int)).mean() < 4


def test_encode_transparent_png_keeps_alpha_and_jpeg_refuses_it():
    rgb = bad.rgb_image()
    alpha = np.zeros(rgb.shape[:2], np.float32)
    alpha[10:20, 10:20] = 1.0
    data = encode_image(rgb, "png", alpha=alpha)
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(data))
    assert img.mode == "RGBA"
    a = np.asarray(img)[:, :, 3]
    assert a[15, 15] == 255 and a[0, 0] == 0
    with pytest.raises(InvalidOptions):
        encode_image(rgb, "jpeg", alpha=alpha)


def test_resize_long_side_never_upscales_and_never_aliases_input():
    rgb = bad.rgb_image(200, 100)
    rgb.setflags(write=False)
    small = resize_long_side(rgb, 50)
    assert small.shape == (25, 50, 3)
    same = resize_long_side(rgb, 400)
    assert same.shape == rgb.shape and same is not rgb and same.flags.writeable


def test_the_pixel_budget_reads_headers_only_and_counts_the_canvas():
    from lumograph.models.common.imageio import image_pixels, require_pixel_budget

    bomb = bad.png_bomb_header(30000, 30000)  # declares 900 MP, holds almost nothing
    assert image_pixels(bomb) == 900_000_000 and image_pixels(b"garbage") == 0
    require_pixel_budget([image_pixels(bad.jpeg_bytes(bad.rgb_image(64, 48)))] * 3, 10_000)
    with pytest.raises(UnsupportedInput) as info:
        require_pixel_budget([4_000_000] * 3, 10_000_000)
    assert info.value.code == "request_too_large" and info.value.details["pixels"] == 12_000_000
    with pytest.raises(UnsupportedInput):
        require_pixel_budget([1_000_000], 10_000_000, canvas=10_000 ** 2)
    with pytest.raises(UnsupportedInput) as info:  # one photo over the per-image limit is named as such
        require_pixel_budget([5, 900_000_000], 10 ** 12, max_pixels=64_000_000)
    assert info.value.code == "image_too_large" and info.value.details["photo"] == 1
