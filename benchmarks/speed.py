"""Speed benchmark: seconds per image for `localize` on a photo of a given size.

    python benchmarks/speed.py --method classical --megapixels 1 --repeat 5
    python benchmarks/speed.py --method transcam --weights runs/transcam/last.safetensors

Times what a batch pays per image once the process is running: decoding the file, the
analysis (and refiner), and writing the five outputs. Process start-up (Python, imports,
model loading) is reported separately, since a batch pays it once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="classical")
    parser.add_argument("--refiner")
    parser.add_argument("--weights", help="a checkpoint for the learned method (as `localize --weights`)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--megapixels", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    started = time.perf_counter()
    from imlforensic.io.images import load_image
    from imlforensic.pipeline.analysis import Analyzer
    from imlforensic.pipeline.outputs import OutputSet, write_maps, write_record
    from imlforensic.pipeline.records import RunSettings
    from imlforensic.registry import REGISTRY

    method = REGISTRY.with_weights(args.method, args.weights) if args.weights else args.method
    analyzer = Analyzer(method, device=args.device, refiner=args.refiner).load()
    startup = time.perf_counter() - started

    photo = data.astronaut()
    width, height = int(np.sqrt(args.megapixels * 1e6 * 1.5)), int(np.sqrt(args.megapixels * 1e6 / 1.5))  # 3:2
    photo = cv2.resize(photo, (width, height), interpolation=cv2.INTER_CUBIC)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        times, parts = [], []
        for i in range(args.repeat + 1):  # the first run warms caches and is not counted
            t0 = time.perf_counter()
            image = load_image(path)
            t1 = time.perf_counter()
            analysis = analyzer.analyse(image)
            t2 = time.perf_counter()
            outputs = OutputSet(Path(tmp) / "out" / f"photo{i}")
            record = analysis.record(RunSettings(command="speed"))
            record.outputs.update(write_maps(analysis, outputs))
            write_record(record, outputs)
            t3 = time.perf_counter()
            if i:
                times.append(t3 - t0)
                parts.append((t1 - t0, t2 - t1, t3 - t2))
    decode, analyse, write = (statistics.median(p[k] for p in parts) for k in range(3))
    print(f"method {args.method}" + (f" + {args.refiner}" if args.refiner else "")
          + f", {width}x{height} ({width * height / 1e6:.2f} MP), {os.cpu_count()} CPUs, device {args.device}")
    print(f"per image: median {statistics.median(times):.3f} s (decode {decode:.3f}, analyse {analyse:.3f}, "
          f"write {write:.3f}); min {min(times):.3f} s over {args.repeat} runs")
    print(f"start-up (imports, model load): {startup:.2f} s")


if __name__ == "__main__":
    main()
