"""Reliability benchmark: `imlforensic localize` (the default method, through the CLI) over a
malformed corpus, kill -9 and resume, and peak memory at 1, 16 and 100 megapixels.

    python benchmarks/reliability.py --work /work/reliability [--json results.json]

The corpus (benchmarks/reliability_corpus.py: about 1,100 files, deterministic) is built in
``WORK/corpus`` and analysed one kind folder per run (``localize FOLDER -r --include-hidden
--json``, each run with ``--timeout`` seconds); its ``names`` folder is analysed with ``--out``
inside it and then again from a stdin listing of everything below it (outputs included), and its
``hidden`` folder once more without ``--include-hidden``. Counted:

* tracebacks (any run's standard error), hangs (runs past the timeout);
* good inputs without their outputs (a record with the input's sha256 and every file it names);
* files written outside ``--out`` (every path below WORK, before and after each run);
* inputs changed (sha256 of every corpus file, link targets, before and after all runs);
* bad inputs not named exactly once (``error: PATH: ...`` lines), entries left out on purpose
  not named exactly once (``note: PATH: ...``), error lines for inputs that should not fail, and
  links out of the tree whose outputs are not where the link is.

Kill and resume: ``localize`` over 12 photos (1024 x 768) is killed with SIGKILL ``--kills`` times,
each time resumed with ``--skip-existing``: at a random moment, and every other time as soon as
a temporary file of an atomic write appears (a kill in the middle of a write); then it runs to the
end. Its outputs are
compared with an uninterrupted run's (PNG bytes; JSON without ``timings_s`` and ``created``) and
the output folder is searched for temporary files. Peak memory: the maximum resident set size of
``localize PHOTO`` (one photo, a fresh process, under a ``--memory-cap`` address-space limit that
keeps a shared machine safe) at each of ``--megapixels``.

Writes nothing into the repository; WORK is removed and rebuilt unless ``--keep``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reliability_corpus import Entry, build_corpus  # noqa: E402

from imlforensic.io.images import max_file_bytes  # noqa: E402
from imlforensic.io.paths import printable  # noqa: E402

LIMITS_MAX_PIXELS = 1_000_000  # the limits folder runs with this --max-pixels (a small byte limit)
TEMPORARY_SUFFIX = ".tmp"
VOLATILE_FIELDS = ("timings_s", "created")


@dataclass
class Run:
    name: str
    spec: str  # the folder given on the command line ("-" for stdin)
    out: Path
    returncode: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    stdout: str = ""
    stderr: str = ""
    outside_writes: list[str] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)  # the paths given on stdin

    def lines(self, prefix: str) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith(prefix)]

    def records(self) -> list[dict[str, Any]]:
        found = []
        for line in self.stdout.splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("schema") == "imlforensic.result/1":
                found.append(obj)
        return found


def cli(args: list[str], timeout: float, stdin: bytes | None = None, cwd: Path | None = None) -> tuple[int | None, bool, str, str, float]:
    """Run ``python -m imlforensic ARGS`` from this checkout; (code, timed out, stdout, stderr, seconds)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "imlforensic", *args], stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, start_new_session=True)
    try:
        out, err = process.communicate(stdin, timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        timed_out = True
    return process.returncode, timed_out, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), time.perf_counter() - started


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """(mode, size, mtime) of every path below ``root``, links not followed."""
    state = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            state[path] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return state


def corpus_state(root: Path) -> dict[str, str]:
    """sha256 of every regular file, target of every link, type of everything else, below ``root``."""
    state = {}
    for path in snapshot(root):
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            state[path] = "-> " + os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
            state[path] = digest.hexdigest()
        else:
            state[path] = f"mode {stat.S_IFMT(info.st_mode):o}"
    return state


def analyse(run: Run, args: list[str], work: Path, timeout: float, stdin: bytes | None = None) -> Run:
    """Run ``localize`` for ``run``, recording what it wrote outside its --out."""
    before = snapshot(work)
    run.returncode, run.timed_out, run.stdout, run.stderr, run.seconds = cli(
        ["localize", run.spec, "--out", str(run.out), "--json", "-q", *args], timeout, stdin=stdin, cwd=work / "cwd")
    after = snapshot(work)
    out = str(run.out)
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
    run.outside_writes = sorted(p for p in changed if not (p == out or p.startswith(out + os.sep) or out.startswith(p + os.sep)
                                                          or _only_listing_changed(p, before, after)))
    return run


def _only_listing_changed(path: str, before: dict, after: dict) -> bool:
    """A folder that existed before and after: its mtime moves when an entry is added (the entry
    itself is in the snapshot, so nothing is missed by leaving the folder out)."""
    return path in before and path in after and stat.S_ISDIR(before[path][0]) and stat.S_ISDIR(after[path][0])


def corpus_runs(work: Path, corpus: Path, kinds: list[str], timeout: float) -> dict[str, Run]:
    runs: dict[str, Run] = {}
    for kind in kinds:
        spec = str(corpus / kind)
        out = corpus / "names" / "_results" if kind == "names" else work / "out" / kind
        extra = ["-r", "--include-hidden"] + (["--max-pixels", str(LIMITS_MAX_PIXELS)] if kind == "limits" else [])
        runs[kind] = analyse(Run(kind, spec, out), extra, work, timeout)
        print(f"  {kind}: {runs[kind].seconds:.0f} s, exit {runs[kind].returncode}", file=sys.stderr, flush=True)
    runs["hidden-default"] = analyse(Run("hidden-default", str(corpus / "hidden"), work / "out" / "hidden-default"),
                                     ["-r"], work, timeout)
    # everything below the folder, its outputs included, as `find` lists it (a newline in a name cannot be listed)
    listing = sorted(p for p in snapshot(corpus / "names") if not stat.S_ISDIR(os.lstat(p).st_mode) and "\n" not in p)
    stdin_run = Run("names-stdin", "-", corpus / "names" / "_results", listed=listing)
    runs["names-stdin"] = analyse(stdin_run, ["--skip-existing"], work, timeout, stdin=b"".join(os.fsencode(p) + b"\n" for p in listing))
    return runs


def _count_named(lines: list[str], display: str) -> int:
    return sum(line.startswith(f"{display}: ") for line in lines)


def check_corpus(entries: list[Entry], runs: dict[str, Run], corpus: Path, before: dict[str, str],
                 after: dict[str, str]) -> dict[str, Any]:
    """The counts of the module docstring, with a few examples of each failure."""
    problems: dict[str, list[str]] = {k: [] for k in ("good without outputs", "bad not named once", "notes not named once",
                                                      "unexpected errors", "layout moved", "outputs read back")}
    expected_errors: dict[str, set[str]] = {}
    for entry in entries:
        run = runs["hidden-default" if entry.expect == "note" and entry.kind == "hidden" else entry.kind]
        display = printable(str(Path(run.spec) / entry.rel))
        if entry.expect == "bad":
            expected_errors.setdefault(run.name, set()).add(display)
            if _count_named([line[len("error: "):] for line in run.lines("error: ")], display) != 1:
                problems["bad not named once"].append(display)
        elif entry.expect in ("note", "duplicate"):
            if _count_named([line[len("note: "):] for line in run.lines("note: ")], display) != 1:
                problems["notes not named once"].append(display)
        elif entry.expect == "good":
            record = _record_for(corpus / entry.kind / entry.rel, run)
            if record is None or not _outputs_present(record, run.out):
                problems["good without outputs"].append(display)
            elif entry.what == "link out of the tree" and record.get("output_name") != entry.rel:
                problems["layout moved"].append(f"{display} -> {record.get('output_name')}")
    for run in runs.values():
        wanted = expected_errors.get(run.name, set())
        problems["unexpected errors"] += [line for line in run.lines("error: ")
                                          if not any(line.startswith(f"error: {w}: ") for w in wanted)]
    results_dir = str(corpus / "names" / "_results")
    stdin_run = runs["names-stdin"]
    problems["outputs read back"] = [r["input"]["path"] for r in stdin_run.records() if r["input"]["path"].startswith(results_dir)]
    stdin_notes = [line[len("note: "):] for line in stdin_run.lines("note: ")]
    for path in stdin_run.listed:
        if path.startswith(results_dir + os.sep) and _count_named(stdin_notes, printable(path)) != 1:
            problems["notes not named once"].append(printable(path))
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p) and not p.startswith(results_dir))
    bad = [e for e in entries if e.expect == "bad"]
    good = [e for e in entries if e.expect == "good"]
    return {
        "files": len({(e.kind, e.rel) for e in entries}),
        "good inputs": len(good),
        "bad inputs": len(bad),
        "notes expected": sum(e.expect in ("note", "duplicate") for e in entries),
        "runs": len(runs),
        "tracebacks": sum("Traceback (most recent call last)" in r.stderr for r in runs.values()),
        "hangs": sum(r.timed_out for r in runs.values()),
        "files written outside --out": sum(len(r.outside_writes) for r in runs.values()),
        "inputs changed": len(changed),
        **{k: len(v) for k, v in problems.items()},
        "examples": {k: v[:5] for k, v in problems.items() if v}
        | {"outside writes": [p for r in runs.values() for p in r.outside_writes][:5], "changed inputs": changed[:5]},
        "seconds": {name: round(r.seconds, 1) for name, r in runs.items()},
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record_for(path: Path, run: Run) -> dict[str, Any] | None:
    sha = _sha256(path)
    return next((r for r in run.records() if r["input"]["sha256"] == sha), None)


def _outputs_present(record: dict[str, Any], out: Path) -> bool:
    base = out / record["output_name"]
    return all((base.parent / name).is_file() for name in record["outputs"].values())


# --- kill -9 and resume ------------------------------------------------------------------------

def _photos(folder: Path, count: int, size: tuple[int, int]) -> None:
    from skimage import data

    folder.mkdir(parents=True)
    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    for i in range(count):
        rgb = cv2.resize(sources[i % len(sources)], size, interpolation=cv2.INTER_CUBIC)
        rgb = np.ascontiguousarray(rgb[:, ::-1] if (i // len(sources)) % 2 else rgb)
        rgb = np.clip(rgb.astype(np.int16) + np.random.default_rng(i).integers(-3, 4, rgb.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"photo{i:02d}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.name.endswith(TEMPORARY_SUFFIX)] if folder.exists() else []


def _comparable(path: Path) -> bytes:
    if path.suffix != ".json":
        return path.read_bytes()
    record = json.loads(path.read_text(encoding="utf-8"))
    return json.dumps({k: v for k, v in record.items() if k not in VOLATILE_FIELDS}, sort_keys=True).encode()


def _kill_at(process: subprocess.Popen, moment: float) -> bool:
    """SIGKILL ``process`` ``moment`` seconds after it started (False: it ended before)."""
    try:
        process.wait(timeout=moment)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


def _kill_during_write(process: subprocess.Popen, folder: Path, patience: float) -> bool:
    """SIGKILL ``process`` as soon as a temporary file of an atomic write shows in ``folder``."""
    deadline = time.perf_counter() + patience
    while process.poll() is None and time.perf_counter() < deadline:
        if folder.exists() and any(e.name.endswith(TEMPORARY_SUFFIX) for e in os.scandir(folder)):
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.001)
    return _kill_at(process, 0.001) if process.poll() is None else False


def kill_and_resume(work: Path, kills: int, seed: int, timeout: float) -> dict[str, Any]:
    images, reference, resumed = work / "kill" / "photos", work / "kill" / "reference", work / "kill" / "resumed"
    _photos(images, 12, (1024, 768))
    args = ["localize", str(images), "-q"]
    code, _, _, _, full_seconds = cli([*args, "--out", str(reference)], timeout)
    rng = random.Random(seed)
    left, moments = [], []
    for attempt in range(kills):
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        process = subprocess.Popen([sys.executable, "-m", "imlforensic", *args, "--out", str(resumed), "--skip-existing"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        started = time.perf_counter()
        during_write = attempt % 2 == 1  # every other kill waits for a temporary file to appear
        killed = _kill_during_write(process, resumed, full_seconds) if during_write else _kill_at(process, rng.uniform(0.5, full_seconds))
        moments.append({"at_s": round(time.perf_counter() - started, 1), "during_write": during_write} if killed else None)
        left.append(len(_temporaries(resumed)))
    final_code, final_timed_out, _, final_err, _ = cli([*args, "--out", str(resumed), "--skip-existing"], timeout)
    expected = sorted(p.relative_to(reference) for p in reference.rglob("*") if p.is_file())
    present = sorted(p.relative_to(resumed) for p in resumed.rglob("*") if p.is_file() and not p.name.endswith(TEMPORARY_SUFFIX))
    differing = [str(p) for p in expected if (resumed / p).is_file() and _comparable(resumed / p) != _comparable(reference / p)]
    return {
        "photos": 12,
        "uninterrupted run s": round(full_seconds, 1),
        "reference exit": code,
        "attempts": kills,
        "kills": sum(m is not None for m in moments),
        "kills during a write": sum(bool(m and m["during_write"]) for m in moments),
        "kills (seconds after start, during a write?)": moments,
        "temporary files right after each kill": left,
        "final exit": final_code,
        "final timed out": final_timed_out,
        "final notes": [line for line in final_err.splitlines() if line.startswith("note:")],
        "outputs expected": len(expected),
        "outputs missing": len(set(expected) - set(present)),
        "outputs extra": len(set(present) - set(expected)),
        "outputs differing": len(differing),
        "differing examples": differing[:5],
        "temporary files left": len(_temporaries(resumed)),
    }


# --- peak memory ----------------------------------------------------------------------------

_MEASURE = r"""
import json, resource, subprocess, sys, time
cap, timeout, command = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
started = time.perf_counter()
done = subprocess.run(command, preexec_fn=limit, capture_output=True, text=True, timeout=timeout)
print(json.dumps({"code": done.returncode, "seconds": time.perf_counter() - started,
                  "max_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "stderr": done.stderr[-400:]}))
"""


def peak_memory(work: Path, megapixels: float, cap_bytes: int, timeout: float) -> dict[str, Any]:
    """Peak RSS of ``localize`` on one photo of ``megapixels`` (a fresh process, measured by a
    wrapper that waits for it, so earlier runs of this benchmark do not count)."""
    from skimage import data

    width, height = int(round((megapixels * 1e6 * 1.5) ** 0.5)), int(round((megapixels * 1e6 / 1.5) ** 0.5))
    photo = work / "memory" / f"photo-{megapixels:g}mp.jpg"
    photo.parent.mkdir(parents=True, exist_ok=True)
    rgb = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(photo), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    del rgb
    command = [sys.executable, "-m", "imlforensic", "localize", str(photo), "--out", str(work / "memory" / "out"), "-q"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        done = subprocess.run([sys.executable, "-c", _MEASURE, str(cap_bytes), str(timeout), *command], capture_output=True,
                              text=True, env=env, timeout=timeout + 60)
        measured = json.loads(done.stdout)
    except (subprocess.TimeoutExpired, ValueError) as exc:
        return {"megapixels": megapixels, "size": f"{width}x{height}", "outcome": f"not measured ({type(exc).__name__})"}
    outcome = "ok" if measured["code"] == 0 else ("out of memory at the cap" if "memory" in measured["stderr"].lower()
                                                  else f"exit {measured['code']}: {measured['stderr'].strip().splitlines()[-1:]}")
    return {"megapixels": megapixels, "size": f"{width}x{height}", "peak_rss_mb": round(measured["max_rss_kb"] / 1024),
            "seconds": round(measured["seconds"], 1), "outcome": outcome, "stderr": measured["stderr"].strip().splitlines()[-3:]}


# --- report ---------------------------------------------------------------------------------

def markdown(corpus: dict[str, Any], kill: dict[str, Any] | None, memory: list[dict[str, Any]]) -> str:
    rows = [
        ("files in the corpus", corpus["files"]), ("good inputs / bad inputs / notes expected",
                                                   f"{corpus['good inputs']} / {corpus['bad inputs']} / {corpus['notes expected']}"),
        ("CLI runs", corpus["runs"]), ("tracebacks", corpus["tracebacks"]), ("hangs (runs past the timeout)", corpus["hangs"]),
        ("good inputs without their outputs", corpus["good without outputs"]),
        ("files written outside --out", corpus["files written outside --out"]), ("inputs changed", corpus["inputs changed"]),
        ("bad inputs not named exactly once", corpus["bad not named once"]),
        ("skipped entries not named exactly once (notes)", corpus["notes not named once"]),
        ("error lines for inputs that should not fail", corpus["unexpected errors"]),
        ("links out of the tree whose outputs moved", corpus["layout moved"]),
        ("outputs read back as inputs (stdin listing of the tree)", corpus["outputs read back"]),
    ]
    if kill:
        rows += [
            ("kill -9: kills (of attempts; in a write) / temporary files found after the kills",
             f"{kill['kills']} of {kill['attempts']}; {kill['kills during a write']} / "
             f"{sum(kill['temporary files right after each kill'])}"),
            ("kill -9 then --skip-existing: outputs missing / differing / extra",
             f"{kill['outputs missing']} / {kill['outputs differing']} / {kill['outputs extra']} (of {kill['outputs expected']})"),
            ("kill -9 then --skip-existing: temporary files left", kill["temporary files left"]),
        ]
    lines = ["| check | result |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows]
    if memory:
        lines += ["", "| picture | size | peak RSS | time | outcome |", "|---|---|---|---|---|"]
        lines += [f"| {m['megapixels']:g} MP | {m['size']} | {m.get('peak_rss_mb', '-')} MB | {m.get('seconds', '-')} s | {m['outcome']} |"
                  for m in memory]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/imlforensic-reliability"))
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per CLI run")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--megapixels", default="1,16,100", help="comma-separated; empty to skip")
    parser.add_argument("--memory-cap", type=float, default=14.0, help="GB of address space for the memory runs")
    parser.add_argument("--skip-corpus", action="store_true")
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument("--keep", action="store_true", help="reuse WORK (do not rebuild the corpus)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if str(args.work.resolve()).startswith(str(ROOT)):
        parser.error("--work must lie outside the repository")
    if not args.keep and args.work.exists():
        _remove(args.work)
    (args.work / "cwd").mkdir(parents=True, exist_ok=True)

    results: dict[str, Any] = {"command": " ".join(sys.argv), "corpus": None, "kill": None, "memory": []}
    if not args.skip_corpus:
        corpus = args.work / "corpus"
        print("building the corpus ...", file=sys.stderr, flush=True)
        entries = build_corpus(corpus, args.work / "outside-tree", seed=args.seed, byte_limit=max_file_bytes(LIMITS_MAX_PIXELS))
        kinds = sorted({e.kind for e in entries})
        before = corpus_state(args.work)
        runs = corpus_runs(args.work, corpus, kinds, args.timeout)
        after = corpus_state(args.work)
        outputs = str(corpus / "names" / "_results")
        produced = (outputs, str(args.work / "out"))

        def keep(state: dict) -> dict:
            return {p: v for p, v in state.items() if not p.startswith(produced)}

        results["corpus"] = check_corpus(entries, runs, corpus, keep(before), keep(after))
        results["corpus"]["kinds"] = {k: sum(e.kind == k for e in entries) for k in kinds}
    if not args.skip_kill:
        print("kill -9 and resume ...", file=sys.stderr, flush=True)
        results["kill"] = kill_and_resume(args.work, args.kills, args.seed, args.timeout)
    for megapixels in [float(m) for m in args.megapixels.split(",") if m.strip()]:
        print(f"peak memory at {megapixels:g} MP ...", file=sys.stderr, flush=True)
        results["memory"].append(peak_memory(args.work, megapixels, int(args.memory_cap * 2**30), args.timeout))
    print(markdown(results["corpus"] or _EMPTY, results["kill"], results["memory"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


_EMPTY = {k: "-" for k in ("files", "good inputs", "bad inputs", "notes expected", "runs", "tracebacks", "hangs",
                           "good without outputs", "files written outside --out", "inputs changed", "bad not named once",
                           "notes not named once", "unexpected errors", "layout moved", "outputs read back")}


def _remove(work: Path) -> None:
    """Delete a previous WORK, unreadable test folders included."""
    for folder, dirs, _ in os.walk(work):
        for name in dirs:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
