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

import cv2
import numpy as np

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


def _local_mean(values: np.ndarray, window: int, factor: int) -> np.ndarray:
    """Mean over ``window`` x ``window`` neighbourhoods, sampled every ``factor`` pixels.

    Area-averaging by ``factor`` followed by a ``window / factor`` box is (up to edge effects)
    the full-resolution box filter, at 1 / factor^2 of the cost of everything downstream.
    """
    if factor > 1:
        h, w = values.shape
        values = cv2.resize(values, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    size = max(1, window // factor)
    return cv2.blur(values, (size, size), borderType=cv2.BORDER_REFLECT)


def rgb_error_energy(
    rgb: np.ndarray, qualities: tuple[int, ...] = DEFAULT_QUALITIES, window: int = WINDOW, factor: int = 1
) -> np.ndarray:
    """Local mean squared RGB error per quality, shape (Q, H/factor, W/factor) (SEL energy without the stack)."""
    planes = []
    for q in qualities:
        diff = cv2.absdiff(rgb, jpeg_roundtrip(rgb, q)).astype(np.float32)
        squared = cv2.transform(np.square(diff), np.full((1, 3), 1.0 / 3.0, np.float32))
        planes.append(_local_mean(squared, window, factor))
    return np.stack(planes)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """JPEG's Y channel (uint8)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)[..., 0]


def luma_error_energy(
    luma: np.ndarray, qualities: tuple[int, ...] = DEFAULT_QUALITIES, window: int = WINDOW, factor: int = 1
) -> np.ndarray:
    """Local mean squared luminance error per quality, shape (Q, H/factor, W/factor)."""
    planes = []
    for q in qualities:
        diff = cv2.absdiff(luma, jpeg_roundtrip(luma, q)).astype(np.float32)
        planes.append(_local_mean(np.square(diff), window, factor))
    return np.stack(planes)


def texture_energy(luma: np.ndarray, window: int = WINDOW, factor: int = 1) -> np.ndarray:
    """Local high-pass energy of the luminance: how much detail a window has, whatever its history."""
    y = luma.astype(np.float32)
    return _local_mean(np.square(y - cv2.GaussianBlur(y, (0, 0), 1.0)), window, factor)


def _robust_z(features: np.ndarray, trusted: np.ndarray, floor: float, max_samples: int = 40_000) -> np.ndarray:
    """|feature - median| / MAD per feature plane, the statistics taken over ``trusted`` pixels.

    The median and MAD come from a regular subsample of at most ``max_samples`` pixels: as
    precise as the full set for robust statistics, and independent of the image size.
    """
    step = max(1, int(np.sqrt(trusted.size / max_samples)))
    sub_features, sub_trusted = features[:, ::step, ::step], trusted[::step, ::step]
    flat = sub_features.reshape(len(features), -1)
    reference = sub_features[:, sub_trusted] if sub_trusted.sum() > 0.05 * sub_trusted.size else flat
    median = np.median(reference, axis=1)
    spread = np.maximum(1.4826 * np.median(np.abs(reference - median[:, None]), axis=1), floor)
    return np.abs(features - median[:, None, None]) / spread[:, None, None]


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
    luma = luminance(rgb)
    texture = texture_energy(luma, factor=factor)
    log_luma = np.log(luma_error_energy(luma, qualities, factor=factor) + 0.5)
    families = [
        log_luma - np.log(texture + 0.5)[None],  # ghost: error relative to texture
        log_luma - log_luma.mean(axis=0, keepdims=True),  # luminance profile
    ]
    if colour:
        log_rgb = np.log(rgb_error_energy(rgb, qualities, factor=factor) + 1.0)
        families.append(log_rgb - log_rgb.mean(axis=0, keepdims=True))  # colour profile
    z = _robust_z(np.concatenate(families), texture > TEXTURE_FLOOR, floor)
    return z, texture / (texture + TEXTURE_FLOOR)


def sel_anomaly(rgb: np.ndarray, qualities: tuple[int, ...] = DEFAULT_QUALITIES, floor: float = 0.15) -> np.ndarray:
    """Per-pixel SEL anomaly in robust z units (see the module docstring), at the image's size."""
    height, width = rgb.shape[:2]
    z, weight = sel_features(rgb, qualities, floor=floor)
    anomaly = z.max(axis=0) * weight
    if anomaly.shape == (height, width):
        return anomaly
    return cv2.resize(anomaly, (width, height), interpolation=cv2.INTER_LINEAR)
