"""The original image behind a record, and the metadata a report shows about it.

The original is looked up at the record's ``input.resolved_path``, then at ``input.path``
(relative to the current folder); it is used only if its sha256 still matches the record, so a
page never shows a picture other than the one that was analysed. When it is gone or changed,
the page says so and shows the saved outputs only.

EXIF (read with Pillow, without decoding the pixels): camera make and model, lens, software,
capture / digitised / modification dates, plus XMP ``CreatorTool`` and PNG text chunks. Names of
editing programs in those fields are reported as a *note*: editing software in the metadata
says the file passed through that program (possibly only for a crop or a colour correction),
not that its content was manipulated; and its absence proves nothing, as metadata is easily
removed or rewritten.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imlforensic.io.hashing import sha256_file
from imlforensic.io.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image
from imlforensic.pipeline.records import ResultRecord
from imlforensic.report.text import clean

EDITING_SOFTWARE = (
    "Photoshop",
    "Lightroom",
    "Camera Raw",
    "GIMP",
    "Snapseed",
    "Affinity",
    "Pixelmator",
    "Paint.NET",
    "PaintShop",
    "Corel",
    "Capture One",
    "darktable",
    "RawTherapee",
    "Luminar",
    "Facetune",
    "PicsArt",
    "Canva",
    "Photopea",
    "Krita",
    "Polarr",
    "VSCO",
    "Fotor",
    "ACDSee",
    "DxO",
    "Topaz",
    "PhotoScape",
    "PhotoDirector",
    "Meitu",
    "BeautyPlus",
    "Remini",
    "Lensa",
    "Picasa",
    "Adobe Express",
    "Fireworks",
    "Paint Shop",
    "Pixlr",
    "Aperture",
    "Capture NX",
    "Darkroom",
    "FaceApp",
    "Retrica",
)
GENERATOR_SOFTWARE = (
    "DALL-E",
    "DALL·E",
    "Midjourney",
    "Stable Diffusion",
    "Firefly",
    "ComfyUI",
    "AUTOMATIC1111",
    "NovelAI",
    "Imagen",
    "Leonardo",
    "DreamStudio",
    "InvokeAI",
    "Fooocus",
    "Flux",
)
_EDITOR_RE = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in EDITING_SOFTWARE) + r")\b", re.IGNORECASE)
_GENERATOR_RE = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in GENERATOR_SOFTWARE) + r")\b", re.IGNORECASE)
_XMP_TOOL_RE = re.compile(
    rb"(?:xmp:CreatorTool|stEvt:softwareAgent)\s*(?:=\s*\"([^\"]{1,200})\"|>([^<]{1,200})<)", re.IGNORECASE
)

# EXIF tags (IFD0 and the Exif sub-IFD)
_MAKE, _MODEL, _SOFTWARE, _DATETIME, _ARTIST, _PROCESSING = 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x000B
_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED, _LENS_MODEL = 0x9003, 0x9004, 0xA434


@dataclass
class Metadata:
    """The main metadata fields (cleaned strings; empty when absent)."""

    camera: str = ""
    lens: str = ""
    software: list[str] = field(default_factory=list)  # Software, ProcessingSoftware, XMP tools, PNG Software
    date_original: str = ""
    date_digitized: str = ""
    date_modified: str = ""
    artist: str = ""
    has_exif: bool = False
    editors: list[str] = field(default_factory=list)  # editing programs named in the metadata
    generators: list[str] = field(default_factory=list)  # image generators named in the metadata
    generation_parameters: bool = False  # PNG text chunks with generation prompts/parameters
    photoshop_irb: bool = False  # a Photoshop image resource block (APP13) is present
    error: str = ""

    @property
    def notes(self) -> list[str]:
        notes = []
        if self.editors:
            notes.append(
                "Metadata names editing software (" + ", ".join(self.editors) + "): the file was saved by it. "
                "This does not by itself mean the content was manipulated."
            )
        elif self.photoshop_irb:
            notes.append("The file carries a Photoshop resource block (APP13), as files saved by Adobe software do.")
        if self.generators or self.generation_parameters:
            what = ", ".join(self.generators) if self.generators else "generation parameters in PNG text"
            notes.append(f"Metadata points to an image generator ({what}).")
        return notes


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return clean(value, limit=100)


def read_metadata(path: Path) -> Metadata:
    """EXIF, XMP and PNG-text metadata of an image file (never raises)."""
    from PIL import Image

    meta = Metadata()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                exif = image.getexif()
                info = dict(image.info)
                try:
                    sub = exif.get_ifd(_EXIF_IFD)
                except Exception:  # malformed sub-IFD
                    sub = {}
    except Exception as exc:
        meta.error = f"metadata not readable ({type(exc).__name__})"
        return meta
    meta.has_exif = bool(len(exif) or sub)
    make, model = _as_text(exif.get(_MAKE)), _as_text(exif.get(_MODEL))
    meta.camera = (
        model if make and model.lower().startswith(make.lower().split()[0]) else " ".join(p for p in (make, model) if p)
    )
    meta.lens = _as_text(sub.get(_LENS_MODEL))
    meta.artist = _as_text(exif.get(_ARTIST))
    meta.date_original = _as_text(sub.get(_DATETIME_ORIGINAL))
    meta.date_digitized = _as_text(sub.get(_DATETIME_DIGITIZED))
    meta.date_modified = _as_text(exif.get(_DATETIME))
    software = [_as_text(exif.get(_SOFTWARE)), _as_text(exif.get(_PROCESSING))]
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp") or b""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", errors="replace")
    for match in _XMP_TOOL_RE.finditer(xmp[:2_000_000]):
        software.append(_as_text(match.group(1) or match.group(2)))
    for key in ("Software", "software", "Creator", "Comment", "comment"):  # PNG / GIF text chunks
        value = info.get(key)
        if isinstance(value, (str, bytes)) and key.lower() == "software":
            software.append(_as_text(value))
    meta.software = list(dict.fromkeys(s for s in software if s))
    meta.photoshop_irb = "photoshop" in info and bool(info.get("photoshop"))
    meta.generation_parameters = any(k in info for k in ("parameters", "prompt", "workflow", "Dream", "sd-metadata"))
    texts = meta.software + [_as_text(info.get("Comment") or info.get("comment") or "")]
    editors, generators = [], []
    for text in texts:
        editors += [m.group(0) for m in _EDITOR_RE.finditer(text)]
        generators += [m.group(0) for m in _GENERATOR_RE.finditer(text)]
    meta.editors = _dedupe(editors)
    meta.generators = _dedupe(generators)
    return meta


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.lower(), name)
    return list(seen.values())


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
