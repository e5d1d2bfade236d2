"""Shared rules for turning a probability map into an image score and a binary mask.

The image score of every map-based method is the ``k``-th highest value of its map, with
``k`` = ``TOP_FRACTION`` of the pixels (at least 16): the score reaches the threshold exactly
when at least ``k`` pixels do. The mask keeps connected regions of at least ``k`` pixels; if
the score reaches the threshold but the flagged pixels are scattered in smaller pieces, the
largest piece is kept. So an image judged ``authentic`` has an empty mask and one judged
edited has a non-empty mask: the verdict and the overlay never contradict each other.
"""

from __future__ import annotations

import cv2
import numpy as np

from imlforensic.chunked import is_large, order_statistics, row_strips

TOP_FRACTION = 0.0025
"""Share of the image (0.25 %, a 16 x 16 patch of a 384 x 256 photo) that evidence must cover."""


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logits to probabilities (float32), without overflow for large |z|."""
    return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)


def top_k(n_pixels: int, fraction: float = TOP_FRACTION) -> int:
    return min(n_pixels, max(16, int(round(fraction * n_pixels))))


def pool_score(heatmap: np.ndarray, fraction: float = TOP_FRACTION) -> float:
    """Image-level score: the ``k``-th highest value of the map (see the module docstring)."""
    values = np.asarray(heatmap, dtype=np.float32)
    k = top_k(values.size, fraction)
    if values.ndim == 2 and is_large(values.shape):  # the same value, without a sorted copy
        strips = lambda: ((values[top:bottom],) for top, bottom in row_strips(*values.shape))  # noqa: E731
        [found] = order_statistics(strips, 1, lambda n: [n - k])
        assert found is not None
        return found[0]
    flat = values.ravel()
    return float(np.partition(flat, flat.size - k)[flat.size - k])


def binarize(heatmap: np.ndarray, threshold: float, fraction: float = TOP_FRACTION) -> np.ndarray:
    """``heatmap >= threshold`` restricted to regions of at least ``k`` pixels (see above)."""
    mask = (np.asarray(heatmap) >= threshold).astype(np.uint8)
    if not mask.any():
        return mask.astype(bool)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    areas = stats[:, cv2.CC_STAT_AREA].copy()
    areas[0] = 0  # background
    k = top_k(mask.size, fraction)
    keep = areas >= k
    if not keep.any() and int(mask.sum()) >= k:  # enough evidence, but fragmented
        keep[int(np.argmax(areas))] = True
    return keep[labels]
