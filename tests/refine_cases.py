"""A constructed refinement case shared by the refiner tests.

A textured background with a pasted object (sharp boundary, different colour and texture) and a
deliberately blurry coarse map (the object's mask blurred and scaled), as a forensic map of a
splice looks: right place, rounded outline that misses the corners.
"""

from __future__ import annotations

import cv2
import numpy as np


def constructed_case(size: int = 192, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb, ground-truth mask, blurry coarse map) for a pasted L-shaped object."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (size, size, 3)).astype(np.float32), (0, 0), 3)
    yy, xx = np.mgrid[0:size, 0:size]
    background = np.stack([90 + 40 * xx / size, 120 + 30 * yy / size, 80 + 0 * xx], axis=2) + 12 * noise
    gt = np.zeros((size, size), dtype=bool)
    gt[int(0.30 * size):int(0.72 * size), int(0.30 * size):int(0.48 * size)] = True  # vertical bar
    gt[int(0.56 * size):int(0.72 * size), int(0.30 * size):int(0.70 * size)] = True  # foot of the L
    fine = rng.normal(0, 1, (size, size, 3)).astype(np.float32)
    pasted = np.stack([215 + 0 * xx, 70 + 0 * xx, 60 + 0 * xx], axis=2) + 8 * fine
    rgb = np.where(gt[:, :, None], pasted, background)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    coarse = 0.05 + 0.85 * cv2.GaussianBlur(gt.astype(np.float32), (0, 0), 9)
    return rgb, gt, np.clip(coarse, 0, 1).astype(np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
