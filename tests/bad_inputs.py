"""Bad and awkward uploads, built in memory (no files from ../shared/eval)."""
from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
from PIL import Image


def rgb_image(w: int = 64, h: int = 48) -> np.ndarray:
    """A deterministic RGB test pattern: HxWx3 uint8 with a distinct top-left corner."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), np.full_like(x, 90)], axis=2)
    img[: h // 4, : w // 4] = (250, 10, 10)
    return img.astype(np.uint8)


def jpeg_bytes(rgb: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg_bytes(rgb_image(256, 256))
    return data[: len(data) // 2]


def png_bomb_header(w: int = 30000, h: int = 30000) -> bytes:
    """A valid PNG signature and IHDR declaring w x h, with a tiny IDAT: a decompression bomb."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def png16_bytes() -> bytes:
    img16 = (rgb_image().astype(np.uint16) * 257)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img16, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def cmyk_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb_image()).convert("CMYK").save(buf, "JPEG", quality=95)
    return buf.getvalue()


def grey_png() -> bytes:
    return png_bytes(Image.fromarray(rgb_image()).convert("L"))


def palette_png() -> bytes:
    return png_bytes(Image.fromarray(rgb_image()).convert("P", palette=Image.Palette.ADAPTIVE, colors=32))


def rgba_png() -> bytes:
    rgba = np.dstack([rgb_image(), np.full(rgb_image().shape[:2], 255, np.uint8)])
    rgba[:, : rgba.shape[1] // 2, 3] = 0  # left half transparent
    return png_bytes(Image.fromarray(rgba, "RGBA"))


def exif_rotated_jpeg() -> bytes:
    """A 64x48 image stored with EXIF orientation 6 (display rotated 90 degrees CW)."""
    img = Image.fromarray(rgb_image())
    exif = img.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def animated_gif() -> bytes:
    frames = [Image.fromarray(rgb_image()), Image.fromarray(255 - rgb_image())]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


# --------------------------------------------------------------------------- hostile uploads


def polyglot_jpeg_zip() -> bytes:
    """A real JPEG with a ZIP archive appended (a file that is both)."""
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("payload.txt", "not for you" * 100)
    return jpeg_bytes(rgb_image(128, 96)) + archive.getvalue()


def _jpeg_with_segments(segments: list[bytes]) -> bytes:
    """A small JPEG with extra marker segments inserted after SOI."""
    data = jpeg_bytes(rgb_image(128, 96))
    return data[:2] + b"".join(segments) + data[2:]


def huge_icc_jpeg(total: int = 4 * 1024 * 1024) -> bytes:
    """A JPEG carrying a 4 MB 'ICC profile' of garbage split over APP2 segments."""
    chunk = 65519
    n = -(-total // chunk)
    blob = (b"\x13\x37" * (total // 2 + 1))[:total]
    segs = []
    for i in range(n):
        payload = b"ICC_PROFILE\0" + bytes([i + 1 if i < 255 else 255, min(n, 255)]) + blob[i * chunk:(i + 1) * chunk]
        segs.append(b"\xff\xe2" + struct.pack(">H", len(payload) + 2) + payload)
    return _jpeg_with_segments(segs)


def huge_xmp_jpeg(segments: int = 64) -> bytes:
    """A JPEG with 64 APP1 XMP segments of 64 KB each (4 MB of metadata)."""
    body = b"http://ns.adobe.com/xap/1.0/\0" + b"<x:xmpmeta>" + b"A" * 65000 + b"</x:xmpmeta>"
    seg = b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    return _jpeg_with_segments([seg] * segments)


def restart_marker_jpeg() -> bytes:
    """A JPEG with a restart marker after every MCU: over 10,000 markers in a 1024x768 image."""
    buf = io.BytesIO()
    rgb = np.random.default_rng(0).integers(0, 255, (768, 1024, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(buf, "JPEG", quality=80, subsampling=0, restart_marker_blocks=1)
    return buf.getvalue()
