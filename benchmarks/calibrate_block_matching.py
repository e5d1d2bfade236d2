"""Choose the copy-move view's texture floor for exact block matching on training-side material only.

    python benchmarks/calibrate_block_matching.py --wallpapers runs/wallpapers --std 4 2 1 [--std -1]

:func:`imlforensic.views.copy_move.block_shifts` lets only blocks whose grey levels spread by at
least ``BLOCK_MIN_STD`` vote for a shift. Lower floors let copies of smooth areas be found; the
question is whether they also find "copies" in untouched pictures. Measured here, for each floor
given (``-1``: block matching off, keypoints alone), on pictures the training may use
(docs/wild-benchmark.md, held-out policy), all at their own pixels, never compressed:

* 40 plain-shift copies (a random blob of 1-6 % of the picture moved by a random shift, bit for
  bit) in 40 tiles of the Debian wallpaper photos (scripts/train_default.py's ``tiles``, reduced
  to 0.8 so their camera JPEG grid is gone): found, and the mean pixel F1 of the view's map
  (both regions marked, so at most about 0.67) against the copy;
* untouched: the same 40 tiles, 40 tiles of the wallpaper renders (``render-tiles``: gradients,
  flat colour, patterns) and 60 tiles of the Stable Diffusion sheets (``sd-tiles``): how many get
  a region pair.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import imlforensic.views.copy_move as copy_move
from imlforensic.metrics import pixel


def _blob(rng: np.random.Generator, height: int, width: int, area: float) -> np.ndarray:
    radius = int(np.sqrt(area * height * width / np.pi))
    cy, cx = rng.integers(radius, height - radius), rng.integers(radius, width - radius)
    angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    radii = radius * rng.uniform(0.6, 1.3, len(angles))
    points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1).astype(np.int32)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [points], 1)
    return mask.astype(bool)


def _read(path: Path, factor: float = 1.0) -> np.ndarray:
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB"))
    return cv2.resize(rgb, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA) if factor != 1.0 else rgb


def plain_copy(rng: np.random.Generator, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` with a blob moved bit for bit by a shift that keeps it inside; returns it and the copy's mask."""
    height, width = rgb.shape[:2]
    source = _blob(rng, height, width, rng.uniform(0.01, 0.06))
    ys, xs = np.nonzero(source)
    while True:
        dy, dx = int(rng.integers(-height // 2, height // 2)), int(rng.integers(-width // 2, width // 2))
        ty, tx = ys + dy, xs + dx
        inside = ty.min() >= 0 and tx.min() >= 0 and ty.max() < height and tx.max() < width
        if np.hypot(dy, dx) >= 60 and inside:
            break
    copied = rgb.copy()
    copied[ty, tx] = rgb[ys, xs]
    target = np.zeros_like(source)
    target[ty, tx] = True
    return copied, target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--wallpapers", type=Path, default=Path("runs/wallpapers"), help="scripts/train_default.py --wallpapers"
    )
    parser.add_argument("--std", type=float, nargs="+", default=[4.0, 2.0, 1.0], help="floors to try (-1: blocks off)")
    args = parser.parse_args()
    photos = sorted((args.wallpapers / "tiles").glob("*_r0.png"))
    renders = sorted((args.wallpapers / "render-tiles").glob("*.png"))
    random.Random(0).shuffle(photos)
    random.Random(1).shuffle(renders)
    photos, renders = photos[:40], renders[:40]
    generated = sorted((args.wallpapers / "sd-tiles").glob("*.png"))[::20]
    rng = np.random.default_rng(0)
    edits = [plain_copy(rng, _read(path, 0.8)) for path in photos]
    untouched = [("photo tiles", _read(p, 0.8)) for p in photos]
    untouched += [("render tiles", _read(p)) for p in renders] + [("SD tiles", _read(p)) for p in generated]
    blocks_on = copy_move.BLOCK_MAX_PIXELS
    for floor in args.std:
        copy_move.BLOCK_MAX_PIXELS = 0 if floor < 0 else blocks_on
        copy_move.BLOCK_MIN_STD = max(floor, 0.0)
        found, f1 = 0, []
        for rgb, target in edits:
            result = copy_move.find_copies(rgb)
            found += bool(result.pairs)
            f1.append(pixel.f1_score(target, result.map >= 0.5))
        flagged: dict[str, list[int]] = {}
        for kind, rgb in untouched:
            counts = flagged.setdefault(kind, [0, 0])
            counts[0] += bool(copy_move.find_copies(rgb).pairs)
            counts[1] += 1
        label = "blocks off" if floor < 0 else f"BLOCK_MIN_STD {floor:g}"
        print(
            f"{label}: copies found {found}/{len(edits)}, mean pixel F1 {np.mean(f1):.3f}; untouched with a pair: "
            + ", ".join(f"{kind} {n}/{total}" for kind, (n, total) in flagged.items()),
            flush=True,
        )


if __name__ == "__main__":
    main()
