"""Read a coarse probability map made by any tool (``refine --heatmap``).

Accepted: a grey PNG/TIFF, 8 bit (0..255 = 0..1) or 16 bit (0..65535 = 0..1), or a ``.npy``
array (bool, integers in 0..255 / 0..65535, or floats in [0, 1]). A map of another size than
the image is resized to it (bilinear) and a note says so. Colour images are refused, since a
colour-mapped heatmap (``NAME.heatmap-color.png``) does not encode probabilities linearly.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from imlforensic.io.messages import one_line
from imlforensic.io.render import grey_to_heatmap


class HeatmapError(Exception):
    """A coarse map file cannot be used (one-line message)."""


def read_heatmap(path: Path, shape: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """A coarse map in [0, 1] at ``shape`` from a grey PNG/TIFF (8 or 16 bit) or a ``.npy`` array.

    A map of another size is resized to the image (bilinear) and a note says so.
    """
    notes: list[str] = []
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise HeatmapError(f"{path}: cannot read as a NumPy array ({one_line(exc)})") from None
        array = np.squeeze(array)
        if array.ndim != 2:
            raise HeatmapError(f"{path}: expected a 2-D map, got shape {array.shape}")
        if array.dtype == bool:
            values = array.astype(np.float32)
        elif np.issubdtype(array.dtype, np.integer):
            if array.min() < 0 or array.max() > 65535:
                raise HeatmapError(f"{path}: integer map values must lie in 0..255 or 0..65535")
            values = grey_to_heatmap(array.astype(np.uint16 if array.max() > 255 else np.uint8))
        elif np.issubdtype(array.dtype, np.floating):
            if not np.isfinite(array).all():
                raise HeatmapError(f"{path}: map contains NaN or infinite values")
            if array.min() < -1e-6 or array.max() > 1 + 1e-6:
                raise HeatmapError(
                    f"{path}: map values must lie in [0, 1] (found {array.min():.3g}..{array.max():.3g})"
                )
            values = np.clip(array, 0.0, 1.0).astype(np.float32)
        else:
            raise HeatmapError(f"{path}: unsupported array type {array.dtype}")
    else:
        if not path.is_file():
            raise HeatmapError(f"{path}: no such file")
        grey = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if grey is None:
            raise HeatmapError(f"{path}: not a readable image (use a grey PNG/TIFF or a .npy array)")
        if grey.ndim == 3:
            channels = grey[:, :, :3]
            if not (
                np.array_equal(channels[:, :, 0], channels[:, :, 1])
                and np.array_equal(channels[:, :, 1], channels[:, :, 2])
            ):
                raise HeatmapError(
                    f"{path}: is a colour image; give the grey map (e.g. NAME.heatmap.png, not heatmap-color)"
                )
            grey = channels[:, :, 0]
        if grey.dtype not in (np.uint8, np.uint16):
            raise HeatmapError(f"{path}: unsupported sample type {grey.dtype} (use 8- or 16-bit grey)")
        values = grey_to_heatmap(grey)
    if values.shape != shape:
        notes.append(
            f"heatmap {values.shape[1]}x{values.shape[0]} resized to the image's {shape[1]}x{shape[0]} (bilinear)"
        )
        values = np.clip(cv2.resize(values, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return values.astype(np.float32), notes
