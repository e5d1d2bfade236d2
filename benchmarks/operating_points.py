"""Pixel F1 and false alarm of a method at other operating points than its own threshold.

    python benchmarks/operating_points.py ../shared/data/dev/casia1@val --method mvcam

The tool uses one threshold for both decisions: an image is flagged when its score reaches it,
and then the mask is the map above it (``imlforensic.maps.binarize``). This script runs the
method once per image and re-reads every map with an image threshold and a pixel threshold
chosen separately, to show what trading edits found for false alarms can buy. A diagnostic:
choosing the shipped thresholds on these figures would tune them to the evaluation images.
"""

from __future__ import annotations

import argparse

import numpy as np
from tqdm import tqdm

from imlforensic.data.splits import load_split
from imlforensic.io.images import ImageLoadError, load_image
from imlforensic.maps import binarize
from imlforensic.metrics.pixel import f1_score, false_alarm_fraction
from imlforensic.pipeline.analysis import Analyzer


def _thresholds(text: str) -> list[float]:
    return [float(value) for value in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", help="dataset folder, or its @train / @val part")
    parser.add_argument("--method", default="mvcam")
    parser.add_argument("--image-thresholds", type=_thresholds, default=_thresholds("0.5,0.7,0.9,0.95,0.99"))
    parser.add_argument("--pixel-thresholds", type=_thresholds, default=_thresholds("0.5,0.6,0.7,0.8,0.9"))
    args = parser.parse_args()

    analyzer = Analyzer(args.method, device="cpu")
    grid = [(ti, tp) for ti in args.image_thresholds for tp in args.pixel_thresholds]
    f1 = {point: [] for point in grid}
    false_alarm = {point: [] for point in grid}
    for sample in tqdm(load_split(args.dataset), desc=args.method, unit="img"):
        try:
            image = load_image(sample.image)
        except ImageLoadError as exc:
            print(f"skipped: {exc}")
            continue
        output = analyzer.analyse(image).output
        gt = sample.load_mask(output.heatmap.shape)
        if sample.label == "manipulated" and gt is None:
            continue
        masks = {tp: binarize(output.heatmap, tp) for tp in args.pixel_thresholds}
        for ti, tp in grid:
            mask = masks[tp] if output.score >= ti else np.zeros(output.heatmap.shape, bool)
            if sample.label == "authentic":
                false_alarm[ti, tp].append(false_alarm_fraction(mask))
            else:
                f1[ti, tp].append(f1_score(gt, mask))

    print(f"{args.method} on {args.dataset}: pixel F1 / false alarm (rows: image threshold, columns: pixel threshold)")
    print("image \\ pixel " + "".join(f"{tp:>16.2f}" for tp in args.pixel_thresholds))
    for ti in args.image_thresholds:
        cells = "".join(f"{np.mean(f1[ti, tp]):>8.3f} /{np.mean(false_alarm[ti, tp]):.4f}" for tp in args.pixel_thresholds)
        print(f"{ti:>14.2f}" + cells)


if __name__ == "__main__":
    main()
