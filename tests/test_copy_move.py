"""The copy-move view: finds a region moved within its own photo, and nothing in untouched ones."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import save

from imlforensic.io.images import load_image
from imlforensic.views.copy_move import (
    EVIDENCE_LOGIT,
    CopyMoveResult,
    CopyPair,
    block_shifts,
    colour_offset,
    evidence_logits,
    find_copies,
    lattice_fraction,
)

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


def test_a_copy_whose_colours_differ_is_set_aside_as_repetition(tmp_path, photos):
    """Two look-alike objects under different light are not a copy (a copy keeps its colours)."""
    rgb = cv2.resize(photos["astronaut"], SIZE, interpolation=cv2.INTER_AREA)
    patch = np.clip(rgb[60:124, 40:104].astype(np.int16) + 20, 0, 255).astype(np.uint8)  # brighter
    rgb[100:164, 190:254] = patch
    result = find_copies(load_image(save(rgb, tmp_path / "lit.jpg", quality=90)).rgb)
    assert result.pairs == [] and result.repetitions == 1 and not result.map.any()


def _row_of_three(gap: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grey texture with one 48 x 48 block repeated three times, ``gap`` px apart (a lattice);
    returns the grey image, the first two blocks (the source of shift ``gap``) and the first block."""
    grey = cv2.cvtColor(_texture(1), cv2.COLOR_RGB2GRAY).astype(np.float32)
    block = cv2.cvtColor(_texture(2), cv2.COLOR_RGB2GRAY).astype(np.float32)[:48, :48]
    first = np.zeros(grey.shape, bool)
    for i in range(3):
        grey[100:148, 20 + i * gap:68 + i * gap] = block
    first[100:148, 20:68] = True
    two = first | np.roll(first, gap, axis=1)
    return grey, two, first


def test_a_row_of_three_is_a_lattice_and_a_single_copy_is_not():
    grey, two, first = _row_of_three()
    step = np.array([[1.0, 0.0, 100.0], [0.0, 1.0, 0.0]])
    assert lattice_fraction(grey, two, step) > 0.9  # block 1 also matches two steps on, block 2 one step back
    single = grey.copy()
    single[100:148, 220:268] = cv2.cvtColor(_texture(3), cv2.COLOR_RGB2GRAY).astype(np.float32)[:48, :48]
    assert lattice_fraction(single, first, step) < 0.05  # blocks 1 and 2 only: a pair, nothing further


def test_colour_offset_reads_the_median_difference_of_the_copy():
    rgb = _texture(4).astype(np.float32)
    source = np.zeros(rgb.shape[:2], bool)
    source[20:80, 30:90] = True
    rgb[20:80, 230:290] = rgb[20:80, 30:90] + np.array([0.0, 12.0, -5.0], np.float32)
    assert colour_offset(rgb, source, np.array([[1.0, 0.0, 200.0], [0.0, 1.0, 0.0]])) == pytest.approx(12.0, abs=0.01)


def _pair_result(shape=(40, 60)) -> CopyMoveResult:
    source, target = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    source[5:15, 5:15] = 1.0
    target[5:15, 40:50] = 1.0
    pair = CopyPair(matrix=np.array([[1.0, 0, 35], [0, 1, 0]]), keypoints=9, area=0.04, source=source, target=target)
    return CopyMoveResult(shape=shape, pairs=[pair])


def test_evidence_is_shared_between_the_two_regions_by_the_other_evidence():
    result = _pair_result()
    source, target = result.pairs[0].source > 0, result.pairs[0].target > 0
    flat = evidence_logits(result, np.zeros(result.map.shape, np.float32))
    assert np.allclose(flat[source | target], EVIDENCE_LOGIT) and not flat[~(source | target)].any()
    other = np.zeros(result.map.shape, np.float32)
    other[target] = 1.0  # the rest of the evidence leans one logit towards the target
    shared = evidence_logits(result, other)
    p = 1 / (1 + np.exp(-1.0))
    assert shared[target] == pytest.approx(EVIDENCE_LOGIT + np.log(2 * p), abs=1e-5)
    assert shared[source] == pytest.approx(EVIDENCE_LOGIT + np.log(2 * (1 - p)), abs=1e-5)
    # the two likelihood ratios average to the calibrated one
    assert (np.exp(shared[target][0]) + np.exp(shared[source][0])) / 2 == pytest.approx(np.exp(EVIDENCE_LOGIT), rel=1e-5)
    other[target] = 50.0  # the source is surely the original: it gets nothing, never a negative weight
    assert not evidence_logits(result, other)[source].any()


def _smooth_photo_like(seed: int = 5, shape=(384, 512)) -> np.ndarray:
    """A smooth, low-contrast picture (local spread of a few grey levels, like a downscaled camera
    photo of foliage), where SIFT finds few distinctive keypoints."""
    noise = np.random.default_rng(seed).random((*shape, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3.0)
    return cv2.normalize(smooth, None, 60, 190, cv2.NORM_MINMAX).astype(np.uint8)


def _plain_copy(rgb: np.ndarray, box=(100, 60, 70, 90), shift=(40, 230)) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` with the box (y, x, h, w) copied by ``shift`` (dy, dx), bit for bit; returns it and the copy's mask."""
    y, x, h, w = box
    dy, dx = shift
    out = rgb.copy()
    out[y + dy : y + dy + h, x + dx : x + dx + w] = rgb[y : y + h, x : x + w]
    mask = np.zeros(rgb.shape[:2], bool)
    mask[y + dy : y + dy + h, x + dx : x + dx + w] = True
    return out, mask


def test_block_matching_finds_a_plain_shift_the_keypoints_miss(tmp_path, monkeypatch):
    """A never-compressed copy is the same pixels: exact block matching finds its shift."""
    import imlforensic.views.copy_move as copy_move

    rgb, mask = _plain_copy(_smooth_photo_like())
    rgb = load_image(save(rgb, tmp_path / "copied.png")).rgb
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    shifts = block_shifts(grey, min_dist=12.0)
    assert len(shifts) == 1
    matrix, centres = shifts[0]
    assert matrix[:, 2] == pytest.approx([230.0, 40.0])
    assert len(centres) == pytest.approx((70 - 7) * (90 - 7), rel=0.1)  # nearly every block of the copy voted
    found = find_copies(rgb)
    assert len(found.pairs) == 1 and np.abs(found.pairs[0].matrix[:, 2]) == pytest.approx([230.0, 40.0], abs=1.0)
    assert (found.map >= 0.5)[mask].mean() > 0.9
    monkeypatch.setattr(copy_move, "BLOCK_MAX_PIXELS", 0)  # keypoints alone
    assert find_copies(rgb).pairs == []


def test_block_matching_sees_nothing_in_an_untouched_or_recompressed_picture(tmp_path):
    rgb = _smooth_photo_like(6)
    assert block_shifts(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), min_dist=12.0) == []
    assert find_copies(rgb).pairs == []
    # JPEG after the copy breaks the exact equality: that copy is the keypoints' to find, not the blocks'
    copied, _ = _plain_copy(rgb)
    jpeg = load_image(save(copied, tmp_path / "copied.jpg", quality=80)).rgb
    assert block_shifts(cv2.cvtColor(jpeg, cv2.COLOR_RGB2GRAY), min_dist=12.0) == []


def test_flat_blocks_and_patterns_do_not_vote():
    """Flat areas (a clipped sky) and a block repeated many times (text, a lattice) are no copy."""
    grey = cv2.cvtColor(_smooth_photo_like(7), cv2.COLOR_RGB2GRAY)
    grey[:120, :200] = 255  # clipped: every block identical and flat
    tile = grey[200:216, 300:316].copy()
    for i in range(6):  # one 16 x 16 motif six times in a row
        grey[300:316, 20 + 40 * i : 36 + 40 * i] = tile
    assert block_shifts(grey, min_dist=12.0) == []
