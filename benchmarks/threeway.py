"""The three-way classifier's benchmark (docs/BENCHMARKS.md, "Three-way classifier").

    python benchmarks/threeway.py prepare  --work WORK   # sd tiles, Debian wallpapers -> WORK/data
    python benchmarks/threeway.py extract  --work WORK   # features of the pool -> WORK/cache (resumable)
    python benchmarks/threeway.py confound --work WORK   # format-only classifier, raw files vs chain
    python benchmarks/threeway.py protocols --work WORK  # cross-generator protocols and the ablation
                                                         # (ship/full saves WORK/threeway-lite0.safetensors)
    python benchmarks/threeway.py timing --work WORK     # seconds per 1 MP photo, mvcam vs threeway

``--data`` is the shared data folder (default ``../shared/data`` from the repository root). Nothing
is written into the repository; WORK holds the data, the caches and ``results/*.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from threeway_pool import DRAWS, heldout_pool, prepare, training_pool  # noqa: E402
from threeway_protocols import calibration_files  # noqa: E402

from imlforensic.models.features import build_extractor  # noqa: E402
from imlforensic.training.threeway_data import FeatureCache, extract_inference, extract_training  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def cmd_extract(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    extractor = build_extractor(args.extractor, args.extractor_weights)
    cache = FeatureCache(args.work / "cache", extractor)
    started = time.time()
    pool = training_pool(args.data, args.work)
    print(f"training pool: {len(pool)} pictures", flush=True)
    failed = extract_training(pool, DRAWS, cache, show_progress=True)
    print(
        f"training views cached: {len(cache.info)} rows, {len(failed)} failed, {time.time() - started:.0f} s",
        flush=True,
    )
    for line in failed:
        print("failed:", line)
    held = heldout_pool(args.data, args.work)
    extract_inference([i.path for i in held], cache, views=2, show_progress=True)
    # the validation pictures of the training side read as files, as the method reads them (calibration)
    extract_inference([i.path for i in calibration_files(pool)], cache, views=2, show_progress=True)
    print(f"held-out views cached: {len(cache.info)} rows in all, {time.time() - started:.0f} s", flush=True)
    cache.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("prepare", "extract", "confound", "protocols", "timing"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/imlf-threeway"))
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--extractor", default="lite0", help="lite0 | lite1 | lite2 | timm:MODEL")
    parser.add_argument("--extractor-weights", type=Path, default=None, help="local weights file for timm:MODEL")
    parser.add_argument("--threads", type=int, default=2)
    args, rest = parser.parse_known_args(argv)
    args.work, args.data = args.work.resolve(), args.data.resolve()
    if args.command == "prepare":
        prepare(args.data, args.work)
    elif args.command == "extract":
        cmd_extract(args)
    else:
        from threeway_protocols import run_command

        run_command(args, rest)


if __name__ == "__main__":
    main()
