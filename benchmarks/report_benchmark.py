"""Time a 100-image `imlforensic report`, the way a user runs it.

    python benchmarks/report_benchmark.py [--images 100] [--workdir /tmp/report-bench] [--figures]

1. makes N distinct JPEGs from the bundled examples (flips, portrait transposes, crops,
   re-saved at JPEG quality 85-95, so every file has its own sha256);
2. ``imlforensic localize IMAGES --out RESULTS --json > RESULTS/batch.jsonl`` (timed, for reference);
3. ``imlforensic report RESULTS -o report.pdf`` (timed: the report from a results folder);
4. ``imlforensic report IMAGES -o e2e.pdf`` (timed: analysis and report in one command),
   unless ``--skip-end-to-end``; with ``--figures`` step 3 also writes every panel as figures.

Each step is a separate process (``python -m imlforensic``), so import time is included. The load
average is printed before and after: the machine may be shared.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "images"


def make_images(folder: Path, count: int) -> list[Path]:
    sources = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(EXAMPLES.glob("*.jpg"))]
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        rgb = sources[i % len(sources)]
        variant = (i // len(sources)) % 4
        if variant == 1:
            rgb = rgb[:, ::-1]
        elif variant == 2:
            rgb = np.ascontiguousarray(rgb.transpose(1, 0, 2))  # portrait
        elif variant == 3:
            h, w = rgb.shape[:2]
            rgb = rgb[h // 10: h - h // 12, w // 8: w - w // 10]
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, "JPEG", quality=int(rng.integers(85, 96)))
        path = folder / f"img_{i:03d}.jpg"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


def run(args: list[str], stdout=None) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "imlforensic", *args], check=False, env=env, stdout=stdout)
    return time.perf_counter() - started


def pages_of(pdf: Path) -> int:
    from pypdf import PdfReader

    return len(PdfReader(str(pdf)).pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/imlforensic-report-bench"))
    parser.add_argument("--figures", action="store_true", help="also export the figures in step 3")
    parser.add_argument("--skip-end-to-end", action="store_true")
    args = parser.parse_args()

    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    images, results = work / "images", work / "results"
    make_images(images, args.images)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")

    results.mkdir(parents=True)
    with open(results / "batch.jsonl", "w", encoding="utf-8") as log:
        t_localize = run(["localize", str(images), "--out", str(results), "--json", "-q"], stdout=log)
    print(f"localize  {args.images} images: {t_localize:6.1f} s")

    report_args = ["report", str(results), "-o", str(work / "report.pdf"), "--title", "Benchmark", "-q"]
    if args.figures:
        report_args += ["--figures", str(work / "figures")]
    t_report = run(report_args)
    pdf = work / "report.pdf"
    print(f"report    from results folder: {t_report:6.1f} s  ({pages_of(pdf)} pages, {pdf.stat().st_size / 1e6:.1f} MB)"
          + (f", {len(list((work / 'figures').iterdir()))} figure files" if args.figures else ""))

    if not args.skip_end_to_end:
        t_e2e = run(["report", str(images), "-o", str(work / "e2e.pdf"), "--title", "Benchmark", "-q"])
        print(f"report    from images (localize + report): {t_e2e:6.1f} s  ({pages_of(work / 'e2e.pdf')} pages)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
