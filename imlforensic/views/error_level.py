"""Signed error levels (SEL): the image minus its JPEG recompression at several qualities.

SEL is the input view of WCBnet (Wang & Abhayaratne, MMSP 2023) and the basis of the
"JPEG ghost" cue (Farid 2009). A region whose compression history differs from the rest of
the image - pasted from a JPEG of another quality, resampled, or never compressed - responds
differently to recompression:

* **ghost**: a region that was once quantised at quality q1 barely changes when recompressed
  at q1, while the rest of the image, with as much texture, does. Measured on luminance
  (a greyscale JPEG uses exactly the luminance table, so the effect is not blurred by colour
  conversion and chroma resampling) as error energy *relative to the local texture energy*
  (the image's own high-pass energy, which does not depend on compression history);
* **profile**: the shape of the error energy across qualities (level removed), on luminance
  and on RGB (which also sees colour processing).

Each feature is compared with its image-wide median in robust z units, at textured pixels
only; the anomaly is the largest deviation over features and qualities (a ghost is a dip at
one or two qualities, which an average would dilute), damped where there is little texture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from imlforensic.chunked import row_strips

DEFAULT_QUALITIES: tuple[int, ...] = (50, 56, 62, 68, 74, 80, 86, 92, 96)
"""Dense enough that a region's earlier quality lies within 3 of a sampled one (the ghost is narrow)."""

WINDOW = 16  # local averaging window (pixels): two JPEG blocks
TEXTURE_FLOOR = 4.0  # high-pass energy below which a window counts as flat (grey levels squared)


def _jpeg_cycle(image: np.ndarray, quality: int, flag: int) -> np.ndarray:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    decoded = cv2.imdecode(buffer, flag) if ok else None
    if decoded is None:
        raise RuntimeError("JPEG round trip failed")
    return np.asarray(decoded)


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode an RGB or greyscale uint8 image as baseline JPEG (4:2:0 for colour) and decode it."""
    if image.ndim == 2:
        return _jpeg_cycle(image, quality, cv2.IMREAD_GRAYSCALE)
    bgr = _jpeg_cycle(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), quality, cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def signed_error_levels(rgb: np.ndarray, qualities: tuple[int, ...] = DEFAULT_QUALITIES) -> np.ndarray:
    """SEL stack, shape (len(qualities), H, W, 3), float32: ``rgb - jpeg_q(rgb)`` in grey levels."""
    image = rgb.astype(np.float32)
    return np.stack([image - jpeg_roundtrip(rgb, q).astype(np.float32) for q in qualities])


def reduction_factor(height: int, width: int) -> int:
    """Pooling factor for the window statistics: 1 for small images, up to 4 from 1024 px up."""
    return int(np.clip(min(height, width) // 256, 1, 4))


def _local_mean(values: np.ndarray, window: int, factor: int, trim: bool = False) -> np.ndarray:
    """Mean over ``window`` x ``window`` neighbourhoods, sampled every ``factor`` pixels.

    Area-averaging by ``factor`` followed by a ``window / factor`` box is (up to edge effects)
    the full-resolution box filter, at 1 / factor^2 of the cost of everything downstream.
    ``trim``: drop the last rows and columns that do not fill a ``factor`` x ``factor`` cell, so
    that every sample is the mean of exactly one cell and a crop (starting on a cell corner) gives
    the same samples as the whole picture (:class:`SelWindows`); without it, a side that is not a
    multiple of ``factor`` spreads the remainder over the row (OpenCV's fractional area resize).
    """
    if factor > 1:
        h, w = values.shape
        if trim and h >= factor and w >= factor:
            h, w = h // factor * factor, w // factor * factor
            values = values[:h, :w]
        values = cv2.resize(values, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    size = max(1, window // factor)
    return cv2.blur(values, (size, size), borderType=cv2.BORDER_REFLECT)


def rgb_error_energy(
    rgb: np.ndarray,
    qualities: tuple[int, ...] = DEFAULT_QUALITIES,
    window: int = WINDOW,
    factor: int = 1,
    trim: bool = False,
) -> np.ndarray:
    """Local mean squared RGB error per quality, shape (Q, H/factor, W/factor) (SEL energy without the stack)."""
    planes = []
    for q in qualities:
        diff = cv2.absdiff(rgb, jpeg_roundtrip(rgb, q)).astype(np.float32)
        squared = cv2.transform(np.square(diff), np.full((1, 3), 1.0 / 3.0, np.float32))
        planes.append(_local_mean(squared, window, factor, trim))
    return np.stack(planes)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """JPEG's Y channel (uint8)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[..., 0]


def luma_error_energy(
    luma: np.ndarray,
    qualities: tuple[int, ...] = DEFAULT_QUALITIES,
    window: int = WINDOW,
    factor: int = 1,
    trim: bool = False,
) -> np.ndarray:
    """Local mean squared luminance error per quality, shape (Q, H/factor, W/factor)."""
    planes = []
    for q in qualities:
        diff = cv2.absdiff(luma, jpeg_roundtrip(luma, q)).astype(np.float32)
        planes.append(_local_mean(np.square(diff), window, factor, trim))
    return np.stack(planes)


def texture_energy(luma: np.ndarray, window: int = WINDOW, factor: int = 1, trim: bool = False) -> np.ndarray:
    """Local high-pass energy of the luminance: how much detail a window has, whatever its history."""
    y = luma.astype(np.float32)
    return _local_mean(np.square(y - cv2.GaussianBlur(y, (0, 0), 1.0)), window, factor, trim)


MAX_SAMPLES = 40_000


def sample_step(size: int, max_samples: int = MAX_SAMPLES) -> int:
    """Stride of the regular subsample the robust statistics are taken from (at most ``max_samples``)."""
    return max(1, int(np.sqrt(size / max_samples)))


def robust_statistics(sub_features: np.ndarray, sub_trusted: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Median and spread (MAD, at least ``floor``) per feature plane of a subsample, over its trusted pixels."""
    flat = sub_features.reshape(len(sub_features), -1)
    reference = sub_features[:, sub_trusted] if sub_trusted.sum() > 0.05 * sub_trusted.size else flat
    median = np.median(reference, axis=1)
    spread = np.maximum(1.4826 * np.median(np.abs(reference - median[:, None]), axis=1), floor)
    return median, spread


def _robust_z(features: np.ndarray, trusted: np.ndarray, floor: float, max_samples: int = MAX_SAMPLES) -> np.ndarray:
    """|feature - median| / MAD per feature plane, the statistics taken over ``trusted`` pixels.

    The median and MAD come from a regular subsample of at most ``max_samples`` pixels: as
    precise as the full set for robust statistics, and independent of the image size.
    """
    step = sample_step(trusted.size, max_samples)
    median, spread = robust_statistics(features[:, ::step, ::step], trusted[::step, ::step], floor)
    return np.abs(features - median[:, None, None]) / spread[:, None, None]


def _feature_planes(
    rgb: np.ndarray, qualities: tuple[int, ...], factor: int, colour: bool, trim: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Every SEL feature plane (ghost, luminance profile, RGB profile when ``colour``) and the
    texture energy, at 1/``factor`` resolution, before they are compared with the image's statistics."""
    luma = luminance(rgb)
    texture = texture_energy(luma, factor=factor, trim=trim)
    log_luma = np.log(luma_error_energy(luma, qualities, factor=factor, trim=trim) + 0.5)
    families = [
        log_luma - np.log(texture + 0.5)[None],  # ghost: error relative to texture
        log_luma - log_luma.mean(axis=0, keepdims=True),  # luminance profile
    ]
    if colour:
        log_rgb = np.log(rgb_error_energy(rgb, qualities, factor=factor, trim=trim) + 1.0)
        families.append(log_rgb - log_rgb.mean(axis=0, keepdims=True))  # colour profile
    return np.concatenate(families), texture


def sel_features(
    rgb: np.ndarray,
    qualities: tuple[int, ...] = DEFAULT_QUALITIES,
    factor: int | None = None,
    colour: bool = True,
    floor: float = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
    """Robust z-scores of every SEL feature and the texture weight, at 1/``factor`` resolution.

    Returns ``(z, weight)``: ``z`` has one plane per feature family and quality (ghost and
    luminance profile, plus the RGB profile when ``colour``), ``weight`` = texture / (texture +
    floor) damps flat areas. ``factor`` defaults to :func:`reduction_factor` of the image size.
    """
    height, width = rgb.shape[:2]
    factor = reduction_factor(height, width) if factor is None else factor
    features, texture = _feature_planes(rgb, qualities, factor, colour)
    z = _robust_z(features, texture > TEXTURE_FLOOR, floor)
    return z, texture / (texture + TEXTURE_FLOOR)


def sel_anomaly(rgb: np.ndarray, qualities: tuple[int, ...] = DEFAULT_QUALITIES, floor: float = 0.15) -> np.ndarray:
    """Per-pixel SEL anomaly in robust z units (see the module docstring), at the image's size."""
    height, width = rgb.shape[:2]
    z, weight = sel_features(rgb, qualities, floor=floor)
    anomaly = z.max(axis=0) * weight
    if anomaly.shape == (height, width):
        return anomaly
    return cv2.resize(anomaly, (width, height), interpolation=cv2.INTER_LINEAR)


MARGIN = 32
"""Pixels of context around a window: the texture filter's and the local mean's reach, and the
chroma upsampling of the JPEG round trip (16-pixel macroblocks), with room to spare."""


@dataclass(frozen=True)
class SelWindows:
    """:func:`sel_features` of a large picture computed a window at a time (issue 16).

    The robust statistics (:func:`robust_statistics`) are those of the whole picture: a first pass
    over row strips gathers the same regular subsample :func:`_robust_z` takes, so a window's
    z-scores are the whole picture's at those pixels. Every window is computed from its crop plus
    :data:`MARGIN` pixels, cut on the JPEG grid, so the recompression, the texture filter and the
    local means see what they see in the whole picture. The one difference from
    :func:`sel_features`: samples are exact ``factor`` x ``factor`` cell means (``trim`` of
    :func:`_local_mean`), where the whole-picture resize spreads a side's remainder (less than
    ``factor`` pixels) over the row, shifting its far end by up to one pixel.
    """

    rgb: np.ndarray
    qualities: tuple[int, ...]
    factor: int
    colour: bool
    median: np.ndarray
    spread: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """(rows, columns) of the reduced grid."""
        return self.rgb.shape[0] // self.factor, self.rgb.shape[1] // self.factor

    @classmethod
    def of(
        cls,
        rgb: np.ndarray,
        qualities: tuple[int, ...] = DEFAULT_QUALITIES,
        factor: int | None = None,
        colour: bool = True,
        floor: float = 0.15,
    ) -> SelWindows:
        factor = reduction_factor(*rgb.shape[:2]) if factor is None else factor
        rows, cols = rgb.shape[0] // factor, rgb.shape[1] // factor
        step = sample_step(rows * cols)
        unfinished = cls(rgb, qualities, factor, colour, np.zeros(0), np.zeros(0))
        features, trusted = [], []
        for top, bottom in row_strips(rows, cols * factor * factor, align=step):
            planes, texture = unfinished.planes(top, bottom, 0, cols)
            features.append(planes[:, ::step, ::step].copy())  # a copy: a view would keep the strip's planes
            trusted.append(texture[::step, ::step] > TEXTURE_FLOOR)
        median, spread = robust_statistics(np.concatenate(features, axis=1), np.concatenate(trusted), floor)
        return cls(rgb, qualities, factor, colour, median, spread)

    def planes(self, top: int, bottom: int, left: int, right: int) -> tuple[np.ndarray, np.ndarray]:
        """Feature planes and texture energy of reduced rows [top, bottom) and columns [left, right)."""
        f = self.factor
        align = math.lcm(16, f)
        height, width = self.rgb.shape[:2]
        y0, x0 = (max(0, v * f - MARGIN) // align * align for v in (top, left))
        y1, x1 = (min(n, -(-(v * f + MARGIN) // align) * align) for v, n in ((bottom, height), (right, width)))
        planes, texture = _feature_planes(self.rgb[y0:y1, x0:x1], self.qualities, f, self.colour, trim=True)
        rows = slice(top - y0 // f, bottom - y0 // f)
        cols = slice(left - x0 // f, right - x0 // f)
        return planes[:, rows, cols], texture[rows, cols]

    def window(self, top: int, bottom: int, left: int, right: int) -> tuple[np.ndarray, np.ndarray]:
        """``(z, weight)`` of :func:`sel_features` for reduced rows [top, bottom), columns [left, right)."""
        planes, texture = self.planes(top, bottom, left, right)
        z = np.abs(planes - self.median[:, None, None]) / self.spread[:, None, None]
        return z, texture / (texture + TEXTURE_FLOOR)

    def anomaly(self) -> np.ndarray:
        """:func:`sel_anomaly` at the reduced size (not yet enlarged to the picture's)."""
        rows, cols = self.size
        out = np.empty((rows, cols), np.float32)
        for top, bottom in row_strips(rows, cols * self.factor * self.factor):
            z, weight = self.window(top, bottom, 0, cols)
            out[top:bottom] = z.max(axis=0) * weight
        return out
