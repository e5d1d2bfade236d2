"""Noise-residual inconsistency: local noise level compared with the image's dominant level.

A spliced region usually comes from another camera, ISO, scale or processing chain, so its
sensor-noise level differs from its surroundings. The residual is a second-order high-pass
(the diagonal wavelet-like kernel below), whose response to smooth content is small; the
local noise level is the robust (median absolute) residual of each block, which ignores the
few strong edge responses a block contains (Donoho's MAD estimator).
"""

from __future__ import annotations

import cv2
import numpy as np

_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32) / 6.0  # unit gain on white noise


def noise_residual(rgb: np.ndarray) -> np.ndarray:
    """High-pass residual of the luminance, float32, same size as the image."""
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.filter2D(luma, -1, _KERNEL, borderType=cv2.BORDER_REFLECT)


def block_noise_level(residual: np.ndarray, block: int = 16) -> np.ndarray:
    """Robust noise sigma per ``block`` x ``block`` tile, shape (ceil(H/b), ceil(W/b))."""
    h, w = residual.shape
    ph, pw = (-h) % block, (-w) % block
    padded = np.pad(np.abs(residual), ((0, ph), (0, pw)), mode="reflect")
    tiles = padded.reshape(padded.shape[0] // block, block, padded.shape[1] // block, block)
    return np.median(tiles.transpose(0, 2, 1, 3).reshape(tiles.shape[0], tiles.shape[2], -1), axis=2) / 0.6745


def noise_anomaly(rgb: np.ndarray, block: int = 16, floor: float = 0.25, min_sigma: float = 0.3) -> np.ndarray:
    """Per-pixel |robust z| of log local noise level against the image's dominant level."""
    residual = noise_residual(rgb)
    sigma = block_noise_level(residual, block)
    log_sigma = np.log(sigma + min_sigma)
    smoothed = cv2.blur(log_sigma, (3, 3), borderType=cv2.BORDER_REFLECT)  # 3x3 blocks: steadier estimate
    median = float(np.median(smoothed))
    spread = max(1.4826 * float(np.median(np.abs(smoothed - median))), floor)
    z = np.abs(smoothed - median) / spread
    h, w = rgb.shape[:2]
    upsampled = cv2.resize(z, (z.shape[1] * block, z.shape[0] * block), interpolation=cv2.INTER_LINEAR)
    return upsampled[:h, :w]
