"""Where the start-up of an invocation goes: imports, model building, the first picture.

    python benchmarks/startup.py --repeat 3
    python benchmarks/startup.py --importtime          # also the heaviest imports (python -X importtime)

Each measurement runs in a fresh interpreter. Phases, in one process, in this order: importing
the command line (``imlforensic.cli``), importing the default method's module (PyTorch, timm,
the views), building the model (``REGISTRY.load``: network, weights, checks), the first analysis
of a 1-megapixel photo and a second one (the steady state, for comparison). Then the whole
``imlforensic detect PHOTO`` process, as a user runs it. Wall-clock and CPU seconds (user +
system) are both given: on a shared machine the CPU seconds move much less with the load.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PHASES = r"""
import json, resource, sys, time
def now():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), usage.ru_utime + usage.ru_stime
marks = [("start", *now())]
import imlforensic.cli
marks.append(("import imlforensic.cli", *now()))
import imlforensic.methods.mvcam
marks.append(("import the method (torch, timm, views)", *now()))
from imlforensic.registry import REGISTRY
REGISTRY.load(sys.argv[2])
marks.append(("build the model", *now()))
from imlforensic.io.images import load_image
from imlforensic.pipeline.analysis import Analyzer
analyzer = Analyzer(sys.argv[2])
analyzer.analyse(load_image(sys.argv[1]))
marks.append(("first 1-MP analysis", *now()))
analyzer.analyse(load_image(sys.argv[1]))
marks.append(("second 1-MP analysis", *now()))
print(json.dumps([(name, wall - marks[i][1], cpu - marks[i][2]) for i, (name, wall, cpu) in enumerate(marks[1:])]))
print(json.dumps(sorted(m for m in sys.modules if "." not in m)))
"""


TIMM_AB = r"""
import resource, sys
if sys.argv[1] == "tool":
    import imlforensic.models.network  # timm as the tool imports it (without the Hugging Face Hub client)
else:
    import timm, imlforensic.models.network  # timm as it imports itself, hub client included
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_utime + usage.ru_stime, len(sys.modules))
"""


def child_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def timed(command: list[str]) -> tuple[float, float, str]:
    """(wall, CPU of the child, stdout) of one run."""
    import time

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(command, env=child_env(), capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), out


def heaviest_imports(photo: Path, top: int) -> list[tuple[str, float]]:
    """Self import time by top-level package for ``detect PHOTO`` (python -X importtime)."""
    command = [sys.executable, "-X", "importtime", "-m", "imlforensic", "detect", str(photo), "-q"]
    err = subprocess.run(command, env=child_env(), capture_output=True, text=True).stderr
    totals: collections.Counter[str] = collections.Counter()
    for line in err.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \| \s*(\S+)", line)
        if match:
            totals[match.group(2).split(".")[0]] += int(match.group(1))
    return [(name, us / 1e6) for name, us in totals.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="mvcam")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument(
        "--timm-ab",
        type=int,
        default=0,
        help="also: N alternating imports of the network module, timm with and without its hub client",
    )
    args = parser.parse_args()
    if args.timm_ab:
        found: dict[str, list[tuple[float, int]]] = {"plain": [], "tool": []}
        for _ in range(args.timm_ab):
            for mode in found:
                out = timed([sys.executable, "-c", TIMM_AB, mode])[2].split()
                found[mode].append((float(out[0]), int(out[1])))
        for mode, values in found.items():
            print(
                f"import imlforensic.models.network, timm {'as the tool imports it' if mode == 'tool' else 'with its hub client'}: "
                f"CPU median {statistics.median(v[0] for v in values):.2f} s of {[round(v[0], 2) for v in values]}, {values[0][1]} modules"
            )
    import cv2
    import numpy as np
    from skimage import data

    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.jpg"
        rgb = cv2.resize(data.astronaut(), (1224, 816), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(
            str(photo), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
        )
        phases: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
        modules: list[str] = []
        whole, bare, help_runs = [], [], []
        for _ in range(args.repeat):
            _, _, out = timed([sys.executable, "-c", PHASES, str(photo), args.method])
            lines = out.splitlines()
            for name, wall, cpu in json.loads(lines[-2]):
                phases[name].append((wall, cpu))
            modules = json.loads(lines[-1])
            whole.append(
                timed([sys.executable, "-m", "imlforensic", "detect", str(photo), "-m", args.method, "-q"])[:2]
            )
            help_runs.append(timed([sys.executable, "-m", "imlforensic", "--help"])[:2])
            bare.append(timed([sys.executable, "-c", "pass"])[:2])
        load = os.getloadavg()[0]
        print(
            f"method {args.method}, {args.repeat} runs each, medians; load average {load:.1f} on {os.cpu_count()} CPUs"
        )
        print(f"{'phase':45s} {'wall s':>8s} {'CPU s':>8s}")
        for name, values in phases.items():
            print(
                f"{name:45s} {statistics.median(v[0] for v in values):8.2f} {statistics.median(v[1] for v in values):8.2f}"
            )
        for name, values in (
            ("python -c pass", bare),
            ("imlforensic --help", help_runs),
            (f"imlforensic detect PHOTO -m {args.method}", whole),
        ):
            print(
                f"{name:45s} {statistics.median(v[0] for v in values):8.2f} {statistics.median(v[1] for v in values):8.2f}"
            )
        heavy = [
            m
            for m in (
                "torch",
                "timm",
                "torchvision",
                "sympy",
                "scipy",
                "sklearn",
                "matplotlib",
                "skimage",
                "huggingface_hub",
            )
            if m in modules
        ]
        print("heavy packages loaded by the phases: " + ", ".join(heavy))
        if args.importtime:
            print("self import time by package, detect PHOTO (-X importtime):")
            for name, seconds in heaviest_imports(photo, 15):
                print(f"  {name:28s} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
