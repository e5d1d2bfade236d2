"""Benchmark of the segmentation refiners (issue 4): coarse map vs each refiner, box-to-mask, timing.

Three modes (combinable):

* default: for every image of the datasets, the coarse map of ``--method`` is computed once and
  refined by each refiner, through the tool's pipeline (``Analyzer.analyse``, as ``localize
  --refiner``); pixel F1 at the threshold, IoU, best F1, pixel AUC (manipulated images), false
  alarms (flagged fraction of authentic images) and seconds per image, for the coarse map and
  each refiner.
* ``--box-to-mask sam,grabcut``: boxes around the ground-truth masks' connected components are
  turned into masks (paper 2's annotation step, ``refine --box``'s path); mean IoU against the
  ground truth.
* ``--timing PHOTO``: seconds per refinement of a 1-megapixel version of PHOTO with a blurred
  blob as coarse map (so that every backend does its full work), after one warm-up run.

Examples (from the project root)::

    python benchmarks/refine_benchmark.py ../shared/data/dev/casia1 ../shared/data/dev/casia2_samples \\
        --method classical --refiners superpixel,superpixel-fz,grabcut,sam --json runs/refine.json
    python benchmarks/refine_benchmark.py ../shared/data/dev/casia1 ../shared/data/dev/casia2_samples \\
        --box-to-mask sam,grabcut --no-refine
    python benchmarks/refine_benchmark.py --timing PHOTO.jpg --refiners superpixel,grabcut,sam
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from imlforensic.data.splits import load_split
from imlforensic.io.images import ImageLoadError, load_image
from imlforensic.metrics.pixel import iou
from imlforensic.metrics.summary import METRIC_LABELS, ImageRecord, summarize
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.evaluation import score_analysis
from imlforensic.refiners.base import Refiner
from imlforensic.refiners.bayes import FusionParams
from imlforensic.refiners.prompts import box_mask
from imlforensic.registry import REGISTRY

COLUMNS = ("pixel_f1", "pixel_iou", "pixel_best_f1", "pixel_auc", "false_alarm")


def _params(overrides: list[str]) -> FusionParams:
    values = {}
    for item in overrides:
        key, _, value = item.partition("=")
        values[key.strip()] = float(value)
    return FusionParams().with_overrides(**values)


def _table(rows: list[tuple[str, str, dict]]) -> str:
    headers = ["dataset", "map"] + [METRIC_LABELS[c] for c in COLUMNS] + ["s/image (refine)"]
    body = []
    for dataset, name, summary in rows:
        cells = [dataset, name] + ["-" if summary[c] is None else f"{summary[c]:.3f}" for c in COLUMNS]
        cells.append(f"{summary['refine_seconds']:.3f}")
        body.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in body]
    return "\n".join(lines)


def refine_benchmark(args: argparse.Namespace, refiners: list[str], params: FusionParams) -> dict:
    """Each image's coarse map is computed once by the pipeline and refined by each refiner through
    the same :meth:`Analyzer.analyse` that ``localize --refiner`` uses (``coarse=`` the method's output)."""
    coarse = Analyzer(args.method, device="cpu").load()
    analyzers = {name: Analyzer(args.method, device="cpu", refiner=name, fusion=params).load() for name in refiners}
    results: dict = {}
    rows = []
    for root in args.datasets:
        samples = load_split(str(root))
        if args.limit:
            samples = samples[: args.limit]
        records: dict[str, list[ImageRecord]] = {"coarse": []} | {name: [] for name in refiners}
        seconds: dict[str, list[float]] = {name: [] for name in records}
        for i, sample in enumerate(samples):
            try:
                image = load_image(sample.image)
            except ImageLoadError as exc:
                print(f"skipped: {exc}", file=sys.stderr)
                continue
            started = time.perf_counter()
            base = coarse.analyse(image)
            coarse_seconds = time.perf_counter() - started
            analyses = {"coarse": (base, 0.0)}
            for name, analyzer in analyzers.items():
                started = time.perf_counter()
                analyses[name] = (analyzer.analyse(image, coarse=base.output), time.perf_counter() - started)
            for name, (analysis, refine_seconds) in analyses.items():
                records[name].append(score_analysis(sample, analysis, coarse_seconds + refine_seconds))
                seconds[name].append(refine_seconds)
            if args.progress and (i + 1) % 50 == 0:
                print(f"{root}: {i + 1}/{len(samples)}", file=sys.stderr)
        results[str(root)] = {}
        for name, recs in records.items():
            summary = summarize(recs).as_dict()
            summary["refine_seconds"] = float(np.mean(seconds[name])) if seconds[name] else 0.0
            results[str(root)][name] = summary
            rows.append((Path(root).name, name, summary))
    print(f"method {args.method}, threshold {coarse.threshold}, fusion {params.for_threshold(coarse.threshold)}")
    print(_table(rows))
    return results


def gt_boxes(gt: np.ndarray, min_fraction: float = 0.05) -> list[tuple[float, float, float, float]]:
    """Boxes around the connected components of a ground-truth mask (small fragments left out)."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(gt.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = [i + 1 for i, a in enumerate(areas) if a >= max(16, min_fraction * gt.sum())]
    return [
        (float(stats[i, 0]), float(stats[i, 1]), float(stats[i, 0] + stats[i, 2]), float(stats[i, 1] + stats[i, 3]))
        for i in keep
    ]


def box_benchmark(args: argparse.Namespace, names: list[str]) -> dict:
    """Boxes around the ground truth's regions through ``refine --box``'s path (an annotation)."""
    analyzers = {name: Analyzer(None, device="cpu", refiner=name).load() for name in names}
    results: dict = {}
    for root in args.datasets:
        samples = [s for s in load_split(str(root)) if s.label == "manipulated" and s.mask is not None]
        if args.limit:
            samples = samples[: args.limit]
        ious: dict[str, list[float]] = {name: [] for name in names} | {"box": []}
        seconds: dict[str, list[float]] = {name: [] for name in names}
        for sample in samples:
            image = load_image(sample.image)
            gt = sample.load_mask(image.rgb.shape[:2])
            boxes = gt_boxes(gt)
            if not boxes:
                continue
            ious["box"].append(iou(gt, box_mask(boxes, gt.shape)))
            for name, analyzer in analyzers.items():
                started = time.perf_counter()
                analysis = analyzer.analyse(image, boxes=boxes)
                seconds[name].append(time.perf_counter() - started)
                ious[name].append(iou(gt, analysis.mask))
        results[str(root)] = {
            name: {"mean_iou": float(np.mean(v)), "images": len(v), "seconds": float(np.mean(seconds.get(name) or [0.0]))}
            for name, v in ious.items() if v
        }
        for name, r in results[str(root)].items():
            print(f"box-to-mask  {Path(root).name:<16} {name:<12} mean IoU {r['mean_iou']:.3f}  ({r['images']} images, {r['seconds']:.3f} s/image)")
    return results


def timing(photo: Path, refiners: list[str], repeats: int = 3) -> dict:
    image = load_image(photo).rgb
    h, w = image.shape[:2]
    scale = (1_000_000 / (h * w)) ** 0.5
    rgb = cv2.resize(image, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_AREA)
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    coarse = np.exp(-(((xx - 0.45 * w) / (0.12 * w)) ** 2 + ((yy - 0.5 * h) / (0.15 * h)) ** 2)).astype(np.float32)
    coarse = 0.05 + 0.9 * coarse
    results = {}
    for name in refiners:
        started = time.perf_counter()
        model = REGISTRY.load(name, "cpu", expect=Refiner)
        load = time.perf_counter() - started
        model.refine(rgb, coarse)  # warm-up
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            model.refine(rgb, coarse)
            runs.append(time.perf_counter() - started)
        results[name] = {"seconds": float(np.median(runs)), "runs": runs, "load_seconds": load, "size": [w, h]}
        print(f"timing  {name:<14} {w}x{h}: {np.median(runs):.2f} s per image (median of {repeats}; load {load:.2f} s)")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="*", help="dataset folders (labels.csv layout); FOLDER@val for its held-out half")
    parser.add_argument("--method", default="classical", help="method giving the coarse map")
    parser.add_argument("--refiners", default="superpixel,superpixel-fz,grabcut,sam", help="comma-separated refiners")
    parser.add_argument("--box-to-mask", default="", help="comma-separated refiners for the box-to-mask benchmark")
    parser.add_argument("--no-refine", action="store_true", help="skip the coarse-vs-refined benchmark")
    parser.add_argument("--timing", type=Path, help="photo for the 1-megapixel timing")
    parser.add_argument("--param", action="append", default=[], help="fusion parameter override, e.g. region_prior=0.3")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N images of each dataset")
    parser.add_argument("--json", type=Path, help="write all results as JSON here")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    refiners = [r for r in args.refiners.split(",") if r]
    params = _params(args.param)
    results: dict = {"method": args.method, "fusion": params.__dict__, "command": " ".join(sys.argv)}
    if args.datasets and not args.no_refine:
        results["refine"] = refine_benchmark(args, refiners, params)
    if args.datasets and args.box_to_mask:
        results["box_to_mask"] = box_benchmark(args, [r for r in args.box_to_mask.split(",") if r])
    if args.timing:
        results["timing"] = timing(args.timing, refiners)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
