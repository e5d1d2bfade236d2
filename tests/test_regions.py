"""Connected regions of masks made in the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imlforensic.forensics.regions import mask_regions, regions_from_files


def _case() -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros((100, 200), bool)
    mask[10:30, 20:60] = True  # 800 px
    mask[50:90, 120:180] = True  # 2400 px, the largest
    mask[70:72, 10:12] = True  # 4 px
    mask[40, 100] = mask[41, 101] = True  # diagonal neighbours: one region of 2 px (8-connectivity)
    heat = np.full(mask.shape, 0.1, np.float32)
    heat[10:30, 20:60] = 0.6
    heat[15, 33] = 0.95  # the small region's peak
    heat[50:90, 120:180] = 0.7
    heat[60, 150] = 0.8
    return mask, heat


def test_regions_are_listed_largest_first_with_box_area_and_probabilities() -> None:
    mask, heat = _case()
    result = mask_regions(mask, heat)
    assert result.count == 4 and (result.width, result.height) == (200, 100)
    assert result.flagged_fraction == pytest.approx((800 + 2400 + 4 + 2) / 20000)
    first, second = result.regions[:2]
    assert (first.number, first.box, first.area_px) == (1, (120, 50, 180, 90), 2400)
    assert first.area_fraction == pytest.approx(0.12)
    assert first.peak_probability == pytest.approx(0.8) and first.peak_xy == (150, 60)
    assert first.mean_probability == pytest.approx((2399 * 0.7 + 0.8) / 2400, rel=1e-5)
    assert first.centroid_xy == pytest.approx((149.5, 69.5))
    assert (second.box, second.area_px, second.peak_xy) == ((20, 10, 60, 30), 800, (33, 15))
    assert second.peak_probability == pytest.approx(0.95)
    assert [r.area_px for r in result.regions] == [2400, 800, 4, 2]
    assert result.regions[3].box == (100, 40, 102, 42)
    assert result.largest is first


def test_json_limits_and_uint8_inputs() -> None:
    mask, heat = _case()
    grey = np.round(heat * 255).astype(np.uint8)
    result = mask_regions(mask.astype(np.uint8) * 255, grey, max_regions=2, min_area_px=3)
    assert result.count == 3 and len(result.regions) == 2  # the 2-px region is ignored, the 4-px one not listed
    record = json.loads(json.dumps(result.to_json()))
    assert record["count"] == 3 and record["listed"] == 2
    assert record["regions"][0]["box"] == [120, 50, 180, 90] and record["regions"][0]["peak_probability"] == pytest.approx(204 / 255, abs=1e-4)
    no_heat = mask_regions(mask)
    assert no_heat.regions[0].mean_probability is None and no_heat.regions[0].to_json()["peak_xy"] is None


def test_empty_mask_and_shape_errors() -> None:
    empty = mask_regions(np.zeros((20, 30), bool), np.zeros((20, 30)))
    assert empty.count == 0 and empty.regions == [] and empty.largest is None and empty.flagged_fraction == 0
    with pytest.raises(ValueError):
        mask_regions(np.zeros((20, 30), bool), np.zeros((30, 20)))


def test_regions_from_written_pngs(tmp_path: Path) -> None:
    mask, heat = _case()
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "a.mask.png")
    Image.fromarray(np.round(heat * 255).astype(np.uint8)).save(tmp_path / "a.heatmap.png")
    result = regions_from_files(tmp_path / "a.mask.png", tmp_path / "a.heatmap.png")
    assert result.count == 4 and result.regions[0].box == (120, 50, 180, 90)
    assert result.regions[1].peak_probability == pytest.approx(242 / 255, abs=1e-6)
