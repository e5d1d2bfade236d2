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

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from imlforensic.cli.analyse import AnalysisOptions, build_request, execute
from imlforensic.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    C2paTrust,
    MaxPixels,
    Methods,
    Quiet,
    Recursive,
    Summary,
    ViewsOption,
    fail,
    refiner_entry,
    usage_error,
    write_summary,
)
from imlforensic.io.atomic import atomic_write_bytes
from imlforensic.io.images import DEFAULT_MAX_PIXELS
from imlforensic.pipeline.records import ErrorRecord, Record

BATCH_LOG = "batch.jsonl"


def report(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="A results folder of `localize`, or images (files, folders, globs, - for stdin) to analyse first.",
            show_default=False,
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The PDF file to write.", show_default=False)],
    title: Annotated[str, typer.Option(help="Report title (cover page and PDF metadata).")] = "Image analysis report",
    case: Annotated[str, typer.Option(help="Case number or reference.")] = "",
    analyst: Annotated[str, typer.Option(help="Analyst's name.")] = "",
    date: Annotated[
        str | None, typer.Option(help="Report date as printed \\[default: now]", show_default=False)
    ] = None,
    paper: Annotated[str, typer.Option(help="Page size: a4 or letter.", case_sensitive=False)] = "a4",
    figures: Annotated[
        Path | None,
        typer.Option(
            help="Also write every panel as a 300-dpi PNG and a one-figure PDF into this folder.", show_default=False
        ),
    ] = None,
    figure_width: Annotated[
        float, typer.Option(min=20.0, max=500.0, help="Width of the --figures panels in mm.")
    ] = 160.0,
    batch: Annotated[
        list[Path] | None,
        typer.Option(
            help="JSON Lines log of the run (`localize --json`) listing failed inputs; *.jsonl at the top of a results folder are read anyway.",
            show_default=False,
        ),
    ] = None,
    results_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the `localize` outputs when INPUTS are images \\[default: NAME_results beside the PDF]",
            show_default=False,
        ),
    ] = None,
    method: Methods = None,
    refiner: Annotated[
        str | None, typer.Option(help="Images only: refiner applied to the method's map.", show_default=False)
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0, max=1.0, help="Images only: probability threshold \\[default: the method's]", show_default=False
        ),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="Images only: auto, cpu, cuda or cuda:N \\[default: auto]", show_default=False)
    ] = None,
    recursive: Recursive = False,
    skip_existing: Annotated[
        bool,
        typer.Option(
            "--skip-existing", help="Images only: reuse outputs in --results-dir made from the same file and settings."
        ),
    ] = False,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
    ppi: Annotated[
        float, typer.Option(min=72.0, max=600.0, help="Resolution of the pictures on the pages (pixels per inch).")
    ] = 200.0,
    lossless: Annotated[
        bool,
        typer.Option(
            "--lossless", help="Embed pictures losslessly (Flate) instead of JPEG quality 92: exact pixels, larger PDF."
        ),
    ] = False,
    quiet: Quiet = False,
    summary: Summary = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write an offline HTML case viewer into this folder (index.html: summary table, "
            "original / overlay swipe, zoom and pan, heatmap, evidence; no request leaves the folder).",
            show_default=False,
        ),
    ] = None,
    c2pa_trust: C2paTrust = None,
    views: ViewsOption = None,
) -> None:
    """Make a PDF case report: cover with models, settings and a summary table; one page per image (original, heatmap with colour bar, mask overlay, verdict, sha256, EXIF); appendix on the methods and how to read the maps.

    [bold]Examples[/bold]

      imlforensic report results/ -o case42.pdf --title "Case 42" --case 42/2024 --analyst "J. Doe"

      imlforensic report ~/case42/*.jpg -o case42.pdf --figures case42-figures/

      imlforensic report results/ -o case42.pdf --html case42-viewer/ --summary case42.csv
    """
    from imlforensic.report import ReportOptions, build_report, collect, looks_like_results

    paper = paper.lower()
    if paper not in ("a4", "letter"):
        usage_error(f"unknown paper size {paper!r}; use a4 or letter")
    if output.exists() and output.is_dir():
        usage_error(f"{output} is a folder; give the PDF file name with -o")
    for log in batch or []:
        if not log.is_file():
            usage_error(f"{log}: no such batch log")
    if html is not None and html.exists() and not html.is_dir():
        usage_error(f"--html {html}: not a folder")

    folders = [Path(spec) for spec in inputs if spec != "-" and Path(spec).is_dir() and looks_like_results(Path(spec))]
    image_specs = [spec for spec in inputs if not (spec != "-" and Path(spec).is_dir() and Path(spec) in folders)]
    if folders and image_specs:
        usage_error(
            "give either results folders or images, not both: "
            f"{', '.join(map(str, folders))} hold results, {', '.join(image_specs)} do not"
        )

    batch_entries = None
    localize_failed = False
    if folders:
        given = [
            name
            for name, value in (
                ("--method", method),
                ("--refiner", refiner),
                ("--threshold", threshold),
                ("--device", device),
                ("--c2pa-trust", c2pa_trust),
                ("--views", views),
            )
            if value is not None
        ]
        if given and not quiet:
            typer.echo(f"note: {', '.join(given)} ignored: the report shows the results as they were made", err=True)
        collection = collect(folders, batch or [])
    else:
        results = results_dir if results_dir is not None else output.with_name(output.stem + "_results")
        batch_entries, localize_failed = _localize(
            image_specs,
            results,
            method,
            refiner,
            threshold,
            device,
            recursive,
            skip_existing,
            quiet,
            max_pixels,
            c2pa_trust,
            views,
        )
        collection = collect([results], batch or [], only_batch=True, batch_entries=batch_entries)
    for warning in collection.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if not collection.items:
        usage_error("no results found to report" + (f" in {', '.join(map(str, folders))}" if folders else ""))

    if summary is not None:
        write_summary(summary, _entries(collection.items))
    if html is not None:
        _write_viewer(html, collection.items, title, quiet)

    if figures is not None:
        try:
            figures.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(f"cannot create figures folder {figures}: {exc.strerror or exc}")

    options = ReportOptions(
        title=title,
        case=case,
        analyst=analyst,
        date=date,
        paper=paper,
        ppi=ppi,
        figures=figures,
        figure_width_mm=figure_width,
        max_pixels=max_pixels,
        lossless=lossless,
    )
    progress = None
    if not quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=sum(1 for i in collection.items if i.analysed), desc="report", unit="page", file=sys.stderr)
        progress = lambda done, total: bar.update(1)  # noqa: E731
    try:
        result = build_report(collection, output, options, progress=progress)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
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


def _localize(
    specs: list[str],
    results: Path,
    methods: list[str] | None,
    refiner: str | None,
    threshold: float | None,
    device: str | None,
    recursive: bool,
    skip_existing: bool,
    quiet: bool,
    max_pixels: int,
    c2pa_trust: Path | None = None,
    views: str | None = None,
) -> tuple[list[Record], bool]:
    """Run ``localize`` (the same pipeline as the command) into ``results``; return its records
    (failed inputs as error records) and whether any input failed. The run's log is kept as
    ``results/batch.jsonl``."""
    options = AnalysisOptions(
        command="localize",
        inputs=specs,
        out=results,
        write_maps=True,
        methods=methods,
        refiner=refiner_entry(refiner, None),
        threshold=threshold,
        device=device or "auto",
        skip_existing=skip_existing,
        recursive=recursive,
        max_pixels=max_pixels,
        quiet=quiet,
        c2pa_trust=c2pa_trust,
        views=views,
    )
    request = build_request(options)
    run = execute(request, quiet=quiet)  # failed inputs are named as they happen
    entries: list[Record] = [*run.records, *run.errors]
    if entries:
        log = "".join(json.dumps(entry.to_json(), ensure_ascii=False) + "\n" for entry in entries)
        try:
            atomic_write_bytes(results / BATCH_LOG, log.encode("utf-8"))
        except OSError as exc:
            typer.echo(f"warning: cannot keep the batch log in {results}: {exc.strerror or exc}", err=True)
    return entries, bool(run.failures)


def _entries(items: list) -> list[Record]:
    """The report's items as records, in its order: failed and missing inputs as error records."""
    return [
        item.record
        if item.record is not None
        else ErrorRecord(path=item.path, error=item.error or item.status, extra={"status": item.status})
        for item in items
    ]


def _write_viewer(folder: Path, items: list, title: str, quiet: bool) -> None:
    """``--html``: the case viewer of the report's items, their outputs found where the report found them."""
    from imlforensic.io.case import case_entry
    from imlforensic.report.html import write_case_viewer

    entries = [case_entry(record.to_json(), item.folder) for item, record in zip(items, _entries(items))]
    try:
        result = write_case_viewer(folder, entries, title=title)
    except OSError as exc:
        fail(f"cannot write the HTML viewer into {folder}: {exc.strerror or exc}")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if not quiet:
        typer.echo(f"report: HTML viewer of {result.images} image(s) in {result.index}", err=True)
