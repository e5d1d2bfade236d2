"""The learned localizer's input: views of the image stacked as one tensor.

View kinds (``NetworkConfig.views``), all computed on the whole image before any tiling, so
every tile sees the image's own JPEG grid and image-wide statistics:

* ``rgb``: the image, normalised with mean = std = 0.5 (the backbone's ImageNet convention);
* ``sel``: signed error levels ``rgb - jpeg_q(rgb)`` at ``NetworkConfig.qualities`` (WCBnet's
  view), divided by ``SEL_SCALE`` and clipped; only meaningful at full resolution;
* ``ghost``: the classical SEL features of :func:`imlforensic.views.error_level.sel_features`:
  per quality, the robust z-score (against the image's own statistics) of the luminance
  error relative to texture and of the luminance error profile, plus the texture weight;
* ``noise``: the noise-residual anomaly map (robust z);
* ``dq``: aligned double JPEG compression per 8x8 block (:mod:`imlforensic.views.double_jpeg`):
  one plane of evidence for "compressed once / off the grid" and one for "compressed twice",
  from the file's luminance table (all zero for files that are not JPEG).

With ``input_scale`` s > 1 the network reads every view at 1/s of the image's size (RGB and
noise area-averaged; the ghost features are local window statistics computed at that size).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from imlforensic.views.double_jpeg import llr_map
from imlforensic.views.error_level import DEFAULT_QUALITIES, sel_features, signed_error_levels
from imlforensic.views.noise import noise_anomaly

if TYPE_CHECKING:
    from imlforensic.models.network import NetworkConfig

SEL_SCALE = 16.0
SEL_CLIP = 2.0
Z_SCALE = 4.0  # robust z-scores divided by this and clipped to [0, 2.5]
LLR_SCALE = 0.5  # per-pixel double-quantisation LLRs (5-95% about -0.4..0.5) divided by this, clipped to [0, 2.5]
GHOST_QUALITIES = DEFAULT_QUALITIES
VIEW_KINDS = ("rgb", "sel", "ghost", "noise", "dq")


def input_channels(config: NetworkConfig) -> int:
    sizes = {"rgb": 3, "sel": 3 * len(config.qualities), "ghost": 2 * len(GHOST_QUALITIES) + 1, "noise": 1, "dq": 2}
    return sum(sizes[view] for view in config.views)


def view_size(height: int, width: int, scale: int) -> tuple[int, int]:
    return max(1, height // scale), max(1, width // scale)


def _area(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[:2] == size:
        return image
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)


def build_views(rgb: np.ndarray, config: NetworkConfig, luma_table: np.ndarray | None = None) -> np.ndarray:
    """Float32 array (C, H/s, W/s) of the configured views, in ``config.views`` order.

    ``luma_table``: the JPEG luminance quantisation table aligned with ``rgb`` (``dq`` view)."""
    height, width = rgb.shape[:2]
    size = view_size(height, width, config.input_scale)
    planes: list[np.ndarray] = []
    for view in config.views:
        if view == "rgb":
            image = _area(rgb, size).astype(np.float32) / 255.0
            planes.append(((image - 0.5) / 0.5).transpose(2, 0, 1))
        elif view == "sel":
            if config.input_scale != 1:
                raise ValueError("the 'sel' view needs input_scale 1 (signed errors do not survive averaging)")
            sel = signed_error_levels(rgb, config.qualities) / SEL_SCALE  # (Q, H, W, 3)
            planes.append(np.clip(sel, -SEL_CLIP, SEL_CLIP).transpose(0, 3, 1, 2).reshape(-1, *size))
        elif view == "ghost":
            z, weight = sel_features(rgb, GHOST_QUALITIES, factor=config.input_scale, colour=False)
            z = np.clip(z / Z_SCALE, 0.0, 2.5)
            planes += [np.stack([_area(p, size) for p in z]), _area(weight, size)[None]]
        elif view == "noise":
            planes.append(np.clip(_area(noise_anomaly(rgb), size) / Z_SCALE, 0.0, 2.5)[None])
        elif view == "dq":
            llr = _area(llr_map(rgb, luma_table), size) / LLR_SCALE
            planes.append(np.stack([np.clip(-llr, 0.0, 2.5), np.clip(llr, 0.0, 2.5)]))
        else:
            raise ValueError(f"unknown view {view!r}; known: {', '.join(VIEW_KINDS)}")
    return np.ascontiguousarray(np.concatenate(planes, axis=0), dtype=np.float32)


def to_tensor(views: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(views).unsqueeze(0)
