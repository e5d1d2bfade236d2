"""Benchmark of BoxPromptIML's teacher (issue 18): pseudo-mask IoU against the ground truth.

For every manipulated image with a mask: the boxes of the mask's connected regions
(:func:`imlforensic.training.boxes.boxes_from_mask`, the stand-in for an analyst's rough boxes,
optionally widened by ``--margin``) are given to the teacher exactly as ``imlforensic annotate``
does (:class:`imlforensic.training.annotate.Teacher`); the pseudo mask is ``teacher logit >= 0``
(posterior >= 0.5). Compared: ``box`` (the boxes themselves as the mask, the baseline), ``sam``
(the segmenter alone), and ``sam+METHOD`` for each ``--fuse`` method (the segmenter's candidates
fused with that method's forensic map inside the boxes by the Bayesian fusion). Mean IoU and F1
over images, and seconds per image. One JSON line per image goes to ``--jsonl`` (re-running skips
the images already there, so an interrupted run resumes).

Example (from the project root)::

    python benchmarks/boxprompt_teacher.py ../shared/data/dev/casia1@val ../shared/data/dev/casia2_samples \\
        --fuse mvcam --jsonl runs/boxprompt-teacher.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from imlforensic.data.splits import load_split
from imlforensic.io.images import load_image
from imlforensic.methods.base import Method
from imlforensic.metrics.pixel import f1_score, iou
from imlforensic.refiners.base import Refiner
from imlforensic.refiners.prompts import box_mask
from imlforensic.registry import REGISTRY
from imlforensic.training.annotate import Teacher
from imlforensic.training.boxes import boxes_from_mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", help="dataset specs, e.g. ../shared/data/dev/casia1@val")
    parser.add_argument("--refiner", default="sam", help="teacher segmenter (default: sam, the best installed)")
    parser.add_argument("--fuse", default="", help="comma-separated methods whose map is fused in, e.g. mvcam")
    parser.add_argument("--margin", type=float, default=0.0, help="widen each box by this share of its size")
    parser.add_argument("--limit", type=int, default=0, help="at most this many images per dataset")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jsonl", type=Path, required=True, help="per-image results (resumable)")
    args = parser.parse_args()

    refiner = REGISTRY.load(args.refiner, args.device, expect=Refiner)
    teachers = {"sam": Teacher(refiner)}
    for name in [n for n in args.fuse.split(",") if n]:
        teachers[f"sam+{name}"] = Teacher(refiner, REGISTRY.load(name, args.device, expect=Method))
    done: set[tuple[str, str]] = set()
    rows: list[dict] = []
    if args.jsonl.is_file():
        for line in args.jsonl.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("margin") == args.margin:
                rows.append(row)
                done.add((row["dataset"], row["image"]))
    args.jsonl.parent.mkdir(parents=True, exist_ok=True)
    with open(args.jsonl, "a", encoding="utf-8") as log:
        for spec in args.datasets:
            samples = [s for s in load_split(spec) if s.label == "manipulated" and s.mask is not None]
            for sample in samples[: args.limit or None]:
                if (spec, sample.name) in done:
                    continue
                image = load_image(sample.image)
                gt = sample.load_mask(image.rgb.shape[:2])
                assert gt is not None
                boxes = boxes_from_mask(gt, margin=args.margin)
                if not boxes:
                    continue
                row: dict = {"dataset": spec, "image": sample.name, "margin": args.margin, "boxes": len(boxes)}
                shown = box_mask(boxes, gt.shape)
                row["box"] = {"iou": iou(gt, shown), "f1": f1_score(gt, shown)}
                for name, teacher in teachers.items():
                    started = time.perf_counter()
                    mask = teacher.logits(image, boxes) >= 0.0
                    row[name] = {"iou": iou(gt, mask), "f1": f1_score(gt, mask), "s": time.perf_counter() - started}
                log.write(json.dumps(row) + "\n")
                log.flush()
                rows.append(row)
    names = ["box", *teachers]
    print(f"teacher: {teachers['sam'].name}; boxes widened by {args.margin:g}")
    print("| dataset | images | " + " | ".join(f"{n} IoU / F1" for n in names) + " |")
    print("|---|---|" + "---|" * len(names))
    for spec in args.datasets:
        chosen = [r for r in rows if r["dataset"] == spec and all(n in r for n in names)]
        if not chosen:
            continue
        cells = []
        for n in names:
            seconds = f", {np.mean([r[n]['s'] for r in chosen]):.2f} s" if "s" in chosen[0][n] else ""
            cells.append(
                f"{np.mean([r[n]['iou'] for r in chosen]):.3f} / {np.mean([r[n]['f1'] for r in chosen]):.3f}{seconds}"
            )
        print(f"| {spec} | {len(chosen)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
