"""A fixed train / validation split of any dataset, by file name.

``PATH@train`` and ``PATH@val`` select the two parts of the dataset at PATH: an image belongs to
the training part when the first 8 hex digits of ``sha1(file name)`` are below ``TRAIN_SHARE``
of their range. The rule depends on nothing but the name, so the same images are held out on
every machine, in every run, for training and for every reported number.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from imlforensic.data.datasets import DatasetError, Sample, load_dataset

TRAIN_SHARE = 0.5
PARTS = ("train", "val")


def in_training_part(name: str, share: float = TRAIN_SHARE) -> bool:
    return int(hashlib.sha1(name.encode("utf-8")).hexdigest()[:8], 16) < share * 16**8


def parse_spec(spec: str) -> tuple[Path, str | None]:
    """``"data/casia1@val"`` -> (Path("data/casia1"), "val"); no suffix -> (path, None)."""
    base, sep, part = spec.rpartition("@")
    if sep and part in PARTS and base:
        return Path(base), part
    return Path(spec), None


def load_split(spec: str) -> list[Sample]:
    """The samples named by a dataset spec (whole dataset, or its ``@train`` / ``@val`` part)."""
    root, part = parse_spec(spec)
    if not root.is_dir():
        raise DatasetError(f"{spec}: not a folder")
    samples = load_dataset(root)
    if part is None:
        return samples
    return [s for s in samples if in_training_part(s.name) == (part == "train")]
