"""The original image behind a record, and the metadata a report shows about it.

The original is looked up at the record's ``input.resolved_path``, then at ``input.path``
(relative to the current folder); it is used only if its sha256 still matches the record, so a
page never shows a picture other than the one that was analysed. When it is gone or changed,
the page says so and shows the saved outputs only.

The metadata itself (EXIF, XMP, PNG text, the EXIF thumbnail check) is read by
:mod:`imlforensic.forensics.metadata`; see there for what is read and how it is judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imlforensic.forensics.metadata import EDITING_SOFTWARE, GENERATOR_SOFTWARE, Metadata, read_metadata
from imlforensic.io.hashing import sha256_file
from imlforensic.io.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image
from imlforensic.pipeline.records import ResultRecord

__all__ = ["EDITING_SOFTWARE", "GENERATOR_SOFTWARE", "Metadata", "Original", "find_original", "read_metadata"]


@dataclass
class Original:
    """The analysed file, as far as it can still be found."""

    status: str  # "ok" | "missing" | "changed" | "unreadable" | "unknown"
    path: Path | None = None
    rgb: np.ndarray | None = None  # as displayed (EXIF orientation applied), only when status is "ok"
    metadata: Metadata | None = None
    message: str = ""


def find_original(record: ResultRecord, max_pixels: int = DEFAULT_MAX_PIXELS, decode: bool = True) -> Original:
    """Locate, verify (sha256) and decode the original image of ``record``."""
    info = record.input
    expected = info.sha256
    candidates = [p for p in (info.resolved_path, info.path) if p]
    existing = [Path(p) for p in dict.fromkeys(candidates) if Path(p).is_file()]
    if not existing:
        where = info.resolved_path or info.path or "?"
        return Original(
            status="missing",
            message=f"The original file is no longer at {where}: the picture and its metadata are not shown; the saved outputs are.",
        )
    changed = None
    for path in existing:
        try:
            digest = sha256_file(path)
        except OSError as exc:
            return Original(
                status="unreadable",
                path=path,
                message=f"The original at {path} cannot be read ({exc.strerror or exc}).",
            )
        if expected and digest != expected:
            changed = (path, digest)
            continue
        metadata = read_metadata(path)
        if not decode:
            return Original(status="ok", path=path, metadata=metadata)
        try:
            image = load_image(path, max_pixels=max(max_pixels, (info.width or 0) * (info.height or 0)))
        except ImageLoadError as exc:
            return Original(
                status="unreadable", path=path, metadata=metadata, message=f"The original cannot be decoded: {exc}"
            )
        return Original(status="ok", path=path, rgb=image.rgb, metadata=metadata)
    path, digest = changed  # type: ignore[misc]
    return Original(
        status="changed",
        path=path,
        message=f"The file at {path} has changed since the analysis (its sha256 is now {digest}): "
        "it is not shown, nor its metadata; the saved outputs are.",
    )
