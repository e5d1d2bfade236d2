"""Throughput of batched inference: images per second at 1 megapixel, and the decode-only rate.

    python benchmarks/throughput.py --method mvcam --images 24 --batch-size 4 --workers 1
    python benchmarks/throughput.py --device cuda --precision bf16 --workers 8 --batch-size 16 --images 256

What it times, for the default method (``mvcam``; the learned localizer with its sel and
copy-move views):

* **decoding and the CPU views in DataLoader workers**: each worker decodes a picture
  (:func:`imlforensic.io.images.load_image`) and computes what runs on the CPU: the network's
  input views and, for ``mvcam``, the copy-move view and the sel anomaly;
* **the network on batches** on the device: views stacked, copied from pinned memory
  (``non_blocking``) in channels-last layout, under ``torch.autocast`` in bf16 or fp16 when asked
  (:meth:`LearnedLocalizer.run_batch`, the method's own network path);
* **the rest of the pipeline per image**: the method's output from those logits
  (:meth:`LearnedLocalizer.output_from_logits`) and :meth:`Analyzer.analyse` with it as the
  coarse output (threshold, verdict, mask: the one per-image path).

It prints images per second for that, for decoding alone with the same workers (the decode-only
rate), their ratio, the plain per-image rate (``Analyzer.analyse`` one picture after another,
as ``localize`` runs), and how far the batched maps are from the per-image ones (fp32: the same
up to float rounding; half precision: a little further). Writing the PNGs is not included.
Other methods (no batched network path) are timed per image in the workers.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data
from torch.utils.data import DataLoader, Dataset

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def make_photos(folder: Path, count: int, megapixels: float) -> list[Path]:
    """``count`` 1-MP (3:2) JPEGs (quality 92) made from scikit-image's sample photos."""
    width, height = int(np.sqrt(megapixels * 1e6 * 1.5)) // 8 * 8, int(np.sqrt(megapixels * 1e6 / 1.5)) // 8 * 8
    paths = []
    for index in range(count):
        photo = getattr(data, PHOTOS[index % len(PHOTOS)])()
        photo = cv2.resize(photo[..., :3], (width, height), interpolation=cv2.INTER_CUBIC)
        if index >= len(PHOTOS):  # distinct files: shifted and mirrored copies
            photo = np.ascontiguousarray(np.roll(photo, 8 * index, axis=1)[:, :: (-1) ** index])
        path = folder / f"photo{index:04d}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        paths.append(path)
    return paths


class Pictures(Dataset):
    """Decoded pictures and, with ``method``, their CPU views (computed in the worker)."""

    def __init__(self, paths: list[Path], method=None) -> None:
        self.paths = paths
        self.method = method

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        from imlforensic.io.images import load_image
        from imlforensic.models.inputs import build_views

        image = load_image(self.paths[index])
        if self.method is None:
            return {"image": image}
        views = torch.from_numpy(build_views(image.rgb, self.method.model.config, image.luma_table))
        copies, anomaly = self.method.side_views(image)
        return {"image": image, "views": views, "copies": copies, "anomaly": anomaly}


def collate(items: list[dict]) -> dict:
    batch = {key: [item[key] for item in items] for key in items[0]}
    if "views" in batch:
        batch["views"] = torch.stack(batch["views"])
    return batch


def loader(dataset: Dataset, batch_size: int, workers: int, pin: bool) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="mvcam")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto")
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--check", type=int, default=4, help="pictures compared with the per-image path")
    args = parser.parse_args()

    from imlforensic.methods.mvcam import LearnedLocalizer
    from imlforensic.pipeline.analysis import Analyzer
    from imlforensic.registry import resolve_device

    device = resolve_device(args.device)
    cuda = device.startswith("cuda")
    precision = args.precision if args.precision != "auto" else ("bf16" if cuda else "fp32")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if cuda:
        torch.backends.cudnn.benchmark = True
    analyzer = Analyzer(args.method, device=device).load()
    method = analyzer.method
    batched = isinstance(method, LearnedLocalizer)
    gpu = torch.cuda.get_device_name(torch.device(device)) if cuda else "none"
    print(
        f"method {args.method}, device {device} ({gpu}), precision {precision}, batch {args.batch_size}, "
        f"{args.workers} DataLoader workers, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    )
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photos(Path(tmp), args.images, args.megapixels)
        first = cv2.imread(str(paths[0]))
        print(
            f"{len(paths)} pictures of {first.shape[1]}x{first.shape[0]} ({first.shape[0] * first.shape[1] / 1e6:.2f} MP)"
        )

        def run(decode_only: bool, pictures: list[Path] = paths) -> tuple[float, list]:
            dataset = Pictures(pictures, None if decode_only or not batched else method)
            outputs = []
            started = time.perf_counter()
            for batch in loader(dataset, args.batch_size, args.workers, pin=cuda):
                if decode_only:
                    continue
                if not batched:
                    outputs += [analyzer.analyse(image) for image in batch["image"]]
                    continue
                assert isinstance(method, LearnedLocalizer)
                views = batch["views"].to(device, non_blocking=True)
                with torch.autocast(
                    device_type="cuda" if cuda else "cpu", dtype=dtype or torch.float32, enabled=dtype is not None
                ):
                    logits = method.run_batch(views)
                for image, logit, copies, anomaly in zip(batch["image"], logits, batch["copies"], batch["anomaly"]):
                    output = method.output_from_logits(logit, image, copies, anomaly)
                    outputs.append(analyzer.analyse(image, coarse=output))
            if cuda:
                torch.cuda.synchronize()
            return len(pictures) / (time.perf_counter() - started), outputs

        run(decode_only=False, pictures=paths[: args.batch_size])  # warm-up: kernels, caches, allocator
        decode_rate, _ = run(decode_only=True)
        rate, analyses = run(decode_only=False)
        from imlforensic.io.images import load_image

        started = time.perf_counter()
        sequential = [analyzer.analyse(load_image(path)) for path in paths[: args.check]]
        per_image_rate = len(sequential) / (time.perf_counter() - started)
        differences = [float(np.abs(a.heatmap - b.heatmap).max()) for a, b in zip(analyses, sequential)]
        agree = sum(a.verdict == b.verdict for a, b in zip(analyses, sequential))
    print(f"batched analysis: {rate:.2f} images/s")
    print(f"decode only (same workers): {decode_rate:.2f} images/s")
    print(f"ratio analysis / decode-only: {rate / decode_rate:.3f}")
    print(f"per image (Analyzer.analyse one after another, {len(sequential)} pictures): {per_image_rate:.2f} images/s")
    print(
        f"batched vs per-image maps on {len(sequential)} pictures: max |difference| {max(differences):.2e}, "
        f"verdicts agree {agree}/{len(sequential)}"
    )


if __name__ == "__main__":
    main()
