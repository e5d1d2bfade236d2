"""Decoding of every supported format and colour mode, and clear errors for bad files."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from imlforensic.cli import app
from imlforensic.io.images import ImageLoadError, load_image

RNG = np.random.default_rng(0)
RGB = (RNG.random((48, 64, 3)) * 255).astype(np.uint8)


@pytest.mark.parametrize(
    "suffix, kwargs",
    [(".jpg", {"quality": 90}), (".png", {}), (".tif", {}), (".webp", {"lossless": True}), (".bmp", {}), (".gif", {})],
)
def test_formats_decode_to_rgb8(tmp_path, suffix, kwargs):
    path = tmp_path / f"x{suffix}"
    Image.fromarray(RGB).save(path, **kwargs)
    image = load_image(path)
    assert image.rgb.shape == (48, 64, 3) and image.rgb.dtype == np.uint8
    if suffix in (".png", ".tif", ".bmp", ".webp"):
        assert np.array_equal(image.rgb, RGB)  # lossless formats: exact pixels


def test_grey_rgba_palette_cmyk(tmp_path):
    grey = RGB[..., 0]
    Image.fromarray(grey).save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert np.array_equal(out.rgb[..., 0], grey) and np.array_equal(out.rgb[..., 2], grey)
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 255, np.uint8)])
    rgba[:10, :, 3] = 0  # transparent rows become white
    Image.fromarray(rgba).save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert (out.rgb[:10] == 255).all() and np.array_equal(out.rgb[10:], RGB[10:])
    assert "alpha composited onto white" in out.conversions
    Image.fromarray(RGB).convert("P").save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").rgb.shape == (48, 64, 3)
    Image.fromarray(RGB).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    out = load_image(tmp_path / "c.jpg")
    assert out.mode == "CMYK" and out.rgb.shape == (48, 64, 3)
    assert np.abs(out.rgb.astype(int) - RGB.astype(int)).mean() < 20


def test_16_bit_tiff_grey_and_colour(tmp_path):
    grey16 = (RNG.random((40, 50)) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "g16.tif", grey16)
    out = load_image(tmp_path / "g16.tif")
    assert np.array_equal(out.rgb[..., 1], (grey16 >> 8).astype(np.uint8))
    colour16 = (RNG.random((40, 50, 3)) * 65535).astype(np.uint16)
    tifffile.imwrite(tmp_path / "c16.tif", colour16)
    out = load_image(tmp_path / "c16.tif")
    assert np.array_equal(out.rgb, (colour16 >> 8).astype(np.uint8))


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.fromarray(np.full((32, 32, 3), v, np.uint8)) for v in (10, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    out = load_image(tmp_path / "anim.gif")
    assert abs(int(out.rgb.mean()) - 10) <= 2
    assert any("first of 2 frames" in c for c in out.conversions)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(RGB)  # 64 wide, 48 high
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    image.save(tmp_path / "rot.jpg", quality=95, exif=exif)
    out = load_image(tmp_path / "rot.jpg")
    assert out.rgb.shape == (64, 48, 3) and out.exif_orientation == 6
    assert out.width == 48 and out.height == 64


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def _broken_jpeg() -> bytes:
    """A real JPEG header and tables followed by a scan of zeros (identifies, cannot decode)."""
    import io

    buffer = io.BytesIO()
    Image.fromarray(RGB).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    return data[: data.index(b"\xff\xda")] + b"\xff\xda" + bytes(50)


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("hello, not an image"), "not a supported image format"),
        (lambda p: p.write_bytes(_png_header_only(200_000, 200_000)), "above the limit"),
        (lambda p: p.write_bytes(_broken_jpeg()), "corrupt image data"),
    ],
    ids=["empty", "text", "bomb", "corrupt-jpeg"],
)
def test_bad_files_raise_one_line_errors_naming_the_file(tmp_path, make, expected):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    message = str(info.value)
    assert expected in message and "bad.png" in message and "\n" not in message


def test_truncated_jpeg_is_rejected(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(tmp_path / "cut.jpg")


def test_tiny_image_and_max_pixels(tmp_path):
    Image.fromarray(RGB[:1, :1]).save(tmp_path / "one.png")
    with pytest.raises(ImageLoadError, match="1x1 pixels, too small"):
        load_image(tmp_path / "one.png")
    Image.fromarray(RGB).save(tmp_path / "ok.png")
    with pytest.raises(ImageLoadError, match="--max-pixels"):
        load_image(tmp_path / "ok.png", max_pixels=1000)


def test_cli_reports_tiny_and_bomb_images(tmp_path, runner):
    Image.fromarray(RGB[:1, :1]).save(tmp_path / "one.png")
    (tmp_path / "bomb.png").write_bytes(_png_header_only(100_000, 100_000))
    Image.fromarray(RGB).save(tmp_path / "fine.png")
    result = runner.invoke(app, ["detect", str(tmp_path), "--max-pixels", "1000000"])
    assert result.exit_code == 1
    assert "one.png: image is 1x1 pixels" in result.stderr
    assert "bomb.png: image declares 100000x100000" in result.stderr
    assert "fine.png" in result.stdout


def test_jpeg_quality_estimate(tmp_path):
    for quality in (50, 75, 93):
        Image.fromarray(RGB).save(tmp_path / f"q{quality}.jpg", quality=quality)
        assert load_image(tmp_path / f"q{quality}.jpg").jpeg_quality == quality
