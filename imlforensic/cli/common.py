"""What every command shares: exit codes, the error helper, option declarations, device and
method checks.

Exit codes (the same for every command): 0 done; 1 some inputs failed (each named on stderr as
``error: PATH: reason``), or a model, map or output could not be used; 2 usage error (bad
option, unknown method, no inputs found).

Option meanings are the same everywhere: ``--out/-o`` is the folder the command writes its
files into (``detect``, ``localize``, ``refine``; ``report``'s one output is the PDF, named with
``--output/-o``), ``--method/-m`` a registered method (repeatable where several can run),
``--threshold`` the decision threshold (default: the method's own), ``--device`` where models
run, ``--weights`` a checkpoint of yours for a learned method.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from imlforensic.io.messages import one_line
from imlforensic.registry import DEFAULT_METHOD, DEVICE_PATTERN, REGISTRY, ModelEntry, UnknownModelError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# -- option declarations -------------------------------------------------------------------
Inputs = Annotated[
    list[str],
    typer.Argument(help="Image files, folders, glob patterns, or - to read paths from stdin.", show_default=False),
]
Methods = Annotated[
    list[str] | None,
    typer.Option(
        "--method",
        "-m",
        show_default=False,
        help=f"Detection method (see `imlforensic models list`) \\[default: {DEFAULT_METHOD}]. Repeat it to run several: "
        "each writes into its own sub-folder of --out (OUT/METHOD/...).",
    ),
]
Threshold = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Probability threshold for the mask and verdict \\[default: the method's]",
        show_default=False,
    ),
]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")]
JsonLines = Annotated[bool, typer.Option("--json", help="Print one JSON object per image (JSON Lines) on stdout.")]
SkipExisting = Annotated[
    bool, typer.Option("--skip-existing", help="Skip inputs whose outputs exist and match (resume a batch).")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary (errors are still printed).")]
# the training commands (train, train-boxprompt)
ValDatasets = Annotated[
    list[str] | None,
    typer.Option(
        "--val",
        help="Validation datasets (repeatable), e.g. data/casia1@val; their masks are used for metrics only.",
        show_default=False,
    ),
]
StepsOverride = Annotated[int | None, typer.Option(help="Override the preset's number of steps.", show_default=False)]
BatchSizeOverride = Annotated[int | None, typer.Option(help="Override the preset's batch size.", show_default=False)]
Resume = Annotated[bool, typer.Option("--resume", help="Continue from the output folder's last checkpoint.")]
Recursive = Annotated[bool, typer.Option("--recursive", "-r", help="Descend into sub-folders of folder inputs.")]
MaxPixels = Annotated[
    int, typer.Option(min=1, help="Refuse images with more pixels than this (decompression-bomb guard).")
]
IncludeHidden = Annotated[
    bool,
    typer.Option(
        "--include-hidden",
        help="Also analyse hidden files and folders (names starting with '.') found in folders; otherwise each is named in a note.",
    ),
]
RefinerOption = Annotated[
    str | None,
    typer.Option(
        "--refiner",
        help="Refine the map with a segmenter: sam, superpixel, grabcut or deeplab (see `imlforensic models list`).",
        show_default=False,
    ),
]
SamCheckpoint = Annotated[
    Path | None,
    typer.Option(
        "--sam-checkpoint",
        help="A SAM checkpoint file to use with --refiner sam (vit_b/l/h, MobileSAM or LiteMedSAM; read from the file).",
        show_default=False,
    ),
]
Weights = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        help="A checkpoint to use instead of the method's shipped weights: from `imlforensic train` (mvcam, mvcam-net, transcam) or `imlforensic train-boxprompt` (boxprompt).",
        show_default=False,
    ),
]

RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Run the analysis on Ray actors (pip install 'imlforensic[ray]'): local (a Ray instance on this "
        "machine), auto (the cluster this machine is in), or an address such as ray://head:10001. Same outputs.",
        show_default=False,
    ),
]
RayActors = Annotated[
    int | None,
    typer.Option(
        "--ray-actors",
        min=1,
        help="With --ray: number of actors \\[default: one per GPU of the cluster, else one per 2 CPUs].",
        show_default=False,
    ),
]
Summary = Annotated[
    Path | None,
    typer.Option(
        "--summary",
        help="Also write a CSV summary to this file: one row per image (and method), failed inputs included "
        "(path, sha256, verdict, probabilities, flagged area, regions, notes; UTF-8 for spreadsheets).",
        show_default=False,
    ),
]
ViewsOption = Annotated[
    str | None,
    typer.Option(
        "--views",
        help="Also write forensic views as pictures beside the maps, NAME.view-VIEW.png: ela (error levels), "
        "sel, noise, dq (JPEG double quantisation), comma-separated, or all.",
        show_default=False,
    ),
]
C2paTrust = Annotated[
    Path | None,
    typer.Option(
        "--c2pa-trust",
        help="PEM file of the root certificates whose C2PA signers count as trusted "
        "(otherwise an intact manifest's signature reads 'untrusted_signer').",
        show_default=False,
    ),
]


# -- errors --------------------------------------------------------------------------------
def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``error: MESSAGE`` on stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def usage_error(message: str) -> NoReturn:
    fail(message, EXIT_USAGE)


# -- checks --------------------------------------------------------------------------------
def check_device(device: str) -> str:
    if not DEVICE_PATTERN.match(device):
        usage_error(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    return device


def entry_of(name: str, task: str, what: str) -> ModelEntry:
    """The registry entry ``name``, which must be of ``task`` (a usage error otherwise)."""
    try:
        entry = REGISTRY.entry(name)
    except UnknownModelError as exc:
        usage_error(str(exc))
    tasks = ("detector", "classifier") if task == "detector" else (task,)
    if entry.task not in tasks:
        usage_error(f"{name!r} is a {entry.task}, not {what} (see `imlforensic models list`)")
    return entry


def method_entries(names: list[str] | None, weights: Path | None = None, quiet: bool = False) -> list[ModelEntry]:
    """The methods to run: those named (each once), else the default one (or its fallback, with a
    notice, when its weights are missing); ``weights`` replaces the learned method's checkpoint."""
    if not names:
        names = [DEFAULT_METHOD if weights is not None else default_method(quiet=quiet)]
    if len(set(names)) != len(names):
        usage_error("each --method may be given once")
    entries = [entry_of(name, "detector", "a detection method") for name in names]
    if weights is not None:
        if len(entries) != 1:
            usage_error("--weights goes with one --method")
        entries = [with_weights(entries[0], weights)]
    return entries


def with_weights(entry: ModelEntry, weights: Path) -> ModelEntry:
    """``--weights``: the method's entry loading ``weights`` instead of its own."""
    if entry.weights is None:
        learned = ", ".join(e.name for e in REGISTRY.entries("detector") if e.weights is not None)
        usage_error(f"--weights goes with a learned method ({learned}), not {entry.name!r}")
    try:
        return REGISTRY.with_weights(entry, weights)
    except ValueError as exc:
        fail(one_line(exc))


def refiner_entry(refiner: str | None, sam_checkpoint: Path | None) -> ModelEntry | None:
    """The refiner to run; ``--sam-checkpoint`` gives the SAM file (and implies sam)."""
    if sam_checkpoint is None:
        return entry_of(refiner, "segmenter", "a refiner") if refiner else None
    if refiner not in (None, "sam"):
        usage_error("--sam-checkpoint goes with --refiner sam")
    from imlforensic.refiners.sam import local_checkpoint_entry

    try:
        return local_checkpoint_entry(sam_checkpoint)
    except (ValueError, ImportError) as exc:
        fail(one_line(exc))


def default_method(quiet: bool = False) -> str:
    """The default method, or its fallback (with a one-line notice) when its weights are missing."""
    entry = REGISTRY.entry(DEFAULT_METHOD)
    state = REGISTRY.state(entry)
    if state == "ready" or not entry.fallback:
        return DEFAULT_METHOD
    if not quiet:
        typer.echo(
            f"note: default method {DEFAULT_METHOD!r} is unavailable ({state}); using {entry.fallback!r}", err=True
        )
    return entry.fallback


def default_out() -> Path:
    return Path(os.environ.get("IMLFORENSIC_OUT", "imlforensic_out"))


def read_trust_anchors(path: Path | None) -> str | None:
    """``--c2pa-trust``: the PEM text of the trusted roots (a usage error when it holds none)."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        usage_error(f"--c2pa-trust {path}: cannot be read ({getattr(exc, 'strerror', None) or exc})")
    if "-----BEGIN CERTIFICATE-----" not in text:
        usage_error(f"--c2pa-trust {path}: no PEM certificate in it")
    return text


def write_summary(path: Path, entries: list) -> None:
    """``--summary``: the CSV of ``entries`` (records), or one error line when it cannot be written."""
    from imlforensic.io.summary_csv import write_summary_csv

    try:
        write_summary_csv(path, entries)
    except OSError as exc:
        fail(f"cannot write the summary {path}: {exc.strerror or exc}")


def views_of(text: str | None) -> tuple[str, ...]:
    """``--views``: the view names (a usage error for an unknown one)."""
    from imlforensic.views.pictures import parse_views

    try:
        return parse_views(text)
    except ValueError as exc:
        usage_error(f"--views: {exc}")
