"""``imlforensic models list|fetch``: what is registered, what is installed, downloads."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from imlforensic.cli.common import EXIT_FAILED, fail, usage_error
from imlforensic.registry import REGISTRY, DownloadedFile, UnknownModelError, WeightsError

models_app = typer.Typer(help="List the registered models and download their weights.", no_args_is_help=True)


@models_app.command("list")
def list_models(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show every registered model, its task, version and state.

    States: ready; needs download (run `imlforensic models fetch NAME`); missing weights;
    missing dependency (a Python package is not installed).

    [bold]Example[/bold]

      imlforensic models list
    """
    rows = [
        {
            "name": e.name,
            "task": e.task,
            "version": e.version,
            "state": REGISTRY.state(e),
            "weights": e.weights.describe()
            if e.weights
            else ("alias of " + ", ".join(e.alias_of) if e.is_alias else "none needed"),
            "summary": e.summary,
        }
        for e in REGISTRY.entries()
    ]
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    columns = ("name", "task", "version", "state", "summary")
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns[:-1]}
    typer.echo("  ".join(c.upper().ljust(widths.get(c, 0)) for c in columns))
    for row in rows:
        typer.echo("  ".join(str(row[c]).ljust(widths.get(c, 0)) for c in columns))


@models_app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    source: Annotated[
        str | None, typer.Option("--from", help="Install from this local file or URL instead of the official URL.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Download a model's weights into the cache, verifying their sha256.

    [bold]Examples[/bold]

      imlforensic models fetch sam-vit-b

      imlforensic models fetch sam-vit-b --from ~/Downloads/sam_vit_b_01ec64.pth
    """
    try:
        entry = REGISTRY.entry(name)
    except UnknownModelError as exc:
        usage_error(str(exc))
    if not isinstance(entry.weights, DownloadedFile):
        where = entry.weights.describe() if entry.weights else "no weights"
        typer.echo(f"{name}: nothing to download ({where}); state: {REGISTRY.state(entry)}")
        return
    try:
        path = entry.weights.fetch(source=source, progress=not quiet)
    except WeightsError as exc:
        fail(str(exc), EXIT_FAILED)
    typer.echo(f"{name}: weights verified (sha256 {entry.weights.sha256[:16]}...) and installed at {path}")
