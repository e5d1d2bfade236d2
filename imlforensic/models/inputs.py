"""The learned localizer's input: the image and its signed error levels, as one tensor.

Channels: RGB normalised with mean = std = 0.5 (the backbone's ImageNet convention), then for
each quality q the signed error level ``rgb - jpeg_q(rgb)`` (WCBnet's view), divided by
``SEL_SCALE`` and clipped, so typical values lie in [-1, 1]. Built on the whole image before
any tiling, so every tile sees the image's own JPEG grid.
"""

from __future__ import annotations

import numpy as np
import torch

from imlforensic.views.error_level import signed_error_levels

SEL_SCALE = 16.0
SEL_CLIP = 2.0


def input_channels(qualities: tuple[int, ...]) -> int:
    return 3 + 3 * len(qualities)


def build_views(rgb: np.ndarray, qualities: tuple[int, ...]) -> np.ndarray:
    """Float32 array (C, H, W): normalised RGB followed by the scaled SEL of each quality."""
    image = rgb.astype(np.float32) / 255.0
    channels = [((image - 0.5) / 0.5).transpose(2, 0, 1)]
    if qualities:
        sel = signed_error_levels(rgb, qualities) / SEL_SCALE  # (Q, H, W, 3)
        channels.append(np.clip(sel, -SEL_CLIP, SEL_CLIP).transpose(0, 3, 1, 2).reshape(-1, *rgb.shape[:2]))
    return np.ascontiguousarray(np.concatenate(channels, axis=0), dtype=np.float32)


def to_tensor(views: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(views).unsqueeze(0)
