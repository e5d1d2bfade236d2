"""Quantisation tables, quality, table family and the double-compression estimate, on JPEGs
written by the tests (Pillow writes libjpeg's tables, Photoshop's through PIL.JpegPresets, or
any table given)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imlforensic.forensics.jpeg import analyse_jpeg, ijg_tables, table_family


def _jpeg(path: Path, rgb: np.ndarray, **kwargs) -> Path:
    Image.fromarray(rgb).save(path, "JPEG", **kwargs)
    return path


def _resaved(rgb: np.ndarray, first: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=first)
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_every_libjpeg_quality_is_recognised_exactly() -> None:
    for quality in range(1, 101):
        buffer = io.BytesIO()
        Image.new("RGB", (16, 16), (90, 120, 140)).save(buffer, "JPEG", quality=quality)
        tables = {k: list(v) for k, v in Image.open(buffer).quantization.items()}
        assert table_family(tables).setting == f"quality {quality}", quality


@pytest.mark.parametrize("quality", [30, 75, 92])
def test_libjpeg_tables_are_recognised_with_their_quality(tmp_path: Path, photos, quality: int) -> None:
    result = analyse_jpeg(_jpeg(tmp_path / "a.jpg", photos["coffee"], quality=quality, subsampling=2))
    assert result.is_jpeg and result.error == ""
    assert result.family.family == "IJG/libjpeg" and result.family.setting == f"quality {quality}"
    assert result.quality == quality and result.subsampling == "4:2:0"
    assert sorted(result.tables) == [0, 1] and len(result.tables[0]) == 64
    assert json.loads(json.dumps(result.to_json()))["family"]["matched_by"] == "exact tables"


@pytest.mark.parametrize("preset, setting", [("web_high", "Save for Web 60"), ("maximum", "Save As 10"), ("low", "Save As 3")])
def test_photoshop_tables_are_recognised(tmp_path: Path, photos, preset: str, setting: str) -> None:
    result = analyse_jpeg(_jpeg(tmp_path / "p.jpg", photos["coffee"], quality=preset))
    assert result.family.family == "Photoshop" and result.family.setting == setting
    assert result.family.matched_by == "exact tables" and result.family.nearest_ijg_quality is not None


def test_photoshop_tables_known_only_by_their_sums() -> None:
    # Photoshop CS2 "Save As 12" (sums 95 / 166 in GIMP's list), a table Pillow does not ship
    luma = [1] * 64
    luma[63] = 32
    chroma = [2] * 26 + [3] * 38
    assert (sum(luma), sum(chroma)) == (95, 166)
    family = table_family({0: luma, 1: chroma})
    assert (family.family, family.setting, family.matched_by) == ("Photoshop", "Save As 12", "table sums")


def test_other_tables_are_camera_or_custom(tmp_path: Path, photos) -> None:
    luma = [int(v) for v in np.clip(ijg_tables(85)[0] + np.tile([0, 1], 32), 1, 255)]  # a camera-like variant
    chroma = [int(v) for v in ijg_tables(85)[1]]
    result = analyse_jpeg(_jpeg(tmp_path / "c.jpg", photos["coffee"], qtables=[luma, chroma]))
    assert result.family.family == "camera / custom" and result.family.setting == ""
    assert abs(result.family.nearest_ijg_quality - 85) <= 2 and 0 < result.family.mean_difference_to_ijg < 1


def test_double_compression_is_found_with_the_first_quality(tmp_path: Path, photos) -> None:
    single = analyse_jpeg(_jpeg(tmp_path / "s.jpg", photos["astronaut"], quality=90))
    assert single.double_compression.status == "no evidence"
    assert single.double_compression.frequencies_double <= 1
    double = analyse_jpeg(_jpeg(tmp_path / "d.jpg", _resaved(photos["astronaut"], 70), quality=90))
    dc = double.double_compression
    assert dc.status == "double" and dc.frequencies_double >= 9 and dc.frequencies_tested == 15
    assert abs(dc.primary_quality - 70) <= 3 and "first quality about" in dc.message
    assert {"row", "column", "q2", "q1"} <= set(dc.primary_steps[0])
    assert json.loads(json.dumps(double.to_json()))["double_compression"]["status"] == "double"


def test_other_formats_and_broken_files(tmp_path: Path, photos) -> None:
    png = tmp_path / "a.png"
    Image.fromarray(photos["coffee"][:64, :64]).save(png)
    result = analyse_jpeg(png)
    assert not result.is_jpeg and result.error == "" and result.family is None
    broken = tmp_path / "b.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0garbage")
    bad = analyse_jpeg(broken)
    assert not bad.is_jpeg and bad.error.startswith("JPEG structure not readable")
