"""Accuracy benchmark: run a method (and optional refiner) over dataset folders, print metrics.

    python benchmarks/benchmark.py ../shared/data/dev/casia1 ../shared/data/dev/casia2_samples --method classical

Same code path as ``imlforensic evaluate`` (imlforensic.pipeline.evaluation). Metrics: pixel F1
at the method's own mask, IoU, best-threshold F1, pixel AUC (all averaged over manipulated
images with masks), false-alarm fraction (mean flagged share of authentic images), image AUC,
balanced accuracy of the verdicts, seconds per image (decode + analysis + metrics).
"""

from __future__ import annotations

import argparse
import json
import platform

import torch  # noqa: F401  (imported up front so its start-up is not charged to the first image)

from imlforensic import __version__
from imlforensic.cli.evaluate import format_table
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.evaluation import evaluate_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+")
    parser.add_argument("--method", action="append", help="repeatable; default: classical, sel, noise")
    parser.add_argument("--refiner")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args()
    results = {}
    for method in args.method or ["classical", "sel", "noise"]:
        analyzer = Analyzer(method, device=args.device, refiner=args.refiner)
        rows = [(root, evaluate_dataset(root, analyzer, show_progress=False).summary) for root in args.datasets]
        results[method] = {root: summary.as_dict() for root, summary in rows}
        if not args.json:
            print(f"## {method}" + (f" + {args.refiner}" if args.refiner else "") + f" (threshold {analyzer.threshold})")
            print(format_table(rows))
            print()
    if args.json:
        print(json.dumps({"imlforensic": __version__, "machine": platform.processor() or platform.machine(),
                          "results": results}, indent=2))


if __name__ == "__main__":
    main()
