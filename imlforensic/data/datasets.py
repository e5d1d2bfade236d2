"""Read labelled image folders.

Supported layouts (detected in this order):

1. ``labels.csv`` with columns ``image,label,mask,kind`` (paths relative to the folder;
   label ``authentic | manipulated | generated``) - the layout of the project's data.
2. IMDL-BenCo / CASIA style: ``Tp/`` (manipulated) and ``Au/`` (authentic), masks in
   ``Gt/`` with the image stem (optionally suffixed ``_gt``).
3. ``authentic/`` and ``manipulated/`` (and optionally ``generated/``) subfolders, masks in
   ``masks/`` with the image stem.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from imlforensic.pipeline.inputs import IMAGE_SUFFIXES

LABELS = ("authentic", "manipulated", "generated")


class DatasetError(Exception):
    """A dataset folder is missing or has none of the supported layouts."""


@dataclass(frozen=True)
class Sample:
    image: Path
    label: str
    mask: Path | None = None
    kind: str = ""

    @property
    def name(self) -> str:
        return self.image.name

    def load_mask(self, shape: tuple[int, int]) -> np.ndarray | None:
        """Ground-truth mask as bool, resized (nearest) to ``shape`` = (H, W) if it differs."""
        if self.mask is None:
            return None
        grey = cv2.imread(str(self.mask), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise DatasetError(f"{self.mask}: cannot read mask")
        if grey.shape != shape:
            grey = cv2.resize(grey, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        return grey > 127


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _find_mask(folder: Path | None, stem: str) -> Path | None:
    if folder is None or not folder.is_dir():
        return None
    for candidate_stem in (stem, f"{stem}_gt"):
        for suffix in (".png", ".tif", ".bmp", ".jpg"):
            candidate = folder / f"{candidate_stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def load_dataset(root: Path | str) -> list[Sample]:
    """The samples of a dataset folder, in a stable order."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    labels_csv = root / "labels.csv"
    if labels_csv.is_file():
        with open(labels_csv, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        samples = []
        for row in rows:
            label = (row.get("label") or "").strip()
            if label not in LABELS:
                raise DatasetError(f"{labels_csv}: unknown label {label!r} for {row.get('image')}")
            mask = (row.get("mask") or "").strip()
            samples.append(
                Sample(root / row["image"], label, root / mask if mask else None, (row.get("kind") or "").strip())
            )
        return samples
    if (root / "Tp").is_dir() or (root / "Au").is_dir():
        gt = next((root / name for name in ("Gt", "GT", "gt", "masks") if (root / name).is_dir()), None)
        samples = (
            [Sample(p, "manipulated", _find_mask(gt, p.stem)) for p in _images_in(root / "Tp")]
            if (root / "Tp").is_dir()
            else []
        )
        if (root / "Au").is_dir():
            samples += [Sample(p, "authentic") for p in _images_in(root / "Au")]
        return samples
    if any((root / label).is_dir() for label in LABELS):
        masks = root / "masks"
        samples = []
        for label in LABELS:
            if (root / label).is_dir():
                samples += [
                    Sample(p, label, _find_mask(masks, p.stem) if label == "manipulated" else None)
                    for p in _images_in(root / label)
                ]
        return samples
    raise DatasetError(f"{root}: no labels.csv, Tp/ + Au/, or authentic/ + manipulated/ folders found")
