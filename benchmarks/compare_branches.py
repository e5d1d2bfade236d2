"""Do two checkouts of imlforensic give the same results? Outputs of ``localize`` and float maps.

    python benchmarks/compare_branches.py --base /work/main --work /tmp/compare \\
        --methods mvcam,classical examples/images ../shared/data/dev/casia1/images/Tp_D_*.jpg

The inputs are copied into ``WORK/inputs`` (so that both runs record the same paths), then for
each checkout (``--base`` and ``--head``, default: this one) and each method:

* ``python -m imlforensic localize WORK/inputs -m METHOD --out WORK/ROOT-METHOD`` with
  ``PYTHONPATH`` set to the checkout; every file of the two output folders is compared byte for
  byte, the JSON records but for ``timings_s`` and ``created``;
* the method's float32 heatmap and score of every input, in a fresh process of that checkout
  (``--dump``), compared by their largest absolute difference.

Prints one line per input and method and a summary; exit status 1 when any output differs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

VOLATILE = ("timings_s", "created")
SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")


def dump(out: Path, method: str, images: list[Path]) -> None:
    """Float heatmaps and scores of ``images`` by ``method`` (run inside the checkout under test)."""
    from imlforensic.io.images import load_image
    from imlforensic.pipeline.analysis import Analyzer

    out.mkdir(parents=True, exist_ok=True)
    analyzer = Analyzer(method, device="cpu").load()
    scores = {}
    for image_path in images:
        analysis = analyzer.analyse(load_image(image_path))
        np.save(out / f"{image_path.name}.npy", np.asarray(analysis.heatmap, np.float32))
        scores[image_path.name] = {"score": analysis.score, "verdict": analysis.verdict}
    (out / "scores.json").write_text(json.dumps(scores, indent=1))


def run(root: Path, args: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    subprocess.run([sys.executable, *args], env=env, check=True, cwd=root)


def comparable(path: Path) -> bytes:
    if path.suffix != ".json":
        return path.read_bytes()
    record = json.loads(path.read_text())
    for key in VOLATILE:
        record.pop(key, None)
    return json.dumps(record, sort_keys=True).encode()


def compare_outputs(a: Path, b: Path) -> dict[str, list[str]]:
    """Files (by input) that differ or exist on one side only."""
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    differing: dict[str, list[str]] = {}
    for name in names:
        pa, pb = a / name, b / name
        same = pa.is_file() and pb.is_file() and comparable(pa) == comparable(pb)
        if not same:
            stem = name.split(".")[0]
            differing.setdefault(stem, []).append(name if pa.exists() and pb.exists() else f"{name} (one side only)")
    return differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="*", type=Path, help="pictures or folders of pictures")
    parser.add_argument("--base", type=Path, help="the other checkout (e.g. /work/main)")
    parser.add_argument("--head", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--work", type=Path, default=Path("/tmp/imlforensic-compare"))
    parser.add_argument("--methods", default="mvcam,classical")
    parser.add_argument("--dump", nargs=2, metavar=("OUT", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        dump(Path(args.dump[0]), args.dump[1], sorted((args.work / "inputs").iterdir()))
        return
    if args.base is None:
        parser.error("--base is required")
    inputs = args.work / "inputs"
    shutil.rmtree(args.work, ignore_errors=True)
    inputs.mkdir(parents=True)
    for item in args.inputs:
        for path in sorted(item.iterdir()) if item.is_dir() else [item]:
            if path.suffix.lower() in SUFFIXES:
                shutil.copyfile(path, inputs / path.name)
    script = Path(__file__).resolve()
    failures = 0
    for method in args.methods.split(","):
        for side, root in (("base", args.base), ("head", args.head)):
            out = args.work / f"{side}-{method}"
            run(root, ["-m", "imlforensic", "localize", str(inputs), "-m", method, "--out", str(out), "-q"])
            run(
                root,
                [str(script), "--work", str(args.work), "--dump", str(args.work / f"{side}-{method}-float"), method],
            )
        differing = compare_outputs(args.work / f"base-{method}", args.work / f"head-{method}")
        scores = [json.loads((args.work / f"{s}-{method}-float" / "scores.json").read_text()) for s in ("base", "head")]
        worst = 0.0
        for image in sorted(inputs.iterdir()):
            maps = [np.load(args.work / f"{s}-{method}-float" / f"{image.name}.npy") for s in ("base", "head")]
            diff = float(np.abs(maps[0] - maps[1]).max()) if maps[0].shape == maps[1].shape else float("inf")
            worst = max(worst, diff)
            a, b = (s[image.name] for s in scores)
            files = differing.get(image.name.split(".")[0], [])
            print(
                f"{method:10s} {image.name:28s} outputs {'identical' if not files else 'DIFFER: ' + ', '.join(files)};"
                f" float map max |diff| {diff:.3g}; score {a['score']:.6f} / {b['score']:.6f};"
                f" verdict {a['verdict']} / {b['verdict']}"
            )
            failures += bool(files) or a != b
        files_total = sum(1 for _ in (args.work / f"head-{method}").iterdir())
        print(
            f"{method}: {files_total} output files compared, {len(differing)} input(s) differ; worst float diff {worst:.3g}"
        )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
