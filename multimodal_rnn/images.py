"""Safe image reading for every app and dataset: one-line errors, pixel limits, EXIF, RGB.

:func:`load_image` (a file) and :func:`load_image_bytes` (e.g. an upload) return a fully decoded
RGB ``PIL.Image`` with the EXIF orientation applied, so a truncated file fails here and not
later inside a data loader. Every problem a user can cause is an :class:`InputError` naming
the file: missing, a directory, a FIFO or device, unreadable, empty, not an image, truncated or
corrupt, more pixels than ``max_pixels`` or a side more than :data:`MAX_ASPECT_RATIO` = 20 times
the other (both read from the header before anything is decoded, so a decompression bomb costs
nothing: the models shrink every image to 64 or 224 px a side, so a 1 x 50,000,000 strip would
cost gigabytes in the transforms for nothing). Image files over :data:`MAX_IMAGE_FILE_BYTES` are
refused unread. A JPEG is decoded at a reduced scale (``Image.draft``) when it is at least twice
:data:`DECODE_MIN_SIDE` on its short side, which bounds the decode cost of a large photograph.
PIL's own bomb guard (``DecompressionBombError``, at twice ``Image.MAX_IMAGE_PIXELS``) is reported
the same way; its warning is left to ``max_pixels``. Grayscale, palette, RGBA
(composited on white), CMYK and 16-bit images are converted to 8-bit RGB.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from multimodal_rnn.errors import ImageError
from multimodal_rnn.files import atomic_write, open_input

DEFAULT_MAX_PIXELS = 50_000_000
"""Largest accepted width x height (50 megapixels)."""

MAX_ASPECT_RATIO = 20
"""Largest accepted ratio of the long side to the short side (panoramas reach about 10)."""

MAX_IMAGE_FILE_BYTES = 256 * 1024**2
"""Largest image file read (256 MiB; a 50-megapixel PNG of noise is about 150 MB)."""

DECODE_MIN_SIDE = 1024
"""Short side (pixels) a large JPEG is still decoded at, at least: ``Image.draft`` reduces it by a
power of two no further than this, far above the 64 or 224 px the models see."""


def load_image(path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Read an image file as RGB (see the module docstring for the checks)."""
    path = Path(path)
    with open_input(path, what="file", max_bytes=MAX_IMAGE_FILE_BYTES) as handle:
        return _decode(handle, str(path), max_pixels)


def load_image_bytes(data: bytes, *, name: str = "<upload>", max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode image bytes as RGB; ``name`` stands for the file in error messages."""
    return _decode(io.BytesIO(data), name, max_pixels)


def _decode(stream: BinaryIO, name: str, max_pixels: int) -> Image.Image:
    if stream.read(1) == b"":
        raise ImageError(f"{name}: empty file, not an image", "corrupt")
    stream.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # max_pixels decides instead
        try:
            image = Image.open(stream)
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not an image (unrecognised format)", "not_image") from None
        except Image.DecompressionBombError:
            raise ImageError(f"{name}: image exceeds PIL's decompression-bomb limit", "too_large") from None
        except Exception as exc:  # PIL raises assorted errors on malformed headers
            raise ImageError(f"{name}: corrupt image header ({_reason(exc)})", "corrupt") from None
        width, height = image.size
        if width * height > max_pixels:
            raise ImageError(f"{name}: image is {width}x{height} = {width * height} pixels, "
                             f"over the limit of {max_pixels}", "too_large")
        if width == 0 or height == 0:
            raise ImageError(f"{name}: image has no pixels ({width}x{height})", "corrupt")
        if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
            raise ImageError(f"{name}: image is {width}x{height}, one side over {MAX_ASPECT_RATIO} times "
                             "the other (the limit of the aspect ratio)", "too_large")
        if image.format == "JPEG" and min(width, height) >= 2 * DECODE_MIN_SIDE:
            image.draft("RGB", (DECODE_MIN_SIDE, DECODE_MIN_SIDE))
        try:
            image.load()  # decode everything now: truncated data fails here
            return to_rgb(ImageOps.exif_transpose(image))
        except Image.DecompressionBombError:
            raise ImageError(f"{name}: image exceeds PIL's decompression-bomb limit", "too_large") from None
        except Exception as exc:  # truncated data, bad chunks, unsupported modes, bad EXIF
            raise ImageError(f"{name}: truncated or corrupt image ({_reason(exc)})", "corrupt") from None


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB; transparency is composited on white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grayscale: rescale to 8 bits
        import numpy as np  # here, not at import: the command line lists its options without numpy

        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        gray = np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")  # uint8 (H, W) -> mode "L"
    if (image.mode == "P" and "transparency" in image.info) or image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200] if text else type(exc).__name__


def save_image(image: Image.Image, path: str | os.PathLike[str]) -> None:
    """Write ``image`` to ``path`` atomically (missing folders are made), in the format its
    extension names (``.png``, ``.jpg``, ...); a failed write leaves no partial file."""
    path = Path(path)
    image_format = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    if image_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")

    def write(tmp: str) -> None:
        image.save(tmp, format=image_format)

    atomic_write(path, write)
