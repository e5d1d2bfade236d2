"""Folding batch normalisation into the preceding convolution, for inference.

In eval mode a batch norm is a fixed per-channel affine map, so ``bn(conv(x))`` equals one
convolution with rescaled weights and a bias (``torch.nn.utils.fusion.fuse_conv_bn_eval``).
On a 2-core CPU the separate normalisation passes over every feature map cost about a quarter
of the network's time. Only pairs where the batch norm directly follows the convolution in the
module's forward are folded, named per module type below; anything else is left as it is
(correct, only not faster). The fused model is for inference only: training needs the
separate statistics.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

# (convolution, batch norm) attribute pairs that follow each other directly in the forward
# of timm's EfficientNet modules (timm.models.efficientnet and _efficientnet_blocks).
_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "EfficientNetFeatures": (("conv_stem", "bn1"),),
    "DepthwiseSeparableConv": (("conv_s2d", "bn_s2d"), ("conv_dw", "bn1"), ("conv_pw", "bn2")),
    "InvertedResidual": (("conv_s2d", "bn_s2d"), ("conv_pw", "bn1"), ("conv_dw", "bn2"), ("conv_pwl", "bn3")),
}


def _after_norm(norm: nn.BatchNorm2d) -> nn.Module:
    """What a batch norm still does once folded: timm's BatchNormAct2d also applies its dropout
    and activation after normalising; a plain batch norm does nothing more."""
    rest = [getattr(norm, name) for name in ("drop", "act") if isinstance(getattr(norm, name, None), nn.Module)]
    return nn.Sequential(*rest) if rest else nn.Identity()


def _fold(parent: nn.Module, conv_name: str, norm_name: str) -> bool:
    conv, norm = getattr(parent, conv_name, None), getattr(parent, norm_name, None)
    if not isinstance(conv, nn.Conv2d) or not isinstance(norm, nn.BatchNorm2d) or not norm.track_running_stats:
        return False
    setattr(parent, conv_name, fuse_conv_bn_eval(conv, norm))
    setattr(parent, norm_name, _after_norm(norm))
    return True


@torch.no_grad()
def fold_batch_norms(model: nn.Module) -> int:
    """Fold every known (convolution, batch norm) pair of ``model`` in place; returns how many.

    Covers timm's EfficientNet blocks and ``nn.Sequential`` runs of a convolution followed by a
    batch norm (the class activation heads). The model must be in eval mode."""
    if model.training:
        raise ValueError("batch norms can only be folded into an eval-mode model")
    folded = 0
    for module in list(model.modules()):
        for conv_name, norm_name in _PAIRS.get(type(module).__name__, ()):
            folded += _fold(module, conv_name, norm_name)
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for conv_name, norm_name in zip(names, names[1:]):
                folded += _fold(module, conv_name, norm_name)
    return folded
