"""Training samples: labelled images (image-level labels only) mixed with synthetic edits.

Every sample becomes the network's input views at a fixed size (portrait images are turned a
quarter, which keeps their 8x8 JPEG grid when the sides are multiples of 8). Labelled images
larger than the training size are cropped at a random 8-aligned offset; for a manipulated
image that crop may miss the edit, so datasets of images much larger than the training size
should be trained at a larger ``size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from imlforensic.data.datasets import Sample as LabelledSample
from imlforensic.io.images import ImageLoadError, load_image
from imlforensic.models.inputs import build_views
from imlforensic.models.network import NetworkConfig
from imlforensic.training.synth import EditSynthesizer


@dataclass
class TrainItem:
    views: np.ndarray  # (C, H/s, W/s) float32
    label: int
    mask: np.ndarray  # (H, W) bool; empty when unknown; validation only
    source: str  # "labelled" or the synthetic kind
    cropped: bool = False  # a random crop was taken (the item is not reproducible)


def fit_to_size(rgb: np.ndarray, size: tuple[int, int], rng: np.random.Generator | None) -> tuple[np.ndarray, tuple]:
    """Rotate portrait to landscape, crop (8-aligned) or reflect-pad to ``size``; returns the
    image and the (rotated, y, x, pad, cropped) recipe so a mask can follow the same steps."""
    h, w = size
    rotated = rgb.shape[0] > rgb.shape[1] and h <= w
    if rotated:
        rgb = np.rot90(rgb)
    y = x = 0
    cropped = rgb.shape[0] > h or rgb.shape[1] > w
    if rgb.shape[0] > h:
        y = int(rng.integers(0, (rgb.shape[0] - h) // 8 + 1)) * 8 if rng is not None else ((rgb.shape[0] - h) // 16) * 8
    if rgb.shape[1] > w:
        x = int(rng.integers(0, (rgb.shape[1] - w) // 8 + 1)) * 8 if rng is not None else ((rgb.shape[1] - w) // 16) * 8
    rgb = rgb[y : y + h, x : x + w]
    pad = (h - rgb.shape[0], w - rgb.shape[1])
    if pad[0] or pad[1]:
        rgb = np.pad(rgb, ((0, pad[0]), (0, pad[1]), (0, 0)), mode="reflect")
    return np.ascontiguousarray(rgb), (rotated, y, x, pad, cropped)


def apply_recipe(mask: np.ndarray, size: tuple[int, int], recipe: tuple) -> np.ndarray:
    rotated, y, x, pad, _ = recipe
    if rotated:
        mask = np.rot90(mask)
    mask = mask[y : y + size[0], x : x + size[1]]
    if pad[0] or pad[1]:
        mask = np.pad(mask, ((0, pad[0]), (0, pad[1])))  # padding is not edited
    return np.ascontiguousarray(mask)


def labelled_item(
    sample: LabelledSample,
    size: tuple[int, int],
    network: NetworkConfig,
    rng: np.random.Generator | None,
    with_mask: bool = False,
    flip: bool = False,
) -> TrainItem:
    """A labelled image at the training size (random 8-aligned crop with ``rng``, centred without)."""
    image = load_image(sample.image)
    rgb = image.rgb
    fitted, recipe = fit_to_size(rgb, size, rng)
    table = image.luma_table
    if table is not None and recipe[0]:  # turned a quarter: the table turns with the blocks, and
        # the 8x8 grid survives only if the mirrored axis (the width) is a multiple of 8
        table = table.T.copy() if rgb.shape[1] % 8 == 0 else None
    mask = np.zeros(size, bool)
    labelled_mask = sample.load_mask(rgb.shape[:2]) if with_mask and sample.mask is not None else None
    if labelled_mask is not None:
        mask = apply_recipe(labelled_mask, size, recipe)
    if flip:  # a horizontal flip keeps the 8x8 grid (the width is a multiple of 8)
        fitted, mask = np.ascontiguousarray(fitted[:, ::-1]), np.ascontiguousarray(mask[:, ::-1])
    return TrainItem(
        build_views(fitted, network, table), int(sample.label == "manipulated"), mask, "labelled", recipe[4]
    )


class TrainingStream(IterableDataset):
    """An endless, seeded stream of training items: labelled images and synthetic edits."""

    def __init__(
        self,
        labelled: list[LabelledSample],
        photos: list[Path],
        size: tuple[int, int],
        network: NetworkConfig,
        synthetic_share: float,
        seed: int,
        donors: list[Path] | None = None,
    ) -> None:
        super().__init__()
        self.labelled = [s for s in labelled if s.label in ("authentic", "manipulated")]
        self.synth = EditSynthesizer(photos, size=size, donors=donors) if photos else None
        if not self.labelled and self.synth is None:
            raise ValueError("nothing to train on: give labelled datasets and/or photos to synthesize from")
        self.size = size
        self.network = network
        self.synthetic_share = synthetic_share if self.labelled else 1.0
        if self.synth is None:
            self.synthetic_share = 0.0
        self.seed = seed
        self.start_index = 0  # set when resuming, so a resumed run does not replay the same samples
        self.sharding: tuple[int, int, int] | None = None  # (rank, processes, global batch): see shard()
        # Views of labelled images that need no random crop are computed once per flip.
        self._cache: dict[tuple[int, bool], TrainItem] = {}
        self._cropped: set[int] = set()

    def _labelled(self, index: int, rng: np.random.Generator) -> TrainItem:
        flip = bool(rng.random() < 0.5)
        key = (index, flip)
        if key in self._cache:
            return self._cache[key]
        item = labelled_item(self.labelled[index], self.size, self.network, rng=rng, flip=flip)
        if index not in self._cropped:
            if item.cropped:
                self._cropped.add(index)
            else:
                self._cache[key] = item
        return item

    def shard(self, rank: int, processes: int, batch_size: int) -> None:
        """Yield only process ``rank``'s part of each global batch of ``batch_size`` (DDP).

        Step ``k``'s global batch is the samples ``start + k * batch_size`` onwards, as a single
        process reads them; process ``r`` takes the ``r``-th slice of ``batch_size / processes``
        of it. DataLoader workers take whole local batches in turn (batch ``k`` from worker
        ``k % workers``), the order in which the loader hands them out.
        """
        self.sharding = (rank, processes, batch_size)

    def _indices(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        if self.sharding is None:
            index = self.start_index + worker
            while True:
                yield index
                index += workers
        rank, processes, batch = self.sharding
        local = batch // processes
        step = worker
        while True:
            first = self.start_index + step * batch + rank * local
            yield from range(first, first + local)
            step += workers

    def __iter__(self):
        for index in self._indices():
            rng = np.random.default_rng([self.seed, index])
            try:
                if rng.random() < self.synthetic_share:  # (the share is 0 without photos to synthesise from)
                    assert self.synth is not None
                    sample = self.synth.sample(rng)
                    views = build_views(sample.rgb, self.network, sample.luma_table)
                    yield TrainItem(views, sample.label, sample.mask, sample.kind)
                else:
                    yield self._labelled(int(rng.integers(len(self.labelled))), rng)
            except ImageLoadError:
                continue


def collate(items: list[TrainItem]) -> dict[str, torch.Tensor]:
    return {
        "views": torch.from_numpy(np.stack([i.views for i in items])),
        "label": torch.tensor([i.label for i in items], dtype=torch.long),
    }
