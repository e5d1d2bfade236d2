"""WCBnet-style multi-view, multi-resolution network whose activation maps localize edits.

Trained with image-level labels only (paper 1: Wang & Abhayaratne, BMVC-W 2024, building on
WCBnet, MMSP 2023):

* **views**: forensic views of the image - image-relative JPEG-ghost statistics of the signed
  error levels, the noise residual, block-wise double quantisation (see :mod:`.inputs`) - enter
  an ImageNet-initialised EfficientNet-Lite whose stem is widened for the extra channels;
* **hierarchical blocks**: features of several stages (``blocks``, by default strides 4, 8 and 16
  of the network's input) each get a per-location classifier, i.e. a class activation map (CAM)
  by construction; the backbone's later stages are not computed;
* **weighted blocks**: attention over the blocks (softmax weights predicted from the blocks'
  pooled features, WCBnet's weighted convolutional blocks) fuses the upsampled block CAMs into the
  map that training reads: its pooled logit is the image-level prediction the loss supervises;
* **multi-resolution map**: the map that localizes is the product of the block CAMs as experts -
  the mean of their logits - so a pixel is called edited only where every resolution agrees: the
  coarse block says *where* (it sees the most context), the fine blocks say *which pixels*. The
  attention, trained for the image-level decision, settles on the coarsest block (its best
  classifier and bluntest map); read as a product the same network outlines edits better, and
  better than a network trained on the product directly (docs/BENCHMARKS.md, "Design
  iterations");
* **score from the map**: the image logit is the mean of the top ``top_fraction`` of the
  attention map (multiple-instance pooling), so an image is called edited exactly when part of
  its map is high, and authentic images are trained towards a uniformly low map. Each block's
  own pooled logit is supervised too (deep supervision), so every resolution learns to localize.
  (At inference the tool pools its score from the final map, see :mod:`imlforensic.methods.mvcam`.)
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from imlforensic.models.backbones import load_imagenet_weights
from imlforensic.models.inputs import input_channels


def _import_timm() -> Any:
    """timm, without the Hugging Face Hub client it imports for downloads when it can.

    timm imports ``huggingface_hub`` (and with it an HTTP client stack: about 260 modules, 0.5 s of
    CPU at every start-up, docs/benchmarks/scale.md) inside ``try: ... except ImportError``; the
    tool never downloads through timm (its weights are local files), so that import is made to
    fail while timm loads. A process that imported the hub before keeps it.
    """
    if "timm" in sys.modules or "huggingface_hub" in sys.modules:
        return importlib.import_module("timm")
    sys.modules["huggingface_hub"] = None  # type: ignore[assignment]  # "import huggingface_hub" fails
    try:
        return importlib.import_module("timm")
    finally:
        del sys.modules["huggingface_hub"]


timm = _import_timm()


@dataclass
class NetworkConfig:
    backbone: str = "tf_efficientnet_lite0"
    views: tuple[str, ...] = ("rgb", "sel")  # see imlforensic.models.inputs
    input_scale: int = 1  # the network reads the views at 1/input_scale of the image size
    qualities: tuple[int, ...] = (60, 75, 90)  # of the "sel" view
    blocks: tuple[int, ...] = (1, 2, 3)  # timm feature indices: strides 4, 8, 16
    head_width: int = 64
    top_fraction: float = 0.05

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> NetworkConfig:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        for key in ("qualities", "blocks", "views"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


def top_fraction_pool(logit_map: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mean of the highest ``fraction`` of each map: (B, 1, H, W) -> (B,)."""
    flat = logit_map.flatten(1)
    k = max(1, int(round(fraction * flat.shape[1])))
    return flat.topk(k, dim=1).values.mean(dim=1)


def drop_unused_stages(encoder: Any) -> None:
    """timm's feature extractor runs every stage of the backbone; stages after the deepest
    block read here only cost time and weights."""
    blocks = getattr(encoder, "blocks", None)
    deepest = max(info["stage"] for info in encoder.feature_info.get_dicts())
    if isinstance(blocks, nn.Sequential) and deepest < len(blocks):
        encoder.blocks = blocks[:deepest]


def widen_stem(encoder: Any, in_channels: int, keep_rgb_filters: bool) -> None:
    """Replace the 3-channel stem of a timm ``encoder`` by one for the stacked views; the pretrained
    RGB filters are kept for an RGB view in front, the other channels start small and random."""
    stem: nn.Conv2d = encoder.conv_stem
    if in_channels == stem.in_channels and keep_rgb_filters:
        return
    wide = nn.Conv2d(
        in_channels,
        stem.out_channels,
        cast(tuple[int, int], stem.kernel_size),
        cast(tuple[int, int], stem.stride),
        cast(tuple[int, int], stem.padding),
        bias=stem.bias is not None,
    )
    with torch.no_grad():
        nn.init.kaiming_normal_(wide.weight, mode="fan_out")
        wide.weight.mul_(0.1)
        if keep_rgb_filters:
            wide.weight[:, : stem.in_channels] = stem.weight
    encoder.conv_stem = wide


def view_encoder(config: Any, imagenet_init: bool) -> Any:
    """The timm feature extractor of ``config.backbone`` reading ``config.blocks``, its stem widened
    to the stacked views of ``config`` (the offline ImageNet weights loaded first, when asked);
    shared by the networks that read the forensic views (``NetworkConfig``, ``TransCAMConfig``)."""
    encoder = timm.create_model(config.backbone, pretrained=False, features_only=True, out_indices=config.blocks)
    if imagenet_init:
        load_imagenet_weights(encoder, config.backbone)
    drop_unused_stages(encoder)
    widen_stem(encoder, input_channels(config), keep_rgb_filters=config.views[0] == "rgb")
    return encoder


class MultiViewCAMNet(nn.Module):
    encoder: Any  # a timm features_only model (feature_info, conv_stem, blocks: untyped)

    def __init__(self, config: NetworkConfig, imagenet_init: bool = True) -> None:
        super().__init__()
        self.config = config
        self.encoder = view_encoder(config, imagenet_init)
        channels = self.encoder.feature_info.channels()
        self.cam_heads = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c, config.head_width, 1),
                nn.BatchNorm2d(config.head_width),
                nn.ReLU(inplace=True),
                nn.Conv2d(config.head_width, 1, 1),
            )
            for c in channels
        )
        self.block_attention = nn.Sequential(
            nn.Linear(sum(channels), 64), nn.ReLU(inplace=True), nn.Linear(64, len(channels))
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.encoder(x)
        block_maps = [head(f) for head, f in zip(self.cam_heads, features)]
        size = block_maps[0].shape[-2:]
        upsampled = torch.stack(
            [F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in block_maps], dim=1
        )  # (B, blocks, 1, H, W)
        weights = torch.softmax(self.block_attention(torch.cat([f.mean(dim=(2, 3)) for f in features], dim=1)), dim=1)
        attention_map = (weights[:, :, None, None, None] * upsampled).sum(dim=1)
        return {
            "logit_map": upsampled.mean(dim=1),  # the product of the blocks' experts: the localization map
            "attention_map": attention_map,
            "logit": top_fraction_pool(attention_map, self.config.top_fraction),
            "block_logits": torch.stack([top_fraction_pool(m, self.config.top_fraction) for m in block_maps], dim=1),
            "block_weights": weights,
        }


class CAMEnsemble(nn.Module):
    """Networks of one configuration (trained with different seeds) read as one: their logit
    maps are averaged, which lowers the run-to-run spread of a single training run."""

    def __init__(self, members: list[MultiViewCAMNet]) -> None:
        super().__init__()
        if not members or any(m.config != members[0].config for m in members):
            raise ValueError("an ensemble needs one or more networks of the same configuration")
        self.members = nn.ModuleList(members)
        self.config = members[0].config

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = [member(x) for member in self.members]
        mean = {key: torch.stack([o[key] for o in outputs]).mean(dim=0) for key in outputs[0]}
        mean["logit"] = top_fraction_pool(mean["attention_map"], self.config.top_fraction)
        return mean


def weak_supervision_loss(
    outputs: dict[str, torch.Tensor], labels: torch.Tensor, block_weight: float = 0.3
) -> torch.Tensor:
    """Image-level BCE on the attention map's pooled logit plus deep supervision of each block."""
    target = labels.float()
    loss = F.binary_cross_entropy_with_logits(outputs["logit"], target)
    block_logits = outputs["block_logits"]
    block_loss = F.binary_cross_entropy_with_logits(block_logits, target[:, None].expand_as(block_logits))
    return loss + block_weight * block_loss
