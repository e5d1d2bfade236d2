"""``imlforensic refine``: refine a coarse map from any tool, or turn boxes into masks.

Exit codes as for ``localize``: 0 done; 1 the image, the map or the refiner could not be used;
2 usage error (no map and no box, malformed ``--box``, unknown refiner).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import cv2
import numpy as np
import typer

from imlforensic.io.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image, sha256_file
from imlforensic.io.render import grey_to_heatmap
from imlforensic.maps import pool_score
from imlforensic.pipeline.analysis import Analysis, consistent_mask, model_card
from imlforensic.pipeline.batch import one_line
from imlforensic.pipeline.inputs import OutputSet, output_component
from imlforensic.pipeline.records import build_record, write_maps, write_record
from imlforensic.registry import REGISTRY, UnknownModelError, WeightsError
from imlforensic.registry.registry import DEVICE_PATTERN
from imlforensic.result import MethodOutput, decide_verdict

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

RefinerOption = Annotated[Optional[str], typer.Option(
    "--refiner", help="Refine the map with a segmenter: sam, superpixel, grabcut or deeplab (see `imlforensic models list`).",
    show_default=False,
)]
SamCheckpoint = Annotated[Optional[Path], typer.Option(
    "--sam-checkpoint", help="A SAM checkpoint file to use with --refiner sam (vit_b/l/h, MobileSAM or LiteMedSAM; read from the file).",
    show_default=False,
)]


class HeatmapError(Exception):
    """A coarse map file cannot be used (one-line message)."""


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def refiner_name(refiner: str | None, sam_checkpoint: Path | None) -> str | None:
    """The refiner entry to run; ``--sam-checkpoint`` registers the given file (and implies sam)."""
    if sam_checkpoint is None:
        return refiner
    if refiner not in (None, "sam"):
        raise _fail("--sam-checkpoint goes with --refiner sam", EXIT_USAGE)
    from imlforensic.refiners import register_local_checkpoint

    try:
        return register_local_checkpoint(sam_checkpoint)
    except (ValueError, ImportError) as exc:
        raise _fail(one_line(exc), EXIT_FAILED) from None


def read_heatmap(path: Path, shape: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """A coarse map in [0, 1] at ``shape`` from a grey PNG/TIFF (8 or 16 bit) or a ``.npy`` array.

    A map of another size is resized to the image (bilinear) and a note says so.
    """
    notes: list[str] = []
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise HeatmapError(f"{path}: cannot read as a NumPy array ({one_line(exc)})") from None
        array = np.squeeze(array)
        if array.ndim != 2:
            raise HeatmapError(f"{path}: expected a 2-D map, got shape {array.shape}")
        if array.dtype == bool:
            values = array.astype(np.float32)
        elif np.issubdtype(array.dtype, np.integer):
            if array.min() < 0 or array.max() > 65535:
                raise HeatmapError(f"{path}: integer map values must lie in 0..255 or 0..65535")
            values = grey_to_heatmap(array.astype(np.uint16 if array.max() > 255 else np.uint8))
        elif np.issubdtype(array.dtype, np.floating):
            if not np.isfinite(array).all():
                raise HeatmapError(f"{path}: map contains NaN or infinite values")
            if array.min() < -1e-6 or array.max() > 1 + 1e-6:
                raise HeatmapError(f"{path}: map values must lie in [0, 1] (found {array.min():.3g}..{array.max():.3g})")
            values = np.clip(array, 0.0, 1.0).astype(np.float32)
        else:
            raise HeatmapError(f"{path}: unsupported array type {array.dtype}")
    else:
        if not path.is_file():
            raise HeatmapError(f"{path}: no such file")
        grey = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if grey is None:
            raise HeatmapError(f"{path}: not a readable image (use a grey PNG/TIFF or a .npy array)")
        if grey.ndim == 3:
            channels = grey[:, :, :3]
            if not (np.array_equal(channels[:, :, 0], channels[:, :, 1]) and np.array_equal(channels[:, :, 1], channels[:, :, 2])):
                raise HeatmapError(f"{path}: is a colour image; give the grey map (e.g. NAME.heatmap.png, not heatmap-color)")
            grey = channels[:, :, 0]
        if grey.dtype not in (np.uint8, np.uint16):
            raise HeatmapError(f"{path}: unsupported sample type {grey.dtype} (use 8- or 16-bit grey)")
        values = grey_to_heatmap(grey)
    if values.shape != shape:
        notes.append(f"heatmap {values.shape[1]}x{values.shape[0]} resized to the image's {shape[1]}x{shape[0]} (bilinear)")
        values = np.clip(cv2.resize(values, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    return values.astype(np.float32), notes


def refine(
    image: Annotated[Path, typer.Argument(help="The image the map belongs to.", show_default=False)],
    heatmap: Annotated[Optional[Path], typer.Option("--heatmap", help="Coarse map from any tool: grey PNG/TIFF (0..255 = 0..1) or .npy in [0, 1].", show_default=False)] = None,
    box: Annotated[Optional[list[str]], typer.Option("--box", help="Box x0,y0,x1,y1 in pixels around an edit (repeatable).", show_default=False)] = None,
    boxes_file: Annotated[Optional[Path], typer.Option("--boxes", help="JSON file of boxes: [[x0,y0,x1,y1], ...].", show_default=False)] = None,
    refiner: Annotated[str, typer.Option("--refiner", help="sam, superpixel, grabcut or deeplab (see `imlforensic models list`).")] = "sam",
    sam_checkpoint: SamCheckpoint = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder. \\[default: ./imlforensic_out]", show_default=False)] = None,
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="Probability threshold of the map (and of the mask).")] = 0.5,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    json_lines: Annotated[bool, typer.Option("--json", help="Print the JSON record on stdout.")] = False,
    max_pixels: Annotated[int, typer.Option(min=1, help="Refuse images with more pixels than this.")] = DEFAULT_MAX_PIXELS,
) -> None:
    """Refine a coarse map with a segmenter, or turn boxes drawn around edits into masks.

    Writes the same files as localize (NAME.heatmap.png, NAME.heatmap-color.png, NAME.mask.png, NAME.overlay.png, NAME.json) plus NAME.coarse-heatmap.png and NAME.coarse-overlay.png (the map before refinement; with boxes only, the boxes). With both a map and boxes, the map counts only inside the boxes.

    [bold]Examples[/bold]

      imlforensic refine photo.jpg --heatmap other-tool-map.png --refiner superpixel

      imlforensic refine photo.jpg --box 120,40,260,180 --refiner sam
    """
    from imlforensic.cli.run import check_writable, default_out
    from imlforensic.refiners import resolve_refiner
    from imlforensic.refiners.bayes import FusionParams
    from imlforensic.refiners.prompts import BoxError, box_mask, clip_boxes, load_boxes, parse_box

    if not DEVICE_PATTERN.match(device):
        raise _fail(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps", EXIT_USAGE)
    name = refiner_name(refiner, sam_checkpoint)
    assert name is not None
    try:
        if REGISTRY.entry(name).task != "segmenter":
            raise _fail(f"{name!r} is a {REGISTRY.entry(name).task}, not a refiner", EXIT_USAGE)
    except UnknownModelError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    try:
        boxes = [parse_box(text) for text in box or []]
        if boxes_file is not None:
            boxes += load_boxes(boxes_file)
    except BoxError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    if heatmap is None and not boxes:
        raise _fail("give a coarse map (--heatmap) and/or boxes (--box, --boxes)", EXIT_USAGE)

    try:
        loaded = load_image(image, max_pixels=max_pixels)
    except ImageLoadError as exc:
        raise _fail(str(exc), EXIT_FAILED) from None
    shape = loaded.rgb.shape[:2]
    notes: list[str] = []
    coarse: np.ndarray | None = None
    if heatmap is not None:
        try:
            coarse, notes = read_heatmap(heatmap, shape)
        except HeatmapError as exc:
            raise _fail(str(exc), EXIT_FAILED) from None
        for note in notes:
            typer.echo(f"notice: {note}", err=True)
    try:
        boxes = clip_boxes(boxes, shape) if boxes else []
    except BoxError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None

    out_dir = out if out is not None else default_out()
    check_writable(out_dir)
    try:
        resolved = resolve_refiner(name)
        started = time.perf_counter()
        model = REGISTRY.load(resolved, device)
        provenance_refiner = model_card(resolved)
        load_seconds = time.perf_counter() - started
    except (WeightsError, ImportError, ValueError, RuntimeError) as exc:
        raise _fail(f"cannot load refiner {name!r}: {one_line(exc)}", EXIT_FAILED) from None

    started = time.perf_counter()
    refined = model.refine(loaded.rgb, coarse, boxes=boxes or None, params=FusionParams().for_threshold(threshold))
    refine_seconds = time.perf_counter() - started
    shown_coarse = coarse if coarse is not None else box_mask(boxes, shape).astype(np.float32)
    if coarse is not None and boxes:
        shown_coarse = np.where(box_mask(boxes, shape), coarse, 0.0).astype(np.float32)
    output = MethodOutput(heatmap=shown_coarse, score=pool_score(shown_coarse))
    verdict = decide_verdict(output, threshold)
    refined = np.clip(refined, 0.0, 1.0).astype(np.float32)
    analysis = Analysis(
        image=loaded, output=output, heatmap=refined, mask=consistent_mask(refined, threshold, verdict),
        verdict=verdict, threshold=threshold, refined=True,
        timings={"load_refiner": load_seconds, "refine": refine_seconds},
    )
    source: dict[str, Any] = (
        {"name": "heatmap", "task": "input", "path": str(heatmap), "sha256": sha256_file(heatmap) if heatmap.is_file() else None}
        if heatmap is not None else {"name": "boxes", "task": "input"}
    )
    source.update({"version": None, "weights_sha256": None, "reference": None})
    settings = {
        "command": "refine", "device": device, "max_pixels": max_pixels, "threshold": threshold,
        "boxes": [list(b) for b in boxes], "notes": notes,
    }
    record = build_record(analysis, {"method": source, "refiner": provenance_refiner}, settings)
    outputs = OutputSet(out_dir / output_component(loaded.path.stem))  # escaped: '..jpg' stays inside --out
    try:
        record["outputs"].update(write_maps(analysis, outputs))
        write_record(record, outputs)
    except OSError as exc:
        raise _fail(f"cannot write outputs in {out_dir}: {exc.strerror or exc}", EXIT_FAILED) from None
    if json_lines:
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(f"{record['verdict']:<12} {record['score']:.3f}  flagged {100 * record['flagged_fraction']:5.1f}%  {image}\n")
    raise typer.Exit(EXIT_OK)
