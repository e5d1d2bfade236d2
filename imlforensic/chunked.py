"""Whole-picture computations done a strip of rows at a time, so that memory stays bounded.

Pictures above :data:`LARGE_PICTURE_PIXELS` are analysed in strips and tiles (issue 16): their
maps are never held as several full-size float copies, only as the one output map. What such
an analysis needs from the whole picture is computed here without materialising it:

* :func:`order_statistics`: exact k-th values (medians, the pooled score) of values produced strip
  by strip, by a two-pass radix selection on the float32 bit patterns (the result is the same
  element ``np.partition`` would find, not an approximation);
* :class:`LinearRows`: rows of a bilinear upsampling (``cv2.resize`` with ``INTER_LINEAR``, to
  within float rounding), so a low-resolution map is enlarged only where a strip needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

LARGE_PICTURE_PIXELS = 2048 * 2048
"""Pictures with more pixels (4.2 megapixels) are analysed in tiles and strips; smaller ones whole,
exactly as before bounded memory existed (their maps are unchanged)."""

STRIP_PIXELS = 1 << 21
"""About how many pixels one strip of a streamed pass holds (2 megapixels: the error-level features
of such a strip take some 150 MB while they are computed)."""


def is_large(shape: Sequence[int]) -> bool:
    """Whether a picture of this (height, width, ...) shape is analysed in strips and tiles."""
    return int(shape[0]) * int(shape[1]) > LARGE_PICTURE_PIXELS


def row_strips(height: int, width: int, align: int = 16, pixels: int | None = None) -> Iterator[tuple[int, int]]:
    """``(top, bottom)`` of consecutive strips covering ``height`` rows, each about ``pixels``
    (default :data:`STRIP_PIXELS`) big; every top is a multiple of ``align``."""
    rows = max(align, (pixels or STRIP_PIXELS) // max(width, 1) // align * align)
    for top in range(0, height, rows):
        yield top, min(height, top + rows)


def _keys(values: np.ndarray) -> np.ndarray:
    """Unsigned integers that sort as the float32 values do."""
    bits = np.ascontiguousarray(values, dtype=np.float32).ravel().view(np.uint32)
    return np.where(bits & np.uint32(0x80000000), ~bits, bits | np.uint32(0x80000000))


def _value(key: int) -> float:
    bits = key & 0x7FFFFFFF if key & 0x80000000 else ~key & 0xFFFFFFFF
    return float(np.array([bits], np.uint32).view(np.float32)[0]) + 0.0  # + 0.0: no negative zero


def order_statistics(
    chunks: Callable[[], Iterable[Sequence[np.ndarray]]], groups: int, ranks: Callable[[int], Sequence[int]]
) -> list[list[float] | None]:
    """Exact order statistics of ``groups`` sets of float32 values that ``chunks()`` yields in parts.

    ``chunks()`` is called twice and must yield the same parts both times: tuples of one array per
    group (the values of that group in one strip). ``ranks(n)`` gives the 0-based ranks wanted
    in a group of ``n`` values. Returns, per group, the values at those ranks in ascending order
    (None for an empty group). Two passes of 16-bit histograms: the first finds the high half of
    each wanted value's bit pattern, the second the low half among the values sharing it.
    """
    high = np.zeros((groups, 1 << 16), np.int64)
    for parts in chunks():
        for group, values in enumerate(parts):
            if values.size:
                high[group] += np.bincount(_keys(values) >> 16, minlength=1 << 16)
    wanted: list[list[tuple[int, int]] | None] = []
    for group in range(groups):
        count = int(high[group].sum())
        if count == 0:
            wanted.append(None)
            continue
        cumulative = np.cumsum(high[group])
        entries = []
        for rank in ranks(count):
            bucket = int(np.searchsorted(cumulative, rank, side="right"))
            entries.append((bucket, rank - (int(cumulative[bucket - 1]) if bucket else 0)))
        wanted.append(entries)
    low = {(g, b): np.zeros(1 << 16, np.int64) for g, targets in enumerate(wanted) if targets for b, _ in targets}
    for parts in chunks():
        for group, values in enumerate(parts):
            targets = wanted[group]
            if not targets or not values.size:
                continue
            keys = _keys(values)
            top = keys >> 16
            for bucket in {b for b, _ in targets}:
                low[(group, bucket)] += np.bincount(keys[top == bucket] & 0xFFFF, minlength=1 << 16)
    result: list[list[float] | None] = []
    for group, chosen in enumerate(wanted):
        if chosen is None:
            result.append(None)
            continue
        found = []
        for bucket, rank in chosen:
            position = int(np.searchsorted(np.cumsum(low[(group, bucket)]), rank, side="right"))
            found.append(_value((bucket << 16) | position))
        result.append(found)
    return result


def median_ranks(count: int) -> list[int]:
    """The one or two middle ranks of ``count`` values (as ``np.median`` averages them)."""
    return [(count - 1) // 2, count // 2]


def median_of(values: list[float]) -> float:
    """``np.median`` of float32 data from its two middle values (their float32 mean)."""
    return float((np.float32(values[0]) + np.float32(values[-1])) / np.float32(2.0))


def _taps(target: int, source: int, scale: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per target index: the two source indices and the weight of the second (OpenCV's rule)."""
    scale = 1.0 / (target / source) if scale is None else scale
    position = ((np.arange(target, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    first = np.floor(position).astype(np.int64)
    weight = (position - first).astype(np.float32)
    weight[first < 0] = 0.0
    first = np.maximum(first, 0)
    weight[first >= source - 1] = 0.0
    first = np.minimum(first, source - 1)
    return first, np.minimum(first + 1, source - 1), weight


class LinearRows:
    """Rows of ``src`` enlarged bilinearly to ``shape`` (height, width), one strip at a time.

    With ``scale`` None the result equals ``cv2.resize(src, (width, height), interpolation=
    cv2.INTER_LINEAR)`` to within float rounding; ``scale`` = (sy, sx) maps target pixel ``i`` to
    source position ``(i + 0.5) * s - 0.5`` instead (``1 / f`` for a grid of ``f`` x ``f`` cells).
    """

    def __init__(self, src: np.ndarray, shape: tuple[int, int], scale: tuple[float, float] | None = None) -> None:
        self.src = np.asarray(src, dtype=np.float32)
        self.shape = (int(shape[0]), int(shape[1]))
        h, w = self.src.shape
        self._rows = _taps(self.shape[0], h, None if scale is None else scale[0])
        self._cols = _taps(self.shape[1], w, None if scale is None else scale[1])

    def rows(self, top: int, bottom: int) -> np.ndarray:
        first, second, weight = (a[top:bottom] for a in self._rows)
        lo, hi = int(first.min()), int(second.max()) + 1
        c0, c1, cw = self._cols
        band = self.src[lo:hi]
        across = band[:, c0] * (1.0 - cw) + band[:, c1] * cw
        w = weight[:, None]
        return across[first - lo] * (1.0 - w) + across[second - lo] * w

    def strips(self, align: int = 16) -> Iterator[tuple[int, int, np.ndarray]]:
        """``(top, bottom, rows)`` over the whole target."""
        for top, bottom in row_strips(*self.shape, align=align):
            yield top, bottom, self.rows(top, bottom)
