"""Metadata fields and the EXIF thumbnail check, on files written by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from exif_helpers import exif_block, jpeg_bytes
from PIL import Image

from imlforensic.forensics.metadata import read_metadata


def _thumb(rgb: np.ndarray, size: tuple[int, int] = (160, 120)) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def _save(path: Path, rgb: np.ndarray, exif: bytes) -> Path:
    Image.fromarray(rgb).save(path, "JPEG", quality=92, exif=exif)
    return path


def test_selected_fields_and_gps_presence(tmp_path: Path, photos) -> None:
    exif = exif_block({0x010F: "Canon", 0x0110: "Canon EOS R5", 0x0131: "Adobe Photoshop 25.0 (Windows)",
                       0x0132: "2024:05:06 07:08:09", 0x0112: 1},
                      exif_ifd={0x9003: "2024:05:01 10:00:00", 0xA434: "RF24-105mm F4 L IS USM"}, gps=True)
    meta = read_metadata(_save(tmp_path / "a.jpg", photos["coffee"], exif))
    assert meta.error == "" and meta.has_exif
    assert (meta.make, meta.model, meta.camera) == ("Canon", "Canon EOS R5", "Canon EOS R5")
    assert meta.lens == "RF24-105mm F4 L IS USM"
    assert meta.software == ["Adobe Photoshop 25.0 (Windows)"] and meta.editors == ["Photoshop"]
    assert (meta.date_original, meta.date_modified) == ("2024:05:01 10:00:00", "2024:05:06 07:08:09")
    assert meta.gps is True and meta.orientation == 1 and meta.thumbnail is None
    record = json.loads(json.dumps(meta.to_json()))
    assert record["gps"] is True and record["camera"] == "Canon EOS R5" and record["thumbnail"] is None
    assert any("Photoshop" in note for note in record["notes"])

    plain = read_metadata(_save(tmp_path / "b.jpg", photos["coffee"], exif_block({0x010F: "Apple", 0x0110: "iPhone 15"})))
    assert plain.gps is False and plain.camera == "Apple iPhone 15" and plain.editors == []


def test_a_thumbnail_of_the_same_picture_matches(tmp_path: Path, photos) -> None:
    rgb = photos["rocket"][:384, :512]  # 4:3, like the 160 x 120 thumbnail
    meta = read_metadata(_save(tmp_path / "same.jpg", rgb, exif_block({0x010F: "Nikon"}, thumbnail=jpeg_bytes(_thumb(rgb)))))
    check = meta.thumbnail
    assert check is not None and check.status == "matches", check
    assert (check.thumbnail_width, check.thumbnail_height, check.picture_width, check.picture_height) == (160, 120, 512, 384)
    assert check.correlation > 0.97 and check.mean_difference < 6
    assert not any("thumbnail" in note for note in meta.notes)


def test_a_letterboxed_thumbnail_of_a_wide_picture_matches(tmp_path: Path, photos) -> None:
    rgb = photos["coffee"][:, :]  # 600 x 400 (3:2)
    small = _thumb(rgb, (160, 107))
    letterbox = np.zeros((120, 160, 3), np.uint8)
    letterbox[6:113] = small
    check = read_metadata(_save(tmp_path / "wide.jpg", rgb, exif_block(thumbnail=jpeg_bytes(letterbox)))).thumbnail
    assert check is not None and check.status == "matches", check
    assert check.compared_height < 115 and check.aspect_difference < 0.04


def test_a_thumbnail_with_other_content_differs(tmp_path: Path, photos) -> None:
    rgb = photos["astronaut"][64:448]  # 512 x 384
    other = photos["chelsea"][:225, :300]
    meta = read_metadata(_save(tmp_path / "other.jpg", rgb, exif_block(thumbnail=jpeg_bytes(_thumb(other)))))
    check = meta.thumbnail
    assert check is not None and check.status == "differs" and check.correlation < 0.9, check
    assert "other content" in check.message and check.message in meta.notes
    assert json.loads(json.dumps(meta.to_json()))["thumbnail"]["status"] == "differs"


def test_a_local_edit_after_the_thumbnail_differs(tmp_path: Path, photos) -> None:
    original = photos["rocket"][:384, :512]
    edited = original.copy()
    edited[96:224, 300:428] = photos["coffee"][100:228, 100:228]  # an object pasted after the thumbnail
    check = read_metadata(_save(tmp_path / "edit.jpg", edited, exif_block(thumbnail=jpeg_bytes(_thumb(original))))).thumbnail
    assert check is not None and check.status == "differs", check
    assert check.block_difference > 25


def test_a_crop_after_the_thumbnail_differs(tmp_path: Path, photos) -> None:
    original = photos["rocket"][:384, :512]
    cropped = original[:, 96:]  # 416 x 384
    check = read_metadata(_save(tmp_path / "crop.jpg", cropped, exif_block(thumbnail=jpeg_bytes(_thumb(original))))).thumbnail
    assert check is not None and check.status == "differs" and "aspect" in check.message, check


def test_unreadable_files_and_bad_thumbnails_never_raise(tmp_path: Path, photos) -> None:
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    assert read_metadata(junk).error.startswith("metadata not readable")
    broken = jpeg_bytes(_thumb(photos["coffee"]))[:200]
    check = read_metadata(_save(tmp_path / "t.jpg", photos["coffee"], exif_block(thumbnail=broken))).thumbnail
    assert check is not None and check.status == "unreadable" and check.message
