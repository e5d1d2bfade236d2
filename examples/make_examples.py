"""Rebuild the bundled examples from scikit-image's freely licensed photographs.

    python examples/make_examples.py

Writes ``examples/images/``, ``examples/masks/`` and ``examples/labels.csv`` (the layout of
the project's datasets, so ``imlforensic evaluate examples`` works). Deterministic.
Sources (scikit-image ``skimage.data``): ``coffee`` (Rachel Michetti, CC0), ``chelsea``
(Stefan van der Walt, CC0), ``astronaut`` (NASA, public domain), ``rocket`` (SpaceX, CC0).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data

HERE = Path(__file__).resolve().parent


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through JPEG (PIL, 4:2:0), as a camera or editor would save."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def ellipse_mask(shape: tuple[int, int], centre: tuple[int, int], axes: tuple[int, int], angle: float = 0) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, centre, axes, angle, 0, 360, 255, -1)
    return mask > 0


def splice() -> tuple[np.ndarray, np.ndarray]:
    """The cat's head (from a quality-60 JPEG) pasted onto the coffee photo (quality 92)."""
    host = jpeg(data.coffee(), 92)
    donor = jpeg(data.chelsea(), 60)
    head = ellipse_mask(donor.shape[:2], (232, 120), (88, 72))
    y0, x0 = 40, 24  # donor crop origin (multiple of 8: the donor's JPEG grid stays aligned)
    crop, crop_mask = donor[y0:y0 + 176, x0:x0 + 224 + 160], head[y0:y0 + 176, x0:x0 + 224 + 160]
    out, mask = host.copy(), np.zeros(host.shape[:2], bool)
    ty, tx = 200, 192
    region = (slice(ty, ty + crop.shape[0]), slice(tx, tx + crop.shape[1]))
    out[region][crop_mask] = crop[crop_mask]
    mask[region] = crop_mask
    return out, mask


def copy_move() -> tuple[np.ndarray, np.ndarray]:
    """A patch of the astronaut photo (quality 75) copied to another place, off the JPEG grid."""
    source = jpeg(data.astronaut(), 75)
    out, mask = source.copy(), np.zeros(source.shape[:2], bool)
    patch = ellipse_mask((110, 130), (65, 55), (60, 50))
    sy, sx, ty, tx = 390, 20, 373, 355  # offsets not multiples of 8
    src = source[sy:sy + 110, sx:sx + 130]
    out[ty:ty + 110, tx:tx + 130][patch] = src[patch]
    mask[ty:ty + 110, tx:tx + 130] = patch
    return out, mask


def removal() -> tuple[np.ndarray, np.ndarray]:
    """An area of the rocket photo (quality 80) removed by OpenCV inpainting."""
    source = jpeg(data.rocket(), 80)
    mask = ellipse_mask(source.shape[:2], (470, 300), (60, 80))
    out = cv2.inpaint(source, mask.astype(np.uint8), 9, cv2.INPAINT_TELEA)
    return out, mask


def main() -> None:
    images, masks = HERE / "images", HERE / "masks"
    images.mkdir(exist_ok=True)
    masks.mkdir(exist_ok=True)
    rows = []
    for name, build, kind, quality in (
        ("splice", splice, "splice", 92),
        ("copymove", copy_move, "copymove", 95),
        ("removal", removal, "removal", 90),
    ):
        rgb, mask = build()
        Image.fromarray(rgb).save(images / f"{name}.jpg", "JPEG", quality=quality)
        Image.fromarray((mask * 255).astype(np.uint8)).save(masks / f"{name}.png")
        rows.append((f"images/{name}.jpg", "manipulated", f"masks/{name}.png", kind))
    Image.fromarray(jpeg(data.chelsea(), 90)).save(images / "authentic.jpg", "JPEG", quality=90)
    rows.append(("images/authentic.jpg", "authentic", "", ""))
    with open(HERE / "labels.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label", "mask", "kind"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
