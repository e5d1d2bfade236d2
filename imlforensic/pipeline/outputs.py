"""Per-image output files: their kinds and names, and writing the PNG maps and the JSON record.

Every output of an input is ``BASE`` + the suffix of its kind (:data:`OUTPUT_KINDS`, the one
list of kinds); ``BASE`` is chosen by :mod:`imlforensic.pipeline.inputs`. All files are written
atomically (:mod:`imlforensic.io.atomic`); the record is written last, so a record present
means its maps are complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imlforensic.io.atomic import atomic_write_bytes, atomic_write_json
from imlforensic.io.render import (
    encode_png,
    heatmap_to_colour_bgr,
    heatmap_to_grey,
    mask_to_grey,
    overlay_size,
    render_overlay,
)
from imlforensic.methods.base import is_whole_image_finding
from imlforensic.pipeline.records import ResultRecord, parse_record
from imlforensic.views.pictures import VIEWS

if TYPE_CHECKING:
    from imlforensic.pipeline.analysis import Analysis

OUTPUT_KINDS: dict[str, str] = {
    "heatmap": ".heatmap.png",
    "heatmap_color": ".heatmap-color.png",
    "mask": ".mask.png",
    "overlay": ".overlay.png",
    "coarse_heatmap": ".coarse-heatmap.png",  # with a refiner: the method's unrefined map
    "coarse_overlay": ".coarse-overlay.png",
    **{f"view_{view}": f".view-{view}.png" for view in VIEWS},  # --views: the forensic views as pictures
    "json": ".json",
}
MAP_KINDS = ("heatmap", "heatmap_color", "mask", "overlay")
COARSE_KINDS = ("coarse_heatmap", "coarse_overlay")
"""Written as well when a refiner ran: the method's unrefined map and overlay."""
PNG_SUFFIXES = tuple(suffix for suffix in OUTPUT_KINDS.values() if suffix.endswith(".png"))

# Rendering and PNG encoding (OpenCV, which releases the GIL) are most of the time spent writing
# a result; the maps are made two at a time, on both cores.
_ENCODERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="imlforensic-png")


@dataclass(frozen=True)
class OutputSet:
    """The files written for one input: ``base`` plus a suffix per kind."""

    base: Path

    def path(self, kind: str) -> Path:
        return self.base.with_name(self.base.name + OUTPUT_KINDS[kind])


def map_kinds(refined: bool) -> tuple[str, ...]:
    return MAP_KINDS + COARSE_KINDS if refined else MAP_KINDS


def split_output_name(name: str) -> tuple[str, str] | None:
    """``(base, kind)`` of an output file name, None when it is not one of ours."""
    for kind, suffix in OUTPUT_KINDS.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], kind
    return None


def _renderers(analysis: Analysis) -> dict[str, Callable[[], bytes]]:
    """PNG bytes of every kind of map, made when called. A ``generated`` verdict is a whole-image
    finding: its overlays carry the "fully generated" banner and outline no region."""
    whole_image = is_whole_image_finding(analysis.verdict)
    return {
        "heatmap": lambda: encode_png(heatmap_to_grey(analysis.heatmap)),
        "heatmap_color": lambda: encode_png(heatmap_to_colour_bgr(analysis.heatmap), bgr=True),
        "mask": lambda: encode_png(mask_to_grey(analysis.mask)),
        "overlay": lambda: encode_png(render_overlay(analysis.image.rgb, analysis.mask, whole_image)),
        "coarse_heatmap": lambda: encode_png(heatmap_to_grey(analysis.output.heatmap)),
        "coarse_overlay": lambda: encode_png(render_overlay(analysis.image.rgb, analysis.coarse_mask, whole_image)),
    }


def encode_maps(analysis: Analysis) -> dict[str, bytes]:
    """The PNG bytes of every map of ``analysis`` by kind (the two coarse ones too when refined)."""
    renderers = _renderers(analysis)
    kinds = map_kinds(analysis.refined)
    return dict(zip(kinds, _ENCODERS.map(lambda kind: renderers[kind](), kinds)))


def write_encoded(encoded: dict[str, bytes], outputs: OutputSet) -> dict[str, str]:
    """Write maps made by :func:`encode_maps` (here or in another process); file names by kind."""
    written = {}
    for kind, data in encoded.items():
        path = outputs.path(kind)
        atomic_write_bytes(path, data)
        written[kind] = path.name
    return written


def write_maps(analysis: Analysis, outputs: OutputSet) -> dict[str, str]:
    """Write the four PNGs (and the two coarse ones when refined); return file names by kind."""
    return write_encoded(encode_maps(analysis), outputs)


def encode_views(pictures: dict[str, np.ndarray]) -> dict[str, bytes]:
    """The PNG bytes of each rendered view (:mod:`imlforensic.views.pictures`) by output kind
    (``view_VIEW``), for :func:`write_encoded`."""
    return {f"view_{kind}": encoded for kind, encoded in zip(pictures, _ENCODERS.map(encode_png, pictures.values()))}


def write_views(pictures: dict[str, np.ndarray], outputs: OutputSet) -> dict[str, str]:
    """Write ``NAME.view-VIEW.png`` for each rendered view (:mod:`imlforensic.views.pictures`)."""
    return write_encoded(encode_views(pictures), outputs)


def has_views(record: ResultRecord, outputs: OutputSet, views: tuple[str, ...]) -> bool:
    """Whether an earlier record has each of ``views`` written (or noted as not applying)."""
    return all(
        (f"view_{v}" in record.outputs and outputs.path(f"view_{v}").is_file())
        or any(n.startswith(f"View '{v}' not written") for n in record.notes)
        for v in views
    )


PREVIEW_KINDS = ("overlay", "coarse_overlay")
"""Kinds written at :func:`~imlforensic.io.render.overlay_size`: smaller than a large picture."""


def downscaled_outputs(record: ResultRecord) -> dict[str, dict[str, float]]:
    """The record's ``downscaled`` entry: the size and scale of every preview kind it lists that
    is smaller than the picture."""
    height, width = record.input.height, record.input.width
    if not height or not width:
        return {}
    shown_height, shown_width = overlay_size(height, width)
    if (shown_height, shown_width) == (height, width):
        return {}
    size = {"width": shown_width, "height": shown_height, "scale": round(shown_width / width, 6)}
    return {kind: dict(size) for kind in PREVIEW_KINDS if kind in record.outputs}


def write_record(record: ResultRecord, outputs: OutputSet) -> Path:
    path = outputs.path("json")
    record.outputs["json"] = path.name
    record.downscaled = downscaled_outputs(record)
    atomic_write_json(path, record.to_json())
    return path


def read_existing(outputs: OutputSet, kinds: tuple[str, ...], sha256: str) -> ResultRecord | None:
    """The earlier record for this input if every output exists and it was made from the same bytes."""
    if not all(outputs.path(kind).is_file() for kind in kinds + ("json",)):
        return None
    try:
        record = parse_record(json.loads(outputs.path("json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
    if not isinstance(record, ResultRecord) or record.input.sha256 != sha256:
        return None
    return record
