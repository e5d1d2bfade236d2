"""``superpixel`` refiner: SLIC or Felzenszwalb regions as the partition (no weights).

The scale follows the image: superpixels are computed on the image reduced to at most
``max_side`` pixels on its longer side, aiming at regions about ``short side / 20`` across
(so a 384 x 256 photo gets about 600 regions, and the same photo at 4000 px the same
partition), and the labels are brought back to full size before the fusion.
"""

from __future__ import annotations

import numpy as np

from imlforensic.refiners.base import Refiner, resize_labels, resize_rgb, work_shape
from imlforensic.refiners.bayes import FusionParams, FusionResult, fuse_partition
from imlforensic.refiners.prompts import Box
from imlforensic.registry.cards import ModelCard
from imlforensic.registry.registry import BuildContext

ALGORITHMS = ("slic", "felzenszwalb")


def superpixels(
    rgb: np.ndarray, algorithm: str = "slic", region_fraction: float = 1.0 / 20.0, max_side: int = 512
) -> np.ndarray:
    """Integer label map (full size) of superpixels whose side is about ``region_fraction`` of the short side."""
    from skimage.segmentation import felzenszwalb, slic

    shape = rgb.shape[:2]
    small_shape = work_shape(shape, max_side)
    small = resize_rgb(rgb, small_shape)
    side = max(4.0, region_fraction * min(small_shape))
    if algorithm == "slic":
        n_segments = max(16, int(round(small_shape[0] * small_shape[1] / side**2)))
        labels = slic(
            small, n_segments=n_segments, compactness=10.0, sigma=1.0, start_label=0, enforce_connectivity=True
        )
    elif algorithm == "felzenszwalb":
        # scale ~ region area: larger values give larger regions; min_size keeps tiny fragments out.
        labels = felzenszwalb(small, scale=side * 8.0, sigma=0.8, min_size=int(side * side / 4))
    else:
        raise ValueError(f"unknown superpixel algorithm {algorithm!r}; use {' or '.join(ALGORITHMS)}")
    return resize_labels(labels, shape)


class SuperpixelRefiner(Refiner):
    name = "superpixel"

    def __init__(
        self,
        algorithm: str = "slic",
        params: FusionParams | None = None,
        max_side: int = 512,
        card: ModelCard | None = None,
    ) -> None:
        super().__init__(params, card)
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown superpixel algorithm {algorithm!r}; use {' or '.join(ALGORITHMS)}")
        self.algorithm = algorithm
        self.max_side = max_side

    def fuse(self, rgb: np.ndarray, coarse: np.ndarray, boxes: list[Box] | None, params: FusionParams) -> FusionResult:
        labels = superpixels(rgb, self.algorithm, max_side=self.max_side)
        return fuse_partition(labels, coarse, params)


def build(context: BuildContext) -> SuperpixelRefiner:  # registry builder
    return SuperpixelRefiner(algorithm=context.entry.extra.get("algorithm", "slic"), card=context.card)
