"""``imlforensic annotate``: rough boxes -> SAM pseudo masks for a whole dataset (paper 2's teacher)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imlforensic.cli.common import (
    Device,
    Quiet,
    SamCheckpoint,
    check_device,
    fail,
    method_entries,
    refiner_entry,
    usage_error,
)
from imlforensic.io.messages import one_line


def annotate(
    dataset: Annotated[
        str | None,
        typer.Argument(
            help="Dataset folder (labels.csv, Tp/ + Au/, or authentic/ + manipulated/); FOLDER@train for its training half.",
            show_default=False,
        ),
    ] = None,
    boxes: Annotated[
        Path | None,
        typer.Option(
            "--boxes",
            help="Box file: CSV with the header image,x0,y0,x1,y1 (one row per box) or JSON "
            '{"IMAGE": \\[\\[x0,y0,x1,y1], ...]}; IMAGE is the path relative to the dataset folder or a unique file name.',
            show_default=False,
        ),
    ] = None,
    boxes_from_masks: Annotated[
        bool,
        typer.Option(
            "--boxes-from-masks",
            help="Use the bounding boxes of the dataset's ground-truth mask regions as the analyst's rough boxes "
            "(only the boxes are used; the masks never become targets).",
        ),
    ] = False,
    margin: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Widen each box made from masks or synthetic edits by this share of its size "
            "\\[default: 0 with --boxes-from-masks, 0.05 with --synthesize-from]",
            show_default=False,
        ),
    ] = None,
    synthesize_from: Annotated[
        list[Path] | None,
        typer.Option(
            "--synthesize-from",
            help="Instead of a dataset: make --count synthetic edits from these photo folders (repeatable) and "
            "annotate their bounding boxes (the editor's pixel masks are dropped).",
            show_default=False,
        ),
    ] = None,
    count: Annotated[int, typer.Option(min=1, help="With --synthesize-from: number of synthetic samples.")] = 200,
    seed: Annotated[int, typer.Option(help="With --synthesize-from: random seed of the synthetic samples.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Annotation folder to write (resumable).")] = Path(
        "runs/annotations"
    ),
    refiner: Annotated[
        str,
        typer.Option("--refiner", help="The teacher segmenter: sam (best installed), or any refiner of `models list`."),
    ] = "sam",
    sam_checkpoint: SamCheckpoint = None,
    fuse_map: Annotated[
        str | None,
        typer.Option(
            "--fuse-map",
            help="Fuse the teacher's candidates with this method's forensic map inside the boxes (Bayesian fusion), e.g. mvcam.",
            show_default=False,
        ),
    ] = None,
    device: Device = "auto",
    quiet: Quiet = False,
) -> None:
    """Turn rough boxes around edits into pseudo masks with a Segment Anything teacher, for a whole dataset.

    Writes OUT/pseudo/NAME.safetensors (the teacher's soft logits, float16, at the image's size: kept for distillation) and NAME.mask.png (the pseudo mask), OUT/index.csv (every boxed image and the dataset's authentic images, whose target is empty), OUT/boxes.csv and OUT/teacher.json (which teacher ran: the best official SAM checkpoint installed, else the offline LiteMedSAM). Images already annotated with the same boxes and teacher are skipped, so an interrupted run resumes. Manipulated images without boxes are left out. Train the student on OUT with `imlforensic train-boxprompt OUT`.

    [bold]Box file[/bold] (pixels, x1 and y1 exclusive): CSV

      image,x0,y0,x1,y1
      images/Tp_0001.jpg,120,40,260,180

    or JSON {"images/Tp_0001.jpg": [[120, 40, 260, 180]]}.

    [bold]Examples[/bold]

      imlforensic annotate data/casia1@train --boxes boxes.csv --out runs/ann-casia

      imlforensic annotate data/casia1@train --boxes-from-masks --fuse-map mvcam --out runs/ann-casia-fused

      imlforensic annotate --synthesize-from photos/ --count 1000 --out runs/ann-synth
    """
    from imlforensic.data.datasets import DatasetError
    from imlforensic.data.splits import load_split, parse_spec
    from imlforensic.io.images import ImageLoadError
    from imlforensic.methods.base import Method
    from imlforensic.refiners.base import Refiner
    from imlforensic.refiners.prompts import BoxError
    from imlforensic.registry import REGISTRY, WeightsError
    from imlforensic.training.annotate import Teacher, write_synthetic_set
    from imlforensic.training.annotate import annotate as run_annotation
    from imlforensic.training.boxes import boxes_from_dataset_masks, match_boxes, read_box_file, sample_key
    from imlforensic.training.trainer import list_photos

    check_device(device)
    if synthesize_from:
        if dataset is not None or boxes is not None or boxes_from_masks:
            usage_error("--synthesize-from makes its own boxed dataset: give no DATASET, --boxes or --boxes-from-masks")
        for folder in synthesize_from:
            if not folder.exists():
                usage_error(f"{folder}: no such file or folder")
    elif dataset is None:
        usage_error("give a DATASET with --boxes or --boxes-from-masks, or --synthesize-from photo folders")
    elif (boxes is None) == (not boxes_from_masks):
        usage_error("give one of --boxes FILE or --boxes-from-masks")
    segmenter = refiner_entry(refiner, sam_checkpoint)
    assert segmenter is not None
    method = method_entries([fuse_map])[0] if fuse_map else None
    try:
        teacher = Teacher(
            refiner=REGISTRY.load(segmenter, device, expect=Refiner),
            method=None if method is None else REGISTRY.load(method, device, expect=Method),
        )
    except (WeightsError, ImportError, ValueError, RuntimeError, TypeError) as exc:
        fail(f"cannot load the teacher: {one_line(exc)}")
    if not quiet:
        typer.echo(f"teacher: {teacher.name}", err=True)

    try:
        if synthesize_from:
            photos = list_photos(list(synthesize_from))
            if not photos:
                usage_error("no photos found in --synthesize-from")
            folder = write_synthetic_set(
                photos,
                out / "synthetic",
                count,
                seed=seed,
                margin=0.05 if margin is None else margin,
                show_progress=not quiet,
            )
            spec, root = str(folder), folder
            found = read_box_file(folder / "boxes.csv")
        else:
            assert dataset is not None
            spec, root = dataset, parse_spec(dataset)[0]
        samples = [s for s in load_split(spec) if s.label in ("authentic", "manipulated")]
        keys = [sample_key(s, root) for s in samples]
        if boxes_from_masks:
            found = boxes_from_dataset_masks(samples, keys, margin or 0.0)
        elif not synthesize_from:
            assert boxes is not None
            found = match_boxes(samples, root, read_box_file(boxes))
        summary = run_annotation(samples, keys, found, teacher, out, show_progress=not quiet)
    except (BoxError, DatasetError, ImageLoadError) as exc:
        usage_error(str(exc))
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    typer.echo(
        f"annotated {summary.annotated} images, resumed {summary.skipped} ({summary.boxes} boxes in all), "
        f"authentic {summary.authentic}, manipulated without boxes {summary.unboxed}, failed {summary.failed}; "
        f"teacher {teacher.name}; index: {out / 'index.csv'}"
    )
    if summary.failed:
        raise typer.Exit(1)
