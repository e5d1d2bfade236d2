"""``imlforensic detect`` and ``imlforensic localize``: verdicts, and maps, for many inputs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from imlforensic.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    C2paTrust,
    Device,
    IncludeHidden,
    Inputs,
    JsonLines,
    MaxPixels,
    Methods,
    Quiet,
    RayActors,
    RayAddress,
    Recursive,
    RefinerOption,
    SamCheckpoint,
    SkipExisting,
    Summary,
    Threshold,
    ViewsOption,
    Weights,
    check_device,
    default_out,
    fail,
    method_entries,
    read_trust_anchors,
    refiner_entry,
    usage_error,
    views_of,
    write_summary,
)
from imlforensic.io.images import DEFAULT_MAX_PIXELS
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.evidence import EvidenceOptions
from imlforensic.pipeline.records import ResultRecord
from imlforensic.pipeline.run import (
    MethodLoadError,
    NoInputsError,
    OutputFolderError,
    RunReport,
    RunRequest,
    run_inputs,
)
from imlforensic.registry import ModelEntry


@dataclass
class AnalysisOptions:
    """The options ``detect``, ``localize`` and ``report`` (for images) share."""

    command: str
    inputs: list[str]
    out: Path | None = None
    write_maps: bool = False
    methods: list[str] | None = None
    refiner: ModelEntry | None = None
    threshold: float | None = None
    device: str = "auto"
    skip_existing: bool = False
    recursive: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    weights: Path | None = None
    quiet: bool = False
    include_hidden: bool = False
    summary: Path | None = None  # --summary FILE.csv
    c2pa_trust: Path | None = None  # --c2pa-trust FILE.pem
    views: str | None = None  # --views ela,noise (with the maps)
    ray: str | None = None  # --ray ADDRESS: the analysis on Ray actors
    ray_actors: int | None = None


def build_request(options: AnalysisOptions) -> RunRequest:
    """Check the options (usage errors exit) and make the run's request."""
    check_device(options.device)
    trust = read_trust_anchors(options.c2pa_trust)
    views = views_of(options.views)
    if views and not options.write_maps:
        usage_error("--views goes with the maps: use localize or report")
    entries = method_entries(options.methods, options.weights, quiet=options.quiet)
    analyzers = [
        Analyzer(entry, device=options.device, threshold=options.threshold, refiner=options.refiner)
        for entry in entries
    ]
    return RunRequest(
        command=options.command,
        inputs=options.inputs,
        analyzers=analyzers,
        out=options.out,
        write_maps=options.write_maps,
        skip_existing=options.skip_existing,
        recursive=options.recursive,
        max_pixels=options.max_pixels,
        device=options.device,
        include_hidden=options.include_hidden,
        evidence=EvidenceOptions(trust_anchors=trust),
        views=views,
    )


def execute(
    request: RunRequest,
    on_record: Callable[[ResultRecord], None] | None = None,
    quiet: bool = False,
    ray: str | None = None,
    ray_actors: int | None = None,
) -> RunReport:
    """Run the request (on Ray actors with ``ray``); its global problems exit with one line (usage
    2, others 1). Notes on what was left out (hidden entries, the output folder, links) and on
    temporary files a killed run left are printed before the results."""
    try:
        if ray is not None:
            from imlforensic.pipeline.ray_batch import RayUnavailable, run_on_ray

            try:
                return run_on_ray(
                    request,
                    ray,
                    on_record=on_record,
                    show_progress=not quiet,
                    actors=ray_actors,
                    on_expansion=_print_expansion,
                )
            except RayUnavailable as exc:
                fail(str(exc))
        return run_inputs(request, on_record=on_record, show_progress=not quiet, on_expansion=_print_expansion)
    except NoInputsError as exc:
        usage_error(str(exc))
    except (OutputFolderError, MethodLoadError) as exc:
        fail(str(exc))


def _print_expansion(problems: list[tuple[str, str]], notes: list[str]) -> None:
    for name, reason in problems:
        typer.echo(f"error: {name}: {reason}", err=True)
    for note in notes:
        typer.echo(f"note: {note}", err=True)


def _print_record(record: ResultRecord, json_lines: bool, with_area: bool, several: bool) -> None:
    if json_lines:
        sys.stdout.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
    else:
        flagged = f"  flagged {100 * record.flagged_fraction:5.1f}%" if with_area else ""
        method = f"  [{record.method.name}]" if several and record.method else ""
        score = "  -  " if record.score is None else f"{record.score:.3f}"
        declared = (
            f"  (declared by the file; the method alone: {record.method_verdict})"
            if record.method_verdict is not None and record.method_verdict != record.verdict
            else ""
        )
        reliability = record.reliability
        outside = (
            f"  (outside the domain: {', '.join(f for f in reliability.flags if f != 'huge')}; "
            f"decided at {reliability.conservative_threshold:.2f})"
            if reliability is not None and reliability.conservative_threshold is not None
            else ""
        )
        sys.stdout.write(f"{record.verdict:<12} {score}{flagged}  {record.input.path}{method}{declared}{outside}\n")
    sys.stdout.flush()


def finish(command: str, report: RunReport, json_lines: bool, quiet: bool, out: Path | None) -> None:
    """Error lines (``--json``), the summary on stderr, and the exit code."""
    if json_lines:
        for error in report.errors:
            sys.stdout.write(json.dumps(error.to_json(), ensure_ascii=False) + "\n")
    result = report.batch
    failures = report.failures
    if not quiet or failures:
        parts = [f"{result.done} analysed"]
        if result.skipped:
            parts.append(f"{result.skipped} skipped (already done)")
        if failures:
            parts.append(f"{failures} failed")
        where = f"; outputs in {out}" if out is not None and (result.done or result.skipped) else ""
        total = result.total + len(report.problems)
        typer.echo(f"{command}: {total} input(s): " + ", ".join(parts) + where, err=True)
        if failures:
            typer.echo("failed: " + ", ".join(report.failed_names), err=True)
    raise typer.Exit(EXIT_FAILED if failures else EXIT_OK)


def _run(options: AnalysisOptions, json_lines: bool) -> None:
    request = build_request(options)
    several = len(request.analyzers) > 1
    report = execute(
        request,
        lambda record: _print_record(record, json_lines, options.write_maps, several),
        quiet=options.quiet,
        ray=options.ray,
        ray_actors=options.ray_actors,
    )
    if options.summary is not None:
        write_summary(options.summary, [*report.records, *report.errors])
    finish(options.command, report, json_lines, options.quiet, options.out)


def detect(
    inputs: Inputs,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write NAME.json per image into this folder.")
    ] = None,
    method: Methods = None,
    threshold: Threshold = None,
    device: Device = "auto",
    json_lines: JsonLines = False,
    skip_existing: SkipExisting = False,
    quiet: Quiet = False,
    recursive: Recursive = False,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
    weights: Weights = None,
    include_hidden: IncludeHidden = False,
    summary: Summary = None,
    c2pa_trust: C2paTrust = None,
    ray: RayAddress = None,
    ray_actors: RayActors = None,
) -> None:
    """Say whether each image was edited: verdict and score per image.

    Prints one line per image (verdict, score, path), or JSON Lines with --json. Each record also
    holds what the file declares (C2PA manifest, XMP, EXIF), its metadata and JPEG structure; a
    picture that a valid C2PA manifest or its XMP declares AI-generated is 'generated', with the
    reason in verdict_reason (see README, "Evidence fields").

    [bold]Examples[/bold]

      imlforensic detect photo.jpg

      imlforensic detect ~/case42/*.jpg --json > verdicts.jsonl

      imlforensic detect ~/case42 --recursive --summary case42.csv

      imlforensic detect /shared/archive -r --json --ray auto > verdicts.jsonl
    """
    options = AnalysisOptions(
        command="detect",
        inputs=inputs,
        out=out,
        methods=method,
        threshold=threshold,
        device=device,
        skip_existing=skip_existing,
        recursive=recursive,
        max_pixels=max_pixels,
        weights=weights,
        quiet=quiet,
        include_hidden=include_hidden,
        summary=summary,
        c2pa_trust=c2pa_trust,
        ray=ray,
        ray_actors=ray_actors,
    )
    _run(options, json_lines)


def localize(
    inputs: Inputs,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output folder (mirrors the input tree). \\[default: ./imlforensic_out]",
            show_default=False,
        ),
    ] = None,
    method: Methods = None,
    threshold: Threshold = None,
    device: Device = "auto",
    json_lines: JsonLines = False,
    skip_existing: SkipExisting = False,
    quiet: Quiet = False,
    recursive: Recursive = False,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
    refiner: RefinerOption = None,
    sam_checkpoint: SamCheckpoint = None,
    weights: Weights = None,
    include_hidden: IncludeHidden = False,
    summary: Summary = None,
    c2pa_trust: C2paTrust = None,
    views: ViewsOption = None,
    ray: RayAddress = None,
    ray_actors: RayActors = None,
) -> None:
    """Outline the edited regions of each image.

    Writes, per image, under --out: NAME.heatmap.png (grey probability map, 0..255 = 0..1), NAME.heatmap-color.png, NAME.mask.png (0/255), NAME.overlay.png and NAME.json (verdict, score, input sha256, method and settings).

    With --refiner (sam, superpixel, grabcut, deeplab) these are the refined result, and NAME.coarse-heatmap.png and NAME.coarse-overlay.png hold the method's unrefined one. With several --method, each method writes into OUT/METHOD/. With --views, NAME.view-VIEW.png holds each forensic view asked for.

    [bold]Examples[/bold]

      imlforensic localize photo.jpg --out results/

      imlforensic localize ~/case42 --recursive --out ~/case42-results --skip-existing

      imlforensic localize photo.jpg --refiner sam

      imlforensic localize photo.jpg -m mvcam -m classical --out results/

      imlforensic localize photo.jpg --views ela,noise --out results/

      imlforensic localize /shared/archive -r --out /shared/out --skip-existing --ray auto
    """
    options = AnalysisOptions(
        command="localize",
        inputs=inputs,
        out=out if out is not None else default_out(),
        write_maps=True,
        methods=method,
        refiner=refiner_entry(refiner, sam_checkpoint),
        threshold=threshold,
        device=device,
        skip_existing=skip_existing,
        recursive=recursive,
        max_pixels=max_pixels,
        weights=weights,
        quiet=quiet,
        include_hidden=include_hidden,
        summary=summary,
        c2pa_trust=c2pa_trust,
        views=views,
        ray=ray,
        ray_actors=ray_actors,
    )
    _run(options, json_lines)
