"""Box annotations of a dataset (paper 2): rough boxes an analyst draws around each edit.

File formats read by :func:`read_box_file` (boxes in pixels of the image as displayed,
``x0,y0,x1,y1`` with ``x1``, ``y1`` exclusive, as ``refine --box``):

* **CSV** with a header row and the columns ``image,x0,y0,x1,y1``, one row per box (several
  rows for an image with several edits)::

      image,x0,y0,x1,y1
      images/Tp_0001.jpg,120,40,260,180
      images/Tp_0001.jpg,10,10,60,50

* **JSON**: an object mapping images to lists of boxes,
  ``{"images/Tp_0001.jpg": [[120, 40, 260, 180], [10, 10, 60, 50]]}``, or a list of objects
  ``[{"image": "images/Tp_0001.jpg", "boxes": [[120, 40, 260, 180]]}]``.

``image`` is the path relative to the dataset folder (as in its ``labels.csv``) or the file name
alone when that is unique in the dataset (:func:`match_boxes`).

:func:`boxes_from_mask` turns a ground-truth mask into the boxes of its connected regions: the
stand-in for an analyst's rough boxes on the development sets (only the boxes are used; the
mask's pixels never become a training target).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from imlforensic.data.datasets import Sample
from imlforensic.forensics.regions import mask_regions
from imlforensic.io.atomic import atomic_write_bytes
from imlforensic.refiners.prompts import Box, BoxError, _checked

BOX_COLUMNS = ("image", "x0", "y0", "x1", "y1")
MIN_BOX_FRACTION = 0.001
"""Regions of a mask smaller than this share of the image (0.1 %) get no box: an analyst does not
draw a box around a speck, and SAM cannot segment one."""


def read_box_file(path: Path | str) -> dict[str, list[Box]]:
    """Image key -> boxes from a CSV or JSON box file (module docstring); raises :class:`BoxError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BoxError(f"{path}: cannot read ({exc.strerror or exc})") from None
    boxes: dict[str, list[Box]] = {}
    if path.suffix.lower() == ".json" or text.lstrip()[:1] in ("{", "["):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BoxError(f"{path}: not valid JSON ({exc})") from None
        items: list[tuple[Any, Any]]
        if isinstance(data, dict):
            items = list(data.items())
        else:
            if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
                raise BoxError(
                    f'{path}: expected {{"IMAGE": [[x0,y0,x1,y1], ...]}} or [{{"image": ..., "boxes": ...}}]'
                )
            items = [(d.get("image"), d.get("boxes")) for d in data]
        for image, entries in items:
            if not isinstance(image, str) or not isinstance(entries, list):
                raise BoxError(f"{path}: each image needs a name and a list of boxes")
            for i, entry in enumerate(entries):
                if not isinstance(entry, (list, tuple)) or len(entry) != 4:
                    raise BoxError(f"{path}: {image}: box {i}: expected four numbers x0,y0,x1,y1")
                boxes.setdefault(image, []).append(_box(entry, f"{i} of {image} in {path}"))
    else:
        rows = list(csv.DictReader(text.splitlines()))
        if not rows or any(column not in rows[0] for column in BOX_COLUMNS):
            raise BoxError(f"{path}: expected a CSV header {','.join(BOX_COLUMNS)}")
        for line, row in enumerate(rows, start=2):
            image = (row.get("image") or "").strip()
            if not image:
                raise BoxError(f"{path}: line {line}: no image")
            boxes.setdefault(image, []).append(_box([row[k] for k in BOX_COLUMNS[1:]], f"on line {line} of {path}"))
    if not boxes:
        raise BoxError(f"{path}: contains no boxes")
    return boxes


def _box(values: list | tuple, what: str) -> Box:
    try:
        x0, y0, x1, y1 = (float(v) for v in values)
    except (TypeError, ValueError):
        raise BoxError(f"box {what}: expected four numbers x0,y0,x1,y1") from None
    return _checked((x0, y0, x1, y1), what)


def sample_key(sample: Sample, root: Path) -> str:
    """The image's path relative to its dataset folder (POSIX), the key of box files."""
    try:
        return sample.image.relative_to(root).as_posix()
    except ValueError:
        return sample.image.name


def match_boxes(samples: list[Sample], root: Path, boxes: dict[str, list[Box]]) -> dict[str, list[Box]]:
    """Boxes by :func:`sample_key` of ``samples``; keys of the file may be relative paths or unique
    file names. Raises :class:`BoxError` naming a key that matches no image (or several)."""
    by_key = {sample_key(s, root): s for s in samples}
    by_name: dict[str, list[str]] = {}
    for known, sample in by_key.items():
        by_name.setdefault(sample.image.name, []).append(known)
    matched: dict[str, list[Box]] = {}
    for name, found in boxes.items():
        key = name
        if key not in by_key:
            candidates = by_name.get(Path(name).name, [])
            if len(candidates) > 1:
                raise BoxError(f"boxes for {name!r}: the name matches {len(candidates)} images; give the relative path")
            if not candidates:
                raise BoxError(f"boxes for {name!r}: no such image in the dataset")
            key = candidates[0]
        matched.setdefault(key, []).extend(found)
    return matched


def boxes_from_mask(mask: np.ndarray, margin: float = 0.0, min_fraction: float = MIN_BOX_FRACTION) -> list[Box]:
    """The bounding boxes of a mask's connected regions (8-neighbours) of at least ``min_fraction``
    of the image, each widened by ``margin`` of its own width and height on every side (a
    looser, analyst-like box), clipped to the image; the largest region first."""
    h, w = mask.shape
    regions = mask_regions(mask, max_regions=None, min_area_px=max(1, int(round(min_fraction * h * w))))
    boxes: list[Box] = []
    for region in regions.regions:
        x0, y0, x1, y1 = region.box
        dx, dy = margin * (x1 - x0), margin * (y1 - y0)
        boxes.append(
            (
                float(max(0, int(np.floor(x0 - dx)))),
                float(max(0, int(np.floor(y0 - dy)))),
                float(min(w, int(np.ceil(x1 + dx)))),
                float(min(h, int(np.ceil(y1 + dy)))),
            )
        )
    return boxes


def write_box_csv(path: Path, boxes: dict[str, list[Box]]) -> None:
    """Write boxes in the CSV format of :func:`read_box_file` (atomically)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(BOX_COLUMNS)
    for image, found in boxes.items():
        writer.writerows([image, *(f"{v:g}" for v in box)] for box in found)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def boxes_from_dataset_masks(samples: list[Sample], keys: list[str], margin: float = 0.0) -> dict[str, list[Box]]:
    """Boxes of the ground-truth mask regions of the manipulated ``samples`` (by ``keys``), the
    masks read at their image's displayed size: the analyst's rough boxes of the development sets."""
    from imlforensic.io.images import load_image

    found: dict[str, list[Box]] = {}
    for sample, key in zip(samples, keys):
        if sample.label != "manipulated" or sample.mask is None:
            continue
        mask = sample.load_mask(load_image(sample.image).rgb.shape[:2])
        if mask is not None and (boxes := boxes_from_mask(mask, margin=margin)):
            found[key] = boxes
    return found
