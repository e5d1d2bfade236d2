"""Noise-residual inconsistency: local noise level compared with the image's dominant level.

A spliced region usually comes from another camera, ISO, scale or processing chain, so its
noise level differs from its surroundings. The residual is a second-order high-pass
(Immerkaer's kernel, unit gain on white noise). Texture and edges also pass that filter, so,
following Tai & Yang (2008), only pixels with a low gradient magnitude (the flatter half of
the image) enter the estimate; each block's noise level is then the robust (median absolute)
residual of its flat pixels (Donoho's MAD estimator). Blocks with too few flat pixels carry
no estimate and are not flagged.

Limits: JPEG compression removes most sensor noise, so on small, recompressed images this
view carries little signal (see docs/BENCHMARKS.md); it is most useful on high-quality photos.
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

from imlforensic.chunked import row_strips

_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32) / 6.0  # unit gain on white noise

FLAT_SHARE = 0.5  # share of pixels (lowest gradient) used to estimate noise


def noise_residual(rgb: np.ndarray) -> np.ndarray:
    """High-pass residual of the luminance, float32, same size as the image."""
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return cv2.filter2D(luma, -1, _KERNEL, borderType=cv2.BORDER_REFLECT)


def _gradient_magnitude(rgb: np.ndarray) -> np.ndarray:
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    magnitude = cv2.magnitude(cv2.Sobel(luma, cv2.CV_32F, 1, 0), cv2.Sobel(luma, cv2.CV_32F, 0, 1))
    return cv2.GaussianBlur(magnitude, (0, 0), 1.0)


def flat_pixels(rgb: np.ndarray, share: float = FLAT_SHARE) -> np.ndarray:
    """Boolean map of the ``share`` of pixels with the lowest (smoothed) gradient magnitude."""
    magnitude = _gradient_magnitude(rgb)
    return magnitude <= np.quantile(magnitude[::2, ::2], share)


def block_noise_level(residual: np.ndarray, flat: np.ndarray, block: int = 16) -> np.ndarray:
    """Robust noise sigma per block from its flat pixels; NaN where a block has too few."""
    h, w = residual.shape
    ph, pw = (-h) % block, (-w) % block
    values = np.pad(np.where(flat, np.abs(residual), np.nan), ((0, ph), (0, pw)), constant_values=np.nan)
    rows, cols = values.shape[0] // block, values.shape[1] // block
    tiles = values.reshape(rows, block, cols, block).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    enough = np.sum(~np.isnan(tiles), axis=2) >= block * block // 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN tiles
        sigma = np.nanmedian(tiles, axis=2) / 0.6745
    return np.where(enough, sigma, np.nan)


def noise_z(sigma: np.ndarray, floor: float = 0.25, min_sigma: float = 0.3) -> np.ndarray | None:
    """Per-block |robust z| of the log noise level against the image's dominant level (None:
    fewer than 4 blocks carry an estimate)."""
    valid = ~np.isnan(sigma)
    if valid.sum() < 4:
        return None
    log_sigma = np.log(np.where(valid, sigma, np.nanmedian(sigma)) + min_sigma).astype(np.float32)
    smoothed = cv2.blur(log_sigma, (3, 3), borderType=cv2.BORDER_REFLECT)  # 3x3 blocks: steadier estimate
    median = float(np.median(smoothed[valid]))
    spread = max(1.4826 * float(np.median(np.abs(smoothed[valid] - median))), floor)
    return (np.abs(smoothed - median) / spread * valid).astype(np.float32)


def noise_anomaly(rgb: np.ndarray, block: int = 16, floor: float = 0.25, min_sigma: float = 0.3) -> np.ndarray:
    """Per-pixel |robust z| of log local noise level against the image's dominant level."""
    z = noise_z(block_noise_level(noise_residual(rgb), flat_pixels(rgb), block), floor, min_sigma)
    h, w = rgb.shape[:2]
    if z is None:
        return np.zeros((h, w), np.float32)
    upsampled = cv2.resize(z, (z.shape[1] * block, z.shape[0] * block), interpolation=cv2.INTER_LINEAR)
    return upsampled[:h, :w]


MARGIN = 16  # rows of context around a strip: the gradient filters' and the residual's reach, on the block grid


def streamed_noise_z(rgb: np.ndarray, block: int = 16, share: float = FLAT_SHARE) -> np.ndarray | None:
    """:func:`noise_z` of the whole picture computed a strip of rows at a time (large pictures).

    The same numbers as the whole-picture computation: the flat-pixel threshold is the quantile
    of the same subsample of gradient magnitudes (a first pass), and each block's level comes
    from its own pixels, with :data:`MARGIN` rows of context for the filters."""
    height, width = rgb.shape[:2]
    strips = list(row_strips(height, width, align=max(block, 2)))

    def padded(top: int, bottom: int) -> tuple[np.ndarray, slice]:
        start = max(0, top - MARGIN)
        return rgb[start : min(height, bottom + MARGIN)], slice(top - start, bottom - start)

    samples = np.empty(((height + 1) // 2) * ((width + 1) // 2), np.float32)
    filled = 0
    for top, bottom in strips:
        crop, core = padded(top, bottom)
        sample = _gradient_magnitude(crop)[core][::2, ::2].ravel()
        samples[filled : filled + sample.size] = sample
        filled += sample.size
    threshold = np.quantile(samples, share, overwrite_input=True)  # the same value, without a copy
    del samples
    sigma = []
    for top, bottom in strips:
        crop, core = padded(top, bottom)
        flat = _gradient_magnitude(crop)[core] <= threshold
        sigma.append(block_noise_level(noise_residual(crop)[core], flat, block))
    return noise_z(np.concatenate(sigma))
