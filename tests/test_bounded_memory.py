"""Large pictures in bounded memory (issue 16): the strip and tile computations give what the
whole-picture ones give. Run on small pictures, with the size threshold and the strips made small."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from conftest import jpeg_roundtrip, save
from skimage import data

import imlforensic.chunked as chunked
import imlforensic.io.render as render
from imlforensic.chunked import LinearRows, median_of, median_ranks, order_statistics, row_strips
from imlforensic.cli import app
from imlforensic.io.images import load_image
from imlforensic.maps import pool_score
from imlforensic.methods.base import MethodOutput
from imlforensic.methods.classical import ClassicalMethod
from imlforensic.methods.mvcam import LearnedLocalizer
from imlforensic.models.inputs import TiledViews, build_views
from imlforensic.models.network import MultiViewCAMNet, NetworkConfig
from imlforensic.registry.cards import ModelCard
from imlforensic.views.copy_move import CopyMoveResult, CopyPair, evidence_logits, streamed_evidence
from imlforensic.views.double_jpeg import double_quantisation_llr, streamed_double_quantisation_llr
from imlforensic.views.error_level import SelWindows, sel_features
from imlforensic.views.noise import block_noise_level, flat_pixels, noise_residual, noise_z, streamed_noise_z


@pytest.fixture()
def small_strips(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strips of about 4,000 pixels (a few rows), and every picture "large"."""
    monkeypatch.setattr(chunked, "STRIP_PIXELS", 4096)
    monkeypatch.setattr(chunked, "LARGE_PICTURE_PIXELS", 1000)


def photo(height: int, width: int, quality: int = 90) -> np.ndarray:
    return jpeg_roundtrip(cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_AREA), quality).copy()


def test_order_statistics_are_those_of_the_whole_set():
    rng = np.random.default_rng(0)
    groups = [
        rng.normal(size=5001).astype(np.float32),
        np.concatenate([np.zeros(40), -np.zeros(40), np.full(30, -2.5), rng.random(11)]).astype(np.float32),
        np.array([], np.float32),
    ]
    cuts = [np.sort(rng.choice(len(g) + 1, 4)) if len(g) else np.zeros(4, int) for g in groups]

    def chunks():
        for i in range(5):
            yield tuple(
                g[(cut[i - 1] if i else 0) : (cut[i] if i < 4 else len(g))] for g, cut in zip(groups, cuts, strict=True)
            )

    found = order_statistics(chunks, 3, lambda n: [0, n // 3, n - 1])
    for values, result in zip(groups[:2], found[:2], strict=True):
        assert result == [float(np.partition(values, k)[k]) for k in (0, len(values) // 3, len(values) - 1)]
    assert found[2] is None
    [middle] = order_statistics(lambda: ((groups[1][:60],), (groups[1][60:],)), 1, median_ranks)
    assert middle is not None and median_of(middle) == float(np.median(groups[1]))


def test_row_strips_cover_every_row_once_on_the_grid():
    strips = list(row_strips(1001, 97, align=16, pixels=5000))
    assert strips[0][0] == 0 and strips[-1][1] == 1001
    assert all(a[1] == b[0] for a, b in zip(strips, strips[1:])) and all(top % 16 == 0 for top, _ in strips)


def test_linear_rows_are_opencvs_bilinear_resize():
    src = np.random.default_rng(1).random((13, 17)).astype(np.float32)
    rows = LinearRows(src, (100, 150))
    enlarged = np.concatenate([part for _, _, part in rows.strips(align=8)])
    np.testing.assert_allclose(enlarged, cv2.resize(src, (150, 100), interpolation=cv2.INTER_LINEAR), atol=1e-5)
    # with a cell size: the same grid as an exact 4x enlargement, also past its end
    cells = LinearRows(src, (55, 70), (0.25, 0.25)).rows(0, 55)
    np.testing.assert_allclose(cells[:52, :68], cv2.resize(src, (68, 52), interpolation=cv2.INTER_LINEAR), atol=1e-5)


def test_streamed_pool_score_is_the_partition(small_strips):
    heatmap = np.random.default_rng(2).random((120, 90)).astype(np.float32)
    streamed = pool_score(heatmap)
    chunked.LARGE_PICTURE_PIXELS = 10**9
    assert streamed == pool_score(heatmap)


def test_streamed_noise_z_is_the_whole_pictures(small_strips):
    rgb = photo(203, 150, quality=97)
    whole = noise_z(block_noise_level(noise_residual(rgb), flat_pixels(rgb)))
    streamed = streamed_noise_z(rgb)
    assert whole is not None and streamed is not None
    np.testing.assert_allclose(streamed, whole, atol=1e-6)


def test_streamed_double_quantisation_is_the_whole_pictures(small_strips, tmp_path):
    twice = jpeg_roundtrip(photo(205, 163, quality=60), 90)
    image = load_image(save(twice, tmp_path / "twice.jpg", quality=90))
    assert image.luma_table is not None
    whole, used = double_quantisation_llr(image.rgb, image.luma_table)
    streamed, streamed_used = streamed_double_quantisation_llr(image.rgb, image.luma_table)
    assert used > 0 and streamed_used == used
    np.testing.assert_allclose(streamed, whole, atol=1e-9)


@pytest.mark.parametrize(("factor", "colour"), [(2, False), (4, True)])
def test_sel_windows_are_the_whole_pictures_features(small_strips, factor, colour):
    rgb = photo(192, 256)
    z, weight = sel_features(rgb, factor=factor, colour=colour)
    windows = SelWindows.of(rgb, factor=factor, colour=colour)
    for top, bottom, left, right in ((0, 48 // factor * 2, 0, 64 // factor), (20, 48, 30, 64)):
        window_z, window_weight = windows.window(top, bottom, left, right)
        np.testing.assert_allclose(window_z, z[:, top:bottom, left:right], atol=1e-4)
        np.testing.assert_allclose(window_weight, weight[top:bottom, left:right], atol=1e-6)


@pytest.mark.parametrize(
    "config",
    [
        NetworkConfig(views=("ghost", "noise", "dq"), input_scale=2),
        NetworkConfig(views=("rgb", "sel"), qualities=(75,)),
    ],
)
def test_tiled_views_are_the_whole_pictures_views(small_strips, tmp_path, config):
    image = load_image(save(jpeg_roundtrip(photo(192, 256, quality=60), 90), tmp_path / "p.jpg", quality=90))
    whole = build_views(image.rgb, config, image.luma_table)
    tiled = TiledViews(image.rgb, config, image.luma_table)
    assert tiled.size == whole.shape[1:]
    for top, bottom, left, right in ((0, 32, 0, 48), (32, 96, 16, 128)):
        np.testing.assert_allclose(tiled.window(top, bottom, left, right), whole[:, top:bottom, left:right], atol=1e-4)


@pytest.fixture(scope="module")
def tiny_network() -> MultiViewCAMNet:
    torch.manual_seed(0)
    config = NetworkConfig(views=("ghost", "noise", "dq"), input_scale=2, qualities=(75,), head_width=16)
    return MultiViewCAMNet(config, imagenet_init=True).eval()


def _both_paths(method, image, monkeypatch) -> tuple[MethodOutput, MethodOutput]:
    whole = method.analyse(image)
    monkeypatch.setattr(chunked, "STRIP_PIXELS", 1 << 14)
    monkeypatch.setattr(chunked, "LARGE_PICTURE_PIXELS", 1000)
    return whole, method.analyse(image)


def test_network_map_of_a_large_picture_is_the_whole_pictures(tiny_network, monkeypatch, tmp_path):
    image = load_image(save(jpeg_roundtrip(photo(192, 256, quality=60), 90), tmp_path / "p.jpg", quality=90))
    localizer = LearnedLocalizer(tiny_network, "cpu", tile=64, overlap=16, background=-0.5)
    tiled = []
    view_logits = localizer.view_logits
    monkeypatch.setattr(localizer, "view_logits", lambda *a: tiled.append(1) or view_logits(*a))
    whole, large = _both_paths(localizer, image, monkeypatch)
    assert tiled == [1]  # the second analysis took the large-picture path
    np.testing.assert_allclose(large.heatmap, whole.heatmap, atol=1e-4)
    assert large.details == whole.details and abs(large.score - whole.score) < 1e-4


def test_fused_map_of_a_large_picture_is_close_to_the_whole_pictures(tiny_network, monkeypatch, tmp_path):
    rgb = photo(512, 704)  # at least 512 pixels: the sel view computes at half size (reduction_factor)
    rgb[128:320, 192:448] = jpeg_roundtrip(rgb[128:320, 192:448], 40)  # another compression history
    image = load_image(save(rgb, tmp_path / "p.png"))
    localizer = LearnedLocalizer(
        tiny_network, "cpu", tile=128, overlap=32, fuse_sel=True, sel_weight=0.5, sel_cap=3.0, decision=(0.64, 0.7)
    )
    whole, large = _both_paths(localizer, image, monkeypatch)
    # the sel view is smoothed before it is enlarged (reduced_anomaly): close (0.006 today), not equal
    assert np.abs(large.heatmap - whole.heatmap).max() < 0.02
    assert abs(large.score - whole.score) < 0.005


def test_classical_map_of_a_large_picture_is_close_to_the_whole_pictures(monkeypatch, tmp_path):
    rgb = photo(512, 704, quality=95)
    rgb[128:320, 192:448] = jpeg_roundtrip(rgb[128:320, 192:448], 40)
    image = load_image(save(rgb, tmp_path / "p.png"))
    whole, large = _both_paths(
        ClassicalMethod(ModelCard(name="classical", task="detector"), view="classical"), image, monkeypatch
    )
    assert np.abs(large.heatmap - whole.heatmap).max() < 0.02
    assert abs(large.score - whole.score) < 0.005


def test_streamed_copy_move_evidence_is_the_whole_pictures(small_strips):
    shape, working = (120, 160), (30, 40)
    source, target = np.zeros(working, np.float32), np.zeros(working, np.float32)
    source[5:15, 4:14], target[12:22, 22:32] = 1.0, 1.0
    small = CopyPair(np.eye(2, 3), 10, 0.1, source, target)
    enlarged = [cv2.resize(r, shape[::-1], interpolation=cv2.INTER_LINEAR) for r in (source, target)]
    full = CopyPair(np.eye(2, 3), 10, 0.1, *enlarged)
    other = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    other[40:90, 80:130] += 3.0  # the target carries more of the other evidence
    whole = evidence_logits(CopyMoveResult(shape, [full]), other)
    rows = streamed_evidence(CopyMoveResult(shape, [small]), lambda top, bottom: other[top:bottom])
    streamed = np.concatenate([rows(top, bottom) for top, bottom in row_strips(*shape)])
    np.testing.assert_allclose(streamed, whole, atol=1e-4)
    assert whole[60, 100] > whole[40, 30] > 0


def test_method_output_keeps_a_clean_map_and_cleans_a_dirty_one():
    clean = np.random.default_rng(4).random((8, 8)).astype(np.float32)
    assert MethodOutput(heatmap=clean, score=0.5).heatmap is clean
    dirty = clean.copy()
    dirty[0, 0], dirty[1, 1] = np.nan, 1.5
    cleaned = MethodOutput(heatmap=dirty, score=0.5).heatmap
    assert cleaned[0, 0] == 0.0 and cleaned[1, 1] == 1.0


def test_overlay_of_a_large_picture_is_a_preview_that_keeps_small_regions(monkeypatch):
    monkeypatch.setattr(render, "OVERLAY_MAX_PIXELS", 100 * 150)
    rgb = photo(400, 600)
    mask = np.zeros((400, 600), bool)
    mask[100:101, 200:202] = True  # 2 pixels: a sixteenth of a preview pixel
    overlay = render.render_overlay(rgb, mask)
    assert overlay.shape == (100, 150, 3) == (*render.overlay_size(400, 600), 3)
    assert (overlay != render.render_overlay(rgb, np.zeros_like(mask))).any()
    assert render.render_overlay(rgb[:100, :150], mask[:100, :150]).shape == (100, 150, 3)  # small: as it is


def test_localize_records_the_downscaled_overlay(monkeypatch, runner, tmp_path):
    monkeypatch.setattr(render, "OVERLAY_MAX_PIXELS", 100 * 150)
    image = save(photo(200, 300), tmp_path / "p.png")
    result = runner.invoke(app, ["localize", str(image), "--out", str(tmp_path / "o"), "-m", "classical"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "o" / "p.png.json").read_text())
    assert record["downscaled"] == {"overlay": {"width": 150, "height": 100, "scale": 0.5}}
    assert cv2.imread(str(tmp_path / "o" / "p.png.overlay.png")).shape == (100, 150, 3)
    assert cv2.imread(str(tmp_path / "o" / "p.png.heatmap-color.png")).shape == (200, 300, 3)
    monkeypatch.setattr(render, "OVERLAY_MAX_PIXELS", 10**9)
    result = runner.invoke(app, ["localize", str(image), "--out", str(tmp_path / "o2"), "-m", "classical"])
    assert "downscaled" not in json.loads((tmp_path / "o2" / "p.png.json").read_text())
