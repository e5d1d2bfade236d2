"""The ``imlforensic`` command line (Typer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from imlforensic import __version__
from imlforensic.cli.evaluate import evaluate
from imlforensic.cli.models import models_app
from imlforensic.cli.report import report
from imlforensic.cli.refine import RefinerOption, SamCheckpoint, refine, refiner_name
from imlforensic.cli.run import RunOptions, Weights, default_out, run_analysis
from imlforensic.cli.train import train
from imlforensic.io.images import DEFAULT_MAX_PIXELS
from imlforensic.registry import DEFAULT_METHOD

app = typer.Typer(
    name="imlforensic",
    help="Find and outline the edited regions of images (splices, copy-moves, removals, inpainting).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(models_app, name="models")
app.command()(evaluate)
app.command()(train)
app.command()(report)
app.command()(refine)

# Options shared by the analysis commands.
Inputs = Annotated[list[str], typer.Argument(help="Image files, folders, glob patterns, or - to read paths from stdin.", show_default=False)]
Method = Annotated[Optional[str], typer.Option("--method", "-m", help=f"Detection method (see `imlforensic models list`) \\[default: {DEFAULT_METHOD}]", show_default=False)]
Threshold = Annotated[Optional[float], typer.Option(min=0.0, max=1.0, help="Probability threshold for the mask and verdict \\[default: the method's]", show_default=False)]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
JsonLines = Annotated[bool, typer.Option("--json", help="Print one JSON object per image (JSON Lines) on stdout.")]
SkipExisting = Annotated[bool, typer.Option("--skip-existing", help="Skip inputs whose outputs exist and match (resume a batch).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary (errors are still printed).")]
Recursive = Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders of folder inputs.")]
MaxPixels = Annotated[int, typer.Option(min=1, help="Refuse images with more pixels than this (decompression-bomb guard).")]
IncludeHidden = Annotated[bool, typer.Option("--include-hidden", help="Also analyse hidden files and folders (names starting with '.') found in folders; otherwise each is named in a note.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imlforensic {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")] = False,
) -> None:
    """Find and outline the edited regions of images."""


@app.command()
def detect(
    inputs: Inputs,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Also write NAME.json per image into this folder.")] = None,
    method: Method = None,
    threshold: Threshold = None,
    device: Device = "auto",
    json_lines: JsonLines = False,
    skip_existing: SkipExisting = False,
    quiet: Quiet = False,
    recursive: Recursive = False,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
    weights: Weights = None,
    include_hidden: IncludeHidden = False,
) -> None:
    """Say whether each image was edited: verdict and score per image.

    Prints one line per image (verdict, score, path), or JSON Lines with --json.

    [bold]Examples[/bold]

      imlforensic detect photo.jpg

      imlforensic detect ~/case42/*.jpg --json > verdicts.jsonl
    """
    run_analysis(RunOptions(
        command="detect", inputs=inputs, out=out, write_maps=False, method=method, refiner=None,
        threshold=threshold, device=device, json_lines=json_lines, skip_existing=skip_existing,
        quiet=quiet, recursive=recursive, max_pixels=max_pixels, weights=weights, include_hidden=include_hidden,
    ))


@app.command()
def localize(
    inputs: Inputs,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder (mirrors the input tree). \\[default: ./imlforensic_out]", show_default=False)] = None,
    method: Method = None,
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
) -> None:
    """Outline the edited regions of each image.

    Writes, per image, under --out: NAME.heatmap.png (grey probability map, 0..255 = 0..1), NAME.heatmap-color.png, NAME.mask.png (0/255), NAME.overlay.png and NAME.json (verdict, score, input sha256, method and settings); NAME is the input's file name, extension included (photo.jpg.mask.png), escaped where needed (see the README).

    With --refiner (sam, superpixel, grabcut, deeplab) these are the refined result, and NAME.coarse-heatmap.png and NAME.coarse-overlay.png hold the method's unrefined one.

    [bold]Examples[/bold]

      imlforensic localize photo.jpg --out results/

      imlforensic localize ~/case42 --recursive --out ~/case42-results --skip-existing

      imlforensic localize photo.jpg --refiner sam
    """
    run_analysis(RunOptions(
        command="localize", inputs=inputs, out=out if out is not None else default_out(), write_maps=True,
        method=method, refiner=refiner_name(refiner, sam_checkpoint), threshold=threshold, device=device, json_lines=json_lines,
        skip_existing=skip_existing, quiet=quiet, recursive=recursive, max_pixels=max_pixels, weights=weights,
        include_hidden=include_hidden,
    ))


def main() -> None:
    app()
