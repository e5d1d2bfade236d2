"""Per-image outputs: the PNG maps and the JSON record that documents them.

JSON record (``NAME.json``, and one line of ``--json`` output), schema ``imlforensic.result/1``::

    input      path, sha256 of the file's bytes, bytes, format, mode, width, height (as displayed),
               exif_orientation, conversions applied, estimated JPEG quality
    verdict    authentic | manipulated | generated
    score      image-level probability of an edit, in [0, 1]
    class_probs  per-verdict probabilities when the method gives them, else null
    flagged_fraction  share of pixels in the mask
    method, refiner   name, task, version, weights sha256, reference
    details    numbers behind the method's map (mvcam: ``background_shift_logit``, how far it
               lowered a network map raised over the whole image; ``copy_move_pairs``, how many
               duplicated region pairs the copy-move view found; ``copy_move_repetitions``, how
               many it set aside as natural repetition), ``{}`` when it has none
    threshold, settings (device, max_pixels, ...), outputs (file names), timings_s, tool, created
"""

from __future__ import annotations

import datetime as _dt
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from imlforensic import __version__
from imlforensic.io.atomic import atomic_write_bytes, atomic_write_json
from imlforensic.io.render import encode_png, heatmap_to_colour, heatmap_to_grey, mask_to_grey, render_overlay
from imlforensic.pipeline.analysis import Analysis
from imlforensic.pipeline.inputs import OutputSet

SCHEMA = "imlforensic.result/1"
MAP_KINDS = ("heatmap", "heatmap_color", "mask", "overlay")
COARSE_KINDS = ("coarse_heatmap", "coarse_overlay")
"""Written as well when a refiner ran: the method's unrefined map and overlay."""

# Rendering and PNG encoding (OpenCV, which releases the GIL) are most of the time spent writing
# a result; the maps are made two at a time, on both cores.
_ENCODERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="imlforensic-png")


def build_record(analysis: Analysis, provenance: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    output = analysis.output
    return {
        "schema": SCHEMA,
        "input": analysis.image.describe(),
        "verdict": analysis.verdict,
        "score": round(analysis.score, 6),
        "class_probs": None if output.class_probs is None else {k: round(v, 6) for k, v in output.class_probs.items()},
        "flagged_fraction": round(analysis.flagged_fraction, 6),
        "method": provenance["method"],
        "refiner": provenance.get("refiner"),
        "details": dict(output.details),
        "threshold": analysis.threshold,
        "settings": settings,
        "outputs": {},
        "timings_s": {k: round(v, 4) for k, v in analysis.timings.items()},
        "tool": {"name": "imlforensic", "version": __version__},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_maps(analysis: Analysis, outputs: OutputSet) -> dict[str, str]:
    """Write the four PNGs (and the two coarse ones when refined), atomically; return file names by kind."""
    renderers = {
        "heatmap": lambda: heatmap_to_grey(analysis.heatmap),
        "heatmap_color": lambda: heatmap_to_colour(analysis.heatmap),
        "mask": lambda: mask_to_grey(analysis.mask),
        "overlay": lambda: render_overlay(analysis.image.rgb, analysis.mask),
        "coarse_heatmap": lambda: heatmap_to_grey(analysis.output.heatmap),
        "coarse_overlay": lambda: render_overlay(analysis.image.rgb, analysis.coarse_mask),
    }
    kinds = map_kinds(analysis.refined)
    written = {}
    for kind, encoded in zip(kinds, _ENCODERS.map(lambda kind: encode_png(renderers[kind]()), kinds)):
        path = outputs.path(kind)
        atomic_write_bytes(path, encoded)
        written[kind] = path.name
    return written


def map_kinds(refined: bool) -> tuple[str, ...]:
    return MAP_KINDS + COARSE_KINDS if refined else MAP_KINDS


def write_record(record: dict[str, Any], outputs: OutputSet) -> Path:
    path = outputs.path("json")
    record["outputs"]["json"] = path.name
    atomic_write_json(path, record)
    return path


def read_existing(outputs: OutputSet, kinds: tuple[str, ...], sha256: str) -> dict[str, Any] | None:
    """The earlier record for this input if every output exists and it was made from the same bytes."""
    if not all(outputs.path(kind).is_file() for kind in kinds + ("json",)):
        return None
    try:
        record = json.loads(outputs.path("json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("schema") != SCHEMA or record.get("input", {}).get("sha256") != sha256:
        return None
    return record
