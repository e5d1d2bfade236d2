"""Dev-set check of the fusion's global parameters (how the defaults in bayes.py were checked).

Masks can only differ from the coarse ones on images the method flags (an image judged authentic
keeps an empty mask, refined or not), so the sweep caches those images once and compares, for
each setting, pixel F1 / IoU / best F1 / AUC on the flagged manipulated images and the flagged
fraction on the flagged authentic images (the false alarms), against the coarse map.

    python benchmarks/refine_sweep.py ../shared/data/dev/casia1 ../shared/data/dev/casia2_samples \\
        --refiners superpixel,grabcut,sam --setting neutral=0.5,region_prior=0.5 --setting neutral=0.3,region_prior=0.15
"""

from __future__ import annotations

import argparse

import numpy as np

from imlforensic.data.datasets import load_dataset
from imlforensic.io.images import load_image
from imlforensic.maps import binarize
from imlforensic.metrics.pixel import auc, best_f1, f1_score, iou
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.refiners.bayes import FusionParams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--method", default="classical")
    parser.add_argument("--refiners", default="superpixel,grabcut,sam")
    parser.add_argument("--setting", action="append", default=[], help="comma-separated key=value fusion overrides")
    args = parser.parse_args()
    analyzer = Analyzer(args.method, device="cpu")
    threshold = analyzer.threshold
    cases = []
    for root in args.datasets:
        for sample in load_dataset(root):
            image = load_image(sample.image)
            output = analyzer.analyse(image).output
            if output.score >= threshold:
                gt = sample.load_mask(output.heatmap.shape)
                cases.append((sample.label, image, output, gt))
    print(f"{len(cases)} flagged images, {sum(c[0] == 'manipulated' for c in cases)} manipulated")
    refiners = args.refiners.split(",")
    for setting in args.setting or [""]:
        overrides = {k: float(v) for k, v in (kv.split("=") for kv in setting.split(",") if kv)}
        fusion = FusionParams().with_overrides(**overrides)
        models = {r: Analyzer(args.method, device="cpu", refiner=r, fusion=fusion) for r in refiners}
        scores: dict[str, list] = {"coarse": []} | {r: [] for r in models}
        alarms: dict[str, list] = {k: [] for k in scores}
        for label, image, output, gt in cases:
            maps = {"coarse": output.heatmap} | {r: m.analyse(image, coarse=output).heatmap for r, m in models.items()}
            for name, heatmap in maps.items():
                mask = binarize(heatmap, threshold)
                if label == "manipulated" and gt is not None and gt.any():
                    scores[name].append((f1_score(gt, mask), iou(gt, mask), best_f1(gt, heatmap)[0], auc(gt, heatmap)))
                elif label == "authentic":
                    alarms[name].append(mask.mean())
        print(f"setting: {setting or 'defaults'}")
        for name, values in scores.items():
            a = np.array(values)
            print(f"  {name:<14} F1 {a[:, 0].mean():.3f}  IoU {a[:, 1].mean():.3f}  best F1 {a[:, 2].mean():.3f}  "
                  f"AUC {np.nanmean(a[:, 3]):.3f}  flagged on flagged authentic {np.mean(alarms[name]):.4f}")


if __name__ == "__main__":
    main()
