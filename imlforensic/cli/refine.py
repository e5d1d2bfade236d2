"""``imlforensic refine``: refine a coarse map from any tool, or turn boxes into masks.

Both go through the pipeline's :meth:`~imlforensic.pipeline.analysis.Analyzer.analyse` like
``localize``: a map as a :class:`~imlforensic.pipeline.analysis.CoarseMap` (recorded with its
path and sha256), boxes alone as an analyst's annotation (verdict ``annotated``, no score: the
mask is what the analyst drew, made precise by the segmenter, not a finding of the tool).

Threshold: ``--threshold``, else the one recorded beside the map when it is an imlforensic
output (``NAME.heatmap.png`` next to its ``NAME.json``), else 0.5.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from imlforensic.cli.common import (
    EXIT_OK,
    Device,
    MaxPixels,
    SamCheckpoint,
    check_device,
    default_out,
    fail,
    refiner_entry,
    usage_error,
)
from imlforensic.io.hashing import sha256_file
from imlforensic.io.heatmaps import HeatmapError, read_heatmap
from imlforensic.io.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image
from imlforensic.io.messages import one_line
from imlforensic.pipeline.analysis import Analyzer, CoarseMap
from imlforensic.pipeline.inputs import output_component
from imlforensic.pipeline.outputs import OutputSet, split_output_name, write_maps, write_record
from imlforensic.pipeline.records import ResultRecord, RunSettings, parse_record
from imlforensic.pipeline.run import OutputFolderError, check_writable
from imlforensic.refiners.prompts import BoxError, load_boxes, parse_box
from imlforensic.registry import WeightsError, input_card


def recorded_threshold(heatmap: Path) -> float | None:
    """The threshold of the imlforensic record beside ``NAME.heatmap.png``, if there is one."""
    parts = split_output_name(heatmap.name)
    if parts is None or parts[1] not in ("heatmap", "coarse_heatmap"):
        return None
    try:
        record = parse_record(json.loads(heatmap.with_name(parts[0] + ".json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
    return record.threshold if isinstance(record, ResultRecord) else None


def refine(
    image: Annotated[Path, typer.Argument(help="The image the map belongs to.", show_default=False)],
    heatmap: Annotated[
        Path | None,
        typer.Option(
            "--heatmap",
            help="Coarse map from any tool: grey PNG/TIFF (0..255 = 0..1) or .npy in [0, 1].",
            show_default=False,
        ),
    ] = None,
    box: Annotated[
        list[str] | None,
        typer.Option("--box", help="Box x0,y0,x1,y1 in pixels around an edit (repeatable).", show_default=False),
    ] = None,
    boxes_file: Annotated[
        Path | None, typer.Option("--boxes", help="JSON file of boxes: [[x0,y0,x1,y1], ...].", show_default=False)
    ] = None,
    refiner: Annotated[
        str, typer.Option("--refiner", help="sam, superpixel, grabcut or deeplab (see `imlforensic models list`).")
    ] = "sam",
    sam_checkpoint: SamCheckpoint = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder. \\[default: ./imlforensic_out]", show_default=False),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Probability threshold of the map and the mask \\[default: the one recorded with an imlforensic map, else 0.5]",
            show_default=False,
        ),
    ] = None,
    device: Device = "auto",
    json_lines: Annotated[bool, typer.Option("--json", help="Print the JSON record on stdout.")] = False,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
) -> None:
    """Refine a coarse map with a segmenter, or turn boxes drawn around edits into masks.

    Writes the same files as localize (NAME.heatmap.png, NAME.heatmap-color.png, NAME.mask.png, NAME.overlay.png, NAME.json) plus NAME.coarse-heatmap.png and NAME.coarse-overlay.png (the map before refinement; with boxes only, the boxes). With both a map and boxes, the map counts only inside the boxes. Boxes alone give an annotation (verdict "annotated"), not a finding.

    [bold]Examples[/bold]

      imlforensic refine photo.jpg --heatmap other-tool-map.png --refiner superpixel

      imlforensic refine photo.jpg --box 120,40,260,180 --refiner sam
    """
    check_device(device)
    segmenter = refiner_entry(refiner, sam_checkpoint)
    try:
        boxes = [parse_box(text) for text in box or []]
        if boxes_file is not None:
            boxes += load_boxes(boxes_file)
    except BoxError as exc:
        usage_error(str(exc))
    if heatmap is None and not boxes:
        usage_error("give a coarse map (--heatmap) and/or boxes (--box, --boxes)")
    try:
        loaded = load_image(image, max_pixels=max_pixels)
    except ImageLoadError as exc:
        fail(str(exc))
    shape = loaded.rgb.shape[:2]
    coarse: CoarseMap | None = None
    notes: list[str] = []
    if heatmap is not None:
        try:
            values, notes = read_heatmap(heatmap, shape)
        except HeatmapError as exc:
            fail(str(exc))
        for note in notes:
            typer.echo(f"notice: {note}", err=True)
        coarse = CoarseMap(np.asarray(values), input_card("heatmap", path=str(heatmap), sha256=sha256_file(heatmap)))
        if threshold is None:
            threshold = recorded_threshold(heatmap)

    out_dir = out if out is not None else default_out()
    try:
        check_writable(out_dir)
        analyzer = Analyzer(None, device=device, threshold=threshold, refiner=segmenter).load()
    except OutputFolderError as exc:
        fail(str(exc))
    except (WeightsError, ImportError, ValueError, RuntimeError, TypeError) as exc:
        fail(f"cannot load refiner {refiner!r}: {one_line(exc)}")
    try:
        analysis = analyzer.analyse(loaded, coarse=coarse, boxes=boxes or None)
    except BoxError as exc:
        usage_error(str(exc))
    settings = RunSettings(
        command="refine",
        device=device,
        max_pixels=max_pixels,
        threshold=analyzer.threshold,
        boxes=[list(b) for b in analysis.boxes],
        notes=notes,
    )
    record = analysis.record(settings)
    outputs = OutputSet(out_dir / output_component(loaded.path.name))  # escaped: '..jpg' stays inside --out
    try:
        record.outputs.update(write_maps(analysis, outputs))
        write_record(record, outputs)
    except OSError as exc:
        fail(f"cannot write outputs in {out_dir}: {exc.strerror or exc}")
    if json_lines:
        sys.stdout.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
    else:
        score = "  -  " if record.score is None else f"{record.score:.3f}"
        sys.stdout.write(f"{record.verdict:<12} {score}  flagged {100 * record.flagged_fraction:5.1f}%  {image}\n")
    raise typer.Exit(EXIT_OK)
