"""``deeplab`` refiner: torchvision DeepLabV3 semantic regions as the partition.

The network (MobileNetV3-Large or ResNet-50 backbone, torchvision's COCO-with-VOC-labels
weights) labels every pixel with one of 21 classes, at the resolution torchvision evaluates it
(shorter side 520 px, ImageNet normalisation). The partition is the connected components of
the label map. The background class of a VOC model is "everything that is not one of 20
object classes", so it carries no boundary information: background components larger than
``max_region`` of the image are subdivided into superpixels (:mod:`.superpixel`), otherwise an
edit in the background would be averaged away with the whole scene.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from imlforensic.refiners.base import Refiner, resize_labels, resize_rgb
from imlforensic.refiners.bayes import FusionParams, FusionResult, fuse_partition
from imlforensic.refiners.prompts import Box
from imlforensic.refiners.superpixel import superpixels
from imlforensic.registry.cards import ModelCard
from imlforensic.registry.registry import BuildContext

BACKBONES = ("mobilenet_v3_large", "resnet50")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_network(backbone: str, weights_path: Path | str | None, device: str | None) -> Any:
    """torchvision's DeepLabV3 with the checkpoint at ``weights_path`` (21 classes, eval mode)."""
    import torch
    from torchvision.models import segmentation

    if backbone not in BACKBONES:
        raise ValueError(f"unknown DeepLabV3 backbone {backbone!r}; known: {', '.join(BACKBONES)}")
    factory = getattr(segmentation, f"deeplabv3_{backbone}")
    net = factory(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    if weights_path is not None:
        state = torch.load(str(weights_path), map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
    net.eval()
    if device:
        net.to(device)
    return net


def semantic_labels(
    net: Callable[[Any], Any], rgb: np.ndarray, short_side: int = 520, device: str | None = None
) -> np.ndarray:
    """Per-pixel class index (full size) from a torchvision segmentation network."""
    import torch

    h, w = rgb.shape[:2]
    scale = short_side / min(h, w)
    small_shape = (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
    small = (
        resize_rgb(rgb, small_shape)
        if scale < 1
        else cv2.resize(rgb, (small_shape[1], small_shape[0]), interpolation=cv2.INTER_LINEAR)
    )
    x = torch.from_numpy(small).permute(2, 0, 1).float().div(255.0)
    x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    with torch.inference_mode():
        out = net(x[None].to(device) if device else x[None])["out"][0]
    labels = out.argmax(0).cpu().numpy().astype(np.int32)
    return resize_labels(labels, (h, w))


def semantic_partition(rgb: np.ndarray, classes: np.ndarray, max_region: float = 0.05) -> np.ndarray:
    """Connected components of the class map; large background components split into superpixels."""
    partition = np.zeros(classes.shape, dtype=np.int64)
    next_label = 0
    fine: np.ndarray | None = None
    limit = max_region * classes.size
    for cls in np.unique(classes):
        count, components = cv2.connectedComponents((classes == cls).astype(np.uint8), connectivity=8)
        for comp in range(1, count):
            region = components == comp
            if cls == 0 and region.sum() > limit:
                if fine is None:
                    fine = superpixels(rgb)
                sub = fine[region]
                _, dense = np.unique(sub, return_inverse=True)
                partition[region] = next_label + dense
                next_label += int(dense.max()) + 1
            else:
                partition[region] = next_label
                next_label += 1
    return partition


class DeepLabRefiner(Refiner):
    name = "deeplab"

    def __init__(
        self,
        net: Any,
        device: str | None = None,
        params: FusionParams | None = None,
        max_region: float = 0.05,
        card: ModelCard | None = None,
    ) -> None:
        super().__init__(params, card)
        self.net = net
        self.device = device
        self.max_region = max_region

    def fuse(self, rgb: np.ndarray, coarse: np.ndarray, boxes: list[Box] | None, params: FusionParams) -> FusionResult:
        classes = semantic_labels(self.net, rgb, device=self.device)
        result = fuse_partition(semantic_partition(rgb, classes, self.max_region), coarse, params)
        result.details["classes"] = sorted(int(c) for c in np.unique(classes))
        return result


def build(context: BuildContext) -> DeepLabRefiner:  # registry builder
    network = build_network(context.entry.extra["backbone"], context.weights_path, context.device)
    return DeepLabRefiner(network, device=context.device, card=context.card)
