"""Synthetic edits made on the fly from authentic photos, for training with image-level labels.

Each sample is an authentic crop or an edited one:

* ``splice``: an object-like region from another photo, scaled, rotated, colour-matched to the
  host, with hard or feathered edges;
* ``copymove``: a region of the same photo moved elsewhere (optionally scaled / rotated);
* ``removal``: a region filled by inpainting (OpenCV Telea or Navier-Stokes);
* ``retouch``: a region resampled, blurred, noised, sharpened or colour-shifted;
* ``double_jpeg``: a region replaced by its JPEG at another quality, on or off the 8x8 grid;
* ``generated_blend`` (only with ``donors``, pictures made by an image generator): a region of a
  generated picture blended into the photo with a feathered, colour-matched seam, the local
  insertion of generated content that AI inpainting and generative fill leave.

Shapes are object-like: smooth random blobs, star-shaped polygons, ellipses, or unions of
neighbouring superpixels of the source (which follow real object boundaries).

Then *every* sample, authentic or edited, goes through the same global chain, the sharing
pipelines pictures meet on their way to an analyst: an optional resize (sometimes a strong
reduction enlarged back, as an upscaled picture), then one or two JPEG compressions at random
qualities, a WebP compression, or no compression. Both classes share the chain so that a model
cannot learn the pipeline instead of the edit.

The mask marks the pixels the edit changed: for feathered edges, pixels with blending weight
at least 0.5 (the thin band of lighter blending outside it is the only change not in the mask).
Masks are returned for validation and tests only; training uses the image-level label.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from imlforensic.io.images import ImageLoadError, load_image

KINDS = ("splice", "copymove", "removal", "retouch", "double_jpeg")
GENERATED_KIND = "generated_blend"
"""The kind added to :data:`KINDS` when the synthesizer is given generated donor pictures."""


@dataclass
class Sample:
    rgb: np.ndarray  # H x W x 3 uint8
    mask: np.ndarray  # H x W bool (empty for authentic)
    label: int  # 0 authentic, 1 manipulated
    kind: str  # "authentic" or one of KINDS
    luma_table: np.ndarray | None = None  # of the final JPEG save, None when the chain ended lossless


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip with libjpeg through Pillow (4:2:0, as most cameras and editors)."""
    return jpeg_with_table(rgb, quality)[0]


def webp(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Lossy WebP round trip through Pillow (libwebp), as web platforms re-encode uploads."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "WEBP", quality=int(quality))
    return np.asarray(Image.open(buffer).convert("RGB"))


def jpeg_with_table(rgb: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    """JPEG round trip, and the luminance quantisation table of the saved file (8x8)."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=int(quality))
    decoded = Image.open(buffer)
    tables: dict[int, list[int]] = getattr(decoded, "quantization", {})
    table = np.asarray(tables[0], dtype=np.float64).reshape(8, 8)
    return np.asarray(decoded.convert("RGB")), table


# ----------------------------------------------------------------------------- shapes


def blob_shape(shape: tuple[int, int], rng: np.random.Generator, area: float) -> np.ndarray:
    """A smooth random blob of about ``area`` (fraction of the frame), one connected piece."""
    h, w = shape
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), rng.uniform(0.06, 0.15) * min(h, w))
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    yy, xx = np.mgrid[0:h, 0:w]
    noise -= 0.002 * np.hypot((yy - cy) / h, (xx - cx) / w)  # prefer one central piece
    mask = noise >= np.quantile(noise, 1.0 - area)
    return _largest_component(mask)


def polygon_shape(shape: tuple[int, int], rng: np.random.Generator, area: float) -> np.ndarray:
    """A star-shaped polygon around a random centre with about ``area`` of the frame."""
    h, w = shape
    radius = np.sqrt(area * h * w / np.pi)
    cy, cx = rng.uniform(radius, max(radius + 1, h - radius)), rng.uniform(radius, max(radius + 1, w - radius))
    n = int(rng.integers(5, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius * rng.uniform(0.6, 1.3, n)
    points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1).astype(np.int32)
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [points], 1)
    return mask.astype(bool)


def ellipse_shape(shape: tuple[int, int], rng: np.random.Generator, area: float) -> np.ndarray:
    h, w = shape
    ratio = rng.uniform(0.5, 2.0)
    a = np.sqrt(area * h * w / np.pi * ratio)
    b = area * h * w / np.pi / a
    mask = np.zeros(shape, np.uint8)
    centre = (int(rng.uniform(0.25, 0.75) * w), int(rng.uniform(0.25, 0.75) * h))
    cv2.ellipse(mask, centre, (max(2, int(a)), max(2, int(b))), float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return mask.astype(bool)


def superpixel_shape(rgb: np.ndarray, rng: np.random.Generator, area: float) -> np.ndarray:
    """Neighbouring SLIC superpixels grown from a random seed until about ``area`` is covered."""
    from skimage.segmentation import slic

    h, w = rgb.shape[:2]
    labels = slic(rgb, n_segments=int(rng.integers(60, 160)), compactness=10, start_label=0)
    target = area * h * w
    region = labels == labels[int(rng.integers(h // 4, 3 * h // 4)), int(rng.integers(w // 4, 3 * w // 4))]
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(60):
        if region.sum() >= target:
            break
        ring = cv2.dilate(region.astype(np.uint8), kernel).astype(bool) & ~region
        neighbours = np.unique(labels[ring])
        if neighbours.size == 0:
            break
        region |= labels == rng.choice(neighbours)
    return region


def random_shape(
    rgb: np.ndarray, rng: np.random.Generator, area_range: tuple[float, float] = (0.02, 0.25)
) -> np.ndarray:
    area = float(np.exp(rng.uniform(np.log(area_range[0]), np.log(area_range[1]))))
    makers: list[Callable[[], np.ndarray]] = [
        lambda: blob_shape(rgb.shape[:2], rng, area),
        lambda: polygon_shape(rgb.shape[:2], rng, area),
        lambda: ellipse_shape(rgb.shape[:2], rng, area),
        lambda: superpixel_shape(rgb, rng, area),
    ]
    mask = makers[int(rng.choice(4, p=[0.3, 0.2, 0.15, 0.35]))]()
    return mask if mask.sum() >= 64 else ellipse_shape(rgb.shape[:2], rng, max(area, 0.02))


def _largest_component(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


# ----------------------------------------------------------------------------- blending


def _alpha(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Hard edges (alpha = mask) or feathered ones (a blurred mask)."""
    if rng.random() < 0.5:
        return mask.astype(np.float32)
    sigma = rng.uniform(0.8, 3.0)
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def _blend(base: np.ndarray, patch: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = alpha[..., None]
    out = np.clip(np.rint(base.astype(np.float32) * (1 - a) + patch.astype(np.float32) * a), 0, 255).astype(np.uint8)
    return out, alpha >= 0.5


def _match_colour(patch: np.ndarray, mask: np.ndarray, host: np.ndarray) -> np.ndarray:
    """Move the patch's Lab mean/std (inside the mask) part of the way towards the host's."""
    lab_patch = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab_host = cv2.cvtColor(host, cv2.COLOR_RGB2LAB).astype(np.float32)
    inside = lab_patch[mask]
    mean_p, std_p = inside.mean(0), inside.std(0) + 1e-3
    mean_h, std_h = lab_host.reshape(-1, 3).mean(0), lab_host.reshape(-1, 3).std(0) + 1e-3
    strength = 0.6
    target_mean = mean_p + strength * (mean_h - mean_p)
    target_std = std_p + strength * (std_h - std_p)
    matched = (lab_patch - mean_p) / std_p * target_std + target_mean
    return cv2.cvtColor(np.clip(matched, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def _warp(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, scale_range=(0.7, 1.3), max_angle=25.0):
    """Scale and rotate ``image`` and ``mask`` together about the mask's centre."""
    ys, xs = np.nonzero(mask)
    centre = (float(xs.mean()), float(ys.mean()))
    matrix = cv2.getRotationMatrix2D(
        centre, float(rng.uniform(-max_angle, max_angle)), float(rng.uniform(*scale_range))
    )
    size = (image.shape[1], image.shape[0])
    interpolation = [cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA][int(rng.integers(3))]
    warped = cv2.warpAffine(image, matrix, size, flags=interpolation, borderMode=cv2.BORDER_REFLECT)
    warped_mask = cv2.warpAffine(mask.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST) > 0
    return warped, warped_mask


def _place(mask: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """A random shift keeping the mask's bounding box inside the frame."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    dy = int(rng.integers(-ys.min(), h - ys.max()))
    dx = int(rng.integers(-xs.min(), w - xs.max()))
    return dy, dx


def _shift(array: np.ndarray, dy: int, dx: int) -> np.ndarray:
    matrix = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    flags = cv2.INTER_NEAREST
    if array.dtype == bool:
        return cv2.warpAffine(array.astype(np.uint8), matrix, (array.shape[1], array.shape[0]), flags=flags) > 0
    return cv2.warpAffine(array, matrix, (array.shape[1], array.shape[0]), flags=flags, borderMode=cv2.BORDER_REFLECT)


# ----------------------------------------------------------------------------- edits


def splice(
    host: np.ndarray, donor: np.ndarray, rng: np.random.Generator, generated: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """An object-like region of ``donor`` pasted into ``host``. A ``generated`` donor's region is
    always colour-matched and feathered (generative fill blends its seam) and never re-saved first."""
    if not generated and rng.random() < 0.5:  # the donor often comes from a JPEG of another quality
        donor = jpeg(donor, int(rng.integers(50, 96)))
    shape = random_shape(donor, rng)
    patch, shape = _warp(donor, shape, rng)
    if shape.sum() < 64:
        shape = ellipse_shape(host.shape[:2], rng, 0.05)
        patch = donor
    dy, dx = _place(shape, rng)
    patch, shape = _shift(patch, dy, dx), _shift(shape, dy, dx)
    if generated or rng.random() < 0.7:
        patch = _match_colour(patch, shape, host)
    alpha = cv2.GaussianBlur(shape.astype(np.float32), (0, 0), rng.uniform(1.0, 4.0)) if generated else None
    return _blend(host, patch, _alpha(shape, rng) if alpha is None else alpha)


def copy_move(host: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    shape = random_shape(host, rng, (0.02, 0.15))
    patch, shape = (host, shape) if rng.random() < 0.5 else _warp(host, shape, rng, (0.8, 1.2), 15.0)
    for _ in range(10):
        dy, dx = _place(shape, rng)
        if abs(dy) + abs(dx) > 0.1 * min(host.shape[:2]):
            break
    return _blend(host, _shift(patch, dy, dx), _alpha(_shift(shape, dy, dx), rng))


def removal(host: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    shape = random_shape(host, rng, (0.01, 0.08))
    hole = cv2.dilate(shape.astype(np.uint8), np.ones((3, 3), np.uint8))
    method = cv2.INPAINT_TELEA if rng.random() < 0.5 else cv2.INPAINT_NS
    filled = cv2.inpaint(host, hole, float(rng.uniform(3, 9)), method)
    changed = np.any(filled != host, axis=2)
    return filled, changed


def retouch(host: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    shape = random_shape(host, rng, (0.02, 0.2))
    choice = int(rng.integers(5))
    image = host.astype(np.float32)
    if choice == 0:  # blur
        patch = cv2.GaussianBlur(image, (0, 0), rng.uniform(1.0, 2.5))
    elif choice == 1:  # resample (down and up)
        factor = rng.uniform(0.4, 0.8)
        small = cv2.resize(host, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
        patch = cv2.resize(small, (host.shape[1], host.shape[0]), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    elif choice == 2:  # noise
        patch = image + rng.normal(0, rng.uniform(3, 10), image.shape)
    elif choice == 3:  # sharpen
        patch = image + rng.uniform(0.6, 1.5) * (image - cv2.GaussianBlur(image, (0, 0), 1.5))
    else:  # colour / brightness
        patch = image * rng.uniform(0.75, 1.25, 3)[None, None] + rng.uniform(-20, 20)
    patch = np.clip(np.rint(patch), 0, 255).astype(np.uint8)
    out, mask = _blend(host, patch, _alpha(shape, rng))
    return out, mask & np.any(out != host, axis=2)


def double_jpeg(host: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    shape = random_shape(host, rng, (0.04, 0.3))
    quality = int(rng.integers(45, 90))
    dy, dx = (0, 0) if rng.random() < 0.5 else (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
    shifted = np.roll(host, (dy, dx), axis=(0, 1))
    patch = np.roll(jpeg(shifted, quality), (-dy, -dx), axis=(0, 1))
    out, mask = _blend(host, patch, shape.astype(np.float32))
    return out, mask & np.any(out != host, axis=2)


# ----------------------------------------------------------------------------- the generator


class EditSynthesizer:
    """Makes training samples of a fixed size from a list of authentic photos."""

    def __init__(
        self,
        photos: list[Path],
        size: tuple[int, int] = (256, 384),
        p_edit: float = 0.5,
        kinds: tuple[str, ...] = KINDS,
        donors: list[Path] | None = None,
    ) -> None:
        if not photos:
            raise ValueError("no photos to synthesize from")
        self.photos = list(photos)
        self.donors = list(donors or [])
        self.size = size
        self.p_edit = p_edit
        self.kinds = kinds + (GENERATED_KIND,) if self.donors and GENERATED_KIND not in kinds else kinds
        self._cache: dict[Path, np.ndarray] = {}

    def _photo(self, rng: np.random.Generator, pool: list[Path] | None = None) -> np.ndarray:
        pool = self.photos if pool is None else pool
        for _ in range(20):
            path = pool[int(rng.integers(len(pool)))]
            try:
                rgb = load_image(path).rgb
            except ImageLoadError:
                continue
            return rgb if rgb.shape[0] <= rgb.shape[1] else np.ascontiguousarray(np.rot90(rgb))
        raise RuntimeError("could not read any of 20 random photos")

    def _crop(self, rgb: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        h, w = size
        if rgb.shape[0] < h or rgb.shape[1] < w:
            factor = max(h / rgb.shape[0], w / rgb.shape[1])
            rgb = cv2.resize(
                rgb,
                (int(np.ceil(rgb.shape[1] * factor)), int(np.ceil(rgb.shape[0] * factor))),
                interpolation=cv2.INTER_CUBIC,
            )
        # keep the photo's 8x8 JPEG grid (offsets multiple of 8) most of the time
        y = int(rng.integers(0, rgb.shape[0] - h + 1))
        x = int(rng.integers(0, rgb.shape[1] - w + 1))
        if rng.random() < 0.8:
            y, x = y - y % 8, x - x % 8
        return np.ascontiguousarray(rgb[y : y + h, x : x + w])

    def edit(self, host: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Apply one edit of ``kind`` to ``host``; returns (edited image, mask of changed pixels)."""
        if kind == "splice":
            donor = self._crop(self._photo(rng), host.shape[:2], rng)
            return splice(host, donor, rng)
        if kind == GENERATED_KIND:
            donor = self._crop(self._photo(rng, self.donors), host.shape[:2], rng)
            return splice(host, donor, rng, generated=True)
        return {"copymove": copy_move, "removal": removal, "retouch": retouch, "double_jpeg": double_jpeg}[kind](
            host, rng
        )

    def postprocess(
        self, rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The global chain shared by both classes (module docstring): resize to the output size,
        sometimes through a strong reduction (an upscaled picture), then JPEG (70 %: once or twice,
        quality 50-100), WebP (15 %, quality 60-95) or nothing (15 %). Returns the image, its mask
        and the luminance table of the last JPEG save (None when the chain ended otherwise)."""
        h, w = self.size
        interpolations = [cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC]
        if rng.random() < 0.1:  # reduced to 35-70 %, enlarged back: the fine detail is gone
            factor = rng.uniform(0.35, 0.7)
            small = cv2.resize(
                rgb, (max(8, round(w * factor)), max(8, round(h * factor))), interpolation=cv2.INTER_AREA
            )
            rgb = cv2.resize(
                small,
                (w, h),
                interpolation=[cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4][int(rng.integers(3))],
            )
        elif rgb.shape[:2] != (h, w):
            rgb = cv2.resize(rgb, (w, h), interpolation=interpolations[int(rng.integers(3))])
        if mask.shape != (h, w):
            mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        table = None
        choice = rng.random()
        if choice < 0.7:
            rgb, table = jpeg_with_table(rgb, int(rng.integers(50, 101)))
            if rng.random() < 0.25:
                rgb, table = jpeg_with_table(rgb, int(rng.integers(50, 101)))
        elif choice < 0.85:
            rgb = webp(rgb, int(rng.integers(60, 96)))
        return rgb, mask, table

    def sample(self, rng: np.random.Generator) -> Sample:
        h, w = self.size
        scale = 1.0 if rng.random() < 0.7 else rng.uniform(1.0, 1.4)  # working crop, resized down afterwards
        work = (int(round(h * scale / 8)) * 8, int(round(w * scale / 8)) * 8)
        host = self._crop(self._photo(rng), work, rng)
        if rng.random() < self.p_edit:
            kind = self.kinds[int(rng.integers(len(self.kinds)))]
            edited, mask = self.edit(host, kind, rng)
            if mask.sum() < 32:  # nothing visible changed (e.g. inpainting a flat area): authentic
                kind, edited, mask = "authentic", host, np.zeros(host.shape[:2], bool)
        else:
            kind, edited, mask = "authentic", host, np.zeros(host.shape[:2], bool)
        rgb, mask, table = self.postprocess(edited, mask, rng)
        return Sample(rgb=rgb, mask=mask, label=int(kind != "authentic"), kind=kind, luma_table=table)
