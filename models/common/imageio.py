"""Decoding uploads safely and encoding deliverables.

Decoded images are always HxWx3 ``uint8`` RGB with EXIF orientation applied. Every
way an upload can be bad maps to a typed error with a stable code, so the ingress can
answer a 4xx JSON error instead of crashing a replica.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lumograph.models.common.errors import InvalidImage, InvalidOptions, UnsupportedInput

# We enforce our own pixel limit before decoding; PIL's bomb guard would raise a
# different exception type at a different threshold.
Image.MAX_IMAGE_PIXELS = None

#: Formats we accept. MPO is the multi-picture JPEG some cameras write.
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF"}
DEFAULT_MAX_PIXELS = 64_000_000
#: The EXIF tag holding the camera's orientation (1 = as stored).
_EXIF_ORIENTATION = 0x0112
DEFAULT_MAX_BYTES = 40 * 1024 * 1024

#: Output formats and the filename extensions that match them.
FORMAT_EXTENSIONS = {"jpeg": (".jpg", ".jpeg"), "png": (".png",), "webp": (".webp",)}
FORMAT_MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@dataclass(frozen=True)
class DecodedImage:
    """An upload decoded to RGB.

    ``rgb``: HxWx3 uint8 RGB, orientation applied. ``source_format``: the container
    format sniffed from the bytes (never from the filename). ``notes``: what was
    converted on the way (e.g. ``"16-bit reduced to 8-bit"``), for the report.
    """

    rgb: np.ndarray
    source_format: str
    source_mode: str
    notes: tuple[str, ...] = field(default_factory=tuple)


def decode_image(
    data: bytes,
    *,
    filename: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DecodedImage:
    """Decode upload bytes into an RGB array, refusing anything unsafe or ambiguous.

    Handles EXIF orientation, 16-bit, CMYK, greyscale, palette and alpha inputs (alpha
    is flattened onto white, the lightbox background). Raises ``InvalidImage`` for
    empty, corrupt or truncated data and ``UnsupportedInput`` for decompression bombs,
    oversized uploads, animations and formats outside ``ACCEPTED_FORMATS``.
    """
    if not data:
        raise InvalidImage("the upload is empty (0 bytes)", code="empty_upload")
    if len(data) > max_bytes:
        raise UnsupportedInput(
            f"the upload is {len(data)} bytes; the limit is {max_bytes} bytes",
            code="upload_too_large",
        )
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise InvalidImage("the upload is not a recognisable image", code="invalid_image") from None
    except Exception as exc:  # PIL raises many types for garbage headers
        raise InvalidImage(f"the image header could not be read: {exc}", code="invalid_image") from None

    fmt = (img.format or "").upper()
    if fmt not in ACCEPTED_FORMATS:
        raise UnsupportedInput(
            f"image format {img.format!r} is not accepted; send JPEG, PNG, WebP, TIFF, BMP or GIF",
            code="unsupported_format",
        )
    width, height = img.size
    if width * height > max_pixels:
        raise UnsupportedInput(
            f"the image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
            code="image_too_large",
        )
    if getattr(img, "n_frames", 1) > 1 and fmt != "MPO":
        raise UnsupportedInput(
            f"animated {fmt} with {img.n_frames} frames is not accepted; send a still image",
            code="animated_image",
        )
    notes: list[str] = []
    mode = img.mode
    # The raw layout says whether the file held 16 bits a channel (Pillow hands 48-bit
    # RGB over as 8-bit "RGB"); the EXIF tag, read once decoded (inside the guard: a
    # truncated file fails there), whether a turn was due.
    if any(";16" in str(getattr(tile, "args", "") or "") for tile in getattr(img, "tile", None) or ()):
        notes.append("16-bit reduced to 8-bit")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
            orientation = img.getexif().get(_EXIF_ORIENTATION)
            oriented = ImageOps.exif_transpose(img)
    except OSError as exc:
        code = "truncated_image" if "truncated" in str(exc).lower() else "invalid_image"
        raise InvalidImage(f"the image data could not be decoded: {exc}", code=code) from None
    except Exception as exc:
        raise InvalidImage(f"the image data could not be decoded: {exc}", code="invalid_image") from None
    if orientation not in (None, 1):
        notes.append("EXIF orientation applied")
    rgb = _to_rgb8(oriented, notes)
    return DecodedImage(rgb=rgb, source_format=fmt, source_mode=mode, notes=tuple(notes))


def _to_rgb8(img: Image.Image, notes: list[str]) -> np.ndarray:
    """Convert any PIL mode to HxWx3 uint8 RGB, recording what changed."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img)
        # 16-bit greyscale: keep the full range rather than clipping at 255.
        scale = 65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        grey = np.clip(arr.astype(np.float32) * (255.0 / scale) + 0.5, 0, 255).astype(np.uint8)
        notes.append("16-bit greyscale reduced to 8-bit")
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        hi = float(arr.max(initial=0.0)) or 1.0
        grey = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        notes.append("float greyscale normalised to 8-bit")
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
        return np.asarray(img.convert("RGB")).copy()
    if mode == "P" or mode == "PA":
        img = img.convert("RGBA")
        notes.append("palette expanded")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = np.asarray(img.convert("RGBA")).astype(np.float32)
        a = rgba[:, :, 3:4] / 255.0
        if float(a.min()) < 1.0:
            notes.append("transparency flattened onto white")
        flat = rgba[:, :, :3] * a + 255.0 * (1.0 - a)
        return np.clip(flat + 0.5, 0, 255).astype(np.uint8)
    if mode in ("L", "1"):
        notes.append("greyscale expanded to RGB")
    return np.asarray(img.convert("RGB")).copy()


def require_rgb_u8(rgb, name: str = "rgb", *, min_side: int = 1, purpose: str = "") -> None:
    """Raise ``InvalidImage`` unless ``rgb`` is an HxWx3 uint8 array with a short side of
    at least ``min_side`` px. The message names the argument and quotes what it got;
    ``purpose`` (e.g. "to find verticals") says why the size matters."""
    if not isinstance(rgb, np.ndarray):
        raise InvalidImage(f"{name} must be an HxWx3 uint8 numpy array, got {type(rgb).__name__!r}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InvalidImage(f"{name} must be an HxWx3 uint8 RGB array, got {str(rgb.dtype)!r} {rgb.shape!r}")
    if min(rgb.shape[:2]) < min_side:
        why = f" {purpose}" if purpose else ""
        raise InvalidImage(f"{name} is too small{why} (short side < {min_side} px), got {rgb.shape!r}")


def fast_downscale(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Area-averaged reduction to ``long_side`` for analysis proxies.

    Returns ``rgb`` itself (not a copy: never write to the result) when it is already
    small enough. A full INTER_AREA pass over 12 MP costs ~45 ms; striding first down to
    >= 2x the target keeps >= 4 samples per output pixel (little aliasing) for ~10 ms.
    """
    h, w = rgb.shape[:2]
    scale = max(h, w) / long_side
    if scale <= 1.0:
        return rgb
    step = int(scale // 2)
    src = rgb[::step, ::step] if step > 1 else rgb
    size = (max(1, round(w / scale)), max(1, round(h / scale)))
    return cv2.resize(src, size, interpolation=cv2.INTER_AREA)


def resize_long_side(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Downscale so the longest side is at most ``long_side`` (never upscales).

    rgb: HxW or HxWxC array. Returns a new array (the input is never returned, so the
    caller may edit the result). INTER_AREA avoids aliasing on thin chains.
    """
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1.0:
        return rgb.copy()
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def encode_image(
    rgb: np.ndarray,
    fmt: str,
    *,
    alpha: np.ndarray | None = None,
    quality: int = 92,
) -> bytes:
    """Encode an RGB image (optionally with alpha) to JPEG, PNG or WebP bytes.

    rgb: HxWx3 uint8 RGB. alpha: HxW float32 in [0, 1] or None; only PNG and WebP carry
    it. quality: 1-100 for JPEG/WebP. JPEG uses 4:4:4 chroma so a pure-white
    background next to a coloured subject stays exactly 255 after decoding.
    """
    if fmt not in FORMAT_EXTENSIONS:
        raise InvalidOptions(f"output format {fmt!r} is not one of {sorted(FORMAT_EXTENSIONS)}")
    if alpha is not None and fmt == "jpeg":
        raise InvalidOptions("JPEG cannot carry transparency; ask for png or webp")
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if alpha is not None:
        a8 = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
        bgr = np.dstack([bgr, a8])
    if fmt == "jpeg":
        params = [
            cv2.IMWRITE_JPEG_QUALITY, int(quality),
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
            cv2.IMWRITE_JPEG_OPTIMIZE, 1,
        ]
        ok, buf = cv2.imencode(".jpg", bgr, params)
    elif fmt == "png":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    else:
        ok, buf = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, int(quality)])
    if not ok:
        raise InvalidImage(f"encoding to {fmt} failed", code="encode_failed")
    return buf.tobytes()


def sniff_format(data: bytes) -> str | None:
    """Return ``"jpeg"``, ``"png"`` or ``"webp"`` from magic bytes, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def parse_source_hw(source_hw) -> tuple[int, int]:
    """(height, width) of the full-resolution photo as two positive ints; raises
    ``InvalidOptions`` quoting anything else."""
    try:
        src_h, src_w = (int(v) for v in source_hw)
    except (TypeError, ValueError):
        raise InvalidOptions(f"source_hw must be (height, width), got {source_hw!r}") from None
    if src_h < 1 or src_w < 1:
        raise InvalidOptions(f"source_hw must be positive, got {source_hw!r}")
    return src_h, src_w

