"""``imlforensic report``: a PDF case report (and print-ready figures) from ``localize`` outputs.

Inputs are either **results folders** written by ``localize --out`` (any folder holding
``imlforensic.result/1`` JSON records), or **images** (files, folders, globs, ``-``), which are
analysed first exactly as ``localize`` would, with the options given here, into
``--results-dir`` (default: ``NAME_results/`` beside the PDF); the run's JSON Lines log is kept
there as ``batch.jsonl``, so failed inputs are listed again when the folder is reported later.

Exit codes: 0 the report lists every input as analysed; 1 the report was written but some
inputs failed or are missing (they are listed in it) or the report could not be written;
2 usage error.
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from imlforensic.io.images import DEFAULT_MAX_PIXELS
from imlforensic.registry import DEFAULT_METHOD

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
BATCH_LOG = "batch.jsonl"


def _error(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def report(
    inputs: Annotated[list[str], typer.Argument(help="A results folder of `localize`, or images (files, folders, globs, - for stdin) to analyse first.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="The PDF file to write.", show_default=False)],
    title: Annotated[str, typer.Option(help="Report title (cover page and PDF metadata).")] = "Image analysis report",
    case: Annotated[str, typer.Option(help="Case number or reference.")] = "",
    analyst: Annotated[str, typer.Option(help="Analyst's name.")] = "",
    date: Annotated[Optional[str], typer.Option(help="Report date as printed \\[default: now]", show_default=False)] = None,
    paper: Annotated[str, typer.Option(help="Page size: a4 or letter.", case_sensitive=False)] = "a4",
    figures: Annotated[Optional[Path], typer.Option(help="Also write every panel as a 300-dpi PNG and a one-figure PDF into this folder.", show_default=False)] = None,
    figure_width: Annotated[float, typer.Option(min=20.0, max=500.0, help="Width of the --figures panels in mm.")] = 160.0,
    batch: Annotated[Optional[list[Path]], typer.Option(help="JSON Lines log of the run (`localize --json`) listing failed inputs; *.jsonl at the top of a results folder are read anyway.", show_default=False)] = None,
    results_dir: Annotated[Optional[Path], typer.Option(help="Where to write the `localize` outputs when INPUTS are images \\[default: NAME_results beside the PDF]", show_default=False)] = None,
    method: Annotated[Optional[str], typer.Option("--method", "-m", help=f"Images only: detection method \\[default: {DEFAULT_METHOD}]", show_default=False)] = None,
    refiner: Annotated[Optional[str], typer.Option(help="Images only: refiner applied to the method's map.", show_default=False)] = None,
    threshold: Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Images only: probability threshold \\[default: the method's]", show_default=False)] = None,
    device: Annotated[Optional[str], typer.Option(help="Images only: auto, cpu, cuda or cuda:N \\[default: auto]", show_default=False)] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Images only: descend into sub-folders.")] = False,
    skip_existing: Annotated[bool, typer.Option("--skip-existing", help="Images only: reuse outputs in --results-dir made from the same file and settings.")] = False,
    max_pixels: Annotated[int, typer.Option(min=1, help="Refuse images with more pixels than this.")] = DEFAULT_MAX_PIXELS,
    ppi: Annotated[float, typer.Option(min=72.0, max=600.0, help="Resolution of the pictures on the pages (pixels per inch).")] = 200.0,
    lossless: Annotated[bool, typer.Option("--lossless", help="Embed pictures losslessly (Flate) instead of JPEG quality 92: exact pixels, larger PDF.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary (errors are still printed).")] = False,
) -> None:
    """Make a PDF case report: cover with models, settings and a summary table; one page per image (original, heatmap with colour bar, mask overlay, verdict, sha256, EXIF); appendix on the methods and how to read the maps.

    [bold]Examples[/bold]

      imlforensic report results/ -o case42.pdf --title "Case 42" --case 42/2024 --analyst "J. Doe"

      imlforensic report ~/case42/*.jpg -o case42.pdf --figures case42-figures/
    """
    from imlforensic.report import ReportOptions, build_report, collect, looks_like_results

    paper = paper.lower()
    if paper not in ("a4", "letter"):
        raise _error(f"unknown paper size {paper!r}; use a4 or letter", EXIT_USAGE)
    if output.exists() and output.is_dir():
        raise _error(f"{output} is a folder; give the PDF file name with -o", EXIT_USAGE)
    for log in batch or []:
        if not log.is_file():
            raise _error(f"{log}: no such batch log", EXIT_USAGE)

    folders = [Path(spec) for spec in inputs if spec != "-" and Path(spec).is_dir() and looks_like_results(Path(spec))]
    image_specs = [spec for spec in inputs if not (spec != "-" and Path(spec).is_dir() and Path(spec) in folders)]
    if folders and image_specs:
        raise _error("give either results folders or images, not both: "
                     f"{', '.join(map(str, folders))} hold results, {', '.join(image_specs)} do not", EXIT_USAGE)

    batch_entries = None
    localize_failed = False
    if folders:
        given = [name for name, value in (("--method", method), ("--refiner", refiner), ("--threshold", threshold), ("--device", device)) if value is not None]
        if given and not quiet:
            typer.echo(f"note: {', '.join(given)} ignored: the report shows the results as they were made", err=True)
        collection = collect(folders, batch or [])
    else:
        results = results_dir if results_dir is not None else output.with_name(output.stem + "_results")
        batch_entries, localize_failed = _localize(image_specs, results, method, refiner, threshold, device,
                                                   recursive, skip_existing, quiet, max_pixels)
        collection = collect([results], batch or [], only_batch=True, batch_entries=batch_entries)
    for warning in collection.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if not collection.items:
        raise _error("no results found to report" + (f" in {', '.join(map(str, folders))}" if folders else ""), EXIT_USAGE)

    if figures is not None:
        try:
            figures.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _error(f"cannot create figures folder {figures}: {exc.strerror or exc}", EXIT_FAILED) from None

    options = ReportOptions(
        title=title, case=case, analyst=analyst, date=date, paper=paper, ppi=ppi, figures=figures,
        figure_width_mm=figure_width, max_pixels=max_pixels, lossless=lossless,
    )
    progress = None
    if not quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=sum(1 for i in collection.items if i.analysed), desc="report", unit="page", file=sys.stderr)
        progress = lambda done, total: bar.update(1)  # noqa: E731
    try:
        result = build_report(collection, output, options, progress=progress)
    except OSError as exc:
        raise _error(f"cannot write {output}: {exc.strerror or exc}", EXIT_FAILED) from None
    finally:
        if progress is not None:
            bar.close()

    failed = result.failed
    if not quiet or failed:
        parts = [f"{result.pages} pages", f"{result.images} image{'s' if result.images != 1 else ''}"]
        if failed:
            parts.append(f"{len(failed)} failed or missing: " + ", ".join(item.name for item in failed))
        typer.echo(f"report: wrote {output} (" + "; ".join(parts) + f") in {result.seconds:.1f} s", err=True)
        if result.figures:
            typer.echo(f"report: {len(result.figures)} figure files in {figures}", err=True)
    raise typer.Exit(EXIT_FAILED if failed or localize_failed else EXIT_OK)


def _localize(specs, results, method, refiner, threshold, device, recursive, skip_existing, quiet, max_pixels):
    """Run ``localize`` (the same code as the command) and return its JSON Lines objects."""
    import json

    from imlforensic.cli.run import RunOptions, run_analysis

    captured = io.StringIO()
    code = EXIT_OK
    opts = RunOptions(
        command="localize", inputs=specs, out=results, write_maps=True, method=method,
        refiner=refiner, threshold=threshold, device=device or "auto", json_lines=True,
        skip_existing=skip_existing, quiet=quiet, recursive=recursive, max_pixels=max_pixels,
    )
    try:
        with contextlib.redirect_stdout(captured):
            run_analysis(opts)
    except typer.Exit as exc:
        code = exc.exit_code
    if code == EXIT_USAGE:
        raise typer.Exit(EXIT_USAGE)
    text = captured.getvalue()
    entries = []
    for line in text.splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    if not entries and code != EXIT_OK:  # e.g. the method could not be loaded
        raise typer.Exit(EXIT_FAILED)
    if entries:
        try:
            from imlforensic.io.atomic import atomic_write_bytes

            atomic_write_bytes(Path(results) / BATCH_LOG, text.encode("utf-8"))
        except OSError as exc:
            typer.echo(f"warning: cannot keep the batch log in {results}: {exc.strerror or exc}", err=True)
    return entries, code != EXIT_OK
