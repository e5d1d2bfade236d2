"""The record's file evidence as the rows and notes of an image page: provenance (C2PA, XMP),
metadata (GPS, the EXIF thumbnail check) and JPEG structure (tables, quality, family, double
compression), and the mask's regions.

Read from the record (``provenance``, ``metadata``, ``jpeg``, ``regions``, ``verdict_reason``,
``notes``: :mod:`imlforensic.pipeline.records`), so the page shows what the analysis saw even when
the original is gone; a record of an earlier version without them gets no rows.
"""

from __future__ import annotations

from typing import Any

from imlforensic.methods.base import is_whole_image_finding
from imlforensic.pipeline.records import ResultRecord
from imlforensic.report.layout import Canvas
from imlforensic.report.text import Style

LABEL = "#FFD400"  # region boxes and their numbers on the overlay

C2PA_STATES = {
    "valid": "valid signature (trusted signer), matching the file",
    "untrusted_signer": "valid signature, matching the file; signer not on a trust list",
    "invalid": "INVALID",
    "no_manifest": "none in the file",
    "remote_manifest": "a remote manifest (not fetched)",
    "unreadable": "unreadable",
    "unsupported": "format not supported by the C2PA library",
    "unavailable": "not read (c2pa-python not installed)",
}


def provenance_rows(record: ResultRecord) -> list[tuple[str, str]]:
    """C2PA state, generator, signer and actions; XMP digital source types; declared AI use."""
    provenance = record.provenance
    if provenance is None:
        return []
    c2pa: dict[str, Any] = provenance.get("c2pa") or {}
    status = str(c2pa.get("status") or "")
    state = C2PA_STATES.get(status, status or "—")
    if status == "invalid" and c2pa.get("content_matches") is False:
        state = "NO LONGER MATCHES the file (changed after signing, or copied from another file)"
    rows = [("C2PA", state)]
    if status not in ("no_manifest", "unavailable", ""):
        if c2pa.get("generator") or c2pa.get("claim_generator"):
            made = str(c2pa.get("generator") or "")
            claim = str(c2pa.get("claim_generator") or "")
            rows.append(("Generator", made + (f" (manifest written by {claim})" if claim and claim != made else "")))
        if c2pa.get("signer"):
            rows.append(("Signer", str(c2pa["signer"]) + (f", {c2pa['signed_at']}" if c2pa.get("signed_at") else "")))
        actions = [_action(a) for a in c2pa.get("actions") or [] if isinstance(a, dict)]
        if actions:
            rows.append(
                ("Actions", "; ".join(actions[:8]) + (f"; … {len(actions) - 8} more" if len(actions) > 8 else ""))
            )
    xmp = [str(t) for t in provenance.get("xmp_digital_source_types") or []]
    if xmp:
        rows.append(("XMP source", ", ".join(xmp) + " (not signed)"))
    declared = provenance.get("declared_ai") or {}
    if declared:
        rows.append(("Declared AI", f"{declared.get('kind', '?')} (from {declared.get('source', '?')})"))
    return rows


def _action(action: dict[str, Any]) -> str:
    text = str(action.get("action") or "?")
    if action.get("digital_source_type"):
        text += f" [{action['digital_source_type']}]"
    if action.get("software_agent"):
        text += f" by {action['software_agent']}"
    return text


def metadata_rows(record: ResultRecord) -> list[tuple[str, str]]:
    """What the record's metadata adds to the EXIF rows: GPS, the EXIF thumbnail check."""
    metadata = record.metadata
    if metadata is None or metadata.get("error"):
        return []
    rows = [("GPS", "present (position not copied)" if metadata.get("gps") else "none")]
    thumbnail = metadata.get("thumbnail")
    if isinstance(thumbnail, dict):
        size = f"{thumbnail.get('thumbnail_width')}×{thumbnail.get('thumbnail_height')}"
        verdict = {"matches": "matches the picture", "differs": "DIFFERS from the picture"}.get(
            str(thumbnail.get("status")), str(thumbnail.get("status"))
        )
        rows.append(
            ("EXIF thumbnail", f"{size}, {verdict} (correlation {float(thumbnail.get('correlation') or 0):.2f})")
        )
    return rows


def jpeg_rows(record: ResultRecord) -> list[tuple[str, str]]:
    """Quantisation tables' quality and family, sampling, the double-compression estimate."""
    jpeg = record.jpeg
    if jpeg is None or not jpeg.get("is_jpeg"):
        return []
    if jpeg.get("error"):
        return [("JPEG", str(jpeg["error"]))]
    family = jpeg.get("family") or {}
    tables = f"quality ≈ {jpeg.get('quality') or '?'}"
    if family:
        tables += f"; {family.get('family', '?')}" + (f" {family['setting']}" if family.get("setting") else "")
        if family.get("matched_by"):
            tables += f" ({family['matched_by']})"
    rows = [("JPEG tables", tables)]
    structure = [str(jpeg.get("subsampling") or "")] + (["progressive"] if jpeg.get("progressive") else [])
    if any(structure):
        rows.append(("JPEG coding", ", ".join(s for s in structure if s)))
    double = jpeg.get("double_compression") or {}
    if double:
        text = str(double.get("status") or "?")
        if double.get("status") == "double" and double.get("primary_quality"):
            text += f" (first saved at quality ≈ {double['primary_quality']})"
        if double.get("frequencies_tested"):
            text += f"; {double.get('frequencies_double', 0)} of {double['frequencies_tested']} frequencies"
        rows.append(("Double JPEG", text))
    return rows


def region_rows(record: ResultRecord, limit: int = 5) -> list[tuple[str, str]]:
    """The largest regions of the mask, numbered as on the overlay."""
    regions = record.regions
    listed = [r for r in (regions or {}).get("regions") or [] if isinstance(r, dict)]
    if not listed:
        return []
    count = int((regions or {}).get("count", len(listed)))
    parts = []
    for region in listed[:limit]:
        box = region.get("box") or ["?"] * 4
        parts.append(
            f"#{region.get('number', '?')} x {box[0]}–{box[2]}, y {box[1]}–{box[3]}, "
            f"{100 * float(region.get('area_fraction') or 0):.1f} %"
            + "".join(
                f", {label} {float(region[key]):.2f}"
                for label, key in (("mean", "mean_probability"), ("peak", "peak_probability"))
                if region.get(key) is not None
            )
        )
    more = f"; {count - limit} more in the record" if count > limit else ""
    return [("Regions", f"{count}: " + "; ".join(parts) + more)]


def evidence_notes(record: ResultRecord) -> list[str]:
    """The verdict's stated reason first, then the record's notes on evidence weighed."""
    notes = [f"Verdict: {record.verdict_reason}"] if record.verdict_reason else []
    return notes + [str(n) for n in record.notes]


def draw_region_labels(
    c: Canvas, x: float, y: float, w: float, h: float, record: ResultRecord, width: int, height: int, limit: int = 9
) -> int:
    """Box and number the record's largest regions on a picture drawn at (x, y, w, h) points
    (``width`` x ``height``: the picture's displayed pixels); returns how many were labelled (none
    for a picture judged ``generated``: its finding is the whole picture)."""
    if is_whole_image_finding(record.verdict):
        return 0
    listed = [r for r in (record.regions or {}).get("regions") or [] if isinstance(r, dict) and r.get("box")]
    if not listed or not width or not height:
        return 0
    sx, sy = w / width, h / height
    style = Style(6.5, bold=True, color="#111111")
    for region in listed[:limit]:
        x0, y0, x1, y1 = (float(v) for v in region["box"])
        c.rect(
            x + x0 * sx, y + y0 * sy, max((x1 - x0) * sx, 1.0), max((y1 - y0) * sy, 1.0), edge=LABEL, lw=0.9, zorder=4
        )
        label = str(region.get("number", "?"))
        lw, lh = style.width(label) + 3, style.size + 2
        lx, ly = x + x0 * sx, max(y, y + y0 * sy - lh)  # above the box, inside the picture
        c.rect(lx, ly, lw, lh, fill=LABEL, zorder=2.9)
        c.text(lx + 1.5, ly + lh - 1.6, label, style)
    return min(len(listed), limit)
