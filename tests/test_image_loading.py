"""Safe image reading: every bad file is one clear error; odd modes and EXIF are handled."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from multimodal_rnn.errors import InputError
from multimodal_rnn.images import load_image, load_image_bytes


def _png(path: Path, image: Image.Image) -> Path:
    image.save(path)
    return path


def test_missing_directory_text_and_empty(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "absent.jpg")
    with pytest.raises(InputError, match="is a directory"):
        load_image(tmp_path)
    text = tmp_path / "a.jpg"
    text.write_text("hello")
    with pytest.raises(InputError, match=r"a\.jpg: not an image"):
        load_image(text)
    with pytest.raises(InputError, match="empty file"):
        load_image_bytes(b"", name="upload.png")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_images(tmp_path: Path, fmt: str) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, fmt)
    data = buffer.getvalue()
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated or corrupt|corrupt image header") as info:
        load_image(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_pixel_limit_checked_before_decoding(tmp_path: Path) -> None:
    path = _png(tmp_path / "big.png", Image.new("RGB", (300, 200)))
    with pytest.raises(InputError, match="300x200 = 60000 pixels, over the limit of 50000"):
        load_image(path, max_pixels=50_000)
    assert load_image(path, max_pixels=60_000).size == (300, 200)


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "I;16", "LA", "1"])
def test_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    image = Image.new("RGB", (8, 8), (10, 200, 30)).convert(mode) if mode != "I;16" else \
        Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    buffer = io.BytesIO()
    image.save(buffer, "TIFF" if mode == "CMYK" else "PNG")
    loaded = load_image_bytes(buffer.getvalue())
    assert loaded.mode == "RGB" and loaded.size == (8, 8)
    if mode == "I;16":
        assert loaded.getpixel((0, 0)) == (255, 255, 255)


def test_transparent_pixels_composite_on_white() -> None:
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    assert load_image_bytes(buffer.getvalue()).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes())
    assert load_image(path).size == (20, 40)
