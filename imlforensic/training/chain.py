"""The normalisation chain every training picture of every class goes through, and the views the
frozen feature extractor reads (the same at training and at inference).

Why: the generated pictures available for training are mostly 512 px WebP, the real photos JPEGs
of every size. A classifier trained on the files as they are learns the container, the size and
the quality (a format-only classifier separates the raw files with AUC 1.00, see
docs/BENCHMARKS.md, "Three-way classifier"). Every training picture is therefore cropped, resized and re-encoded
by one random draw of this chain, seeded by the picture's key, so that size, container and
quality say nothing about the class (the format-only classifier is at chance after it; the check is
``benchmarks/threeway.py confound`` and ``tests/test_threeway.py``).

Chain (:func:`normalise`), chain version :data:`CHAIN_VERSION`:

1. an output short side ``S ~ U_int(272, 512)`` and an aspect ``w/h ~ logU(3/4, 4/3)`` are
   drawn first, independently of the picture;
2. **native** (p = 0.5, when the picture is large enough for an ``S`` x ``S * aspect`` window):
   that window is cut at the picture's own resolution, at a uniform position. Inference reads
   pictures at their native resolution, so the model has to see unresampled pixels of every
   class; **resampled** (otherwise): a crop of the draw's aspect with an area share
   ``~ U(0.5, 1.0)`` of the largest crop of that aspect that fits (so the crop's shape does not
   follow the picture's), resized to short side ``S``: when shrinking, INTER_AREA with p = 0.5,
   else one of INTER_LINEAR / INTER_CUBIC / INTER_LANCZOS4; when enlarging, one of those three;
3. **encode**: JPEG with p = 0.75 (quality ``U_int(60, 100)``, chroma 4:2:0 with p = 0.7, else
   4:4:4), lossy WebP with p = 0.15 (quality ``U_int(60, 95)``), PNG with p = 0.10; the bytes
   are decoded again by the project's loader.

Steps 2 (resampled) and 3 are the design study's chain "v2" (its format-only AUC 0.50 to 0.52);
the native branch was added here. The size of the output never depends on the picture, only
whether it was resampled does (small pictures are always resampled), which the format check
cannot see; docs/BENCHMARKS.md, "Three-way classifier" reports that nuisance.

Views (:func:`inference_views`, :func:`training_view`): the extractor reads ``VIEW`` x ``VIEW``
(256) windows at the picture's native resolution (a picture with a short side under 256 is
first enlarged to 256 with INTER_CUBIC). At inference: ``n`` fixed windows centred at
(W/4, H/4), (3W/4, 3H/4) (then (3W/4, H/4), (W/4, 3H/4)); at training: one window at a uniform
position of the chain's output. Resizing the whole picture instead made camera photos look
generated (the design study: 92-100 % of them called generated when squashed to 256 px).
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from imlforensic.io.images import decode_image_bytes

CHAIN_VERSION = "v2n"
VIEW = 256
SHORT_SIDE = (272, 512)
CROP_AREA = (0.5, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
P_NATIVE = 0.5
P_JPEG, P_WEBP = 0.75, 0.15  # PNG: the rest
JPEG_Q = (60, 100)
WEBP_Q = (60, 95)
P_420 = 0.7
RESAMPLERS = (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4)


def rng_for(key: str, salt: str = "chain") -> np.random.Generator:
    """A generator seeded by a text key (stable across runs, machines and Python versions)."""
    seed = int.from_bytes(hashlib.sha256(f"{salt}:{key}".encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


@dataclass(frozen=True)
class ChainInfo:
    """What one draw of the chain did (kept with the cached features, for the confound checks)."""

    native: bool
    factor: float  # resampling factor (1.0 when native)
    width: int
    height: int
    container: str  # JPEG | WEBP | PNG
    quality: int | None
    subsampling: str | None
    n_bytes: int

    def as_dict(self) -> dict:
        return {
            "native": self.native,
            "factor": round(self.factor, 5),
            "width": self.width,
            "height": self.height,
            "container": self.container,
            "quality": self.quality,
            "subsampling": self.subsampling,
            "n_bytes": self.n_bytes,
        }


def _resize(rgb: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    return cv2.resize(rgb, size, interpolation=interpolation)


def resize_short(rgb: np.ndarray, short: int, interpolation: int | None = None) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = short / min(h, w)
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    if interpolation is None:
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return _resize(rgb, size, interpolation)


def _window(short: int, ratio: float) -> tuple[int, int]:
    """(width, height) of a window with short side ``short`` and aspect ``ratio`` = w / h."""
    return (int(round(short * ratio)), short) if ratio >= 1 else (short, int(round(short / ratio)))


def _encode(rgb: np.ndarray, rng: np.random.Generator) -> tuple[bytes, str, int | None, str | None]:
    u = rng.uniform()
    image = Image.fromarray(rgb)
    buffer = io.BytesIO()
    if u < P_JPEG:
        quality = int(rng.integers(JPEG_Q[0], JPEG_Q[1] + 1))
        subsampling = 2 if rng.uniform() < P_420 else 0
        image.save(buffer, "JPEG", quality=quality, subsampling=subsampling)
        return buffer.getvalue(), "JPEG", quality, "4:2:0" if subsampling == 2 else "4:4:4"
    if u < P_JPEG + P_WEBP:
        quality = int(rng.integers(WEBP_Q[0], WEBP_Q[1] + 1))
        image.save(buffer, "WEBP", quality=quality)
        return buffer.getvalue(), "WEBP", quality, None
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue(), "PNG", None, None


def normalise(rgb: np.ndarray, key: str) -> tuple[np.ndarray, ChainInfo]:
    """One draw of the chain (see the module docstring), seeded by ``key``: the decoded picture
    as a detector would read the re-encoded file, and what was done."""
    rng = rng_for(key)
    h, w = rgb.shape[:2]
    short = int(rng.integers(SHORT_SIDE[0], SHORT_SIDE[1] + 1))
    ratio = math.exp(rng.uniform(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])))
    native_draw = rng.uniform() < P_NATIVE
    ww, wh = _window(short, ratio)
    if native_draw and ww <= w and wh <= h:
        x0, y0 = int(rng.integers(0, w - ww + 1)), int(rng.integers(0, h - wh + 1))
        out = np.ascontiguousarray(rgb[y0 : y0 + wh, x0 : x0 + ww])
        native, factor = True, 1.0
    else:
        share = rng.uniform(*CROP_AREA)
        mw, mh = (w, w / ratio) if w / ratio <= h else (h * ratio, h)  # largest crop of this aspect
        cw = max(1, min(w, int(round(mw * math.sqrt(share)))))
        ch = max(1, min(h, int(round(mh * math.sqrt(share)))))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        crop = rgb[y0 : y0 + ch, x0 : x0 + cw]
        factor = short / min(ch, cw)
        if factor < 1 and rng.uniform() < 0.5:
            interpolation = cv2.INTER_AREA
        else:
            interpolation = int(RESAMPLERS[int(rng.integers(0, len(RESAMPLERS)))])
        out = resize_short(np.ascontiguousarray(crop), short, interpolation)
        native = False
    data, container, quality, subsampling = _encode(out, rng)
    decoded = decode_image_bytes(data, Path(f"chain.{container.lower()}"), display=key).rgb
    info = ChainInfo(
        native=native,
        factor=float(factor),
        width=int(decoded.shape[1]),
        height=int(decoded.shape[0]),
        container=container,
        quality=quality,
        subsampling=subsampling,
        n_bytes=len(data),
    )
    return decoded, info


def _at_least_view(rgb: np.ndarray, size: int) -> np.ndarray:
    if min(rgb.shape[:2]) < size:
        return resize_short(rgb, size, cv2.INTER_CUBIC)
    return rgb


def window_origins(h: int, w: int, n: int, size: int = VIEW) -> list[tuple[int, int]]:
    """Top-left corners (y0, x0) of the ``n`` fixed inference windows (clipped inside)."""
    fx = (0.25, 0.75, 0.75, 0.25)
    fy = (0.25, 0.75, 0.25, 0.75)
    if not 1 <= n <= len(fx):
        raise ValueError(f"1 to {len(fx)} views, not {n}")
    return [
        (
            int(np.clip(round(fy[i] * h - size / 2), 0, h - size)),
            int(np.clip(round(fx[i] * w - size / 2), 0, w - size)),
        )
        for i in range(n)
    ]


INFERENCE_VIEWS = 2
"""Windows the three-way classifier reads of a file (their features averaged)."""


def inference_views(rgb: np.ndarray, n: int = INFERENCE_VIEWS, size: int = VIEW) -> np.ndarray:
    """``n`` native-resolution windows of a picture: (n, size, size, 3) uint8."""
    rgb = _at_least_view(rgb, size)
    h, w = rgb.shape[:2]
    return np.stack([rgb[y : y + size, x : x + size] for y, x in window_origins(h, w, n, size)])


def training_view(rgb: np.ndarray, key: str, size: int = VIEW) -> np.ndarray:
    """One window at a uniform position (seeded by ``key``): (size, size, 3) uint8."""
    rgb = _at_least_view(rgb, size)
    h, w = rgb.shape[:2]
    rng = rng_for(key, "view")
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return np.ascontiguousarray(rgb[y : y + size, x : x + size])
