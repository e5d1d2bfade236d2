"""Prompts for promptable segmenters, and the analyst's boxes.

From a coarse map (see :mod:`imlforensic.refiners.bayes` for the model): the map thresholded at
the fusion's ``neutral`` value is split into 8-connected components; each component of at least
``min_area`` pixels becomes a :class:`Prompt` with two boxes (around the component, and around
its core: the pixels above the midpoint between the threshold and the component's maximum) and
a point at its maximum. Components are ranked by their evidence mass; at most ``max_prompts``
are kept.

Boxes given by an analyst are ``x0,y0,x1,y1`` in pixels of the image as displayed, ``x1`` and
``y1`` exclusive (a box ``0,0,W,H`` is the whole image).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from imlforensic.maps import top_k

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 (x1, y1 exclusive)


class BoxError(ValueError):
    """A box argument or box file is malformed (one-line message)."""


@dataclass(frozen=True)
class Prompt:
    boxes: tuple[Box, ...]  # one or more boxes for the same area (loose first)
    point: tuple[float, float]  # (x, y) of the map's maximum in the area
    mass: float  # sum of the map above the threshold in the area (ranking)


def parse_box(text: str) -> Box:
    """``"x0,y0,x1,y1"`` to a box; raises :class:`BoxError` with a one-line reason."""
    parts = [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
    if len(parts) != 4:
        raise BoxError(f"box {text!r}: expected four numbers x0,y0,x1,y1")
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError:
        raise BoxError(f"box {text!r}: expected four numbers x0,y0,x1,y1") from None
    return _checked((x0, y0, x1, y1), repr(text))


def _checked(box: Box, what: str) -> Box:
    x0, y0, x1, y1 = box
    if not all(np.isfinite(box)):
        raise BoxError(f"box {what}: coordinates must be finite numbers")
    if x1 <= x0 or y1 <= y0:
        raise BoxError(f"box {what}: needs x0 < x1 and y0 < y1")
    return (x0, y0, x1, y1)


def load_boxes(path: Path | str) -> list[Box]:
    """Boxes from JSON: ``[[x0,y0,x1,y1], ...]``, ``{"boxes": [...]}``, or objects with x0,y0,x1,y1 keys."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BoxError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise BoxError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(data, dict):
        data = data.get("boxes")
    if not isinstance(data, list):
        raise BoxError(f'{path}: expected a list of boxes or {{"boxes": [...]}}')
    boxes = []
    for i, item in enumerate(data):
        if isinstance(item, dict):
            item = [item.get(k) for k in ("x0", "y0", "x1", "y1")]
        if not isinstance(item, (list, tuple)) or len(item) != 4 or not all(isinstance(v, (int, float)) for v in item):
            raise BoxError(f"{path}: box {i}: expected four numbers x0,y0,x1,y1")
        boxes.append(_checked(tuple(float(v) for v in item), f"{i} in {path}"))  # type: ignore[arg-type]
    if not boxes:
        raise BoxError(f"{path}: contains no boxes")
    return boxes


def clip_boxes(boxes: list[Box], shape: tuple[int, int]) -> list[Box]:
    """Boxes clipped to the image; raises :class:`BoxError` for a box that lies outside it."""
    h, w = shape
    clipped = []
    for box in boxes:
        x0, y0, x1, y1 = max(0.0, box[0]), max(0.0, box[1]), min(float(w), box[2]), min(float(h), box[3])
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise BoxError(f"box {','.join(f'{v:g}' for v in box)} lies outside the {w}x{h} image")
        clipped.append((x0, y0, x1, y1))
    return clipped


def box_slices(box: Box) -> tuple[slice, slice]:
    x0, y0, x1, y1 = box
    return slice(int(np.floor(y0)), int(np.ceil(y1))), slice(int(np.floor(x0)), int(np.ceil(x1)))


def box_mask(boxes: list[Box], shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    for box in boxes:
        mask[box_slices(box)] = True
    return mask


def mask_box(mask: np.ndarray) -> Box | None:
    """Bounding box of a mask (exclusive upper corner), or None if empty."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def prompts_from_map(
    coarse: np.ndarray, threshold: float = 0.5, min_area: int | None = None, max_prompts: int = 8
) -> list[Prompt]:
    """Prompts around the connected components of ``coarse >= threshold`` (see the module docstring)."""
    above = (coarse >= threshold).astype(np.uint8)
    if not above.any():
        return []
    min_area = top_k(coarse.size) if min_area is None else min_area
    count, labels, stats, _ = cv2.connectedComponentsWithStats(above, connectivity=8)
    prompts = []
    for label in range(1, count):
        if stats[label, cv2.CC_STAT_AREA] < min_area:
            continue
        x, y, bw, bh = (int(v) for v in stats[label, :4])
        window = coarse[y : y + bh, x : x + bw]
        inside = labels[y : y + bh, x : x + bw] == label
        values = np.where(inside, window, -1.0)
        peak = float(values.max())
        py, px = np.unravel_index(int(np.argmax(values)), values.shape)
        boxes: list[Box] = [(float(x), float(y), float(x + bw), float(y + bh))]
        core = inside & (window >= 0.5 * (threshold + peak))
        core_box = mask_box(core)
        if core_box is not None and core.sum() >= min_area:
            tight = (core_box[0] + x, core_box[1] + y, core_box[2] + x, core_box[3] + y)
            if tight != boxes[0]:
                boxes.append(tight)
        mass = float((window[inside] - threshold).sum())
        prompts.append(Prompt(boxes=tuple(boxes), point=(float(px + x), float(py + y)), mass=mass))
    prompts.sort(key=lambda p: p.mass, reverse=True)
    return prompts[:max_prompts]
