"""Is a picture of the kind the methods were made for? Reliability notes for every record.

The learned localizer is trained on photographs: camera pictures, at their own size or shared
on the web (resized, recompressed). Its evidence means less on pictures of another kind, and an
analyst should be told so, in the record (machine-readable ``reliability``) and on the report
page. Five conditions are measured from the decoded pixels and the file's JPEG tables, cheaply
(about 0.03 s at 1 megapixel):

* ``small``: the shorter side is under :data:`SMALL_SIDE` pixels (thumbnails, icons): a few
  network cells cover the whole picture and a blob is a large share of it.
* ``graphics``: screenshots, charts, logos, documents, renderings. Two measures on an 8-bit
  luma image, both rare in photographs (whose sensor noise and texture survive compression):
  the share of 8 x 8 blocks that are flat (max - min <= 2 grey levels), and the share of the
  picture covered by its 16 most frequent colours (5 bits per channel). A picture is graphics
  when flat blocks exceed :data:`FLAT_BLOCKS` or the palette share exceeds :data:`PALETTE_SHARE`
  together with at least :data:`FLAT_WITH_PALETTE` flat blocks.
* ``upscaled``: enlarged pictures lack detail above the original Nyquist frequency: the
  log10 ratio of luma power between the top band (0.3 to 0.5 cycles per pixel) and a middle
  band (0.1 to 0.2) falls below :data:`UPSCALED_BAND_RATIO`.
* ``heavy_recompression``: a JPEG whose estimated IJG quality is below :data:`LOW_QUALITY`
  (the traces of an edit are largely quantised away, and blocking artefacts look like edges).
* ``huge``: above :data:`HUGE_PIXELS`; analysed in tiles, maps shown downscaled.

The thresholds were set on training-side material only (the photo collections the network was
trained on, Debian's rendered wallpapers, upscaled and downscaled copies of training photos:
photographs show at most 0.26 flat blocks at the 90th percentile and a band ratio of -1.83 at
the 5th; renderings a median of 0.93 flat blocks; 2x upscales a band ratio of at most -2.19 at
the 95th percentile), never on the benchmark pictures.

The pipeline (:mod:`imlforensic.pipeline.analysis`) makes the verdict more conservative outside
the domain: an image-level score must reach :data:`CONSERVATIVE_THRESHOLD` (or the method's own
threshold, when higher) before such a picture is called ``manipulated``, and the record says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

SMALL_SIDE = 256
HUGE_PIXELS = 40_000_000
FLAT_BLOCKS = 0.45
PALETTE_SHARE = 0.6
FLAT_WITH_PALETTE = 0.2
UPSCALED_BAND_RATIO = -2.0
LOW_QUALITY = 70
CONSERVATIVE_THRESHOLD = 0.9
"""Image-level score a picture outside the domain must reach to be called manipulated."""

WORK_SIDE = 512  # the palette is measured on the picture reduced to this longer side
SPECTRUM_SIDE = 512  # the band ratio on a centre crop of this size (full resolution)

FLAG_TEXT = {
    "small": "the picture is small (shorter side {side} px): a few regions of the network cover all of it",
    "graphics": "the picture looks like graphics, a screenshot or a document (flat areas, few colours), "
    "not a photograph",
    "upscaled": "the picture looks enlarged (little detail at the finest scale)",
    "heavy_recompression": "the picture is strongly compressed (JPEG quality about {quality})",
    "huge": "the picture is very large ({megapixels:.0f} megapixels): analysed in tiles",
}
CONSERVATIVE_FLAGS = ("small", "graphics", "upscaled", "heavy_recompression")
"""Conditions under which the verdict is made more conservative (``huge`` only informs)."""


@dataclass
class Reliability:
    """Whether a picture is of the kind the methods were made for, and the numbers behind it."""

    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)
    conservative_threshold: float | None = None  # set when the verdict was made more conservative

    @property
    def in_domain(self) -> bool:
        return not any(flag in CONSERVATIVE_FLAGS for flag in self.flags)

    def to_json(self) -> dict[str, Any]:
        return {
            "in_domain": self.in_domain,
            "flags": list(self.flags),
            "notes": list(self.notes),
            "measures": {k: round(v, 4) for k, v in self.measures.items()},
            "conservative_threshold": self.conservative_threshold,
        }

    @classmethod
    def from_json(cls, data: Any) -> Reliability | None:
        if not isinstance(data, dict):
            return None
        measures = data.get("measures")
        threshold = data.get("conservative_threshold")
        return cls(
            flags=[str(f) for f in data.get("flags") or []],
            notes=[str(n) for n in data.get("notes") or []],
            measures={str(k): float(v) for k, v in measures.items()} if isinstance(measures, dict) else {},
            conservative_threshold=None if threshold is None else float(threshold),
        )


def flat_block_share(luma: np.ndarray) -> float:
    """Share of 8 x 8 blocks whose grey levels span at most 2."""
    h, w = (luma.shape[0] // 8) * 8, (luma.shape[1] // 8) * 8
    if h == 0 or w == 0:
        return 0.0
    blocks = luma[:h, :w].reshape(h // 8, 8, w // 8, 8)
    span = blocks.max(axis=(1, 3)).astype(np.int16) - blocks.min(axis=(1, 3))
    return float((span <= 2).mean())


def palette_share(rgb: np.ndarray, colours: int = 16) -> float:
    """Share of the picture (reduced to :data:`WORK_SIDE`) covered by its most frequent colours."""
    h, w = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_NEAREST)
    quantised = (rgb >> 3).astype(np.int32)
    codes = (quantised[..., 0] << 10) | (quantised[..., 1] << 5) | quantised[..., 2]
    counts = np.bincount(codes.ravel(), minlength=1 << 15)
    return float(np.sort(counts)[-colours:].sum() / codes.size)


def band_ratio(luma: np.ndarray) -> float:
    """log10 of the luma power at 0.3-0.5 cycles/pixel over that at 0.1-0.2 (centre crop)."""
    h, w = luma.shape
    cy, cx, half = h // 2, w // 2, SPECTRUM_SIDE // 2
    crop = luma[max(0, cy - half) : cy + half, max(0, cx - half) : cx + half].astype(np.float32)
    crop -= crop.mean()
    crop *= np.outer(np.hanning(crop.shape[0]), np.hanning(crop.shape[1])).astype(np.float32)
    power = np.abs(np.fft.fftshift(np.fft.fft2(crop))) ** 2
    fy = (np.arange(power.shape[0]) - power.shape[0] / 2) / power.shape[0]
    fx = (np.arange(power.shape[1]) - power.shape[1] / 2) / power.shape[1]
    radius = np.hypot(fy[:, None], fx[None, :])
    high = power[(radius > 0.3) & (radius < 0.5)].mean()
    middle = power[(radius > 0.1) & (radius < 0.2)].mean()
    return float(np.log10(high / middle + 1e-12)) if middle > 0 else 0.0


def assess(rgb: np.ndarray, jpeg_quality: int | None = None) -> Reliability:
    """The reliability notes of a decoded picture (see the module docstring)."""
    h, w = rgb.shape[:2]
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    measures = {
        "short_side": float(min(h, w)),
        "megapixels": h * w / 1e6,
        "flat_blocks": flat_block_share(luma),
        "palette_share": palette_share(rgb),
        "band_ratio": band_ratio(luma),
    }
    if jpeg_quality is not None:
        measures["jpeg_quality"] = float(jpeg_quality)
    flags = []
    if min(h, w) < SMALL_SIDE:
        flags.append("small")
    flat, palette = measures["flat_blocks"], measures["palette_share"]
    if flat > FLAT_BLOCKS or (palette > PALETTE_SHARE and flat > FLAT_WITH_PALETTE):
        flags.append("graphics")
    elif measures["band_ratio"] < UPSCALED_BAND_RATIO and min(h, w) >= 64:
        flags.append("upscaled")  # graphics also lack fine detail: said once, as graphics
    if jpeg_quality is not None and jpeg_quality < LOW_QUALITY:
        flags.append("heavy_recompression")
    if h * w > HUGE_PIXELS:
        flags.append("huge")
    values = {"side": min(h, w), "quality": jpeg_quality, "megapixels": h * w / 1e6}
    notes = [FLAG_TEXT[flag].format(**values) for flag in flags]
    return Reliability(flags=flags, notes=notes, measures=measures)
