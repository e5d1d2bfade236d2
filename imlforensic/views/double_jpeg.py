"""Aligned double JPEG compression (double quantisation) per 8x8 block.

When a JPEG is edited and saved again, the untouched background has been quantised twice on
the same block grid: first with step q1, then with the file's step q2. Its DCT coefficients,
in units of q2, then only take values that a q1-quantised value can round to, and the
histogram of each frequency shows a periodic pattern of full and (near) empty bins. A region
pasted after resampling, or off the grid, was quantised only once and fills every bin.
This is the classical analysis of Lin et al. (2009) and Bianchi & Piva (IEEE TIFS 2012):

1. the luminance of the decoded image (JFIF weights, minus 128) is cut into the file's 8x8
   blocks and transformed (orthonormal DCT-II); dividing by the file's luminance table q2 and
   rounding gives the stored quantised values x;
2. per low AC frequency, the single-compression distribution p0 is estimated from the same
   image with the grid shifted by 4 pixels (Lukas & Fridrich's calibration, which breaks the
   double-quantisation pattern); for each candidate q1 the double-compression model is
   ``p1(x) ~ n_q1(x) * p0(x)`` with ``n_q1(x)`` the number of q1 bins that round to x;
   the q1 with the highest likelihood is kept if it explains the histogram clearly better;
3. each block's log-likelihood ratio of "double" against "single" sums the per-coefficient
   ratios ``log(n_q1(x) / Z)`` over the kept frequencies.

Positive values: the block shows the background's double compression; negative: it does not
fit it (compressed once, or on another grid). Without double compression in the file (or
without a JPEG table) there is no evidence either way and the map is all zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imlforensic.chunked import row_strips

# The first 20 AC frequencies in zig-zag order, as (row, column).
ZIGZAG_AC = (
    (0, 1),
    (1, 0),
    (2, 0),
    (1, 1),
    (0, 2),
    (0, 3),
    (1, 2),
    (2, 1),
    (3, 0),
    (4, 0),
    (3, 1),
    (2, 2),
    (1, 3),
    (0, 4),
    (0, 5),
    (1, 4),
    (2, 3),
    (3, 2),
    (4, 1),
    (5, 0),
)
MAX_VALUE = 40  # coefficient values beyond +-40 steps share the end bins
MIN_GAIN = 0.01  # per-coefficient log-likelihood gain below which a frequency is not used
EMPTY_BIN = 0.02  # floor of n_q1 for bins double compression cannot produce (JPEG rounding noise)


def _dct_matrix() -> np.ndarray:
    k, n = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    matrix = np.cos(np.pi * (2 * n + 1) * k / 16.0) * np.sqrt(2.0 / 8.0)
    matrix[0] *= np.sqrt(0.5)
    return matrix


_DCT = _dct_matrix()


def block_dct(luma: np.ndarray) -> np.ndarray:
    """DCT of every whole 8x8 block: shape (H/8, W/8, 8, 8)."""
    h, w = (luma.shape[0] // 8) * 8, (luma.shape[1] // 8) * 8
    blocks = luma[:h, :w].reshape(h // 8, 8, w // 8, 8)  # (block row, j, block column, k)
    # D X D^T per block as two large matrix products (a batched einsum of 8 x 8 products is slower)
    rows = np.tensordot(blocks, _DCT, axes=([3], [1]))  # (a, j, b, l)
    return np.tensordot(rows, _DCT, axes=([1], [1])).transpose(0, 1, 3, 2)  # (a, b, i, l)


def jfif_luminance(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 0.299 * r + 0.587 * g + 0.114 * b - 128.0


def _bins(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -MAX_VALUE, MAX_VALUE) + MAX_VALUE).ravel()


@dataclass(frozen=True)
class FrequencyFit:
    """The double-quantisation model fitted to one DCT frequency."""

    frequency: tuple[int, int]  # (row, column) in the 8x8 block
    q2: float  # the file's step
    q1: int | None  # the primary step that explains the histogram best; None: no evidence
    gain: float  # log-likelihood gain of that model over single compression, per coefficient
    ratio: np.ndarray | None  # log(n_q1(x) / Z) by bin, for the per-block ratios


def _fit(frequency: tuple[int, int], q2: float, counts: np.ndarray, shifted_counts: np.ndarray) -> FrequencyFit:
    """The best primary step for one frequency from its histogram and its shifted-grid histogram (step 2)."""
    values = np.arange(-MAX_VALUE, MAX_VALUE + 1)
    histogram = counts.astype(np.float64)
    p0 = shifted_counts + 1.0
    p0 /= p0.sum()
    best_gain, best_ratio, best_q1 = 0.0, None, None
    for q1 in range(1, int(3 * q2) + 3):
        if q1 == q2:
            continue
        # n_q1(x): how many multiples of q1 round to x steps of q2
        n = np.ceil((values + 0.5) * q2 / q1 - 1e-9) - np.ceil((values - 0.5) * q2 / q1 - 1e-9)
        if np.all(n == 1):
            continue
        weights = np.maximum(n, EMPTY_BIN)
        z = float((weights * p0).sum())
        gain = float((histogram * (np.log(weights / z))).sum())  # log p1 - log p0, summed
        if gain > best_gain:
            best_gain, best_ratio, best_q1 = gain, np.log(weights / z), q1
    total = max(float(histogram.sum()), 1.0)
    if best_ratio is None or best_gain < MIN_GAIN * histogram.sum():
        return FrequencyFit(frequency, float(q2), None, best_gain / total, None)
    return FrequencyFit(frequency, float(q2), best_q1, best_gain / total, best_ratio)


def _histogram(x: np.ndarray) -> np.ndarray:
    return np.bincount(_bins(x), minlength=2 * MAX_VALUE + 1)


def frequency_fits(
    rgb: np.ndarray, luma_table: np.ndarray, frequencies: int = 15
) -> tuple[dict[tuple[int, int], np.ndarray], list[FrequencyFit]]:
    """Per low AC frequency, the blocks' coefficients in steps of the file's table (H // 8 x W // 8,
    int32) and the best primary step (see the module docstring, step 2). Frequencies where no primary step
    explains the histogram clearly better than single compression have ``q1`` None."""
    table = np.asarray(luma_table, dtype=np.float64).reshape(8, 8)
    luma = jfif_luminance(rgb)
    coefficients = block_dct(luma)
    shifted = block_dct(luma[4:, 4:])
    fits: list[FrequencyFit] = []
    quantised: dict[tuple[int, int], np.ndarray] = {}
    for i, j in ZIGZAG_AC[:frequencies]:
        q2 = table[i, j]
        x = np.rint(coefficients[:, :, i, j] / q2).astype(np.int64)
        quantised[(i, j)] = x.astype(np.int32)
        shifted_x = np.rint(shifted[:, :, i, j] / q2).astype(np.int64)
        fits.append(_fit((i, j), float(q2), _histogram(x), _histogram(shifted_x)))
    return quantised, fits


def streamed_double_quantisation_llr(
    rgb: np.ndarray, luma_table: np.ndarray, frequencies: int = 15
) -> tuple[np.ndarray, int]:
    """:func:`double_quantisation_llr` computed a strip of block rows at a time (large pictures).

    The same numbers: the histograms are counts summed over strips (the shifted grid's blocks
    counted in the strip where they start), then each block's ratio comes from its own pixels."""
    table = np.asarray(luma_table, dtype=np.float64).reshape(8, 8)
    height, width = rgb.shape[:2]
    strips = list(row_strips(height // 8 * 8, width, align=8))
    chosen = ZIGZAG_AC[:frequencies]
    counts = np.zeros((len(chosen), 2 * MAX_VALUE + 1), np.int64)
    shifted_counts = np.zeros_like(counts)
    for top, bottom in strips:
        luma = jfif_luminance(rgb[top : min(height, bottom + 4)])
        coefficients, shifted = block_dct(luma[: bottom - top]), block_dct(luma[4:, 4:])
        for k, (i, j) in enumerate(chosen):
            counts[k] += _histogram(np.rint(coefficients[:, :, i, j] / table[i, j]).astype(np.int64))
            shifted_counts[k] += _histogram(np.rint(shifted[:, :, i, j] / table[i, j]).astype(np.int64))
    fits = [_fit((i, j), float(table[i, j]), counts[k], shifted_counts[k]) for k, (i, j) in enumerate(chosen)]
    llr = np.zeros((height // 8, width // 8))
    used = [fit for fit in fits if fit.ratio is not None]
    for top, bottom in strips if used else []:
        coefficients = block_dct(jfif_luminance(rgb[top:bottom]))
        part = llr[top // 8 : bottom // 8]
        for fit in used:
            i, j = fit.frequency
            assert fit.ratio is not None
            x = np.rint(coefficients[:, :, i, j] / fit.q2).astype(np.int64).astype(np.int32)
            part += fit.ratio[_bins(x)].reshape(part.shape)
    return llr, len(used)


def double_quantisation_llr(rgb: np.ndarray, luma_table: np.ndarray, frequencies: int = 15) -> tuple[np.ndarray, int]:
    """Per-block log-likelihood ratio (double vs single compression) and the number of
    frequencies that showed double quantisation. Blocks: (H // 8, W // 8)."""
    quantised, fits = frequency_fits(rgb, luma_table, frequencies)
    llr = np.zeros(next(iter(quantised.values())).shape if quantised else (rgb.shape[0] // 8, rgb.shape[1] // 8))
    used = 0
    for fit in fits:
        if fit.ratio is None:
            continue
        used += 1
        llr += fit.ratio[_bins(quantised[fit.frequency])].reshape(llr.shape)
    return llr, used


def smoothed_llr(
    rgb: np.ndarray, luma_table: np.ndarray | None, smooth_blocks: int = 3, streamed: bool = False
) -> np.ndarray | None:
    """Per-block log-likelihood ratio averaged over ``smooth_blocks`` x ``smooth_blocks`` neighbouring
    blocks (float32, H // 8 x W // 8); None without a usable table or without double compression.
    ``streamed``: computed a strip at a time (:func:`streamed_double_quantisation_llr`)."""
    import cv2

    h, w = rgb.shape[:2]
    if luma_table is None or min(h, w) < 16:
        return None
    llr, used = (streamed_double_quantisation_llr if streamed else double_quantisation_llr)(rgb, luma_table)
    if not used:
        return None
    return cv2.blur(llr.astype(np.float32), (smooth_blocks, smooth_blocks), borderType=cv2.BORDER_REFLECT)


def block_pixels(blocks: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """Pixels [top, bottom) x [left, right) of :func:`llr_map` from its per-block values
    (each block's value over its 8 x 8 pixels, the last block's beyond the grid)."""
    rows = np.minimum(np.arange(top, bottom) // 8, blocks.shape[0] - 1)
    cols = np.minimum(np.arange(left, right) // 8, blocks.shape[1] - 1)
    return blocks[np.ix_(rows, cols)]


def llr_map(rgb: np.ndarray, luma_table: np.ndarray | None, smooth_blocks: int = 3) -> np.ndarray:
    """Per-pixel log-likelihood ratio (float32, image size): each block's value, averaged over
    ``smooth_blocks`` x ``smooth_blocks`` neighbouring blocks; zeros without a usable table."""
    h, w = rgb.shape[:2]
    llr = smoothed_llr(rgb, luma_table, smooth_blocks)
    if llr is None:
        return np.zeros((h, w), np.float32)
    pixels = np.repeat(np.repeat(llr, 8, axis=0), 8, axis=1)
    return np.pad(pixels, ((0, h - pixels.shape[0]), (0, w - pixels.shape[1])), mode="edge")
