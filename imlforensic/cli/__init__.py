"""The ``imlforensic`` command line (Typer): one module per command, shared plumbing in :mod:`.common`."""

from __future__ import annotations

from typing import Annotated

import typer

from imlforensic import __version__
from imlforensic.cli.analyse import detect, localize
from imlforensic.cli.annotate import annotate
from imlforensic.cli.evaluate import evaluate
from imlforensic.cli.models import models_app
from imlforensic.cli.refine import refine
from imlforensic.cli.report import report
from imlforensic.cli.serve import serve
from imlforensic.cli.train import train
from imlforensic.cli.train_boxprompt import train_boxprompt

app = typer.Typer(
    name="imlforensic",
    help="Find and outline the edited regions of images (splices, copy-moves, removals, inpainting).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(models_app, name="models")
for command in (detect, localize, evaluate, train, report, refine, serve, annotate):
    app.command()(command)
app.command("train-boxprompt")(train_boxprompt)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"imlforensic {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Find and outline the edited regions of images."""


def main() -> None:
    app()
