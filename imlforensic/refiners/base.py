"""The refiner contract (:class:`Refiner`) and what every backend shares: boxes, working resolution.

One contract, used by :class:`imlforensic.pipeline.analysis.Analyzer` and the benchmarks:
``refine(rgb, coarse, boxes=None, params=None) -> posterior`` (H x W float32 in [0, 1]), where
``boxes`` are analyst boxes (``x0,y0,x1,y1``) and ``params`` the fusion's parameters
(:class:`FusionParams`; the pipeline passes ``FusionParams().for_threshold(threshold)``):

* ``coarse`` and ``boxes``: the boxes restrict where the map counts (outside them the map is
  taken as 0, "no evidence of an edit"), and promptable backends prompt with the boxes;
* ``boxes`` only (``coarse=None``): box-to-mask annotation (paper 2): each box becomes a mask.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import cv2
import numpy as np

from imlforensic.refiners.bayes import FusionParams, FusionResult
from imlforensic.refiners.prompts import Box, box_mask, clip_boxes
from imlforensic.registry.cards import ModelCard

BOX_PRIOR = 0.6
"""Coarse value inside an analyst's box when no map is given: an edit is somewhere inside, but a
loose box also holds authentic pixels, so the box alone is only weak evidence per pixel."""


def work_shape(shape: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(H, W) scaled so that the longer side is at most ``max_side`` (never enlarged)."""
    h, w = shape
    scale = min(1.0, max_side / max(h, w))
    return max(1, int(round(h * scale))), max(1, int(round(w * scale)))


def resize_rgb(rgb: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if rgb.shape[:2] == shape:
        return rgb
    return cv2.resize(rgb, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def resize_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if values.shape[:2] == shape:
        return values.astype(np.float32, copy=False)
    return cv2.resize(values.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if labels.shape == shape:
        return labels
    return cv2.resize(labels.astype(np.int32), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def box_prior_map(boxes: list[Box], shape: tuple[int, int]) -> np.ndarray:
    """The coarse map implied by boxes alone: ``BOX_PRIOR`` inside, 0 outside."""
    return np.where(box_mask(boxes, shape), BOX_PRIOR, 0.0).astype(np.float32)


class Refiner(ABC):
    """A segmentation-guided refiner: segmenter regions + coarse map -> posterior map.

    ``card`` is what outputs record (the registry's builder gives it; a refiner made by hand
    gets a card with its backend name).
    """

    name: str = "refiner"
    card: ModelCard

    def __init__(self, params: FusionParams | None = None, card: ModelCard | None = None) -> None:
        self.params = params or FusionParams()
        self.card = card or ModelCard(name=self.name, task="segmenter", classes=())

    def refine(
        self,
        rgb: np.ndarray,
        coarse: np.ndarray | None,
        boxes: list[Box] | None = None,
        params: FusionParams | None = None,
    ) -> np.ndarray:
        """Posterior probability map (H x W float32 in [0, 1]); see the module docstring."""
        return self.refine_full(rgb, coarse, boxes=boxes, params=params).posterior

    def refine_full(
        self,
        rgb: np.ndarray,
        coarse: np.ndarray | None,
        boxes: list[Box] | None = None,
        params: FusionParams | None = None,
    ) -> FusionResult:
        params = params or self.params
        shape = rgb.shape[:2]
        if boxes:
            boxes = clip_boxes(list(boxes), shape)
        if coarse is None:
            if not boxes:
                raise ValueError("refine needs a coarse map, boxes, or both")
            return self.from_boxes(rgb, boxes, params)
        coarse = np.clip(np.asarray(coarse, dtype=np.float32), 0.0, 1.0)
        if coarse.shape != shape:
            raise ValueError(f"coarse map is {coarse.shape[1]}x{coarse.shape[0]}, image is {shape[1]}x{shape[0]}")
        if boxes:
            coarse = np.where(box_mask(boxes, shape), coarse, 0.0).astype(np.float32)
        result = self.fuse(rgb, coarse, boxes, params)
        result.posterior = np.clip(result.posterior, 0.0, 1.0).astype(np.float32)
        return result

    @abstractmethod
    def fuse(self, rgb: np.ndarray, coarse: np.ndarray, boxes: list[Box] | None, params: FusionParams) -> FusionResult:
        """Refine ``coarse`` (already restricted to ``boxes`` when given)."""

    def from_boxes(self, rgb: np.ndarray, boxes: list[Box], params: FusionParams) -> FusionResult:
        """Box-to-mask annotation; the default fuses the box prior with the backend's regions."""
        return self.fuse(rgb, box_prior_map(boxes, rgb.shape[:2]), boxes, params)
