"""Write the case viewer folder (see the package docstring)."""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imlforensic import __version__
from imlforensic.io.atomic import atomic_write_bytes
from imlforensic.io.case import CaseEntry, as_record_dict, case_entry, locate

# Output kinds the viewer can show as a layer, in menu order, with their labels.
LAYERS = {
    "overlay": "Overlay (mask outline)",
    "heatmap_color": "Heatmap (colour)",
    "heatmap": "Heatmap (grey)",
    "mask": "Mask",
    "coarse_overlay": "Overlay before refinement",
    "coarse_heatmap": "Heatmap before refinement",
    "view_ela": "Error levels (ELA, --views)",
    "view_sel": "Signed error levels view (--views)",
    "view_noise": "Noise view (--views)",
    "view_dq": "Double quantisation view (--views)",
}
BROWSER_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}
PREVIEW_SIDE = 160
CSP = (
    "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)


@dataclass
class ViewerResult:
    index: Path
    images: int
    originals: dict[str, int] = field(default_factory=dict)  # status -> count
    warnings: list[str] = field(default_factory=list)


def write_case_viewer(
    out_dir: Path | str,
    entries: Iterable[CaseEntry | Any],
    results_dir: Path | str | None = None,
    title: str = "",
    max_side: int | None = None,
    originals: bool = True,
) -> ViewerResult:
    """Write the viewer for ``entries`` into ``out_dir``.

    ``entries``: :class:`~imlforensic.io.case.CaseEntry` (e.g. from ``load_case(results)``) or
    records (dicts, or typed records with ``to_json()``), whose outputs are then looked up below
    ``results_dir``. ``max_side``: downscale every picture to that longest side (a lighter folder
    to share; default: full resolution). ``originals``: copy the original pictures (when their
    sha256 still matches the record).
    """
    from imlforensic.report.collect import assign_names

    out_dir = Path(out_dir)
    items = list(entries)
    raw = [i for i in items if not isinstance(i, CaseEntry)]
    if raw and results_dir is None:
        cases = [i if isinstance(i, CaseEntry) else case_entry(as_record_dict(i)) for i in items]
    elif raw:
        located = iter(locate(raw, Path(results_dir)))  # type: ignore[arg-type]
        cases = [i if isinstance(i, CaseEntry) else next(located) for i in items]
    else:
        cases = list(items)
    assign_names(cases)
    result = ViewerResult(index=out_dir / "index.html", images=len(cases))
    (out_dir / "img").mkdir(parents=True, exist_ok=True)
    data = []
    for number, entry in enumerate(cases, start=1):
        data.append(_write_entry(out_dir, number, entry, max_side, originals, result))
    document = {
        "title": title or "imlforensic case",
        "tool": f"imlforensic {__version__}",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "layers": LAYERS,
        "images": data,
    }
    atomic_write_bytes(result.index, _page(document).encode("utf-8"))
    return result


def _write_entry(
    out_dir: Path, number: int, entry: CaseEntry, max_side: int | None, originals: bool, result: ViewerResult
) -> dict[str, Any]:
    folder = out_dir / "img" / f"{number:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    rel = f"img/{number:03d}/"
    layers: dict[str, str] = {}
    for kind in LAYERS:
        source = entry.outputs.get(kind)
        if source is not None:
            target = folder / f"{kind.replace('_', '-')}.png"
            _copy_picture(source, target, max_side, nearest=kind == "mask")
            layers[kind] = rel + target.name
    original = (
        _original(entry, folder, rel, max_side)
        if originals and entry.status == "ok"
        else {"status": "not copied" if entry.status == "ok" else "none", "message": "", "src": ""}
    )
    result.originals[original["status"]] = result.originals.get(original["status"], 0) + 1
    if original["src"]:
        layers = {"original": original["src"], **layers}
    preview = ""
    preview_source = next((folder / Path(layers[k]).name for k in ("overlay", "heatmap_color") if k in layers), None)
    if preview_source is None and original["src"]:
        preview_source = folder / Path(original["src"]).name
    if preview_source is not None:
        preview = rel + "preview.jpg"
        _preview(preview_source, folder / "preview.jpg")
    regions = entry.regions
    if regions is None and "mask" in entry.outputs:
        from imlforensic.forensics.regions import regions_from_files

        try:
            regions = regions_from_files(entry.outputs["mask"], entry.outputs.get("heatmap"), max_regions=50).to_json()
        except (OSError, ValueError) as exc:
            result.warnings.append(f"{entry.path}: regions not read ({exc})")
    missing = [k for k in ("overlay", "heatmap_color", "mask") if k not in entry.outputs and entry.status == "ok"]
    notes = list(entry.notes)
    if missing:
        notes.append("Output file(s) missing from the results folder: " + ", ".join(missing) + ".")
    if original["message"]:
        notes.append(original["message"])
    return {
        "number": number,
        "name": entry.name or entry.path,
        "path": entry.path,
        "status": entry.status,
        "sha256": entry.sha256,
        "width": entry.width,
        "height": entry.height,
        "format": entry.format,
        "verdict": entry.verdict,
        "score": entry.score,
        "class_probs": entry.class_probs,
        "flagged_fraction": entry.flagged_fraction,
        "threshold": entry.threshold,
        "method": entry.method,
        "regions": regions,
        "notes": notes,
        "layers": layers,
        "preview": preview,
        "original": original,
        "scale": 1.0 if max_side is None else _scale(entry, max_side),
        "record": entry.record,
    }


def _scale(entry: CaseEntry, max_side: int) -> float:
    side = max(entry.width, entry.height)
    return 1.0 if not side or side <= max_side else max_side / side


def _copy_picture(source: Path, target: Path, max_side: int | None, nearest: bool = False) -> None:
    if max_side is None:
        shutil.copyfile(source, target)
        return
    with Image.open(source) as image:
        if max(image.size) > max_side:
            factor = max_side / max(image.size)
            size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
            image = image.resize(size, Image.Resampling.NEAREST if nearest else Image.Resampling.LANCZOS)
        image.save(target, "PNG")


def _preview(source: Path, target: Path) -> None:
    with Image.open(source) as image:
        image = image.convert("RGB")
        image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
        image.save(target, "JPEG", quality=85)


def _original(entry: CaseEntry, folder: Path, rel: str, max_side: int | None) -> dict[str, Any]:
    """Copy (or decode and save) the original picture when it still matches the record."""
    from imlforensic.io.images import ImageLoadError, load_image
    from imlforensic.pipeline.records import ResultRecord
    from imlforensic.report.metadata import find_original

    found = find_original(ResultRecord.from_json(entry.record), decode=False)
    if found.status != "ok" or found.path is None:
        return {"status": found.status, "message": found.message, "src": ""}
    conversions = (entry.record.get("input") or {}).get("conversions") or []
    suffix = BROWSER_FORMATS.get(entry.format.upper())
    if suffix and not conversions and max_side is None:
        # The browser shows these files as the analysis saw them (no orientation, alpha, depth changes).
        target = folder / f"original{suffix}"
        shutil.copyfile(found.path, target)
        how = "the file itself (sha256 verified)"
    else:
        try:
            loaded = load_image(found.path, max_pixels=max(entry.width * entry.height, 1) + 1)
        except ImageLoadError as exc:
            return {"status": "unreadable", "message": f"The original cannot be decoded: {exc}", "src": ""}
        picture = Image.fromarray(np.ascontiguousarray(loaded.rgb))
        if max_side is not None and max(picture.size) > max_side:
            factor = max_side / max(picture.size)
            picture = picture.resize(
                (max(1, round(picture.width * factor)), max(1, round(picture.height * factor))),
                Image.Resampling.LANCZOS,
            )
        target = folder / "original.png"
        picture.save(target, "PNG")
        how = (
            "decoded as the analysis saw it ("
            + ("; ".join(conversions) or "downscaled")
            + "), saved as PNG (sha256 of the file verified)"
        )
    return {"status": "ok", "message": "", "src": rel + target.name, "how": how, "path": str(found.path)}


def _json_safe(value: Any) -> Any:
    """NaN and infinities (which JSON has not) become null; everything else as it is."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _asset(name: str) -> str:
    return resources.files("imlforensic.report.html").joinpath(name).read_text(encoding="utf-8")


def _page(document: dict[str, Any]) -> str:
    # JSON inside <script type="application/json">: "<", ">" and "&" escaped, so no text in a
    # record can close the element; the template's fields are filled in one pass, so text from a
    # record is never searched for further fields.
    payload = json.dumps(_json_safe(document), ensure_ascii=False, allow_nan=False, default=str)
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    values = {
        "CSP": html.escape(CSP, quote=True),
        "TITLE": html.escape(document["title"]),
        "CSS": _asset("viewer.css"),
        "DATA": payload,
        "JS": _asset("viewer.js"),
    }
    return re.sub(r"\{\{(CSP|TITLE|CSS|DATA|JS)\}\}", lambda m: values[m.group(1)], _asset("viewer.html"))
