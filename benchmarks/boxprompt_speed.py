"""Seconds per image of ``boxprompt`` against the default ``mvcam`` on the same 1-megapixel photo,
in the same process, after one warm-up each (issue 18's speed target: 0.7 times mvcam's or less).

Usage (from the project root; CHECKPOINT from ``imlforensic train-boxprompt``, the speed does not
depend on how long it was trained)::

    OMP_NUM_THREADS=1 python benchmarks/boxprompt_speed.py PHOTO.jpg CHECKPOINT.safetensors

Prints wall-clock and process CPU seconds of two rounds (CPU time is the fairer figure on a shared machine).
"""

from __future__ import annotations

import dataclasses
import sys
import time

import cv2

from imlforensic.io.images import load_image
from imlforensic.methods.base import Method
from imlforensic.registry import REGISTRY


def main() -> None:
    photo = load_image(sys.argv[1])
    h, w = photo.rgb.shape[:2]
    scale = (1_000_000 / (h * w)) ** 0.5
    rgb = cv2.resize(photo.rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    image = dataclasses.replace(photo, rgb=rgb, luma_table=None)
    entries = {"mvcam": REGISTRY.entry("mvcam"), "boxprompt": REGISTRY.with_weights("boxprompt", sys.argv[2])}
    methods = {name: REGISTRY.load(entry, "cpu", expect=Method) for name, entry in entries.items()}
    print(f"image {rgb.shape[1]}x{rgb.shape[0]}")
    for method in methods.values():
        method.analyse(image)
    for _ in range(2):
        for name, method in methods.items():
            wall, cpu = time.perf_counter(), time.process_time()
            method.analyse(image)
            print(
                f"{name:<10} wall {time.perf_counter() - wall:.2f} s  cpu {time.process_time() - cpu:.2f} s", flush=True
            )


if __name__ == "__main__":
    main()
