"""Issue 19's benchmark: the readings of the transcam network's map against ``mvcam-net``.

    python benchmarks/transcam_maps.py --weights runs/transcam/last.safetensors \\
        ../shared/data/dev/casia1@val ../shared/data/dev/casia2_samples

For each dataset, the pixel AUC and the best-threshold F1 (both averaged over the manipulated
images with masks, as ``imlforensic evaluate`` reports them) and the image AUC of:

* ``cam``: the CNN branch's class activation map alone (``transcam-cam``);
* ``attention``: the class token's attention to the patches alone (``transcam-attention``);
* ``product``: the CAM refined by the patch affinity, ``A p`` (``transcam``, the method's map);
* ``cam-x-attention``: the CAM times the class token's relative attention, cell by cell (the other
  reading of "CAM times attention", for comparison);
* ``mvcam-net``: the default network alone, with its shipped weights.

Every reading goes through the pipeline users run (``imlforensic.pipeline.evaluation``: decode,
``Analyzer.analyse``, the metrics of ``imlforensic.metrics``); the transcam readings are the
registry's entries with ``--weights`` (as ``imlforensic evaluate -m transcam --weights FILE``), the
``cam-x-attention`` one the same entry reading another output. The paper's claim (section 3.5)
is that the product beats both of its factors.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import torch  # noqa: F401  (imported up front so its start-up is not charged to the first image)

from imlforensic import __version__
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.evaluation import evaluate_dataset
from imlforensic.registry import REGISTRY

READINGS = {"cam": "transcam-cam", "attention": "transcam-attention", "product": "transcam"}
COLUMNS = ("pixel_auc", "pixel_best_f1", "image_auc", "seconds_per_image")


def _analyzers(weights: Path, device: str, baseline: bool) -> dict[str, Analyzer]:
    analyzers = {
        reading: Analyzer(REGISTRY.with_weights(name, weights), device=device) for reading, name in READINGS.items()
    }
    product = REGISTRY.with_weights("transcam", weights)
    cell = dataclasses.replace(product, name="transcam-cam-x-attention", extra={"map": "cam-x-attention"})
    analyzers["cam-x-attention"] = Analyzer(cell, device=device)
    if baseline:
        analyzers["mvcam-net"] = Analyzer("mvcam-net", device=device)
    return analyzers


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", help="dataset folders or FOLDER@val")
    parser.add_argument(
        "--weights", type=Path, required=True, help="a checkpoint of `imlforensic train --network transcam`"
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-baseline", action="store_true", help="leave mvcam-net out")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results: dict[str, dict[str, dict]] = {}
    started = time.perf_counter()
    for reading, analyzer in _analyzers(args.weights, args.device, not args.no_baseline).items():
        results[reading] = {}
        for dataset in args.datasets:
            summary = evaluate_dataset(dataset, analyzer, show_progress=False).summary
            results[reading][dataset] = summary.as_dict()
    for dataset in args.datasets:
        print(f"## {dataset}")
        print("| reading | " + " | ".join(COLUMNS) + " |")
        print("|---" * (len(COLUMNS) + 1) + "|")
        for reading, rows in results.items():
            row = rows[dataset]
            print(f"| {reading} | " + " | ".join(_cell(row[c]) for c in COLUMNS) + " |")
        print()
    if args.json:
        payload = {
            "imlforensic": __version__,
            "weights": str(args.weights),
            "machine": platform.processor() or platform.machine(),
            "seconds": round(time.perf_counter() - started, 1),
            "results": results,
        }
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
