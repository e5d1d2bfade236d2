"""HEIC/HEIF and AVIF files written by the test (pillow-heif's x265 encoder, Pillow's libavif),
decoded through io.images as the pipeline decodes every input: upright, whatever the orientation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imlforensic.forensics.metadata import read_metadata
from imlforensic.io import heif
from imlforensic.io.images import load_image

pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")
SUFFIXES = heif.register()


def _pattern() -> np.ndarray:
    """64 x 48, four coloured quadrants: any rotation or mirror moves a known colour."""
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:24, :32], rgb[:24, 32:] = (220, 30, 30), (30, 200, 40)
    rgb[24:, :32], rgb[24:, 32:] = (30, 40, 220), (230, 220, 40)
    return rgb


PALETTE = np.array([(220, 30, 30), (30, 200, 40), (30, 40, 220), (230, 220, 40)], np.float64)


def _corners(rgb: np.ndarray) -> list[int]:
    """Which of the four colours each corner shows (lossy coding moves the values, not the colour)."""
    h, w = rgb.shape[:2]
    cells = [rgb[: h // 4, : w // 4], rgb[: h // 4, -w // 4:], rgb[-h // 4:, : w // 4], rgb[-h // 4:, -w // 4:]]
    return [int(np.argmin(((PALETTE - c.reshape(-1, 3).mean(0)) ** 2).sum(1))) for c in cells]


def _save(path: Path, fmt: str, orientation: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Apple"
    Image.fromarray(_pattern()).save(path, fmt, exif=exif.tobytes(), quality=92)
    return path


def test_register_lists_the_suffixes() -> None:
    assert set(heif.HEIF_SUFFIXES) <= set(SUFFIXES) and heif.register() is SUFFIXES
    assert heif.problems() == [] or all(":" in p for p in heif.problems())


@pytest.mark.parametrize("orientation", [1, 3, 6, 8, 2])
@pytest.mark.parametrize("fmt, suffix", [("HEIF", ".heic"), ("AVIF", ".avif")])
def test_decoded_pictures_are_upright(tmp_path: Path, fmt: str, suffix: str, orientation: int) -> None:
    if suffix not in SUFFIXES:
        pytest.skip(f"{suffix} not readable here: {heif.problems()}")
    path = _save(tmp_path / f"o{orientation}{suffix}", fmt, orientation)
    # The file stores the rotation / mirror as a transform property, as iPhones do: the decoder must apply it.
    assert (b"irot" in path.read_bytes() or b"imir" in path.read_bytes()) == (orientation != 1)
    reference = load_image(_save_jpeg(tmp_path / f"o{orientation}.jpg", orientation))  # JPEG: the known-good path
    loaded = load_image(path)
    assert loaded.format == fmt
    assert loaded.rgb.shape == reference.rgb.shape == ((64, 48, 3) if orientation in (6, 8) else (48, 64, 3))
    assert _corners(loaded.rgb) == _corners(reference.rgb)
    assert orientation != 1 or _corners(loaded.rgb) == [0, 1, 2, 3]
    assert loaded.exif_orientation == reference.exif_orientation == orientation  # the record says what was applied
    assert any("applied" in c for c in loaded.conversions) == (orientation != 1)
    with Image.open(path) as image:  # what the record can say about the file's own orientation
        declared = heif.decoder_orientation(image) if fmt == "HEIF" else int(image.getexif().get(0x0112, 1))
    assert declared == orientation
    meta = read_metadata(path, thumbnail=False)
    assert (meta.make, meta.error) == ("Apple", "")
    assert meta.orientation == orientation or (orientation == 1 and meta.orientation == 0)  # AVIF drops an upright tag


def _save_jpeg(path: Path, orientation: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_pattern()).save(path, "JPEG", exif=exif.tobytes(), quality=95)
    return path


def test_decoder_orientation_of_other_formats_is_one(tmp_path: Path) -> None:
    path = _save_jpeg(tmp_path / "a.jpg", 6)
    with Image.open(path) as image:
        assert heif.decoder_orientation(image) == 1  # for JPEG, exif_transpose does the work


def test_an_iso_bmff_file_refused_says_which_plug_in_is_missing(tmp_path: Path, monkeypatch) -> None:
    from imlforensic.io import images

    monkeypatch.setattr(images, "allowed_formats", lambda: images.FORMATS)  # as where no plug-in is installed
    monkeypatch.setattr(heif, "problems", lambda: ["HEIC/HEIF: the pillow-heif package is not installed"])
    path = _save(tmp_path / "p.heic", "HEIF", 1)
    with pytest.raises(images.ImageLoadError, match=r"p\.heic: not a supported image format .*pillow-heif"):
        load_image(path)
