"""What ``detect`` and ``localize`` share: validating options, expanding inputs, running the batch,
printing results and the summary, and choosing the exit code.

Exit codes: 0 every input was analysed (or skipped as already done); 1 at least one input
failed (each named on stderr, then a summary); 2 usage error (bad option, no inputs found).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from imlforensic.io.atomic import probe_writable, remove_stale_temporaries
from imlforensic.io.images import ImageLoadError, load_image, sha256_file
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.batch import BatchResult, InputFailure, one_line, run_batch
from imlforensic.pipeline.inputs import InputItem, OutputSet, expand_inputs
from imlforensic.pipeline.records import build_record, map_kinds, read_existing, write_maps, write_record
from imlforensic.registry import DEFAULT_METHOD, REGISTRY, UnknownModelError, WeightsError
from imlforensic.registry.registry import DEVICE_PATTERN

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Weights = Annotated[Optional[Path], typer.Option(
    "--weights", help="A checkpoint from `imlforensic train` to use instead of the method's shipped weights (mvcam, mvcam-net).",
    show_default=False,
)]


@dataclass
class RunOptions:
    command: str  # "detect" | "localize"
    inputs: list[str]
    out: Path | None
    write_maps: bool
    method: str | None  # None: the default method (with its fallback when its weights are absent)
    refiner: str | None
    threshold: float | None
    device: str
    json_lines: bool
    skip_existing: bool
    quiet: bool
    recursive: bool
    max_pixels: int
    weights: Path | None = None  # a checkpoint replacing the method's own (--weights)
    include_hidden: bool = False  # analyse hidden files and folders found in folders (--include-hidden)


def usage_error(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def check_writable(folder: Path) -> None:
    """Fail early, with one line, when the output folder cannot be created or written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe_writable(folder)
        stale = remove_stale_temporaries(folder)  # left by a killed run (io/atomic.py)
    except OSError as exc:
        typer.echo(f"error: cannot write to output folder {folder}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    if stale:
        typer.echo(f"note: removed {len(stale)} temporary file(s) an interrupted run left in {folder}", err=True)


def run_analysis(opts: RunOptions) -> None:
    """Validate, analyse every input, print results; exits via typer.Exit."""
    if not DEVICE_PATTERN.match(opts.device):
        raise usage_error(f"unknown device {opts.device!r}; use auto, cpu, cuda, cuda:N or mps")
    if opts.method is None:
        opts.method = DEFAULT_METHOD if opts.weights is not None else default_method(quiet=opts.quiet)
    try:
        entry = REGISTRY.entry(opts.method)
        if opts.refiner:
            REGISTRY.entry(opts.refiner)
    except UnknownModelError as exc:
        raise usage_error(str(exc)) from None
    if opts.weights is not None:
        entry = use_weights(opts.method, opts.weights)
    if entry.task not in ("detector", "classifier"):
        raise usage_error(f"{opts.method!r} is a {entry.task}, not a detection method")
    if opts.refiner and REGISTRY.entry(opts.refiner).task != "segmenter":
        raise usage_error(f"{opts.refiner!r} is a {REGISTRY.entry(opts.refiner).task}, not a refiner (see `imlforensic models list`)")

    excluded = [opts.out] if opts.out is not None else []
    expansion = expand_inputs(opts.inputs, recursive=opts.recursive, exclude=excluded, include_hidden=opts.include_hidden)
    for spec, reason in expansion.problems:
        typer.echo(f"error: {spec}: {reason}", err=True)
    for note in expansion.notes:
        typer.echo(f"note: {note}", err=True)
    if not expansion.items and not expansion.missing:
        raise usage_error("no image files found in the given inputs" + ("" if opts.recursive else " (folders: add --recursive?)"))
    if opts.out is not None and expansion.items:
        check_writable(opts.out)

    try:
        analyzer = Analyzer(opts.method, device=opts.device, threshold=opts.threshold, refiner=opts.refiner)
        provenance = analyzer.provenance() if expansion.items else {}
    except (WeightsError, ImportError, ValueError, RuntimeError) as exc:
        what = f"{opts.method!r}" + (f" with refiner {opts.refiner!r}" if opts.refiner else "")
        typer.echo(f"error: cannot load {what}: {one_line(exc)}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    settings = {
        "command": opts.command,
        "device": opts.device,
        "max_pixels": opts.max_pixels,
        "threshold": analyzer.threshold,
    }
    kinds = map_kinds(analyzer.refiner_name is not None) if opts.write_maps else ()

    def job(item: InputItem) -> tuple[dict[str, Any], bool]:
        outputs = OutputSet(opts.out / item.rel) if opts.out is not None else None
        if outputs is not None and opts.skip_existing:
            try:
                existing = read_existing(outputs, kinds, sha256_file(item.path))
            except OSError as exc:
                raise ImageLoadError(f"{item.display}: cannot read ({exc.strerror or exc})") from None
            if existing and _same_setup(existing, provenance, analyzer.threshold):
                return existing, True
        image = load_image(item.path, max_pixels=opts.max_pixels, display=item.display)
        analysis = analyzer.analyse(image)
        record = build_record(analysis, provenance, settings)
        if outputs is not None:
            record["output_name"] = item.output_name  # the input -> output name mapping (pipeline/inputs.py)
            try:
                if kinds:
                    record["outputs"].update(write_maps(analysis, outputs))
                write_record(record, outputs)
            except OSError as exc:
                raise InputFailure(f"cannot write outputs in {outputs.base.parent}: {exc.strerror or exc}") from None
        return record, False

    def on_record(record: dict[str, Any]) -> None:
        if opts.json_lines:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            flagged = f"  flagged {100 * record['flagged_fraction']:5.1f}%" if opts.write_maps else ""
            sys.stdout.write(f"{record['verdict']:<12} {record['score']:.3f}{flagged}  {record['input']['path']}\n")
        sys.stdout.flush()

    result = run_batch(expansion.items, job, on_record=on_record, show_progress=not opts.quiet, description=opts.command)
    if opts.json_lines:
        for display, message in result.failed:
            sys.stdout.write(json.dumps({"schema": "imlforensic.error/1", "input": {"path": display}, "error": message}) + "\n")
        for spec, reason in expansion.problems:
            sys.stdout.write(json.dumps({"schema": "imlforensic.error/1", "input": {"path": spec}, "error": reason}) + "\n")
    _print_summary(opts, result, expansion.missing)
    raise typer.Exit(EXIT_FAILED if result.failed or expansion.missing else EXIT_OK)


def _same_setup(record: dict[str, Any], provenance: dict[str, Any], threshold: float) -> bool:
    method = record.get("method") or {}
    refiner = record.get("refiner") or {}
    wanted_refiner = provenance.get("refiner") or {}
    return (
        method.get("name") == provenance["method"]["name"]
        and method.get("weights_sha256") == provenance["method"]["weights_sha256"]
        and refiner.get("name") == wanted_refiner.get("name")
        and record.get("threshold") == threshold
    )


def _print_summary(opts: RunOptions, result: BatchResult, missing: list[str]) -> None:
    failures = len(result.failed) + len(missing)
    if opts.quiet and not failures:
        return
    parts = [f"{result.done} analysed"]
    if result.skipped:
        parts.append(f"{result.skipped} skipped (already done)")
    if failures:
        parts.append(f"{failures} failed")
    where = f"; outputs in {opts.out}" if opts.out is not None and (result.done or result.skipped) else ""
    typer.echo(f"{opts.command}: {result.total + len(missing)} input(s): " + ", ".join(parts) + where, err=True)
    if failures:
        names = [display for display, _ in result.failed] + missing
        typer.echo("failed: " + ", ".join(names), err=True)


def use_weights(method: str, weights: Path) -> Any:
    """``--weights``: the method's registry entry, now loading ``weights``; exits on a bad choice."""
    if REGISTRY.entry(method).weights is None:
        learned = ", ".join(e.name for e in REGISTRY.entries("detector") if e.weights is not None)
        raise usage_error(f"--weights goes with a learned method ({learned}), not {method!r}")
    try:
        return REGISTRY.use_weights(method, weights)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None


def default_method(quiet: bool = False) -> str:
    """The default method, or its fallback (with a one-line notice) when its weights are missing."""
    entry = REGISTRY.entry(DEFAULT_METHOD)
    state = entry.state()
    if state == "ready" or not entry.fallback:
        return DEFAULT_METHOD
    if not quiet:
        typer.echo(f"note: default method {DEFAULT_METHOD!r} is unavailable ({state}); using {entry.fallback!r}", err=True)
    return entry.fallback


def default_out() -> Path:
    return Path(os.environ.get("IMLFORENSIC_OUT", "imlforensic_out"))
