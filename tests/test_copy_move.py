"""The copy-move view: finds a region moved within its own photo, and nothing in untouched ones."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import save
from imlforensic.io.images import load_image
from imlforensic.views.copy_move import find_copies

SIZE = (384, 256)  # width, height: the size of CASIA v1 pictures


def _copy_moved(photo: np.ndarray, tmp_path, angle: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """The photo with a 64 x 64 block copied 150 px right and 40 px down (optionally rotated
    about its centre), saved as JPEG 90 and read back; returns image, source mask, target mask, shift."""
    rgb = cv2.resize(photo, SIZE, interpolation=cv2.INTER_AREA)
    y, x, dy, dx, side = 60, 40, 40, 150, 64
    patch = rgb[y:y + side, x:x + side].copy()
    target = np.zeros(rgb.shape[:2], bool)
    target[y + dy:y + dy + side, x + dx:x + dx + side] = True
    if angle:
        rotation = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
        patch = cv2.warpAffine(patch, rotation, (side, side), borderMode=cv2.BORDER_REFLECT)
    rgb[y + dy:y + dy + side, x + dx:x + dx + side] = patch
    source = np.zeros_like(target)
    source[y:y + side, x:x + side] = True
    path = save(rgb, tmp_path / "copied.jpg", quality=90)
    return load_image(path).rgb, source, target, (dx, dy)


def _covered(found: np.ndarray, region: np.ndarray) -> float:
    return float(found[region].mean())


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_finds_the_copy_and_its_source(tmp_path, photos, name):
    rgb, source, target, (dx, dy) = _copy_moved(photos[name], tmp_path)
    result = find_copies(rgb)
    found = result.map >= 0.5
    assert len(result.pairs) == 1
    shift = np.abs(result.pairs[0].matrix[:, 2])
    assert shift == pytest.approx([dx, dy], abs=3.0)
    assert result.pairs[0].as_dict()["rotation_deg"] == pytest.approx(0.0, abs=2.0)
    # flat parts of the block (a plain saucer) cannot be matched; the textured ones are, in both copies
    assert _covered(found, target) > 0.35 and _covered(found, source) > 0.35
    assert abs(_covered(found, target) - _covered(found, source)) < 0.05
    both = cv2.dilate((source | target).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    assert found[~both].mean() < 0.01
    assert result.map.shape == rgb.shape[:2] and result.map.dtype == np.float32


def _texture(seed: int = 0) -> np.ndarray:
    """A picture textured everywhere: smoothed colour noise at full contrast."""
    noise = np.random.default_rng(seed).random((SIZE[1], SIZE[0], 3)).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 2.0)
    return cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


@pytest.mark.parametrize("angle", [0.0, 20.0])
def test_covers_a_textured_copy_and_its_source(tmp_path, angle):
    rgb, source, target, _ = _copy_moved(_texture(), tmp_path, angle=angle)
    result = find_copies(rgb)
    found = result.map >= 0.5
    assert len(result.pairs) == 1
    assert abs(result.pairs[0].as_dict()["rotation_deg"]) == pytest.approx(angle, abs=3.0)  # either copy may be the source
    core = cv2.erode(target.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # rotated corners aside
    assert _covered(found, core if angle else target) > 0.85
    assert found[~(cv2.dilate((source | target).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0)].mean() < 0.01


def test_finds_a_rotated_copy_in_a_photo(tmp_path, photos):
    rgb, _, target, _ = _copy_moved(photos["astronaut"], tmp_path, angle=20.0)
    result = find_copies(rgb)
    assert len(result.pairs) == 1
    assert abs(result.pairs[0].as_dict()["rotation_deg"]) == pytest.approx(20.0, abs=3.0)
    assert _covered(result.map >= 0.5, target) > 0.3


@pytest.mark.parametrize("name", ["astronaut", "coffee", "rocket", "chelsea"])
def test_untouched_photos_have_no_copies(tmp_path, photos, name):
    rgb = load_image(save(cv2.resize(photos[name], SIZE, interpolation=cv2.INTER_AREA), tmp_path / "p.jpg", quality=90)).rgb
    result = find_copies(rgb)
    assert result.pairs == [] and not result.map.any()


def test_flat_image_has_no_keypoints_and_no_copies():
    result = find_copies(np.full((64, 80, 3), 128, np.uint8))
    assert result.pairs == [] and result.map.shape == (64, 80) and not result.map.any()
