"""Tests of safe image reading: formats, EXIF orientation and one-line errors for bad files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from multimodal_rnn.errors import InputError
from multimodal_rnn.images import load_image, load_image_bytes


def _save(image: Image.Image, path: Path, **options: object) -> Path:
    image.save(path, **options)
    return path


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming ``width`` x ``height`` RGB pixels whose image data is a few bytes only."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _error(path_or_bytes: Path | bytes, **options: object) -> str:
    with pytest.raises(InputError) as info:
        if isinstance(path_or_bytes, bytes):
            load_image_bytes(path_or_bytes, name="upload.png", **options)  # type: ignore[arg-type]
        else:
            load_image(path_or_bytes, **options)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


def test_reads_rgb_png_and_jpeg(tmp_path: Path) -> None:
    array = np.zeros((20, 30, 3), dtype=np.uint8)
    array[:, :, 0] = 200
    png = load_image(_save(Image.fromarray(array), tmp_path / "a.png"))
    jpeg = load_image(_save(Image.fromarray(array), tmp_path / "a.jpg", quality=95))
    assert png.mode == jpeg.mode == "RGB" and png.size == jpeg.size == (30, 20)
    assert np.array_equal(np.asarray(png), array)
    assert abs(int(np.asarray(jpeg)[10, 15, 0]) - 200) <= 3


def test_other_modes_become_rgb(tmp_path: Path) -> None:
    gray = load_image(_save(Image.new("L", (4, 3), 77), tmp_path / "gray.png"))
    assert gray.mode == "RGB" and np.asarray(gray)[0, 0].tolist() == [77, 77, 77]
    transparent = load_image(_save(Image.new("RGBA", (4, 3), (10, 20, 30, 0)), tmp_path / "rgba.png"))
    assert np.asarray(transparent)[0, 0].tolist() == [255, 255, 255]  # composited on white
    deep = Image.fromarray(np.full((3, 4), 65535, dtype=np.uint16))
    assert np.asarray(load_image(_save(deep, tmp_path / "deep.png")))[0, 0].tolist() == [255, 255, 255]
    cmyk = load_image(_save(Image.new("CMYK", (4, 3), (0, 0, 0, 0)), tmp_path / "cmyk.jpg"))
    assert cmyk.mode == "RGB"


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    loaded = load_image(_save(image, tmp_path / "rotated.jpg", exif=exif.tobytes()))
    assert loaded.size == (20, 40)


def test_bytes_variant_reads_and_names_the_upload(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (5, 6), (1, 2, 3)).save(buffer, format="PNG")
    assert load_image_bytes(buffer.getvalue()).size == (5, 6)
    assert _error(b"hello").startswith("upload.png: not an image")
    assert "empty" in _error(b"")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    assert _error(missing) == f"{missing}: no such file"
    assert "is a directory" in _error(tmp_path)


def test_empty_and_text_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert "empty file" in _error(empty)
    text = tmp_path / "notes.png"
    text.write_text("not an image at all\n")
    message = _error(text)
    assert message.startswith(str(text)) and "not an image" in message


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_image_fails_at_load(tmp_path: Path, suffix: str) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = _save(Image.fromarray(noise), tmp_path / f"full{suffix}").read_bytes()
    truncated = tmp_path / f"cut{suffix}"
    truncated.write_bytes(data[: len(data) // 2])
    message = _error(truncated)
    assert message.startswith(str(truncated)) and ("truncated" in message or "corrupt" in message)


def test_corrupt_header(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    assert str(broken) in _error(broken)


def test_pixel_limit_is_checked_before_decoding(tmp_path: Path) -> None:
    header_only = tmp_path / "huge.png"
    header_only.write_bytes(_png_header_only(10_000, 8_000))  # no pixel data: decoding would fail
    message = _error(header_only)
    assert "10000x8000 = 80000000 pixels, over the limit of 50000000" in message
    small = _save(Image.new("RGB", (100, 100)), tmp_path / "small.png")
    assert "over the limit of 5000" in _error(small, max_pixels=5_000)
    assert load_image(small, max_pixels=10_000).size == (100, 100)


def test_pil_decompression_bomb_guard(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(20_000, 20_000))  # 400 Mpx: past twice PIL's limit
    assert "decompression-bomb" in _error(bomb, max_pixels=10**9)


def test_transparent_pixels_composite_on_white() -> None:
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    assert load_image_bytes(buffer.getvalue()).getpixel((0, 0)) == (255, 255, 255)


def test_image_errors_say_their_kind() -> None:
    import io as _io

    from PIL import Image as _Image

    from multimodal_rnn.errors import ImageError
    from multimodal_rnn.images import load_image_bytes

    buffer = _io.BytesIO()
    _Image.new("RGB", (40, 40), (10, 20, 30)).save(buffer, format="PNG")
    png = buffer.getvalue()
    cases = [(b"hello, not a picture", "not_image"), (b"", "corrupt"), (png[: len(png) // 2], "corrupt")]
    for data, kind in cases:
        with pytest.raises(ImageError) as caught:
            load_image_bytes(data, name="up.png")
        assert caught.value.kind == kind and str(caught.value).startswith("up.png: ")
    with pytest.raises(ImageError) as caught:
        load_image_bytes(png, name="up.png", max_pixels=100)
    assert caught.value.kind == "too_large" and "1600 pixels" in str(caught.value)
