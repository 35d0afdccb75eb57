"""IPTC DigitalSourceType in XMP: the type follows what was done to the photo, and the
packet goes into JPEG, PNG and WebP without touching a pixel."""
import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from lumograph.models.common import provenance as pv
from lumograph.models.common.imageio import decode_image, embed_xmp, encode_image

IPTC = "{http://iptc.org/std/Iptc4xmpExt/2008-02-29/}DigitalSourceType"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


def source_type_of(xmp: bytes) -> tuple[str, str | None]:
    root = ET.fromstring(xmp.decode("utf-8").split("?>", 1)[1].rsplit("<?xpacket", 1)[0])
    desc = root.find(f"{RDF}RDF/{RDF}Description")
    li = desc.find(f"{{http://purl.org/dc/elements/1.1/}}description/{RDF}Alt/{RDF}li")
    return desc.attrib[IPTC], None if li is None else li.text


@pytest.mark.parametrize("applied, backends, merged, expected", [
    ([], {}, False, None),
    (["colour_grade", "window_pull"], {"colour_grade": "classical"}, False, pv.ENHANCED),
    (["colour_grade"], {}, True, pv.COMPOSITE_CAPTURE),
    (["colour_grade", "sky_replacement"], {"sky_replacement": "classical"}, True, pv.COMPOSITE),
    (["day_to_dusk"], {"day_to_dusk": "classical"}, False, pv.COMPOSITE),
    (["glare_removal"], {"glare_removal": "diffusers"}, False, pv.GENERATIVE),
    (["sky_replacement"], {"sky_replacement": "diffusers"}, False, pv.GENERATIVE),
    # A learned backend that ran but was not applied does not make the photo generated.
    (["colour_grade"], {"colour_grade": "classical", "glare_removal": "diffusers"}, False, pv.ENHANCED),
])
def test_listing_type_follows_what_was_applied(applied, backends, merged, expected):
    assert pv.listing_source_type(applied, backends, merged=merged) == expected


def test_lightbox_is_a_composite_unless_a_generative_backend_ran():
    assert pv.lightbox_source_type({"segmenter": "sam", "compositor": "classical"}) == pv.COMPOSITE
    assert pv.lightbox_source_type({"compositor": "diffusers"}) == pv.GENERATIVE


@pytest.mark.parametrize("fmt, alpha", [("jpeg", False), ("png", False), ("png", True),
                                        ("webp", False), ("webp", True)])
def test_xmp_goes_in_every_format_and_no_pixel_moves(fmt, alpha):
    rgb = (np.random.default_rng(1).random((48, 64, 3)) * 255).astype(np.uint8)
    a = np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64) if alpha else None
    plain = encode_image(rgb, fmt, alpha=a)
    packet = pv.xmp_packet(pv.COMPOSITE, description='Sky digitally replaced. <"&">')
    tagged = embed_xmp(plain, fmt, packet)
    img = Image.open(io.BytesIO(tagged))
    img.load()
    assert img.info["xmp"] == packet and img.info.get("icc_profile")
    assert source_type_of(img.info["xmp"]) == (pv.COMPOSITE, 'Sky digitally replaced. <"&">')
    assert np.array_equal(decode_image(tagged).rgb, decode_image(plain).rgb)
    if alpha:
        assert np.array_equal(np.asarray(img)[..., 3], np.asarray(Image.open(io.BytesIO(plain)))[..., 3])


def test_a_packet_too_large_for_a_jpeg_segment_is_refused():
    with pytest.raises(ValueError):
        pv.xmp_packet(pv.COMPOSITE, description="x" * 70_000)
