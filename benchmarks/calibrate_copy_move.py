"""Measure the evidence weight of the copy-move view on synthetic edits, never on evaluation data.

``mvcam`` adds the copy-move view to its map as a log-likelihood ratio: a pixel inside a
duplicated region found by :func:`imlforensic.views.copy_move.find_copies` gets
``log P(found | edited) / P(found | untouched)``, measured here over every pixel of the fixed,
seeded synthetic calibration set (the training synthesizer's edits of every kind, and untouched
crops, from authentic photos: imlforensic.training.calibration.synthetic_samples). Pixels where
nothing was found keep their map unchanged (no repetition says nothing about a splice). The
script prints the constant; it is written into ``imlforensic/views/copy_move.py`` by hand, with
the command:

    python benchmarks/calibrate_copy_move.py ../shared/data/photos/{bsds500,hymenoptera,dogs_vs_cats} \
        runs/wallpapers/tiles runs/wallpapers/render-tiles --samples 400

(training-side pictures only: ``photos/camera_native`` is the wild benchmark's, docs/wild-benchmark.md;
``runs/wallpapers`` is what scripts/train_default.py --wallpapers made).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np

from imlforensic.training.calibration import synthetic_copy_moves, synthetic_samples
from imlforensic.training.trainer import list_photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path, nargs="+", help="folders of authentic photos")
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()
    photos = list_photos(args.photos)
    samples = synthetic_samples(photos, samples=args.samples, seed=args.seed)
    found_edited = edited = found_untouched = untouched = 0
    images, detected = Counter(), Counter()
    print(f"copy-move view on {len(samples)} synthetic samples ...", flush=True)
    started = time.perf_counter()
    views = synthetic_copy_moves(photos, samples=args.samples, seed=args.seed)
    seconds = (time.perf_counter() - started) / len(samples)
    for sample, view in zip(samples, views):
        found = view.map >= 0.5
        found_edited += int((found & sample.mask).sum())
        edited += int(sample.mask.sum())
        found_untouched += int((found & ~sample.mask).sum())
        untouched += int((~sample.mask).sum())
        images[sample.kind] += 1
        detected[sample.kind] += bool(found.any())
    p_edited, p_untouched = found_edited / max(edited, 1), found_untouched / max(untouched, 1)
    print("images with a duplicated region found, per kind: "
          + ", ".join(f"{kind} {detected[kind]}/{images[kind]}" for kind in sorted(images)))
    print(f"P(found | edited pixel) = {p_edited:.4f}, P(found | untouched pixel) = {p_untouched:.5f}, "
          f"{seconds:.3f} s per image")
    if p_edited > 0 and p_untouched > 0:
        print(f"EVIDENCE_LOGIT = {np.log(p_edited / p_untouched):.2f}")


if __name__ == "__main__":
    main()
