"""Wild development benchmark (issue 15): a method over the corpus of benchmarks/wild_corpus.py,
through the tool's own command line, beside its figures on CASIA v1's held-out half.

    python benchmarks/wild.py --method mvcam [--weights FILE] [--threshold T] [--json /work/wild/results/mvcam.json]
    python benchmarks/wild.py --from-json /work/wild/results/mvcam.json      # the tables again, no run
    python benchmarks/wild.py --only edited/generated_blend controls/generated_blend --casia ''   # some folders

``--only`` runs some folders of the corpus (a quicker comparison of two checkpoints while
developing); every figure in docs/BENCHMARKS.md comes from a run of the whole corpus.

Two runs of the CLI, in subprocesses with this checkout's code: ``imlforensic detect - --json``
over every picture of the corpus and of ``casia1@val`` (verdicts and scores), and ``imlforensic
evaluate --json`` over the edited sets and ``casia1@val`` (pixel metrics). Printed (Markdown
tables, also readable in a terminal):

* authentic pictures: per folder, the share given ``manipulated`` at the default settings (the
  headline figure), pooled over the held-out origins, per origin, then the "seen in training"
  group and CASIA's authentic pictures;
* edited sets: the share detected, the image AUC against the set's controls (the same host
  photos untouched, through the same pipeline), and ``evaluate``'s pixel F1 at the method's mask,
  best-threshold F1, pixel AUC and IoU;
* the same split by final format (JPEG / PNG / WebP), by picture size, and for the edited sets
  by whether a sharing pipeline followed the export.

``--json PATH`` (outside the repository) saves the tables, every picture's verdict and score
and the evaluate record. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = Path("/work/wild/corpus")
DEFAULT_CASIA = "../shared/data/dev/casia1@val"
SECTIONS = ("authentic", "controls", "edited", "seen")
HELD_OUT = ("authentic", "controls")
DERIVED_FOLDERS = ("thumbnails", "upscaled", "web_shared")
PIXEL_METRICS = {"pixel_f1": "pixel F1", "pixel_best_f1": "best F1", "pixel_auc": "pixel AUC", "pixel_iou": "IoU"}
SIZE_BINS = ((0.0, 0.1), (0.1, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 5.0), (5.0, float("inf")))


@dataclass
class Picture:
    """One picture of the benchmark, and (after the run) what the method said about it."""

    path: str  # as given to detect: absolute
    folder: str  # "authentic/camera_native", "edited/splice", "casia1@val", ...
    section: str  # authentic | controls | edited | seen | casia
    label: str
    origin: str
    kind: str = ""
    pipeline: str = ""
    verdict: str = ""
    score: float | None = None
    width: int = 0
    height: int = 0
    format: str = ""
    seconds: float = 0.0  # detect's analysis time
    reliability: list[str] = field(default_factory=list)  # the record's reliability flags

    @property
    def name(self) -> str:  # folder name without its section
        return self.folder.split("/", 1)[-1]

    @property
    def pair(self) -> tuple[str, str]:
        """An edit and its control share this: the set and the file name."""
        return self.name, Path(self.path).name

    @property
    def flagged(self) -> bool:
        return self.verdict == "manipulated"

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    @property
    def shared(self) -> bool:
        """Whether anything followed the first encoding (a sharing pipeline; a classic copy-move benchmark's attack)."""
        return ">" in self.pipeline


# --------------------------------------------------------------------------- the corpus


def corpus_pictures(corpus: Path) -> list[Picture]:
    """Every picture listed in the corpus' labels.csv files, section by section."""
    pictures = []
    for section in SECTIONS:
        for labels in sorted((corpus / section).glob("*/labels.csv")):
            folder = f"{section}/{labels.parent.name}"
            with open(labels, newline="", encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    pictures.append(
                        Picture(
                            str(labels.parent / row["image"]),
                            folder,
                            section,
                            row["label"],
                            row.get("origin", ""),
                            row.get("kind", ""),
                            row.get("pipeline", ""),
                        )
                    )
    if not pictures:
        raise SystemExit(f"error: no labelled folders in {corpus} (build it with benchmarks/wild_corpus.py)")
    return pictures


def casia_pictures(spec: str) -> list[Picture]:
    from imlforensic.data.splits import load_split  # the split every reported CASIA number uses

    return [Picture(str(s.image), Path(spec).name, "casia", s.label, "casia1", s.kind) for s in load_split(spec)]


# --------------------------------------------------------------------------- running the CLI


def cli_command(command: str, args: argparse.Namespace) -> list[str]:
    options = ["--method", args.method, "--device", args.device, "--json", "--quiet"]
    if args.weights:
        options += ["--weights", str(Path(args.weights).resolve())]
    if args.threshold is not None:
        options += ["--threshold", str(args.threshold)]
    return [sys.executable, "-m", "imlforensic", command] + options


def cli_env() -> dict[str, str]:
    """This checkout's code first; no bytecode files written into the repository; unbuffered output."""
    env = dict(
        os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1"
    )  # records as they come, for the progress lines
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def run_detect(pictures: list[Picture], args: argparse.Namespace) -> tuple[list[str], float]:
    """Fill in verdict, score, size and format of every picture; returns the failures and the wall time."""
    by_path = {p.path: p for p in pictures}
    failures: list[str] = []
    started = time.perf_counter()
    process = subprocess.Popen(
        cli_command("detect", args) + ["-"],
        cwd=REPO,
        env=cli_env(),
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("\n".join(by_path) + "\n")
    process.stdin.close()
    done = 0
    for line in process.stdout:
        record = json.loads(line)
        if record.get("schema", "").startswith("imlforensic.error"):
            failures.append(f"{record['input']['path']}: {record['error']}")
            continue
        picture = by_path[record["input"]["path"]]
        picture.verdict, picture.score = record["verdict"], record["score"]
        picture.width, picture.height = record["input"]["width"], record["input"]["height"]
        picture.format = record["input"]["format"]
        picture.seconds = sum(record.get("timings_s", {}).values())
        picture.reliability = list((record.get("reliability") or {}).get("flags") or [])
        done += 1
        if done % 25 == 0:
            elapsed = time.perf_counter() - started
            print(
                f"detect: {done}/{len(by_path)} pictures, {elapsed:.0f} s, about {elapsed / done * (len(by_path) - done):.0f} s left",
                file=sys.stderr,
                flush=True,
            )
    if process.wait() not in (0, 1):
        raise SystemExit(f"error: detect exited with {process.returncode}")
    return failures, time.perf_counter() - started


def run_evaluate(datasets: list[str], args: argparse.Namespace) -> tuple[dict, float]:
    """``imlforensic evaluate --json`` over the datasets: its record (metrics per dataset) and the wall time."""
    started = time.perf_counter()
    print(f"evaluate: {len(datasets)} datasets", file=sys.stderr, flush=True)
    result = subprocess.run(
        cli_command("evaluate", args) + datasets,
        cwd=REPO,
        env=cli_env(),
        text=True,
        stdout=subprocess.PIPE,
        check=False,
    )
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise SystemExit(f"error: evaluate exited with {result.returncode}")
    return json.loads(result.stdout), time.perf_counter() - started


# --------------------------------------------------------------------------- figures


def rate(pictures: list[Picture], hit: Callable[[Picture], bool] = lambda p: p.flagged) -> float | None:
    scored = [p for p in pictures if p.verdict]
    return sum(map(hit, scored)) / len(scored) if scored else None


def image_auc(positives: list[Picture], negatives: list[Picture]) -> float | None:
    from sklearn.metrics import roc_auc_score

    pos = [p.score for p in positives if p.score is not None]
    neg = [p.score for p in negatives if p.score is not None]
    if not pos or not neg:
        return None
    return float(roc_auc_score([1] * len(pos) + [0] * len(neg), pos + neg))


def paired_wins(edits: list[Picture], controls: list[Picture]) -> float | None:
    """The share of edits scored above their own control (same set, same file name; ties count half)."""
    control = {p.pair: p.score for p in controls if p.score is not None}
    pairs = [(p.score, control[p.pair]) for p in edits if p.score is not None and p.pair in control]
    if not pairs:
        return None
    return sum(1.0 if e > c else 0.5 if e == c else 0.0 for e, c in pairs) / len(pairs)


def group(pictures: Iterable[Picture], key: Callable[[Picture], str]) -> dict[str, list[Picture]]:
    groups: dict[str, list[Picture]] = defaultdict(list)
    for picture in pictures:
        groups[key(picture)].append(picture)
    return dict(groups)


def number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def share_cell(pictures: list[Picture], hit: Callable[[Picture], bool] = lambda p: p.flagged) -> str:
    """'0.250 (6/24)': the share, then the count."""
    scored = [p for p in pictures if p.verdict]
    if not scored:
        return "-"
    hits = sum(map(hit, scored))
    return f"{hits / len(scored):.3f} ({hits}/{len(scored)})"


def median_score(pictures: list[Picture]) -> str:
    scores = [p.score for p in pictures if p.score is not None]
    return number(statistics.median(scores)) if scores else "-"


def authentic_rows(pictures: list[Picture]) -> list[list[str]]:
    """The headline table: the share of authentic pictures given `manipulated`, per folder and pooled."""
    authentic = [p for p in pictures if p.label == "authentic"]
    folders = group(authentic, lambda p: p.folder)
    rows = []

    def add(name: str, members: list[Picture]) -> None:
        origins = ", ".join(sorted({p.origin for p in members}))
        rows.append(
            [
                name,
                origins if len(origins) < 60 else f"{len({p.origin for p in members})} origins",
                str(len(members)),
                share_cell(members),
                median_score(members),
            ]
        )

    for folder, members in folders.items():
        if members[0].section in HELD_OUT:
            add(folder, members)
    held_out = [p for p in authentic if p.section in HELD_OUT]
    add("**all held-out authentic pictures**", held_out)
    add("held-out, original files only", [p for p in held_out if p.pipeline == "original"])
    rates = [r for r in (rate(m) for f, m in folders.items() if m[0].section in HELD_OUT) if r is not None]
    rows.append(
        [
            "mean over the held-out folders",
            "",
            str(len(rates)) + " folders",
            number(statistics.mean(rates)) if rates else "-",
            "",
        ]
    )
    for folder, members in folders.items():
        if members[0].section in ("seen", "casia"):
            add(folder + (" (seen in training)" if members[0].section == "seen" else " authentic"), members)
    return rows


def origin_rows(pictures: list[Picture]) -> list[list[str]]:
    """Held-out authentic pictures per origin: as distributed, derived versions, controls."""
    held_out = [p for p in pictures if p.label == "authentic" and p.section in HELD_OUT]
    columns = (
        ("original files", lambda p: p.pipeline == "original"),
        (
            "re-encoded / rendered",
            lambda p: p.section == "authentic" and p.pipeline != "original" and p.name not in DERIVED_FOLDERS,
        ),
        ("thumbnails, upscaled, web", lambda p: p.name in DERIVED_FOLDERS),
        ("controls of the edits", lambda p: p.section == "controls"),
        ("all", lambda p: True),
    )
    rows = []
    for origin, members in sorted(group(held_out, lambda p: p.origin).items()):
        rows.append([origin] + [share_cell([p for p in members if keep(p)]) for _, keep in columns])
    return [["origin"] + [name for name, _ in columns]] + rows


def edited_rows(pictures: list[Picture], evaluation: dict, casia: str) -> list[list[str]]:
    """Per edited set: detected, controls flagged, image AUC against the controls, pixel metrics."""
    datasets = evaluation.get("datasets", {})
    sets = group([p for p in pictures if p.section in ("edited", "controls")], lambda p: p.name)
    rows = []
    pooled_edits, pooled_controls = [], []
    for name, members in sets.items():
        edits = [p for p in members if p.section == "edited"]
        controls = [p for p in members if p.section == "controls"]
        pooled_edits += edits
        pooled_controls += controls
        metrics = datasets.get(f"edited/{name}", {})
        rows.append(
            [
                name,
                str(len(edits)),
                share_cell(edits),
                share_cell(controls),
                number(image_auc(edits, controls)),
                number(paired_wins(edits, controls)),
            ]
            + [number(metrics.get(key)) for key in PIXEL_METRICS]
        )
    pooled = [datasets.get(f"edited/{name}", {}) for name in sets]
    weights = [m.get("manipulated") or 0 for m in pooled]

    def weighted(key: str) -> float | None:
        values = [(m.get(key), w) for m, w in zip(pooled, weights) if m.get(key) is not None and w]
        return sum(v * w for v, w in values) / sum(w for _, w in values) if values else None

    rows.append(
        [
            "**all edited sets**",
            str(len(pooled_edits)),
            share_cell(pooled_edits),
            share_cell(pooled_controls),
            number(image_auc(pooled_edits, pooled_controls)),
            number(paired_wins(pooled_edits, pooled_controls)),
        ]
        + [number(weighted(key)) for key in PIXEL_METRICS]
    )
    reference = [p for p in pictures if p.section == "casia"]
    if reference:
        metrics = datasets.get(casia, {})
        edits = [p for p in reference if p.label == "manipulated"]
        authentic = [p for p in reference if p.label == "authentic"]
        rows.append(
            [
                reference[0].folder + " (CASIA v1)",
                str(len(edits)),
                share_cell(edits),
                share_cell(authentic),
                number(image_auc(edits, authentic)),
                "-",
            ]
            + [number(metrics.get(key)) for key in PIXEL_METRICS]
        )
    return rows


def format_rows(pictures: list[Picture]) -> list[list[str]]:
    """Held-out pictures by final container: authentic flagged beside edits detected."""
    held_out = [p for p in pictures if p.section in HELD_OUT + ("edited",)]
    rows = []
    for fmt, members in sorted(group(held_out, lambda p: p.format or "?").items()):
        rows.append(
            [
                fmt,
                share_cell([p for p in members if p.label == "authentic"]),
                share_cell([p for p in members if p.label == "manipulated"]),
            ]
        )
    return rows


def size_rows(pictures: list[Picture]) -> list[list[str]]:
    """Held-out pictures by size (megapixels): authentic flagged beside edits detected."""
    held_out = [p for p in pictures if p.section in HELD_OUT + ("edited",) and p.verdict]
    rows = []
    for low, high in SIZE_BINS:
        members = [p for p in held_out if low <= p.megapixels < high]
        if members:
            name = f">= {low:g} MP" if high == float("inf") else f"{low:g}-{high:g} MP"
            rows.append(
                [
                    name,
                    share_cell([p for p in members if p.label == "authentic"]),
                    share_cell([p for p in members if p.label == "manipulated"]),
                ]
            )
    return rows


def sharing_rows(pictures: list[Picture]) -> list[list[str]]:
    """Edited sets and their controls, split by whether a sharing pipeline followed the export."""
    pairs = [p for p in pictures if p.section in ("edited", "controls")]
    rows = []
    for name, members in group(pairs, lambda p: p.name).items():
        for shared, label in ((False, "export only"), (True, "+ sharing or attacks")):
            part = [p for p in members if p.shared == shared]
            edits = [p for p in part if p.section == "edited"]
            controls = [p for p in part if p.section == "controls"]
            if edits:
                rows.append([name, label, share_cell(edits), share_cell(controls), number(image_auc(edits, controls))])
    return rows


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table padded to fixed widths, so it reads in a terminal too."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in rows])


def tables(pictures: list[Picture], evaluation: dict, casia: str) -> dict[str, tuple[list[str], list[list[str]]]]:
    origin = origin_rows(pictures)
    return {
        "Authentic pictures given `manipulated` at the default settings": (
            ["folder", "origins", "pictures", "flagged", "median score"],
            authentic_rows(pictures),
        ),
        "Held-out authentic pictures by origin": (origin[0], origin[1:]),
        "Edited sets (image AUC: edits against their controls; edit > control: the share of edits scored above their own control; pixel metrics: `imlforensic evaluate`)": (
            ["set", "edits", "detected", "controls flagged", "image AUC", "edit > control"]
            + list(PIXEL_METRICS.values()),
            edited_rows(pictures, evaluation, casia),
        ),
        "By final format (held-out pictures)": (
            ["format", "authentic flagged", "edits detected"],
            format_rows(pictures),
        ),
        "By size (held-out pictures)": (["size", "authentic flagged", "edits detected"], size_rows(pictures)),
        "Edited sets by pipeline after the export": (
            ["set", "pipeline", "detected", "controls flagged", "image AUC"],
            sharing_rows(pictures),
        ),
    }


def render(result: dict) -> str:
    pictures = [Picture(**p) for p in result["pictures"]]
    header = (
        f"## {result['method']}"
        + (f" (weights {result['weights']})" if result.get("weights") else "")
        + f", threshold {result.get('threshold')}"
        + (f"; only {', '.join(result['only'])}" if result.get("only") else "")
    )
    timing = result.get("wall_s", {})
    analysed = [p for p in pictures if p.seconds]
    speed = (
        (
            f" (analysis {sum(p.seconds for p in analysed):.0f} s, {sum(p.seconds for p in analysed) / sum(p.megapixels for p in analysed):.2f} s"
            " per megapixel)"
        )
        if analysed
        else ""
    )
    lines = [
        header,
        "",
        f"{len(pictures)} pictures, {sum(p.megapixels for p in pictures):.0f} megapixels; wall time: detect "
        f"{timing.get('detect', 0):.0f} s{speed}, evaluate {timing.get('evaluate', 0):.0f} s"
        + (f"; {len(result['failures'])} failed: " + "; ".join(result["failures"]) if result.get("failures") else ""),
        "",
    ]
    for title, (headers, rows) in tables(pictures, result.get("evaluate", {}), result.get("casia", "")).items():
        lines += [f"### {title}", "", markdown(headers, rows), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, text=True, capture_output=True, check=False
        ).stdout.strip()
    except OSError:
        return ""


def absolute_spec(spec: str) -> str:
    """A dataset spec (FOLDER or FOLDER@train / FOLDER@val) with FOLDER relative to the repository root made absolute."""
    from imlforensic.data.splits import parse_spec

    folder, part = parse_spec(spec)
    folder = (REPO / folder).resolve()
    return f"{folder}@{part}" if part else str(folder)


def run(args: argparse.Namespace) -> dict:
    corpus = Path(args.corpus).resolve()
    pictures = corpus_pictures(corpus)
    if args.only:
        unknown = set(args.only) - {p.folder for p in pictures}
        if unknown:
            raise SystemExit(f"error: --only: no such corpus folder(s): {', '.join(sorted(unknown))}")
        pictures = [p for p in pictures if p.folder in args.only]
    casia = absolute_spec(args.casia) if args.casia else ""
    if casia:
        pictures += casia_pictures(casia)
    failures, detect_s = run_detect(pictures, args)
    edited = {
        str(corpus / "edited" / name): f"edited/{name}"
        for name in sorted({p.name for p in pictures if p.section == "edited"})
    }
    names = {**edited, casia: Path(casia).name} if casia else edited
    evaluation, evaluate_s = run_evaluate(list(names), args)
    # evaluate names each dataset by the path it was given: name them as the tables do
    evaluation["datasets"] = {names.get(k, k): v for k, v in evaluation.get("datasets", {}).items()}
    manifest = corpus / "corpus.json"
    return {
        "method": args.method,
        "weights": args.weights,
        "threshold": evaluation.get("threshold", args.threshold),
        "git_commit": git_commit(),
        "corpus": str(corpus),
        "only": args.only or [],
        "casia": Path(casia).name if casia else "",
        "corpus_manifest": json.loads(manifest.read_text()) if manifest.is_file() else None,
        "wall_s": {"detect": round(detect_s, 1), "evaluate": round(evaluate_s, 1)},
        "failures": failures,
        "evaluate": evaluation,
        "pictures": [asdict(p) for p in pictures],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="mvcam")
    parser.add_argument("--weights", help="a checkpoint to run instead of the method's shipped weights")
    parser.add_argument("--threshold", type=float, help="default: the method's")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="built by benchmarks/wild_corpus.py")
    parser.add_argument(
        "--casia", default=DEFAULT_CASIA, help="reference dataset spec, relative to the repository root ('' for none)"
    )
    parser.add_argument("--only", nargs="+", metavar="FOLDER", help="corpus folders to run, e.g. edited/splice")
    parser.add_argument("--json", type=Path, help="save the results here (outside the repository)")
    parser.add_argument("--from-json", type=Path, help="print the tables of saved results instead of running")
    args = parser.parse_args()
    if args.json is not None:
        target = args.json.resolve()
        if target == REPO or REPO in target.parents:
            parser.error(f"--json {target} is inside the repository")
    if args.from_json is not None:
        result = json.loads(args.from_json.read_text())
    else:
        result = run(args)
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(render(result))


if __name__ == "__main__":
    main()
