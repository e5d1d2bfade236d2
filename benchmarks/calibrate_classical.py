"""Derive the calibration constants of the classical views from authentic photographs.

For each view, the raw anomaly (robust z units) is mapped to a probability with
``p = sigmoid((a - centre) / width)``. ``centre`` is set per *image*: on authentic photos,
re-saved through a random JPEG/PNG step as real material would be, only ``--image-rate`` of
the photos reach it with their pooled anomaly (the k-th highest value, the same pooling as
the image score, see imlforensic.maps), so at the default threshold only that share of
authentic images shows any flagged region. ``width`` = (centre - median pixel) / 3, so the
median authentic pixel maps to 0.047 and the stored 8-bit map keeps its gradations. The script prints the
constants; they are written into ``imlforensic/views/calibration.py`` by hand, with the command.

    python benchmarks/calibrate_classical.py ../shared/data/photos --per-source 60
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

from imlforensic.io.images import load_image
from imlforensic.maps import pool_score
from imlforensic.views.calibration import raw_anomalies


def resave(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random final save, as photos arrive: JPEG 70-100 (mostly), sometimes PNG."""
    if rng.random() < 0.2:
        return rgb
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=int(rng.integers(70, 101)))
    return np.asarray(Image.open(buffer).convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path, help="folder of authentic photo sets (each with images/)")
    parser.add_argument("--per-source", type=int, default=60)
    parser.add_argument("--image-rate", type=float, default=0.05, help="share of authentic photos allowed to reach p=0.5")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    samples: dict[str, list[np.ndarray]] = {}
    pooled: dict[str, list[float]] = {}
    for source in sorted(p for p in args.photos.iterdir() if (p / "images").is_dir()):
        files = sorted((source / "images").iterdir())
        for path in rng.choice(files, size=min(args.per_source, len(files)), replace=False):
            rgb = resave(load_image(path).rgb, rng)
            for view, anomaly in raw_anomalies(rgb).items():
                samples.setdefault(view, []).append(anomaly[::4, ::4].ravel())
                pooled.setdefault(view, []).append(pool_score(anomaly))
    for view, parts in samples.items():
        values = np.concatenate(parts)
        centre = float(np.quantile(pooled[view], 1.0 - args.image_rate))
        width = float((centre - np.median(values)) / 3.0)
        print(f"{view}: centre={centre:.3f} width={width:.3f} (n={len(parts)} photos, median={np.median(values):.3f})")


if __name__ == "__main__":
    main()
