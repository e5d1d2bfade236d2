"""``imlforensic train``: train the weakly supervised localizer from image-level labels."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

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


def train(
    datasets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Labelled dataset folders (labels.csv, Tp/ + Au/, or authentic/ + manipulated/); FOLDER@train for its fixed training half. Only image-level labels are used.",
            show_default=False,
        ),
    ] = None,
    synthesize_from: Annotated[
        list[Path] | None,
        typer.Option(
            "--synthesize-from",
            help="Folders of authentic photos to make synthetic edits from (repeatable).",
            show_default=False,
        ),
    ] = None,
    generated_donors: Annotated[
        list[Path] | None,
        typer.Option(
            "--generated-donors",
            help="Folders of generated pictures whose regions are blended into the photos as synthetic edits (repeatable; with --synthesize-from).",
            show_default=False,
        ),
    ] = None,
    val: ValDatasets = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder for last.safetensors, its resume state and log.jsonl.")
    ] = Path("runs/localizer"),
    network: Annotated[
        str,
        typer.Option(
            help="mvcam (the multi-view CAM localizer), transcam (the CNN-Transformer dual-stream network of paper 3, for --method transcam) or threeway (the real / edited / generated classifier of paper 3, for --method threeway)."
        ),
    ] = "mvcam",
    preset: Annotated[
        str,
        typer.Option(
            help="cpu (mvcam: about 15-20 min on 2 cores; transcam: about 40 min; threeway: see docs/BENCHMARKS.md), gpu, or tiny (a smoke test)."
        ),
    ] = "cpu",
    steps: StepsOverride = None,
    batch_size: BatchSizeOverride = None,
    seed: Annotated[int, typer.Option(help="Random seed (data order, synthesis, initialisation).")] = 0,
    device: Device = "auto",
    resume: Resume = False,
    calibration_samples: Annotated[
        int, typer.Option(min=8, help="Synthetic samples for the calibration after training (with --synthesize-from).")
    ] = 240,
    extractor: Annotated[
        str,
        typer.Option(
            help="threeway: the frozen feature extractor, lite0 | lite1 | lite2 | timm:MODEL (with --extractor-weights)."
        ),
    ] = "lite0",
    extractor_weights: Annotated[
        Path | None,
        typer.Option(
            help="threeway: a local weights file for --extractor timm:MODEL (nothing is downloaded).",
            show_default=False,
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Train the multi-view CAM localizer with image-level labels (no pixel masks).

    (To train the BoxPromptIML student from rough boxes instead, use `imlforensic annotate` and `imlforensic train-boxprompt`.)

    Synthetic edits (splice, copy-move, removal, retouch, region-wise double JPEG, then a shared resize/JPEG chain) are mixed with the labelled images. With --synthesize-from, the checkpoint is then calibrated on synthetic samples from those photos (the background level of authentic photos, and the decision thresholds for the map fused with the sel and copy-move views and for the network alone), stored in its metadata. The result, OUT/last.safetensors, runs with `detect`, `localize` and `evaluate --weights OUT/last.safetensors`, or, copied to weights/, becomes the shipped model (see scripts/train_default.py).

    Under torchrun (torchrun --nproc_per_node N -m imlforensic train ...) it trains data-parallel (DDP) on N processes, one GPU each (gloo on CPU); --batch-size is the global batch, and rank 0 validates, writes the checkpoints and the log.

    [bold]Examples[/bold]

      imlforensic train data/casia1@train --synthesize-from photos/ --val data/casia1@val --out runs/a

      torchrun --nproc_per_node 4 -m imlforensic train data/casia1@train --synthesize-from photos/ --preset gpu --out runs/b

      imlforensic train data/casia1@train --synthesize-from photos/ --network transcam --out runs/t  (then: localize --method transcam --weights runs/t/last.safetensors)

    [bold]The three-way classifier[/bold] (--network threeway) trains from folders whose labels.csv says authentic, manipulated or generated, plus synthetic edits of the --synthesize-from photos (with regions of the generated pictures and of --generated-donors blended in). Every picture goes through the same random resize / crop / re-encoding chain, the frozen --extractor reads it, and the features are cached in OUT/cache (--resume continues an interrupted extraction); then the teacher, the students with the feature generalizers and the discrepancy classifier are trained, and the generated threshold is calibrated on the validation pictures (15 % of the groups, plus --val folders). --steps and --calibration-samples do not apply.

      imlforensic train generated/ photos/ casia1@train --synthesize-from photos/ --network threeway --out runs/g  (then: detect --method threeway --weights runs/g/last.safetensors)
    """
    from imlforensic.registry import resolve_device
    from imlforensic.training.calibration import calibrate_checkpoint
    from imlforensic.training.distributed import context
    from imlforensic.training.trainer import NETWORK_PRESETS, list_photos
    from imlforensic.training.trainer import train as run_training

    check_device(device)
    if generated_donors and not synthesize_from:
        usage_error("--generated-donors needs --synthesize-from photo folders to blend them into")
    for folder in [*(synthesize_from or []), *(generated_donors or [])]:
        if not folder.exists():
            usage_error(f"{folder}: no such file or folder")
    if network == "threeway":
        train_threeway_cli(
            datasets,
            synthesize_from,
            generated_donors,
            val,
            out,
            preset,
            steps,
            batch_size,
            seed,
            device,
            resume,
            extractor,
            extractor_weights,
            quiet,
        )
        return
    if network not in NETWORK_PRESETS:
        usage_error(f"unknown network {network!r}; choose one of {', '.join([*NETWORK_PRESETS, 'threeway'])}")
    if extractor != "lite0" or extractor_weights is not None:
        usage_error("--extractor and --extractor-weights go with --network threeway")
    presets = NETWORK_PRESETS[network]
    if preset not in presets:
        usage_error(f"unknown preset {preset!r}; choose one of {', '.join(presets)}")
    if not datasets and not synthesize_from:
        usage_error("give labelled datasets and/or --synthesize-from photo folders")
    config = presets[preset]
    overrides: dict[str, Any] = {k: v for k, v in (("steps", steps), ("batch_size", batch_size)) if v}
    config = dataclasses.replace(config, seed=seed, **overrides)
    try:
        resolved = resolve_device(device)
        checkpoint = run_training(
            config,
            list(datasets or []),
            list(synthesize_from or []),
            list(val or []),
            out,
            device=resolved,
            resume=resume,
            show_progress=not quiet,
            donor_folders=list(generated_donors or []),
        )
        if not context().main:  # under torchrun: rank 0 calibrates and reports
            return
        if synthesize_from:
            metadata = calibrate_checkpoint(
                checkpoint,
                list_photos(list(synthesize_from)),
                device=resolved,
                samples=calibration_samples,
                size=config.size,
            )
            typer.echo(
                f"calibrated on {calibration_samples} synthetic samples: background logit "
                f"{metadata['background']['logit']:.2f}, thresholds "
                + ", ".join(f"{key} {value['threshold']:.2f}" for key, value in metadata["thresholds"].items())
            )
    except (DatasetError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"checkpoint: {checkpoint} (use it with: imlforensic evaluate DATASET --weights {checkpoint})")


def train_threeway_cli(
    datasets: list[str] | None,
    synthesize_from: list[Path] | None,
    generated_donors: list[Path] | None,
    val: list[str] | None,
    out: Path,
    preset: str,
    steps: int | None,
    batch_size: int | None,
    seed: int,
    device: str,
    resume: bool,
    extractor: str,
    extractor_weights: Path | None,
    quiet: bool,
) -> None:
    """``train --network threeway`` (:mod:`imlforensic.training.threeway_trainer`); the device and
    the folders were checked by :func:`train`."""
    from imlforensic.models.features import ExtractorError
    from imlforensic.registry import resolve_device
    from imlforensic.training.threeway_trainer import THREEWAY_PRESETS, train_threeway_folders

    if preset not in THREEWAY_PRESETS:
        usage_error(f"unknown preset {preset!r}; choose one of {', '.join(THREEWAY_PRESETS)}")
    if steps:
        usage_error("--steps does not apply to --network threeway (its preset sets the epochs of each stage)")
    if not datasets:
        usage_error("--network threeway needs labelled folders (labels.csv saying authentic, manipulated, generated)")
    chosen = THREEWAY_PRESETS[preset]
    if batch_size:
        chosen = dataclasses.replace(chosen, training=dataclasses.replace(chosen.training, batch_size=batch_size))
    try:
        checkpoint = train_threeway_folders(
            list(datasets),
            list(synthesize_from or []),
            list(generated_donors or []),
            list(val or []),
            out,
            chosen,
            seed=seed,
            extractor_name=extractor,
            extractor_weights=extractor_weights,
            device=resolve_device(device),
            resume=resume,
            show_progress=not quiet,
            say=typer.echo,
        )
    except (DatasetError, ExtractorError, ValueError) as exc:
        fail(str(exc))
    typer.echo(
        f"checkpoint: {checkpoint} (use it with: imlforensic detect IMAGES --method threeway --weights {checkpoint})"
    )
