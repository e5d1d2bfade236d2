"""``imlforensic train-boxprompt``: train the BoxPromptIML student from annotation folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imlforensic.cli.common import (
    BatchSizeOverride,
    Device,
    Quiet,
    Resume,
    StepsOverride,
    ValDatasets,
    check_device,
    fail,
    usage_error,
)
from imlforensic.data.datasets import DatasetError


def train_boxprompt(
    annotations: Annotated[
        list[Path],
        typer.Argument(
            help="Annotation folders written by `imlforensic annotate` (their index.csv).", show_default=False
        ),
    ],
    val: ValDatasets = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder for last.safetensors, its resume state and log.jsonl.")
    ] = Path("runs/boxprompt"),
    preset: Annotated[str, typer.Option(help="cpu, gpu, or tiny (a smoke test).")] = "cpu",
    steps: StepsOverride = None,
    batch_size: BatchSizeOverride = None,
    memory: Annotated[
        bool, typer.Option("--memory/--no-memory", help="With or without the memory-guided fusion module (ablation).")
    ] = True,
    hard_targets: Annotated[
        bool,
        typer.Option(
            "--hard-targets", help="Train on the thresholded pseudo masks instead of the soft logits (ablation)."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed (data order, augmentation, initialisation).")] = 0,
    device: Device = "auto",
    resume: Resume = False,
    quiet: Quiet = False,
) -> None:
    """Train the BoxPromptIML student (paper 2) on the teacher's pseudo masks, by distillation.

    This is the sub-command for BoxPromptIML training (`imlforensic train` trains the mvcam localizer from image-level labels). Targets are the soft logits in the annotation folders (`imlforensic annotate`: boxes of a dataset, or --synthesize-from for synthetic edits of which only the boxes are kept); authentic images count as empty targets. Loss: soft BCE + Dice + temperature distillation (see imlforensic/models/boxprompt.py). Mixed precision on a GPU. The result runs with `imlforensic localize -m boxprompt --weights OUT/last.safetensors`.

    [bold]Examples[/bold]

      imlforensic annotate data/casia1@train --boxes-from-masks --out runs/ann-casia

      imlforensic annotate --synthesize-from photos/ --count 1000 --out runs/ann-synth

      imlforensic train-boxprompt runs/ann-casia runs/ann-synth --val data/casia1@val --out runs/boxprompt
    """
    from imlforensic.registry import resolve_device
    from imlforensic.training.boxprompt import preset as make_preset
    from imlforensic.training.boxprompt import train

    check_device(device)
    try:
        config = make_preset(preset, steps=steps, batch_size=batch_size, seed=seed, memory=memory, hard=hard_targets)
    except ValueError as exc:
        usage_error(str(exc))
    for folder in annotations:
        if not (folder / "index.csv").is_file():
            usage_error(f"{folder}: not an annotation folder (no index.csv; make one with `imlforensic annotate`)")
    try:
        checkpoint = train(
            config,
            list(annotations),
            list(val or []),
            out,
            device=resolve_device(device),
            resume=resume,
            show_progress=not quiet,
        )
    except (DatasetError, ValueError) as exc:
        fail(str(exc))
    typer.echo(
        f"checkpoint: {checkpoint} (use it with: imlforensic localize IMAGE -m boxprompt --weights {checkpoint})"
    )
