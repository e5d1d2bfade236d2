"""A batch summary as CSV: one row per image, for a spreadsheet.

Columns (:data:`COLUMNS`): the input path and sha256, the picture's size and format, verdict and
score, the per-verdict probabilities when the method gives them, the flagged area (fraction of
the picture), the number of flagged regions and the largest one's box (x0, y0, x1, y1 in pixels
of the picture as displayed, x1/y1 exclusive) and area, method and threshold, and notes (declared
AI use, provenance, metadata and JPEG findings, failures) joined by " | ". Failed inputs have a
row too, with verdict ``failed``. Regions come from the record; for records that do not list
them yet, from the written ``NAME.mask.png`` / ``NAME.heatmap.png`` when those are found.

Encoding: UTF-8 **with a byte-order mark**. Excel on Windows reads a CSV without one in the local
ANSI code page, which garbles every non-ASCII file name (``Zürich.jpg``, ``写真.jpg``); with the
mark, Excel, LibreOffice, Numbers and Google Sheets all read it as UTF-8, and Python reads it
with ``encoding="utf-8-sig"``. The separator is a comma and numbers use a decimal point (where
Excel expects ``;``, use the import dialog). Text cells that begin with ``= + - @`` (a file named
``=cmd|...``) get a leading apostrophe, so a spreadsheet shows them instead of running them as
formulas (CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from imlforensic.io.atomic import atomic_write_bytes
from imlforensic.io.case import VERDICTS, CaseEntry, case_entry

COLUMNS = (
    "path",
    "sha256",
    "width",
    "height",
    "format",
    "verdict",
    "score",
    *(f"p_{v}" for v in VERDICTS),
    "flagged_fraction",
    "regions",
    "largest_x0",
    "largest_y0",
    "largest_x1",
    "largest_y1",
    "largest_area_fraction",
    "method",
    "threshold",
    "notes",
)
ENCODING = "utf-8-sig"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _number(value: float | int | None, digits: int = 6) -> str:
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}".rstrip("0").rstrip(".") or "0"


def _regions(entry: CaseEntry) -> dict[str, Any] | None:
    if entry.regions is not None or "mask" not in entry.outputs:
        return entry.regions
    from imlforensic.forensics.regions import regions_from_files  # OpenCV: only when needed

    try:
        return regions_from_files(entry.outputs["mask"], entry.outputs.get("heatmap")).to_json()
    except (OSError, ValueError):
        return None


def summary_row(entry: CaseEntry) -> dict[str, str]:
    """The CSV row of one image (strings, keyed by :data:`COLUMNS`)."""
    regions = _regions(entry)
    listed = (regions or {}).get("regions") or []
    largest = listed[0] if listed else None
    box = largest.get("box") if largest else None
    row = {
        "path": _text(entry.path),
        "sha256": entry.sha256,
        "width": _number(entry.width or None),
        "height": _number(entry.height or None),
        "format": _text(entry.format),
        "verdict": entry.verdict,
        "score": _number(entry.score),
        **{f"p_{v}": _number(entry.class_probs.get(v)) for v in VERDICTS},
        "flagged_fraction": _number(entry.flagged_fraction),
        "regions": "" if regions is None else str(int(regions.get("count", len(listed)))),
        "largest_x0": "",
        "largest_y0": "",
        "largest_x1": "",
        "largest_y1": "",
        "largest_area_fraction": _number(largest.get("area_fraction")) if largest else "",
        "method": _text(entry.method),
        "threshold": _number(entry.threshold),
        "notes": _text(" | ".join(entry.notes)),
    }
    if box and len(box) == 4:
        row.update({k: str(int(v)) for k, v in zip(("largest_x0", "largest_y0", "largest_x1", "largest_y1"), box)})
    return row


def summary_csv_bytes(entries: Iterable[CaseEntry | Any]) -> bytes:
    """The whole CSV, encoded (entries: :class:`CaseEntry` or records, see :mod:`imlforensic.io.case`)."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writeheader()
    for entry in entries:
        writer.writerow(summary_row(entry if isinstance(entry, CaseEntry) else case_entry(entry)))
    return buffer.getvalue().encode(ENCODING)


def write_summary_csv(path: Path | str, entries: Iterable[CaseEntry | Any]) -> Path:
    """Write the summary CSV atomically (temporary file, then rename); returns the path."""
    path = Path(path)
    atomic_write_bytes(path, summary_csv_bytes(entries))
    return path
