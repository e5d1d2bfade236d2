"""The flagged regions of a mask: connected components with their box, area and probabilities.

A region is a set of mask pixels connected through their 8 neighbours (OpenCV's connected
components). For each: the bounding box in pixels of the picture as displayed (``x0, y0`` the
top-left pixel, ``x1, y1`` one past the bottom-right, so ``x1 - x0`` is the width), the area in
pixels and as a fraction of the picture, and, from the heatmap, the mean and the peak probability
over the region's pixels with where the peak is. Regions are listed largest first (ties: top-to-bottom,
then left-to-right), numbered from 1 in that order, so "region 1" is
the same region in the record, on the overlay and in the viewer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Region:
    number: int  # 1 = the largest
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (x1, y1 exclusive), displayed pixels
    area_px: int
    area_fraction: float  # of the whole picture
    mean_probability: float | None  # over the region's pixels; None without a heatmap
    peak_probability: float | None
    peak_xy: tuple[int, int] | None  # where the peak is (x, y)
    centroid_xy: tuple[float, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "box": list(self.box),
            "area_px": self.area_px,
            "area_fraction": round(self.area_fraction, 6),
            "mean_probability": None if self.mean_probability is None else round(self.mean_probability, 4),
            "peak_probability": None if self.peak_probability is None else round(self.peak_probability, 4),
            "peak_xy": None if self.peak_xy is None else list(self.peak_xy),
            "centroid_xy": [round(self.centroid_xy[0], 1), round(self.centroid_xy[1], 1)],
        }


@dataclass(frozen=True)
class Regions:
    """All regions of a mask; ``regions`` holds the largest ``max_regions`` of them."""

    count: int  # every connected region, listed or not
    flagged_fraction: float  # mask pixels / all pixels
    width: int
    height: int
    regions: list[Region] = field(default_factory=list)

    @property
    def largest(self) -> Region | None:
        return self.regions[0] if self.regions else None

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "listed": len(self.regions),
            "flagged_fraction": round(self.flagged_fraction, 6),
            "width": self.width,
            "height": self.height,
            "regions": [r.to_json() for r in self.regions],
        }


def mask_regions(
    mask: np.ndarray, heatmap: np.ndarray | None = None, max_regions: int | None = 100, min_area_px: int = 1
) -> Regions:
    """Connected regions of ``mask`` (H x W, bool or 0/255), with probabilities from ``heatmap``
    (H x W, floats in [0, 1], or uint8 read as value / 255) when given.

    ``max_regions``: list at most that many (the largest); ``count`` still counts all of them.
    ``min_area_px``: ignore regions smaller than that (they are not counted either).
    """
    import cv2

    binary = np.asarray(mask)
    if binary.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {binary.shape}")
    binary = (binary > (127 if binary.dtype == np.uint8 and binary.max(initial=0) > 1 else 0)).astype(np.uint8)
    height, width = binary.shape
    heat = None
    if heatmap is not None:
        heat = np.asarray(heatmap)
        if heat.shape != binary.shape:
            raise ValueError(f"heatmap shape {heat.shape} differs from mask shape {binary.shape}")
        # no float copy of a float32 map (400 MB at 100 megapixels): only the listed regions are read
        heat = heat.astype(np.float32) / 255.0 if heat.dtype == np.uint8 else np.asarray(heat, dtype=np.float32)
    total = max(width * height, 1)
    if not binary.any():  # nothing to label (an int32 label image would be 4 bytes per pixel)
        return Regions(count=0, flagged_fraction=0.0, width=width, height=height)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
    found = []
    for label in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[label])
        if area < min_area_px:
            continue
        found.append((label, (x, y, x + w, y + h), area))
    flagged = float(binary.sum()) / total
    found.sort(key=lambda f: (-f[2], f[1][1], f[1][0]))
    listed = found if max_regions is None else found[:max_regions]
    regions = []
    for i, (label, box, area) in enumerate(listed):
        peak = mean = peak_xy = None
        if heat is not None:  # only the listed regions: a noisy mask can have thousands
            x0, y0, x1, y1 = box
            inside = labels[y0:y1, x0:x1] == label
            values = heat[y0:y1, x0:x1]
            mean = float(values[inside].mean())
            masked = np.where(inside, values, -np.inf)
            flat = int(np.argmax(masked))
            peak = float(masked.flat[flat])
            peak_xy = (x0 + flat % (x1 - x0), y0 + flat // (x1 - x0))
        regions.append(
            Region(
                number=i + 1,
                box=box,
                area_px=area,
                area_fraction=area / total,
                mean_probability=mean,
                peak_probability=peak,
                peak_xy=peak_xy,
                centroid_xy=(float(centroids[label][0]), float(centroids[label][1])),
            )
        )
    return Regions(count=len(found), flagged_fraction=flagged, width=width, height=height, regions=regions)


def regions_from_files(
    mask_png: Path | str, heatmap_png: Path | str | None = None, max_regions: int | None = 100
) -> Regions:
    """Regions from a written ``NAME.mask.png`` and (optionally) the grey ``NAME.heatmap.png``
    (pixel value / 255 = probability), e.g. for results made before records listed regions."""
    from PIL import Image

    with Image.open(mask_png) as image:
        mask = np.asarray(image.convert("L"))
    heat = None
    if heatmap_png is not None:
        with Image.open(heatmap_png) as image:
            heat = np.asarray(image.convert("L"))
    return mask_regions(mask, heat, max_regions=max_regions)
