"""The pictures of an image's page and figures: read the outputs, resample them for print.

Every panel is prepared at a chosen resolution for the size it is printed at:

* larger images are reduced with area averaging (the page says so: "shown downscaled");
* tiny images are enlarged by an integer factor with pixel replication, so no viewer blurs
  them and each original pixel stays a sharp square (the page says so too);
* the heatmap is resampled as data (probabilities) and coloured by matplotlib with the same
  colormap as its colour bar; the mask is resampled as a binary image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from imlforensic.io.render import grey_to_heatmap

HEATMAP_CMAP = "cividis"  # same colormap as NAME.heatmap-color.png (perceptually uniform, colour-blind safe)
MASK_FLAGGED = 40  # grey level of flagged pixels in the printed mask (dark on white prints cleanly)


@dataclass
class Prepared:
    array: np.ndarray  # uint8 RGB / uint8 grey, or float32 probabilities for heatmaps
    source_size: tuple[int, int]  # (width, height) of the source picture
    shown_size: tuple[int, int]  # (width, height) embedded
    mode: str  # "full" | "downscaled" | "enlarged"
    factor: float  # source / shown (> 1: downscaled), or 1 / replication factor

    def describe(self) -> str:
        """Caption text; sizes use no-break spaces so that "W × H px" never splits across lines."""
        size = f"{self.source_size[0]}\u00a0×\u00a0{self.source_size[1]}\u00a0px"
        if self.mode == "downscaled":
            return f"{size}, shown downscaled to {self.shown_size[0]}\u00a0×\u00a0{self.shown_size[1]}\u00a0px"
        if self.mode == "enlarged":
            return f"{size}, shown enlarged {round(1 / self.factor)}× (pixels replicated)"
        return f"{size}, shown at full resolution"


def read_png(path: Path) -> np.ndarray | None:
    """An output PNG as RGB uint8 (colour) or grey (uint8/uint16); None if unreadable."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)  # np.fromfile + imdecode: non-ASCII paths work
    except OSError:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    if image.ndim == 3:
        if image.shape[2] == 4:
            image = image[:, :, :3]
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if image.dtype != np.uint8:
            image = np.right_shift(image, 8).astype(np.uint8)
    return image


def target_width(box_width_pt: float, ppi: float) -> int:
    return max(1, int(round(box_width_pt / 72.0 * ppi)))


def prepare(image: np.ndarray, box_width_pt: float, ppi: float, kind: str = "photo", slack: float = 1.2) -> Prepared:
    """Resample ``image`` for a box ``box_width_pt`` wide printed at ``ppi`` pixels per inch.

    ``kind``: "photo" (RGB or grey uint8), "heatmap" (float [0,1]) or "mask" (bool/0..255).
    Images up to ``slack`` x the target are embedded as they are.
    """
    h, w = image.shape[:2]
    target = target_width(box_width_pt, ppi)
    source = (w, h)
    if w > target * slack:
        new_w = target
        new_h = max(1, int(round(h * target / w)))
        if kind == "mask":
            small = cv2.resize((np.asarray(image) > 0).astype(np.float32), (new_w, new_h), interpolation=cv2.INTER_AREA)
            array: np.ndarray = small >= 0.5
        else:
            array = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        return Prepared(array, source, (new_w, new_h), "downscaled", w / new_w)
    factor = int(target // max(w, 1))
    if w * 3 <= target and factor >= 2:
        factor = min(factor, 64)
        array = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
        return Prepared(array, source, (w * factor, h * factor), "enlarged", 1.0 / factor)
    return Prepared(image, source, source, "full", 1.0)


def heatmap_values(grey: np.ndarray) -> np.ndarray:
    """NAME.heatmap.png (grey, 0..255 = 0..1) to probabilities."""
    if grey.ndim == 3:
        grey = cv2.cvtColor(grey, cv2.COLOR_RGB2GRAY)
    return grey_to_heatmap(grey)


def mask_for_print(mask: np.ndarray) -> np.ndarray:
    """Mask as grey uint8: flagged pixels dark, the rest white (prints without a slab of black)."""
    flagged = np.asarray(np.asarray(mask) > 0)
    if flagged.ndim == 3:
        flagged = np.asarray(flagged.any(axis=2))
    return np.where(flagged, MASK_FLAGGED, 255).astype(np.uint8)


def to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return image


def resize_for_figure(image: np.ndarray, width_px: int, kind: str = "photo") -> np.ndarray:
    """Resample to exactly ``width_px`` wide for a 300-dpi figure (area down, Lanczos or replication up)."""
    h, w = image.shape[:2]
    height_px = max(1, int(round(h * width_px / w)))
    if (width_px, height_px) == (w, h):
        return image
    if kind == "mask":
        src = (np.asarray(image) > 0).astype(np.uint8) * 255
        return cv2.resize(
            src, (width_px, height_px), interpolation=cv2.INTER_NEAREST if width_px > w else cv2.INTER_AREA
        )
    if width_px < w:
        return cv2.resize(image, (width_px, height_px), interpolation=cv2.INTER_AREA)
    if w * 4 <= width_px:  # tiny: replicate pixels, then settle on the exact size
        k = math.ceil(width_px / w)
        image = np.repeat(np.repeat(image, k, axis=0), k, axis=1)
        return cv2.resize(image, (width_px, height_px), interpolation=cv2.INTER_AREA)
    out = cv2.resize(image, (width_px, height_px), interpolation=cv2.INTER_LANCZOS4)
    if image.dtype == np.float32:
        out = np.clip(out, 0.0, 1.0)
    return out
